"""Time of the cascade's crop step by crop method ("area": one area resize per box; "bilinear": one warp).

    python benchmarks/crop_methods.py [--weights NAME_OR_DIR] [--repeat 200]

On the bundled sample photo fitted to 640 x 480 (as benchmarks/speed.py fits its VGA photo), the R-Net and O-Net
candidates of a Detector (default weights and settings) are cropped, resized and normalised into net input
(:func:`openmtcnn.ops.crops.crop_boxes` + ``to_net_input``), both methods taking turns; prints the median times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    import cv2
    import numpy as np

    from openmtcnn import Detector
    from openmtcnn.detect.cascade import stage_pnet, stage_rnet
    from openmtcnn.ops.crops import CROP_METHODS, crop_boxes, to_net_input
    from speed import fit

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
    times = {(s, m): [] for s in cand for m in CROP_METHODS}
    for _ in range(args.repeat):
        for (s, m), t in times.items():
            t0 = time.perf_counter()
            to_net_input(crop_boxes(image, cand[s][:, :4], det.backend.input_sizes[s], m))
            t.append(time.perf_counter() - t0)
    print(f"sample.jpg fitted to 640 x 480, weights {args.weights or 'default'}; load average {os.getloadavg()[0]:.2f}; "
          f"median of {args.repeat} (crop + net input), 1 thread")
    for s in cand:
        ms = {m: float(np.median(times[s, m])) * 1e3 for m in CROP_METHODS}
        print(f"{s}: {len(cand[s])} crops of {det.backend.input_sizes[s]} px: "
              + ", ".join(f"{m} {v:.3f} ms" for m, v in ms.items()) + f" ({ms['area'] / ms['bilinear']:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
