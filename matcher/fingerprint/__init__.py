"""Fingerprints: image + resolution -> template -> MCC 1:1 scores and a FAISS-prefiltered 1:N.

- :func:`matcher.fingerprint.extract.extract` makes a :class:`FingerprintTemplate` (LEADER
  minutiae, 500 dpi, with an NFIQ2-like quality 0-100).
- :func:`matcher.fingerprint.mcc.prepare` builds the search form; :func:`mcc.similarity` scores
  two prepared templates in [0, 1].
- :class:`matcher.fingerprint.index.FingerprintGallery` searches many records of several fingers.

Heavy modules are imported on use; this package itself only names them.
"""

from matcher.fingerprint.template import FingerprintTemplate

__all__ = ["FingerprintTemplate"]
