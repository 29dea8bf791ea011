"""Choose the landmark passes (``DetectConfig.landmark_passes``) on landmark faces O-Net never saw.

The faces are those of the training list that an O-Net config's sample generation held out for
validation (the same seeded split, so they were in no training crop of that O-Net). For each face
the cascade runs with no extra pass, the detection overlapping the annotated box most (IoU >= 0.3)
gives the first points, then O-Net reads them again from crops placed on the points
(:func:`openmtcnn.ops.boxes.points_box`) at several crop scales, up to ``--passes`` times. Prints
the NME (mean point error / inter-ocular distance) and the failure rate (NME > 10 %) of the first
look, of each pass and of the mean of the first k passes.

    python experiments/analyses/landmark_passes.py --config configs/experiments/onet-finetune.yaml --data data \\
        --weights openmtcnn/weights/default
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from openmtcnn import Detector
from openmtcnn.detect.cascade import refine_landmarks
from openmtcnn.evaluate.landmarks import MATCH_IOU, best_match
from openmtcnn.ops.landmarks import normalised_errors
from openmtcnn.imaging import load_image
from openmtcnn.train.config import StageConfig, load_config
from openmtcnn.train.samples import item_rng, work_items


def held_out_faces(cfg: StageConfig, data: Path) -> list:
    """The landmark faces that the config's sample generation put in its validation split."""
    items, _ = work_items(cfg, data)
    return [it for i, (kind, it) in enumerate(items) if kind == "lmk" and item_rng(cfg, i)[1]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="the O-Net stage config whose held-out landmark faces to use")
    ap.add_argument("--data", type=Path, default=Path("data"), help="data folder (config paths are relative to it)")
    ap.add_argument("--weights", required=True, help="weight set whose O-Net that config trained")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.1, 1.15, 1.2, 1.3])
    ap.add_argument("--passes", type=int, default=3)
    a = ap.parse_args()
    cfg = load_config(a.config)
    faces = held_out_faces(cfg, a.data)
    root = a.data / cfg.data.landmark_root
    det = Detector(weights=a.weights, landmark_passes=0, threads=1)
    err: dict[str, list[float]] = {}
    for f in tqdm(faces, desc="held-out faces", mininterval=5):
        img = load_image(root / f.path)
        res = det.detect_rgb(img)
        if not len(res):
            continue
        best, iou = best_match(f.box[None], res.boxes)
        k = int(best[0])
        if iou[0] < MATCH_IOU:
            continue
        gt = f.points[None]
        err.setdefault("first look", []).append(normalised_errors(res.landmarks[k][None], gt).mean())
        for s in a.scales:
            p, seen = res.landmarks[k][None].astype(np.float64), []
            for n in range(1, a.passes + 1):
                p = refine_landmarks([img], [p], det.backend, 1, scale=s)[0]
                seen.append(p)
                err.setdefault(f"scale {s:g}: pass {n}", []).append(normalised_errors(p, gt).mean())
                if n > 1:
                    err.setdefault(f"scale {s:g}: mean of passes 1-{n}", []).append(normalised_errors(np.mean(seen, 0), gt).mean())
    print(f"{len(faces)} held-out landmark faces ({a.config}, weights {a.weights}); found: {len(err.get('first look', []))}")
    print("| points | NME | failure (NME > 10 %) |\n|---|---|---|")
    for name, v in err.items():
        v = np.asarray(v)
        print(f"| {name} | {v.mean() * 100:.2f} % | {(v > 0.1).mean() * 100:.1f} % |")


if __name__ == "__main__":
    main()
