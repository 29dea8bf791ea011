"""MODEL_CARD.md for a trained weight set, written from the runs' summaries (never typed by hand)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ..stages import TITLES as NAMES
from .config import SAMPLE_TYPES


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def _provenance(summaries: dict[str, dict]) -> list[str]:
    """Lines for stages not trained in this run: adopted from another set, or fine-tuned from one.

    An adopted stage's line names the set's folder, the commit that last changed its ONNX file there (when the set
    is tracked by git) and the file's sha256, and carries what that set's own card said of the stage, so a chain of
    adoptions and fine-tunings stays traceable from the newest card.
    """
    lines = []
    for s, sm in summaries.items():
        if sm.get("adopted_from"):
            commit = f" as of commit {sm['source_commit']}" if sm.get("source_commit") else ""
            line = (f"- {NAMES[s]}: taken unchanged from the weight set `{sm['adopted_from']}`{commit} (`{s}.onnx` sha256 "
                    f"{sm.get('onnx_sha256', '?')[:16]}); its data, sample, "
                    "training and validation figures below are that set's records, read from its model card.")
            if sm.get("provenance"):
                line += f" That card said of it: {sm['provenance']}"
            lines.append(line)
        else:
            tc = sm["config"]["train"]
            line = ""
            if tc.get("init_weights"):
                init = Path(tc["init_weights"])
                digest = f" (sha256 {hashlib.sha256(init.read_bytes()).hexdigest()[:16]})" if init.is_file() else ""
                line = f"- {NAMES[s]}: fine-tuned, starting from `{init}`{digest} instead of a random initialisation."
            if tc.get("teacher"):
                what = {"det": "face probability", "box": "box offsets", "landmark": "landmark offsets"}
                used = [f"{what[k]} (weight {tc['distill'][k]:g})" for k in what if tc["distill"].get(k, 0)]
                line = (line or f"- {NAMES[s]}: trained from a random initialisation.") + (
                    f" **Distilled**: the {NAMES[s]} of the weight set `{tc['teacher']}` was its teacher (`train.teacher`): "
                    f"its {', '.join(used)} were soft targets beside the labels.")
            if line:
                lines.append(line)
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
PSEUDO_LINE = re.compile(r"- Pseudo-annotated photos(?: \(([^)]*)\))?: (\d+) images of `(.*?)` \((\d+) found, (\d+) left out "
                         r"as photos of held-out landmark faces, (\d+) missing\), annotated by the cascade of the weight "
                         r"set `(.*?)`: (\d+) faces .*?, (\d+) boxes")


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


def write_model_card(summaries: dict[str, dict], path: Path, evaluation: dict | None = None, cascade: dict | None = None) -> Path:
    """Write the card: data, sample counts, configs, commands, times, validation metrics, benchmark figures.

    ``evaluation``: optional ``{"title": {...figures...}}`` measured on the exported set
    (WIDER FACE val AP, landmark NME), shown verbatim with the command that produced them. ``cascade``: detection
    settings chosen for the set after training (``pnet_scale``), which its manifest carries.
    """
    from ..nets.export import mixed_name

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
        "figures below were written from the training run's own records (`openmtcnn/train/card.py`); the benchmark "
        "figures are `openmtcnn evaluate` results on this exported set, passed in with `--eval-json`.",
        "",
        *_provenance(summaries),
        *([f"Detection setting chosen for this set after training, carried in its `manifest.json` (so `Detector(weights=...)` "
           f"uses it unless told otherwise): P-Net's first pyramid level x {cascade['pnet_scale']:g} (`pnet_scale`, P-Net's "
           "resolution multiplier; docs/variants.md).", ""] if cascade and "pnet_scale" in cascade else []),
        "## Data",
        *_data_lines(summaries),
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
                     tc.get("landmark_loss", "l2"), "soft (by IoU)" if tc.get("part_soft_label") else "no",
                     f"{sm['train_seconds'] / 60:.1f}"])
    lines += _table(["stage", "epochs", "best epoch", "batch", "mix neg:pos:part:lmk", "OHEM keep", "weights det/box/lmk",
                     "landmark loss", "part faces in face loss", "time (min)"], rows)
    lines += ["", "## Validation metrics of the kept (best) epoch", "",
              "Held-out crops of each stage's own sample set: accuracy / recall / false-positive rate at p > 0.5 "
              "on positives and negatives; the box loss is the squared error summed over the 4 offsets, the landmark "
              "loss the stage's landmark loss (l2: squared error) summed over the 10 offsets, both in units of the "
              "crop size; landmark NME is the mean point error over the inter-ocular distance (- where the run "
              "predates the metric).", ""]
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


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def read_model_card(path: str | Path) -> dict[str, dict]:
    """The per-stage summaries that ``write_model_card`` wrote into a card, read back (times to 0.1 min, metrics
    to 4 digits): what a later weight set needs to report a stage it takes over unchanged (``pipeline.adopt_stage``)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    by_name = {v: k for k, v in NAMES.items()}
    out: dict[str, dict] = {}
    wider = re.findall(r"WIDER FACE train(?: \(([^)]*)\))?: (\d+) images used \((\d+) found, (\d+) listed .*?\), (\d+) valid faces", text)
    lmk = re.findall(r"Landmarks(?: \(([^)]*)\))?: the 5-point set .*?`trainImageList.txt`\): (\d+) faces used \((\d+) missing\)", text)
    if not (wider and lmk):
        raise ValueError(f"{path}: no data section written by openmtcnn's model card")
    data_of: dict[str, dict] = {}  # stage -> its data; "" -> every stage (one line for all)
    for (names, *w), (_, *l) in zip(wider, lmk):
        d = dict(zip(DATA_KEYS, (int(v) for v in (*w, *l))))
        for name in (names.split(", ") if names else [""]):
            data_of[by_name.get(name, "")] = d
    section = ""
    provenance: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:]
        cells = _cells(line) if line.startswith("| ") else []
        stage = by_name.get(cells[0]) if cells else None
        if stage is None:
            m = re.match(r"- (P-Net|R-Net|O-Net): `(.*)` \(config `(.*)`\)$", line)
            if m and section.startswith("Commands"):
                out[by_name[m[1]]].update(command=m[2], config_file=None if m[3] == "None" else m[3])
            m = re.match(r"- (P-Net|R-Net|O-Net): ((?:taken unchanged|fine-tuned, starting) from .*)$", line)
            if m and not section:  # the provenance lines above the first section
                provenance[by_name[m[1]]] = m[2]
            continue
        sm = out.setdefault(stage, {"stage": stage, "data": data_of.get(stage, data_of.get("")), "unreadable_images": []})
        if section.startswith("Samples"):
            pairs = [c.split(" / ") for c in cells[1:1 + len(SAMPLE_TYPES)]]
            sm["sample_counts"] = {sp: {t: int(_num(p[i])) for t, p in zip(SAMPLE_TYPES, pairs)} for i, sp in enumerate(("train", "val"))}
            sm["sample_seconds"] = _num(cells[-1]) * 60
        elif section.startswith("Training"):
            sm["epochs_run"], best_epoch, sm["train_seconds"] = int(cells[1]), int(cells[2]), _num(cells[-1]) * 60
            sm.setdefault("best", {})["epoch"] = best_epoch
        elif section.startswith("Validation"):
            keys = ("accuracy", "recall", "false_pos_rate", "det_loss", "box_loss", "landmark_loss", "landmark_nme")
            sm.setdefault("best", {}).update({f"val_{k}": _num(c) for k, c in zip(keys, cells[1:]) if c != "-"})
    for name, block in re.findall(r"<details><summary>(P-Net|R-Net|O-Net)</summary>\s*```json\n(.*?)\n```", text, re.S):
        out[by_name[name]]["config"] = json.loads(block)
    for stage, line in provenance.items():
        out[stage]["provenance"] = line
    for names, *values in PSEUDO_LINE.findall(text):
        d = {k: v if k in ("pseudo_list", "pseudo_teacher") else int(v) for k, v in zip(PSEUDO_KEYS, values)}
        for stage in ([by_name[n] for n in names.split(", ")] if names else list(out)):
            out[stage]["data"] = {**out[stage]["data"], **d}
    need = ("sample_counts", "epochs_run", "best", "config", "command")
    for stage, sm in out.items():
        missing = [k for k in need if k not in sm]
        if missing:
            raise ValueError(f"{path}: {NAMES[stage]} lacks {', '.join(missing)} in the model card")
    return out
