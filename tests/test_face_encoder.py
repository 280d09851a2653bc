"""Face templates from real photos (the default encoder, SFace): one face in, 128 numbers out;
anything else is refused."""

from pathlib import Path

import numpy as np
import pytest

from calibration import FACE_THRESHOLDS
from matcher.errors import MatcherError
from matcher.face import (
    FaceEncoder,
    FaceNotFoundError,
    MultipleFacesError,
    face_distance,
    face_encoder,
)
from matcher.imageio import read_rgb
from tests.conftest import photos_of


def test_a_portrait_gives_one_128_value_template(
    lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    face = shared_encoder.encode(read_rgb(photos_of(lfw_people[0])[0]))
    assert face.vector.shape == (128,)
    assert face.vector.dtype == np.float32
    top, right, bottom, left = face.box
    assert 0 <= left < right <= 250 and 0 <= top < bottom <= 250


def test_the_same_person_is_nearer_than_another_person(
    lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    a1, a2 = (shared_encoder.encode(read_rgb(p)).vector for p in photos_of(lfw_people[1])[:2])
    b = shared_encoder.encode(read_rgb(photos_of(lfw_people[2])[0])).vector
    threshold = FACE_THRESHOLDS["sface"].verify
    assert face_distance(a1, a2) < threshold < face_distance(a1, b)


def test_a_picture_without_a_face_is_refused(datasets: Path, shared_encoder: FaceEncoder) -> None:
    fingerprint = read_rgb(datasets / "fingerprints" / "upek" / "1_1.png")
    with pytest.raises(FaceNotFoundError, match="no face"):
        shared_encoder.encode(fingerprint)


def test_a_flat_grey_picture_is_refused(shared_encoder: FaceEncoder) -> None:
    with pytest.raises(FaceNotFoundError):
        shared_encoder.encode(np.full((480, 640, 3), 128, np.uint8))


# obama_and_biden.jpg shows two men and, lower right, a child looking down in shadow: YuNet finds
# all three (dlib's HOG detector found only the two men).
PEOPLE_IN_GROUP_PHOTO = 3


def test_several_people_in_the_picture_are_refused_by_default(
    group_photo: Path, shared_encoder: FaceEncoder
) -> None:
    with pytest.raises(MultipleFacesError) as caught:
        shared_encoder.encode(read_rgb(group_photo))
    assert caught.value.count == PEOPLE_IN_GROUP_PHOTO
    assert caught.value.code == "multiple_faces"


def test_the_largest_face_policy_takes_the_biggest_face(group_photo: Path) -> None:
    encoder = face_encoder(multiple_faces="largest")
    pixels = read_rgb(group_photo)
    boxes = encoder.detect(pixels)
    face = encoder.encode(pixels)
    assert face.faces_found == PEOPLE_IN_GROUP_PHOTO
    assert face.box == boxes[0]
    areas = [(b[2] - b[0]) * (b[1] - b[3]) for b in boxes]
    assert areas[0] == max(areas)


def test_a_large_camera_frame_is_detected_at_full_resolution_coordinates(
    lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    small = read_rgb(photos_of(lfw_people[0])[0])
    big = np.kron(small, np.ones((6, 6, 1), np.uint8))  # 1500x1500, scaled down for detection
    (box,) = shared_encoder.detect(big)
    (small_box,) = shared_encoder.detect(small)
    assert overlap(tuple(round(v / 6) for v in box), small_box) > 0.7  # type: ignore[arg-type]


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    height = min(a[2], b[2]) - max(a[0], b[0])
    width = min(a[1], b[1]) - max(a[3], b[3])
    inter = max(0, height) * max(0, width)

    def area(x: tuple[int, int, int, int]) -> int:
        return (x[2] - x[0]) * (x[1] - x[3])

    return inter / (area(a) + area(b) - inter)


def test_pixels_of_the_wrong_shape_are_refused(shared_encoder: FaceEncoder) -> None:
    with pytest.raises(MatcherError, match="RGB uint8"):
        shared_encoder.encode(np.zeros((100, 100), np.uint8))  # type: ignore[arg-type]


def test_the_dlib_encoder_stays_selectable_and_names_its_model(lfw_people: list[Path]) -> None:
    photo = read_rgb(photos_of(lfw_people[0])[0])
    dlib, sface = face_encoder("dlib").encode(photo), face_encoder("sface").encode(photo)
    assert (dlib.model, sface.model) == ("dlib-resnet-v1", "sface-2021dec-int8bq")
    assert dlib.vector.shape == sface.vector.shape == (128,)
    assert abs(float(np.linalg.norm(sface.vector)) - 1.0) < 1e-5  # SFace templates are unit length


def test_an_unknown_encoder_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="sface, dlib"):
        face_encoder("arcface")
