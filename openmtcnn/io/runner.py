"""A detection run over inputs: images (on worker processes or with decoding ahead in a thread),
videos and streams frame by frame, each answered once into a :class:`~openmtcnn.io.sinks.JsonlWriter`
and the output folders. ``openmtcnn detect`` is argument parsing around :class:`DetectRun`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config import DetectConfig
from .sinks import JsonlWriter, OutputFolders
from .sources import Input, crop_stems


@dataclass
class RunCounts:
    """What a run did: images and frames answered with results, faces found, inputs that failed."""

    images: int = 0
    frames: int = 0
    faces: int = 0
    failed: int = 0


def error_message(e: BaseException, name: str) -> str:
    """An error's message, naming the input (ImageError messages already do, with the path)."""
    msg = str(e)
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or e}"
    return msg if name in msg else f"{name}: {msg}"


def image_results(
    images: list[Input], weights: str | None, config: DetectConfig, detector: Any, jobs: int, threads: int, keep_pixels: bool
) -> Iterator[tuple[Input, Any]]:
    """Each image with ``(rgb, result)`` (``rgb`` None unless ``keep_pixels``) or the message of
    the error that stopped it, in order. ``jobs`` > 1: worker processes decode and detect whole
    images (:func:`openmtcnn.detect_files`; a worker that dies answers its file with an error);
    else decoding runs ahead in a thread and ``detector`` detects here."""
    from ..imaging import ImageError, load_image
    from ..video import prefetch

    if jobs > 1:
        from ..detect.parallel import detect_files

        results = detect_files([it.source for it in images], weights, config, jobs=jobs, threads=threads, keep_images=keep_pixels)
        try:
            for it, r in zip(images, results):
                if r.error is not None:
                    yield it, r.error
                else:
                    r.result.source = it.name
                    yield it, (r.rgb, r.result)
        finally:
            results.close()
        return

    def decoded() -> Iterator[tuple[Input, Any]]:  # runs in the prefetch thread
        for it in images:
            try:
                yield it, load_image(it.source, config.max_pixels)
            except (ImageError, OSError) as e:
                yield it, error_message(e, it.name)

    for it, rgb in prefetch(decoded(), depth=4):
        if isinstance(rgb, str):
            yield it, rgb
            continue
        try:
            res = detector.detect_rgb(rgb, source=it.name)
        except (ImageError, MemoryError) as e:
            yield it, error_message(e, it.name)
            continue
        yield it, (rgb if keep_pixels else None, res)


class DetectRun:
    """One run: answers each input into ``writer`` (a record, or ``{"source", "error"}``) and
    ``outputs``; ``on_error(message)`` is told of each failure; ``progress(kind)`` of each image
    or frame done. Inputs ``writer`` has answered already (a resumed run) are skipped."""

    def __init__(
        self,
        writer: JsonlWriter,
        outputs: OutputFolders,
        *,
        weights: str | None,
        config: DetectConfig,
        detector_factory: Callable[[], Any],
        jobs: int = 1,
        threads: int = 1,
        every: int = 1,
        max_frames: int | None = None,
        on_error: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
        progress: Callable[[str], None] = lambda kind: None,
    ):
        self.writer, self.outputs = writer, outputs
        self.weights, self.config, self.jobs, self.threads = weights, config, jobs, threads
        self.every, self.max_frames = every, max_frames
        self._factory, self._detector = detector_factory, None
        self.on_error, self.progress = on_error, progress
        self.counts = RunCounts()
        self.done = writer.answered()

    @property
    def detector(self) -> Any:
        if self._detector is None:
            self._detector = self._factory()
        return self._detector

    def todo(self, items: list[Input]) -> list[Input]:
        """The inputs not answered yet: images without a record; videos without an error record
        (their answered frames are skipped one by one)."""
        return [it for it in items if it.name not in self.done]

    def fail(self, name: str, message: str) -> None:
        self.counts.failed += 1
        self.on_error(message)
        self.writer.write({"source": name, "error": message})

    def run(self, items: list[Input]) -> RunCounts:
        """Every input not answered yet, in order."""
        from ..imaging import ImageError

        items = self.todo(items)
        images = [it for it in items if it.kind == "image"]
        stems = crop_stems(images)
        jobs = min(self.jobs, len(images))
        detector = self.detector if images and jobs <= 1 else None
        results = image_results(images, self.weights, self.config, detector, jobs, self.threads, self.outputs.need_pixels)
        try:
            for it in items:
                if it.kind == "image":
                    done, got = next(results)
                    self.image(done, got, stems[done.name])
                    continue
                try:
                    self.video(it)
                except (ImageError, OSError) as e:
                    self.fail(it.name, error_message(e, it.name))
        finally:
            results.close()
        return self.counts

    def image(self, item: Input, got: Any, stem: Path) -> None:
        """Write one image's outputs and record (``got``: ``(rgb, result)`` or an error message)."""
        if isinstance(got, str):
            self.fail(item.name, got)
        else:
            rgb, res = got
            self.outputs.image(item.rel, stem, rgb, res)
            self.writer.write(res.to_dict())  # after the files: a line means all of the image's outputs are written
            self.counts.images += 1
            self.counts.faces += len(res)
        self.progress("image")

    def video(self, item: Input) -> None:
        """All (every N-th) frames of a video file, camera or stream; frames answered already are skipped."""
        from ..video import VideoError, detect_video, open_capture, video_info

        cap = open_capture(item.source)
        fps, _ = video_info(cap)
        out = self.outputs.video(item.rel, fps / self.every if fps else 25.0)
        n = 0
        try:
            for fr in detect_video(self.detector, cap, self.every, max_frames=self.max_frames, name=item.name, live=item.kind == "stream"):
                n += 1
                if (item.name, fr.index) in self.done:
                    continue
                out.frame(fr)
                self.writer.write(fr.to_dict())
                self.counts.frames += 1
                self.counts.faces += len(fr.result)
                self.progress("frame")
            if n == 0:
                raise VideoError(f"{item.name}: no frame could be read")
        finally:
            cap.release()
            out.close()
