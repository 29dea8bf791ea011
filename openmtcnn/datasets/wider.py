"""WIDER FACE annotations: the training list (``wider_face_*_bbx_gt.txt``) and the official validation
ground truth (``eval_tools/ground_truth/*.mat``). Boxes of the training list come in the project's
convention (continuous ``x1, y1, x2, y2``, converted by :data:`~openmtcnn.datasets.conventions.WIDER`); the
validation ground truth keeps the official ``x y w h``, which the official scoring reads as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .conventions import WIDER

#: the official evaluation's difficulty settings
SETTINGS = ("easy", "medium", "hard")
#: the ground-truth files of the official evaluation tools
GT_FILES = {"all": "wider_face_val.mat", **{s: f"wider_{s}_val.mat" for s in SETTINGS}}

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
        boxes = WIDER.boxes(np.column_stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]]))
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


class GroundTruthError(ValueError):
    """Missing or inconsistent WIDER FACE ground-truth files; the message names the file."""


@dataclass
class WiderGroundTruth:
    """The evaluation ground truth, in the official files' order.

    ``events[i]``: event folder name; ``files[i][j]``: image name without
    extension; ``boxes[i][j]``: ``(n, 4)`` float ``x y w h``; ``keep[s][i][j]``:
    0-based indices of the faces that count in setting ``s``.
    """

    events: list[str]
    files: list[list[str]]
    boxes: list[list[np.ndarray]]
    keep: dict[str, list[list[np.ndarray]]]

    @classmethod
    def load(cls, gt_dir: str | os.PathLike) -> "WiderGroundTruth":
        """Read ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat`` from ``gt_dir``."""
        from scipy.io import loadmat

        d = Path(gt_dir)
        if not d.is_dir():
            raise GroundTruthError(f"{d}: not a folder (expected the folder holding {', '.join(GT_FILES.values())})")
        mats = {}
        for key, fname in GT_FILES.items():
            p = d / fname
            if not p.is_file():
                raise GroundTruthError(f"{p}: missing (the official WIDER FACE eval_tools/ground_truth file)")
            try:
                mats[key] = loadmat(str(p))
            except Exception as e:  # scipy raises several types for bad files
                raise GroundTruthError(f"{p}: not a readable .mat file ({e})") from e
        main = mats["all"]
        try:
            events = [str(e[0][0]) for e in main["event_list"]]
            files = [[str(f[0][0]) for f in ev[0]] for ev in main["file_list"]]
            boxes = [[np.asarray(b[0], dtype=np.float64).reshape(-1, 4) for b in ev[0]] for ev in main["face_bbx_list"]]
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise GroundTruthError(f"{d / GT_FILES['all']}: unexpected layout ({e})") from e
        keep: dict[str, list[list[np.ndarray]]] = {}
        for s in SETTINGS:
            m = mats[s]
            p = d / GT_FILES[s]
            try:
                s_files = [[str(f[0][0]) for f in ev[0]] for ev in m["file_list"]]
                gl = [[np.asarray(g[0], dtype=np.int64).reshape(-1) - 1 for g in ev[0]] for ev in m["gt_list"]]
            except (KeyError, IndexError, TypeError, ValueError) as e:
                raise GroundTruthError(f"{p}: unexpected layout ({e})") from e
            if s_files != files:
                raise GroundTruthError(f"{p}: its file list differs from {GT_FILES['all']}")
            for i, ev in enumerate(gl):
                for j, k in enumerate(ev):
                    if len(k) and (k.min() < 0 or k.max() >= len(boxes[i][j])):
                        raise GroundTruthError(f"{p}: face index out of range for {events[i]}/{files[i][j]}")
            keep[s] = gl
        return cls(events, files, boxes, keep)

    def save(self, gt_dir: str | os.PathLike) -> Path:
        """Write the four files in the official layout (cell arrays, 1-based indices); used for test fixtures."""
        from scipy.io import savemat

        d = Path(gt_dir)
        d.mkdir(parents=True, exist_ok=True)

        def cell(items: Sequence[Any]) -> np.ndarray:
            out = np.empty((len(items), 1), dtype=object)
            for i, it in enumerate(items):
                out[i, 0] = it
            return out

        base = {
            "event_list": cell([np.array([e]) for e in self.events]),
            "file_list": cell([cell([np.array([f]) for f in fl]) for fl in self.files]),
            "face_bbx_list": cell([cell([np.asarray(b, dtype=np.int32).reshape(-1, 4) for b in bl]) for bl in self.boxes]),
        }
        savemat(str(d / GT_FILES["all"]), base)
        for s in SETTINGS:
            gl = cell([cell([(np.asarray(k, dtype=np.float64) + 1).reshape(-1, 1) for k in kl]) for kl in self.keep[s]])
            savemat(str(d / GT_FILES[s]), {**base, "gt_list": gl})
        return d

    def kept_counts(self) -> dict[str, int]:
        """Number of faces that count per setting (official files: easy 7211, medium 13319, hard 31958)."""
        return {s: int(sum(len(k) for ev in self.keep[s] for k in ev)) for s in SETTINGS}

    @property
    def image_count(self) -> int:
        return sum(len(f) for f in self.files)

    def only_images(self, names: set[tuple[str, str]]) -> "WiderGroundTruth":
        """Only the ``(event, name)`` images listed (e.g. those a partial run has done); events left empty are dropped."""
        ev_idx = [i for i, e in enumerate(self.events) if any((e, n) in names for n in self.files[i])]
        pick = {i: [j for j, n in enumerate(self.files[i]) if (self.events[i], n) in names] for i in ev_idx}
        return WiderGroundTruth(
            [self.events[i] for i in ev_idx],
            [[self.files[i][j] for j in pick[i]] for i in ev_idx],
            [[self.boxes[i][j] for j in pick[i]] for i in ev_idx],
            {s: [[self.keep[s][i][j] for j in pick[i]] for i in ev_idx] for s in SETTINGS},
        )

    def subset(self, events: Iterable[str]) -> "WiderGroundTruth":
        """Only the named events (for quick runs; AP is then over those events only)."""
        want = set(events)
        unknown = want - set(self.events)
        if unknown:
            raise GroundTruthError(f"unknown event(s): {', '.join(sorted(unknown))}")
        idx = [i for i, e in enumerate(self.events) if e in want]
        return WiderGroundTruth(
            [self.events[i] for i in idx],
            [self.files[i] for i in idx],
            [self.boxes[i] for i in idx],
            {s: [self.keep[s][i] for i in idx] for s in SETTINGS},
        )

    def items(self) -> Iterator[tuple[int, int, str, str]]:
        """``(event index, image index, event, name)`` for every image."""
        for i, ev in enumerate(self.events):
            for j, name in enumerate(self.files[i]):
                yield i, j, ev, name
