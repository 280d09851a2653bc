"""The fingerprint template: versioned binary form, validate(), ISO/IEC 19794-2 records."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.errors import TemplateError
from matcher.fingerprint.template import FingerprintTemplate


def make_template(n: int = 30, seed: int = 0) -> FingerprintTemplate:
    rng = np.random.default_rng(seed)
    return FingerprintTemplate.from_columns(
        rng.uniform(0, 299, n),
        rng.uniform(0, 399, n),
        rng.uniform(0, 2 * math.pi, n),
        rng.integers(1, 3, n),
        rng.integers(0, 101, n),
        width=300,
        height=400,
        quality=57,
    )


def assert_same(a: FingerprintTemplate, b: FingerprintTemplate) -> None:
    assert (a.width, a.height, a.quality, a.count) == (b.width, b.height, b.quality, b.count)
    for name in ("x", "y", "direction", "kind", "minutia_quality"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@given(n=st.integers(0, 255), seed=st.integers(0, 2**32 - 1))
def test_binary_form_round_trips_exactly(n: int, seed: int) -> None:
    template = make_template(n, seed)
    assert_same(FingerprintTemplate.from_bytes(template.to_bytes()), template)


def test_every_truncation_of_a_template_is_rejected() -> None:
    data = make_template(5).to_bytes()
    for size in range(len(data)):
        with pytest.raises(TemplateError):
            FingerprintTemplate.from_bytes(data[:size])


def test_bad_magic_version_and_trailing_bytes_are_rejected() -> None:
    data = make_template().to_bytes()
    for corrupt in (b"XXXX" + data[4:], data[:4] + b"\x09\x00" + data[6:], data + b"\x00"):
        with pytest.raises(TemplateError):
            FingerprintTemplate.from_bytes(corrupt)


def test_out_of_range_values_in_stored_data_are_rejected() -> None:
    data = bytearray(make_template(3).to_bytes())
    header = 15
    cases = {
        "x beyond width": (header, struct.pack("<f", 5000.0)),
        "nan y": (header + 4, struct.pack("<f", float("nan"))),
        "direction > 2 pi": (header + 8, struct.pack("<f", 7.0)),
        "kind 3": (header + 12, b"\x03"),
        "quality 101": (header + 13, b"\x65"),
        "image quality 200": (12, b"\xc8"),
        "dpi 200": (10, b"\xc8\x00"),
    }
    for name, (offset, value) in cases.items():
        corrupt = bytearray(data)
        corrupt[offset : offset + len(value)] = value
        with pytest.raises(TemplateError):
            FingerprintTemplate.from_bytes(bytes(corrupt))
            pytest.fail(name)


def test_validate_rejects_columns_of_unequal_length() -> None:
    t = make_template(4)
    broken = FingerprintTemplate(
        t.x[:3], t.y, t.direction, t.kind, t.minutia_quality, t.width, t.height
    )
    with pytest.raises(TemplateError):
        broken.validate()


def test_iso_record_round_trips_within_its_resolution() -> None:
    template = make_template(40)
    record = template.to_iso19794_2(finger_position=2)
    assert record[:8] == b"FMR\x00 20\x00"
    assert struct.unpack(">I", record[8:12])[0] == len(record) == 24 + 4 + 6 * 40 + 2
    back = FingerprintTemplate.from_iso19794_2(record)
    assert (back.width, back.height, back.quality, back.count) == (300, 400, 57, 40)
    # ISO stores integer pixels and 1.40625 degree angles
    np.testing.assert_allclose(back.x, template.x, atol=0.5 + 1e-4)
    np.testing.assert_allclose(back.y, template.y, atol=0.5 + 1e-4)
    diff = np.angle(np.exp(1j * (back.direction - template.direction)))
    assert np.abs(diff).max() <= math.pi / 256 + 1e-6
    np.testing.assert_array_equal(back.kind, template.kind)
    np.testing.assert_array_equal(back.minutia_quality, template.minutia_quality)


def test_iso_record_with_a_bad_length_is_rejected() -> None:
    record = make_template(3).to_iso19794_2()
    for corrupt in (record[:-1], b"FMR\x00 30\x00" + record[8:], record + b"\x00"):
        with pytest.raises(TemplateError):
            FingerprintTemplate.from_iso19794_2(corrupt)
