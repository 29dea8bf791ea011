"""The detection result for one image."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class DetectResult:
    """Faces found in one image, highest score first.

    ``boxes``: ``(N, 4)`` float32 ``x1, y1, x2, y2`` in image pixels;
    ``scores``: ``(N,)`` float32 face probabilities (O-Net);
    ``landmarks``: ``(N, 5, 2)`` float32 ``(x, y)`` of left eye, right eye, nose,
    left and right mouth corner (left/right as seen in the image);
    ``image_size``: ``(width, height)``; ``source``: a path or name, if known.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    image_size: tuple[int, int]
    source: str | None = None
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def empty(cls, image_size: tuple[int, int], source: str | None = None) -> "DetectResult":
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32), image_size, source
        )

    def __len__(self) -> int:
        return len(self.scores)

    def to_dict(self, decimals: int = 2) -> dict[str, Any]:
        """Plain-Python form (JSON-ready)."""
        faces = []
        for b, s, lm in zip(self.boxes, self.scores, self.landmarks):
            faces.append(
                {
                    "box": [round(float(v), decimals) for v in b],
                    "score": round(float(s), 5),
                    "landmarks": {n: [round(float(p[0]), decimals), round(float(p[1]), decimals)] for n, p in zip(LANDMARK_NAMES, lm)},
                }
            )
        d: dict[str, Any] = {"width": self.image_size[0], "height": self.image_size[1], "faces": faces}
        if self.source is not None:
            d = {"source": self.source, **d}
        return d

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)
