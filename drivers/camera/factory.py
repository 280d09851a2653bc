"""Choose a camera backend from its URL."""

from __future__ import annotations

from collections.abc import Callable

from drivers.camera.base import Camera
from drivers.urls import DeviceURL, unknown_scheme


def _simulated(url: str) -> Camera:
    from drivers.camera.sim import SimulatedCamera

    return SimulatedCamera(url)


BACKENDS: dict[str, Callable[[str], Camera]] = {"sim": _simulated}


def camera_for_url(url: str) -> Camera:
    """Build the camera a URL names, not yet open (it opens for each capture)."""
    scheme = DeviceURL.parse(url).scheme
    try:
        build = BACKENDS[scheme]
    except KeyError:
        raise unknown_scheme(url, BACKENDS) from None
    return build(url)


def open_camera(url: str) -> Camera:
    """Build and open the camera a URL names; close it (or use ``with``) when done."""
    camera = camera_for_url(url)
    camera.open()
    return camera
