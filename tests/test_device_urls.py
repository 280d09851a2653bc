"""Device URLs: how a station names its hardware and simulators."""

import pytest

from drivers.urls import DeviceURL


def test_a_url_splits_into_scheme_location_and_options() -> None:
    url = DeviceURL.parse("serial:///dev/ttyUSB0?baudrate=57600&model=r307")
    assert url.scheme == "serial"
    assert url.location == "/dev/ttyUSB0"
    assert url.options == {"baudrate": "57600", "model": "r307"}


def test_unknown_options_are_rejected_with_the_valid_ones_listed() -> None:
    url = DeviceURL.parse("sim://?dir=/x&speed=9")
    with pytest.raises(ValueError, match=r"unknown option\(s\) speed.*valid options: dir, order"):
        url.check_options(["dir", "order"])


def test_a_url_without_scheme_is_rejected() -> None:
    with pytest.raises(ValueError, match="no scheme"):
        DeviceURL.parse("/dev/ttyUSB0")


def test_a_repeated_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="repeats option"):
        DeviceURL.parse("sim://?dir=a&dir=b")


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("0", False), ("YES", True)])
def test_boolean_options_accept_the_usual_words(raw: str, expected: bool) -> None:
    assert DeviceURL.parse(f"sim://?loop={raw}").bool_option("loop", not expected) is expected


def test_numeric_options_are_checked() -> None:
    with pytest.raises(ValueError, match="whole number"):
        DeviceURL.parse("sim://?seed=abc").int_option("seed", 0)
