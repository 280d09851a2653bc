"""Face templates (128-d, SFace by default or dlib's ResNet), the FAISS face gallery, capture
quality checks and the token portrait."""

from matcher.face.encoder import (
    FaceEncoder,
    FaceNotFoundError,
    FaceTemplate,
    FoundFace,
    MultipleFacesError,
)
from matcher.face.engines import DEFAULT_ENCODER, ENCODER_NAMES, MODEL_OF, face_encoder
from matcher.face.gallery import FaceGallery, SearchResult
from matcher.face.oracle import brute_force_search
from matcher.face.portrait import PortraitGeometry, token_portrait
from matcher.face.quality import FaceQualityChecker, QualityReport, QualityThresholds
from matcher.face.templates import TEMPLATE_DIM, as_template, as_template_batch, face_distance

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODER_NAMES",
    "MODEL_OF",
    "TEMPLATE_DIM",
    "FaceEncoder",
    "FaceGallery",
    "FaceNotFoundError",
    "FaceQualityChecker",
    "FaceTemplate",
    "FoundFace",
    "MultipleFacesError",
    "PortraitGeometry",
    "QualityReport",
    "QualityThresholds",
    "SearchResult",
    "as_template",
    "as_template_batch",
    "brute_force_search",
    "face_distance",
    "face_encoder",
    "token_portrait",
]
