"""The face encoders by name: ``face_encoder("sface")`` or ``face_encoder("dlib")``."""

from __future__ import annotations

from typing import Literal, get_args

from matcher.face.dlib_encoder import DlibEncoder
from matcher.face.encoder import FaceEncoder, MultipleFacePolicy
from matcher.face.sface import SFaceEncoder

EncoderName = Literal["sface", "dlib"]
ENCODER_NAMES: tuple[str, ...] = get_args(EncoderName)
DEFAULT_ENCODER: EncoderName = "sface"
# The model each encoder stores with its templates.
MODEL_OF: dict[str, str] = {"sface": SFaceEncoder.model, "dlib": DlibEncoder.model}


def face_encoder(
    name: str = DEFAULT_ENCODER,
    *,
    max_detection_side: int | None = None,
    multiple_faces: MultipleFacePolicy = "reject",
    refine_landmarks: bool = True,
) -> FaceEncoder:
    """A new encoder of this name; ``max_detection_side`` None keeps the encoder's own default."""
    if name == "sface":
        return SFaceEncoder(
            max_detection_side=max_detection_side or 640,
            multiple_faces=multiple_faces,
            refine_landmarks=refine_landmarks,
        )
    if name == "dlib":
        return DlibEncoder(
            max_detection_side=max_detection_side or 800, multiple_faces=multiple_faces
        )
    raise ValueError(f"unknown face encoder {name!r}: choose one of {', '.join(ENCODER_NAMES)}")
