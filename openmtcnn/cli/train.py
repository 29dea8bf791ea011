"""`openmtcnn train pnet|rnet|onet|all|export|adopt|card|calibrate`: samples, training and ONNX export, resumable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..stages import STAGES

DEFAULT_CONFIGS = Path("configs")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the MTCNN nets (needs the train extra)",
        description="Generate samples, train and export one stage, or all three in order, into RUNS/weights. A killed "
        "run resumes where it stopped when started again with the same arguments. The package's own weights change "
        "only by an explicit export: `openmtcnn train export --runs RUNS --out openmtcnn/weights/default`.",
    )
    p.add_argument("stage", choices=[*STAGES, "all", "export", "adopt", "card", "calibrate"],
                   help="a stage, all three in order, 'export': only (re)write the weight set (ONNX, manifest.json, "
                   "training.json, MODEL_CARD.md) from --runs, or from the exported set --weights (with --pnet-scale or "
                   "--eval-json applied; in place unless --out), 'adopt': take the --stages of the weight set --weights "
                   "into --runs unchanged (to retrain a later stage alone), or 'card': write the --weights set's "
                   "MODEL_CARD.md again from its training.json (no runs folder needed), or 'calibrate': shift the face "
                   "score of the --weights set's --stages (default onet) so that at the detection threshold each passes as "
                   "many candidate crops as the --reference set's does, on WIDER train images held out of its training "
                   "(openmtcnn/train/calibrate.py; written to --out, or in place)")
    p.add_argument("--config", default=None,
                   help="stage config YAML (default: configs/STAGE.yaml); for 'all', a folder holding pnet/rnet/onet.yaml")
    p.add_argument("--data", default=None, help="data folder; config paths are relative to it (required unless 'export')")
    p.add_argument("--runs", default="runs", help="work folder for samples and checkpoints (default: runs)")
    p.add_argument("--out", default=None,
                   help="where the finished weight set goes (default: RUNS/weights). A set goes into the package only "
                   "when named here: --out openmtcnn/weights/default (or openmtcnn/weights/VARIANT)")
    p.add_argument("--eval-json", default=None,
                   help="JSON of benchmark figures for the set's training.json and model card (scripts/card_figures.py)")
    p.add_argument("--weights", default=None,
                   help="'adopt': the weight set (folder) to take stages from; 'card': the set whose card to write; "
                   "'export': a set to write again (instead of --runs)")
    p.add_argument("--from-card", action="store_true",
                   help="'card': a set written before training.json: write its training.json once from its "
                   "MODEL_CARD.md and manifest.json (figures at the card's precision), then the card from it")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=None,
                   help="'adopt': which stages (default: pnet rnet); 'calibrate': which (rnet, onet; default: onet)")
    p.add_argument("--reference", default=None,
                   help="'calibrate': the weight set whose scores to match (e.g. weights/original)")
    p.add_argument("--threshold", type=float, default=None,
                   help="'calibrate': the score to match at (default: the stage's everyday threshold, 0.7)")
    p.add_argument("--max-images", type=int, default=0,
                   help="'calibrate': at most this many held-out images (default: all, about 5 %% of the WIDER train images)")
    p.add_argument("--fresh", action="store_true", help="discard this stage's earlier samples and checkpoints")
    p.add_argument("--mixed", action="store_true",
                   help="'export': allow stages of different variants (a comparison set that swaps one stage; needs --out)")
    p.add_argument("--pnet-scale", type=float, default=None,
                   help="'export': P-Net's first pyramid level for this set (DetectConfig.pnet_scale), chosen by measurement; "
                   "the manifest carries it and the model card says so")
    p.set_defaults(func=run)


def _config_path(arg: str | None, stage: str, many: bool) -> Path:
    if arg is None:
        return DEFAULT_CONFIGS / f"{stage}.yaml"
    p = Path(arg)
    return p / f"{stage}.yaml" if (many or p.is_dir()) else p


def run(args: argparse.Namespace) -> int:
    from ..train.config import ConfigError, load_config
    from ..train.pipeline import adopt_stage, export_weights, reexport_set, run_stage
    from ..train.pseudo import check_sources

    try:
        evaluation = json.loads(Path(args.eval_json).read_text()) if args.eval_json else None
    except (OSError, ValueError) as e:
        print(f"--eval-json {args.eval_json}: not a readable JSON file ({e})", file=sys.stderr)
        return 2
    out = args.out
    if args.stage == "card":
        return _card(args.weights, evaluation, args.from_card)
    if args.stage == "calibrate":
        return _calibrate(args)
    if args.stage == "export" and args.weights is not None:
        if not Path(args.weights).is_dir():
            print(f"--weights {args.weights}: no such weight-set folder", file=sys.stderr)
            return 2
        try:
            reexport_set(args.weights, out, evaluation, pnet_scale=args.pnet_scale)
        except (OSError, ValueError) as e:  # no training record, a bad pnet_scale
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    # from here on every command builds or reads nets with PyTorch: a missing train extra is said before any work
    import torch  # noqa: F401
    if args.stage == "export":
        try:
            return 0 if export_weights(args.runs, out, evaluation, mixed=args.mixed, pnet_scale=args.pnet_scale) else 1
        except ValueError as e:  # stages of different variants
            print(f"error: {e}", file=sys.stderr)
            return 2
    if args.stage == "adopt":
        if args.weights is None or not Path(args.weights).is_dir():
            print(f"--weights {args.weights}: no such weight-set folder", file=sys.stderr)
            return 2
        try:
            for s in args.stages or ["pnet", "rnet"]:
                adopt_stage(args.runs, s, args.weights)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    stages = list(STAGES) if args.stage == "all" else [args.stage]
    if args.data is None or not Path(args.data).is_dir():
        print(f"--data {args.data}: no such folder", file=sys.stderr)
        return 2
    try:
        cfgs = [(load_config(_config_path(args.config, s, args.stage == "all"), s), str(_config_path(args.config, s, args.stage == "all"))) for s in stages]
        for cfg, _ in cfgs:  # every stage's pseudo-annotation sources, before the first stage starts
            check_sources(cfg, args.data)
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = " ".join(["openmtcnn", *sys.argv[1:]])  # recorded in the model card
    for cfg, path in cfgs:
        run_stage(cfg, args.data, args.runs, fresh=args.fresh, config_path=path, command=command)
    try:
        export_weights(args.runs, out, evaluation)
    except ValueError as e:  # e.g. a variant's stage trained behind adopted standard ones: the stage itself is done
        print(f"not exporting a weight set: {e}")
    return 0


def _card(weights: str | None, evaluation: dict | None, from_card: bool) -> int:
    """`train card`: the set's MODEL_CARD.md from its training.json (with --eval-json: new figures first)."""
    from ..train.card import write_model_card
    from ..train.record import CARD, TRAINING_JSON, read_record, record_from_card, write_record

    if weights is None or not Path(weights).is_dir():
        print(f"--weights {weights}: no such weight-set folder", file=sys.stderr)
        return 2
    w = Path(weights)
    if from_card and (w / TRAINING_JSON).exists():
        print(f"{w / TRAINING_JSON}: the set has its training record already; drop --from-card (the card holds less)",
              file=sys.stderr)
        return 2
    if not from_card and not (w / TRAINING_JSON).is_file():
        print(f"{w / TRAINING_JSON}: no training record; for a set written before training.json, add --from-card "
              "to make one from its MODEL_CARD.md", file=sys.stderr)
        return 2
    try:
        record = record_from_card(w) if from_card else read_record(w)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if from_card or evaluation is not None:
        if evaluation is not None:
            record["evaluation"] = evaluation
        write_record(record, w)
    write_model_card(record, w / CARD)
    print(f"{w / CARD} written from {w / TRAINING_JSON}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    """`train calibrate`: each of --stages in cascade order, the later one scored behind the calibrated earlier."""
    from ..train.calibrate import CALIBRATED, calibrate_set

    stages = [s for s in STAGES if s in (args.stages or ["onet"])]
    for name, arg in (("--weights", args.weights), ("--reference", args.reference), ("--data", args.data)):
        if arg is None or not Path(arg).is_dir():
            print(f"{name} {arg}: no such folder", file=sys.stderr)
            return 2
    bad = [s for s in stages if s not in CALIBRATED]
    if bad:
        print(f"--stages {' '.join(bad)}: only {' and '.join(CALIBRATED)} can be calibrated", file=sys.stderr)
        return 2
    command = " ".join(["openmtcnn", *sys.argv[1:]])
    src = args.weights
    try:
        for s in stages:
            calibrate_set(src, args.reference, s, args.data, args.out, threshold=args.threshold,
                          max_images=args.max_images, command=command)
            src = args.out or src
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
