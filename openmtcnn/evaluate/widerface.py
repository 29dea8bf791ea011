"""WIDER FACE validation runs: a resumable detection pass writing submission files, and a whole evaluation
(detect and/or score, summary, PR plot) in :func:`run`.

The AP itself, exactly as the official evaluation computes it, is in :mod:`.widerface_ap`; its names are
importable from here too.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..detect.parallel import detect_file, worker_map
from ..imaging import is_image_path
from .formats import detections_xywhs
from .runs import default_out, detector_factory, log_stderr, run_label
from .widerface_ap import (  # noqa: F401  (the evaluation's names, importable from here)
    GT_FILES,
    IOU_THRESHOLD,
    SETTINGS,
    THRESH_NUM,
    GroundTruthError,
    Predictions,
    SettingResult,
    WiderGroundTruth,
    evaluate,
    image_eval,
    image_pr_info,
    normalise_scores,
    predicted_images,
    prediction_path,
    read_prediction,
    read_predictions,
    results_to_dict,
    sort_by_score,
    thresholds,
    voc_ap,
    wider_iou,
    write_prediction,
)

#: how the summary describes the protocol
PROTOCOL = ("official WIDER FACE evaluation: IoU >= 0.5 (+1 pixel boxes), score order, ignored faces, "
            "scores normalised over all predictions, 1000 thresholds, VOC precision envelope")


# --------------------------------------------------------------------------- the detection pass


def list_event_images(images_dir: str | os.PathLike) -> list[tuple[str, Path]]:
    """``(event, image path)`` for every image in ``IMAGES/EVENT/``, sorted."""
    d = Path(images_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: image folder not found (expected WIDER_val/images with one folder per event)")
    out = []
    for ev in sorted(p for p in d.iterdir() if p.is_dir()):
        out.extend((ev.name, f) for f in sorted(ev.iterdir()) if f.is_file() and is_image_path(f))
    if not out:
        raise FileNotFoundError(f"{d}: no images found in event subfolders")
    return out


def shuffled(images: Sequence[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """The images in the evaluation's one fixed shuffled order (seed 0): the order a detection pass takes, so an
    interrupted pass has done a uniform sample, and the first N are :func:`sample_images`' fixed spread."""
    return [images[k] for k in np.random.default_rng(0).permutation(len(images))]


def sample_images(images: Sequence[tuple[str, Path]], n: int) -> list[tuple[str, Path]]:
    """A fixed spread of ``n`` of ``images`` (the first ``n`` of :func:`shuffled`; every event in proportion, on
    average): the same images for every run over the same list, so that runs on a sample compare row by row."""
    if n < 1:
        raise ValueError(f"sample size must be >= 1, got {n}")
    return sorted(shuffled(images)[:n]) if n < len(images) else list(images)


@dataclass
class RunStats:
    """What a detection pass did: images done now, skipped (already done), failed, and its elapsed time."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    time_limit_hit: bool = False


def _detect_write(detector: Any, item: tuple[str, Path, str]) -> tuple[str, str, float, float, str]:
    """Detect one image and write its submission file -> ``(event, name, wall s, cpu s, "WxH" or "error: ...")``."""
    ev, path, pred_dir = item
    r = detect_file(detector, str(path))
    if r.result is None:
        return ev, path.stem, 0.0, 0.0, f"error: {r.error}"
    write_prediction(pred_dir, ev, path.stem, detections_xywhs(r.result.boxes, r.result.scores))
    w, h = r.result.image_size
    return ev, path.stem, r.seconds, r.cpu_seconds, f"{w}x{h}"


def _write_failed(item: tuple[str, Path, str], message: str) -> tuple[str, str, float, float, str]:
    """An image whose worker died on it (killed, out of memory): reported like an unreadable one."""
    ev, path, _ = item
    return ev, path.stem, 0.0, 0.0, f"error: {path}: {message}"


def detect_images(
    factory: Callable[[], Any],
    images: Sequence[tuple[str, Path]],
    pred_dir: str | os.PathLike,
    *,
    jobs: int = 1,
    times_file: str | os.PathLike | None = None,
    errors_file: str | os.PathLike | None = None,
    progress: bool = True,
    time_limit: float | None = None,
) -> RunStats:
    """Write every image's submission file, with ``factory()`` giving a detector (``detect_rgb(rgb, source=)``
    returning a :class:`~openmtcnn.detect.DetectResult`, e.g. :class:`~openmtcnn.detect.parallel.DetectorSpec`).

    Images go in a fixed shuffled order, so that a run stopped early has done
    a uniform sample. Resumable: an image whose file exists is skipped (files appear atomically,
    so a killed run leaves none half-written). An unreadable image is
    reported, listed in ``errors_file`` and skipped. ``jobs`` > 1 runs that many
    worker processes, each with its own detector (``factory`` must pickle).
    Per image, wall and CPU seconds are appended to ``times_file`` so that
    totals survive restarts. Ctrl-C (or SIGTERM through the CLI) stops the
    pass cleanly: ``stats.interrupted`` is set and the work done is kept.
    ``time_limit`` (seconds) stops the pass likewise once exceeded
    (``stats.time_limit_hit``); images in flight then are simply not written.
    """
    from tqdm import tqdm

    stats = RunStats(total=len(images))
    # a fixed shuffle of the whole list: the images an interrupted run has done are a uniform sample
    # of the set (see ``--partial``), and the same images for every run over the same list
    order = shuffled(images)
    todo = [(ev, p) for ev, p in order if not prediction_path(pred_dir, ev, p.stem).is_file()]
    stats.skipped = len(images) - len(todo)
    Path(pred_dir).mkdir(parents=True, exist_ok=True)
    for f in (times_file, errors_file):
        if f:
            Path(f).parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    bar = tqdm(total=len(images), initial=stats.skipped, disable=not progress, unit="img", desc="detect", dynamic_ncols=True)
    tf = open(times_file, "a", encoding="utf-8") if times_file else None
    results = worker_map(factory, _detect_write, [(ev, p, str(pred_dir)) for ev, p in todo], jobs if len(todo) > 1 else 1, ordered=False, on_error=_write_failed)
    try:
        for ev, name, wall, cpu, info in results:
            if time_limit is not None and time.perf_counter() - t_start > time_limit:
                stats.time_limit_hit = True
            if info.startswith("error: "):
                msg = info[len("error: "):]
                stats.failed.append(msg)
                bar.write(f"skipped: {msg}")
                if errors_file:
                    with open(errors_file, "a", encoding="utf-8") as ef:
                        ef.write(msg + "\n")
            else:
                stats.done += 1
                if tf:
                    tf.write(f"{ev}/{name}\t{wall:.4f}\t{cpu:.4f}\t{info}\n")
                    tf.flush()
            bar.update(1)
            if stats.time_limit_hit:
                break
    except KeyboardInterrupt:
        stats.interrupted = True  # the files written so far stay; a rerun goes on from there
    finally:
        results.close()  # stops the workers
        bar.close()
        if tf:
            tf.close()
    stats.seconds = time.perf_counter() - t_start
    return stats


def total_time(times_file: str | os.PathLike) -> tuple[int, float, float]:
    """``(images, wall seconds, CPU seconds)`` summed over a times file (the last entry per image wins)."""
    p = Path(times_file)
    if not p.is_file():
        return 0, 0.0, 0.0
    per: dict[str, tuple[float, float]] = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        try:
            per[parts[0]] = (float(parts[1]), float(parts[2]))
        except (IndexError, ValueError):
            continue
    return len(per), float(sum(v[0] for v in per.values())), float(sum(v[1] for v in per.values()))


# --------------------------------------------------------------------------- a whole run


class UnknownEvent(ValueError):
    """An event asked for that the images or the ground truth do not have."""


def select_events(names: list[str], wanted: list[str] | None) -> list[str]:
    """``wanted`` event names (all when empty; one number ``N``: the first ``N``) in ``names``' order."""
    if not wanted:
        return names
    if len(wanted) == 1 and wanted[0].isdigit():
        return names[: int(wanted[0])]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise UnknownEvent(f"unknown event(s) {', '.join(unknown)}")
    return [n for n in names if n in wanted]


def elapsed_total(passes_file: str | os.PathLike) -> float:
    """Elapsed seconds summed over the detection passes logged in ``passes.tsv``."""
    p = Path(passes_file)
    if not p.is_file():
        return 0.0
    total = 0.0
    for line in p.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        try:
            total += float(parts[2])
        except (IndexError, ValueError):
            continue
    return total


def run(
    *,
    images: str | os.PathLike | None = None,
    pred: str | os.PathLike | None = None,
    gt: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    detector: Any = None,
    info: dict[str, Any] | None = None,
    weights: str | None = None,
    threads: int | None = 1,
    label: str | None = None,
    events: list[str] | None = None,
    compare: Sequence[str | os.PathLike] = (),
    jobs: int | None = None,
    time_limit: float | None = None,
    partial: bool = False,
    sample: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = log_stderr,
) -> dict[str, Any]:
    """One WIDER FACE evaluation: detect over ``images`` (resumable) or take the prediction folder ``pred``,
    then score with the ground truth folder ``gt``; returns the summary.

    Detection: ``detector`` and its description ``info`` (:func:`~openmtcnn.evaluate.runs.build_detector`)
    write ``OUT/pred/EVENT/NAME.txt``; ``jobs`` > 1 (default: one per CPU) runs worker processes that build
    ``DetectorSpec(weights, detector.config, threads)``. Each pass is logged in ``OUT/passes.tsv``, per-image
    times in ``OUT/times.tsv``, unreadable images in ``OUT/errors.txt``. A pass stopped by Ctrl-C
    (``KeyboardInterrupt``) keeps its files and raises it again; rerun to go on. ``time_limit`` in seconds.

    Scoring (with ``gt``, once detection is complete or with ``partial``: only the images that have a
    prediction file) writes ``OUT/widerface.json`` (the summary, with ``ap``) and ``OUT/widerface_pr.png``
    (with the ``compare`` runs' curves). Without ``gt``, or with an incomplete pass, nothing is scored and the
    summary has no ``ap``. ``events``: names, or one number N = the first N (:func:`select_events`).
    ``OUT`` defaults to ``runs/widerface/LABEL``. ``sample``: detect and score only a fixed spread of that many
    images (:func:`sample_images`; needs ``images``), the same images for every run; the summary says so
    (``sample``).
    """
    from ..detect.parallel import default_jobs
    from .plots import plot_widerface_pr
    from .runs import machine_info, now_iso, read_summary, write_json

    if (images is None) == (pred is None):
        raise ValueError("give exactly one of images (run detection) or pred (evaluate a prediction folder)")
    if sample is not None and images is None:
        raise ValueError("a sample (a fixed spread of the images) needs the images folder, not a prediction folder")
    t_start = time.perf_counter()
    truth = WiderGroundTruth.load(gt) if gt else None
    summary: dict = {"benchmark": "widerface", "date": now_iso(), "machine": machine_info()}

    if images is not None:
        if detector is None:
            raise ValueError("detection needs a detector (evaluate.runs.build_detector)")
        info = info or {}
        label = run_label(label, info)
        out = Path(out) if out else default_out("widerface", label)
        pred_dir = out / "pred"
        listed = list_event_images(images)
        chosen = select_events(sorted({ev for ev, _ in listed}), events)
        listed = [(ev, p) for ev, p in listed if ev in set(chosen)]
        if sample is not None:
            summary["sample"] = {"images": min(sample, len(listed)), "of": len(listed),
                                 "how": "the first N of the evaluation's fixed shuffle (seed 0)"}
            listed = sample_images(listed, sample)
        log(f"{len(listed)} images in {len(chosen)} events -> {pred_dir}")
        jobs = default_jobs() if jobs is None else jobs
        factory = detector_factory(detector, weights, threads, jobs)
        stats = detect_images(
            factory, listed, pred_dir, jobs=jobs, times_file=out / "times.tsv", errors_file=out / "errors.txt",
            progress=progress, time_limit=time_limit,
        )
        if stats.done:
            with open(out / "passes.tsv", "a", encoding="utf-8") as f:
                f.write(f"{now_iso()}\t{stats.done}\t{stats.seconds:.1f}\tjobs={jobs}\tthreads={threads}\t{summary['machine']['load_avg_at_start']}\n")
        if stats.interrupted:
            log(f"interrupted after {stats.done} images; rerun the same command to go on")
            raise KeyboardInterrupt
        n_timed, wall, cpu = total_time(out / "times.tsv")
        elapsed = elapsed_total(out / "passes.tsv")
        summary.update(info)
        summary["detection"] = {
            "images": len(listed),
            "done_this_run": stats.done,
            "skipped_already_done": stats.skipped,
            "failed": stats.failed,
            "jobs": jobs,
            "elapsed_seconds": round(elapsed, 1),
            "timed_images": n_timed,
            "image_seconds_total": round(wall, 1),
            "cpu_seconds_total": round(cpu, 1),
            "cpu_seconds_per_image": round(cpu / n_timed, 4) if n_timed else None,
            "complete": stats.done + stats.skipped + len(stats.failed) >= len(listed),
        }
        log(f"detection: {stats.done} done, {stats.skipped} already done, {len(stats.failed)} failed; "
            f"elapsed {elapsed / 60:.1f} min over all passes, CPU {cpu / 60:.1f} min over {n_timed} images")
    else:
        pred_dir = Path(pred)
        label = label or pred_dir.resolve().name
        out = Path(out) if out else pred_dir.parent
        chosen = None
    summary.update({"label": label, "pred_dir": str(pred_dir)})

    if truth is None:
        log("no ground truth: predictions written, AP not computed")
        return summary
    if images is not None and not summary["detection"]["complete"] and not partial:
        log("detection pass incomplete: rerun to go on, or add --partial to score the images done")
        return summary
    if chosen is not None:
        truth = truth.subset([e for e in truth.events if e in set(chosen)])
    elif events:
        truth = truth.subset(select_events(truth.events, events))
    if sample is not None:
        truth = truth.only_images({(ev, p.stem) for ev, p in listed})
        log(f"sample: scoring the {truth.image_count} images of the fixed spread")
    if partial:
        done = predicted_images(pred_dir)
        full = truth.image_count
        truth = truth.only_images(done)
        log(f"partial: scoring the {truth.image_count} of {full} images that have predictions")
        summary["partial"] = {"images_scored": truth.image_count, "images_in_set": full}
    preds = read_predictions(pred_dir, truth)
    if preds.missing:
        log(f"warning: {len(preds.missing)} of {truth.image_count} images have no prediction file (counted as no detection)")
    results = evaluate(preds, truth)
    summary.update(
        {
            "gt_dir": str(gt),
            "events": len(truth.events),
            "images": truth.image_count,
            "missing_predictions": len(preds.missing),
            "protocol": PROTOCOL,
            **results_to_dict(results),
            "wall_seconds": round(time.perf_counter() - t_start, 1),
        }
    )
    json_path = write_json(out / "widerface.json", summary)
    png = plot_widerface_pr([summary] + [read_summary(c) for c in compare], out / "widerface_pr.png")
    log(f"summary {json_path}, PR curves {png}")
    return summary
