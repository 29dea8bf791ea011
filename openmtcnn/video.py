"""Faces in videos, cameras and streams: frames read through ``cv2.VideoCapture``, decoded ahead in a thread."""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar, Union

import cv2
import numpy as np

from .detect.result import DetectResult
from .imaging import ImageError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}

#: A video file path, a camera index, or a stream URL (``rtsp://``, ``http://`` ...).
VideoSource = Union[str, os.PathLike, int]

T = TypeVar("T")


class VideoError(ImageError):
    """A video, camera or stream that cannot be opened or read; the message names it."""


def is_video_path(p: str | os.PathLike) -> bool:
    return Path(p).suffix.lower() in VIDEO_SUFFIXES


def is_stream_url(s: str) -> bool:
    return "://" in s


def source_name(source: VideoSource) -> str:
    """How a source is named in messages and results: the path or URL, or ``camera:N``."""
    return f"camera:{source}" if isinstance(source, int) else str(source)


@dataclass
class FrameResult:
    """Faces in one video frame: ``index`` counts every frame of the source from 0
    (skipped ones included), ``time`` is in seconds from the start, ``frame`` is RGB."""

    index: int
    time: float
    frame: np.ndarray
    result: DetectResult

    def to_dict(self, decimals: int = 2) -> dict[str, Any]:
        """:meth:`DetectResult.to_dict` with the frame index and time after the source."""
        d = self.result.to_dict(decimals)
        head = {"source": d.pop("source")} if "source" in d else {}
        return {**head, "frame": self.index, "time": round(self.time, 3), **d}


def quiet_video_backends() -> None:
    """Keep OpenCV's and FFmpeg's own warnings off stderr (a corrupt file's "moov atom not found"
    and the like): the command line reports each input that fails itself, naming it. Must run
    before the first capture opens; ``OPENCV_FFMPEG_LOGLEVEL`` set by the user wins."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def open_capture(source: VideoSource) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` on a file, camera index or URL; :class:`VideoError` if it does not open."""
    name = source_name(source)
    if not isinstance(source, int):
        source = str(source)
        if not is_stream_url(source):
            p = Path(source)
            if not p.exists():
                raise VideoError(f"{name}: no such file")
            if p.is_dir():
                raise VideoError(f"{name}: is a folder, not a video")
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{name}: cannot open as a video (unsupported format, corrupt file or unavailable device)")
    return cap


def video_info(cap: cv2.VideoCapture) -> tuple[float, int]:
    """``(fps, frame_count)`` as the container reports them; 0 where unknown (cameras, streams)."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    fps = float(fps) if np.isfinite(fps) and 0 < fps < 1000 else 0.0
    count = int(count) if np.isfinite(count) and count > 0 else 0
    return fps, count


def read_frames(
    cap: cv2.VideoCapture, every: int = 1, max_frames: int | None = None, *, live: bool = False
) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(index, seconds, RGB frame)`` for every ``every``-th frame; skipped frames are grabbed, not decoded.

    The time counts from the first frame: by the capture's timestamps where they advance,
    else by the wall clock for ``live`` sources (cameras, streams), else ``index / fps``.
    ``max_frames`` caps the frames yielded.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    fps, _ = video_info(cap)
    t0 = time.monotonic()
    pos0: float | None = None  # the first frame's timestamp (cameras stamp frames from boot, streams from anywhere)
    index, yielded = 0, 0
    while max_frames is None or yielded < max_frames:
        if index % every:
            if not cap.grab():
                return
            index += 1
            continue
        ok, bgr = cap.read()
        if not ok or bgr is None:
            return
        pos = cap.get(cv2.CAP_PROP_POS_MSEC)
        pos = float(pos) if np.isfinite(pos) and pos >= 0 else None
        if index == 0:
            pos0 = pos
        if pos is not None and pos0 is not None and (index == 0 or pos > pos0):
            t = (pos - pos0) / 1000.0
        elif live or fps <= 0:
            t = time.monotonic() - t0
        else:
            t = index / fps
        yield index, t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        index += 1
        yielded += 1


def prefetch(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Iterate ``items`` in a background thread, up to ``depth`` ahead, in order.

    Decoding (images, video frames) then overlaps with detection on another core: both
    release the GIL for their heavy parts. Exceptions raised by ``items`` are re-raised
    here; abandoning the iterator stops the thread.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def put(x: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for x in items:
                if not put((x, None)):
                    return
        except BaseException as e:  # handed to the consumer, re-raised there
            put((done, e))
            return
        put((done, None))

    th = threading.Thread(target=work, name="openmtcnn-prefetch", daemon=True)
    th.start()
    try:
        while True:
            x, err = q.get()
            if x is done:
                if err is not None:
                    raise err
                return
            yield x
    finally:
        stop.set()
        th.join(timeout=5)


def detect_video(
    detector: Any,
    source: VideoSource | cv2.VideoCapture,
    every: int = 1,
    *,
    max_frames: int | None = None,
    name: str | None = None,
    live: bool | None = None,
) -> Iterator[FrameResult]:
    """Detect faces in every ``every``-th frame of a video file, camera (an ``int``) or stream URL.

    >>> for f in detect_video(Detector(), "clip.mp4", every=5):
    ...     print(f.index, f.time, len(f.result))

    Frames are decoded in a background thread while ``detector`` (a
    :class:`~openmtcnn.Detector`) runs. ``max_frames`` caps the frames processed
    (cameras never end). ``source`` may also be an open ``cv2.VideoCapture``, which is
    then left open for the caller; ``name`` overrides the results' ``source``; ``live``
    (default: true for cameras and URLs) times frames by the clock where the capture
    gives no timestamps. Raises
    :class:`VideoError` if the source does not open.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    own = not isinstance(source, cv2.VideoCapture)
    name = name if name is not None else (source_name(source) if own else "video")
    if live is None:
        live = own and (isinstance(source, int) or is_stream_url(str(source)))
    cap = open_capture(source) if own else source
    frames = prefetch(read_frames(cap, every, max_frames, live=live), depth=4)
    try:
        for index, t, rgb in frames:
            yield FrameResult(index, t, rgb, detector.detect_rgb(rgb, source=name))
    finally:
        frames.close()  # stops the reader thread before the capture goes
        if own:
            cap.release()
