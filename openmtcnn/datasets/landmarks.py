"""The 5-point landmark list (Sun et al. 2013): ``PATH LEFT RIGHT TOP BOTTOM x1 y1 ... x5 y5`` per face."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import FormatError
from .conventions import SUN_LANDMARKS


@dataclass
class LandmarkFace:
    """One annotated face: image path (relative to the image root), box ``x1 y1 x2 y2``, points ``(5, 2)``."""

    path: str
    box: np.ndarray
    points: np.ndarray

    @property
    def subset(self) -> str:
        """The top folder of the path (``lfw_5590``, ``net_7876``): the source the face comes from."""
        return self.path.split("/", 1)[0] if "/" in self.path else "."


def read_landmark_list(path: str | os.PathLike) -> list[LandmarkFace]:
    """Read a list in the Sun et al. 2013 format: ``PATH LEFT RIGHT TOP BOTTOM x1 y1 ... x5 y5``.

    Backslashes in paths become slashes. Points: left eye, right eye, nose,
    left and right mouth corner, in pixels. Boxes and points are converted from the list's pixel
    convention (:data:`~openmtcnn.datasets.conventions.SUN_LANDMARKS`) to openmtcnn's.
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise FormatError(f"{p}: cannot read ({e})") from e
    faces = []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 15:
            raise FormatError(f"{p}:{n}: expected PATH and 14 numbers, got {len(parts)} fields")
        try:
            v = np.array([float(x) for x in parts[1:15]])
        except ValueError:
            raise FormatError(f"{p}:{n}: not numbers: {line!r}") from None
        left, right, top, bottom = v[:4]
        if right <= left or bottom <= top:
            raise FormatError(f"{p}:{n}: empty face box LEFT {left:g} RIGHT {right:g} TOP {top:g} BOTTOM {bottom:g}")
        box = SUN_LANDMARKS.boxes(np.array([left, top, right, bottom]))[0]
        faces.append(LandmarkFace(parts[0].replace("\\", "/"), box, SUN_LANDMARKS.points(v[4:].reshape(5, 2))))
    if not faces:
        raise FormatError(f"{p}: no faces listed")
    return faces
