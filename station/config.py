"""Station settings, layered: defaults -> TOML file -> ``STATION_*`` environment -> overrides.

The file is the one named by ``--config``/``STATION_CONFIG``, else ``station.toml`` in the data
directory when it exists. Every key can be set at every layer; unknown keys are an error.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration import DEFAULT_FACE_IDENTIFY_THRESHOLD, DEFAULT_FACE_VERIFY_THRESHOLD

ENV_PREFIX = "STATION_"
CONFIG_FILE_NAME = "station.toml"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "biometric-station"


def default_datasets_dir() -> Path:
    """``../shared/datasets`` beside the project checkout."""
    return (PROJECT_ROOT.parent / "shared" / "datasets").resolve()


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
    camera_url: str = ""
    scanner_url: str = ""
    card_reader_url: str = ""
    camera_timeout: float = 5.0
    face_verify_threshold: float = DEFAULT_FACE_VERIFY_THRESHOLD
    face_identify_threshold: float = DEFAULT_FACE_IDENTIFY_THRESHOLD
    top_k: int = 5
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_detection_side: int = 800
    gallery_save_every: int = 50
    log_level: str = "INFO"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "station.sqlite3"

    @property
    def gallery_dir(self) -> Path:
        return self.data_dir / "gallery"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def validate(self) -> Settings:
        for name in ("face_verify_threshold", "face_identify_threshold"):
            if not 0 < getattr(self, name) < 4:
                raise ConfigError(f"{name}={getattr(self, name)} must lie between 0 and 4")
        if not 1 <= self.top_k <= 100:
            raise ConfigError(f"top_k={self.top_k} must lie between 1 and 100")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port={self.port} must lie between 1 and 65535")
        for name in (
            "max_upload_bytes",
            "max_image_pixels",
            "max_detection_side",
            "gallery_save_every",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive")
        if self.camera_timeout <= 0:
            raise ConfigError("camera_timeout must be positive")
        return self


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    """Turn a file or environment value into the field's type, with a clear error."""
    kind = {Path: Path, "Path": Path, int: int, "int": int, float: float, "float": float}.get(
        FIELDS[name].type, str
    )
    if kind is Path:
        return Path(str(value)).expanduser()
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        words = {int: "a whole number", float: "a number"}.get(kind, "text")
        raise ConfigError(f"setting {name}={value!r} must be {words}") from None


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
    values: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name == "data":
            name = "data_dir"
        elif name == "datasets":
            name = "datasets_dir"
        if name in FIELDS:
            values[name] = value
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

    data_dir = Path(str(given.get("data_dir") or env_values.get("data_dir") or default_data_dir()))
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
    if config_file is None and (data_dir.expanduser() / CONFIG_FILE_NAME).is_file():
        config_file = data_dir.expanduser() / CONFIG_FILE_NAME
    if config_file is not None:
        layers.append((str(config_file), read_config_file(config_file)))
    layers.append(("environment", env_values))
    layers.append(("overrides", given))

    values: dict[str, Any] = {}
    for _source, layer in layers:
        for name, value in layer.items():
            values[name] = _coerce(name, value)
    return Settings(**values).validate()
