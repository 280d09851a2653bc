"""Every request's work is bounded: image sizes after dpi scaling, how many heavy computations run
at once, how long a request waits for one. A refusal says why; everyone else is still served.

The defect behind these: a 6000x6000 fingerprint PNG (3.5 MB, under the upload limits) made the
station grow to 20 GB until the kernel killed it (minutiae extraction costs about 1 GB and 6 s
per megapixel).
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image

from station.core import Station
from station.errors import ImageTooLargeError
from station.workflows import finger_template
from tests.conftest import encode_png, post_multipart


def big_print(db1: Path, side: int) -> np.ndarray:
    """A fingerprint-like grey image of side x side pixels (tiles of a real print)."""
    grey = np.asarray(Image.open(db1 / "101_1.png").convert("L"))
    return np.tile(grey, (side // grey.shape[0] + 1, side // grey.shape[1] + 1))[:side, :side]


def test_a_huge_fingerprint_image_is_refused_before_extraction_with_the_limit_in_words(
    client: FlaskClient, station: Station, db1: Path
) -> None:
    png = encode_png(big_print(db1, 6000))
    assert len(png) < station.settings.max_upload_bytes
    started = time.monotonic()
    response = post_multipart(client, "/api/v1/identifications", {"finger_2": (png, "huge.png")})
    assert response.status_code == 413, response.json
    assert response.json["error"]["code"] == "image_too_large"
    assert "finger" in response.json["error"]["message"]
    assert time.monotonic() - started < 10  # refused, not extracted


def test_the_finger_limit_is_counted_at_500_dpi(station: Station, db1: Path) -> None:
    """A 1000 dpi image may have four times the pixels of a 500 dpi one for the same finger."""
    limit = station.settings.max_finger_pixels
    side = int((limit * 4) ** 0.5) - 8  # just inside the limit once scaled to 500 dpi
    with pytest.raises(ImageTooLargeError, match="finger"):
        finger_template(station, 2, big_print(db1, side), dpi=500)
    template = finger_template(station, 2, big_print(db1, side), dpi=1000)
    assert template.count > 0


def test_a_huge_photo_is_scaled_down_on_decoding(station: Station, lfw_people: list[Path]) -> None:
    photo = Image.open(sorted(lfw_people[0].iterdir())[0]).resize((5000, 5000))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=80)
    pixels = station.decode(buffer.getvalue())
    assert max(pixels.shape[:2]) <= station.settings.max_photo_side


def test_no_more_heavy_computations_run_at_once_than_the_setting_allows(station: Station) -> None:
    limit = station.settings.max_parallel_work
    running, peak = [0], [0]
    lock = threading.Lock()

    def work() -> None:
        with station.working():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(limit * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == limit


def test_a_request_that_waits_too_long_for_the_machine_is_told_to_come_back(
    tmp_path: Path, shared_encoder: object, lfw_people: list[Path]
) -> None:
    from station.api import create_app
    from tests.conftest import client_as, make_settings
    from tests.test_api import upload

    settings = make_settings(tmp_path / "data", max_parallel_work=1, busy_seconds=0.2)
    with Station(settings, encoder=shared_encoder) as station:  # type: ignore[arg-type]
        client = client_as(create_app(station=station), station, "operator")
        with station.working():  # the machine is busy with another person's enrollment
            response = client.post(
                "/api/v1/identifications",
                data={"image": upload(sorted(lfw_people[0].iterdir())[0])},
            )
        assert response.status_code == 503
        assert response.json["error"]["code"] == "station_busy"
        assert int(response.headers["Retry-After"]) >= 1
        again = client.post(
            "/api/v1/identifications", data={"image": upload(sorted(lfw_people[0].iterdir())[0])}
        )
        assert again.status_code == 200
