"""Where does an annotation set put a face's mirror axis, against the axis the pixels show?

Faces are close to mirror-symmetric. For each face, a crop of whole pixel columns ``[x0, x0 + n)`` around
the annotated axis is compared with its own left-right flip (exact, no resampling) by phase correlation:
a face whose axis is at ``a`` (openmtcnn's frame: 0-based, pixel ``i`` covering ``[i, i + 1)``) shows in the
flip shifted by ``2 (a - c)``, ``c = x0 + n / 2``. Head pose scatters single faces by pixels, but over
thousands of faces turning either way it averages out. Printed: mean and standard error of
``a_pixels - a_annotated`` with the annotation's numbers taken as they are. Reading it:

* ``+0.5``: the numbers are 0-based pixel centres (pixel i's centre at i);
* ``-0.5``: 1-based pixel centres (pixel i's centre at i, counting from 1);
* ``0``: 0-based pixel corners (openmtcnn's frame).

A box ``x y w h`` of inclusive whole pixels (WIDER's ``+1``) has its centre at ``x + w / 2`` in 0-based
centre numbers, so its raw ``x + w / 2`` reads the same way.

Usage (from the repository root; data under data/)::

    python experiments/pixel-conventions/symmetry.py landmarks data/landmarks/testImageList.txt data/landmarks
    python experiments/pixel-conventions/symmetry.py wider data/widerface/wider_face_split/wider_face_val_bbx_gt.txt data/widerface/WIDER_val/images
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np


def mirror_axis(gray: np.ndarray, x_guess: float, y0: int, y1: int, half: int) -> float | None:
    """The axis (openmtcnn frame) of the face in rows ``[y0, y1)`` near ``x_guess``, by phase correlation."""
    h, w = gray.shape
    x0 = int(round(x_guess)) - half
    if x0 < 0 or x0 + 2 * half > w or y0 < 0 or y1 > h or y1 - y0 < 8:
        return None
    crop = gray[y0:y1, x0 : x0 + 2 * half].astype(np.float64)
    crop = crop - crop.mean()
    # no window: a window symmetric about the crop's centre pulls the answer towards that centre
    (dx, _), response = cv2.phaseCorrelate(crop, np.ascontiguousarray(crop[:, ::-1]))
    if response < 0.05:
        return None
    return x0 + half - dx / 2.0


def self_check() -> None:
    """A synthetic symmetric face with a known axis must come back to 0.05 px."""
    yy, xx = np.mgrid[0:120, 0:160].astype(np.float64) + 0.5  # pixel centres, openmtcnn frame
    for axis in (70.0, 70.25, 70.5, 71.3):
        img = 128 + 60 * np.exp(-(((np.abs(xx - axis) - 14) / 5) ** 2 + ((yy - 50) / 6) ** 2)) - 40 * np.exp(-(((xx - axis) / 18) ** 2 + ((yy - 85) / 4) ** 2))
        got = mirror_axis(img.astype(np.float32), axis + 0.7, 30, 100, 32)
        assert got is not None and abs(got - axis) < 0.05, (axis, got)


def landmark_offsets(list_path: Path, root: Path) -> np.ndarray:
    out = []
    for line in list_path.read_text().splitlines():  # the file's own numbers (the reader converts them)
        parts = line.split()
        path, p = parts[0].replace("\\", "/"), np.array(parts[5:15], dtype=np.float64).reshape(5, 2)
        iod = np.linalg.norm(p[0] - p[1])
        if iod < 20:
            continue
        axis = ((p[0, 0] + p[1, 0]) / 2 + (p[3, 0] + p[4, 0]) / 2) / 2
        gray = cv2.imread(str(root / path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            continue
        y0, y1 = int(min(p[0, 1], p[1, 1]) - 0.4 * iod), int(max(p[3, 1], p[4, 1]) + 0.3 * iod)
        a = mirror_axis(gray.astype(np.float32), axis, y0, y1, int(0.9 * iod))
        if a is not None and abs(a - axis) < 4:
            out.append(a - axis)
    return np.asarray(out)


def wider_offsets(gt_path: Path, root: Path, limit: int = 4000) -> np.ndarray:
    out = []
    lines, i = gt_path.read_text().splitlines(), 0
    while i < len(lines):  # the file's own x y w h numbers (the reader converts them)
        name, n = lines[i].strip(), int(lines[i + 1])
        a = np.array([l.split()[:10] for l in lines[i + 2 : i + 2 + max(n, 1)]], dtype=np.float64)[:n].reshape(-1, 10)
        i += 2 + max(n, 1)
        # clear, not occluded, typical pose, valid, at least 40 px wide
        ok = (a[:, 4] == 0) & (a[:, 7] == 0) & (a[:, 8] == 0) & (a[:, 9] == 0) & (a[:, 2] >= 40)
        if not ok.any() or not (root / name).is_file():
            continue
        gray = cv2.imread(str(root / name), cv2.IMREAD_GRAYSCALE)
        for x, y, w, h in a[ok, :4]:
            axis = x + w / 2
            a = mirror_axis(gray.astype(np.float32), axis, int(y + 0.2 * h), int(y + 0.9 * h), int(0.35 * w))
            if a is not None and abs(a - axis) < 0.1 * w:
                out.append(a - axis)
        if len(out) >= limit:
            break
    return np.asarray(out)


def main(argv: list[str]) -> None:
    self_check()
    kind, lst, root = argv[0], Path(argv[1]), Path(argv[2])
    d = landmark_offsets(lst, root) if kind == "landmarks" else wider_offsets(lst, root)
    med = np.median(d)
    print(f"{kind} {lst.name}: {len(d)} faces, a_pixels - a_annotated: mean {d.mean():+.3f} px "
          f"(standard error {d.std() / np.sqrt(len(d)):.3f}), median {med:+.3f}, trimmed mean (|d| < 2) {d[np.abs(d) < 2].mean():+.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
