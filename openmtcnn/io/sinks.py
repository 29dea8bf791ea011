"""Where the results of a run go: JSON Lines (resumable), drawn images and videos, aligned crops.

:class:`JsonlWriter` writes each record as one whole line, flushed at once, so that a run killed
at any moment (SIGKILL, power loss) leaves complete lines and at most one torn last line; opened
with ``resume=True`` it keeps the complete lines, drops a torn last one and tells which inputs
are answered already (:meth:`JsonlWriter.answered`), so a restarted run skips them and appends
the rest: every input answered exactly once. :class:`OutputFolders` writes drawings and crops
below ``--draw`` / ``--crops``, mirroring the inputs' relative paths.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Hashable, TextIO

import numpy as np


class OutputError(ValueError):
    """An output that cannot be written where asked (a folder that is a file, a results file
    that is not a detection run's); the message names it."""


def record_key(record: dict[str, Any]) -> Hashable:
    """What a JSON record answers: its ``source``, or ``(source, frame)`` for a video frame."""
    return (record["source"], record["frame"]) if "frame" in record else record["source"]


def read_complete_lines(path: str | os.PathLike) -> tuple[list[dict[str, Any]], int, int]:
    """The records of a JSON Lines results file, the byte length of its complete lines, and the
    bytes of a torn last line (no newline: the write was cut). A complete line that is not a JSON
    object with a ``source`` raises :class:`OutputError` (not a file of this program: left alone)."""
    data = Path(path).read_bytes()
    end = data.rfind(b"\n") + 1
    records = []
    for n, line in enumerate(data[:end].splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if not isinstance(rec, dict) or "source" not in rec:
            raise OutputError(f"{path}: line {n} is not a JSON record of `openmtcnn detect`; not resuming into this file")
        records.append(rec)
    return records, end, len(data) - end


class JsonlWriter:
    """One JSON record per line to ``path`` (``None``: ``stream``, default stdout), each line
    written whole in one ``write`` and flushed.

    ``resume=True`` (with a path): an existing file is kept up to its last complete line (a torn
    last line is cut off, counted in ``dropped_bytes``) and appended to; :meth:`answered` holds
    the keys (:func:`record_key`) of its records, results and errors alike. Without ``resume``
    the file is started afresh.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, resume: bool = False, stream: TextIO | None = None):
        self.path = None if path is None else Path(path)
        self.records: list[dict[str, Any]] = []
        self.dropped_bytes = 0
        self._fd: int | None = None
        self._stream = stream if stream is not None else sys.stdout
        if self.path is None:
            return
        if self.path.is_dir():
            raise OutputError(f"{self.path}: is a folder; give a file for the JSON lines")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume and self.path.is_file():
                self.records, keep, self.dropped_bytes = read_complete_lines(self.path)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
                os.ftruncate(self._fd, keep)
            else:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o666)
        except OSError as e:
            raise OutputError(f"{self.path}: cannot write ({e.strerror or e})") from e

    def answered(self) -> set[Hashable]:
        return {record_key(r) for r in self.records}

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        if self._fd is None:
            self._stream.write(line)
            self._stream.flush()
            return
        data = line.encode("utf-8")
        while data:  # a regular file takes it in one call; a short write (disk full, signal) goes on
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


WRITABLE = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def save_image(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB array; suffixes PIL writes badly or not at all (.gif, none) get ``.png`` appended."""
    from PIL import Image

    if path.suffix.lower() not in WRITABLE:
        path = path.with_name(path.name + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **({"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}))


def open_video_writer(path: Path, fps: float, width: int, height: int) -> Any:
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


def check_output_folder(path: str | os.PathLike | None, flag: str) -> None:
    """A ``--draw`` / ``--crops`` folder must be a folder or not exist yet: checked before any work."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise OutputError(f"{flag} {path}: is a file, not a folder")


class OutputFolders:
    """Drawings (``draw``) and aligned crops (``crops``, ``crop_size`` px, ``crop_margin``) of the
    results, below their folders at each input's relative path (crops: ``<stem>_<face>.png``;
    video frames: ``<path>/<frame>_<face>.png``, the drawn video at ``<path>``)."""

    def __init__(self, draw: str | os.PathLike | None, crops: str | os.PathLike | None, crop_size: int = 112, crop_margin: float = 0.0):
        check_output_folder(draw, "--draw")
        check_output_folder(crops, "--crops")
        self.draw_dir = None if draw is None else Path(draw)
        self.crop_dir = None if crops is None else Path(crops)
        self.crop_size, self.crop_margin = crop_size, crop_margin

    @property
    def need_pixels(self) -> bool:
        """Whether the decoded images are needed (to draw on or crop from)."""
        return self.draw_dir is not None or self.crop_dir is not None

    def _crops(self, rgb: np.ndarray, result: Any) -> np.ndarray:
        from ..align import align

        return align(rgb, result.landmarks, size=self.crop_size, margin=self.crop_margin)

    def image(self, rel: Path, crop_stem: Path, rgb: np.ndarray, result: Any) -> None:
        """One image's drawing and crops."""
        from ..draw import draw

        if self.draw_dir is not None:
            save_image(self.draw_dir / rel, draw(rgb, result))
        if self.crop_dir is not None:
            for i, c in enumerate(self._crops(rgb, result)):
                save_image(self.crop_dir / crop_stem.parent / f"{crop_stem.name}_{i}.png", c)

    def video(self, rel: Path, fps: float) -> "VideoOutputs":
        return VideoOutputs(self, rel, fps)


class VideoOutputs:
    """The drawn video and the crops of one video source, frame by frame; :meth:`close` finishes the video."""

    def __init__(self, folders: OutputFolders, rel: Path, fps: float):
        self.folders, self.rel, self.fps = folders, rel, fps
        self.writer: Any = None

    def frame(self, frame: Any) -> None:
        """One :class:`~openmtcnn.video.FrameResult`'s drawing (a frame of the video) and crops."""
        import cv2

        from ..draw import draw

        f = self.folders
        if f.draw_dir is not None:
            bgr = cv2.cvtColor(draw(frame.frame, frame.result), cv2.COLOR_RGB2BGR)
            if self.writer is None:
                self.writer = open_video_writer(f.draw_dir / self.rel, self.fps or 25.0, bgr.shape[1], bgr.shape[0])
            self.writer.write(bgr)
        if f.crop_dir is not None:
            for i, c in enumerate(f._crops(frame.frame, frame.result)):
                save_image(f.crop_dir / self.rel / f"{frame.index:06d}_{i}.png", c)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
