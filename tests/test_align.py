"""Alignment: the similarity fit, and that align() really puts the landmarks on the template."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from openmtcnn import align
from openmtcnn.align import TEMPLATE_112, similarity_transform, template


def random_similarity(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(-np.pi, np.pi)
    scale = rng.uniform(0.2, 5.0)
    t = rng.uniform(-200, 200, size=2)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, t[0]], [scale * s, scale * c, t[1]]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def test_similarity_transform_recovers_known_similarity(rng):
    for _ in range(50):
        m = random_similarity(rng)
        src = rng.uniform(-100, 100, size=(rng.integers(2, 12), 2))
        np.testing.assert_allclose(similarity_transform(src, apply(m, src)), m, atol=1e-8)


def test_similarity_transform_is_least_squares_and_never_reflects(rng):
    src = rng.uniform(0, 100, size=(5, 2))
    mirrored = src * [-1, 1]  # a reflection: no similarity maps src onto it exactly
    m = similarity_transform(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0
    assert np.isclose(m[0, 0], m[1, 1]) and np.isclose(m[0, 1], -m[1, 0])  # a similarity
    # least squares among similarities [[a, -b, tx], [b, a, ty]]: no nearby one does better
    err = ((apply(m, src) - mirrored) ** 2).sum()
    for _ in range(50):
        a, b, tx, ty = rng.normal(0, 1e-3, 4)
        d = np.array([[a, -b, tx], [b, a, ty]])
        assert ((apply(m + d, src) - mirrored) ** 2).sum() >= err


def test_similarity_transform_rejects_bad_shapes():
    with pytest.raises(ValueError, match="matching"):
        similarity_transform(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((1, 2)), np.zeros((1, 2)))


def test_template_size_and_margin():
    np.testing.assert_allclose(template(112), TEMPLATE_112)
    np.testing.assert_allclose(template(224), TEMPLATE_112 * 2)
    t = template(100, 0.25)  # the 112 template shrunk into the central half, then scaled to 100
    np.testing.assert_allclose(t, (TEMPLATE_112 / 112 * 0.5 + 0.25) * 100)
    with pytest.raises(ValueError, match="margin"):
        template(112, 0.5)


def blob_image(h: int, w: int, center: np.ndarray, sigma: float = 2.5) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.exp(-((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * sigma**2))
    return np.repeat((g * 255).round().astype(np.uint8)[:, :, None], 3, axis=2)


def centroid(img: np.ndarray) -> np.ndarray:
    g = img[:, :, 0].astype(np.float64)
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    return np.array([(g * xx).sum(), (g * yy).sum()]) / g.sum()


@pytest.mark.parametrize("size,margin", [(112, 0.0), (160, 0.1), (96, 0.3)])
def test_align_puts_landmarks_on_template(rng, size, margin):
    """A bright dot at each landmark of a rotated, scaled face lands on the template point in the crop."""
    h, w = 300, 400
    angle, scale = np.deg2rad(rng.uniform(-40, 40)), rng.uniform(1.2, 2.0)
    c, s = np.cos(angle), np.sin(angle)
    m = np.array([[scale * c, -scale * s, 150.0], [scale * s, scale * c, 80.0]])
    landmarks = apply(m, TEMPLATE_112)  # a face in the image, exactly a similarity of the template
    dst = template(size, margin)
    for k in range(5):
        crop = align(blob_image(h, w, landmarks[k]), landmarks, size=size, margin=margin)
        assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
        np.testing.assert_allclose(centroid(crop), dst[k], atol=0.35)


def test_align_batch_equals_single_and_accepts_pil(rng):
    img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    lms = np.stack([apply(random_similarity(rng) * [[0.3], [0.3]] + [[0, 0, 60], [0, 0, 50]], TEMPLATE_112) for _ in range(3)])
    crops = align(img, lms, size=64, margin=0.1)
    assert crops.shape == (3, 64, 64, 3)
    for i in range(3):
        np.testing.assert_array_equal(crops[i], align(img, lms[i], size=64, margin=0.1))
    np.testing.assert_array_equal(align(Image.fromarray(img), lms, size=64, margin=0.1), crops)
    assert align(img, np.zeros((0, 5, 2)), size=64).shape == (0, 64, 64, 3)


def test_align_grayscale_gives_three_channels(rng):
    gray = rng.integers(0, 256, (80, 80), dtype=np.uint8)
    crop = align(gray, TEMPLATE_112 * 0.5 + 10)
    assert crop.shape == (112, 112, 3)
    np.testing.assert_array_equal(crop[..., 0], crop[..., 2])


@pytest.mark.parametrize("shape", [(4, 2), (10,), (5, 3), (2, 2, 5, 2)])
def test_align_rejects_bad_landmark_shapes(shape):
    with pytest.raises(ValueError, match=r"\(5, 2\) or \(N, 5, 2\)"):
        align(np.zeros((50, 50, 3), np.uint8), np.zeros(shape))
