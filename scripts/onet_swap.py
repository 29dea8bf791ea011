"""How much of the WIDER gap is O-Net's: AP with one weight set's P-Net + R-Net and other sets' O-Nets.

Runs P-Net and R-Net of ``--candidates`` once over every K-th WIDER val image (cached in
``--cache``), then each ``--onet`` weight set's O-Net on those same candidates, and prints the
official-protocol AP easy / medium / hard on that subset. With the original authors' O-Net on our
candidates, the difference to our own O-Net is what O-Net alone costs.

    python scripts/onet_swap.py --candidates openmtcnn/weights/default \
        --onet openmtcnn/weights/default runs/weights/original --every 10 \
        --pred runs/eval/full-original-050503/pred
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
from pathlib import Path

import numpy as np
from tqdm import tqdm

from openmtcnn.config import DetectConfig
from openmtcnn.detect import cascade as C
from openmtcnn.detect.backends import OnnxBackend
from openmtcnn.evaluate.formats import detections_xywhs
from openmtcnn.evaluate.report import settings_text
from openmtcnn.evaluate.widerface import SETTINGS, WiderGroundTruth, evaluate, read_predictions
from openmtcnn.imaging import load_image


def _ap_cells(res: dict) -> str:
    return " | ".join(f"{res[s].ap:.3f}" for s in SETTINGS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", default="data/widerface/WIDER_val/images")
    ap.add_argument("--gt", default="data/widerface/eval_tools/ground_truth")
    ap.add_argument("--candidates", required=True, help="weight set whose P-Net and R-Net make the candidates")
    ap.add_argument("--onet", nargs="+", required=True, help="weight sets whose O-Nets are compared")
    ap.add_argument("--pred", nargs="*", default=[], help="prediction folders of whole-cascade runs "
                    "(`openmtcnn evaluate widerface` OUT/pred) scored on the same images, for reference")
    ap.add_argument("--every", type=int, default=10, help="every K-th val image (default 10: 323 images)")
    ap.add_argument("--cache", default="runs/onet_swap/candidates.pkl", help="R-Net output cache (reused when the settings match)")
    ap.add_argument("--min-face-size", type=float, default=10)
    ap.add_argument("--scale-factor", type=float, default=0.79)
    ap.add_argument("--thresholds", type=float, nargs=3, default=[0.5, 0.5, 0.3])
    a = ap.parse_args()
    cfg = DetectConfig(min_face_size=a.min_face_size, scale_factor=a.scale_factor, thresholds=tuple(a.thresholds))

    gt = WiderGroundTruth.load(a.gt)
    items = [it for k, it in enumerate(gt.items()) if k % a.every == 0]
    subset = gt.only_images({(ev, name) for _, _, ev, name in items})
    nets = [hashlib.sha256((Path(a.candidates) / f"{s}.onnx").read_bytes()).hexdigest() for s in ("pnet", "rnet")]
    key = [nets, a.every, a.min_face_size, a.scale_factor, list(a.thresholds)]  # the nets' bytes, not their path
    cache = Path(a.cache)
    cands = None
    if cache.is_file():
        saved = pickle.loads(cache.read_bytes())
        cands = saved["boxes"] if saved["key"] == key else None
    if cands is None:
        backend = OnnxBackend(a.candidates)
        cands = {}
        for _, _, ev, name in tqdm(items, desc="P-Net + R-Net", unit="img"):
            rgb = load_image(Path(a.images) / ev / f"{name}.jpg")
            cands[(ev, name)] = C.stage_rnet(rgb, C.stage_pnet(rgb, backend, cfg), backend, cfg)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps({"key": key, "boxes": cands}))

    print(f"{len(items)} val images (every {a.every}-th), candidates from {a.candidates}, {settings_text(cfg.to_dict())}")
    print("| O-Net of | AP easy | AP medium | AP hard |\n|---|---|---|---|")
    for pred in a.pred:
        res = evaluate(read_predictions(pred, subset), subset)
        print(f"| whole cascade: {pred} | {_ap_cells(res)} |")
    for weights in a.onet:
        backend = OnnxBackend(weights)
        rows = [[np.zeros((0, 5)) for _ in f] for f in subset.files]
        for i, j, ev, name in subset.items():
            r = cands[(ev, name)]
            if len(r):
                boxes, scores, _ = C.stage_onet(load_image(Path(a.images) / ev / f"{name}.jpg"), r, backend, cfg)
                rows[i][j] = detections_xywhs(boxes, scores)
        print(f"| {weights} | {_ap_cells(evaluate(rows, subset))} |", flush=True)


if __name__ == "__main__":
    main()
