"""How much of the WIDER gap is O-Net's: AP with one weight set's P-Net + R-Net and other sets' O-Nets.

Runs P-Net and R-Net of ``--candidates`` once over every K-th WIDER val image (cached in
``--cache``), then each ``--onet`` weight set's O-Net on those same candidates, and prints the
official-protocol AP easy / medium / hard on that subset. With the original authors' O-Net on our
candidates, the difference to our own O-Net is what O-Net alone costs.

``--faces`` also asks which faces the first ``--onet`` set loses where another keeps them: per val
face, each O-Net's best raw score over the candidates with IoU >= 0.4 (before its threshold and NMS),
and the WIDER attributes (blur, occlusion, pose, ...; from ``--annotations``) and shape of the faces
lost by the first set only, of the faces with a candidate, and of the faces without any.

    python experiments/analyses/onet_swap.py --candidates openmtcnn/weights/default \
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
from openmtcnn.datasets.wider import SETTINGS, WIDER_FLAGS, WiderGroundTruth, read_wider_gt
from openmtcnn.evaluate.widerface import evaluate, read_predictions
from openmtcnn.imaging import load_image
from openmtcnn.ops import boxes as B
from openmtcnn.ops.crops import crop_boxes, to_net_input
from openmtcnn.stages import net_file

FACE_IOU = 0.4  # a candidate "covers" a face from this IoU on (before O-Net's box regression)


def _ap_cells(res: dict) -> str:
    return " | ".join(f"{res[s].ap:.3f}" for s in SETTINGS)


def best_face_scores(backend: OnnxBackend, image: np.ndarray, cand: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
    """Per face: the highest raw O-Net face score over the candidates with IoU >= FACE_IOU (-1: none)."""
    out = np.full(len(gt_xywh), -1.0)
    if not len(cand) or not len(gt_xywh):
        return out
    x = to_net_input(crop_boxes(image, cand[:, :4], backend.input_sizes["onet"]))
    chunk = C.CHUNK["onet"]
    scores = np.concatenate([backend.run("onet", x[k : k + chunk], landmarks=False)[0] for k in range(0, len(x), chunk)])
    g = np.column_stack([gt_xywh[:, :2], gt_xywh[:, :2] + gt_xywh[:, 2:4]])
    cover = B.box_iou(g, cand[:, :4]) >= FACE_IOU
    for f in np.flatnonzero(cover.any(1)):
        out[f] = scores[cover[f]].max()
    return out


def _describe(name: str, mask: np.ndarray, flags: np.ndarray, shape: np.ndarray, size: np.ndarray) -> str:
    f = flags[mask]
    f = f[(f >= 0).all(1)]  # faces whose annotation line was found
    if not mask.any():
        return f"| {name} | 0 | - | - | - |"
    attrs = ", ".join(f"{n} {np.mean(f[:, c] > 0):.2f}" for c, n in enumerate(WIDER_FLAGS) if n != "invalid") if len(f) else "-"
    return f"| {name} | {int(mask.sum())} | {np.median(size[mask]):.0f} | {np.median(shape[mask]):.2f} | {attrs} |"


def face_report(faces: dict, names: list[str], threshold: float) -> None:
    """Print who loses which faces (see the module docstring)."""
    setting, flags, shape, size = (np.asarray(faces[k]) for k in ("setting", "flags", "shape", "size"))
    score = {n: np.asarray(faces["score"][n]) for n in names}
    a = names[0]
    for s, label in (("easy", "easy"), ("medium", "medium, not easy"), ("hard", "hard, not medium")):
        in_s = setting == s
        has = in_s & (score[a] >= 0)
        print(f"\n{label}: {int(in_s.sum())} faces, {int(has.sum())} with a candidate (IoU >= {FACE_IOU}); "
              + "; ".join(f"{n} scores >= {threshold:g} on {int((has & (score[n] >= threshold)).sum())}" for n in names))
        print("| faces | count | median size px | median h/w | share flagged (WIDER attribute > 0) |\n|---|---|---|---|---|")
        print(_describe("all", in_s, flags, shape, size))
        print(_describe("without a candidate", in_s & (score[a] < 0), flags, shape, size))
        print(_describe("with a candidate", has, flags, shape, size))
        for b in names[1:]:
            print(_describe(f"lost by {a} only (kept by {b})", has & (score[a] < threshold) & (score[b] >= threshold), flags, shape, size))
            print(_describe(f"lost by {b} only (kept by {a})", has & (score[b] < threshold) & (score[a] >= threshold), flags, shape, size))


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
    ap.add_argument("--faces", action="store_true", help="also: which faces the first --onet set loses, by attribute")
    ap.add_argument("--annotations", default="data/widerface/wider_face_split/wider_face_val_bbx_gt.txt",
                    help="WIDER val annotations with the attribute flags (for --faces)")
    a = ap.parse_args()
    cfg = DetectConfig(min_face_size=a.min_face_size, scale_factor=a.scale_factor, thresholds=tuple(a.thresholds))

    gt = WiderGroundTruth.load(a.gt)
    items = [it for k, it in enumerate(gt.items()) if k % a.every == 0]
    subset = gt.only_images({(ev, name) for _, _, ev, name in items})
    nets = [hashlib.sha256((Path(a.candidates) / net_file(s)).read_bytes()).hexdigest() for s in ("pnet", "rnet")]
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
    faces: dict = {"setting": [], "flags": [], "shape": [], "size": [], "score": {}}
    if a.faces:
        ann = {w.path: w for w in read_wider_gt(a.annotations)}
        for i, j, ev, name in subset.items():
            g = subset.boxes[i][j]
            setting = np.full(len(g), "none", dtype=object)
            for s in ("hard", "medium", "easy"):  # nested: an easy face is also medium and hard
                setting[subset.keep[s][i][j]] = s
            w = ann.get(f"{ev}/{name}.jpg")
            same = w is not None and len(w.boxes) == len(g) and np.allclose(w.boxes[:, :2], g[:, :2])
            faces["setting"] += setting.tolist()
            faces["flags"] += (w.flags if same else np.full((len(g), len(WIDER_FLAGS)), -1)).tolist()
            faces["shape"] += (g[:, 3] / np.maximum(g[:, 2], 1)).tolist()
            faces["size"] += np.sqrt(g[:, 2] * g[:, 3]).tolist()
    for weights in a.onet:
        backend = OnnxBackend(weights)
        rows = [[np.zeros((0, 5)) for _ in f] for f in subset.files]
        best = []
        for i, j, ev, name in subset.items():
            r = cands[(ev, name)]
            image = load_image(Path(a.images) / ev / f"{name}.jpg")
            if len(r):
                boxes, scores, _ = C.stage_onet(image, r, backend, cfg)
                rows[i][j] = detections_xywhs(boxes, scores)
            if a.faces:
                best += best_face_scores(backend, image, r, subset.boxes[i][j]).tolist()
        faces["score"][weights] = best
        print(f"| {weights} | {_ap_cells(evaluate(rows, subset))} |", flush=True)
    if a.faces:
        face_report(faces, a.onet, cfg.thresholds[2])


if __name__ == "__main__":
    main()
