"""The optimised cascade finds exactly what a straightforward implementation of MTCNN finds.

The reference below is the algorithm written plainly: plain ONNX Runtime sessions on
the unmodified ONNX files (no graph rewrite, default options), one pyramid level
and one candidate box at a time, numpy's convert-and-normalise, the textbook greedy
NMS loop, and a per-box crop with explicit zero padding. The detector under test
rewrites the graphs, batches R-Net and O-Net over all candidates (and over images),
uses another NMS algorithm and a table lookup for the input scaling. Results must
agree to float tolerance, on random weights (with thresholds chosen from the nets'
own outputs so that every stage has work) and on the original MTCNN weights when
they can be converted here.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from openmtcnn.config import DetectConfig
from openmtcnn.detect.cascade import LANDMARK_CROP_SCALE
from openmtcnn.detect.pyramid import PNET_SIZE, pyramid_levels, pyramid_scales
from openmtcnn.imaging import load_image
from openmtcnn.ops.boxes import POINTS_BOX_SHIFT, POINTS_BOX_SIDE

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "images"


# ---------------------------------------------------------------------------------- reference


def ref_nms(boxes, scores, threshold, mode="union"):
    boxes = np.asarray(boxes, np.float64)
    order = list(np.argsort(-np.asarray(scores, np.float64), kind="stable"))
    area = lambda b: max(b[2] - b[0], 0) * max(b[3] - b[1], 0)  # noqa: E731
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = []
        for j in order:
            w = max(min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]), 0)
            h = max(min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]), 0)
            inter = w * h
            denom = min(area(boxes[i]), area(boxes[j])) if mode == "min" else area(boxes[i]) + area(boxes[j]) - inter
            ov = inter / denom if denom > 0 else 0.0
            if ov <= threshold:
                rest.append(j)
        order = rest
    return np.asarray(keep, np.int64)


def ref_calibrate(b, o):
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.stack([b[:, 0] + o[:, 0] * w, b[:, 1] + o[:, 1] * h, b[:, 2] + o[:, 2] * w, b[:, 3] + o[:, 3] * h], 1)


def ref_square(b):
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    x1, y1 = b[:, 0] + w / 2 - side / 2, b[:, 1] + h / 2 - side / 2
    return np.stack([x1, y1, x1 + side, y1 + side], 1)


def ref_input(a):
    x = np.asarray(a).astype(np.float32)[None]
    return np.ascontiguousarray(((x - np.float32(127.5)) * np.float32(1 / 128)).transpose(0, 3, 1, 2))


def ref_crop(image, box, size):
    h, w = image.shape[:2]
    x1, y1 = int(np.round(box[0])), int(np.round(box[1]))
    bw = max(int(np.round(box[2] - box[0])), 1)
    bh = max(int(np.round(box[3] - box[1])), 1)
    patch = np.zeros((bh, bw, 3), np.uint8)
    for yy in range(max(y1, 0), min(y1 + bh, h)):
        xa, xb = max(x1, 0), min(x1 + bw, w)
        if xb > xa:
            patch[yy - y1, xa - x1 : xb - x1] = image[yy, xa:xb]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def ref_crop_frame(box):
    """The whole-pixel box ``ref_crop`` cuts: what the nets' offsets are relative to."""
    x1, y1 = np.round(box[0]), np.round(box[1])
    return np.array([x1, y1, x1 + max(np.round(box[2] - box[0]), 1), y1 + max(np.round(box[3] - box[1]), 1)])


def ref_points_box(p, scale):
    (lx, ly), (rx, ry), _, (mlx, mly), (mrx, mry) = p
    span = np.sqrt((rx - lx) ** 2 + (ry - ly) ** 2 + ((lx + rx) / 2 - (mlx + mrx) / 2) ** 2 + ((ly + ry) / 2 - (mly + mry) / 2) ** 2)
    cx, cy = p[:, 0].mean() + POINTS_BOX_SHIFT[0] * span, p[:, 1].mean() + POINTS_BOX_SHIFT[1] * span
    half = POINTS_BOX_SIDE * scale * span / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])


def ref_refine(image, points, nets, passes):
    """Per face, O-Net ``passes`` times on a crop placed on its latest points (whole pixels); the mean points."""
    out = []
    for p in points:
        total = np.zeros((5, 2))
        for _ in range(passes):
            b = ref_points_box(p, LANDMARK_CROP_SCALE)
            x1, y1 = np.round(b[0]), np.round(b[1])
            side_x, side_y = max(np.round(b[2] - b[0]), 1), max(np.round(b[3] - b[1]), 1)
            lmk = nets("onet", ref_input(ref_crop(image, b, 48)))[2][0].reshape(5, 2)
            p = np.array([x1, y1]) + lmk * [side_x, side_y]
            total += p
        out.append(total / passes)
    return np.array(out).reshape(-1, 5, 2)


class PlainNets:
    """Unmodified ONNX files, default session options, one box per call."""

    def __init__(self, weights: Path):
        import onnxruntime as ort

        self.s = {k: ort.InferenceSession(str(weights / f"{k}.onnx"), providers=["CPUExecutionProvider"]) for k in ("pnet", "rnet", "onet")}

    def __call__(self, stage, x):
        return self.s[stage].run(None, {"image": x})


def reference_cascade(image, nets: PlainNets, cfg: DetectConfig):
    h, w = image.shape[:2]
    rows = []
    for level in pyramid_levels(image, pyramid_scales(h, w, cfg.min_face_size, cfg.scale_factor), cfg.pyramid):
        prob, reg, _ = nets("pnet", ref_input(level))
        sx, sy = level.shape[1] / w, level.shape[0] / h
        ys, xs = np.nonzero(prob[0] > cfg.thresholds[0])
        c = np.array(
            [[x * 2 / sx, y * 2 / sy, (x * 2 + PNET_SIZE) / sx, (y * 2 + PNET_SIZE) / sy, prob[0, y, x], *reg[0, :, y, x]] for y, x in zip(ys, xs)]
        ).reshape(-1, 9)
        if len(c):
            rows.append(c[ref_nms(c[:, :4], c[:, 4], cfg.nms_pnet_level)])
    if not rows:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    c = np.concatenate(rows)
    c = c[ref_nms(c[:, :4], c[:, 4], cfg.nms_pnet)]
    boxes, scores = ref_square(ref_calibrate(c[:, :4], c[:, 5:9])), c[:, 4]
    counts = [len(boxes)]
    for stage, size, t in (("rnet", 24, cfg.thresholds[1]), ("onet", 48, cfg.thresholds[2])):
        outs = [nets(stage, ref_input(ref_crop(image, b, size))) for b in boxes]
        prob = np.array([o[0][0] for o in outs]).reshape(-1)
        reg = np.array([o[1][0] for o in outs]).reshape(-1, 4)
        lmk = np.array([o[2][0] for o in outs]).reshape(-1, 10)
        keep = prob > t
        frames = np.array([ref_crop_frame(b) for b in boxes]).reshape(-1, 4)[keep]
        boxes, scores, reg, lmk = boxes[keep], prob[keep], reg[keep], lmk[keep]
        if stage == "rnet":
            pick = ref_nms(boxes, scores, cfg.nms_rnet)
            boxes, scores = ref_square(ref_calibrate(frames[pick], reg[pick])), scores[pick]
            counts.append(len(boxes))
        else:
            boxes = frames
            wh = (boxes[:, 2:4] - boxes[:, 0:2])[:, None, :]
            points = boxes[:, None, 0:2] + lmk.reshape(-1, 5, 2) * wh
            boxes = ref_calibrate(boxes, reg)
            pick = ref_nms(boxes, scores, cfg.nms_onet, mode="min")
            points = points[pick] if cfg.landmark_passes == 0 else ref_refine(image, points[pick], nets, cfg.landmark_passes)
            counts.append(len(pick) * cfg.landmark_passes)
            return boxes[pick], scores[pick], points, counts
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------- helpers


def working_thresholds(image, nets: PlainNets, min_face: float) -> tuple[float, float, float]:
    """Thresholds that let a few percent of P-Net cells and about half of the later candidates through."""
    level = next(pyramid_levels(image, pyramid_scales(*image.shape[:2], min_face, 0.709)))
    p = nets("pnet", ref_input(level))[0]
    rng = np.random.default_rng(0)
    r = nets("rnet", rng.normal(0, 0.6, (64, 3, 24, 24)).astype(np.float32))[0]
    o = nets("onet", rng.normal(0, 0.6, (64, 3, 48, 48)).astype(np.float32))[0]
    return float(np.quantile(p, 0.97)), float(np.quantile(r, 0.4)), float(np.quantile(o, 0.4))


def assert_same(found, ref, what: str):
    boxes, scores, points = found
    rb, rs, rp = ref[:3]
    assert len(scores) == len(rs), f"{what}: {len(scores)} faces, reference {len(rs)}"
    np.testing.assert_allclose(boxes, rb, atol=2e-3, err_msg=what)
    np.testing.assert_allclose(scores, rs, atol=1e-5, err_msg=what)
    np.testing.assert_allclose(points, rp, atol=2e-3, err_msg=what)


@pytest.fixture(scope="module")
def photo():
    return load_image(FIXTURES / "situation_room_480.jpg")


@pytest.mark.parametrize("refine", [0, 2])
def test_optimised_equals_reference_random_weights(random_weights, photo, refine):
    from openmtcnn import Detector
    from openmtcnn.detect import StageTimer

    nets = PlainNets(random_weights)
    cfg = DetectConfig(min_face_size=24, thresholds=working_thresholds(photo, nets, 24), landmark_passes=refine)
    ref = reference_cascade(photo, nets, cfg)
    assert ref[3][0] > 20 and ref[3][1] > 5 and len(ref[1]) > 2, f"the reference cascade has too little work: {ref[3]}"
    det = Detector(random_weights, cfg, threads=1)
    assert det.backend.graph_optimized
    timer = StageTimer()
    res = det.detect(photo, timer=timer)
    assert_same((res.boxes, res.scores, res.landmarks), ref, f"random weights, {refine} landmark passes")
    assert timer.batch == {"rnet": ref[3][0], "onet": ref[3][1] + ref[3][2]}


def test_batch_of_images_equals_one_by_one(random_weights, photo):
    """R-Net / O-Net batched over several images (of different sizes, one without faces) change nothing."""
    from openmtcnn import Detector

    nets = PlainNets(random_weights)
    cfg = DetectConfig(min_face_size=24, thresholds=working_thresholds(photo, nets, 24))
    det = Detector(random_weights, cfg, threads=1, batch_size=4)
    images = [photo, np.ascontiguousarray(photo[:200, 100:]), np.full((60, 80, 3), 127, np.uint8), np.ascontiguousarray(photo[::-1])]
    together = det.detect(images)
    for im, r in zip(images, together):
        alone = det.detect(im)
        assert len(r) == len(alone)
        np.testing.assert_allclose(r.boxes, alone.boxes, atol=1e-3)
        np.testing.assert_allclose(r.scores, alone.scores, atol=1e-5)
        np.testing.assert_allclose(r.landmarks, alone.landmarks, atol=1e-3)
    assert sum(len(r) for r in together) > 0


def test_optimised_equals_reference_original_weights(tmp_path_factory, photo):
    pytest.importorskip("torch")
    compat = pytest.importorskip("openmtcnn.compat")
    if compat.facenet_data_dir() is None:
        pytest.skip("facenet-pytorch's weight files are not installed (pip install facenet-pytorch==2.6.0 --no-deps)")
    from openmtcnn import Detector

    weights = compat.export_original(tmp_path_factory.mktemp("original"))
    cfg = DetectConfig(min_face_size=20)
    ref = reference_cascade(photo, PlainNets(Path(weights)), cfg)
    assert len(ref[1]) >= 1, "the original weights find no face in the fixture photo"
    res = Detector(weights, cfg, threads=1).detect(photo)
    assert_same((res.boxes, res.scores, res.landmarks), ref, "original weights")
