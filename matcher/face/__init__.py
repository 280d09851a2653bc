"""Face templates (128-d dlib embeddings via face_recognition), the FAISS face gallery, capture
quality checks and the token portrait."""

from matcher.face.encoder import (
    FaceEncoder,
    FaceNotFoundError,
    FaceTemplate,
    MultipleFacesError,
)
from matcher.face.gallery import FaceGallery, SearchResult
from matcher.face.oracle import brute_force_search
from matcher.face.portrait import PortraitGeometry, token_portrait
from matcher.face.quality import FaceQualityChecker, QualityReport, QualityThresholds
from matcher.face.templates import TEMPLATE_DIM, as_template, as_template_batch, face_distance

__all__ = [
    "TEMPLATE_DIM",
    "FaceEncoder",
    "FaceGallery",
    "FaceNotFoundError",
    "FaceQualityChecker",
    "FaceTemplate",
    "MultipleFacesError",
    "PortraitGeometry",
    "QualityReport",
    "QualityThresholds",
    "SearchResult",
    "as_template",
    "as_template_batch",
    "brute_force_search",
    "face_distance",
    "token_portrait",
]
