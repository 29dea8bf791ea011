"""WIDER val predictions of a weight set on exactly the images that another prediction folder holds.

Time-limited runs (`openmtcnn evaluate widerface --time-limit`) of different weight sets reach different
images; this runs the cascade on the images of one of them, so that `openmtcnn evaluate widerface --pred
OUT --partial` scores every set on the same files. ``--flip-average onet`` (or ``rnet,onet``) averages that
net's outputs over each crop and its mirror (box offsets mirrored back): a test of test-time flipping that
the library does not do.

    python experiments/analyses/detect_same_images.py --like runs/eval/part-A/pred --images data/widerface/WIDER_val/images \\
        --weights openmtcnn/weights/default --out runs/eval/sub/v10 [--jobs 2]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from openmtcnn.config import WIDER_EVAL
from openmtcnn.detect import cascade as C
from openmtcnn.detect.backends import OnnxBackend
from openmtcnn.evaluate.formats import detections_xywhs
from openmtcnn.evaluate.widerface import write_prediction
from openmtcnn.imaging import load_image


class FlipAveraged:
    """A backend whose ``stages`` outputs are the mean over each crop and its horizontal mirror."""

    def __init__(self, inner: OnnxBackend, stages: set[str]):
        self.inner, self.stages, self.input_sizes = inner, stages, inner.input_sizes

    def run(self, stage: str, batch: np.ndarray, landmarks: bool = True):
        p, r, l = self.inner.run(stage, batch, landmarks)
        if stage not in self.stages:
            return p, r, l
        p2, r2, _ = self.inner.run(stage, np.ascontiguousarray(batch[..., ::-1]), False)
        r2 = np.stack([-r2[:, 2], r2[:, 1], -r2[:, 0], r2[:, 3]], 1)  # offsets of the mirrored crop, mirrored back
        return (p + p2) / 2, (r + r2) / 2, l


def _work(args: tuple[list[str], str, str, str, tuple[str, ...]]) -> int:
    files, images, weights, out, flip = args
    backend = OnnxBackend(weights, 1)
    if flip:
        backend = FlipAveraged(backend, set(flip))
    for f in files:
        event, name = f.split("/")[0], Path(f).stem
        boxes, scores, _ = C.detect_batch([load_image(Path(images) / event / f"{name}.jpg")], backend, WIDER_EVAL)[0]
        write_prediction(out, event, name, detections_xywhs(boxes, scores))
    return len(files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--like", required=True, help="prediction folder (EVENT/NAME.txt) whose images to run")
    ap.add_argument("--images", required=True, help="WIDER_val/images")
    ap.add_argument("--weights", required=True, help="weight set folder")
    ap.add_argument("--out", required=True, help="prediction folder to write")
    ap.add_argument("--flip-average", default="", help="comma-separated nets to average over crop and mirror")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    like = Path(a.like)
    files = sorted(str(p.relative_to(like)) for p in like.rglob("*.txt"))
    if not files:
        raise SystemExit(f"{like}: no prediction files")
    flip = tuple(s for s in a.flip_average.split(",") if s)
    shards = [(files[k :: a.jobs], a.images, a.weights, a.out, flip) for k in range(a.jobs)]
    with ProcessPoolExecutor(a.jobs) as pool:
        done = sum(pool.map(_work, shards))
    print(f"{done} images -> {a.out} (settings: min face {WIDER_EVAL.min_face_size:g}, scale {WIDER_EVAL.scale_factor}, "
          f"thresholds {' / '.join(map(str, WIDER_EVAL.thresholds))})")


if __name__ == "__main__":
    main()
