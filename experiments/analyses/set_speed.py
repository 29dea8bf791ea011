"""Weight sets of the same nets timed side by side, as the speed benchmark times openmtcnn: a candidate default
against the current one (issue 21: "VGA time within 10 % of v10's"), where the sets differ in how many candidates
they pass on, not in the nets' size.

Each set is loaded as the benchmark's own peer (``openmtcnn.benchmark.peers.Ours``: everyday settings, 1 thread) and
timed by its interleaved loop (``benchmark.measure.time_peers``: the sets take turns image by image) on the
benchmark's VGA photo and on an even sample of WIDER val images. Prints each set's median wall time, its ratio to the
first set's, and the mean R-Net / O-Net crops per image.

    python experiments/analyses/set_speed.py v10=runs/remeasure/weights-v10 v13=openmtcnn/weights/default \\
        candidate=runs/cal2-nolmface/weights --repeat 60 --n-wider 50
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from openmtcnn.benchmark.macs import CascadeMacs
from openmtcnn.benchmark.measure import time_peers
from openmtcnn.benchmark.peers import VGA_SOURCE, WIDER_VAL, Ours, fit, wider_sample
from openmtcnn.imaging import load_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="LABEL=WEIGHTS_DIR; ratios are to the first")
    ap.add_argument("--repeat", type=int, default=60, help="timed passes over the VGA photo")
    ap.add_argument("--n-wider", type=int, default=50, help="WIDER val images in the sample (one pass)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    peers = {}
    for s in args.sets:
        label, _, folder = s.partition("=")
        peers[label] = Ours(label, folder)
        peers[label].setup(1)
    macs = {n: CascadeMacs(p.det.backend.weights_dir, p.det.backend.input_sizes) for n, p in peers.items()}
    images = {"VGA": [fit(load_image(VGA_SOURCE), 640, 480)],
              f"WIDER-{args.n_wider}": [load_image(p) for p in wider_sample(Path(WIDER_VAL), args.n_wider)]}
    first = next(iter(peers))
    print("| images | set | median wall ms | ratio to " + first + " | R-Net / O-Net crops per image |")
    print("|---|---|---|---|---|")
    for key, ims in images.items():
        crops = {n: [] for n in peers}
        for im in ims:  # the crops each set runs, counted once outside the timing
            for n, p in peers.items():
                p.detect(im)
                crops[n].append((p.timer.batch["rnet"], p.timer.batch["onet"]))
        res = time_peers(peers, ims, args.repeat if key == "VGA" else 1, 2, macs)
        base = res[first]["wall"]["median_ms"]
        for n in peers:
            c = np.mean(crops[n], axis=0)
            print(f"| {key} | {n} | {res[n]['wall']['median_ms']:.1f} | {res[n]['wall']['median_ms'] / base:.3f} | {c[0]:.0f} / {c[1]:.0f} |")


if __name__ == "__main__":
    main()
