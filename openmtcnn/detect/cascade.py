"""The three stages of the cascade.

Per-image functions (``stage_pnet``, ``stage_rnet``, ``stage_onet``: image, boxes,
backend, config) and :func:`detect_batch`, which runs several images through the
cascade with R-Net and O-Net batched over the candidates of *all* images (one
network call per chunk of :data:`CHUNK` crops instead of one per image).

The work per image is the same in both: every step is per image except the
network calls, whose outputs do not depend on what else is in the batch (up to
float rounding). ``tests/test_speed_equivalence.py`` checks this against a
straightforward implementation of the algorithm.

Each function takes an optional thread pool (``pool``, a
:class:`concurrent.futures.Executor`): independent pieces of work (P-Net on each
pyramid level, cropping and running each chunk of R-Net / O-Net crops) then run on
its threads, each network call on one thread, while the pyramid is resized on the
calling thread. Results are the same: every piece does the same arithmetic, and the
pieces are put back in order.

Each function takes an optional :class:`StageTimer` that adds up where the time
goes (with a pool: time summed over threads): ``pyramid`` (resizing and input preparation), ``pnet`` / ``rnet`` / ``onet``
(the networks), ``nms`` (candidate decoding, NMS, box regression) and ``crops``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from ..config import DetectConfig
from ..ops import boxes as B
from ..ops import landmarks as L
from ..ops.crops import crop_boxes, level_input, to_net_input
from .backends import Backend
from .pyramid import PNET_SIZE, pyramid_levels, pyramid_scales

PNET_STRIDE = 2
#: crops per R-Net / O-Net call. Small batches stay in the CPU cache and took less time per crop
#: than large ones (the measurements: docs/speed-notes.md)
CHUNK = {"rnet": 32, "onet": 16}
#: output rows per P-Net call on tall pyramid levels (see :func:`pnet_level`)
PNET_STRIP = 24
#: side of the landmark passes' crops, in units of :func:`openmtcnn.ops.boxes.points_box` (the landmark set's
#: annotated box); O-Net's landmark training crops are 1.0-1.45x that box
LANDMARK_CROP_SCALE = 1.15


class StageTimer:
    """Adds up time per named part of the cascade (seconds) and counts the network work.

    ``clock`` times the parts; ``total_clock`` (default: ``clock``) times a whole detection call
    (:class:`~openmtcnn.detect.detector.Detector` reads it). Wall time by default;
    :meth:`cpu` measures CPU time instead. A timer adds up over every call it is passed to.
    Safe to use from several threads.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter, total_clock: Callable[[], float] | None = None) -> None:
        self.clock = clock
        self.total_clock = total_clock or clock
        self.seconds: dict[str, float] = {}
        self.pnet_inputs: list[tuple[int, int]] = []  # (h, w) of every P-Net level
        self.batch: dict[str, int] = {"rnet": 0, "onet": 0}  # crops evaluated
        self._lock = threading.Lock()

    @classmethod
    def cpu(cls) -> "StageTimer":
        """CPU time: parts by the CPU time of the thread that runs them (right when parts run on a
        thread pool), whole calls by the process's; steadier than wall time on a busy machine."""
        return cls(time.thread_time, time.process_time)

    @contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        t = self.clock()
        try:
            yield
        finally:
            dt = self.clock() - t
            with self._lock:
                self.seconds[part] = self.seconds.get(part, 0.0) + dt


T = TypeVar("T")
R = TypeVar("R")


def _map(pool: Executor | None, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``fn`` over ``items`` in order; on the pool's threads when there is one (items are drawn
    on the calling thread, so a generator's own work, e.g. resizing, overlaps the calls)."""
    if pool is None:
        return [fn(x) for x in items]
    return [f.result() for f in [pool.submit(fn, x) for x in items]]


@contextmanager
def _time(timer: StageTimer | None, part: str) -> Iterator[None]:
    if timer is None:
        yield
    else:
        with timer(part):
            yield


def weight_bound(cfg: DetectConfig, backend: Backend) -> DetectConfig:
    """``cfg`` with its weight-bound settings left ``None`` taken from the backend's weight set
    (``manifest.json``'s ``cascade``; see :meth:`DetectConfig.for_weights`)."""
    return cfg.for_weights((getattr(backend, "manifest", None) or {}).get("cascade"))


def pnet_level(backend: Backend, x: np.ndarray, strip: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """P-Net on one level ``(1, 3, h, w)`` -> face probability ``(1, h', w')`` and offsets ``(1, 4, h', w')``.

    Tall levels go through in horizontal strips of ``strip`` output rows (default
    :data:`PNET_STRIP`), each with the 10 extra input rows its windows need: the same
    windows and outputs, but a strip's activations stay in the CPU cache, which took less
    CPU time (docs/speed-notes.md). Strips start on even rows, so the stride-2 output grid is the level's.
    """
    strip = PNET_STRIP if strip is None else strip
    h = x.shape[2]
    span = 2 * strip + PNET_SIZE - 2  # input rows giving exactly `strip` output rows
    if h <= span + 2 * strip:
        prob, reg, _ = backend.run("pnet", x, landmarks=False)
        return prob, reg
    probs, regs = [], []
    top = 0
    while True:
        last = top + span + 2 * strip > h
        part = x[:, :, top:] if last else x[:, :, top : top + span]
        prob, reg, _ = backend.run("pnet", np.ascontiguousarray(part), landmarks=False)
        probs.append(prob), regs.append(reg)
        if last:
            break
        top += 2 * strip
    return np.concatenate(probs, axis=1), np.concatenate(regs, axis=2)


def pnet_candidates(prob: np.ndarray, reg: np.ndarray, sx: float, sy: float, threshold: float) -> np.ndarray:
    """Turn one level's P-Net maps into ``(K, 9)`` rows: window x1 y1 x2 y2 (image px), score, 4 offsets."""
    ys, xs = np.nonzero(prob > threshold)
    if len(ys) == 0:
        return np.zeros((0, 9))
    x1 = xs * PNET_STRIDE / sx
    y1 = ys * PNET_STRIDE / sy
    x2 = (xs * PNET_STRIDE + PNET_SIZE) / sx
    y2 = (ys * PNET_STRIDE + PNET_SIZE) / sy
    return np.column_stack([x1, y1, x2, y2, prob[ys, xs], reg[:, ys, xs].T])


def stage_pnet(
    image: np.ndarray, backend: Backend, cfg: DetectConfig, timer: StageTimer | None = None, pool: Executor | None = None
) -> np.ndarray:
    """P-Net over the pyramid -> square candidate boxes ``(K, 5)`` (box, score)."""
    cfg = weight_bound(cfg, backend)
    h, w = image.shape[:2]
    scales = pyramid_scales(h, w, cfg.min_face_size, cfg.scale_factor, cfg.pnet_scale)

    def levels() -> Iterator[np.ndarray]:
        resized = pyramid_levels(image, scales, cfg.pyramid, as_float=True)
        while True:
            with _time(timer, "pyramid"):
                level = next(resized, None)
            if level is None:
                return
            yield level

    def candidates(level: np.ndarray) -> np.ndarray:
        with _time(timer, "pyramid"):
            x = level_input(level)
        with _time(timer, "pnet"):
            prob, reg = pnet_level(backend, x)
        if timer is not None:
            timer.pnet_inputs.append(level.shape[:2])
        with _time(timer, "nms"):
            c = pnet_candidates(prob[0], reg[0], level.shape[1] / w, level.shape[0] / h, cfg.thresholds[0])
            return c[B.nms(c[:, :4], c[:, 4], cfg.nms_pnet_level)] if len(c) else c

    rows = [c for c in _map(pool, candidates, levels()) if len(c)]
    with _time(timer, "nms"):
        if not rows:
            return np.zeros((0, 5))
        c = np.concatenate(rows)
        c = c[B.nms(c[:, :4], c[:, 4], cfg.nms_pnet)]
        return _limit(np.column_stack([B.square(B.calibrate(c[:, :4], c[:, 5:9])), c[:, 4]]), cfg)


def _run_crops(
    images: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    stage: str,
    backend: Backend,
    landmarks: bool,
    timer: StageTimer | None,
    pool: Executor | None = None,
    method: str = "area",
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Crop every image's boxes (``method``: see :func:`crop_boxes`), run ``stage`` over all crops in chunks,
    split the outputs per image. R-Net and O-Net inputs are the size the backend's net takes."""
    size = backend.input_sizes[stage]
    counts = [len(b) for b in boxes]
    if timer is not None:
        timer.batch[stage] += sum(counts)
    chunk = CHUNK[stage]
    # (image, start, stop) pieces, cut so that no network call exceeds `chunk` crops, grouped into calls
    pieces = [(i, s, min(s + chunk, n)) for i, n in enumerate(counts) for s in range(0, n, chunk)]
    calls: list[list[tuple[int, int, int]]] = []
    n = chunk
    for piece in pieces:
        if n + piece[2] - piece[1] > chunk:
            calls.append([])
            n = 0
        calls[-1].append(piece)
        n += piece[2] - piece[1]

    def run(call: list[tuple[int, int, int]]):
        with _time(timer, "crops"):
            batch = np.empty((sum(e - s for _, s, e in call), 3, size, size), np.float32)
            k = 0
            for i, s, e in call:
                batch[k : k + e - s] = to_net_input(crop_boxes(images[i], boxes[i][s:e], size, method))
                k += e - s
        with _time(timer, stage):
            return backend.run(stage, batch, landmarks=landmarks)

    outs = _map(pool, run, calls)
    if not outs:
        return [(np.zeros(0), np.zeros((0, 4)), np.zeros((0, 10)) if landmarks else None) for _ in counts]
    prob, reg = np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])
    lmk = np.concatenate([o[2] for o in outs]) if landmarks else None
    out, at = [], 0
    for n in counts:
        out.append((prob[at : at + n], reg[at : at + n], lmk[at : at + n] if lmk is not None else None))
        at += n
    return out


def crop_frames(boxes: np.ndarray) -> np.ndarray:
    """The boxes the R-Net / O-Net crops were cut from (whole pixels, :func:`~openmtcnn.ops.crops.crop_boxes`):
    what the nets' box and landmark offsets are relative to, as the training labels are (``train/samples.py``)
    and as the original MATLAB code decodes them (its ``fix``-ed boxes)."""
    return B.integer_boxes(boxes).astype(np.float64)


def _rnet_post(cand: np.ndarray, prob: np.ndarray, reg: np.ndarray, cfg: DetectConfig) -> np.ndarray:
    keep = prob > cfg.thresholds[1]
    boxes, scores, reg = cand[keep, :4], prob[keep], reg[keep]
    pick = B.nms(boxes, scores, cfg.nms_rnet)
    boxes = B.square(B.calibrate(crop_frames(boxes[pick]), reg[pick]))
    return _limit(np.column_stack([boxes, scores[pick]]), cfg)


def _onet_post(cand: np.ndarray, prob: np.ndarray, reg: np.ndarray, lmk: np.ndarray, cfg: DetectConfig):
    keep = prob > cfg.thresholds[2]
    boxes, scores, reg, lmk = crop_frames(cand[keep, :4]), prob[keep], reg[keep], lmk[keep]
    landmarks = L.decode(boxes, lmk)
    boxes = B.calibrate(boxes, reg)
    pick = B.nms(boxes, scores, cfg.nms_onet, mode="min")
    return boxes[pick], scores[pick], landmarks[pick]


def _empty_final():
    return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))


def stage_rnet(
    image: np.ndarray, cand: np.ndarray, backend: Backend, cfg: DetectConfig, timer: StageTimer | None = None,
    pool: Executor | None = None,
) -> np.ndarray:
    """R-Net on the P-Net candidates -> square boxes ``(K, 5)``."""
    if len(cand) == 0:
        return cand
    cfg = weight_bound(cfg, backend)
    (prob, reg, _), = _run_crops([image], [cand[:, :4]], "rnet", backend, False, timer, pool, cfg.crop_method)
    with _time(timer, "nms"):
        return _rnet_post(cand, prob, reg, cfg)


def stage_onet(
    image: np.ndarray, cand: np.ndarray, backend: Backend, cfg: DetectConfig, timer: StageTimer | None = None,
    pool: Executor | None = None,
):
    """O-Net on the R-Net boxes -> final ``boxes (K, 4), scores (K,), landmarks (K, 5, 2)``."""
    if len(cand) == 0:
        return _empty_final()
    cfg = weight_bound(cfg, backend)
    (prob, reg, lmk), = _run_crops([image], [cand[:, :4]], "onet", backend, True, timer, pool, cfg.crop_method)
    with _time(timer, "nms"):
        boxes, scores, points = _onet_post(cand, prob, reg, lmk, cfg)
    return boxes, scores, refine_landmarks([image], [points], backend, cfg.landmark_passes, timer, pool=pool, method=cfg.crop_method)[0]


def refine_landmarks(
    images: Sequence[np.ndarray],
    points: Sequence[np.ndarray],
    backend: Backend,
    passes: int,
    timer: StageTimer | None = None,
    scale: float = LANDMARK_CROP_SCALE,
    pool: Executor | None = None,
    method: str = "area",
) -> list[np.ndarray]:
    """O-Net's points again, ``passes`` times, from crops placed on each face's latest points; their mean.

    The cascade reads the points off the R-Net box O-Net scored, and the box that wins the final NMS is
    the one O-Net scores highest, not the one best framed for landmarks: on the landmark test list it is
    1.2-1.6x the annotated box and off its centre by up to a fifth of its side, outside most of O-Net's
    landmark training crops. A crop placed on the points (:func:`openmtcnn.ops.boxes.points_box`,
    ``scale``, default :data:`LANDMARK_CROP_SCALE`) sits where those crops did. Batched over all faces of
    all images. Scale and passes were chosen on landmark faces O-Net never saw (``experiments/analyses/landmark_passes.py``).
    """
    if passes <= 0:
        return list(points)
    cur, total = list(points), [np.zeros_like(p) for p in points]
    for _ in range(passes):
        with _time(timer, "crops"):
            boxes = [crop_frames(B.points_box(p, scale)) for p in cur]
        outs = _run_crops(images, boxes, "onet", backend, True, timer, pool, method)
        with _time(timer, "nms"):
            cur = [L.decode(b, lmk) if len(b) else p for b, p, (_, _, lmk) in zip(boxes, cur, outs)]
            total = [t + c for t, c in zip(total, cur)]
    return [t / passes for t in total]


def detect_batch(
    images: Sequence[np.ndarray], backend: Backend, cfg: DetectConfig, timer: StageTimer | None = None,
    pool: Executor | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The whole cascade on several RGB images; R-Net and O-Net run once over all images' candidates.

    Returns, per image, ``boxes (K, 4), scores (K,), landmarks (K, 5, 2)`` as
    :func:`stage_onet` does; the same as running the stages image by image.
    """
    cfg = weight_bound(cfg, backend)
    cands = [stage_pnet(im, backend, cfg, timer, pool) for im in images]
    outs = _run_crops(images, [c[:, :4] for c in cands], "rnet", backend, False, timer, pool, cfg.crop_method)
    with _time(timer, "nms"):
        cands = [_rnet_post(c, p, r, cfg) if len(c) else c for c, (p, r, _) in zip(cands, outs)]
    outs = _run_crops(images, [c[:, :4] for c in cands], "onet", backend, True, timer, pool, cfg.crop_method)
    with _time(timer, "nms"):
        found = [_onet_post(c, p, r, l, cfg) if len(c) else _empty_final() for c, (p, r, l) in zip(cands, outs)]
    points = refine_landmarks(images, [f[2] for f in found], backend, cfg.landmark_passes, timer, pool=pool, method=cfg.crop_method)
    return [(b, s, p) for (b, s, _), p in zip(found, points)]


def _limit(rows: np.ndarray, cfg: DetectConfig) -> np.ndarray:
    if cfg.max_candidates and len(rows) > cfg.max_candidates:
        rows = rows[np.argsort(-rows[:, 4], kind="stable")[: cfg.max_candidates]]
    return rows
