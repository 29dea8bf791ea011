"""`openmtcnn detect`: faces in images, folders, videos, cameras and streams -> JSON Lines (+ drawings, aligned crops)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, TextIO

import numpy as np

EPILOG = """\
output: one JSON line per image (or video frame): {"source", ["frame", "time",] "width", "height",
"faces": [{"box": [x1, y1, x2, y2], "score", "landmarks": {"left_eye": [x, y], ...}}]};
an input that fails gives {"source", "error"} and is skipped.
output files mirror the inputs' paths below their common folder: --draw DIR/<path>, --crops
DIR/<path without suffix>_<face>.png (videos: DIR/<path>/<frame>_<face>.png).
exit status: 0 all inputs processed, 1 some inputs failed, 2 usage error (bad path, missing weights).

examples:
  openmtcnn detect photo.jpg
  openmtcnn detect photos/ --output faces.jsonl --draw drawn/ --crops crops/ --weights weights/original
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


class UsageError(Exception):
    """Bad arguments: reported and exit status 2."""


@dataclass
class Item:
    """One input: ``kind`` is "image", "video" or "stream" (a URL or camera); ``source`` is what is
    opened (the path as given, URL, camera index), ``name`` how it is reported, ``rel`` its output path."""

    kind: str
    source: str | int
    name: str
    rel: Path


def collect_inputs(paths: list[str], camera: int | None) -> tuple[list[Item], int]:
    """Expand the arguments into items (folders recursively) with collision-free output paths; also count ignored files."""
    from ..imaging import is_image_path
    from ..video import is_stream_url, is_video_path

    found: list[tuple[str, str, str]] = []  # (kind, shown name, absolute path); streams keep their URL
    roots: list[str] = []
    ignored = 0
    for arg in paths:
        if is_stream_url(arg):
            found.append(("stream", arg, ""))
            continue
        p = Path(arg)
        if not p.exists():
            raise UsageError(f"{arg}: no such file or folder")
        if p.is_dir():
            roots.append(os.path.abspath(p))
            for f in sorted(p.rglob("*")):
                rel_parts = f.relative_to(p).parts
                if not f.is_file() or any(s.startswith(".") for s in rel_parts):
                    continue
                if is_image_path(f):
                    found.append(("image", str(f), os.path.abspath(f)))
                else:
                    ignored += 1
        else:
            roots.append(os.path.dirname(os.path.abspath(p)))
            found.append(("video" if is_video_path(p) else "image", arg, os.path.abspath(p)))
    root = os.path.commonpath(roots) if roots else os.getcwd()

    items: list[Item] = []
    seen: set[str] = set()
    for kind, name, ap in found:
        key = ap or name
        if key in seen:
            continue
        seen.add(key)
        if kind == "stream":
            rel = Path("stream_" + re.sub(r"[^A-Za-z0-9._-]+", "_", name.split("://", 1)[1]).strip("_")[:80])
            items.append(Item("stream", name, name, rel))
        else:
            items.append(Item(kind, name, name, Path(os.path.relpath(ap, root))))
    if camera is not None:
        items.append(Item("stream", camera, f"camera:{camera}", Path(f"camera{camera}")))
    return items, ignored


def crop_stems(items: list[Item]) -> dict[str, Path]:
    """Per image, the stem of its crop files: its relative path without suffix, or with the
    suffix folded in (``a_jpg``) where two images would share one (``a.jpg``, ``a.png``)."""
    images = [it for it in items if it.kind == "image"]
    counts = Counter(it.rel.with_suffix("") for it in images)
    return {
        it.name: it.rel.with_suffix("") if counts[it.rel.with_suffix("")] == 1 else it.rel.with_name(it.rel.name.replace(".", "_"))
        for it in images
    }


WRITABLE = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def save_image(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB array; suffixes PIL writes badly or not at all (.gif, none) get ``.png`` appended."""
    from PIL import Image

    if path.suffix.lower() not in WRITABLE:
        path = path.with_name(path.name + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **({"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}))


class Run:
    """State of one `openmtcnn detect` run: the detector, the sinks, the counters."""

    def __init__(self, args: argparse.Namespace, detector: Any, out: TextIO):
        self.args, self.detector, self.out = args, detector, out
        self.draw_dir = Path(args.draw) if args.draw else None
        self.crop_dir = Path(args.crops) if args.crops else None
        self.images = self.frames = self.faces = self.failed = 0

    def emit(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def fail(self, name: str, message: str) -> None:
        """Report an input that could not be processed: stderr and a JSON line with "error"."""
        from tqdm import tqdm

        self.failed += 1
        tqdm.write(f"openmtcnn detect: {message}", file=sys.stderr)
        self.emit({"source": name, "error": message})

    def crops(self, rgb: np.ndarray, result: Any) -> np.ndarray:
        from ..align import align

        return align(rgb, result.landmarks, size=self.args.crop_size, margin=self.args.crop_margin)

    def image(self, item: Item, rgb: np.ndarray | None, res: Any, crop_stem: Path) -> None:
        """Write one image's outputs (``rgb`` is needed for --draw and --crops only)."""
        from ..draw import draw

        if self.draw_dir is not None:
            save_image(self.draw_dir / item.rel, draw(rgb, res))
        if self.crop_dir is not None:
            for i, c in enumerate(self.crops(rgb, res)):
                save_image(self.crop_dir / crop_stem.parent / f"{crop_stem.name}_{i}.png", c)
        self.emit(res.to_dict())
        self.images += 1
        self.faces += len(res)

    def video(self, item: Item) -> None:
        """All (every N-th) frames of a video file, camera or stream; its own progress bar."""
        import cv2
        from tqdm import tqdm

        from ..draw import draw
        from ..video import detect_video, open_capture, video_info

        cap = open_capture(item.source)
        writer = None
        try:
            fps, count = video_info(cap)
            every, cap_n = self.args.every, self.args.max_frames
            total = (count + every - 1) // every if count else None
            if total is not None and cap_n is not None:
                total = min(total, cap_n)
            n = 0
            with tqdm(total=total, unit="frame", desc=item.name, file=sys.stderr, leave=False, disable=self.args.quiet, dynamic_ncols=True) as bar:
                for fr in detect_video(self.detector, cap, every, max_frames=cap_n, name=item.name, live=item.kind == "stream"):
                    if self.draw_dir is not None:
                        frame = cv2.cvtColor(draw(fr.frame, fr.result), cv2.COLOR_RGB2BGR)
                        if writer is None:
                            writer = open_writer(self.draw_dir / item.rel, fps / every if fps else 25.0, frame.shape[1], frame.shape[0])
                        writer.write(frame)
                    if self.crop_dir is not None:
                        for i, c in enumerate(self.crops(fr.frame, fr.result)):
                            save_image(self.crop_dir / item.rel / f"{fr.index:06d}_{i}.png", c)
                    self.emit(fr.to_dict())
                    self.frames += 1
                    self.faces += len(fr.result)
                    n += 1
                    bar.update()
            if n == 0:
                from ..video import VideoError

                raise VideoError(f"{item.name}: no frame could be read")
        finally:
            cap.release()
            if writer is not None:
                writer.release()


def open_writer(path: Path, fps: float, width: int, height: int) -> Any:
    """A ``cv2.VideoWriter`` at ``path`` with a codec for its suffix; MJPEG ``.avi`` appended where that fails."""
    import cv2

    from ..video import VideoError

    codec = {".avi": "MJPG", ".webm": "VP80"}.get(path.suffix.lower(), "mp4v")
    path.parent.mkdir(parents=True, exist_ok=True)
    tries = [(path, codec)] if path.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm") else []
    tries.append((path.with_name(path.name + ".avi"), "MJPG"))
    for p, c in tries:
        w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*c), fps, (width, height))
        if w.isOpened():
            return w
        w.release()
    raise VideoError(f"{path}: cannot write a video there")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..detect.parallel import WorkerError
    from ..imaging import ImageError
    from .options import detection_settings

    def usage(msg: str) -> int:
        print(f"openmtcnn detect: error: {msg}", file=sys.stderr)
        return 2

    if not args.paths and args.camera is None:
        return usage("give at least one PATH (image, folder, video or stream URL) or --camera N")
    if args.every < 1:
        return usage(f"--every must be >= 1, got {args.every}")
    if args.max_frames is not None and args.max_frames < 1:
        return usage(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.threads is not None and args.threads < 1:
        return usage(f"--threads must be >= 1, got {args.threads}")
    if args.jobs is not None and args.jobs < 1:
        return usage(f"--jobs must be >= 1, got {args.jobs}")
    if args.crop_size < 8:
        return usage(f"--crop-size must be >= 8, got {args.crop_size}")
    if not 0 <= args.crop_margin < 0.5:
        return usage(f"--crop-margin must be in [0, 0.5), got {args.crop_margin}")
    try:
        items, ignored = collect_inputs(args.paths, args.camera)
    except UsageError as e:
        return usage(str(e))

    from ..config import DetectConfig
    from ..detect import Detector
    from ..detect.parallel import default_jobs
    from ..weights import WeightsError, resolve_weights

    n_images = sum(it.kind == "image" for it in items)
    jobs = args.jobs if args.jobs is not None else (default_jobs() if n_images > 1 else 1)
    jobs = min(jobs, max(1, n_images))
    try:
        config = DetectConfig().with_overrides(**detection_settings(args))
        resolve_weights(args.weights)  # a missing or unknown weight set is a usage error, before any work
        # in this process: for videos and streams, and for images when there is one job
        threads = args.threads if args.threads is not None else default_jobs()
        detector = Detector(args.weights, config, threads=threads) if jobs == 1 or n_images < len(items) else None
    except WeightsError as e:
        return usage(str(e))
    except ValueError as e:  # a detection setting out of range
        return usage(str(e))

    try:
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            out: TextIO = open(args.output, "w", encoding="utf-8")
        else:
            out = sys.stdout
    except OSError as e:
        return usage(f"{args.output}: cannot write ({e.strerror or e})")

    show_bar = not args.quiet and (n_images > 1 or any(Path(a).is_dir() for a in args.paths))
    stems = crop_stems(items)
    t0 = time.perf_counter()
    try:
        with tqdm(total=n_images, unit="img", file=sys.stderr, disable=not show_bar, dynamic_ncols=True) as bar:
            state = Run(args, detector, out)
            for item, got in _image_results(items, args, config, detector, jobs):
                try:
                    if item.kind == "image":
                        if isinstance(got, Exception):
                            raise got
                        state.image(item, *got, stems[item.name])
                        bar.update()
                    else:
                        state.video(item)
                except (ImageError, OSError) as e:
                    if item.kind == "image":
                        bar.update()
                    state.fail(item.name, _message(e, item.name))
    except WorkerError as e:
        return usage(f"cannot start the detector in the worker processes: {e}")
    finally:
        if out is not sys.stdout:
            out.close()
    elapsed = time.perf_counter() - t0
    if not args.quiet:
        done = state.images + state.frames
        parts = []
        if n_images or not state.frames:
            parts.append(f"{state.images} image{'s' * (state.images != 1)}")
        if n_images < len(items):
            parts.append(f"{state.frames} video frame{'s' * (state.frames != 1)}")
        parts += [f"{state.faces} face{'s' * (state.faces != 1)}", f"{state.failed} failed"]
        rate = done / elapsed if elapsed > 0 else 0.0
        msg = f"openmtcnn detect: {', '.join(parts)}; {elapsed:.1f} s, {rate:.1f} {'images' if not state.frames else 'frames'}/s"
        if ignored:
            msg += f"; ignored {ignored} non-image file{'s' * (ignored != 1)} in folders"
        print(msg, file=sys.stderr)
    return 1 if state.failed else 0


def _image_results(items: list[Item], args: argparse.Namespace, config: Any, detector: Any, jobs: int) -> Iterator[tuple[Item, Any]]:
    """Every item in order, with ``(rgb, result)`` for images (or the error that stopped one) and
    None for videos. One job: decoding runs ahead in a thread, detection here; several jobs:
    worker processes decode and detect whole images (both cores busy), this process writes."""
    from ..imaging import ImageError, load_image
    from ..video import prefetch

    images = [it for it in items if it.kind == "image"]
    if jobs > 1 and images:
        from ..detect.parallel import detect_files

        keep = bool(args.draw or args.crops)
        results = detect_files([it.source for it in images], args.weights, config, jobs=jobs, threads=args.threads or 1, keep_images=keep)
        try:
            for it in items:
                if it.kind != "image":
                    yield it, None
                    continue
                r = next(results)
                if r.error is not None:
                    yield it, ImageError(r.error)
                else:
                    r.result.source = it.name
                    yield it, (r.rgb, r.result)
        finally:
            results.close()
        return

    def decoded() -> Iterator[tuple[Item, Any]]:  # runs in the prefetch thread
        for it in items:
            if it.kind != "image":
                yield it, None
                continue
            try:
                yield it, load_image(it.source)
            except Exception as e:  # an ImageError normally; handed to the main thread, which reports it
                yield it, e

    for it, rgb in prefetch(decoded(), depth=4):
        if it.kind == "image" and not isinstance(rgb, Exception):
            yield it, (rgb, detector.detect_rgb(rgb, source=it.name))
        else:
            yield it, rgb


def _message(e: BaseException, name: str) -> str:
    """An error's message, naming the input (ImageError messages already do, with the absolute path)."""
    msg = str(e)
    if isinstance(e, OSError) and e.filename:
        msg = f"{e.filename}: {e.strerror or e}"
    return msg if name in msg or (isinstance(e, OSError) and e.filename) else f"{name}: {msg}"
