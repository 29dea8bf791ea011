"""Box maths: hand-checked cases and property tests against brute-force references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from openmtcnn.ops import boxes as B

coord = st.floats(-50, 150, allow_nan=False, width=32)


@st.composite
def box_arrays(draw, min_size=0, max_size=12):
    n = draw(st.integers(min_size, max_size))
    xy = draw(arrays(np.float64, (n, 2), elements=coord))
    wh = draw(arrays(np.float64, (n, 2), elements=st.floats(0.5, 80, allow_nan=False)))
    return np.concatenate([xy, xy + wh], axis=1)


def brute_overlap(a, b, mode):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    aa = (a[2] - a[0]) * (a[3] - a[1])
    ab = (b[2] - b[0]) * (b[3] - b[1])
    denom = min(aa, ab) if mode == "min" else aa + ab - inter
    return inter / denom if denom > 0 else 0.0


def brute_nms(boxes, scores, thr, mode):
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(brute_overlap(boxes[i], boxes[k], mode) <= thr for k in keep):
            keep.append(i)
    return keep


def test_iou_hand_cases():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 5]], float)
    np.testing.assert_allclose(B.box_iou(a, b)[0], [50 / 150, 1.0, 0.0, 25 / 100])
    np.testing.assert_allclose(B.box_iou(a, b, "min")[0], [0.5, 1.0, 0.0, 1.0])


@settings(max_examples=60, deadline=None)
@given(box_arrays(1), box_arrays(1), st.sampled_from(["union", "min"]))
def test_iou_matches_brute_force(a, b, mode):
    got = B.box_iou(a, b, mode)
    want = np.array([[brute_overlap(x, y, mode) for y in b] for x in a])
    np.testing.assert_allclose(got, want, atol=1e-9)
    assert np.all((got >= 0) & (got <= 1 + 1e-12))


@settings(max_examples=80, deadline=None)
@given(box_arrays(0, 15), st.floats(0.05, 0.95), st.sampled_from(["union", "min"]), st.data())
def test_nms_matches_brute_force(bx, thr, mode, data):
    # scores from a small set so ties happen, checking the stable tie order
    scores = np.array(data.draw(st.lists(st.sampled_from([0.1, 0.5, 0.9, 0.99]), min_size=len(bx), max_size=len(bx))))
    got = B.nms(bx, scores, thr, mode).tolist()
    assert got == brute_nms(bx, scores, thr, mode)


def test_nms_hand_case():
    bx = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 4, 4]], float)
    sc = np.array([0.9, 0.8, 0.7, 0.95])
    assert B.nms(bx, sc, 0.5).tolist() == [3, 0, 2]  # [1] overlaps [0] (IoU 0.68)
    assert B.nms(bx, sc, 0.5, "min").tolist() == [3, 2]  # [0] contains [3]: min-overlap 1.0
    assert B.nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


@settings(max_examples=60, deadline=None)
@given(box_arrays(1), st.data())
def test_calibrate_inverts_regression_targets(bx, data):
    tgt = data.draw(box_arrays(len(bx), len(bx)))
    off = B.regression_targets(bx, tgt)
    np.testing.assert_allclose(B.calibrate(bx, off), tgt, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(box_arrays(1), st.data())
def test_offsets_iou_is_iou_with_the_target(bx, data):
    tgt = data.draw(box_arrays(len(bx), len(bx)))
    off = B.regression_targets(bx, tgt)
    want = np.diag(B.box_iou(bx, tgt))
    np.testing.assert_allclose(B.offsets_iou(off), want, atol=1e-6)
    sq = B.square(bx)  # the target's square is the pixel square only from a square box (crops are square)
    want_sq = np.array([B.box_iou(sq[i : i + 1], B.square(tgt[i : i + 1]))[0, 0] for i in range(len(bx))])
    np.testing.assert_allclose(B.offsets_iou(B.regression_targets(sq, tgt), to_square=True), want_sq, atol=1e-6)


def test_offsets_iou_hand_case():
    # shifted by half its width: overlap 0.5, union 1.5; a 1 x 2 target's square is 2 x 2 (IoU 1/4 with the unit box)
    np.testing.assert_allclose(B.offsets_iou(np.array([[0.5, 0, 0.5, 0], [0, 0, 0, 1]])), [1 / 3, 0.5])
    np.testing.assert_allclose(B.offsets_iou(np.array([[0, 0, 0, 1]]), to_square=True), [0.25])


def test_calibrate_hand_case():
    got = B.calibrate(np.array([[10, 20, 30, 60]], float), np.array([[0.1, -0.25, 0.0, 0.5]]))
    np.testing.assert_allclose(got, [[12, 10, 30, 80]])


@settings(max_examples=60, deadline=None)
@given(box_arrays(1))
def test_square_keeps_centre_and_covers(bx):
    sq = B.square(bx)
    w, h = sq[:, 2] - sq[:, 0], sq[:, 3] - sq[:, 1]
    np.testing.assert_allclose(w, h)
    np.testing.assert_allclose(w, np.maximum(bx[:, 2] - bx[:, 0], bx[:, 3] - bx[:, 1]))
    np.testing.assert_allclose((sq[:, 0] + sq[:, 2]) / 2, (bx[:, 0] + bx[:, 2]) / 2)
    np.testing.assert_allclose((sq[:, 1] + sq[:, 3]) / 2, (bx[:, 1] + bx[:, 3]) / 2)
    assert np.all(sq[:, :2] <= bx[:, :2] + 1e-9) and np.all(sq[:, 2:] >= bx[:, 2:4] - 1e-9)


@settings(max_examples=80, deadline=None)
@given(box_arrays(1), st.integers(1, 100), st.integers(1, 100))
def test_pad_brute_force(bx, width, height):
    ib = B.integer_boxes(bx)
    src, dst = B.pad(ib, width, height)
    img = np.arange(width * height).reshape(height, width) + 1
    for k, (x1, y1, x2, y2) in enumerate(ib):
        crop = np.zeros((y2 - y1, x2 - x1), int)
        for yy in range(y1, y2):
            for xx in range(x1, x2):
                if 0 <= xx < width and 0 <= yy < height:
                    crop[yy - y1, xx - x1] = img[yy, xx]
        got = np.zeros_like(crop)
        s, d = src[k], dst[k]
        if s[2] > s[0] and s[3] > s[1]:
            got[d[1] : d[3], d[0] : d[2]] = img[s[1] : s[3], s[0] : s[2]]
        np.testing.assert_array_equal(got, crop)


def test_integer_boxes_keep_size_at_least_one():
    ib = B.integer_boxes(np.array([[3.4, 5.6, 3.5, 5.7], [0.5, 1.5, 10.4, 11.6]]))
    assert (ib[:, 2] - ib[:, 0] >= 1).all() and (ib[:, 3] - ib[:, 1] >= 1).all()
    assert ib[1].tolist() == [0, 2, 10, 12]


def test_clip():
    got = B.clip(np.array([[-5, -5, 50, 8]], float), 20, 10)
    np.testing.assert_allclose(got, [[0, 0, 20, 8]])


def test_points_box_hand_case():
    # eyes 30 apart, mouth 40 below the eyes: span 50; mean of the points (50, 46)
    pts = np.array([[[35, 30], [65, 30], [50, 50], [38, 70], [62, 70]]], float)
    got = B.points_box(pts)
    side = B.POINTS_BOX_SIDE * 50
    cx, cy = 50 + B.POINTS_BOX_SHIFT[0] * 50, 50 + B.POINTS_BOX_SHIFT[1] * 50
    np.testing.assert_allclose(got, [[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]])
    np.testing.assert_allclose(B.points_box(pts, 1.2)[0, 2] - B.points_box(pts, 1.2)[0, 0], 1.2 * side)


@given(st.floats(-100, 100), st.floats(-100, 100), st.floats(0.1, 10), st.floats(-np.pi, np.pi))
def test_points_box_follows_the_points(dx, dy, k, angle):
    """Moving the points moves the box; scaling them scales its side; rotating them keeps its side."""
    pts = np.array([[[35, 30], [65, 30], [50, 50], [38, 70], [62, 70]]], float)
    base = B.points_box(pts)
    moved = B.points_box(pts + [dx, dy])
    np.testing.assert_allclose(moved, base + [dx, dy, dx, dy], atol=1e-9)
    c = pts.mean(1, keepdims=True)
    scaled = B.points_box(c + k * (pts - c))
    np.testing.assert_allclose(scaled[0, 2] - scaled[0, 0], k * (base[0, 2] - base[0, 0]), rtol=1e-9)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = B.points_box(c + (pts - c) @ rot.T)
    np.testing.assert_allclose(turned[0, 2] - turned[0, 0], base[0, 2] - base[0, 0], rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(box_arrays(1), box_arrays(1), st.floats(-40, 40), st.floats(-40, 40), st.floats(0.25, 4))
def test_iou_is_symmetric_and_invariant_to_moving_and_scaling(a, b, dx, dy, k):
    for mode in ("union", "min"):
        got = B.box_iou(a, b, mode)
        np.testing.assert_allclose(got, B.box_iou(b, a, mode).T, atol=1e-12)
        shift = np.array([dx, dy, dx, dy])
        np.testing.assert_allclose(B.box_iou(a + shift, b + shift, mode), got, atol=1e-6)
        np.testing.assert_allclose(B.box_iou(a * k, b * k, mode), got, atol=1e-6)
    np.testing.assert_allclose(np.diag(B.box_iou(a, a)), 1.0)


@settings(max_examples=60, deadline=None)
@given(box_arrays(0, 15), st.floats(0.05, 0.95), st.sampled_from(["union", "min"]), st.data())
def test_nms_keeps_a_non_overlapping_cover_in_score_order(bx, thr, mode, data):
    scores = np.array(data.draw(st.lists(st.floats(0, 1), min_size=len(bx), max_size=len(bx))))
    keep = B.nms(bx, scores, thr, mode)
    assert len(set(keep.tolist())) == len(keep)
    assert np.all(np.diff(scores[keep]) <= 0), "best first"
    if len(keep) > 1:
        ov = B.box_iou(bx[keep], bx[keep], mode)
        assert np.all(ov[~np.eye(len(keep), dtype=bool)] <= thr + 1e-12), "no two kept boxes overlap above the threshold"
    for i in set(range(len(bx))) - set(keep.tolist()):  # each dropped box overlaps a kept one scoring at least as high
        assert any(B.box_iou(bx[i : i + 1], bx[k : k + 1], mode)[0, 0] > thr and scores[k] >= scores[i] for k in keep)
    perm = np.array(data.draw(st.permutations(range(len(bx)))), dtype=int)
    if len(set(scores.tolist())) == len(scores):  # ties aside, the input order does not matter
        assert sorted(perm[B.nms(bx[perm], scores[perm], thr, mode)].tolist()) == sorted(keep.tolist())


@settings(max_examples=60, deadline=None)
@given(box_arrays(1))
def test_calibrate_with_zero_offsets_and_square_twice_change_nothing(bx):
    np.testing.assert_allclose(B.calibrate(bx, np.zeros((len(bx), 4))), bx)
    np.testing.assert_allclose(B.square(B.square(bx)), B.square(bx), atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(box_arrays(1), st.integers(1, 100), st.integers(1, 100))
def test_pad_stays_inside_the_image_and_the_crop(bx, width, height):
    ib = B.integer_boxes(bx)
    src, dst = B.pad(ib, width, height)
    w, h = ib[:, 2] - ib[:, 0], ib[:, 3] - ib[:, 1]
    inside = (src[:, 2] > src[:, 0]) & (src[:, 3] > src[:, 1])
    s, d = src[inside], dst[inside]
    assert np.all((s[:, 0] >= 0) & (s[:, 1] >= 0) & (s[:, 2] <= width) & (s[:, 3] <= height))
    assert np.all((d[:, 0] >= 0) & (d[:, 1] >= 0) & (d[:, 2] <= w[inside]) & (d[:, 3] <= h[inside]))
    np.testing.assert_array_equal(s[:, 2:] - s[:, :2], d[:, 2:] - d[:, :2])
