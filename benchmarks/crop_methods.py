"""Time of the cascade's crop step by crop method ("area": one area resize per box; "bilinear": one warp).

    python benchmarks/crop_methods.py [--weights NAME_OR_DIR] [--repeat 200]

On the bundled sample photo fitted to 640 x 480 (as the speed benchmark fits its VGA photo), the R-Net and O-Net
candidates of a Detector (default weights and settings) are cropped and resized
(:func:`openmtcnn.ops.crops.crop_boxes`), both methods taking turns; prints the median CPU times (steadier than wall time on a busy machine). The conversion to
net input that follows (``to_net_input``) is the same for both and is timed once, for scale.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    import cv2
    import numpy as np

    from openmtcnn import Detector
    from openmtcnn.detect.cascade import stage_pnet, stage_rnet
    from openmtcnn.ops.crops import CROP_METHODS, crop_boxes, to_net_input
    from openmtcnn.benchmark.peers import fit

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", default=None)
    p.add_argument("--repeat", type=int, default=200)
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    rgb = cv2.cvtColor(cv2.imread(str(REPO / "openmtcnn" / "assets" / "sample.jpg")), cv2.COLOR_BGR2RGB)
    image = fit(rgb, 640, 480)
    det = Detector(weights=args.weights, crop_method="area")
    cand = {"rnet": stage_pnet(image, det.backend, det.config)}
    cand["onet"] = stage_rnet(image, cand["rnet"], det.backend, det.config)
    times = {(s, m): [] for s in cand for m in (*CROP_METHODS, "to_net_input")}
    for _ in range(args.repeat):
        for (s, m), t in times.items():
            t0 = time.thread_time()
            crops = crop_boxes(image, cand[s][:, :4], det.backend.input_sizes[s], m if m in CROP_METHODS else "area")
            t1 = time.thread_time()
            if m not in CROP_METHODS:
                to_net_input(crops)
                t0 = t1
            t.append(time.thread_time() - t0)
    print(f"sample.jpg fitted to 640 x 480, weights {args.weights or 'default'}; load average {os.getloadavg()[0]:.2f}; "
          f"median CPU time (thread) of {args.repeat}, 1 thread")
    for s in cand:
        ms = {m: float(np.median(times[s, m])) * 1e3 for m in (*CROP_METHODS, "to_net_input")}
        print(f"{s}: {len(cand[s])} crops of {det.backend.input_sizes[s]} px: area {ms['area']:.3f} ms, bilinear "
              f"{ms['bilinear']:.3f} ms ({ms['area'] / ms['bilinear']:.1f}x); then to_net_input {ms['to_net_input']:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
