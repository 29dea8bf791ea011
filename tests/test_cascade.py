"""Cascade building blocks: fast NMS, crops, input scaling and chunked batches equal their plain versions."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from openmtcnn.ops import boxes as B
from openmtcnn.ops.crops import crop_boxes, to_net_input


def loop_nms(boxes, scores, threshold, mode="union"):
    """The textbook greedy loop (what ``boxes.nms`` was before it got faster)."""
    boxes = np.asarray(boxes, np.float64)
    x1, y1, x2, y2 = boxes.T[:4]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        denom = np.minimum(areas[i], areas[rest]) if mode == "min" else areas[i] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            ov = np.where(denom > 0, inter / denom, 0.0)
        order = rest[ov <= threshold]
    return np.asarray(keep, np.int64)


def box_sets(rng, n_sets=300):
    for t in range(n_sets):
        k = int(rng.integers(1, 200))
        if t % 4 == 0:  # integer grid: equal boxes, touching edges, zero areas, tied scores
            xy = rng.integers(0, 15, (k, 2)).astype(float)
            wh = rng.integers(0, 6, (k, 2)).astype(float)
        elif t % 4 == 1:  # one dense cluster (a face seen by many P-Net windows)
            xy = rng.normal(100, 4, (k, 2))
            wh = rng.uniform(20, 24, (k, 1)).repeat(2, 1)
        else:
            xy = rng.uniform(0, 200, (k, 2))
            wh = rng.uniform(0, 40, (k, 2))
        scores = rng.integers(0, 4, k).astype(float) if t % 2 else rng.random(k)
        yield np.hstack([xy, xy + wh]), scores


def test_nms_equals_the_greedy_loop(rng):
    n = 0
    for boxes, scores in box_sets(rng):
        for thr in (0.0, 0.3, 0.5, 0.7, 1.0):
            for mode in ("union", "min"):
                np.testing.assert_array_equal(B.nms(boxes, scores, thr, mode), loop_nms(boxes, scores, thr, mode))
                n += 1
    assert n == 3000


def test_nms_fallbacks_equal_the_loop(rng):
    boxes, scores = next(box_sets(np.random.default_rng(3)))
    # a negative threshold and non-finite boxes take the loop path; results still match
    np.testing.assert_array_equal(B.nms(boxes, scores, -0.1), loop_nms(boxes, scores, -0.1))
    bad = boxes.copy()
    bad[::3, 2] = np.nan
    np.testing.assert_array_equal(B.nms(bad, scores, 0.5), loop_nms(bad, scores, 0.5))
    assert B.nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def plain_crop(image, box, size):
    h, w = image.shape[:2]
    ib = B.integer_boxes(box[None])[0]
    patch = np.zeros((ib[3] - ib[1], ib[2] - ib[0], 3), np.uint8)
    sx1, sy1, sx2, sy2 = max(ib[0], 0), max(ib[1], 0), min(ib[2], w), min(ib[3], h)
    if sx2 > sx1 and sy2 > sy1:
        patch[sy1 - ib[1] : sy2 - ib[1], sx1 - ib[0] : sx2 - ib[0]] = image[sy1:sy2, sx1:sx2]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def test_crop_boxes_equals_plain_crops(rng):
    image = rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)
    xy = rng.uniform(-60, 140, (300, 2))
    side = rng.uniform(0.3, 120, (300, 1))
    boxes = np.hstack([xy, xy + side])
    for size in (12, 24, 48):
        got = crop_boxes(image, boxes, size)
        want = np.stack([plain_crop(image, b, size) for b in boxes])
        np.testing.assert_array_equal(got, want)
    assert crop_boxes(image, np.zeros((0, 4)), 24).shape == (0, 24, 24, 3)


def test_level_input_equals_to_net_input(rng):
    from openmtcnn.ops.crops import level_input

    level = rng.integers(0, 256, (31, 47, 3), dtype=np.uint8)
    level[0, :3] = [[0, 0, 0], [255, 255, 255], [127, 128, 1]]
    np.testing.assert_array_equal(level_input(level), to_net_input(level))
    assert level_input(level).flags["C_CONTIGUOUS"]
    as_float = level.astype(np.float32)  # the float pyramid's levels: whole numbers in float32
    np.testing.assert_array_equal(level_input(as_float), to_net_input(level))
    assert level_input(as_float).flags["C_CONTIGUOUS"]


def test_chunked_batches_change_nothing(random_weights, monkeypatch):
    """Images whose candidates are split over several network calls give the same faces."""
    from openmtcnn import Detector
    from openmtcnn.detect import cascade
    from openmtcnn.imaging import load_image

    photo = load_image(Path(__file__).resolve().parent / "fixtures" / "images" / "situation_room_480.jpg")
    det = Detector(random_weights, threads=1, min_face_size=30, thresholds=(0.53, 0.484, 0.4966))
    images = [photo, np.ascontiguousarray(photo[:, ::-1])]
    monkeypatch.setattr(cascade, "CHUNK", {"rnet": 100000, "onet": 100000})
    timer = cascade.StageTimer()
    whole = det.detect(images, timer=timer)
    assert timer.batch["rnet"] > 40
    monkeypatch.setattr(cascade, "CHUNK", {"rnet": 7, "onet": 3})
    chunked = det.detect(images)
    for a, b in zip(whole, chunked):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_threads_find_exactly_the_same(random_weights):
    """threads=2: P-Net levels and crop chunks on a thread pool, the same arithmetic, put back in order."""
    import threading

    from openmtcnn import Detector
    from openmtcnn.detect import StageTimer
    from openmtcnn.imaging import load_image

    photo = load_image(Path(__file__).resolve().parent / "fixtures" / "images" / "situation_room_480.jpg")
    kw = dict(min_face_size=30, thresholds=(0.53, 0.484, 0.4966))
    one = Detector(random_weights, threads=1, **kw)
    two = Detector(random_weights, threads=2, **kw)
    assert one._pool is None and two._pool is not None
    callers: set[str] = set()
    run = two.backend.run

    def spy(stage, batch, landmarks=True):
        callers.add(threading.current_thread().name)
        return run(stage, batch, landmarks)

    two.backend.run = spy
    images = [photo, np.ascontiguousarray(photo[:, ::-1]), np.ascontiguousarray(photo[:300])]
    t1, t2 = StageTimer(), StageTimer.cpu()
    for a, b in zip(one.detect(images, timer=t1), two.detect(images, timer=t2)):
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert t1.batch == t2.batch and t1.batch["onet"] > 0
    assert sorted(t1.pnet_inputs) == sorted(t2.pnet_inputs)
    assert len(callers) == 2 and all(c.startswith("openmtcnn") for c in callers)  # both pool threads ran nets
    with two:
        assert two._pool is not None
    assert two._pool is None  # the context manager shut the pool down
    assert len(two.detect(photo)) == len(one.detect(photo))  # and later calls run on the calling thread


def test_thread_pool_serves_any_backend(random_weights):
    """threads=2 with the torch backend: the same pool, the same faces as one thread."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from openmtcnn import Detector
    from openmtcnn.imaging import load_image

    photo = load_image(Path(__file__).resolve().parent / "fixtures" / "images" / "situation_room_480.jpg")
    kw = dict(min_face_size=30, thresholds=(0.53, 0.484, 0.4966), backend="torch")
    with Detector(random_weights, threads=1, **kw) as one, Detector(random_weights, threads=2, **kw) as two:
        assert one._pool is None and two._pool is not None
        a, b = one.detect(photo), two.detect(photo)
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_stage_timer_and_timings(random_weights):
    from openmtcnn import Detector
    from openmtcnn.detect import StageTimer

    t = StageTimer()
    with t("x"):
        time.sleep(0.002)
    assert t.seconds["x"] >= 0.002
    det = Detector(random_weights, threads=1, min_face_size=40)
    image = np.full((120, 160, 3), 90, np.uint8)
    res = det.detect(image)
    assert {"pyramid", "pnet", "nms", "other", "total"} <= set(res.timings)
    assert res.timings["total"] >= sum(v for k, v in res.timings.items() if k != "total") - 1e-9
    timer = StageTimer.cpu()
    first = det.detect(image, timer=timer).timings
    n_levels = len(timer.pnet_inputs)
    second = det.detect(image, timer=timer).timings
    assert n_levels >= 1 and len(timer.pnet_inputs) == 2 * n_levels  # the timer adds up over calls
    for timings in (first, second):  # each result's timings are its own call's, on the timer's clocks
        assert timings["total"] >= sum(v for k, v in timings.items() if k != "total") - 1e-9
    assert abs(timer.seconds["pnet"] - first["pnet"] - second["pnet"]) < 1e-9


@pytest.mark.parametrize("bad", [0, -2])
def test_batch_size_must_be_positive(random_weights, bad):
    from openmtcnn import Detector

    with pytest.raises(ValueError, match="batch_size"):
        Detector(random_weights, batch_size=bad)


# ---------------------------------------------------------------------------------- pyramid


def _photo():
    from openmtcnn.imaging import load_image

    return load_image(Path(__file__).resolve().parent / "fixtures" / "images" / sorted(
        p.name for p in (Path(__file__).resolve().parent / "fixtures" / "images").glob("*.jpg"))[0])


@pytest.mark.parametrize("min_face", [10, 20, 48])
def test_chained_pyramid_levels_are_close_to_direct_ones(min_face):
    """Same level sizes; a level resized from an earlier level is within a few grey levels (mean)
    of the one resized from the full image; levels without a source twice their size are the same."""
    from openmtcnn.detect.pyramid import level_size, pyramid_levels, pyramid_scales

    image = _photo()
    h, w = image.shape[:2]
    scales = pyramid_scales(h, w, min_face, 0.709)
    chained = list(pyramid_levels(image, scales, "chained"))
    direct = list(pyramid_levels(image, scales, "direct"))
    assert len(chained) == len(direct) == len(scales) > 5
    for s, c, d in zip(scales, chained, direct):
        assert c.shape == d.shape == (*level_size(h, w, s), 3)
        diff = np.abs(c.astype(int) - d.astype(int))
        if 2 * s > min(scales[0], 1.0):
            assert diff.max() == 0  # resized from the full image in both modes
        assert diff.mean() < 3.0, (s, diff.mean())


@pytest.mark.parametrize("mode", ["chained", "direct"])
@pytest.mark.parametrize("min_face", [8, 20, 24, 48])
def test_float_pyramid_levels_equal_uint8_ones(min_face, mode):
    """The cascade's float32 levels hold exactly the uint8 levels' values: shrinking by fractional
    factors (float path), by whole factors (min face 24 halves a 640 x 480 image) and enlarging (min face 8)."""
    from openmtcnn.detect.pyramid import pyramid_levels, pyramid_scales

    image = cv2.resize(_photo(), (640, 480), interpolation=cv2.INTER_AREA)
    scales = pyramid_scales(480, 640, min_face, 0.709)
    for a, b in zip(pyramid_levels(image, scales, mode), pyramid_levels(image, scales, mode, as_float=True), strict=True):
        assert a.dtype == np.uint8 and b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_pyramid_mode_is_checked():
    from openmtcnn.config import DetectConfig
    from openmtcnn.detect.pyramid import pyramid_levels

    with pytest.raises(ValueError, match="pyramid"):
        DetectConfig(pyramid="fast")
    with pytest.raises(ValueError, match="pyramid mode"):
        list(pyramid_levels(np.zeros((40, 40, 3), np.uint8), [0.5], "fast"))


@pytest.mark.parametrize("strip", [1, 5, 24])
def test_pnet_strips_equal_the_whole_level(random_weights, strip):
    """Tall levels in strips: the same output grid and values as one call (odd and even heights)."""
    from openmtcnn.detect.backends import OnnxBackend
    from openmtcnn.detect.cascade import pnet_level

    b = OnnxBackend(random_weights, threads=1)
    rng = np.random.default_rng(strip)
    for h in (12, 13, 57, 100, 101, 163):
        x = rng.normal(0, 0.5, (1, 3, h, 41)).astype(np.float32)
        p0, r0 = pnet_level(b, x, strip=10**6)
        p1, r1 = pnet_level(b, x, strip=strip)
        assert p0.shape == p1.shape and r0.shape == r1.shape
        np.testing.assert_allclose(p1, p0, atol=1e-6)
        np.testing.assert_allclose(r1, r0, atol=1e-6)
