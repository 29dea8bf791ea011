"""MODEL_CARD.md for a trained weight set, written from the runs' summaries (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from .config import SAMPLE_TYPES

NAMES = {"pnet": "P-Net", "rnet": "R-Net", "onet": "O-Net"}


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def write_model_card(summaries: dict[str, dict], path: Path, evaluation: dict | None = None) -> Path:
    """Write the card: data, sample counts, configs, commands, times, validation metrics, benchmark figures.

    ``evaluation``: optional ``{"title": {...figures...}}`` measured on the exported set
    (WIDER FACE val AP, landmark NME), shown verbatim with the command that produced them.
    """
    p = summaries["pnet"]["data"]
    lines = [
        "# openmtcnn default weights: model card",
        "",
        f"Net variant `{summaries['pnet']['config']['variant']}` (the paper's P-Net / R-Net / O-Net), trained from scratch by "
        "`openmtcnn train` (this project's code), exported to ONNX. The data, sample, training and validation "
        "figures below were written from the training run's own records (`openmtcnn/train/card.py`); the benchmark "
        "figures are `openmtcnn evaluate` results on this exported set, passed in with `--eval-json`.",
        "",
        "## Data",
        f"- WIDER FACE train: {p['wider_images_used']} images used ({p['wider_images_found']} found, "
        f"{p['wider_images_missing']} listed in the annotations but not present), {p['wider_faces_used']} valid faces. "
        "This is about a quarter of WIDER FACE train (12,880 images): every accuracy figure here is for a model "
        "trained on that subset.",
        f"- Landmarks: the 5-point set of Sun et al. 2013 (LFW + Net, `trainImageList.txt`): "
        f"{p['landmark_faces_used']} faces used ({p['landmark_faces_missing']} missing). Its test list stays out of training.",
        "- Held-out validation: a seeded fraction of the images and landmark faces (see each config's `val_fraction`).",
        "",
        "## Samples per stage (train / val)",
    ]
    rows = []
    for s, sm in summaries.items():
        c = sm["sample_counts"]
        rows.append([NAMES[s]] + [f"{c['train'][t]:,} / {c['val'][t]:,}" for t in SAMPLE_TYPES] + [f"{sm['sample_seconds'] / 60:.1f}"])
    lines += _table(["stage", *SAMPLE_TYPES, "generation (min)"], rows)
    lines += ["", "## Training", ""]
    rows = []
    for s, sm in summaries.items():
        tc = sm["config"]["train"]
        rows.append([NAMES[s], sm["epochs_run"], sm["best"]["epoch"], tc["batch_size"],
                     ":".join(f"{tc['mix'].get(t, 0):g}" for t in SAMPLE_TYPES), tc["ohem_keep"],
                     "/".join(f"{tc['task_weights'].get(k, 0):g}" for k in ("det", "box", "landmark")),
                     f"{sm['train_seconds'] / 60:.1f}"])
    lines += _table(["stage", "epochs", "best epoch", "batch", "mix neg:pos:part:lmk", "OHEM keep", "weights det/box/lmk", "time (min)"], rows)
    lines += ["", "## Validation metrics of the kept (best) epoch", "",
              "Held-out crops of each stage's own sample set: accuracy / recall / false-positive rate at p > 0.5 "
              "on positives and negatives; box and landmark losses are mean squared errors summed over the "
              "offsets (box: 4, landmarks: 10; in units of the crop size).", ""]
    rows = []
    for s, sm in summaries.items():
        b = sm["best"]
        rows.append([NAMES[s], f"{b['val_accuracy']:.4f}", f"{b['val_recall']:.4f}", f"{b['val_false_pos_rate']:.4f}",
                     f"{b['val_det_loss']:.4f}", f"{b['val_box_loss']:.4f}", f"{b['val_landmark_loss']:.4f}"])
    lines += _table(["stage", "accuracy", "recall", "false pos. rate", "det loss", "box loss", "landmark loss"], rows)
    lines += ["", "## Benchmark figures", ""]
    if evaluation:
        for title, fig in evaluation.items():
            lines += [f"### {title}", "", "```", json.dumps(fig, indent=1), "```", ""]
    else:
        lines += ["Not measured for this export (run `openmtcnn evaluate widerface` / `openmtcnn evaluate landmarks`).", ""]
    lines += ["## Commands and configs", ""]
    for s, sm in summaries.items():
        lines += [f"- {NAMES[s]}: `{sm['command']}` (config `{sm['config_file']}`)"]
    lines += ["", "Full resolved configs:", ""]
    for s, sm in summaries.items():
        lines += [f"<details><summary>{NAMES[s]}</summary>", "", "```json", json.dumps(sm["config"], indent=1), "```", "", "</details>", ""]
    errs = sum(len(sm.get("unreadable_images", [])) for sm in summaries.values())
    lines += [f"Unreadable images skipped during sample generation: {errs}.", ""]
    path.write_text("\n".join(lines))
    return path
