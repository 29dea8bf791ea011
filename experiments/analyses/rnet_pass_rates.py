"""Share of P-Net candidates near WIDER val faces that each R-Net passes, by IoU with the face.

Runs one weight set's P-Net (authors' settings: min face 10, scale 0.79, threshold 0.5) over every K-th
val image, keeps the candidates whose best IoU with a face of the chosen setting is >= 0.3, and prints,
per IoU bin, the share that each named R-Net scores above ``--threshold``. It separates "R-Net rejects
well-placed faces" from "R-Net rejects roughly placed ones" (docs/training.md, "After v10").

    python experiments/analyses/rnet_pass_rates.py --images data/widerface/WIDER_val/images \\
        --gt data/widerface/eval_tools/ground_truth v10=openmtcnn/weights/default/rnet.onnx \\
        original=runs/weights/original/rnet.onnx
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from openmtcnn.config import WIDER_EVAL
from openmtcnn.detect import cascade as C
from openmtcnn.detect.backends import OnnxBackend
from openmtcnn.evaluate.formats import xywh_to_xyxy
from openmtcnn.datasets.wider import SETTINGS, WiderGroundTruth
from openmtcnn.imaging import load_image
from openmtcnn.ops import boxes as B
from openmtcnn.ops.crops import crop_boxes, to_net_input

BINS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.65), (0.65, 1.01))


def candidates(images: Path, gt: WiderGroundTruth, pnet_weights: str, every: int, setting: str):
    """24 px net inputs of the P-Net candidates near a face of ``setting``, and their best IoU with one."""
    backend = OnnxBackend(pnet_weights, 1)
    crops, ious = [], []
    for k, (i, j, ev, name) in enumerate(gt.items()):
        if k % every:
            continue
        rgb = load_image(images / ev / f"{name}.jpg")
        p = C.stage_pnet(rgb, backend, WIDER_EVAL)
        faces = xywh_to_xyxy(gt.boxes[i][j])[np.asarray(gt.keep[setting][i][j], int)]
        if len(p) == 0 or len(faces) == 0:
            continue
        iou = B.box_iou(faces, p[:, :4]).max(0)
        near = iou >= BINS[0][0]
        crops.append(to_net_input(crop_boxes(rgb, p[near, :4], 24)))
        ious.append(iou[near])
    return np.concatenate(crops), np.concatenate(ious)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True, help="WIDER_val/images")
    ap.add_argument("--gt", required=True, help="eval_tools/ground_truth folder")
    ap.add_argument("--pnet-weights", default=None, help="weight set whose P-Net makes the candidates (default: ours)")
    ap.add_argument("--every", type=int, default=40, help="every K-th val image (default 40: 81 images)")
    ap.add_argument("--setting", choices=SETTINGS, default="medium", help="faces that count (default medium)")
    ap.add_argument("--threshold", type=float, default=0.5, help="R-Net pass threshold (default 0.5)")
    ap.add_argument("rnets", nargs="+", metavar="NAME=RNET.onnx")
    a = ap.parse_args()
    import onnxruntime as ort

    gt = WiderGroundTruth.load(a.gt)
    crops, iou = candidates(Path(a.images), gt, a.pnet_weights, a.every, a.setting)
    masks = [(iou >= lo) & (iou < hi) for lo, hi in BINS]
    print("| R-Net | " + " | ".join(f"IoU {lo}-{min(hi, 1)} (n={m.sum()})" for (lo, hi), m in zip(BINS, masks)) + " |")
    print("|---|" + "---|" * len(BINS))
    for spec in a.rnets:
        name, path = spec.split("=", 1)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        prob = np.concatenate([sess.run(["prob"], {"image": crops[s : s + 512]})[0] for s in range(0, len(crops), 512)])
        print(f"| {name} | " + " | ".join(f"{np.mean(prob[m] > a.threshold):.3f}" for m in masks) + " |")


if __name__ == "__main__":
    main()
