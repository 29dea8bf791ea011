"""Several weight sets' nets on one training run's held-out samples: accuracy / recall / false-positive rate at
p > 0.5 and O-Net's landmark NME, as training's own validation computes them (``trainer.validate``), so that a
new run's nets and earlier ones compare on the same crops (docs/training.md, the configs/default run).

    python experiments/analyses/held_out_stages.py --runs runs/default --config configs/default \
        scratch=runs/default/weights v13=openmtcnn/weights/default original=weights/original

Sets mined from the same images may have trained on some of the held-out faces (the split is by image and seed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from openmtcnn.nets.export import load_onnx_net
from openmtcnn.stages import STAGES, net_file
from openmtcnn.train.config import load_config
from openmtcnn.train.store import SampleStore
from openmtcnn.train.trainer import Pools, validate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, required=True, help="the runs folder whose STAGE/samples are read")
    ap.add_argument("--config", type=Path, required=True, help="the folder of STAGE.yaml the run used")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated, default all three")
    ap.add_argument("sets", nargs="+", metavar="NAME=WEIGHTS", help="weight sets (standard nets) to compare")
    a = ap.parse_args()
    torch.set_num_threads(1)
    sets = dict(s.split("=", 1) for s in a.sets)
    for stage in a.stages.split(","):
        if stage not in STAGES:
            ap.error(f"--stages: {stage!r} is not one of {', '.join(STAGES)}")
        cfg = load_config(a.config / f"{stage}.yaml")
        val = Pools(SampleStore(a.runs / stage / "samples"), "val", cfg.size, cfg.train.val_max_per_type)
        for name, w in sets.items():
            m = validate(load_onnx_net(Path(w) / net_file(stage), "mtcnn", stage), val, cfg)
            text = f"{m['accuracy']:.3f} / {m['recall']:.3f} / {m['false_pos_rate']:.3f}"
            if stage == "onet":
                text += f", landmark NME {100 * m['landmark_nme']:.2f} %"
            print(f"{stage} {name}: {text}", flush=True)


if __name__ == "__main__":
    main()
