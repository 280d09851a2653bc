"""GET /openapi.json: the OpenAPI 3.1 description of every endpoint, written by hand.

It says what the server does, no more and no less: a field the server requires is required here,
a value it refuses is outside the schema here, and every answer (errors included) has its schema.
Tests keep it so: every route the app registers is described here and nothing more
(tests/test_security_api.py), and property-based fuzzing from this description, signed in as each
role, finds no server error and no answer outside it (tests/test_api_fuzzing.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

blueprint = Blueprint("openapi", __name__)

Schema = dict[str, Any]
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
LARGEST_RECORD_ID = 10**18 - 1  # station.api.converters


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: list[str] | None = None, **properties: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


TEXT: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
STRINGS: Schema = {"type": "array", "items": TEXT}
BINARY: Schema = {"type": "string", "format": "binary"}
# What PersonFields accepts (station/records.py): spaces are collapsed, letters upper-cased.
DOCUMENT_NUMBER: Schema = {"type": "string", "pattern": r"^ *([A-Za-z0-9<] *){1,20}$"}
NATIONALITY: Schema = {"type": "string", "pattern": r"^ *[A-Za-z<]{3} *$"}
PURPOSE: Schema = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,39}$"}
PERSON: dict[str, Schema] = {
    "name": {"type": "string", "maxLength": 200},
    "document_type": {"type": "string", "maxLength": 40},
    "document_number": DOCUMENT_NUMBER,
    "nationality": NATIONALITY,
    "birth_date": {"type": "string", "format": "date"},
    "sex": {"type": "string", "enum": ["M", "F", "X", "m", "f", "x"]},
    "health": {"type": "string", "maxLength": 500},
    "disability": {"type": "string", "maxLength": 500},
}
SCAN: Schema = {
    "type": "string",
    "pattern": r"^(\s*(10|0?[1-9])\s*(,\s*(10|0?[1-9])\s*)*)?$",
    "description": "ISO finger positions to take from the scanner, e.g. 2,7",
}
DPI: Schema = {"type": "number", "minimum": 300, "maximum": 1000}
FINGER_FILES: dict[str, Schema] = {
    f"finger_{n}": {**BINARY, "description": f"the finger at ISO position {n}"}
    for n in range(1, 11)
}
FACE_FIELDS: dict[str, Schema] = {"image": BINARY, "capture": BOOLEAN}


def form_and_json(form: Schema, json_schema: Schema) -> Schema:
    """A body sent as multipart (files and fields) or as JSON (fields only)."""
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": form},
            "application/json": {"schema": json_schema},
        },
    }


def as_json_fields(properties: dict[str, Schema]) -> dict[str, Schema]:
    """The same fields in a JSON body: no files; optional text may be null (meaning absent)."""
    out = {}
    for name, schema in properties.items():
        if schema.get("format") == "binary":
            continue
        out[name] = nullable(schema) if schema.get("type") == "string" else schema
    return out


def json_body(required: list[str] | None = None, **properties: Schema) -> Schema:
    return {
        "required": True,
        "content": {"application/json": {"schema": obj(required, **properties)}},
    }


ENROLLMENT_FIELDS: dict[str, Schema] = {
    "consent": BOOLEAN,
    **PERSON,
    "purpose": PURPOSE,
    "mrz": {"type": "string", "maxLength": 200},
    **FACE_FIELDS,
    "scan_fingers": SCAN,
    "dpi": DPI,
    **FINGER_FILES,
}
INTAKE_FIELDS: dict[str, Schema] = {
    "mrz": {"type": "string", "minLength": 1, "maxLength": 200},
    "purpose": PURPOSE,
    **FACE_FIELDS,
    "scan_fingers": SCAN,
    "dpi": DPI,
    **FINGER_FILES,
}
IDENTIFY_FIELDS: dict[str, Schema] = {
    "purpose": PURPOSE,
    "top_k": {"type": "integer", "minimum": 1, "maximum": 100},
    **FACE_FIELDS,
    "scan_fingers": SCAN,
    "dpi": DPI,
    **FINGER_FILES,
}

COMPONENTS: dict[str, Schema] = {
    "Error": obj(
        ["error"],
        error=obj(
            ["code", "message"],
            code=TEXT,
            message=TEXT,
            field=TEXT,
            reasons=STRINGS,
        ),
    ),
    "Session": obj(
        ["login", "role", "must_change_password", "expires_at"],
        login=TEXT,
        role=TEXT,
        must_change_password=BOOLEAN,
        expires_at=NUMBER,
    ),
    "Record": obj(
        ["id", "name", "purpose", "status", "version", "created_at", "updated_at"],
        id=INTEGER,
        **{name: nullable(TEXT) for name in PERSON},
        purpose=TEXT,
        status={"type": "string", "enum": ["active", "blocked", "held"]},
        version=INTEGER,
        face=obj(box=nullable({"type": "array", "items": INTEGER})),
        created_at=TEXT,
        updated_at=TEXT,
    ),
    "Candidate": obj(
        ["record_id", "llr"],
        record_id=INTEGER,
        llr=NUMBER,
        face_distance=nullable(NUMBER),
        finger_scores={"type": "object", "additionalProperties": NUMBER},
        name=TEXT,
        document_number=nullable(TEXT),
    ),
    "Enrollment": obj(
        ["status", "record", "reasons", "duplicates", "seconds"],
        status={"type": "string", "enum": ["active", "held"]},
        record=ref("Record"),
        reasons=STRINGS,
        duplicates={"type": "array", "items": ref("Candidate")},
        chip_face_distance=nullable(NUMBER),
        seconds=NUMBER,
    ),
    "Identification": obj(
        ["decision", "match", "candidates", "threshold", "gallery_size", "seconds"],
        decision={"type": "string", "enum": ["match", "no_match"]},
        match=nullable(ref("Candidate")),
        candidates={"type": "array", "items": ref("Candidate")},
        threshold=NUMBER,
        gallery_size=INTEGER,
        seconds=NUMBER,
    ),
    "Receipt": obj(
        ["application_number", "decision", "issued_at"],
        application_number=TEXT,
        status_code=TEXT,
        decision={"type": "string", "enum": ["accepted", "refused", "referred"]},
        issued_at=TEXT,
    ),
    "Intake": obj(
        ["decision", "reasons", "record_id", "receipt", "seconds"],
        decision={"type": "string", "enum": ["accepted", "refused", "referred"]},
        reasons={
            "type": "array",
            "items": obj(["code", "ok", "message"], code=TEXT, ok=BOOLEAN, message=TEXT),
        },
        record_id=nullable(INTEGER),
        scores={"type": "object"},
        receipt=ref("Receipt"),
        roll=nullable(
            obj(["precinct", "version", "voter"], precinct=TEXT, version=INTEGER, voter=TEXT)
        ),
        seconds=NUMBER,
    ),
    "MRZReading": obj(
        ["mrz", "valid", "format", "fields", "outcome", "failed_checks", "message", "seconds"],
        mrz=TEXT,
        valid=BOOLEAN,
        format=nullable({"type": "string", "enum": ["TD1", "TD2", "TD3"]}),
        fields={"type": "object", "additionalProperties": TEXT},
        outcome={"type": "string", "enum": ["valid", "no_zone", "visa", "unreliable"]},
        failed_checks=STRINGS,
        reason=TEXT,
        advice=TEXT,
        message=TEXT,
        seconds=NUMBER,
    ),
    "Operator": obj(
        ["login", "role", "must_change_password", "disabled"],
        login=TEXT,
        role=TEXT,
        must_change_password=BOOLEAN,
        failed_logins=INTEGER,
        locked_until=nullable(NUMBER),
        disabled=BOOLEAN,
        created_at=TEXT,
        password_changed_at=TEXT,
    ),
    "PurgeReport": obj(
        ["as_of", "dry_run", "purged", "purged_count", "receipts_purged"],
        as_of=TEXT,
        dry_run=BOOLEAN,
        purged={"type": "array", "items": {"type": "object"}},
        purged_count=INTEGER,
        kept_blocked={"type": "array", "items": INTEGER},
        no_period={"type": "object", "additionalProperties": INTEGER},
        receipts_purged=INTEGER,
        rolls_purged={"type": "array", "items": {"type": "object"}},
    ),
    "RollImport": obj(
        ["outcome", "precinct", "version", "voters", "templates", "skipped_templates", "message"],
        outcome={"type": "string", "enum": ["imported", "replaced", "already_held"]},
        precinct=TEXT,
        version=INTEGER,
        previous_version=nullable(INTEGER),
        roll_id=TEXT,
        register=TEXT,
        valid_until=TEXT,
        voters=INTEGER,
        templates=INTEGER,
        skipped_templates=INTEGER,
        skipped_formats={"type": "object", "additionalProperties": INTEGER},
        message=TEXT,
        seconds=NUMBER,
    ),
    "RollStatus": obj(
        ["centre", "purpose", "voters", "rolls"],
        centre=nullable(TEXT),
        purpose=TEXT,
        voters=INTEGER,
        rolls={
            "type": "array",
            "items": obj(
                ["precinct", "version", "voters", "valid_until", "expired"],
                precinct=TEXT,
                version=INTEGER,
                voters=INTEGER,
                valid_until=TEXT,
                expired=BOOLEAN,
                register=TEXT,
                roll_id=TEXT,
            ),
        },
    ),
    "ChainReport": obj(
        ["intact", "rows", "head_seq", "breaks"],
        intact=BOOLEAN,
        rows=INTEGER,
        head_seq=INTEGER,
        first_break=nullable({"type": "object"}),
        breaks={"type": "array", "items": {"type": "object"}},
    ),
}

RECORD_ID = {
    "name": "record_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": LARGEST_RECORD_ID},
}
LOGIN = {"name": "login", "in": "path", "required": True, "schema": TEXT}
PURPOSE_QUERY = {"name": "purpose", "in": "query", "schema": PURPOSE}
DESK = "operator, supervisor"


def op(
    summary: str,
    roles: str,
    answer: Schema | None = None,
    ok: str = "200",
    params: list[Schema] | None = None,
    body: Schema | None = None,
    public: bool = False,
    media: str = "application/json",
) -> Schema:
    """One operation: summary, the roles allowed, its answer and the error answer."""
    success: Schema = {"description": "done"}
    if answer is not None:
        success["content"] = {media: {"schema": answer}}
    operation: Schema = {
        "summary": summary,
        "description": f"Roles: {roles}.",
        "responses": {
            ok: success,
            "default": {
                "description": "an error with a stable code (README: the table of codes)",
                "content": {"application/json": {"schema": ref("Error")}},
            },
        },
    }
    if not public:
        operation["security"] = BEARER
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = body
    return operation


ANY_OBJECT: Schema = {"type": "object"}
PATHS: dict[str, Schema] = {
    "/health": {
        "get": op(
            "Whether the station is up (nothing more)",
            "anyone",
            obj(["status"], status={"type": "string", "enum": ["ok"]}),
            public=True,
        )
    },
    "/status": {
        "get": op(
            "Record count, thresholds, galleries, devices (without credentials)",
            "any signed-in operator",
            obj(["status", "records", "gallery_size"], status=TEXT, records=INTEGER),
        )
    },
    "/devices": {
        "get": op(
            "Whether each configured device answers", "operator, supervisor, admin", ANY_OBJECT
        )
    },
    "/openapi.json": {"get": op("This description", "anyone", ANY_OBJECT, public=True)},
    "/auth/login": {
        "post": op(
            "Sign in: a bearer token for the other endpoints",
            "anyone",
            {"allOf": [ref("Session"), obj(["token"], token=TEXT)]},
            body=json_body(
                ["login", "password"],
                login={"type": "string", "minLength": 1, "maxLength": 256},
                password={"type": "string", "minLength": 1, "maxLength": 256},
            ),
            public=True,
        )
    },
    "/auth/logout": {"post": op("Sign out", "any signed-in operator", ok="204")},
    "/auth/me": {
        "get": op("The signed-in operator and the session's expiry", "any", ref("Session"))
    },
    "/auth/password": {
        "post": op(
            "Change one's own password (the other sessions end)",
            "any signed-in operator",
            ref("Session"),
            body=json_body(
                ["current_password", "new_password"],
                current_password={"type": "string", "minLength": 1, "maxLength": 256},
                new_password={"type": "string", "minLength": 1, "maxLength": 256},
            ),
        )
    },
    "/enrollments": {
        "post": op(
            "Enroll: consent, the card (mrz) or typed fields, the face, at least "
            "enroll_min_fingers fingers; a likely duplicate is held for a supervisor",
            DESK,
            ref("Enrollment"),
            ok="201",
            body=form_and_json(
                obj(["consent"], **ENROLLMENT_FIELDS),
                obj(["consent"], **as_json_fields(ENROLLMENT_FIELDS)),
            ),
        )
    },
    "/holds": {
        "get": op(
            "Enrollments held as likely duplicates",
            "supervisor",
            obj(["purpose", "holds"], purpose=TEXT, holds={"type": "array", "items": ANY_OBJECT}),
            params=[PURPOSE_QUERY],
        )
    },
    "/records/{record_id}/decision": {
        "post": op(
            "Decide on a held enrollment: accept, reject (deleted) or dispute (blocked)",
            "supervisor",
            obj(["record_id", "status"], record_id=INTEGER, status=TEXT),
            params=[RECORD_ID],
            body=json_body(
                ["decision", "reason"],
                decision={"type": "string", "enum": ["accept", "reject", "dispute"]},
                reason={"type": "string", "minLength": 1, "maxLength": 500},
            ),
        )
    },
    "/applications": {
        "post": op(
            "Verification at intake: card against face, enrolled record against face and "
            "fingers; the decision with reasons and a receipt",
            DESK,
            ref("Intake"),
            ok="201",
            body=form_and_json(
                obj(["mrz"], **INTAKE_FIELDS), obj(["mrz"], **as_json_fields(INTAKE_FIELDS))
            ),
        )
    },
    "/applications/status": {
        "post": op(
            "An application's decision, from the number and code on its receipt",
            DESK,
            ref("Receipt"),
            body=json_body(
                ["number", "code"],
                number={"type": "string", "minLength": 1, "maxLength": 40},
                code={"type": "string", "minLength": 1, "maxLength": 40},
            ),
        )
    },
    "/identifications": {
        "post": op(
            "1:N without a card, face and fingers fused: the top candidates (names for "
            "supervisors)",
            DESK,
            ref("Identification"),
            body=form_and_json(
                obj(None, **IDENTIFY_FIELDS), obj(None, **as_json_fields(IDENTIFY_FIELDS))
            ),
        )
    },
    "/cards/mrz": {
        "post": op(
            "An ID card's MRZ read from a photo of it (an upload, or the camera with "
            "capture=true): valid only when every check digit passes, else the reason and what "
            "to do; send it as mrz to /enrollments or /applications",
            DESK,
            ref("MRZReading"),
            body=form_and_json(obj(None, **FACE_FIELDS), obj(None, **as_json_fields(FACE_FIELDS))),
        )
    },
    "/records/{record_id}": {
        "get": op(
            "Read a record (special-category fields included)",
            "supervisor",
            ref("Record"),
            params=[RECORD_ID],
        ),
        "patch": op(
            "Correct a record; the old version is kept with the reason",
            "supervisor",
            ref("Record"),
            params=[RECORD_ID],
            body=json_body(
                ["fields", "reason"],
                fields={
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": {name: nullable(s) for name, s in PERSON.items()},
                },
                reason={"type": "string", "minLength": 1, "maxLength": 500},
            ),
        ),
        "delete": op(
            "Delete a record and everything it holds", "supervisor", ok="204", params=[RECORD_ID]
        ),
    },
    "/records/{record_id}/history": {
        "get": op(
            "Earlier versions and status changes of a record",
            "supervisor",
            obj(["record_id", "versions", "status_changes"], record_id=INTEGER),
            params=[RECORD_ID],
        )
    },
    "/records/{record_id}/block": {
        "post": op(
            "Block a disputed record, saying why: kept, never matched or changed",
            "supervisor",
            ref("Record"),
            params=[RECORD_ID],
            body=json_body(["reason"], reason={"type": "string", "minLength": 1, "maxLength": 500}),
        )
    },
    "/records/{record_id}/unblock": {
        "post": op(
            "Unblock a record, saying why",
            "supervisor",
            ref("Record"),
            params=[RECORD_ID],
            body=json_body(["reason"], reason={"type": "string", "minLength": 1, "maxLength": 500}),
        )
    },
    "/records/{record_id}/export": {
        "get": {
            **op(
                "Subject access: everything held about the person of a record",
                "supervisor",
                params=[
                    RECORD_ID,
                    {"name": "format", "in": "query", "schema": {"enum": ["json", "text"]}},
                ],
            ),
            "responses": {
                "200": {
                    "description": "the export, as JSON or as text for the person",
                    "content": {"application/json": {"schema": ANY_OBJECT}, "text/plain": {}},
                },
                "default": {
                    "description": "an error with a stable code",
                    "content": {"application/json": {"schema": ref("Error")}},
                },
            },
        }
    },
    "/operators": {
        "get": op(
            "List operator accounts",
            "admin",
            obj(["operators"], operators={"type": "array", "items": ref("Operator")}),
        ),
        "post": op(
            "Create an account; answers with a one-time password",
            "admin",
            {
                "allOf": [
                    ref("Operator"),
                    obj(["one_time_password"], one_time_password=nullable(TEXT)),
                ]
            },
            ok="201",
            body=json_body(
                ["login", "role"],
                login={"type": "string", "minLength": 1, "maxLength": 64},
                role={"type": "string", "enum": ["operator", "supervisor", "auditor", "admin"]},
            ),
        ),
    },
    "/operators/{login}/reset-password": {
        "post": op(
            "A new one-time password; signs the operator out",
            "admin",
            obj(["login", "one_time_password"], login=TEXT, one_time_password=TEXT),
            params=[LOGIN],
        )
    },
    "/operators/{login}/unlock": {
        "post": op("Lift a lockout", "admin, supervisor", ref("Operator"), params=[LOGIN])
    },
    "/operators/{login}/disable": {
        "post": op("Disable an account; signs it out", "admin", ref("Operator"), params=[LOGIN])
    },
    "/operators/{login}/enable": {
        "post": op("Enable an account", "admin", ref("Operator"), params=[LOGIN])
    },
    "/operators/{login}/document": {
        "post": op(
            "Record an operator's own ID document (a keyed hash) so they cannot serve "
            "themselves; null forgets it",
            "admin",
            obj(["login", "document"], login=TEXT, document=BOOLEAN),
            params=[LOGIN],
            body=json_body(document_number=nullable(TEXT)),
        )
    },
    "/audit": {
        "get": op(
            "Audit rows, oldest first",
            "auditor",
            obj(
                ["rows", "next_after"],
                rows={"type": "array", "items": ANY_OBJECT},
                next_after=INTEGER,
            ),
            params=[
                {
                    "name": "after",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                {"name": "target", "in": "query", "schema": TEXT},
            ],
        )
    },
    "/audit/verify": {"get": op("Check the audit chain", "auditor", ref("ChainReport"))},
    "/audit/alerts": {
        "get": op(
            "Anomalies: records changed too often or by too many operators, bulk views or "
            "exports, bursts of failed sign-ins, breaks in the chain, the clock set back",
            "auditor",
            ANY_OBJECT,
            params=[
                {
                    "name": "since",
                    "in": "query",
                    "schema": {"type": "string", "format": "date-time"},
                }
            ],
        )
    },
    "/rolls": {
        "get": op(
            "The precinct rolls held: precinct, version, voters, valid_until",
            "supervisor",
            ref("RollStatus"),
        ),
        "post": op(
            "Import a precinct roll from the centre (the body is the roll file's bytes, up "
            "to max_upload_bytes): 201 imported or replaced an older version, 200 already "
            "held; refused when it does not open, is another station's or centre's, has "
            "expired, or is older than the roll held",
            "supervisor",
            ref("RollImport"),
            ok="201",
            body={
                "required": True,
                "content": {"application/octet-stream": {"schema": BINARY}},
            },
        ),
    },
    "/retention": {
        "get": op(
            "Retention periods and what a purge would delete now",
            "supervisor, admin",
            obj(["periods_days", "receipt_days", "due"], due=ref("PurgeReport")),
        )
    },
    "/retention/purge": {
        "post": op(
            "Delete records and receipts past their retention period (each deletion audited); "
            "dry_run true only reports",
            "supervisor, admin",
            ref("PurgeReport"),
            body=json_body(["dry_run"], dry_run=BOOLEAN),
        )
    },
}

# The same roll again: nothing changed, and the answer says so.
PATHS["/rolls"]["post"]["responses"]["200"] = {
    "description": "already held",
    "content": {"application/json": {"schema": ref("RollImport")}},
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Biometric capture and identification station",
        "version": "1",
        "description": "Every endpoint but /health, /auth/login and /openapi.json needs "
        "'Authorization: Bearer <token>' from /auth/login. Errors are "
        '{"error": {"code", "message", "field"}} with a stable code.',
    },
    "servers": [{"url": "/api/v1"}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": COMPONENTS,
    },
}


def query_parameters(path: str, method: str) -> frozenset[str]:
    """The query parameters an operation takes (the API refuses any other)."""
    operation = PATHS.get(path, {}).get(method.lower(), {})
    return frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")


@blueprint.get("/openapi.json")
def spec() -> Response:
    return jsonify(SPEC)
