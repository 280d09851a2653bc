"""The root of every matcher error, with a stable code the API can report."""


class MatcherError(Exception):
    """A template could not be made or compared. ``code`` is stable; the message is for a person."""

    code = "matcher_error"


class TemplateError(MatcherError):
    """A template has the wrong shape, type or values."""

    code = "invalid_template"
