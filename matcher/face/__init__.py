"""Face templates (128-d dlib embeddings via face_recognition) and the FAISS face gallery."""

from matcher.face.encoder import (
    FaceEncoder,
    FaceNotFoundError,
    FaceTemplate,
    MultipleFacesError,
)
from matcher.face.gallery import FaceGallery, SearchResult
from matcher.face.oracle import brute_force_search
from matcher.face.templates import TEMPLATE_DIM, as_template, as_template_batch, face_distance

__all__ = [
    "TEMPLATE_DIM",
    "FaceEncoder",
    "FaceGallery",
    "FaceNotFoundError",
    "FaceTemplate",
    "MultipleFacesError",
    "SearchResult",
    "as_template",
    "as_template_batch",
    "brute_force_search",
    "face_distance",
]
