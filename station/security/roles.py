"""Roles and what each may do. Every workflow checks its permission against the acting operator.

Duties are separated: operators enroll, verify and identify people (seeing scores and record ids,
not who a search found); supervisors also read records and see who a search found, correct,
block and delete records, decide on held enrollments, answer subject access requests and see
special-category fields; auditors read the audit trail and its alerts, nothing personal; admins
manage accounts and the station (including the retention purge, which reads nothing), not
people's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from station.errors import StationError


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"  # in-process callers: tests, benchmarks; never a login
    PUBLIC = "public"  # a citizen checking a receipt on the console's public page; never a login


class Permission(StrEnum):
    ENROLL = "enroll"
    VIEW = "view"
    IDENTIFY = "identify"
    VERIFY = "verify"
    VIEW_SPECIAL = "view_special"
    CORRECT = "correct"
    BLOCK = "block"
    DELETE = "delete"
    DEVICES = "devices"
    AUDIT_READ = "audit_read"
    MANAGE_OPERATORS = "manage_operators"
    UNLOCK_OPERATORS = "unlock_operators"
    MAINTAIN = "maintain"  # rotate the key, make backups
    EXPORT = "export"  # subject access: everything held about one person
    PURGE = "purge"  # delete what has outlived its retention period
    DECIDE = "decide"  # decide on an enrollment held as a likely duplicate
    CHECK_RECEIPT = "check_receipt"  # a receipt's decision, from its number and code
    READ_CARD = "read_card"  # an ID card's MRZ from a photo of it, for its chip's access key
    HAND_OVER = "hand_over"  # packets to the centre on a USB stick, precinct rolls from it


# What each permission lets one do, in the words a refusal uses ("the operator role may not ...").
WORDS = {
    Permission.ENROLL: "enroll people",
    Permission.VIEW: "read people's records or see who a search found",
    Permission.IDENTIFY: "identify people",
    Permission.VERIFY: "verify people at intake",
    Permission.VIEW_SPECIAL: "see health or disability data",
    Permission.CORRECT: "correct records or read their history",
    Permission.BLOCK: "block or unblock records",
    Permission.DELETE: "delete records",
    Permission.DEVICES: "check the devices",
    Permission.AUDIT_READ: "read the audit trail",
    Permission.MANAGE_OPERATORS: "manage operator accounts",
    Permission.UNLOCK_OPERATORS: "unlock operator accounts",
    Permission.MAINTAIN: "rotate the key or make backups",
    Permission.EXPORT: "export a person's data",
    Permission.PURGE: "purge expired records",
    Permission.DECIDE: "list or decide on held enrollments",
    Permission.CHECK_RECEIPT: "check a receipt",
    Permission.READ_CARD: "read ID cards",
    Permission.HAND_OVER: "exchange records with the centre (packets out, precinct rolls in)",
}

_P = Permission
_DESK = {_P.ENROLL, _P.IDENTIFY, _P.VERIFY, _P.DEVICES, _P.CHECK_RECEIPT, _P.READ_CARD}
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(_DESK),
    Role.SUPERVISOR: frozenset(
        _DESK
        | {
            _P.VIEW,
            _P.VIEW_SPECIAL,
            _P.CORRECT,
            _P.BLOCK,
            _P.DELETE,
            _P.UNLOCK_OPERATORS,
            _P.EXPORT,
            _P.PURGE,
            _P.DECIDE,
            _P.HAND_OVER,
        }
    ),
    Role.AUDITOR: frozenset({_P.AUDIT_READ}),
    Role.ADMIN: frozenset(
        {_P.MANAGE_OPERATORS, _P.UNLOCK_OPERATORS, _P.DEVICES, _P.MAINTAIN, _P.PURGE}
    ),
    Role.SYSTEM: frozenset(Permission),
    Role.PUBLIC: frozenset({_P.CHECK_RECEIPT}),
}
LOGIN_ROLES = (Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)


class PermissionDeniedError(StationError):
    code = "permission_denied"

    def __init__(self, role: Role, permission: Permission) -> None:
        self.role = role
        self.permission = permission
        allowed = ", ".join(r.value for r in LOGIN_ROLES if permission in GRANTS[r])
        super().__init__(
            f"the {role.value} role may not {WORDS[permission]}: ask someone with the "
            f"{allowed} role"
        )


@dataclass(frozen=True)
class Actor:
    """Who is acting: the signed-in operator (or the local system), named in every audit row."""

    login: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.may(permission):
            raise PermissionDeniedError(self.role, permission)


SYSTEM = Actor(login="system", role=Role.SYSTEM)
