"""A corpus of awkward and broken image files, made by the tests (nothing committed).

    from broken_corpus import make_corpus
    paths = make_corpus(tmp_path / "corpus")      # >= 200 files, deterministic (seed 0)

Each file's name says what it is (``<kind>_<n>.<suffix>``); :func:`expected_readable` tells
whether openmtcnn should decode it (a result) or refuse it (an error naming the file). Kinds:

- ``mode_*``: every PIL mode that PIL can save (1, L, LA, P, PA, RGB, RGBA, I, I;16, F, CMYK,
  YCbCr, LAB, HSV) in PNG / TIFF / JPEG / WebP / BMP, as far as each format takes it: readable;
- ``exif_*``: JPEGs with EXIF orientations 1-8: readable;
- ``animated_*``: animated GIF, PNG (APNG) and WebP: readable (first frame);
- ``odd_*``: odd names (spaces, unicode, several dots, a leading dash, upper-case suffix,
  a JPEG named .png): readable;
- ``tiny_*``: 1x1 and 1xN images: readable;
- ``empty_*``: zero bytes; ``random_*``: random bytes; ``truncated_*``: the first part of a valid
  file; ``flipped_*``: a valid file with some bits flipped after its first 64 bytes (may or may
  not still decode); ``bomb_*``: a valid PNG header claiming 100000 x 100000 pixels; ``text_*``:
  text with an image suffix: refused (flipped: either, but never a crash).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "I", "I;16", "F", "CMYK", "YCbCr", "LAB", "HSV"]
FORMATS = {"png": "PNG", "tiff": "TIFF", "jpg": "JPEG", "webp": "WEBP", "bmp": "BMP"}


def _photo(rng: np.random.Generator, h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth RGB picture with some noise (compresses like a photo, unlike pure noise)."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, FORMATS[fmt], **kw)
    return buf.getvalue()


def _bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A well-formed PNG header (and a tiny IDAT) claiming ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _readable(rng: np.random.Generator) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    rgb = Image.fromarray(_photo(rng))
    n = 0
    for mode in MODES:
        try:
            im = rgb.convert(mode)
        except (ValueError, OSError):
            im = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257).convert(mode) if mode.startswith("I") else None
        if im is None:
            continue
        for suffix in FORMATS:
            try:
                data = _encode(im, suffix)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # this format does not take this mode
            files[f"mode_{n:03d}_{mode.replace(';', '')}.{suffix}"] = data
            n += 1
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        files[f"exif_{o}.jpg"] = _encode(rgb, "jpg", exif=exif.tobytes())
    frames = [Image.fromarray(_photo(rng)) for _ in range(3)]
    for suffix in ("gif", "png", "webp"):
        buf = io.BytesIO()
        frames[0].save(buf, {"gif": "GIF", "png": "PNG", "webp": "WEBP"}[suffix], save_all=True, append_images=frames[1:], duration=100, loop=0)
        files[f"animated_{suffix}.{suffix}"] = buf.getvalue()
    jpg = _encode(rgb, "jpg")
    for name in ["odd_with space.jpg", "odd_ünïcödé_顔.jpg", "odd_many.dots.in.name.jpg", "-odd_leading_dash.jpg",
                 "odd_UPPER.JPG", "odd_jpeg_named.png", "odd_quote'and\"double.jpg", "odd_#hash%percent&.jpg"]:  # fmt: skip
        files[name] = jpg
    for i, (h, w) in enumerate([(1, 1), (1, 40), (40, 1), (2, 2)]):
        files[f"tiny_{i}.png"] = _encode(Image.fromarray(_photo(rng, h, w)), "png")
    return files


def _suffix(data: bytes) -> str:
    return "png" if data.startswith(b"\x89PNG") else "jpg"


def _broken(rng: np.random.Generator, valid: list[bytes]) -> dict[str, bytes]:
    files: dict[str, bytes] = {"empty_0.jpg": b"", "empty_1.png": b"", "text_0.jpg": b"just some text\n", "text_1.png": b"<html></html>"}
    for i in range(40):
        files[f"random_{i:02d}.{list(FORMATS)[i % 5]}"] = rng.bytes(int(rng.integers(1, 4000)))
    for i in range(45):
        data = valid[i % len(valid)]
        files[f"truncated_{i:02d}.{_suffix(data)}"] = data[: max(1, int(len(data) * rng.uniform(0.05, 0.7)))]
    for i in range(45):
        data = bytearray(valid[(7 * i) % len(valid)])
        for _ in range(int(rng.integers(1, 12))):
            k = int(rng.integers(min(64, len(data) - 1), len(data)))
            data[k] ^= 1 << int(rng.integers(0, 8))
        files[f"flipped_{i:02d}.{_suffix(bytes(data))}"] = bytes(data)
    files["bomb_0.png"] = _bomb_png()
    files["bomb_1.png"] = _bomb_png(30_000, 20_000)
    return files


def make_corpus(folder: str | Path, seed: int = 0) -> list[Path]:
    """Write the corpus into ``folder`` (created) and return its files, sorted (at least 200)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    readable = _readable(rng)
    valid = [v for k, v in readable.items() if k.endswith((".png", ".jpg")) and k.startswith("mode_")]
    files = {**readable, **_broken(rng, valid)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    paths = sorted(folder / n for n in files)
    assert len(paths) >= 200, len(paths)
    return paths


def expected_readable(path: str | Path) -> bool | None:
    """True: must decode; False: must be refused; None (bit-flipped): either, never a crash."""
    name = Path(path).name
    if name.startswith("flipped_"):
        return None
    return not name.startswith(("empty_", "random_", "truncated_", "bomb_", "text_"))
