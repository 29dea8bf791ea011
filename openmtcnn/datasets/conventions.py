"""Pixel conventions: how a file's numbers name places in an image, and their conversion to openmtcnn's.

openmtcnn's convention (:mod:`openmtcnn.ops.boxes`): 0-based pixel corners, pixel ``i`` covering
``[i, i + 1)``; a box ``x1 y1 x2 y2`` has width ``x2 - x1``; the centre of pixel ``i`` is at ``i + 0.5``.
Every reader converts its file's numbers with the :class:`PixelConvention` named here, once, at load;
what each set's convention is and how it was established: ``experiments/pixel-conventions/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PixelConvention:
    """How numbers name image places.

    ``origin``: the number of the first pixel (0 or 1). ``centres``: a whole number names a pixel's centre
    (True) or its top-left corner (False). ``inclusive``: a box's right / bottom numbers name the last pixel
    inside it (True) or the edge after it (False).
    """

    origin: int
    centres: bool
    inclusive: bool

    @property
    def shift(self) -> float:
        """What is added to a number (a point, a box's left / top) to put it in openmtcnn's convention."""
        return (0.5 if self.centres else 0.0) - self.origin

    def points(self, points: np.ndarray) -> np.ndarray:
        """Points ``(..., 2)`` (or any array of x / y numbers) in openmtcnn's convention."""
        return np.asarray(points, dtype=np.float64) + self.shift

    def boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes ``(N, 4)`` ``x1 y1 x2 y2`` in openmtcnn's convention (extra columns dropped)."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) + self.shift
        if self.inclusive:
            b[:, 2:] += 1.0
        return b


#: openmtcnn's own numbers (nothing to convert)
OPENMTCNN = PixelConvention(origin=0, centres=False, inclusive=False)
#: WIDER FACE boxes ``x y w h`` -> ``x, y, x + w, y + h``: edges from 0 to the image's width / height, so
#: corners (the official evaluation's ``+ 1`` is its scoring protocol, kept in ``evaluate/widerface_ap.py``)
WIDER = PixelConvention(origin=0, centres=False, inclusive=False)
#: the 5-point list of Sun et al. 2013 (boxes and points): 0-based, corners (measured; the MTFL release
#: of the same faces lists every point 1.0 higher)
SUN_LANDMARKS = PixelConvention(origin=0, centres=False, inclusive=False)
#: facenet-pytorch's (and the original MATLAB code's) boxes: 1-based whole pixels, right / bottom inclusive;
#: its points (``w * p + x1 - 1``) are already 0-based corners (:data:`OPENMTCNN`)
FACENET_BOXES = PixelConvention(origin=1, centres=False, inclusive=True)
