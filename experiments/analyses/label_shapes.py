"""How often a jittered square crop is labelled a positive, by face shape, with and without ``label_square``.

For every K-th WIDER train image, every usable face (not invalid, short side >= ``samples.min_face``) gets
``--crops`` jittered squares (the stage config's ``jitter_shift`` / ``jitter_scale``); prints, per h/w
bucket, the share of faces and the share of crops with IoU >= ``pos_iou`` against the annotated box and
against its square (``samples.label_square``).

    python experiments/analyses/label_shapes.py --config configs/onet.yaml --data data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from openmtcnn.ops import boxes as B
from openmtcnn.train import samples as S
from openmtcnn.datasets.wider import read_wider_gt
from openmtcnn.train.config import load_config

BUCKETS = ((0, 1.1), (1.1, 1.3), (1.3, 1.5), (1.5, 1.7), (1.7, np.inf))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/onet.yaml")
    ap.add_argument("--data", default="data")
    ap.add_argument("--every", type=int, default=10, help="every K-th image of the annotation list")
    ap.add_argument("--crops", type=int, default=20, help="jittered crops per face")
    a = ap.parse_args()
    cfg = load_config(a.config)
    s = cfg.samples
    items = read_wider_gt(Path(a.data) / cfg.data.wider_gt)[:: a.every]
    rng = np.random.default_rng(0)
    shape, plain, square = [], [], []
    for it in items:
        g = it.boxes.astype(np.float64)
        if not len(g):
            continue
        side = np.minimum(g[:, 2] - g[:, 0], g[:, 3] - g[:, 1])
        for f in np.flatnonzero(it.valid_mask() & (side >= s.min_face)):
            crops = S.jittered(rng, g[f], a.crops, s)
            shape.append((g[f, 3] - g[f, 1]) / (g[f, 2] - g[f, 0]))
            plain.append(np.mean(B.box_iou(crops, g[f : f + 1])[:, 0] >= s.pos_iou))
            square.append(np.mean(B.box_iou(crops, B.square(g[f : f + 1]))[:, 0] >= s.pos_iou))
    shape, plain, square = map(np.asarray, (shape, plain, square))
    print(f"{len(shape)} faces of {len(items)} images (every {a.every}-th), {a.crops} crops each, {a.config}")
    print(f"h/w quantiles 10 / 50 / 90 %: {' / '.join(f'{q:.2f}' for q in np.quantile(shape, [0.1, 0.5, 0.9]))}")
    print("| h/w | share of faces | positives, annotated box | positives, its square |\n|---|---|---|---|")
    for lo, hi in BUCKETS:
        m = (shape >= lo) & (shape < hi)
        if m.any():
            print(f"| {lo:g} - {hi:g} | {m.mean():.3f} | {plain[m].mean():.3f} | {square[m].mean():.3f} |")


if __name__ == "__main__":
    main()
