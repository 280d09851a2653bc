"""A real scanner, when one is plugged in: ``pytest --scanner-url=serial:///dev/ttyUSB0?...``.

Skipped without the option. The technician places a finger when asked (the capture waits 20 s).
"""

from __future__ import annotations

import numpy as np
import pytest

from drivers.fingerprint import open_scanner


@pytest.fixture
def scanner_url(request: pytest.FixtureRequest) -> str:
    url = request.config.getoption("--scanner-url")
    if not url:
        pytest.skip("no --scanner-url given: hardware tests skipped")
    return str(url)


def test_the_real_scanner_reports_its_parameters(scanner_url: str) -> None:
    with open_scanner(scanner_url) as device:
        info = device.info()
    assert info.width > 0 and info.height > 0 and info.packet_size in (32, 64, 128, 256)


def test_the_real_scanner_captures_a_finger_in_16_grey_levels(scanner_url: str) -> None:
    with open_scanner(scanner_url) as device:
        print("\nplace a finger on the scanner")
        image = device.capture(timeout=20)
    assert image.pixels.shape == (image.height, image.width)
    assert set(np.unique(image.pixels)) <= {17 * level for level in range(16)}
