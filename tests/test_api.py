"""The public Detector API: every input form gives the same faces; results serialise.

Untrained (random) nets with low thresholds: the faces are arbitrary but deterministic,
which is what comparing input forms needs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from openmtcnn import DetectConfig, DetectResult, Detector, ImageError


@pytest.fixture(scope="module")
def det(random_weights) -> Detector:
    return Detector(random_weights, thresholds=(0.3, 0.3, 0.3), min_face_size=40, threads=1)


@pytest.fixture()
def img(rng) -> np.ndarray:
    """A colour image whose channels differ strongly (noise over per-channel gradients)."""
    h, w = 72, 96
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.dstack([xx * 255 / w, yy * 255 / h, 255 - xx * 255 / w])
    return np.clip(base * 0.5 + rng.integers(0, 128, (h, w, 3)), 0, 255).astype(np.uint8)


def same(a: DetectResult, b: DetectResult) -> None:
    assert a.image_size == b.image_size
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)


def test_result_shapes_and_order(det, img):
    r = det.detect(img)
    assert len(r) > 0, "random nets at low thresholds should report some faces"
    assert r.boxes.shape == (len(r), 4) and r.landmarks.shape == (len(r), 5, 2)
    assert r.boxes.dtype == r.scores.dtype == r.landmarks.dtype == np.float32
    assert r.image_size == (96, 72)
    assert np.all(np.diff(r.scores) <= 0), "highest score first"
    assert np.all(r.scores >= 0.3)


def test_bgr_flag(det, img):
    r = det.detect(img)
    same(det.detect(np.ascontiguousarray(img[:, :, ::-1]), bgr=True), r)
    same(det.detect(img[:, :, ::-1], bgr=True), r)  # a negative-stride view works too
    swapped = det.detect(np.ascontiguousarray(img[:, :, ::-1]))  # BGR read as RGB: a different image
    assert len(swapped) != len(r) or not np.allclose(swapped.boxes, r.boxes)


def test_pil_and_path_inputs(det, img, tmp_path):
    r = det.detect(img)
    same(det.detect(Image.fromarray(img)), r)
    p = tmp_path / "img.png"
    Image.fromarray(img).save(p)
    rp = det.detect(p)
    same(rp, r)
    assert rp.source == str(p) and r.source is None
    assert det.detect(str(p)).source == str(p)


def test_grayscale_and_rgba(det, img, tmp_path):
    gray = img[:, :, 1].copy()
    r = det.detect(np.dstack([gray] * 3))
    same(det.detect(gray), r)
    Image.fromarray(gray).save(tmp_path / "g.png")
    same(det.detect(tmp_path / "g.png"), r)
    rgba = np.dstack([img, np.full(gray.shape, 200, np.uint8)])
    same(det.detect(rgba), det.detect(img))
    Image.fromarray(rgba).save(tmp_path / "a.png")
    same(det.detect(tmp_path / "a.png"), det.detect(img))


@pytest.mark.parametrize("orientation,k", [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation(det, img, tmp_path, orientation, k):
    """A JPEG stored sideways with an EXIF orientation tag is detected upright."""
    stored = np.ascontiguousarray(np.rot90(img, -k))  # what a camera would store for this orientation
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "rot.jpg"
    Image.fromarray(stored).save(p, quality=98, subsampling=0, exif=exif)
    with Image.open(p) as im:
        decoded = np.asarray(im.convert("RGB"))  # raw pixels, orientation not applied
    upright = np.ascontiguousarray(np.rot90(decoded, k))
    assert upright.shape == img.shape
    err = np.abs(upright.astype(int) - img).mean()
    assert err < 4 and err < np.abs(np.rot90(upright, 2).astype(int) - img).mean() / 5  # the original, upright
    r = det.detect(p)
    assert r.image_size == (img.shape[1], img.shape[0])
    same(r, det.detect(upright))


def test_list_of_sizes_equals_single_calls(det, rng, img):
    images = [img, rng.integers(0, 256, (50, 130, 3), dtype=np.uint8), img[:60, :45]]
    results = det.detect(images)
    assert isinstance(results, list) and len(results) == 3
    for im, r in zip(images, results):
        same(r, det.detect(im))
    assert [r.image_size for r in results] == [(96, 72), (130, 50), (45, 60)]
    assert det.detect(tuple(images))[1].image_size == (130, 50)


def test_bad_paths_raise_image_error_naming_them(det, tmp_path):
    txt = tmp_path / "notes.jpg"
    txt.write_text("not an image")
    with pytest.raises(ImageError, match="notes.jpg"):
        det.detect(txt)
    with pytest.raises(ImageError, match="nothere.png"):
        det.detect(tmp_path / "nothere.png")
    with pytest.raises(ImageError, match="nothere.png"):
        det.detect([np.zeros((50, 50, 3), np.uint8), tmp_path / "nothere.png"])


def test_config_and_overrides(random_weights):
    d = Detector(random_weights, DetectConfig(min_face_size=30), thresholds=(0.5, 0.6, 0.7))
    assert d.config.min_face_size == 30 and d.config.thresholds == (0.5, 0.6, 0.7)
    with pytest.raises(ValueError, match="scale_factor"):
        Detector(random_weights, scale_factor=1.5)


def test_with_overrides_names_what_it_cannot_take():
    base = DetectConfig(min_face_size=30)
    changed = base.with_overrides(landmark_passes=0, pyramid="direct")
    assert (changed.min_face_size, changed.landmark_passes, changed.pyramid) == (30, 0, "direct")
    assert base.landmark_passes == 2  # a copy
    with pytest.raises(ValueError, match="min_face_size given as None"):
        base.with_overrides(min_face_size=None)  # not silently the old value
    with pytest.raises(TypeError, match="unknown detection setting.*landmark_refine"):
        base.with_overrides(landmark_refine=0)


def test_to_json_round_trips(det, img, tmp_path):
    p = tmp_path / "img.png"
    Image.fromarray(img).save(p)
    r = det.detect(p)
    d = json.loads(r.to_json())
    assert d == r.to_dict()
    assert d["source"] == str(p) and (d["width"], d["height"]) == r.image_size
    assert len(d["faces"]) == len(r)
    np.testing.assert_allclose([f["box"] for f in d["faces"]], r.boxes, atol=0.006)
    np.testing.assert_allclose([f["score"] for f in d["faces"]], r.scores, atol=6e-6)
    lm = [[f["landmarks"][n] for n in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")] for f in d["faces"]]
    np.testing.assert_allclose(lm, r.landmarks, atol=0.006)
    empty = DetectResult.empty((10, 20))
    assert json.loads(empty.to_json()) == {"width": 10, "height": 20, "faces": []}


def test_draw(det, img):
    from openmtcnn.draw import BOX_COLOR, LANDMARK_COLORS, draw

    black = np.zeros((200, 300, 3), np.uint8)
    lm = np.array([[[60, 70], [100, 70], [80, 90], [65, 110], [95, 110]]], np.float32)
    r = DetectResult(np.array([[40, 40, 120, 140]], np.float32), np.array([0.9], np.float32), lm, (300, 200))
    out = draw(black, r, scores=False)
    assert black.max() == 0, "the input is not drawn on"
    for (x, y), c in zip(lm[0], LANDMARK_COLORS):
        assert tuple(out[int(y), int(x)]) == c
    assert tuple(out[90, 40]) == BOX_COLOR and tuple(out[140, 80]) == BOX_COLOR  # box edges
    assert out[150:, 130:].max() == 0 and out[:35, 130:].max() == 0  # nothing far from the face
    assert draw(black, r).sum() > out.sum()  # the score label
    np.testing.assert_array_equal(draw(black, r, bgr=True)[:, :, ::-1], draw(black, r))
    np.testing.assert_array_equal(draw(img, DetectResult.empty((96, 72))), img)
    found = det.detect(img)
    assert not np.array_equal(draw(img, found), img)
    np.testing.assert_array_equal(draw(Image.fromarray(img), found), draw(img, found))
