"""Reading an older weight set's MODEL_CARD.md back into records, for sets written before ``training.json``.

:func:`read_model_card` gives each stage's record as the card printed it (times to 0.1 min, metrics to 4 digits),
:func:`read_card_figures` the benchmark figures; :func:`openmtcnn.train.record.record_from_card` makes a
``training.json`` of them. `openmtcnn train` never reads a set that has a ``training.json`` this way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..stages import TITLES as NAMES
from .card import DATA_KEYS, PSEUDO_KEYS
from .config import SAMPLE_TYPES

PSEUDO_LINE = re.compile(r"- Pseudo-annotated photos(?: \(([^)]*)\))?: (\d+) images of `(.*?)` \((\d+) found, (\d+) left out "
                         r"as photos of held-out landmark faces, (\d+) missing\), annotated by the cascade of the weight "
                         r"set `(.*?)`: (\d+) faces .*?, (\d+) boxes")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def read_model_card(path: str | Path) -> dict[str, dict]:
    """The per-stage records that :func:`~openmtcnn.train.card.card_text` printed into a card, read back (times to
    0.1 min, metrics to 4 digits), each with ``provenance``: the card's line on where the stage came from, verbatim.
    What a later weight set needs to report a stage it takes over from an older set (``pipeline.adopt_stage``)."""
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


def read_card_unreadable(path: str | Path) -> int | None:
    """How many unreadable images the card says sample generation skipped (it printed the count, not the images)."""
    m = re.search(r"^Unreadable images skipped during sample generation: (\d+)\.$", Path(path).read_text(encoding="utf-8"), re.M)
    return int(m[1]) if m else None


def read_card_figures(path: str | Path) -> dict | None:
    """The benchmark figures that ``--eval-json`` put into a card (``### title`` and a JSON block each), or None."""
    text = Path(path).read_text(encoding="utf-8")
    section = text.split("\n## Benchmark figures\n", 1)[-1].split("\n## ", 1)[0] if "\n## Benchmark figures\n" in text else ""
    figures = {title: json.loads(block) for title, block in re.findall(r"^### ([^\n]*)\n\n```\n(.*?)\n```$", section, re.S | re.M)}
    return figures or None


ADOPTED = re.compile(r"taken unchanged from the weight set `([^`]*)`(?: as of commit (\w+))? \(`\w+\.onnx` sha256 ([0-9a-f?]+)\); "
                     r"its data, sample, training and validation figures below are that set's records, read from "
                     r"(its model card|its `training.json`)\.(?: That card said of it: (.*))?$", re.S)
FINE_TUNED = re.compile(r"fine-tuned, starting from `[^`]*`(?: \(sha256 ([0-9a-f]+)\))? instead of a random initialisation\.")


def parse_stage_note(note: str) -> dict:
    """The fields that :func:`openmtcnn.train.card.stage_note` printed, read back from its text: an adopted stage's
    ``adopted_from``, ``source_commit``, ``onnx_sha256`` (the 16 digits printed), ``record_from`` and ``provenance``,
    or a fine-tuned stage's ``init_sha256`` (16 digits); ``{}`` for any other note."""
    m = ADOPTED.match(note)
    if m:
        out = {"adopted_from": m[1], "onnx_sha256": m[3],
               "record_from": "MODEL_CARD.md" if m[4] == "its model card" else "training.json"}
        out.update({k: v for k, v in (("source_commit", m[2]), ("provenance", m[5])) if v})
        return out
    m = FINE_TUNED.match(note)
    return {"init_sha256": m[1]} if m and m[1] else {}
