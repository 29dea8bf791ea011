"""Synthetic face data that the training tests make themselves (a tiny WIDER + landmark set)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def draw_face(img: np.ndarray, x: float, y: float, s: float) -> np.ndarray:
    """Draw a cartoon face in the square (x, y, s); return its 5 points (eyes, nose, mouth corners)."""
    c = (int(x + s / 2), int(y + s / 2))
    cv2.ellipse(img, c, (int(s * 0.42), int(s * 0.5)), 0, 0, 360, (225, 180, 150), -1)
    pts = np.array([[0.32, 0.38], [0.68, 0.38], [0.5, 0.58], [0.36, 0.76], [0.64, 0.76]]) * s + [x, y]
    r = max(1, int(s * 0.07))
    for p in pts[:2]:
        cv2.circle(img, (int(p[0]), int(p[1])), r, (30, 20, 20), -1)
    cv2.circle(img, (int(pts[2, 0]), int(pts[2, 1])), max(1, r // 2), (150, 90, 80), -1)
    cv2.line(img, tuple(int(v) for v in pts[3]), tuple(int(v) for v in pts[4]), (120, 30, 40), max(1, r // 2))
    return pts


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    for _ in range(3):  # clutter that is not a face
        cv2.rectangle(img, tuple(int(v) for v in rng.integers(0, w, 2)), tuple(int(v) for v in rng.integers(0, w, 2)),
                      tuple(int(v) for v in rng.integers(0, 256, 3)), -1)
    return img


def make_dataset(root: Path, n_images: int = 24, n_landmark: int = 40, seed: int = 0) -> Path:
    """Write ``root/widerface`` (images + bbx_gt, incl. a no-face image, an invalid face and a corrupt
    file) and ``root/landmarks`` (images + list) in the real formats; returns ``root``."""
    rng = np.random.default_rng(seed)
    img_dir = root / "widerface" / "WIDER_train" / "images" / "0--Synthetic"
    img_dir.mkdir(parents=True)
    gt_lines = []
    for i in range(n_images):
        h = w = 128
        img = background(rng, h, w)
        faces = []
        for _ in range(0 if i == 0 else rng.integers(1, 3)):
            s = float(rng.integers(24, 52))
            x, y = rng.uniform(0, w - s), rng.uniform(0, h - s)
            if any(abs(x - fx) < s and abs(y - fy) < s for fx, fy, _ in faces):
                continue
            draw_face(img, x, y, s)
            faces.append((x, y, s))
        name = f"0--Synthetic/img_{i}.jpg"
        cv2.imwrite(str(img_dir.parent / name), img)
        gt_lines += [name, str(len(faces))]
        gt_lines += [f"{x:.0f} {y:.0f} {s:.0f} {s:.0f} 0 0 0 {1 if (i == 1 and k == 0) else 0} 0 0 " for k, (x, y, s) in enumerate(faces)]
        if not faces:
            gt_lines.append("0 0 0 0 0 0 0 0 0 0 ")
    (img_dir / "corrupt.jpg").write_bytes(b"not a jpeg")
    gt_lines += ["0--Synthetic/corrupt.jpg", "1", "10 10 30 30 0 0 0 0 0 0 ", "0--Synthetic/absent.jpg", "1", "5 5 20 20 0 0 0 0 0 0 "]
    split = root / "widerface" / "wider_face_split"
    split.mkdir(parents=True)
    (split / "wider_face_train_bbx_gt.txt").write_text("\n".join(gt_lines) + "\n")
    lm_dir = root / "landmarks" / "faces"
    lm_dir.mkdir(parents=True)
    lines = []
    for i in range(n_landmark):
        img = background(rng, 96, 96)
        s = float(rng.integers(40, 60))
        x, y = rng.uniform(10, 86 - s), rng.uniform(10, 86 - s)
        pts = draw_face(img, x, y, s)
        cv2.imwrite(str(lm_dir / f"f{i}.jpg"), img)
        nums = " ".join(f"{v:.2f}" for v in pts.reshape(-1))
        lines.append(f"faces\\f{i}.jpg {x:.0f} {x + s:.0f} {y:.0f} {y + s:.0f} {nums}")  # backslash, as some lists have
    (root / "landmarks" / "trainImageList.txt").write_text("\n".join(lines) + "\n")
    return root
