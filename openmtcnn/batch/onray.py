"""A batch run on Ray Data: the files read by Ray tasks, detection and part writing in an actor pool.

Each actor holds one single-threaded :class:`~openmtcnn.Detector` and writes the rows of each batch
it gets as one part under DST (so DST must be reachable from every node: a shared folder, or a
filesystem URI pyarrow can write); the driver only counts. Nodes need openmtcnn installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import DetectConfig


class DetectAndWrite:
    """The actor: decode and detect each image of a batch, write the batch as one part, return counts."""

    def __init__(self, weights: str | None, config: dict[str, Any], threads: int, dst: str):
        import cv2

        from ..detect import Detector

        cv2.setNumThreads(1)  # one core per actor
        self.detector = Detector(weights, DetectConfig(**config), threads=threads)
        self.dst = dst

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from ..imaging import ImageError, decode_image
        from .store import result_row, write_part

        rows = []
        for path, data in zip(batch["path"], batch["bytes"]):
            path = str(path)
            try:
                rgb = decode_image(bytes(data), path, self.detector.config.max_pixels)
            except ImageError as e:
                rows.append(result_row(path, error=str(e)))
                continue
            rows.append(result_row(path, self.detector.detect_rgb(rgb, source=path)))
        write_part(self.dst, rows)
        return {
            "source": np.array([r["source"] for r in rows], dtype=object),
            "failed": np.array([r["error"] is not None for r in rows]),
            "faces": np.array([len(r["faces"] or ()) for r in rows]),
        }


def run_on_ray(todo: list[str], dst: Any, weights: str | None, config: DetectConfig, jobs: int | None, threads: int,
               address: str | None, rows_per_part: int, progress: Callable[[int], Any]) -> tuple[int, int, int]:
    """Detect ``todo`` on Ray (started or joined here unless already running); returns (written, failed, faces)."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    from .store import result_row, write_part

    written = failed = 0
    missing = [p for p in todo if not os.path.isfile(p)]  # a missing file would stop Ray's reader: an error row instead
    if missing:
        write_part(dst, [result_row(p, error=f"{p}: no such file") for p in missing])
        progress(len(missing))
        written = failed = len(missing)
        todo = [p for p in todo if p not in set(missing)]
    if not todo:
        return written, failed, 0
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    DataContext.get_current().enable_progress_bars = False  # the caller shows its own
    actors = jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
    Path(dst).mkdir(parents=True, exist_ok=True)
    # reading is I/O: it takes no CPU of the ones the actors hold (with all of them held it would never run)
    out = ray.data.read_binary_files(todo, include_paths=True, num_cpus=0).map_batches(
        DetectAndWrite,
        fn_constructor_args=(weights, config.to_dict(), threads, os.path.abspath(dst)),
        batch_size=rows_per_part,
        compute=ActorPoolStrategy(size=actors),
        num_cpus=threads,
        batch_format="numpy",
    )
    faces = 0
    for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
        n = len(batch["source"])
        written += n
        failed += int(batch["failed"].sum())
        faces += int(batch["faces"].sum())
        progress(n)
    return written, failed, faces
