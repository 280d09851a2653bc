"""Property-based fuzzing of the whole API from its own OpenAPI description (schemathesis),
signed in as each role and anonymously: no request gets a server error, and every answer is one
the description allows (status, content type, body schema). Requests outside the description
(wrong types, missing required fields, values out of range) must be refused with a 4xx.

A bounded number of examples per operation keeps CI fast (``--fuzz-examples``, default 10); the
longer run is its own command: ``scripts/fuzz`` (200 examples per operation and role).

Not checked: that every request the description allows is accepted (schemathesis'
``positive_data_acceptance``). A description cannot say that an upload must be a photo the
station can decode, that a record must exist, or that a password must be the right one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from matcher.face import FaceEncoder
from station.api import create_app
from station.api.openapi import SPEC
from station.core import Station
from station.security.roles import Actor, Role
from tests.conftest import make_settings

SCHEMA = schemathesis.openapi.from_dict(SPEC)
SCHEMA.config.update(base_url="http://localhost/api/v1")
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
ROLES = [None, Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN]


def takes_input(operation: Any) -> bool:
    """Whether the operation has anything a request could get wrong (parameters, a body)."""
    described = SPEC["paths"][operation.path][operation.method.lower()]
    return bool(described.get("parameters") or described.get("requestBody"))


CASES = [
    pytest.param(
        operation,
        role,
        mode,
        id=f"{operation.method.upper()} {operation.path}-"
        f"{'anonymous' if role is None else role.value}-{mode.value}",
    )
    for operation in OPERATIONS
    for role in ROLES
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or takes_input(operation)
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, shared_encoder: FaceEncoder) -> Iterator[Any]:
    """A station without devices (a capture is a quick 409), with one record to find."""
    from tests.conftest import enroll_face, photos_of

    data = tmp_path_factory.mktemp("fuzz") / "data"
    settings_ = make_settings(data, retention_days="voter_registration=3650,census=30")
    with Station(settings_, encoder=shared_encoder) as station:
        people = sorted(
            p for p in Path(settings_.datasets_dir, "faces", "lfw_dev", "images").iterdir()
        )
        enroll_face(station, photos_of(people[0])[0], "Fuzzy Record", document_number="FZ1")
        yield station, create_app(station=station)


def token_for(station: Station, role: Role | None) -> dict[str, str]:
    if role is None:
        return {}
    token, _ = station.sessions.start(Actor(f"fuzz-{role.value}", role), False)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("operation", "role", "mode"), CASES)
def test_every_answer_is_one_the_description_allows(
    fuzzed: tuple[Station, Flask],
    operation: Any,
    role: Role | None,
    mode: GenerationMode,
    fuzz_examples: int,
) -> None:
    station, app = fuzzed
    SCHEMA.app = app  # every request, the checks' own included, goes to this app

    @settings(
        max_examples=fuzz_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: Any) -> None:
        # A query parameter with an empty name or an empty list of values is dropped on the way
        # out, so the request that arrives is valid: not a case of refusing invalid data.
        assume(not any(name == "" or value == [] for name, value in (case.query or {}).items()))
        case.call_and_validate(app=app, headers=token_for(station, role), checks=CHECKS)

    run()
