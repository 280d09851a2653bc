"""The fingerprint scanner through a real pty: the serial backend talking to the simulated module.

Most tests use the small R503 frame at 115200 baud with the line sped up (``speedup``); one test
runs at the real line speed to show the simulator keeps to the baud rate.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drivers import DeviceNotFoundError, DeviceTimeoutError, DriverError
from drivers.fingerprint import (
    CaptureCancelledError,
    FingerNotRemovedError,
    NoFingerError,
    NotSupportedError,
    PoorImageError,
    ScannerDisconnectedError,
    ScannerError,
    ScannerProtocolError,
    ScannerTimeoutError,
    WrongPasswordError,
    open_scanner,
    scanner_for_url,
)
from drivers.fingerprint.protocol import Command
from drivers.fingerprint.serial_backend import SerialScanner
from drivers.fingerprint.sim import Fault, SimulatedScanner

TIMEOUT = 0.4  # seconds per reply in these tests: the faults that go silent cost this much


@pytest.fixture(scope="session")
def db1(datasets: Path) -> Path:
    return datasets / "fingerprints" / "fvc2002_b" / "DB1_B"


def sim_url(folder: Path, **options: object) -> str:
    settings: dict[str, object] = {
        "model": "r503",
        "baudrate": 115200,
        "speedup": 8,
        "timeout": TIMEOUT,
        **options,
    }
    query = "&".join(f"{key}={value}" for key, value in settings.items())
    return f"sim://?dir={folder}&{query}"


def sensor_view(path: Path, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The window of a source image a centred sensor sees, in the sensor's 16 grey levels."""
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)
    return (grey[top : top + height, left : left + width] >> 4) * 17


@pytest.fixture
def scanner(db1: Path) -> Iterator[SimulatedScanner]:
    """An open simulated R503 whose glass shows 101_1, 101_2, ... in turn."""
    device = SimulatedScanner(sim_url(db1))
    with device:
        yield device


def r503_view(db1: Path, finger: str) -> np.ndarray:
    # DB1 images are 388 wide x 374 high: the 192x192 sensor sees the centre.
    return sensor_view(
        db1 / f"{finger}.png", top=(374 - 192) // 2, left=(388 - 192) // 2, height=192, width=192
    )


# --- capture --------------------------------------------------------------------------------------


def test_a_capture_at_real_line_speed_delivers_exactly_the_source_pixels_in_16_grey_levels(
    db1: Path,
) -> None:
    with open_scanner(sim_url(db1, speedup=1, script="101_1")) as device:
        image = device.capture(timeout=2)
    assert image.pixels.dtype == np.uint8
    assert (image.width, image.height, image.dpi, image.model) == (192, 192, 500, "R503")
    assert np.array_equal(image.pixels, r503_view(db1, "101_1"))
    # 18432 image bytes in 144 packets of 128 + 11 framing bytes, 10 bits a byte at 115200 baud
    wire = (18432 + 144 * 11) * 10 / 115200
    assert wire <= image.metadata["transfer_seconds"] < wire + 1.0
    assert image.metadata["bytes_received"] == 18432 + 144 * 11 + 12  # the ack, too


def test_a_source_smaller_than_the_sensor_is_padded_with_white_glass(datasets: Path) -> None:
    upek = datasets / "fingerprints" / "upek"
    with open_scanner(sim_url(upek, model="r307", speedup=16, script="10_1")) as device:
        image = device.capture(timeout=2)
    assert image.pixels.shape == (288, 256)
    # UPEK images are 248 wide x 338 high: 4 white columns each side, the middle 288 rows
    assert np.all(image.pixels[:, :4] == 255) and np.all(image.pixels[:, 252:] == 255)
    expected = sensor_view(upek / "10_1.png", top=25, left=0, height=288, width=248)
    assert np.array_equal(image.pixels[:, 4:252], expected)


def test_consecutive_captures_follow_the_script_of_what_is_on_the_glass(db1: Path) -> None:
    with open_scanner(sim_url(db1, script="102_3,none*3,105_8", loop="false")) as device:
        first = device.capture(timeout=2)
        second = device.capture(timeout=2)
        with pytest.raises(NoFingerError):
            device.capture(timeout=0.2)
        history = device.module.history
    assert np.array_equal(first.pixels, r503_view(db1, "102_3"))
    assert np.array_equal(second.pixels, r503_view(db1, "105_8"))
    # between them: the finger lifted (1 empty image) then 3 empty images from the script
    between = history[history.index(Command.UP_IMAGE) + 1 :]
    assert between[:6] == [Command.GEN_IMG] * 5 + [Command.IMG_2TZ]


def test_each_capture_in_its_own_session_takes_the_next_finger_of_the_script_even_when_closed_at_once(
    db1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The station opens the scanner for one capture and closes it straight after: the finger
    just uploaded must be off the glass for the next session, however late the module's thread
    runs. A long line tick makes the module still be pacing its last bytes when the port closes
    (the race that made a loaded machine enroll one finger twice)."""
    import drivers.fingerprint.sim as sim

    monkeypatch.setattr(sim, "TICK", 0.25)
    scanner = scanner_for_url(sim_url(db1, speedup=16, script="101_1,102_1,103_1", loop="false"))
    taken = []
    for _ in range(3):
        with scanner as device:
            taken.append(device.capture(timeout=3).pixels)
    for pixels, name in zip(taken, ("101_1", "102_1", "103_1"), strict=True):
        assert np.array_equal(pixels, r503_view(db1, name)), name


def test_a_person_at_the_scanner_puts_the_finger_asked_for_on_the_glass_a_new_impression_each_time(
    db1: Path,
) -> None:
    import itertools

    scanner = SimulatedScanner(sim_url(db1, speedup=16))
    right, left = ["101_1", "101_2"], [db1 / "102_5.png"]  # library names or files
    scanner.stand({2: itertools.cycle(right), 7: iter(left)})
    taken = []
    for position in (7, 2, 2, 2):
        scanner.expect(position)
        with scanner as device:
            taken.append(device.capture(timeout=2).pixels)
    for pixels, name in zip(taken, ("102_5", "101_1", "101_2", "101_1"), strict=True):
        assert np.array_equal(pixels, r503_view(db1, name)), name
    with scanner as device:  # the finger is lifted after its image
        with pytest.raises(NoFingerError):
            device.capture(timeout=0.2)
        scanner.expect(7)  # its images ran out
        with pytest.raises(NoFingerError):
            device.capture(timeout=0.2)
        scanner.expect(3)  # a finger they do not have
        with pytest.raises(NoFingerError):
            device.capture(timeout=0.2)
    scanner.stand(None)  # nobody: an empty glass
    scanner.expect(2)
    with scanner as device, pytest.raises(NoFingerError):
        device.capture(timeout=0.2)
    with pytest.raises(ValueError, match="ISO position"):
        scanner.expect(11)


def test_expect_is_a_hint_a_scanner_without_a_person_ignores(db1: Path) -> None:
    with open_scanner(sim_url(db1, script="103_1")) as device:
        device.expect(2)
        assert np.array_equal(device.capture(timeout=2).pixels, r503_view(db1, "103_1"))


def test_info_reports_model_image_size_resolution_and_baud_rate(scanner: SimulatedScanner) -> None:
    info = scanner.info()
    assert (info.model, info.width, info.height, info.dpi) == ("R503", 192, 192, 500)
    assert (info.baudrate, info.packet_size, info.backend, info.has_led) == (
        115200,
        128,
        "sim",
        True,
    )
    assert info.to_json()["address"] == "0xFFFFFFFF"


def test_a_smaller_packet_size_still_gives_the_same_image(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.set_packet_size(32)
    assert scanner.info().packet_size == 32
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))


def test_changing_the_baud_rate_moves_module_and_port_together(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.set_baudrate(57600)
    assert scanner.module.baudrate == 57600
    assert scanner.info().baudrate == 57600
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))


# --- waiting, cancelling, LED ---------------------------------------------------------------------


def test_no_finger_within_the_timeout_asks_to_place_the_finger_and_a_placed_finger_is_then_captured(
    db1: Path,
) -> None:
    with open_scanner(sim_url(db1, script="none", loop="false")) as device:
        started = time.monotonic()
        with pytest.raises(NoFingerError, match="place the finger again") as caught:
            device.capture(timeout=0.3)
        assert time.monotonic() - started < 2.0
        assert caught.value.code == "no_finger"
        device.module.place("103_4")
        assert np.array_equal(device.capture(timeout=1).pixels, r503_view(db1, "103_4"))


def test_wait_for_finger_and_wait_for_removal_follow_the_glass(db1: Path) -> None:
    with open_scanner(sim_url(db1, script="none*2,101_1", loop="false")) as device:
        device.wait_for_finger(timeout=1)
        with pytest.raises(FingerNotRemovedError, match="lift it"):
            device.wait_for_removal(timeout=0.2)
        device.module.lift()
        device.wait_for_removal(timeout=1)


def test_cancel_from_another_thread_stops_a_wait_for_a_finger_promptly(db1: Path) -> None:
    with open_scanner(sim_url(db1, script="none", loop="false")) as device:
        timer = threading.Timer(0.2, device.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(CaptureCancelledError):
            device.capture(timeout=10)
        timer.join()
        assert time.monotonic() - started < 2.0


def test_the_led_ring_is_driven_on_an_r503_and_refused_on_an_r307(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.set_led("breathing", "purple", speed=50)
    assert scanner.module.led == (1, 50, 3, 0)
    with (
        open_scanner(sim_url(db1, model="r307")) as r307,
        pytest.raises(NotSupportedError, match="no controllable LED"),
    ):
        r307.set_led("on")


# --- faults and recovery --------------------------------------------------------------------------


def test_an_image_with_a_corrupted_packet_is_asked_for_again_without_a_new_finger(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.module.inject(Fault.bad_checksum(packet=5))
    image = scanner.capture(timeout=2)
    assert np.array_equal(image.pixels, r503_view(db1, "101_1"))
    assert image.metadata["retries"] == 1
    assert scanner.module.history.count(Command.UP_IMAGE) == 2
    assert scanner.module.history.count(Command.GEN_IMG) == 1


def test_an_image_corrupted_on_every_attempt_fails_with_check_the_cable_then_the_next_capture_works(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.module.inject(Fault.bad_checksum(packet=0, times=3))  # 1 try + 2 retries
    with pytest.raises(ScannerProtocolError, match=r"corrupted 3 times.*check the cable"):
        scanner.capture(timeout=2)
    # the module sent the image to the end, so for it the finger was read and lifted
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_2"))
    assert scanner.module.history.count(Command.GEN_IMG) == 3  # 101_1, lifted, 101_2


def test_a_corrupted_reply_to_a_command_is_answered_by_sending_the_command_again(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.module.inject(Fault.bad_checksum(command=Command.GEN_IMG))
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))
    assert scanner.module.history.count(Command.GEN_IMG) == 2


def test_a_silent_scanner_times_out_with_check_the_cable_and_the_next_capture_works(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.module.inject(Fault.silence())
    started = time.monotonic()
    with pytest.raises(
        ScannerTimeoutError, match="scanner not responding: check the cable"
    ) as caught:
        scanner.capture(timeout=2)
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 1.5
    assert isinstance(caught.value, DeviceTimeoutError)
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))


def test_line_noise_before_a_reply_is_skipped(scanner: SimulatedScanner, db1: Path) -> None:
    scanner.module.inject(Fault.garbage(command=Command.GEN_IMG, replace=False))
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))
    assert scanner.module.history.count(Command.GEN_IMG) == 1


def test_noise_instead_of_a_reply_once_is_overcome_by_sending_the_command_again(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.module.inject(Fault.garbage(command=Command.GEN_IMG))
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))
    assert scanner.module.history.count(Command.GEN_IMG) == 2


def test_only_noise_names_the_baud_rate_and_the_next_capture_works(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.module.inject(Fault.garbage(command=Command.GEN_IMG, times=2))
    with pytest.raises(ScannerProtocolError, match=r"not a valid reply.*baudrate="):
        scanner.capture(timeout=2)
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (0x06, "too messy: clean the glass"),
        (0x07, "too few features in the image: press the finger flat"),
    ],
)
def test_a_poor_image_asks_for_the_finger_again_and_the_next_capture_works(
    scanner: SimulatedScanner, db1: Path, code: int, advice: str
) -> None:
    scanner.module.inject(Fault.error(code))
    with pytest.raises(PoorImageError, match=advice) as caught:
        scanner.capture(timeout=2)
    assert caught.value.confirmation == code
    assert "place it again" in str(caught.value) or "place the finger again" in str(caught.value)
    assert scanner.module.history.count(Command.UP_IMAGE) == 0  # no seconds wasted uploading it
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))


def test_a_no_finger_answer_while_waiting_is_simply_polled_again(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.module.inject(Fault.error(0x02, times=2))
    assert np.array_equal(scanner.capture(timeout=2).pixels, r503_view(db1, "101_1"))
    assert scanner.module.history.count(Command.GEN_IMG) == 3


def test_a_disconnect_in_the_middle_of_an_upload_is_reported_and_the_next_capture_reconnects(
    scanner: SimulatedScanner, db1: Path
) -> None:
    scanner.module.inject(Fault.disconnect(packet=40))
    started = time.monotonic()
    with pytest.raises(ScannerDisconnectedError, match="check the USB cable"):
        scanner.capture(timeout=2)
    assert time.monotonic() - started < 3.0
    image = scanner.capture(timeout=2)  # the same finger: its image never arrived
    assert np.array_equal(image.pixels, r503_view(db1, "101_1"))
    assert scanner.module.history.count(Command.VFY_PWD) == 2  # a second handshake: reopened
    assert scanner.module.history.count(Command.UP_IMAGE) == 2


def test_a_wrong_password_is_refused_at_open_with_what_to_set(db1: Path) -> None:
    url = sim_url(db1, device_password="0x1234")
    with pytest.raises(WrongPasswordError, match="set password= in the scanner URL"):
        open_scanner(url)
    with open_scanner(url + "&password=0x1234") as device:
        assert device.info().model == "R503"


def test_a_refused_password_fault_fails_one_open_and_the_next_open_works(db1: Path) -> None:
    device = SimulatedScanner(sim_url(db1))
    device.module.inject(Fault.wrong_password())
    with pytest.raises(WrongPasswordError):
        device.open()
    assert not device.is_open
    with device:
        assert np.array_equal(device.capture(timeout=2).pixels, r503_view(db1, "101_1"))


def test_faults_can_be_asked_for_in_the_url(db1: Path) -> None:
    with open_scanner(sim_url(db1, faults="messy")) as device:
        with pytest.raises(PoorImageError):
            device.capture(timeout=2)
        device.capture(timeout=2)


def test_a_module_at_another_address_does_not_answer_and_the_error_names_address(db1: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ScannerTimeoutError, match="address="):
        open_scanner(sim_url(db1, device_address=1))
    assert time.monotonic() - started < 2 * TIMEOUT + 1.5  # one command, sent twice at most


# --- the serial backend without the simulator -----------------------------------------------------


def test_a_serial_port_with_nothing_answering_times_out_instead_of_hanging() -> None:
    master, slave = os.openpty()
    try:
        started = time.monotonic()
        with pytest.raises(ScannerTimeoutError, match="scanner not responding"):
            open_scanner(f"serial://{os.ttyname(slave)}?baudrate=57600&timeout=0.3")
        assert time.monotonic() - started < 2.0
    finally:
        os.close(master)
        os.close(slave)


def test_a_missing_serial_port_is_device_not_found(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFoundError, match="plugged in"):
        open_scanner(f"serial://{tmp_path}/ttyUSB9?baudrate=57600")


def test_the_serial_url_selects_the_serial_backend_with_its_settings() -> None:
    scanner = scanner_for_url(
        "serial:///dev/ttyUSB0?baudrate=115200&model=AS608&password=0x10&address=0xFFFFFFFE"
    )
    assert isinstance(scanner, SerialScanner)
    assert scanner.port_path == "/dev/ttyUSB0"
    assert (scanner.profile.name, scanner.settings.baudrate) == ("AS608", 115200)
    assert (scanner.settings.password, scanner.settings.address) == (0x10, 0xFFFFFFFE)
    assert not scanner.is_open


def test_an_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError,
        match="valid options: address, baudrate, check, model, password, retries, timeout",
    ):
        scanner_for_url("serial:///dev/ttyUSB0?baud=57600")


def test_an_unknown_scheme_model_or_fault_lists_the_valid_ones(db1: Path) -> None:
    with pytest.raises(ValueError, match=r"valid schemes: serial://, sim://"):
        scanner_for_url("usb://0")
    with pytest.raises(ValueError, match="valid models: as608, r305, r307, r503, zfm20, zfm60"):
        scanner_for_url("serial:///dev/ttyUSB0?model=r999")
    with pytest.raises(ValueError, match="valid faults: bad_checksum, disconnect"):
        scanner_for_url(sim_url(db1, faults="fire"))
    with pytest.raises(ValueError, match="9600 x N"):
        scanner_for_url("serial:///dev/ttyUSB0?baudrate=250000")


def test_a_closed_scanner_refuses_to_capture(db1: Path) -> None:
    device = scanner_for_url(sim_url(db1))
    with pytest.raises(ScannerError, match="not open"):
        device.capture()


def test_every_scanner_error_is_a_driver_error_with_a_stable_code() -> None:
    for error in (NoFingerError(), WrongPasswordError(), ScannerTimeoutError("x")):
        assert isinstance(error, DriverError)
    assert ScannerTimeoutError.code == "scanner_timeout"
    assert ScannerDisconnectedError.code == "scanner_disconnected"
