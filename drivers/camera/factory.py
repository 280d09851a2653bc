"""Choose a camera backend from its URL."""

from __future__ import annotations

from collections.abc import Callable

from drivers.camera.base import Camera
from drivers.urls import build_for_url


def _simulated(url: str) -> Camera:
    from drivers.camera.sim import SimulatedCamera

    return SimulatedCamera(url)


def _opencv(url: str) -> Camera:
    from drivers.camera.opencv import OpenCVCamera

    return OpenCVCamera(url)


BACKENDS: dict[str, Callable[[str], Camera]] = {
    "sim": _simulated,
    "opencv": _opencv,
    "opencv+rtsp": _opencv,
    "opencv+http": _opencv,
    "opencv+https": _opencv,
}


def camera_for_url(url: str) -> Camera:
    """Build the camera a URL names, not yet open (it opens for each capture)."""
    return build_for_url(url, BACKENDS)


def open_camera(url: str) -> Camera:
    """Build and open the camera a URL names; close it (or use ``with``) when done."""
    camera = camera_for_url(url)
    camera.open()
    return camera
