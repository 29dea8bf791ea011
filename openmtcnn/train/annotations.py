"""Readers for the training annotations: WIDER FACE ``*_bbx_gt.txt`` and the 5-point landmark list.

Both return boxes in the project's convention (continuous ``x1, y1, x2, y2``)
and check which images exist under the folder given, so that a run can say
how much of a data set it actually used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# the landmark-list format has one reader, shared with evaluation
from ..evaluate.landmarks import LandmarkFace, read_landmark_list  # noqa: F401

#: column order of the per-face attribute flags in ``wider_face_*_bbx_gt.txt``
WIDER_FLAGS = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


class AnnotationError(ValueError):
    """A malformed annotation file; the message names the file and line."""


@dataclass
class WiderImage:
    """One WIDER FACE image: relative path, boxes ``(N, 4)`` x1 y1 x2 y2, flags ``(N, 6)`` (see WIDER_FLAGS)."""

    path: str
    boxes: np.ndarray
    flags: np.ndarray

    def valid_mask(self) -> np.ndarray:
        """Faces usable as training targets: not flagged invalid and of positive size."""
        b = self.boxes
        return (self.flags[:, WIDER_FLAGS.index("invalid")] == 0) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])


@dataclass
class Found:
    """Items whose image exists under the root, and the relative paths that were missing."""

    items: list
    missing: list[str] = field(default_factory=list)
    root: Path | None = None

    def summary(self, what: str) -> str:
        return f"{what}: {len(self.items)} found, {len(self.missing)} missing under {self.root}"


def read_wider_gt(gt_file: str | Path) -> list[WiderImage]:
    """Parse a WIDER FACE ``*_bbx_gt.txt`` file (name, count, then ``x y w h`` + 6 flags per face).

    Images with no faces carry one all-zero placeholder line, which is dropped.
    """
    gt_file = Path(gt_file)
    if not gt_file.is_file():
        raise AnnotationError(f"{gt_file}: no such WIDER FACE annotation file")
    lines = gt_file.read_text().splitlines()
    out: list[WiderImage] = []
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        try:
            n = int(lines[i + 1])
        except (IndexError, ValueError) as e:
            raise AnnotationError(f"{gt_file}:{i + 2}: expected a face count after {name!r}") from e
        rows = []
        for j in range(max(n, 1)):
            k = i + 2 + j
            try:
                vals = [float(v) for v in lines[k].split()[:10]]
            except (IndexError, ValueError) as e:
                raise AnnotationError(f"{gt_file}:{k + 1}: expected 10 numbers for a face of {name!r}") from e
            if len(vals) != 10:
                raise AnnotationError(f"{gt_file}:{k + 1}: expected 10 numbers, got {len(vals)}")
            rows.append(vals)
        a = np.asarray(rows[:n], dtype=np.float64).reshape(-1, 10)
        boxes = np.column_stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]])
        out.append(WiderImage(name.replace("\\", "/"), boxes, a[:, 4:10].astype(np.int8)))
        i += 2 + max(n, 1)
    return out


def existing(items: list, root: str | Path) -> Found:
    """Keep the items (with a ``.path``) whose image file exists under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(f"{root}: image folder does not exist")
    found, missing = [], []
    for it in items:
        (found if (root / it.path).is_file() else missing).append(it)
    return Found(found, sorted({m.path for m in missing}), root)
