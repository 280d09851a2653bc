"""Biometric templates and matchers: faces, fingerprints, and the fusion of their scores.

The matcher knows nothing of the station or of devices: it turns pixels into templates and
templates into scores. Every error derives from :class:`MatcherError`.
"""

from matcher.errors import MatcherError, TemplateError

__all__ = ["MatcherError", "TemplateError"]
