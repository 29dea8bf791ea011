"""Drawing detections (boxes, scores, 5 landmarks) onto an image, for inspection."""

from __future__ import annotations

import cv2
import numpy as np

from .detect.result import DetectResult
from .imaging import ImageInput, to_rgb

#: RGB colours: boxes, then one per landmark (left eye, right eye, nose, mouth left, mouth right),
#: distinct so that swapped or misplaced points are visible at a glance.
BOX_COLOR = (0, 255, 0)
LANDMARK_COLORS = ((255, 0, 0), (0, 128, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255))


def draw(image: ImageInput, result: DetectResult, *, bgr: bool = False, scores: bool = True) -> np.ndarray:
    """A copy of ``image`` with each face's box, score and landmarks drawn; the input is left untouched.

    ``image`` is anything :func:`openmtcnn.imaging.to_rgb` takes; the output is a uint8
    ``(H, W, 3)`` array in the input's channel order (``bgr=True``: an OpenCV BGR array,
    drawn with the same visible colours). Line width and text size grow with the image
    so that drawings stay legible on large photos and don't swamp small ones.
    """
    out = to_rgb(image).copy()  # copy: to_rgb may return the caller's own array
    h, w = out.shape[:2]

    def col(c: tuple[int, int, int]) -> tuple[int, int, int]:
        return c[::-1] if bgr else c

    thick = max(1, int(round(max(h, w) / 500)))
    font_scale = max(0.35, max(h, w) / 1500)
    for box, score, pts in zip(result.boxes, result.scores, result.landmarks):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), col(BOX_COLOR), thick, cv2.LINE_8)  # crisp, full colour
        if scores:
            text = f"{float(score):.2f}"
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
            ty = y1 - base if y1 - th - base >= 0 else y1 + th + base  # above the box, or inside at the top edge
            cv2.rectangle(out, (x1, ty - th - base // 2), (x1 + tw, ty + base // 2), col(BOX_COLOR), -1)
            cv2.putText(out, text, (x1, ty), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thick, cv2.LINE_AA)
        radius = max(1, min(thick + 1, int(round((x2 - x1) / 25))))  # dots stay apart on small faces
        for (px, py), c in zip(pts, LANDMARK_COLORS):
            cv2.circle(out, (int(round(float(px))), int(round(float(py)))), radius, col(c), -1, cv2.LINE_AA)
    return out
