"""GET /openapi.json: the OpenAPI 3.1 description of every endpoint, written by hand.

A test checks that every route the app registers is described here, and nothing more.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

blueprint = Blueprint("openapi", __name__)

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
ERROR = {"$ref": "#/components/responses/Error"}
RECORD_ID = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "integer"}}
LOGIN = {"name": "login", "in": "path", "required": True, "schema": {"type": "string"}}
PHOTO_BODY = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "capture": {"type": "boolean"},
                },
            }
        },
        "application/json": {
            "schema": {"type": "object", "properties": {"capture": {"type": "boolean"}}}
        },
    }
}


def op(
    summary: str,
    roles: str,
    ok: str = "200",
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    """One operation: summary, the roles allowed, its success status and the error responses."""
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"Roles: {roles}.",
        "responses": {ok: {"description": "done"}, "default": ERROR},
    }
    if not public:
        operation["security"] = BEARER
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = body
    return operation


def json_body(**properties: str) -> dict[str, Any]:
    return {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {name: {"type": kind} for name, kind in properties.items()},
                }
            }
        }
    }


PERSON = json_body(
    name="string",
    document_type="string",
    document_number="string",
    nationality="string",
    birth_date="string",
    sex="string",
    health="string",
    disability="string",
    purpose="string",
)
WORKFLOW_BODY = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "capture": {"type": "boolean"},
                    "finger_1": {
                        "type": "string",
                        "format": "binary",
                        "description": "one file per finger, finger_<ISO position 1-10>",
                    },
                    "scan_fingers": {"type": "string", "description": "positions, e.g. 2,7"},
                    "dpi": {"type": "number"},
                    "mrz": {"type": "string"},
                    "consent": {"type": "boolean"},
                    "purpose": {"type": "string"},
                    "top_k": {"type": "integer"},
                    "name": {"type": "string"},
                },
            }
        }
    }
}
QUERY = [
    {"name": "after", "in": "query", "schema": {"type": "integer"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
    {"name": "target", "in": "query", "schema": {"type": "string"}},
]
DESK = "operator, supervisor"

PATHS: dict[str, dict[str, Any]] = {
    "/health": {"get": op("Whether the station is up (nothing more)", "anyone", public=True)},
    "/status": {
        "get": op("Record count, thresholds, galleries, devices", "any signed-in operator")
    },
    "/devices": {
        "get": op("Whether each configured device answers", "operator, supervisor, admin")
    },
    "/openapi.json": {"get": op("This description", "any signed-in operator")},
    "/auth/login": {
        "post": op(
            "Sign in: a bearer token for the other endpoints",
            "anyone",
            body=json_body(login="string", password="string"),
            public=True,
        )
    },
    "/auth/logout": {"post": op("Sign out", "any signed-in operator", ok="204")},
    "/auth/me": {"get": op("The signed-in operator and the session's expiry", "any")},
    "/auth/password": {
        "post": op(
            "Change one's own password (required after a one-time password)",
            "any signed-in operator",
            body=json_body(current_password="string", new_password="string"),
        )
    },
    "/records/{record_id}": {
        "get": op(
            "Read a record (special-category fields for supervisors)", DESK, params=[RECORD_ID]
        ),
        "patch": op(
            "Correct a record; the old version is kept with the reason",
            "supervisor",
            params=[RECORD_ID],
            body=json_body(fields="object", reason="string"),
        ),
        "delete": op("Delete a record and everything it holds", "supervisor", "204", [RECORD_ID]),
    },
    "/records/{record_id}/history": {
        "get": op("Earlier versions of a record", "supervisor", params=[RECORD_ID])
    },
    "/records/{record_id}/block": {
        "post": op(
            "Block a disputed record: kept, never matched or changed",
            "supervisor",
            params=[RECORD_ID],
        )
    },
    "/records/{record_id}/unblock": {
        "post": op("Unblock a record", "supervisor", params=[RECORD_ID])
    },
    "/operators": {
        "get": op("List operator accounts", "admin"),
        "post": op(
            "Create an account; answers with a one-time password",
            "admin",
            ok="201",
            body=json_body(login="string", role="string"),
        ),
    },
    "/operators/{login}/reset-password": {
        "post": op("A new one-time password; signs the operator out", "admin", params=[LOGIN])
    },
    "/operators/{login}/unlock": {
        "post": op("Lift a lockout", "admin, supervisor", params=[LOGIN])
    },
    "/operators/{login}/disable": {
        "post": op("Disable an account; signs it out", "admin", params=[LOGIN])
    },
    "/operators/{login}/enable": {"post": op("Enable an account", "admin", params=[LOGIN])},
    "/audit": {"get": op("Audit rows, oldest first", "auditor", params=QUERY)},
    "/audit/verify": {"get": op("Check the audit chain", "auditor")},
    "/audit/alerts": {
        "get": op(
            "Anomalies: records changed too often or by too many operators, bulk views or "
            "exports, bursts of failed sign-ins, breaks in the chain, the clock set back",
            "auditor",
            params=[{"name": "since", "in": "query", "schema": {"type": "string"}}],
        )
    },
    "/records/{record_id}/export": {
        "get": op(
            "Subject access: everything held about the person of a record (format=json|text)",
            "supervisor",
            params=[
                RECORD_ID,
                {"name": "format", "in": "query", "schema": {"enum": ["json", "text"]}},
            ],
        )
    },
    "/enrollments": {
        "post": op(
            "Enrol: card (mrz), face, at least two fingers (finger_<position> files or "
            "scan_fingers), consent; a likely duplicate is held for a supervisor",
            DESK,
            ok="201",
            body=WORKFLOW_BODY,
        )
    },
    "/holds": {
        "get": op(
            "Enrolments held as likely duplicates",
            "supervisor",
            params=[{"name": "purpose", "in": "query", "schema": {"type": "string"}}],
        )
    },
    "/records/{record_id}/decision": {
        "post": op(
            "Decide on a held enrolment: accept, reject (deleted) or dispute (blocked)",
            "supervisor",
            params=[RECORD_ID],
            body=json_body(decision="string", reason="string"),
        )
    },
    "/applications": {
        "post": op(
            "Verification at intake: card against face, enrolled record against face and "
            "fingers; decision with reasons and a receipt",
            DESK,
            ok="201",
            body=WORKFLOW_BODY,
        )
    },
    "/applications/status": {
        "post": op(
            "An application's decision, from the number and code on its receipt",
            DESK,
            body=json_body(number="string", code="string"),
        )
    },
    "/identifications": {
        "post": op(
            "1:N without a card, face and fingers fused: top candidates (names for supervisors)",
            DESK,
            body=WORKFLOW_BODY,
        )
    },
    "/operators/{login}/document": {
        "post": op(
            "Record an operator's own ID document (keyed hash) so they cannot serve themselves",
            "admin",
            params=[LOGIN],
            body=json_body(document_number="string"),
        )
    },
    "/retention": {
        "get": op("Retention periods and what a purge would delete now", "supervisor, admin")
    },
    "/retention/purge": {
        "post": op(
            "Delete records and receipts past their retention period (each deletion audited)",
            "supervisor, admin",
            body=json_body(dry_run="boolean"),
        )
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Biometric capture and identification station",
        "version": "1",
        "description": "Every endpoint but /health and /auth/login needs "
        "'Authorization: Bearer <token>' from /auth/login. Errors are "
        '{"error": {"code", "message", "field"}} with a stable code.',
    },
    "servers": [{"url": "/api/v1"}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "Error": {
                "description": "an error with a stable code",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "error": {
                                    "type": "object",
                                    "properties": {
                                        "code": {"type": "string"},
                                        "message": {"type": "string"},
                                        "field": {"type": "string"},
                                    },
                                }
                            },
                        }
                    }
                },
            }
        },
    },
}


@blueprint.get("/openapi.json")
def spec() -> Response:
    return jsonify(SPEC)
