"""The stage-by-stage pipeline: samples -> training -> ONNX, then the weight set and its model card.

Run folder layout (git-ignored)::

    RUNS/{pnet,rnet,onet}/samples/     # sample shards (see samples.py)
    RUNS/{pnet,rnet,onet}/train/       # last.pt, best.pt, log.csv, curves.png
    RUNS/{pnet,rnet,onet}/STAGE.onnx   # the best net, used to mine the next stage's samples
    RUNS/{pnet,rnet,onet}/summary.json # the stage's record (training.json, and the model card from it)
    RUNS/weights/                      # the weight set (export_weights' default): ONNX, manifest.json,
                                       # training.json, MODEL_CARD.md; into the package only by an explicit --out

A stage can also be adopted unchanged from an exported weight set (``adopt_stage``): its ONNX file, the net read
back from it and its record from that set's ``training.json`` take the place of a trained stage, so that a later
stage can be retrained on its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from ..stages import STAGES, net_file
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
    prev = {p: str(stage_dir(runs, p) / net_file(p)) for p in PREVIOUS[cfg.stage]}
    for p, path in prev.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: {cfg.stage} samples come from the trained {p}; run `openmtcnn train {p}` first")
    progress = generate(cfg, data_root, d / "samples", prev, log=log)
    result = train_stage(cfg, d / "samples", d / "train", log=log)
    onnx_path = d / net_file(cfg.stage)
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


def export_weights(runs: str | Path, out_dir: str | Path | None = None, extra_eval: dict | None = None, log=print,
                   mixed: bool = False, pnet_scale: float | None = None) -> Path | None:
    """If all three stages are trained, write the ONNX set, ``manifest.json``, ``training.json`` (the record,
    :mod:`~openmtcnn.train.record`) and ``MODEL_CARD.md`` (written from that record) into ``out_dir`` (``None``:
    ``RUNS/weights``; a bundled set such as ``openmtcnn/weights/default`` is written only when named).

    Stages of different variants raise ``ValueError`` unless ``mixed`` (a comparison set that swaps one stage:
    it needs an ``out_dir``, and its manifest names each stage's variant, :func:`~openmtcnn.nets.export.mixed_name`).
    ``pnet_scale``: P-Net's first pyramid level for this set (:class:`~openmtcnn.config.DetectConfig`), chosen after
    training by measurement; the manifest carries it, so ``Detector(weights=SET)`` uses it, and the card says so."""
    from ..nets.export import export_set
    from .card import write_model_card
    from .record import CARD, build_record, write_record
    from .trainer import load_best

    cascade = chosen_cascade(pnet_scale)

    summaries = {}
    for s in STAGES:
        p = stage_dir(runs, s) / "summary.json"
        if not p.exists():
            log(f"not exporting a weight set yet: {s} is not trained ({p} missing)")
            return None
        summaries[s] = json.loads(p.read_text())
    per_stage = {s: summaries[s]["config"]["variant"] for s in STAGES}
    if len(set(per_stage.values())) != 1 and not (mixed and out_dir is not None):
        hint = " and a set of mixed stages needs --out" if mixed else " (a comparison set of mixed stages: `train export --mixed --out DIR`)"
        raise ValueError(f"the three stages were trained as different variants {per_stage}{hint}")
    nets = {s: load_best(StageConfig(stage=s, variant=per_stage[s]), stage_dir(runs, s) / "train") for s in STAGES}
    extra = {
        "trained_by": "openmtcnn train",
        "best_epochs": {s: summaries[s]["best"]["epoch"] for s in STAGES},
        "val_metrics": {s: {k[4:]: round(v, 5) for k, v in summaries[s]["best"].items() if k.startswith("val_")} for s in STAGES},
    }
    record = build_record(summaries, extra_eval, cascade)
    out = export_set(nets, Path(runs) / "weights" if out_dir is None else out_dir, per_stage, extra, cascade)
    write_record(record, out)
    write_model_card(record, Path(out) / CARD)
    log(f"weight set written to {out}")
    return out


SET_NETS = tuple(net_file(s) for s in STAGES)


def chosen_cascade(pnet_scale: float | None) -> dict:
    """The cascade options a set records for a ``pnet_scale`` chosen after training: ``{"pnet_scale": k}``, checked
    as :class:`~openmtcnn.config.DetectConfig` checks it, or nothing for ``None`` and for the original pyramid (1),
    which is no choice to record."""
    from ..config import WEIGHT_BOUND, DetectConfig

    if pnet_scale is None:
        return {}
    k = DetectConfig(pnet_scale=pnet_scale).pnet_scale
    return {} if k == WEIGHT_BOUND["pnet_scale"] else {"pnet_scale": k}


def reexport_set(src: str | Path, out_dir: str | Path | None = None, extra_eval: dict | None = None,
                 pnet_scale: float | None = None, log=print) -> Path:
    """An exported set written again without its runs folder (``train export --weights SRC``): its ONNX files as
    they are, with a detection setting chosen after training (``pnet_scale``, as :func:`export_weights` takes it)
    and / or new benchmark figures (``extra_eval``) put into ``manifest.json``, ``training.json`` and the model card
    alike. ``out_dir`` ``None``: rewrite ``src`` in place. A file in ``out_dir`` that links elsewhere is replaced,
    never written through. ``ValueError`` when ``src`` has no readable training record."""
    from .card import write_model_card
    from .record import CARD, TRAINING_JSON, read_record, write_record

    src = Path(src)
    out = src if out_dir is None else Path(out_dir)
    for name in (*SET_NETS, "manifest.json"):
        if not (src / name).is_file():
            raise ValueError(f"{src}: not a weight set ({name} missing)")
    if not (src / TRAINING_JSON).is_file():
        raise ValueError(f"{src / TRAINING_JSON}: no training record; for a set written before training.json, "
                         f"`openmtcnn train card --weights {src} --from-card` makes one from its model card")
    record = read_record(src)
    manifest = json.loads((src / "manifest.json").read_text())
    if pnet_scale is not None:
        chosen = chosen_cascade(pnet_scale)
        manifest["cascade"], record["cascade"] = dict(manifest.get("cascade") or {}), dict(record.get("cascade") or {})
        for d in (manifest["cascade"], record["cascade"]):
            d.pop("pnet_scale", None)
            d.update(chosen)
    if extra_eval is not None:
        record["evaluation"] = extra_eval
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != src.resolve():
        for name in (*SET_NETS, "manifest.json", TRAINING_JSON, CARD):
            (out / name).unlink(missing_ok=True)  # a link into another set included: replaced, not written through
        for name in SET_NETS:
            shutil.copyfile(src / name, out / name)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    write_record(record, out)
    write_model_card(record, out / CARD)
    log(f"weight set written to {out} (from {src})")
    return out


def _git_commit(path: Path) -> str | None:
    """The commit that last changed ``path``, if git tracks it and the file is as committed (else None): a folder
    such as ``openmtcnn/weights/default`` changes later, the commit names the version that was adopted."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True, text=True)

    try:
        log = git("log", "-1", "--format=%h", "--", path.name)
        if log.returncode or not log.stdout.strip() or git("diff", "--quiet", "HEAD", "--", path.name).returncode:
            return None
    except OSError:  # no git
        return None
    return log.stdout.strip()


def adopt_stage(runs: str | Path, stage: str, weights_dir: str | Path, log=print) -> dict:
    """Take ``stage`` unchanged from an exported weight set (ONNX, manifest, and ``training.json``, or for an older
    set ``MODEL_CARD.md``) into ``RUNS/STAGE``.

    Writes the same files a trained stage leaves (``STAGE.onnx`` byte for byte, ``train/best.pt``, ``summary.json``
    with ``adopted_from``), so the next stage's samples and ``export_weights`` use it like one trained here.
    """
    from ..nets.export import load_onnx_net, stage_variants
    from .record import CARD, TRAINING_JSON, sha256_file, stage_record
    from .trainer import _save

    src = Path(weights_dir)
    onnx_path, manifest = src / net_file(stage), src / "manifest.json"
    record = src / TRAINING_JSON if (src / TRAINING_JSON).is_file() else src / CARD
    for f in (onnx_path, manifest, record):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: adopting {stage} needs a weight set written by `openmtcnn train` "
                                    "(ONNX, manifest, training.json or, for an older set, the model card)")
    variant = stage_variants(json.loads(manifest.read_text()))[stage]
    summary = stage_record(src, stage) | {"adopted_from": str(src), "onnx_sha256": sha256_file(onnx_path)}
    commit = _git_commit(onnx_path)
    if commit:
        summary["source_commit"] = commit
    net = load_onnx_net(onnx_path, variant, stage)
    d = stage_dir(runs, stage)
    (d / "train").mkdir(parents=True, exist_ok=True)
    _save({"model": net.state_dict(), "variant": variant, "stage": stage, "adopted_from": str(src)}, d / "train" / "best.pt")
    shutil.copyfile(onnx_path, d / net_file(stage))
    (d / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log(f"[{stage}] adopted from {src} (best epoch {summary['best']['epoch']}; record from its {record.name}) into {d}")
    return summary
