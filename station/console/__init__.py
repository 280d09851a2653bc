"""The operator's console: every job of every role in a browser, served by the station itself.

Server-rendered pages (Flask's Jinja2 templates, a little plain JavaScript, every asset shipped
with the project), in Kyrgyz, Russian and English. Each page calls the same workflow functions
as the API (:mod:`station.workflows`): no rule is written twice. Sessions are the station's own
(:mod:`station.security.sessions`), carried by an HttpOnly, SameSite=Strict cookie; every form
carries a CSRF token; pages are served under a strict Content-Security-Policy.
"""

from station.console.app import register_console

__all__ = ["register_console"]
