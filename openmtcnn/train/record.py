"""``training.json``: the machine-readable record of how a weight set was trained, kept beside its ``manifest.json``.

:func:`openmtcnn.train.pipeline.export_weights` writes it::

    {"format": 1,
     "stages": {"pnet": {...}, "rnet": {...}, "onet": {...}},  # each stage's summary.json (pipeline.run_stage):
                                                              # config, command, data, sample counts and seconds,
                                                              # epochs, best metrics, training seconds; plus
                                                              # init_sha256 of a fine-tuned stage's starting file,
                                                              # and an adopted stage's ADOPTION_KEYS
     "evaluation": {"title": {...}} or null,                  # --eval-json: figures measured on the exported set
     "cascade": {"pnet_scale": 0.75}}                         # detection settings chosen for the set after training

A record made from an older set's card (:func:`record_from_card`) says so (``"from_card": true``: its figures have the
card's precision) and may hold ``unreadable_total``: the card printed how many unreadable images sample generation
skipped, not which, so its stages' ``unreadable_images`` are empty.

The set's ``MODEL_CARD.md`` is written from it alone (:func:`openmtcnn.train.card.card_text`; ``openmtcnn train
card``). ``openmtcnn train adopt`` takes a stage's record from it (:func:`stage_record`); only a set written before
``training.json`` existed is read back from its card (:mod:`openmtcnn.train.card_parse`), and
:func:`record_from_card` turns such a set's card into a ``training.json`` once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..stages import STAGES, net_file

TRAINING_JSON = "training.json"
CARD = "MODEL_CARD.md"
FORMAT = 1
#: the fields of a stage's record that say how this set came by the stage (an adopting set writes its own)
#: (a calibration, ``calibration``, is said in the provenance that an adopting set carries)
ADOPTION_KEYS = ("adopted_from", "source_commit", "onnx_sha256", "provenance", "record_from", "calibration")
#: what every stage's record holds (the card's tables and commands are written from these)
NEED = ("config", "command", "config_file", "data", "sample_counts", "sample_seconds", "epochs_run", "best", "train_seconds")


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _record(stages: dict[str, dict], evaluation: dict | None, cascade: dict | None) -> dict:
    return {"format": FORMAT, "stages": {s: stages[s] for s in STAGES}, "evaluation": evaluation or None,
            "cascade": dict(cascade or {})}


def build_record(summaries: dict[str, dict], evaluation: dict | None = None, cascade: dict | None = None) -> dict:
    """The record of a set exported from the runs' ``summary.json`` files; a fine-tuned stage's starting file
    (``train.init_weights``, when it is a file) gets its sha256 here, while it is still there to be read."""
    stages = {}
    for s, sm in summaries.items():
        sm = dict(sm)
        init = sm["config"]["train"].get("init_weights")
        if init and not sm.get("adopted_from") and "init_sha256" not in sm and Path(init).is_file():
            sm["init_sha256"] = sha256_file(init)
        stages[s] = sm
    return _record(stages, evaluation, cascade)


def write_record(record: dict, weights_dir: str | Path) -> Path:
    path = Path(weights_dir) / TRAINING_JSON
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path


def read_record(weights_dir: str | Path) -> dict:
    """A set's ``training.json``, checked: ``ValueError`` naming the file and what is wrong with it."""
    path = Path(weights_dir) / TRAINING_JSON
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{path}: not a training record of format {FORMAT} (written by `openmtcnn train export`)")
    stages = record.get("stages")
    for s in STAGES:
        missing = [k for k in NEED if k not in (stages or {}).get(s, {})] if isinstance(stages, dict) else ["stages"]
        if missing:
            raise ValueError(f"{path}: the record of {s} lacks {', '.join(missing)}")
    return record


def stage_record(weights_dir: str | Path, stage: str) -> dict:
    """``stage``'s record as a set that adopts it from ``weights_dir`` keeps it: the source set's record without
    its own adoption fields, with ``provenance`` (what the source's card says of the stage) and ``record_from``
    (``training.json``, or ``MODEL_CARD.md`` for an older set without one, read back to card precision)."""
    from .card import stage_note
    from .card_parse import read_model_card

    src = Path(weights_dir)
    if (src / TRAINING_JSON).is_file():
        sm = read_record(src)["stages"][stage]
        note, source = stage_note(stage, sm), TRAINING_JSON
    else:
        sm = read_model_card(src / CARD)[stage]
        note, source = sm.get("provenance"), CARD  # the card's line, verbatim
    out = {k: v for k, v in sm.items() if k not in ADOPTION_KEYS}
    return out | ({"provenance": note} if note else {}) | {"record_from": source}


def record_from_card(weights_dir: str | Path) -> dict:
    """The ``training.json`` of an older set, read from its ``MODEL_CARD.md`` (stage records, benchmark figures)
    and ``manifest.json`` (settings chosen after training). Figures keep the card's precision; a sha256 that the
    card printed in 16 digits is completed from the set's own file when that file is the one it names (an adopted
    stage is exported byte for byte)."""
    from ..nets.registry import parse_variant
    from .card_parse import parse_stage_note, read_card_figures, read_card_unreadable, read_model_card

    src = Path(weights_dir)
    stages = read_model_card(src / CARD)
    for s, sm in stages.items():
        fields = parse_stage_note(sm.pop("provenance", ""))
        own = src / net_file(s)
        if own.is_file() and len(fields.get("onnx_sha256", "")) == 16:
            full = sha256_file(own)
            if full.startswith(fields["onnx_sha256"]):
                fields["onnx_sha256"] = full
        sm.update(fields)
    manifest = json.loads((src / "manifest.json").read_text())
    trained_for = parse_variant(stages["pnet"]["config"]["variant"]).cascade
    chosen = {k: v for k, v in manifest.get("cascade", {}).items() if trained_for.get(k) != v}
    record = _record(stages, read_card_figures(src / CARD), chosen)
    unreadable = read_card_unreadable(src / CARD)
    return record | {"from_card": True} | ({"unreadable_total": unreadable} if unreadable else {})
