"""Cameras: one :class:`Camera` interface, backends chosen by URL.

>>> camera = camera_for_url("sim://?dir=../shared/datasets/faces/orl/s1")
>>> with camera:
...     frame = camera.capture()

Backends: ``sim://`` (photos from a folder or a video file, see :mod:`drivers.camera.sim`) and
``opencv://`` (a real camera, video file or stream, see :mod:`drivers.camera.opencv`).

The camera is opened only for a capture and closed right after: no continuous video.
Its intrinsics (matrix and distortion, from chessboard photos) are in
:mod:`drivers.camera.intrinsics`.
"""

from drivers.camera.base import Camera, CameraError, CameraInfo, Frame
from drivers.camera.factory import BACKENDS, camera_for_url, open_camera

__all__ = [
    "BACKENDS",
    "Camera",
    "CameraError",
    "CameraInfo",
    "Frame",
    "camera_for_url",
    "open_camera",
]
