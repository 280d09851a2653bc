"""Settings come in layers: defaults, then the file, then STATION_* variables, then overrides."""

from pathlib import Path

import pytest

from calibration import FACE_THRESHOLDS
from station.config import ConfigError, load_settings


def test_defaults_apply_when_nothing_is_set(tmp_path: Path) -> None:
    settings = load_settings(overrides={"data_dir": tmp_path}, environ={})
    assert settings.face_encoder == "sface"
    assert settings.face_identify_threshold == FACE_THRESHOLDS["sface"].identify
    assert settings.face_verify_threshold == FACE_THRESHOLDS["sface"].verify
    assert settings.host == "127.0.0.1"
    assert settings.database_path == tmp_path / "station.sqlite3"


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text("[station]\nport = 9000\ntop_k = 3\nface_identify_threshold = 0.45\n")
    env = {"STATION_PORT": "9100", "STATION_DATA": str(tmp_path)}
    settings = load_settings(overrides={"top_k": 7}, environ=env)
    assert settings.data_dir == tmp_path
    assert settings.face_identify_threshold == 0.45  # file (found in the data directory)
    assert settings.port == 9100  # environment beats file
    assert settings.top_k == 7  # override beats both


def test_the_config_file_can_be_named_by_environment(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("camera_url = 'sim://?dir=/photos'\n")
    settings = load_settings(environ={"STATION_CONFIG": str(config), "STATION_DATA": str(tmp_path)})
    assert settings.camera_url == "sim://?dir=/photos"


def test_an_unknown_setting_in_the_file_is_an_error_listing_the_valid_ones(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text("treshold = 0.4\n")
    with pytest.raises(
        ConfigError, match=r"unknown setting\(s\) treshold.*valid: .*camera_timeout"
    ):
        load_settings(config_file=config, environ={})


def test_a_value_of_the_wrong_kind_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port='eighty' must be a whole number"):
        load_settings(environ={"STATION_PORT": "eighty", "STATION_DATA": str(tmp_path)})


def test_an_out_of_range_value_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="face_verify_threshold"):
        load_settings(overrides={"data_dir": tmp_path, "face_verify_threshold": -1}, environ={})


def test_a_broken_config_file_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text("port = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=config, environ={})


def test_each_encoder_brings_its_own_face_thresholds_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    dlib = load_settings(overrides={"data_dir": tmp_path, "face_encoder": "dlib"}, environ={})
    assert (dlib.face_verify_threshold, dlib.face_identify_threshold) == (0.55, 0.5)
    with pytest.raises(ConfigError, match="face_encoder='arcface' is not one of dlib, sface"):
        load_settings(overrides={"data_dir": tmp_path, "face_encoder": "arcface"}, environ={})
    off = load_settings(
        environ={"STATION_FACE_LANDMARKS_68": "false", "STATION_DATA": str(tmp_path)}
    )
    assert off.face_landmarks_68 is False
    with pytest.raises(ConfigError, match="must be true or false"):
        load_settings(environ={"STATION_FACE_LANDMARKS_68": "maybe", "STATION_DATA": str(tmp_path)})
