"""Station settings, layered: defaults -> calibration file -> TOML file -> ``STATION_*``
environment -> overrides.

The calibration file (``calibration.json`` written by ``station calibrate``) is the one named by
the ``calibration_file`` setting, else ``calibration.json`` in the data directory when it exists;
it supplies the decision thresholds it holds, and any layer above it may still set them.

The file is the one named by ``--config``/``STATION_CONFIG``, else ``station.toml`` in the data
directory when it exists. Every key can be set at every layer; unknown keys are an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration import (
    DEFAULT_FINGERPRINT_VERIFY_THRESHOLD,
    FACE_THRESHOLDS,
    CalibrationError,
    load_calibration,
)
from station.records import ROLL_PURPOSE
from station.security.passwords import KdfParams

log = logging.getLogger(__name__)
ENV_PREFIX = "STATION_"
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CONFIG_FILE_NAME = "station.toml"
# What a liveness challenge may ask (matcher.face.liveness.ACTIONS, not imported: it is heavy).
LIVENESS_ACTIONS = ("turn_left", "turn_right", "blink")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``data/`` in the project's checkout when the station runs from one (where ``scripts/start``
    keeps it), else ``$XDG_DATA_HOME/biometric-station``."""
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "station").is_dir():
        return PROJECT_ROOT / "data"
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "biometric-station"


def _config_home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config"))


def default_key_file(data_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """The key file of a data directory: outside it (a copy of the data carries no key), one
    per data directory (two stations on one laptop never share or overwrite a key), named after
    the directory and a digest of its absolute path."""
    folder = data_dir.expanduser().resolve()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", folder.name)[:40] or "station"
    return _config_home(environ) / "biometric-station" / "keys" / f"{name}-{digest}.key"


def legacy_key_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where stations before 0.3 kept the key of every data directory on the machine."""
    return _config_home(environ) / "biometric-station" / "station.key"


def default_datasets_dir() -> Path:
    """``../shared/datasets`` beside the project checkout."""
    return (PROJECT_ROOT.parent / "shared" / "datasets").resolve()


# STATION_* variables that are not settings: secrets (never in a file, never logged) and the
# names scripts/bootstrap and the CLI read. Any other STATION_* variable is an error.
SECRET_VARIABLES = {
    "STATION_KEY": "key",  # the encryption key in base64, instead of key_file
    "STATION_ADMIN_PASSWORD": "admin_password",  # the first admin's password, at the first start
    "STATION_OPERATOR": "operator",  # who a command acts as
    "STATION_PASSWORD": "password",  # ...and their password
    "STATION_NEW_PASSWORD": "new_password",  # for `station operator passwd`
    "STATION_BACKUP_PASSPHRASE": "backup_passphrase",
}
OTHER_VARIABLES = frozenset({"STATION_CONFIG", "STATION_VENV"})


@dataclass(frozen=True)
class Secrets:
    """What the environment may hold that is not a setting. Read here and nowhere else."""

    key: str | None = None
    admin_password: str | None = None
    operator: str | None = None
    password: str | None = None
    new_password: str | None = None
    backup_passphrase: str | None = None

    def __repr__(self) -> str:  # never print a secret
        given = [name for name, value in vars(self).items() if value]
        return f"Secrets({', '.join(given)} given)"


def load_secrets(environ: Mapping[str, str] | None = None) -> Secrets:
    env = os.environ if environ is None else environ
    return Secrets(**{field: env.get(name) or None for name, field in SECRET_VARIABLES.items()})


class ConfigError(ValueError):
    """A setting is missing, unknown or has a value of the wrong kind."""

    code = "config_error"


@dataclass(frozen=True)
class Settings:
    """Everything a station reads at start. All state lives under ``data_dir``."""

    data_dir: Path = field(default_factory=default_data_dir)
    datasets_dir: Path = field(default_factory=default_datasets_dir)
    host: str = "127.0.0.1"
    port: int = 8470
    server_threads: int = 8  # requests handled at once (heavy work is bounded separately)
    connection_limit: int = 500  # open connections; unfinished ones are dropped first near it
    request_header_seconds: float = 10.0  # a request's line and headers must arrive within this
    request_body_seconds: float = 300.0  # ...and its whole body within this
    camera_url: str = ""
    scanner_url: str = ""
    card_reader_url: str = ""
    camera_timeout: float = 5.0
    camera_idle_seconds: float = 20.0  # the console's live preview closes after this without frames
    # The face encoder: "sface" (OpenCV's YuNet and SFace) or "dlib" (face_recognition), see
    # matcher/face/engines.py. Templates carry their model; the station re-encodes the ones of
    # another model from their sealed portraits when it opens.
    face_encoder: str = "sface"
    # Capture quality reads dlib's 68 landmarks on YuNet's face (pose, tilt, eyes open); false
    # ships no iBUG 300-W-trained model in the face path but judges pose roughly, eyes not at all.
    face_landmarks_68: bool = True
    face_verify_threshold: float = 0.0  # 0: the face encoder's default (calibration/defaults.py)
    face_identify_threshold: float = 0.0  # 0: the face encoder's default
    # Liveness (README: "Liveness"): "off", or "challenge" (turn the head / blink as asked).
    liveness: str = "off"
    liveness_actions: str = "turn_left,turn_right"  # what a challenge may ask, comma-separated
    calibration_file: Path | None = None  # default: calibration.json in data_dir, if there
    calibration_growth_warning: float = 2.0  # warn when a gallery outgrows its calibration x this
    calibrated_gallery_size: int = 0  # people the face 1:N threshold was set for (0: unknown)
    top_k: int = 5
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_photo_side: int = 3000  # larger photos are scaled down on decoding
    max_finger_pixels: int = 640_000  # a finger image at 500 dpi: 1.6 x 1.6 inches
    max_parallel_work: int = 2  # face encodings and minutiae extractions at once (about 1 GB each)
    busy_seconds: float = 60.0  # how long a request waits for one, then station_busy (503)
    max_detection_side: int = 800
    log_level: str = "INFO"
    # Security and personal data (README: "Security and personal data").
    key_file: Path = Path()  # default: default_key_file(data_dir)
    station_id: str = field(default_factory=socket.gethostname)
    precinct: str = ""  # the precinct this kit enrols for (its packets say so; the centre's rolls)
    default_purpose: str = "voter_registration"
    password_kdf_n: int = 2**17  # scrypt cost: 128 MiB and about 0.5 s per login
    password_kdf_r: int = 8
    password_kdf_p: int = 1
    lockout_failures: int = 5  # wrong passwords in a row that lock an account for that client
    lockout_seconds: int = 900
    login_answer_seconds: float = 0.5  # every sign-in answer takes at least this long
    login_parallel_per_client: int = 2  # sign-ins one client may have under way at once
    login_failures_per_client: int = 30  # failed sign-ins of one client per lockout_seconds
    session_idle_seconds: int = 900
    session_max_seconds: int = 12 * 3600
    # Retention (README: "Personal-data duties"): "purpose=days,..."; a purpose without a period
    # cannot be collected for. Receipts of intake verifications have their own period.
    retention_days: str = "voter_registration=3650"
    # A kit that hands its records over keeps them this many days after the centre acknowledged
    # them (then the purge deletes them here, never at the centre); -1: the purpose's period.
    keep_after_handover_days: int = -1
    receipt_retention_days: int = 365
    # Anomaly alerts for the auditor, over a sliding window of the audit trail.
    alert_window_seconds: int = 24 * 3600
    alert_record_changes: int = 5  # one record changed more than this many times in the window
    alert_record_operators: int = 2  # ...or by more than this many operators
    alert_bulk_reads: int = 100  # one operator viewing or exporting more records than this
    alert_failed_logins: int = 10  # failed sign-ins, station-wide, in alert_failed_login_seconds
    alert_failed_login_seconds: int = 600
    # Fingerprints and fusion.
    fingerprint_verify_threshold: float = DEFAULT_FINGERPRINT_VERIFY_THRESHOLD
    fingerprint_min_quality: int = 20  # a capture below this NFIQ2-like quality is refused
    fingerprint_min_minutiae: int = 12
    enroll_min_fingers: int = 2  # 0: a station without a scanner enrolls faces only
    finger_attempts: int = 3  # failed scans of a finger before it may be marked an exception
    console_language: str = "ky"  # the console's language before an operator chooses: ky, ru, en
    scanner_timeout: float = 10.0
    card_timeout: float = 10.0
    fusion_verify_threshold: float = 4.6  # fused log-likelihood ratio, ln(100): matcher/fusion.py
    fusion_identify_threshold: float = 4.6  # ...for 1:N, plus ln(gallery size)
    duplicate_threshold: float = 4.6  # fused LLR above which an enrollment is held as a duplicate

    def __post_init__(self) -> None:
        if self.key_file == Path():
            object.__setattr__(self, "key_file", default_key_file(self.data_dir))
        defaults = FACE_THRESHOLDS.get(self.face_encoder)
        if defaults is not None:
            if self.face_verify_threshold == 0:
                object.__setattr__(self, "face_verify_threshold", defaults.verify)
            if self.face_identify_threshold == 0:
                object.__setattr__(self, "face_identify_threshold", defaults.identify)

    @property
    def key_file_is_default(self) -> bool:
        return self.key_file == default_key_file(self.data_dir)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "station.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def validate(self) -> Settings:
        if self.face_encoder not in FACE_THRESHOLDS:
            raise ConfigError(
                f"face_encoder={self.face_encoder!r} is not one of {', '.join(FACE_THRESHOLDS)}"
            )
        for name in ("face_verify_threshold", "face_identify_threshold"):
            if not 0 < getattr(self, name) < 4:
                raise ConfigError(f"{name}={getattr(self, name)} must lie between 0 and 4")
        if not 1 <= self.top_k <= 100:
            raise ConfigError(f"top_k={self.top_k} must lie between 1 and 100")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port={self.port} must lie between 1 and 65535")
        for name in (
            "server_threads",
            "connection_limit",
            "max_upload_bytes",
            "max_image_pixels",
            "max_photo_side",
            "max_finger_pixels",
            "max_parallel_work",
            "max_detection_side",
            "lockout_failures",
            "lockout_seconds",
            "finger_attempts",
            "login_parallel_per_client",
            "login_failures_per_client",
            "session_idle_seconds",
            "session_max_seconds",
            "password_kdf_r",
            "password_kdf_p",
            "receipt_retention_days",
            "alert_window_seconds",
            "alert_record_changes",
            "alert_record_operators",
            "alert_bulk_reads",
            "alert_failed_logins",
            "alert_failed_login_seconds",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive")
        if self.liveness not in {"off", "challenge"}:
            raise ConfigError(f"liveness={self.liveness!r} is off or challenge")
        actions = [part.strip() for part in self.liveness_actions.split(",") if part.strip()]
        if not actions or set(actions) - set(LIVENESS_ACTIONS):
            raise ConfigError(
                f"liveness_actions={self.liveness_actions!r}: one or more of "
                f"{', '.join(LIVENESS_ACTIONS)}, comma-separated"
            )
        if self.console_language not in {"ky", "ru", "en"}:
            raise ConfigError("console_language is ky, ru or en")
        if not 0 <= self.enroll_min_fingers <= 10:
            raise ConfigError("enroll_min_fingers lies between 0 (faces only) and 10")
        if not 0 <= self.login_answer_seconds <= 10:
            raise ConfigError("login_answer_seconds must lie between 0 and 10")
        for name in (
            "busy_seconds",
            "request_header_seconds",
            "request_body_seconds",
            "camera_timeout",
            "camera_idle_seconds",
            "scanner_timeout",
            "card_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        n = self.password_kdf_n
        if n < 2**10 or n & (n - 1):
            raise ConfigError(f"password_kdf_n={n} must be a power of two, at least 1024")
        if not self.station_id.strip():
            raise ConfigError("station_id must not be empty")
        if not 0 < self.fingerprint_verify_threshold < 1:
            raise ConfigError("fingerprint_verify_threshold must lie between 0 and 1")
        if self.default_purpose not in self.retention_periods:
            raise ConfigError(
                f"default_purpose={self.default_purpose} has no retention period: add "
                f"{self.default_purpose}=DAYS to retention_days"
            )
        return self

    @property
    def retention_periods(self) -> dict[str, int]:
        """``retention_days`` parsed: purpose -> days a record is kept after its enrollment."""
        periods: dict[str, int] = {}
        for part in self.retention_days.split(","):
            if not part.strip():
                continue
            purpose, sep, days = part.partition("=")
            purpose = purpose.strip()
            if not sep or not _PURPOSE.match(purpose) or not days.strip().isdigit():
                raise ConfigError(
                    f"retention_days={self.retention_days!r}: write purpose=days pairs separated "
                    "by commas, such as voter_registration=3650,census=365"
                )
            if int(days) < 1:
                raise ConfigError(f"retention_days: {purpose} must be kept at least 1 day")
            if purpose == ROLL_PURPOSE:
                raise ConfigError(
                    f"retention_days: {ROLL_PURPOSE} is the purpose of the centre's precinct "
                    "rolls, kept until each roll's valid_until: choose another name"
                )
            periods[purpose] = int(days)
        return periods

    @property
    def kdf(self) -> KdfParams:
        return KdfParams(self.password_kdf_n, self.password_kdf_r, self.password_kdf_p)


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    """Turn a file or environment value into the field's type, with a clear error."""
    kind = {
        Path: Path,
        "Path": Path,
        "Path | None": Path,
        int: int,
        "int": int,
        float: float,
        "float": float,
        bool: bool,
        "bool": bool,
    }.get(FIELDS[name].type, str)
    if kind is bool:
        return _boolean(name, value)
    if kind is Path:
        return Path(str(value)).expanduser()
    if kind is str and isinstance(value, dict):  # a TOML table such as retention_days
        return ",".join(f"{key}={item}" for key, item in value.items())
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        words = {int: "a whole number", float: "a number"}.get(kind, "text")
        raise ConfigError(f"setting {name}={value!r} must be {words}") from None


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise ConfigError(f"setting {name}={value!r} must be true or false")


def _check_keys(source: str, keys: Mapping[str, Any]) -> None:
    unknown = sorted(set(keys) - set(FIELDS))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} in {source}; valid: {', '.join(sorted(FIELDS))}"
        )


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    section = data.get("station", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [station] must be a table")
    _check_keys(str(path), section)
    return section


def environment_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings among the ``STATION_*`` variables; an unknown one is an error (a typo such
    as STATION_PORTT would otherwise be ignored without a word)."""
    values: dict[str, Any] = {}
    unknown = []
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key in SECRET_VARIABLES or key in OTHER_VARIABLES:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        name = {"data": "data_dir", "datasets": "datasets_dir"}.get(name, name)
        if name in FIELDS:
            values[name] = value
        else:
            unknown.append(key)
    if unknown:
        valid = sorted(
            [ENV_PREFIX + n.upper() for n in FIELDS] + [*SECRET_VARIABLES, *OTHER_VARIABLES]
        )
        raise ConfigError(
            f"unknown environment variable(s) {', '.join(sorted(unknown))}; valid: "
            + ", ".join(valid)
        )
    return values


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from every layer; later layers win.

    ``STATION_DATA`` and ``STATION_DATASETS`` are accepted as short names for ``data_dir`` and
    ``datasets_dir``. ``overrides`` (command-line flags, test config) with value None are ignored.
    """
    env = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, Any]]] = []
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys("overrides", given)
    env_values = environment_values(env)

    data_dir = Path(
        str(given.get("data_dir") or env_values.get("data_dir") or default_data_dir(env))
    )
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
    if config_file is None and (data_dir.expanduser() / CONFIG_FILE_NAME).is_file():
        config_file = data_dir.expanduser() / CONFIG_FILE_NAME
    if config_file is not None:
        layers.append((str(config_file), read_config_file(config_file)))
    layers.append(("environment", env_values))
    layers.append(("overrides", given))

    calibration_path = _calibration_path(data_dir, layers)
    if calibration_path is not None:
        layers.insert(0, (str(calibration_path), calibrated_values(calibration_path)))
    values: dict[str, Any] = {"data_dir": data_dir}
    for _source, layer in layers:
        for name, value in layer.items():
            if name != CALIBRATED_FACE_ENCODER:
                values[name] = _coerce(name, value)
    _drop_other_encoders_face_thresholds(layers, values)
    values.setdefault("key_file", default_key_file(values["data_dir"], env))
    return Settings(**values).validate()


CALIBRATION_FILE_NAME = "calibration.json"


def _calibration_path(data_dir: Path, layers: list[tuple[str, Mapping[str, Any]]]) -> Path | None:
    """The calibration file to read: the last layer naming one, else the data directory's."""
    named = [layer["calibration_file"] for _, layer in layers if layer.get("calibration_file")]
    if named:
        return Path(str(named[-1])).expanduser()
    default = data_dir.expanduser() / CALIBRATION_FILE_NAME
    return default if default.is_file() else None


CALIBRATED_FACE_ENCODER = "__face_encoder__"  # in the calibration layer only: who measured it


def _drop_other_encoders_face_thresholds(
    layers: list[tuple[str, Mapping[str, Any]]], values: dict[str, Any]
) -> None:
    """A calibration's face thresholds are distances of its encoder's templates: with another
    encoder they mean nothing, and that encoder's defaults apply (unless a later layer sets them)."""
    if not layers or CALIBRATED_FACE_ENCODER not in layers[0][1]:
        return
    source, calibration = layers[0]
    measured_with = calibration[CALIBRATED_FACE_ENCODER]
    encoder = values.get("face_encoder", Settings.face_encoder)
    if measured_with == encoder:
        return
    for name in ("face_verify_threshold", "face_identify_threshold"):
        if name in calibration and not any(name in layer for _, layer in layers[1:]):
            values.pop(name, None)
    log.warning(
        "%s: its face thresholds were measured with the %s encoder, the station uses %s: "
        "using %s's defaults until `station calibrate face` is run again",
        source,
        measured_with,
        encoder,
        encoder,
    )


def calibrated_values(path: Path) -> dict[str, Any]:
    """The settings a calibration file supplies: its thresholds, the fingerprint quality a capture
    needs, and its own path."""
    try:
        calibration = load_calibration(path)
    except CalibrationError as exc:
        raise ConfigError(f"{exc} (fix it, run `station calibrate` again, or remove it)") from exc
    values: dict[str, Any] = {"calibration_file": path}
    for name in (
        "face_verify_threshold",
        "face_identify_threshold",
        "fingerprint_verify_threshold",
    ):
        value = getattr(calibration, name)
        if value is not None:
            values[name] = value
    if calibration.face_encoder is not None:
        values[CALIBRATED_FACE_ENCODER] = calibration.face_encoder
    if calibration.fingerprint_min_quality is not None:
        values["fingerprint_min_quality"] = round(calibration.fingerprint_min_quality)
    if calibration.identify_gallery_size is not None:
        values["calibrated_gallery_size"] = calibration.identify_gallery_size
    return values
