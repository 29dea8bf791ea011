"""MODEL_CARD.md of a weight set, written from its ``training.json`` (:mod:`~openmtcnn.train.record`), never by hand.

:func:`card_text` is the whole card as a function of that JSON alone, so a set's card can be written again without
the runs folder that trained it (``openmtcnn train card --weights SET``). The fixed prose (intended use,
limitations, the data's terms) is :mod:`~openmtcnn.train.card_use`; reading an older set's card back, for sets
without ``training.json``, is :mod:`~openmtcnn.train.card_parse`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..stages import TITLES as NAMES
from .card_use import intended_use_lines, limitation_lines, terms_lines
from .config import SAMPLE_TYPES


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def stage_note(stage: str, sm: dict) -> str | None:
    """What the card says of where a stage came from (:func:`_origin`), and of a score calibration after it
    (``calibration``, :func:`calibration_note`; :mod:`openmtcnn.train.calibrate` writes it)."""
    note = _origin(stage, sm)
    if sm.get("calibration"):
        return (note + " " if note else "") + calibration_note(stage, sm["calibration"])
    return note


def calibration_note(stage: str, c: dict) -> str:
    """What the model card says of a calibrated stage."""
    s = c["settings"]
    return (f"Its face score was then **calibrated** (`openmtcnn train calibrate`): its face logit shifted by "
            f"{c['shift']:+.3f}, so that at {c['threshold']:g} it passes as many candidate crops as the {NAMES[stage]} "
            f"of `{c['reference']}` ({c['passed_reference']} of {c['crops']}; {c['passed_before']} before) on "
            f"{c['images']} WIDER train images held out of its (last) training run, the candidates this set's earlier stages "
            f"propose at min face {s['min_face_size']:g}, scale {s['scale_factor']:g}, thresholds "
            f"{' / '.join(f'{x:g}' for x in s['thresholds'])}. Boxes, landmarks and the ranking of faces are "
            f"unchanged; the file's sha256 is {c['onnx_sha256'][:16]}.")


def _origin(stage: str, sm: dict) -> str | None:
    """What the card says of where a stage came from, if not trained from random weights without a teacher.

    An adopted stage (``adopted_from``) names the set's folder, the commit that last changed its ONNX file there
    (when the set is tracked by git) and the file's sha256, and carries what that set's own record said of the
    stage (``provenance``), so a chain of adoptions and fine-tunings stays traceable from the newest card. A
    trained stage says whether it was fine-tuned (from which file, with the sha256 the export recorded,
    ``init_sha256``) and distilled (from which teacher, on which outputs).
    """
    if sm.get("adopted_from"):
        commit = f" as of commit {sm['source_commit']}" if sm.get("source_commit") else ""
        source = "its model card" if sm.get("record_from", "MODEL_CARD.md") == "MODEL_CARD.md" else "its `training.json`"
        taken = f"taken unchanged from the weight set `{sm['adopted_from']}`{commit} (`{stage}.onnx` sha256 {sm.get('onnx_sha256', '?')[:16]})"
        note = f"{taken}; its data, sample, training and validation figures below are that set's records, read from {source}."
        said = sm.get("provenance") or ""
        if said.startswith(taken):  # the same adoption again (a set re-exported from itself): said once, not nested
            said = said.partition(" That card said of it: ")[2]
        return note + (f" That card said of it: {said}" if said else "")
    tc = sm["config"]["train"]
    note = ""
    if tc.get("init_weights"):
        digest = f" (sha256 {sm['init_sha256'][:16]})" if sm.get("init_sha256") else ""
        note = f"fine-tuned, starting from `{tc['init_weights']}`{digest} instead of a random initialisation."
    if tc.get("teacher"):
        what = {"det": "face probability", "box": "box offsets", "landmark": "landmark offsets"}
        used = [f"{what[k]} (weight {tc['distill'][k]:g})" for k in what if tc["distill"].get(k, 0)]
        note = (note or "trained from a random initialisation.") + (
            f" **Distilled**: the {NAMES[stage]} of the weight set `{tc['teacher']}` was its teacher (`train.teacher`): "
            f"its {', '.join(used)} were soft targets beside the labels.")
    return note or None


def _provenance(stages: dict[str, dict]) -> list[str]:
    lines = [f"- {NAMES[s]}: {note}" for s, sm in stages.items() if (note := stage_note(s, sm))]
    return lines + [""] if lines else []


def _describe(variant: str) -> str:
    """The variant in words (:func:`openmtcnn.nets.registry.parse_variant`)."""
    from ..nets.registry import parse_variant

    v = parse_variant(variant)
    words = ["depthwise-separable convolutions after the first" if v.conv == "dwsep" else "standard convolutions"]
    if v.alpha != 1:
        words.append(f"channels x {v.alpha:g}")
    if v.rho != 1:
        sizes = v.specs
        words.append(f"R-Net / O-Net inputs {sizes['rnet'].size} / {sizes['onet'].size} px")
    if v.crop_method != "area":
        words.append(f"{v.crop_method} crops")
    if v.norm:
        words.append("batch norm after every convolution (folded into the convolutions in the ONNX files)")
    base = "the paper's P-Net / R-Net / O-Net"
    return base if variant == "mtcnn" else f"{base} with {', '.join(words)}"


DATA_KEYS = ("wider_images_used", "wider_images_found", "wider_images_missing", "wider_faces_used",
             "landmark_faces_used", "landmark_faces_missing")


def _data_lines(summaries: dict[str, dict]) -> list[str]:
    """The data of each stage; stages trained on different data (a later stage trained on more images than the
    stages it took over) get a line each, naming them."""
    groups: dict[tuple, list[str]] = {}
    for s, sm in summaries.items():
        groups.setdefault(tuple(sm["data"][k] for k in DATA_KEYS), []).append(NAMES[s])
    lines = []
    for values, names in groups.items():
        d = dict(zip(DATA_KEYS, values))
        which = f" ({', '.join(names)})" if len(groups) > 1 else ""
        lines += [
            f"- WIDER FACE train{which}: {d['wider_images_used']} images used ({d['wider_images_found']} found, "
            f"{d['wider_images_missing']} listed in the annotations but not present), {d['wider_faces_used']} valid faces.",
            f"- Landmarks{which}: the 5-point set of Sun et al. 2013 (LFW + Net, `trainImageList.txt`): "
            f"{d['landmark_faces_used']} faces used ({d['landmark_faces_missing']} missing). Its test list stays out of training.",
        ]
    return lines + _pseudo_lines(summaries) + [(
        "- About a quarter of WIDER FACE train (12,880 images) is here: every accuracy figure on this card is for "
        "models trained on that subset.")]


PSEUDO_KEYS = ("pseudo_images_used", "pseudo_list", "pseudo_images_found", "pseudo_images_held_out",
               "pseudo_images_missing", "pseudo_teacher", "pseudo_faces", "pseudo_ignored")


def _pseudo_lines(summaries: dict[str, dict]) -> list[str]:
    """The teacher-annotated photos (``samples.pseudo``) of the stages that used them: a line per set of figures,
    naming the stages unless all three share it."""
    groups: dict[tuple, list[str]] = {}
    for s, sm in summaries.items():
        if "pseudo_images_used" in sm["data"]:
            p = sm["config"]["samples"]["pseudo"]
            key = tuple(sm["data"][k] for k in PSEUDO_KEYS) + (p["min_score"], p["ignore_score"])
            groups.setdefault(key, []).append(NAMES[s])
    lines = []
    for values, names in groups.items():
        d = dict(zip(PSEUDO_KEYS, values))
        hi, lo = values[-2:]
        which = f" ({', '.join(names)})" if len(names) < len(summaries) or len(groups) > 1 else ""
        lines.append(
            f"- Pseudo-annotated photos{which}: {d['pseudo_images_used']} images of `{d['pseudo_list']}` "
            f"({d['pseudo_images_found']} found, {d['pseudo_images_held_out']} left out as photos of held-out landmark "
            f"faces, {d['pseudo_images_missing']} missing), annotated by the cascade of the weight set "
            f"`{d['pseudo_teacher']}`: {d['pseudo_faces']} faces (detections scoring {hi:g} or more), "
            f"{d['pseudo_ignored']} boxes ignored (scoring {lo:g} up to that: "
            "no positive, part face or negative crop on them); training split only (`samples.pseudo`).")
    return lines


def card_text(record: dict) -> str:
    """The card of a weight set from its ``training.json`` record (:func:`~openmtcnn.train.record.build_record`):
    where each stage came from, intended use, limitations, data and its terms, sample counts, configs, commands,
    times, validation metrics, and the benchmark figures measured on the set (``evaluation``, shown verbatim with
    the command that produced them). ``cascade``: detection settings chosen for the set after training
    (``pnet_scale``), which its manifest carries."""
    from ..nets.export import mixed_name

    summaries, evaluation, cascade = record["stages"], record.get("evaluation"), record.get("cascade") or {}
    per_stage = {s: sm["config"]["variant"] for s, sm in summaries.items()}
    variant = mixed_name(per_stage)
    if len(set(per_stage.values())) == 1:
        what = f"Net variant `{variant}` ({_describe(variant)})"
    else:  # a comparison set that swaps stages (issue 22's sweeps)
        what = "Stages of different net variants, a set for comparisons: " + "; ".join(
            f"{NAMES[s]} `{v}` ({_describe(v)})" for s, v in per_stage.items())
    lines = [
        f"# openmtcnn {'default weights' if variant == 'mtcnn' else f'weights `{variant}`'}: model card",
        "",
        f"{what}, trained by "
        "`openmtcnn train` (this project's code; from scratch unless a line below says otherwise), exported to ONNX. The data, sample, training and validation "
        "figures below are the training runs' own records, kept beside this card in `training.json`, from which "
        "`openmtcnn/train/card.py` writes it; the benchmark "
        "figures are `openmtcnn evaluate` results on this exported set, passed in with `--eval-json`.",
        "",
        *_provenance(summaries),
        *([f"Detection setting chosen for this set after training, carried in its `manifest.json` (so `Detector(weights=...)` "
           f"uses it unless told otherwise): P-Net's first pyramid level x {cascade['pnet_scale']:g} (`pnet_scale`, P-Net's "
           "resolution multiplier; docs/variants.md).", ""] if "pnet_scale" in cascade else []),
        "## Intended use",
        *intended_use_lines(),
        "",
        "## Limitations",
        *limitation_lines(summaries, cascade),
        "",
        "## Data",
        *_data_lines(summaries),
        "- Held-out validation: a seeded fraction of the images and landmark faces (see each config's `val_fraction`).",
        "",
        "## Terms of the data and of the teacher",
        *terms_lines(summaries),
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
                     tc.get("landmark_loss", "l2"), "soft (by IoU)" if tc.get("part_soft_label") else "no",
                     f"{sm['train_seconds'] / 60:.1f}"])
    lines += _table(["stage", "epochs", "best epoch", "batch", "mix neg:pos:part:lmk", "OHEM keep", "weights det/box/lmk",
                     "landmark loss", "part faces in face loss", "time (min)"], rows)
    lines += ["", "## Validation metrics of the kept (best) epoch", "",
              "Held-out crops of each stage's own sample set: accuracy / recall / false-positive rate at p > 0.5 "
              "on positives and negatives; the box loss is the squared error summed over the 4 offsets, the landmark "
              "loss the stage's landmark loss (l2: squared error) summed over the 10 offsets, both in units of the "
              "crop size; landmark NME is the mean point error over the inter-ocular distance (- where the run "
              "predates the metric)." + (" A calibrated stage's figures are its net's before the calibration (a score "
              "shift moves p > 0.5, not the ranking)." if any(sm.get("calibration") for sm in summaries.values()) else ""), ""]
    rows = []
    for s, sm in summaries.items():
        b = sm["best"]
        nme = b.get("val_landmark_nme")
        rows.append([NAMES[s], f"{b['val_accuracy']:.4f}", f"{b['val_recall']:.4f}", f"{b['val_false_pos_rate']:.4f}",
                     f"{b['val_det_loss']:.4f}", f"{b['val_box_loss']:.4f}", f"{b['val_landmark_loss']:.4f}",
                     "-" if nme is None else f"{nme:.4f}"])
    lines += _table(["stage", "accuracy", "recall", "false pos. rate", "det loss", "box loss", "landmark loss", "landmark NME"], rows)
    lines += ["", "## Benchmark figures", ""]
    if evaluation:
        for title, fig in evaluation.items():
            lines += [f"### {title}", "", "```", json.dumps(fig, indent=1), "```", ""]
    else:
        lines += ["Not measured for this set (`openmtcnn evaluate widerface` / `openmtcnn evaluate landmarks`, then "
                  "`openmtcnn train card --weights SET --eval-json FIGURES`).", ""]
    lines += ["## Commands and configs", ""]
    for s, sm in summaries.items():
        lines += [f"- {NAMES[s]}: `{sm['command']}` (config `{sm['config_file']}`)"]
    lines += ["", "Full resolved configs:", ""]
    for s, sm in summaries.items():
        lines += [f"<details><summary>{NAMES[s]}</summary>", "", "```json", json.dumps(sm["config"], indent=1), "```", "", "</details>", ""]
    errs = record.get("unreadable_total", sum(len(sm.get("unreadable_images", [])) for sm in summaries.values()))
    lines += [f"Unreadable images skipped during sample generation: {errs}.", ""]
    return "\n".join(lines)


def write_model_card(record: dict, path: str | Path) -> Path:
    """Write :func:`card_text` of ``record`` to ``path``."""
    path = Path(path)
    path.write_text(card_text(record), encoding="utf-8")
    return path
