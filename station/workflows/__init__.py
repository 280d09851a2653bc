"""The station's jobs, one function each, independent of HTTP: the API, the operator console and
the CLI call these and nothing else. Each takes the open :class:`~station.core.Station` and the
acting operator (``actor``), checks the role, applies the job's rules and writes its audit rows in
the same transaction as its change.

=====================  ==============================================================
enroll                 consent, card, face, fingers, 1:N de-duplication, holds
list_holds             held enrollments waiting for a supervisor
decide_hold            accept, reject or dispute a held enrollment
verify_at_intake       card, live face and finger against chip and record; a receipt
application_status     a receipt's decision, from its number and code
read_card_mrz          an ID card's MRZ from a photo (the camera), for its chip's access key
identify               1:N without a card, face and fingers fused
view_record            one record (supervisors)
correct_record         change fields, the old version kept with the reason
record_history         versions and status changes of a record
set_blocked            block a record under dispute, or unblock it, with a reason
delete_record          a record and everything it holds
export_record          everything held about a person (subject access)
purge_expired          what has outlived its retention period
read_audit ...         the audit trail, its chain check, its anomaly alerts
sign_in ...            sessions, passwords, operator accounts
rotate_key ...         key rotation, encrypted backups, device checks
=====================  ==============================================================
"""

from station.workflows.accounts import (
    authenticate,
    change_password,
    create_operator,
    list_operators,
    reset_password,
    set_operator_disabled,
    set_operator_document,
    sign_in,
    sign_out,
    unlock_operator,
)
from station.workflows.documents import DocumentInput, read_card_mrz
from station.workflows.enrollment import Enrollment, SelfEnrollmentError, enroll
from station.workflows.holds import DECISIONS, NotHeldError, decide_hold, list_holds
from station.workflows.identification import Identification, identify
from station.workflows.inputs import (
    CardInput,
    FaceInput,
    FingerInput,
    FingerRefusedError,
    finger_template,
)
from station.workflows.intake import (
    ApplicationNotFoundError,
    Intake,
    application_status,
    verify_at_intake,
)
from station.workflows.maintenance import check_devices, create_backup, rotate_key
from station.workflows.oversight import AuditPage, audit_alerts, read_audit, verify_audit
from station.workflows.privacy import EXPORT_FORMATS, export_record, purge_expired, render_text
from station.workflows.records import (
    correct_record,
    delete_record,
    record_history,
    set_blocked,
    view_record,
)

__all__ = [
    "DECISIONS",
    "EXPORT_FORMATS",
    "ApplicationNotFoundError",
    "AuditPage",
    "CardInput",
    "DocumentInput",
    "Enrollment",
    "FaceInput",
    "FingerInput",
    "FingerRefusedError",
    "Identification",
    "Intake",
    "NotHeldError",
    "SelfEnrollmentError",
    "application_status",
    "audit_alerts",
    "authenticate",
    "change_password",
    "check_devices",
    "correct_record",
    "create_backup",
    "create_operator",
    "decide_hold",
    "delete_record",
    "enroll",
    "export_record",
    "finger_template",
    "identify",
    "list_holds",
    "list_operators",
    "purge_expired",
    "read_audit",
    "read_card_mrz",
    "record_history",
    "render_text",
    "reset_password",
    "rotate_key",
    "set_blocked",
    "set_operator_disabled",
    "set_operator_document",
    "sign_in",
    "sign_out",
    "unlock_operator",
    "verify_at_intake",
    "verify_audit",
    "view_record",
]
