"""The station's local HTTP API (JSON), built by :func:`create_app`."""

from station.api.app import create_app

__all__ = ["create_app"]
