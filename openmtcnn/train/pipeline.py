"""The stage-by-stage pipeline: samples -> training -> ONNX, then the weight set and its model card.

Run folder layout (git-ignored)::

    RUNS/{pnet,rnet,onet}/samples/     # sample shards (see samples.py)
    RUNS/{pnet,rnet,onet}/train/       # last.pt, best.pt, log.csv, curves.png
    RUNS/{pnet,rnet,onet}/STAGE.onnx   # the best net, used to mine the next stage's samples
    RUNS/{pnet,rnet,onet}/summary.json # what the model card reports
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ..nets import STAGES
from .config import StageConfig

PREVIOUS = {"pnet": [], "rnet": ["pnet"], "onet": ["pnet", "rnet"]}


def stage_dir(runs: str | Path, stage: str) -> Path:
    return Path(runs) / stage


def run_stage(cfg: StageConfig, data_root: str | Path, runs: str | Path, *, fresh: bool = False, config_path: str | None = None,
              command: str | None = None, log=print) -> dict:
    """Make the samples, train, and export one stage's best net to ``RUNS/STAGE/STAGE.onnx``; resumes by default."""
    from ..nets.export import export_net
    from .samples import generate
    from .trainer import load_best, train_stage

    d = stage_dir(runs, cfg.stage)
    if fresh and d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    prev = {p: str(stage_dir(runs, p) / f"{p}.onnx") for p in PREVIOUS[cfg.stage]}
    for p, path in prev.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: {cfg.stage} samples come from the trained {p}; run `openmtcnn train {p}` first")
    progress = generate(cfg, data_root, d / "samples", prev, log=log)
    result = train_stage(cfg, d / "samples", d / "train", log=log)
    onnx_path = d / f"{cfg.stage}.onnx"
    best = d / "train" / "best.pt"
    if not onnx_path.exists() or onnx_path.stat().st_mtime < best.stat().st_mtime:
        # only when the best net changed: the next stage's samples are tied to these bytes
        export_net(load_best(cfg, d / "train"), onnx_path)
    summary = {
        "stage": cfg.stage,
        "config_file": config_path,
        "command": command or " ".join(sys.argv),
        "config": cfg.to_dict(),
        "data": progress["data"],
        "sample_counts": progress["counts"],
        "sample_seconds": round(progress["seconds"], 1),
        "unreadable_images": progress["errors"],
        **result,
    }
    (d / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log(f"[{cfg.stage}] best epoch {result['best']['epoch']}: val loss {result['best']['val_loss']:.4f}, "
        f"accuracy {result['best']['val_accuracy']:.4f}; exported {d / (cfg.stage + '.onnx')}")
    return summary


def export_weights(runs: str | Path, out_dir: str | Path, extra_eval: dict | None = None, log=print) -> Path | None:
    """If all three stages are trained, write the ONNX set + manifest + MODEL_CARD.md into ``out_dir``."""
    from ..nets.export import export_set
    from .card import write_model_card
    from .trainer import load_best

    summaries = {}
    for s in STAGES:
        p = stage_dir(runs, s) / "summary.json"
        if not p.exists():
            log(f"not exporting a weight set yet: {s} is not trained ({p} missing)")
            return None
        summaries[s] = json.loads(p.read_text())
    nets = {s: load_best(StageConfig(stage=s, variant=summaries[s]["config"]["variant"]), stage_dir(runs, s) / "train") for s in STAGES}
    variants = {summaries[s]["config"]["variant"] for s in STAGES}
    if len(variants) != 1:
        raise ValueError(f"the three stages were trained as different variants {sorted(variants)}")
    extra = {
        "trained_by": "openmtcnn train",
        "best_epochs": {s: summaries[s]["best"]["epoch"] for s in STAGES},
        "val_metrics": {s: {k[4:]: round(v, 5) for k, v in summaries[s]["best"].items() if k.startswith("val_")} for s in STAGES},
    }
    out = export_set(nets, out_dir, variants.pop(), extra)
    write_model_card(summaries, Path(out) / "MODEL_CARD.md", extra_eval)
    log(f"weight set written to {out}")
    return out
