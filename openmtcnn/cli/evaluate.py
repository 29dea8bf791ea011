"""`openmtcnn evaluate ...`: WIDER FACE, landmarks, FDDB with the benchmarks' own protocols, and the results report."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from ..config import WIDER_EVAL, DetectConfig
from .options import add_detection_options, detection_settings


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate on WIDER FACE, landmarks, FDDB; build the results report")
    sub = p.add_subparsers(dest="benchmark", required=True)
    _add_widerface(sub)
    _add_landmarks(sub)
    _add_fddb(sub)
    _add_stages(sub)
    _add_report(sub)


# --------------------------------------------------------------------------- shared options


def _checked(run):
    """A benchmark file that is missing or malformed (a list, an annotation) is a usage error naming it."""

    def checked(args) -> int:
        from ..evaluate.formats import FormatError
        from .options import UsageError

        try:
            return run(args)
        except FormatError as e:
            raise UsageError(str(e)) from None

    return checked


def _detection_options(p: argparse.ArgumentParser, defaults: DetectConfig, what: str) -> None:
    add_detection_options(p, defaults, f"detection settings (defaults: {what})")
    p.add_argument("--label", default=None, help="name of this run in tables and plots (default: the weights' name)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _detector(args):
    """The detector of the flags and its description for the summary; a setting out of range is a usage error."""
    from ..evaluate import runs

    from .options import UsageError, flag_message

    try:
        return runs.build_detector(args.weights, args.threads, **detection_settings(args))
    except ValueError as e:  # a setting out of range
        raise UsageError(flag_message(str(e))) from None


# --------------------------------------------------------------------------- widerface


def _add_widerface(sub) -> None:
    p = sub.add_parser(
        "widerface",
        help="detect on WIDER FACE val (resumable) and/or score a prediction folder with the official protocol",
        description="Runs detection over --images (writing EVENT/NAME.txt submission files under OUT/pred, "
        "skipping images already done), or takes an existing prediction folder with --pred, and computes "
        "AP for easy / medium / hard exactly as the official WIDER FACE evaluation.",
    )
    p.add_argument("--images", type=Path, help="WIDER_val/images (one folder per event): run detection")
    p.add_argument("--pred", type=Path, help="existing prediction folder (EVENT/NAME.txt): evaluate it, no detection")
    p.add_argument("--gt", type=Path, help="eval_tools/ground_truth folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat")
    p.add_argument("--out", type=Path, default=None, help="run folder for predictions, summary and plots (default runs/widerface/LABEL)")
    p.add_argument("--events", nargs="+", default=None, metavar="EVENT", help="only these events (names, or one number N = the first N)")
    p.add_argument("--compare", nargs="+", type=Path, default=[], metavar="JSON", help="other runs' widerface.json to draw on the same PR plot")
    p.add_argument("--jobs", type=int, default=None, help="detection worker processes, one thread each (default: one per CPU)")
    p.add_argument(
        "--time-limit", type=float, default=None, metavar="MIN",
        help="stop the detection pass after MIN minutes (rerun to go on; score the images done with --partial)",
    )
    p.add_argument(
        "--partial", action="store_true",
        help="score only the images that have a prediction file (an interrupted run's uniform sample); "
        "by default, as officially, a missing file counts as no detection",
    )
    p.add_argument(
        "--sample", type=int, default=None, metavar="N",
        help="detect and score a fixed spread of N images only, the same N for every run (comparisons of many "
        "weight sets; the summary records it); needs --images",
    )
    _detection_options(p, WIDER_EVAL, "the original authors' WIDER settings: min face 10, scale 0.79, thresholds 0.5 0.5 0.3")
    p.set_defaults(func=_checked(run_widerface))


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_widerface(args) -> int:
    from ..evaluate import widerface as W
    from .options import UsageError

    if (args.images is None) == (args.pred is None):
        raise SystemExit("error: give exactly one of --images (run detection) or --pred (evaluate a prediction folder)")
    det = info = None
    if args.images is not None:
        det, info = _detector(args)
        signal.signal(signal.SIGTERM, _raise_interrupt)  # a kill stops the pass cleanly and logs it
    try:
        summary = W.run(
            images=args.images, pred=args.pred, gt=args.gt, out=args.out, detector=det, info=info, weights=args.weights,
            threads=args.threads, label=args.label, events=args.events, compare=args.compare, jobs=args.jobs,
            time_limit=args.time_limit * 60 if args.time_limit is not None else None, partial=args.partial,
            sample=args.sample, progress=not args.no_progress,
        )
    except W.UnknownEvent as e:
        raise UsageError(str(e)) from None
    if "ap" in summary:
        ap = summary["ap"]
        print(f"{summary['label']}: AP easy {ap['easy']:.4f}  medium {ap['medium']:.4f}  hard {ap['hard']:.4f}")
    return 0


# --------------------------------------------------------------------------- landmarks


def _add_landmarks(sub) -> None:
    p = sub.add_parser(
        "landmarks",
        help="5-point landmark error (inter-ocular normalised): O-Net on the annotated box, and end to end",
        description="For each face of a list in the Sun et al. format (PATH LEFT RIGHT TOP BOTTOM x1 y1 ... x5 y5), "
        "predicts the 5 points with O-Net on the annotated box and with the full cascade, and reports the mean "
        "error normalised by the inter-ocular distance, per point, the failure rate at 10 % and the CED curve.",
    )
    p.add_argument("--list", type=Path, required=True, help="annotation list, e.g. data/landmarks/testImageList.txt")
    p.add_argument("--images", type=Path, required=True, help="folder the list's paths are relative to")
    p.add_argument("--out", type=Path, default=None, help="run folder for landmarks.json and the CED plot (default runs/landmarks/LABEL)")
    p.add_argument(
        "--match-iou", type=float, default=0.3,
        help="IoU a detection needs with the annotated box to count as found (default 0.3: these boxes are looser than MTCNN's)",
    )
    p.add_argument("--no-end-to-end", action="store_true", help="only O-Net on the annotated boxes (fast)")
    p.add_argument(
        "--reframe", type=int, default=None, metavar="PAD",
        help="measure each face alone, cut out along its annotated box and padded by PAD px of grey "
        "(faces filling a tight photo; e.g. 40)",
    )
    _detection_options(p, DetectConfig(), "everyday MTCNN settings: min face 20, scale 0.709, thresholds 0.6 0.7 0.7")
    p.set_defaults(func=_checked(run_landmarks_cmd))


def run_landmarks_cmd(args) -> int:
    from ..evaluate import landmarks as L

    if args.reframe is not None and args.reframe < 0:
        print(f"error: --reframe must be >= 0, got {args.reframe}", file=sys.stderr)
        return 2
    det, info = _detector(args)
    end_to_end = not args.no_end_to_end
    summary = L.run(args.list, args.images, detector=det, info=info, out=args.out, label=args.label, match_iou=args.match_iou,
                    end_to_end=end_to_end, reframe_pad=args.reframe, progress=not args.no_progress)
    for s in summary["subsets"].values():
        o, e = s["onet_gt"], s["end_to_end"]
        if not o["count"]:
            print(f"{s['display']:>5}: {s['faces']} faces, none readable")
            continue
        line = f"{s['display']:>5}: {s['faces']} faces; O-Net on box NME {o['nme'] * 100:.2f} % (fail@10% {o['failure_rate_10'] * 100:.1f} %)"
        if end_to_end and e["count"]:
            line += f"; end to end NME {e['nme'] * 100:.2f} % on {e['found']} found ({e['found_share'] * 100:.1f} %)"
        print(line)
    return 0


# --------------------------------------------------------------------------- fddb


def _add_fddb(sub) -> None:
    p = sub.add_parser(
        "fddb",
        help="FDDB: detect on the folds (or read a detection file) and compute discrete / continuous ROC",
        description="Reads FDDB-fold-XX.txt and FDDB-fold-XX-ellipseList.txt from --folds, runs detection on "
        "IMAGES/NAME.jpg (writing fold-XX-out.txt in FDDB output format) unless --pred gives detections, and "
        "computes the ROC as the official FDDB evaluation (needs the images for their sizes).",
    )
    p.add_argument("--folds", type=Path, required=True, help="FDDB-folds folder (fold lists and ellipse lists)")
    p.add_argument("--images", type=Path, required=True, help="FDDB image root (originalPics)")
    p.add_argument("--pred", type=Path, nargs="+", default=None, help="existing detection files (FDDB output format): evaluate them, no detection")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/fddb/LABEL)")
    p.add_argument("--jobs", type=int, default=None, help="detection worker processes, one thread each (default: one per CPU)")
    _detection_options(p, DetectConfig(), "everyday MTCNN settings")
    p.set_defaults(func=_checked(run_fddb_cmd))


def run_fddb_cmd(args) -> int:
    from ..evaluate import fddb as F

    det, info = (None, None) if args.pred else _detector(args)
    s = F.run(args.folds, args.images, pred=args.pred, detector=det, info=info, weights=args.weights, threads=args.threads,
              out=args.out, label=args.label, jobs=args.jobs)
    tpr = s["tpr_at_fp"]
    print(f"{s['label']}: TPR at 2000 FP discrete {tpr['disc']['2000']:.4f}, continuous {tpr['cont']['2000']:.4f} ({s['faces']} faces)")
    return 0


# --------------------------------------------------------------------------- stages


def _add_stages(sub) -> None:
    p = sub.add_parser(
        "stages",
        help="where faces are lost: recall after P-Net, R-Net and O-Net on WIDER FACE val",
        description="Runs the cascade over every K-th WIDER val image and reports, per setting (easy / medium / "
        "hard), the share of faces that some box of each stage's output overlaps with IoU >= --iou, and the "
        "boxes per image each stage passes on. A face lost at a stage is lost at every score threshold.",
    )
    p.add_argument("--images", type=Path, required=True, help="WIDER_val/images (one folder per event)")
    p.add_argument("--gt", type=Path, required=True, help="eval_tools/ground_truth folder (wider_face_val.mat, wider_{easy,medium,hard}_val.mat)")
    p.add_argument("--every", type=int, default=20, help="every K-th image of the ground truth's order (default 20: 162 images)")
    p.add_argument("--iou", type=float, default=0.5, help="IoU with a face for a box to keep it (default 0.5, as the WIDER protocol)")
    p.add_argument("--out", type=Path, default=None, help="run folder for stages.json (default runs/stages/LABEL)")
    _detection_options(p, WIDER_EVAL, "the original authors' WIDER settings: min face 10, scale 0.79, thresholds 0.5 0.5 0.3")
    p.set_defaults(func=_checked(run_stages_cmd))


def run_stages_cmd(args) -> int:
    from ..evaluate.stages import recall_table, run

    if args.every < 1:
        raise SystemExit(f"--every must be >= 1, got {args.every}")
    det, info = _detector(args)
    summary = run(args.gt, args.images, detector=det, info=info, out=args.out, label=args.label, every=args.every, iou=args.iou,
                  progress=not args.no_progress)
    print(f"{summary['label']}: {summary['images']} WIDER val images (every {args.every}-th), IoU >= {args.iou}")
    print(recall_table(summary))
    return 0


# --------------------------------------------------------------------------- report


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="markdown results section (docs/results.md + figures) from evaluation summaries",
    )
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="run folders (or summary JSON files)")
    p.add_argument("--out", type=Path, default=Path("docs/results"), help="figure folder (default docs/results); the markdown goes next to it as results.md")
    p.add_argument("--markdown", type=Path, default=None, help="markdown path (default: OUT.md, e.g. docs/results.md)")
    p.add_argument("--notes", type=Path, default=None, help="markdown file appended as a Notes section (e.g. docs/results/notes.md)")
    p.add_argument("--readme", type=Path, default=None, help="also replace the generated results table between the markers in this README")
    p.add_argument(
        "--rename", nargs="+", default=[], metavar="OLD=NEW",
        help="show the run labelled OLD as NEW (a run keeps the label it was measured under; e.g. "
        "'ours-v10 (default)=ours-v10' once another set is the default)",
    )
    p.set_defaults(func=_checked(run_report_cmd))


def run_report_cmd(args) -> int:
    from ..evaluate.report import build_report, rename_runs
    from ..evaluate.runs import find_summaries

    md = args.markdown or args.out.with_suffix(".md")
    notes = args.notes.read_text(encoding="utf-8") if args.notes else None
    from ..evaluate.report import update_readme

    from .options import UsageError

    try:
        summaries = rename_runs(find_summaries(args.runs), args.rename)
    except ValueError as e:
        raise UsageError(str(e)) from None
    path = build_report(summaries, args.out, md, notes)
    print(f"wrote {path}")
    if args.readme:
        link = os.path.relpath(path, args.readme.resolve().parent)
        print(f"updated {update_readme(args.readme, summaries, link)}")
    return 0
