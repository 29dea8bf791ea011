"""Benchmark figures for a model card (`openmtcnn train export --eval-json`), from evaluation summaries.

    python scripts/card_figures.py --wider runs/eval/full-v4/widerface.json \
        --wider-original runs/eval/full-original-050503/widerface.json \
        --landmarks runs/eval/landmarks-v4/landmarks.json \
        --landmarks-original runs/landmarks/original/landmarks.json --out runs/eval/figures-v4.json

Every figure is read from the `openmtcnn evaluate` summaries named; nothing is typed in.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from openmtcnn.config import WEIGHT_BOUND
from openmtcnn.evaluate.report import PUBLISHED, landmark_passes, settings_text

# the official MTCNN WIDER FACE val baseline, as the results report quotes it
BASELINE = dict(zip(("easy", "medium", "hard"), PUBLISHED["widerface"][0][1]))
# detection settings added after some committed summaries were made, at the value those runs used
LATER_DEFAULTS = {"pnet_scale": 1.0, "crop_method": "area"}
WIDER_SKIP = {"pyramid", "landmarks", "landmark_passes", "landmark_refine", "max_pixels"}


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def figures(wider: dict, wider_orig: dict, lmk: dict, lmk_orig: dict) -> dict:
    r4 = lambda d: {k: round(v, 4) for k, v in d.items()}
    sub = lambda l, a, b: {k: round(v[a][b], 4) for k, v in l["subsets"].items()}
    # pyramid modes agree within noise; WIDER FACE scores boxes only, so landmark settings do not count there;
    # max_pixels (recorded since it exists) refuses none of these images
    # settings recorded since they exist (pnet_scale, crop_method) count at their values before: runs made earlier used those
    key = lambda s, skip: {k: v for k, v in {**LATER_DEFAULTS, **s["settings"]}.items() if k not in skip}
    # a run made before `landmark_passes` (first named `landmark_refine`) existed read the points once: the same as 0 passes (its
    # `landmarks` flag, since removed, was always on in a landmark evaluation)
    lmk_key = lambda s: {**key(s, {"pyramid", "landmarks", "landmark_refine", "max_pixels"}), "landmark_passes": landmark_passes(s["settings"])}
    # each set runs with its own weight-bound settings (a set's manifest may choose P-Net's first level): they may differ,
    # and both runs' settings are printed below
    bound = set(WEIGHT_BOUND)
    if key(wider, WIDER_SKIP | bound) != key(wider_orig, WIDER_SKIP | bound) or wider["images"] != wider_orig["images"]:
        raise SystemExit("the two WIDER runs differ in settings or images: not a side-by-side comparison")
    if ({k: v for k, v in lmk_key(lmk).items() if k not in bound} != {k: v for k, v in lmk_key(lmk_orig).items() if k not in bound}
            or lmk["faces"] != lmk_orig["faces"]):
        raise SystemExit("the two landmark runs differ in settings or faces: not a side-by-side comparison")
    return {
        f"WIDER FACE val AP, official protocol, {wider['images']} images": {
            "settings": settings_text(wider["settings"]),
            "original weights' run settings": settings_text(wider_orig["settings"]),
            "these weights (easy / medium / hard)": r4(wider["ap"]),
            "original MTCNN weights, same images and settings": r4(wider_orig["ap"]),
            "published MTCNN, full val": BASELINE,
            "command": "openmtcnn evaluate widerface --images data/widerface/WIDER_val/images "
                       "--gt data/widerface/eval_tools/ground_truth --weights WEIGHTS",
        },
        f"Landmarks: {Path(lmk['list']).name} ({lmk['faces']} faces), NME (mean point error / inter-ocular distance)": {
            "end-to-end settings": settings_text(lmk["settings"]),
            **({"original weights' run settings": settings_text(lmk_orig["settings"])}
               if settings_text(lmk_orig["settings"]) != settings_text(lmk["settings"]) else {}),
            "these weights: NME, O-Net on the annotated box": sub(lmk, "onet_gt", "nme"),
            "these weights: NME end to end (faces found)": sub(lmk, "end_to_end", "nme"),
            "these weights: share of faces found end to end": sub(lmk, "end_to_end", "found_share"),
            "original MTCNN weights: NME, O-Net on the annotated box": sub(lmk_orig, "onet_gt", "nme"),
            "original MTCNN weights: NME end to end": sub(lmk_orig, "end_to_end", "nme"),
            "command": "openmtcnn evaluate landmarks --list data/landmarks/testImageList.txt --images data/landmarks --weights WEIGHTS",
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("wider", "wider-original", "landmarks", "landmarks-original"):
        ap.add_argument(f"--{name}", type=Path, required=True, help=f"{name.replace('-', ' ')} summary JSON")
    ap.add_argument("--out", type=Path, required=True, help="figures JSON for `openmtcnn train export --eval-json`")
    a = ap.parse_args()
    fig = figures(_load(a.wider), _load(a.wider_original), _load(a.landmarks), _load(a.landmarks_original))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(fig, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(fig, indent=1))


if __name__ == "__main__":
    main()
