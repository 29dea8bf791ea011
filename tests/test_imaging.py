"""Input normalisation: every supported input becomes the same RGB uint8 array; bad input fails naming itself."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from openmtcnn import ImageError
from openmtcnn.imaging import is_image_path, load_image, to_rgb


@pytest.fixture()
def rgb(rng) -> np.ndarray:
    return rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)


def test_arrays(rgb):
    assert to_rgb(rgb).flags.c_contiguous
    np.testing.assert_array_equal(to_rgb(rgb), rgb)
    np.testing.assert_array_equal(to_rgb(np.ascontiguousarray(rgb[:, :, ::-1]), bgr=True), rgb)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(to_rgb(rgba), rgb)
    gray = rgb[:, :, 0]
    np.testing.assert_array_equal(to_rgb(gray), np.dstack([gray] * 3))
    np.testing.assert_array_equal(to_rgb(gray[:, :, None]), np.dstack([gray] * 3))
    np.testing.assert_array_equal(to_rgb(rgb.astype(np.float32)), rgb)
    np.testing.assert_array_equal(to_rgb(np.array([[[-5.0, 300.0, 2.6]]])), [[[0, 255, 3]]])


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((2, 2, 2, 3), np.uint8), "shape"),
        (np.array([[["a", "b", "c"]]]), "dtype"),
        ([[1, 2, 3]], "unsupported image type list"),
    ],
)
def test_bad_arrays(bad, match):
    with pytest.raises(ImageError, match=match):
        to_rgb(bad)


def test_pil_modes(rgb):
    np.testing.assert_array_equal(to_rgb(Image.fromarray(rgb)), rgb)
    np.testing.assert_array_equal(to_rgb(Image.fromarray(rgb).convert("RGBA")), rgb)
    gray = rgb[:, :, 1]
    np.testing.assert_array_equal(to_rgb(Image.fromarray(gray)), np.dstack([gray] * 3))
    la = Image.fromarray(gray).convert("LA")
    np.testing.assert_array_equal(to_rgb(la), np.dstack([gray] * 3))
    pal = Image.fromarray(rgb).convert("P")
    np.testing.assert_array_equal(to_rgb(pal), np.asarray(pal.convert("RGB")))


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_files_round_trip(tmp_path, rgb, suffix):
    p = tmp_path / f"x{suffix}"
    Image.fromarray(rgb).save(p, **({"lossless": True} if suffix == ".webp" else {}))
    np.testing.assert_array_equal(load_image(p), rgb)
    np.testing.assert_array_equal(to_rgb(str(p)), rgb)


def test_grayscale_and_rgba_files(tmp_path, rgb):
    Image.fromarray(rgb[:, :, 2]).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png"), np.dstack([rgb[:, :, 2]] * 3))
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)


def test_file_errors_name_the_path(tmp_path):
    with pytest.raises(ImageError, match="missing.jpg: no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ImageError, match="bad.jpg: not a readable image"):
        load_image(bad)
    truncated = tmp_path / "truncated.png"
    Image.fromarray(np.zeros((50, 50, 3), np.uint8) + 99).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(ImageError, match="truncated.png"):
        load_image(truncated)


def test_is_image_path():
    from pathlib import Path

    assert is_image_path(Path("a/b.JPG")) and is_image_path(Path("c.png"))
    assert not is_image_path(Path("notes.txt")) and not is_image_path(Path("clip.mp4"))


def test_oversized_image_is_an_image_error(tmp_path, rgb, monkeypatch):
    """PIL's decompression-bomb guard surfaces as an ImageError naming the file, not a crash."""
    Image.fromarray(rgb).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 30 x 40 is then over twice the limit
    with pytest.raises(ImageError, match="huge.png"):
        load_image(tmp_path / "huge.png")


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 30 * 40).reshape(30, 40).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode.startswith("I")  # 16-bit grayscale as PIL sees it
    expected = np.rint(ramp / 257.0).astype(np.uint8)
    got = load_image(tmp_path / "g16.png")
    assert got.shape == (30, 40, 3)
    np.testing.assert_array_equal(got[:, :, 0], expected)
    np.testing.assert_array_equal(to_rgb(Image.fromarray(ramp).convert("I")), np.dstack([expected] * 3))
    small = Image.fromarray((ramp // 257).astype(np.int32), mode="I")  # 32-bit mode holding 8-bit values: kept as is
    np.testing.assert_array_equal(to_rgb(small)[:, :, 0], (ramp // 257).astype(np.uint8))


def test_float_and_16_bit_arrays_are_scaled(rgb):
    """0-1 floats (skimage, matplotlib) and uint16 arrays give the same image, never a black one."""
    np.testing.assert_array_equal(to_rgb(rgb / 255.0), rgb)
    np.testing.assert_array_equal(to_rgb((rgb / 255.0).astype(np.float32)), rgb)
    np.testing.assert_array_equal(to_rgb(rgb.astype(np.uint16) * 257), rgb)
    np.testing.assert_array_equal(to_rgb(rgb.astype(np.int32)), rgb)  # other integers: 0..255 as they are


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.full((4, 4, 3), np.nan), "NaN"),
        (np.full((4, 4, 3), 1000, np.int32), "holds values 1000..1000; expected 0..255"),
        (np.full((4, 4, 3), -1, np.int16), "holds values -1..-1"),
        (np.ones((4, 4, 3), bool), "dtype bool"),
    ],
)
def test_arrays_out_of_range_are_refused(bad, match):
    with pytest.raises(ImageError, match=match):
        to_rgb(bad)


def test_max_pixels_refuses_before_decoding(tmp_path, rgb):
    """A header claiming 30000 x 20000 pixels is refused from the header: no memory spent decoding it."""
    import tracemalloc

    from broken_corpus import _bomb_png

    (tmp_path / "bomb.png").write_bytes(_bomb_png(12_000, 10_000))
    (tmp_path / "bigger.png").write_bytes(_bomb_png(30_000, 20_000))
    tracemalloc.start()
    with pytest.raises(ImageError, match=r"bomb.png: 12000 x 10000 = 120.0 megapixels, over the limit of 100.0 \(max_pixels"):
        load_image(tmp_path / "bomb.png", max_pixels=100_000_000)
    with pytest.raises(ImageError, match=r"bigger.png: 600.0 megapixels, over the limit of 100.0 \(max_pixels"):
        load_image(tmp_path / "bigger.png", max_pixels=100_000_000)  # over PIL's own limit too: refused there, same words
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000
    Image.fromarray(rgb).save(tmp_path / "small.png")
    with pytest.raises(ImageError, match="40 x 30 = 0.0 megapixels"):
        load_image(tmp_path / "small.png", max_pixels=1000)
    np.testing.assert_array_equal(load_image(tmp_path / "small.png", max_pixels=1200), rgb)
    with pytest.raises(ImageError, match="image array: 40 x 30"):
        to_rgb(rgb, max_pixels=1000)


def test_detector_applies_max_pixels(tmp_path, rgb):
    from openmtcnn import Detector

    det = Detector(max_pixels=1000)
    with pytest.raises(ImageError, match="over the limit"):
        det.detect(rgb)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    with pytest.raises(ImageError, match="a.png: 40 x 30"):
        det.detect(tmp_path / "a.png")
