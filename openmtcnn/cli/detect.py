"""`openmtcnn detect`: faces in images, folders, videos, cameras and streams -> JSON Lines (+ drawings, aligned crops)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

EPILOG = """\
output: one JSON line per image (or video frame): {"source", ["frame", "time",] "width", "height",
"faces": [{"box": [x1, y1, x2, y2], "score", "landmarks": {"left_eye": [x, y], ...}}]};
an input that fails gives {"source", "error"} and is skipped; so does a folder without images.
--resume (with --output): a run that was killed goes on where it stopped: the complete lines are
kept, a torn last line is dropped, inputs already answered are skipped, the rest is appended.
output files mirror the inputs' paths below their common folder: --draw DIR/<path>, --crops
DIR/<path without suffix>_<face>.png (videos: DIR/<path>/<frame>_<face>.png).
exit status: 0 all inputs processed, 1 some inputs failed, 2 usage error (bad path, missing weights).
progress bar: on stderr, shown when stderr is a terminal and the JSON goes to a file or pipe.

examples:
  openmtcnn detect photo.jpg
  openmtcnn detect photos/ --output faces.jsonl --draw drawn/ --crops crops/ --weights weights/original
  openmtcnn detect photos/ --output faces.jsonl --resume     # after an interruption: finish the run
  openmtcnn detect clip.mp4 --every 5 --draw drawn/
  openmtcnn detect --camera 0 --max-frames 100
"""


def add_parser(subparsers: Any) -> None:
    from ..config import DetectConfig
    from .options import add_detection_options

    defaults = DetectConfig()
    p = subparsers.add_parser(
        "detect",
        help="detect faces in images, folders, videos, cameras or streams",
        description="Detect faces and their 5 landmarks; write JSON Lines, and optionally drawn images and aligned crops.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="image files; folders (searched recursively for image files, hidden ones skipped); "
        "video files (.mp4 .avi .mov .mkv .webm); stream URLs (rtsp://, http://...)",
    )
    p.add_argument("--camera", type=int, metavar="N", help="also read camera N (cv2.VideoCapture index)")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="FILE", help="write the JSON lines to FILE (default: stdout)")
    out.add_argument("--resume", action="store_true",
                     help="keep the answered inputs of an earlier run's --output FILE and append the others (default: start FILE afresh)")
    out.add_argument("--draw", metavar="DIR", help="write images (videos) with boxes, scores and landmarks drawn, under DIR")
    out.add_argument("--crops", metavar="DIR", help="write aligned face crops (PNG) under DIR")
    out.add_argument("--crop-size", type=int, default=112, metavar="PX", help="side of the aligned crops (default 112)")
    out.add_argument(
        "--crop-margin", type=float, default=0.0, metavar="F", help="context around the face, fraction of the crop on each side (default 0)"
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary (errors are still reported)")
    add_detection_options(
        p, defaults, "detection", threads_default=None,
        threads_help="CPU threads of the detector for one image, videos and streams: P-Net levels and R-/O-Net chunks "
        "in parallel (default: all CPUs); in the worker processes for many images (--jobs) default 1",
    )
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="worker processes for images, each running whole images on one core (default: one per CPU when there are several images)")
    vid = p.add_argument_group("videos, cameras and streams")
    vid.add_argument("--every", type=int, default=1, metavar="N", help="process every N-th frame (default 1: all)")
    vid.add_argument("--max-frames", type=int, metavar="N", help="stop each video / camera / stream after N processed frames")
    p.set_defaults(func=run)


def _check_flags(args: argparse.Namespace) -> None:
    """Raise :class:`UsageError` for the first bad flag value, naming the flag."""
    from .options import UsageError, check_minimums

    if not args.paths and args.camera is None:
        raise UsageError("give at least one PATH (image, folder, video or stream URL) or --camera N")
    check_minimums(args, {"every": 1, "max_frames": 1, "jobs": 1, "crop_size": 8})
    if not 0 <= args.crop_margin < 0.5:
        raise UsageError(f"--crop-margin must be in [0, 0.5), got {args.crop_margin}")
    if args.resume and not args.output:
        raise UsageError("--resume needs --output FILE (the results file to go on with)")


def show_progress(quiet: bool) -> bool:
    """The progress bar goes to stderr, and only where it helps: stderr is a terminal and the JSON
    lines do not go to that same terminal (a bar redrawn between them would garble them)."""
    return not quiet and sys.stderr.isatty() and not sys.stdout.isatty()


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..detect import Detector
    from ..detect.parallel import WorkerError, default_jobs
    from ..io import InputError, JsonlWriter, OutputError, OutputFolders, collect_inputs
    from ..io.runner import DetectRun
    from ..video import quiet_video_backends
    from ..weights import WeightsError, resolve_weights
    from .options import UsageError, detection_config

    _check_flags(args)
    try:  # everything a run needs is checked before any detection
        outputs = OutputFolders(args.draw, args.crops, args.crop_size, args.crop_margin)
        inputs = collect_inputs(args.paths, args.camera)
        config = detection_config(args)  # a missing or unknown weight set is a usage error too
        weights = str(resolve_weights(args.weights))
        writer = JsonlWriter(args.output, resume=args.resume)
    except (InputError, OutputError, WeightsError) as e:
        raise UsageError(str(e)) from None
    quiet_video_backends()

    def error(msg: str) -> None:
        tqdm.write(f"openmtcnn detect: {msg}", file=sys.stderr)

    n_images = len(inputs.images)
    jobs = args.jobs if args.jobs is not None else (default_jobs() if n_images > 1 else 1)
    threads = args.threads if args.threads is not None else default_jobs()  # one detector here: videos, or images with one job
    t0 = time.perf_counter()
    with writer, tqdm(total=n_images or None, unit="img", file=sys.stderr, disable=not show_progress(args.quiet), dynamic_ncols=True) as bar:
        run = DetectRun(
            writer, outputs, weights=weights, config=config, detector_factory=lambda: Detector(weights, config, threads=threads),
            jobs=jobs, threads=args.threads or 1, every=args.every, max_frames=args.max_frames, on_error=error,
            progress=lambda kind: bar.update(),
        )  # fmt: skip
        if writer.dropped_bytes:
            error(f"{args.output}: dropped a torn last line ({writer.dropped_bytes} bytes) of the interrupted run")
        skipped = len(inputs.items) - len(run.todo(inputs.items))
        earlier_failed = sum("error" in r for r in writer.records)  # inputs of a resumed run that had failed before
        bar.update(sum(it.kind == "image" and it.name in run.done for it in inputs.items))
        for name, msg in inputs.empty_folders:
            if name not in run.done:
                run.fail(name, msg)
        try:
            counts = run.run(inputs.items)
        except WorkerError as e:
            raise UsageError(f"cannot start the detector in the worker processes: {e}") from None
    elapsed = time.perf_counter() - t0
    if not args.quiet:
        parts = []
        if n_images or not counts.frames:
            parts.append(f"{counts.images} image{'s' * (counts.images != 1)}")
        if n_images < len(inputs.items):
            parts.append(f"{counts.frames} video frame{'s' * (counts.frames != 1)}")
        parts += [f"{counts.faces} face{'s' * (counts.faces != 1)}", f"{counts.failed} failed"]
        done = counts.images + counts.frames
        rate = done / elapsed if elapsed > 0 else 0.0
        msg = f"openmtcnn detect: {', '.join(parts)}; {elapsed:.1f} s, {rate:.1f} {'images' if not counts.frames else 'frames'}/s"
        if args.resume:
            msg += f"; {skipped} input{'s' * (skipped != 1)} answered before (--resume), {earlier_failed} of them failed"
        if inputs.ignored:
            msg += f"; ignored {inputs.ignored} non-image file{'s' * (inputs.ignored != 1)} in folders"
        print(msg, file=sys.stderr)
    return 1 if counts.failed or earlier_failed else 0
