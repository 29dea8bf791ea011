"""Operating points of WIDER val prediction folders: what raising the final (O-Net) threshold keeps.

For each prediction folder (``EVENT/NAME.txt``, as ``openmtcnn evaluate widerface`` writes; run with a low O-Net
threshold) and each threshold: boxes per image, and per WIDER setting the AP, recall and precision of the
predictions scoring at least that threshold (the official evaluation's recall and precision at its lowest score
bin: faces found over faces, faces found over proposals not matched to an ignored face). Only the images the folder
holds are scored (a fixed spread or a partial run). Raising O-Net's threshold after the cascade equals running with
it: O-Net's non-maximum suppression keeps a box by the boxes scoring above it only.

    python experiments/analyses/operating_point.py --gt data/widerface/eval_tools/ground_truth \\
        runs/everyday-steps/v13-4-PR0.6-0.7/pred runs/everyday-steps/original-4-PR0.6-0.7/pred
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from openmtcnn.datasets.wider import WiderGroundTruth
from openmtcnn.evaluate.widerface_ap import evaluate, predicted_images, read_predictions


def operating_points(pred_dir: Path, gt: WiderGroundTruth, thresholds: list[float]) -> list[dict]:
    """One row per threshold: boxes per image and, per setting, AP, recall and precision at that threshold."""
    done = predicted_images(pred_dir)
    if not done:
        raise SystemExit(f"{pred_dir}: no prediction files")
    truth = gt.only_images(done)
    preds = read_predictions(pred_dir, truth)
    out = []
    for t in thresholds:
        rows = [[r[r[:, 4] >= t] for r in ev] for ev in preds.rows]
        res = evaluate(rows, truth)
        row = {"threshold": t, "boxes_per_image": sum(len(r) for ev in rows for r in ev) / len(done)}
        for s, v in res.items():
            last = np.nonzero(~np.isnan(v.precision))[0][-1]  # the lowest score bin with a proposal
            row[s] = (v.ap, float(v.recall[last]), float(v.precision[last]))
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pred", nargs="+", type=Path, help="prediction folders (EVENT/NAME.txt)")
    ap.add_argument("--gt", required=True, help="eval_tools/ground_truth folder")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.5, 0.6, 0.7, 0.8, 0.9])
    args = ap.parse_args()
    gt = WiderGroundTruth.load(args.gt)
    print("| predictions | O-Net threshold | boxes per image | easy: AP / recall / precision | medium | hard |")
    print("|---|---|---|---|---|---|")
    for d in args.pred:
        for row in operating_points(d, gt, args.thresholds):
            cells = [" / ".join(f"{x:.3f}" for x in row[s]) for s in ("easy", "medium", "hard")]
            print(f"| {d.parent.name} | {row['threshold']} | {row['boxes_per_image']:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
