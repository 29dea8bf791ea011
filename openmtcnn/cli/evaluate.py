"""`openmtcnn evaluate ...`: WIDER FACE, landmarks, FDDB with the benchmarks' own protocols, and the results report."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
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


def _slug(label: str) -> str:
    """A label made safe as a folder name for the default run folder."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "run"


def _detector(args):
    from ..evaluate.runs import build_detector

    from .options import UsageError, flag_message

    try:
        det, info = build_detector(args.weights, args.threads, **detection_settings(args))
    except ValueError as e:  # a setting out of range
        raise UsageError(flag_message(str(e))) from None
    label = args.label or info["weights_name"] or "openmtcnn"
    return det, info, label


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
    _detection_options(p, WIDER_EVAL, "the original authors' WIDER settings: min face 10, scale 0.79, thresholds 0.5 0.5 0.3")
    p.set_defaults(func=_checked(run_widerface))


def _select_events(names: list[str], wanted: list[str] | None) -> list[str]:
    if not wanted:
        return names
    if len(wanted) == 1 and wanted[0].isdigit():
        return names[: int(wanted[0])]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise SystemExit(f"error: unknown event(s) {', '.join(unknown)}")
    return [n for n in names if n in wanted]


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _elapsed_total(passes_file: Path) -> float:
    """Elapsed seconds summed over the detection passes logged in ``passes.tsv``."""
    if not passes_file.is_file():
        return 0.0
    total = 0.0
    for line in passes_file.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        try:
            total += float(parts[2])
        except (IndexError, ValueError):
            continue
    return total


def run_widerface(args) -> int:
    from ..evaluate import widerface as W
    from ..evaluate.plots import plot_widerface_pr
    from ..detect.parallel import DetectorSpec
    from ..evaluate.runs import machine_info, now_iso, read_summary, write_json

    if (args.images is None) == (args.pred is None):
        raise SystemExit("error: give exactly one of --images (run detection) or --pred (evaluate a prediction folder)")
    t_start = time.perf_counter()
    gt = W.WiderGroundTruth.load(args.gt) if args.gt else None
    summary: dict = {"benchmark": "widerface", "date": now_iso(), "machine": machine_info()}

    if args.images is not None:
        det, info, label = _detector(args)
        out = args.out or Path("runs") / "widerface" / _slug(label)
        pred_dir = out / "pred"
        images = W.list_event_images(args.images)
        events = _select_events(sorted({ev for ev, _ in images}), args.events)
        images = [(ev, p) for ev, p in images if ev in set(events)]
        print(f"{len(images)} images in {len(events)} events -> {pred_dir}", file=sys.stderr)

        if args.jobs is None:
            from ..detect.parallel import default_jobs

            args.jobs = default_jobs()
        # one process: the detector already loaded; more: each worker builds its own from the same settings
        factory = (lambda: det) if args.jobs <= 1 else DetectorSpec(args.weights, det.config, args.threads)
        signal.signal(signal.SIGTERM, _raise_interrupt)  # a kill stops the pass cleanly and logs it
        stats = W.detect_images(
            factory, images, pred_dir, jobs=args.jobs, times_file=out / "times.tsv", errors_file=out / "errors.txt",
            progress=not args.no_progress, time_limit=args.time_limit * 60 if args.time_limit is not None else None,
        )
        if stats.done:
            with open(out / "passes.tsv", "a", encoding="utf-8") as f:
                f.write(f"{now_iso()}\t{stats.done}\t{stats.seconds:.1f}\tjobs={args.jobs}\tthreads={args.threads}\t{summary['machine']['load_avg_at_start']}\n")
        if stats.interrupted:
            print(f"interrupted after {stats.done} images; rerun the same command to go on", file=sys.stderr)
            return 130
        n_timed, wall, cpu = W.total_time(out / "times.tsv")
        elapsed = _elapsed_total(out / "passes.tsv")
        summary.update(info)
        summary["detection"] = {
            "images": len(images),
            "done_this_run": stats.done,
            "skipped_already_done": stats.skipped,
            "failed": stats.failed,
            "jobs": args.jobs,
            "elapsed_seconds": round(elapsed, 1),
            "timed_images": n_timed,
            "image_seconds_total": round(wall, 1),
            "cpu_seconds_total": round(cpu, 1),
            "cpu_seconds_per_image": round(cpu / n_timed, 4) if n_timed else None,
            "complete": stats.done + stats.skipped + len(stats.failed) >= len(images),
        }
        print(
            f"detection: {stats.done} done, {stats.skipped} already done, {len(stats.failed)} failed; "
            f"elapsed {elapsed / 60:.1f} min over all passes, CPU {cpu / 60:.1f} min over {n_timed} images",
            file=sys.stderr,
        )
    else:
        pred_dir = args.pred
        label = args.label or pred_dir.resolve().name
        out = args.out or pred_dir.parent
        events = None
    summary.update({"label": label, "pred_dir": str(pred_dir)})

    if gt is None:
        print("no --gt: predictions written, AP not computed", file=sys.stderr)
        return 0
    if args.images is not None and not summary["detection"]["complete"] and not args.partial:
        print("detection pass incomplete: rerun to go on, or add --partial to score the images done", file=sys.stderr)
        return 0
    if args.images is not None:
        gt = gt.subset([e for e in gt.events if e in set(events)])
    elif args.events:
        gt = gt.subset(_select_events(gt.events, args.events))
    if args.partial:
        done = {(p.parent.name, p.stem) for p in Path(pred_dir).glob("*/*.txt")}
        full = gt.image_count
        gt = gt.only_images(done)
        print(f"partial: scoring the {gt.image_count} of {full} images that have predictions", file=sys.stderr)
        summary["partial"] = {"images_scored": gt.image_count, "images_in_set": full}
    preds = W.read_predictions(pred_dir, gt)
    if preds.missing:
        print(f"warning: {len(preds.missing)} of {gt.image_count} images have no prediction file (counted as no detection)", file=sys.stderr)
    results = W.evaluate(preds, gt)
    summary.update(
        {
            "gt_dir": str(args.gt),
            "events": len(gt.events),
            "images": gt.image_count,
            "missing_predictions": len(preds.missing),
            "protocol": "official WIDER FACE evaluation: IoU >= 0.5 (+1 pixel boxes), score order, ignored faces, "
            "scores normalised over all predictions, 1000 thresholds, VOC precision envelope",
            **W.results_to_dict(results),
            "wall_seconds": round(time.perf_counter() - t_start, 1),
        }
    )
    json_path = write_json(out / "widerface.json", summary)
    runs = [summary] + [read_summary(c) for c in args.compare]
    png = plot_widerface_pr(runs, out / "widerface_pr.png")
    print(f"{label}: AP easy {results['easy'].ap:.4f}  medium {results['medium'].ap:.4f}  hard {results['hard'].ap:.4f}")
    print(f"summary {json_path}, PR curves {png}", file=sys.stderr)
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
    from ..evaluate.plots import plot_ced
    from ..evaluate.runs import machine_info, now_iso, write_json

    t0 = time.perf_counter()
    faces = L.read_landmark_list(args.list)
    det, info, label = _detector(args)
    if args.reframe is not None:
        if args.reframe < 0:
            print(f"error: --reframe must be >= 0, got {args.reframe}", file=sys.stderr)
            return 2
        label += f", reframed {args.reframe} px"
    out = args.out or Path("runs") / "landmarks" / _slug(label)
    print(f"{len(faces)} faces from {args.list}", file=sys.stderr)
    run = L.run_landmarks(faces, args.images, det, end_to_end=not args.no_end_to_end, progress=not args.no_progress,
                          reframe_pad=args.reframe)
    res = L.summarise(run, args.match_iou)
    summary = {
        "benchmark": "landmarks",
        "label": label,
        "date": now_iso(),
        "machine": machine_info(),
        **info,
        "list": str(args.list),
        "faces": len(faces),
        "end_to_end": not args.no_end_to_end,
        "reframe_pad": args.reframe,
        "protocol": "mean point-to-point error / distance between the annotated eye centres; failure: error > 10 %",
        **res,
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    json_path = write_json(out / "landmarks.json", summary)
    curves = []
    for name, kinds in res["ced"].items():
        s = res["subsets"][name]
        if not s["onet_gt"]["count"]:
            continue
        curves.append((f"O-Net on box, {s['display']} ({s['onet_gt']['nme'] * 100:.2f} %)", kinds["onet_gt"]["x"], kinds["onet_gt"]["y"]))
        if not args.no_end_to_end and s["end_to_end"]["count"]:
            e = s["end_to_end"]
            curves.append((f"end to end, {s['display']} ({e['nme'] * 100:.2f} %, found {e['found_share'] * 100:.1f} %)", kinds["end_to_end"]["x"], kinds["end_to_end"]["y"]))
    png = plot_ced(curves, out / "landmarks_ced.png", title=f"Landmarks: {label}")
    for name, s in res["subsets"].items():
        o, e = s["onet_gt"], s["end_to_end"]
        if not o["count"]:
            print(f"{s['display']:>5}: {s['faces']} faces, none readable")
            continue
        line = f"{s['display']:>5}: {s['faces']} faces; O-Net on box NME {o['nme'] * 100:.2f} % (fail@10% {o['failure_rate_10'] * 100:.1f} %)"
        if not args.no_end_to_end and e["count"]:
            line += f"; end to end NME {e['nme'] * 100:.2f} % on {e['found']} found ({e['found_share'] * 100:.1f} %)"
        print(line)
    print(f"summary {json_path}, CED {png}", file=sys.stderr)
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
    _detection_options(p, DetectConfig(), "everyday MTCNN settings")
    p.set_defaults(func=_checked(run_fddb_cmd))


def run_fddb_cmd(args) -> int:
    from ..evaluate import fddb as F
    from ..imaging import image_size
    from ..evaluate.formats import detections_xywhs
    from ..evaluate.plots import plot_roc
    from ..evaluate.runs import machine_info, now_iso, write_json
    from ..imaging import ImageError, load_image

    t0 = time.perf_counter()
    annotations: dict = {}
    folds = []
    for k in F.FOLDS:
        ell = args.folds / f"FDDB-fold-{k}-ellipseList.txt"
        if ell.is_file():
            annotations.update(F.read_ellipses(ell))
            folds.append(k)
    if not annotations:
        raise SystemExit(f"error: no FDDB-fold-XX-ellipseList.txt in {args.folds}")
    summary: dict = {"benchmark": "fddb", "date": now_iso(), "machine": machine_info(), "folds": folds}
    failed = []
    if args.pred:
        label = args.label or args.pred[0].stem
        out = args.out or Path("runs") / "fddb" / _slug(label)
        detections: dict = {}
        for f in args.pred:
            detections.update(F.read_detections(f))
    else:
        det, info, label = _detector(args)
        summary.update(info)
        out = args.out or Path("runs") / "fddb" / _slug(label)
        detections = {}
        for k in folds:
            names = F.read_fold(args.folds / f"FDDB-fold-{k}.txt")
            rows = []
            for name in names:
                try:
                    rgb = load_image(args.images / f"{name}.jpg")
                except ImageError as e:
                    failed.append(str(e))
                    print(f"skipped: {e}", file=sys.stderr)
                    continue
                r = det.detect_rgb(rgb)
                detections[name] = detections_xywhs(r.boxes, r.scores)
                rows.append((name, detections[name]))
            F.write_detections(out / f"fold-{k}-out.txt", rows)
    sizes = {}
    for name in annotations:
        try:
            sizes[name] = image_size(args.images / f"{name}.jpg")
        except ImageError as e:
            failed.append(str(e))
    missing = [n for n in annotations if n not in sizes]
    if missing:
        print(f"warning: {len(missing)} annotated images unreadable, left out of the ROC", file=sys.stderr)
    roc = F.evaluate({n: a for n, a in annotations.items() if n in sizes}, detections, sizes)
    out.mkdir(parents=True, exist_ok=True)
    roc.save_official(out / "fddb_")
    summary.update({"label": label, "images": len(sizes), "failed": failed, **roc.to_dict(), "wall_seconds": round(time.perf_counter() - t0, 1)})
    write_json(out / "fddb.json", summary)
    plot_roc([(f"{label} discrete", roc.fp, roc.tpr_disc), (f"{label} continuous", roc.fp, roc.tpr_cont)], out / "fddb_roc.png")
    print(f"{label}: TPR at 2000 FP discrete {roc.tpr_at(2000):.4f}, continuous {roc.tpr_at(2000, 'cont'):.4f} ({roc.faces} faces)")
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
    from ..evaluate.runs import machine_info, now_iso, write_json
    from ..evaluate.stages import recall_table, stage_recall
    from ..datasets.wider import WiderGroundTruth

    if args.every < 1:
        raise SystemExit(f"--every must be >= 1, got {args.every}")
    t0 = time.perf_counter()
    gt = WiderGroundTruth.load(args.gt)
    det, info, label = _detector(args)
    res = stage_recall(gt, args.images, det.backend, det.config, every=args.every, iou=args.iou, progress=not args.no_progress)
    for msg in res["unreadable"]:
        print(f"skipped: {msg}", file=sys.stderr)
    out = args.out or Path("runs") / "stages" / _slug(label)
    summary = {"benchmark": "stages", "label": label, "date": now_iso(), "machine": machine_info(), **info, **res,
               "wall_seconds": round(time.perf_counter() - t0, 1)}
    path = write_json(out / "stages.json", summary)
    print(f"{label}: {res['images']} WIDER val images (every {args.every}-th), IoU >= {args.iou}")
    print(recall_table(res))
    print(f"summary {path}", file=sys.stderr)
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
    p.set_defaults(func=_checked(run_report_cmd))


def run_report_cmd(args) -> int:
    from ..evaluate.report import build_report
    from ..evaluate.runs import find_summaries

    md = args.markdown or args.out.with_suffix(".md")
    notes = args.notes.read_text(encoding="utf-8") if args.notes else None
    from ..evaluate.report import update_readme

    summaries = find_summaries(args.runs)
    path = build_report(summaries, args.out, md, notes)
    print(f"wrote {path}")
    if args.readme:
        link = os.path.relpath(path, args.readme.resolve().parent)
        print(f"updated {update_readme(args.readme, summaries, link)}")
    return 0
