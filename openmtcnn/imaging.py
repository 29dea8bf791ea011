"""Turning user input (paths, PIL images, arrays) into RGB uint8 arrays, with clear errors."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any, Union

import numpy as np

ImageInput = Union[str, PathLike, np.ndarray, Any]  # Any: a PIL.Image.Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}


class ImageError(ValueError):
    """An input that is not a usable image; the message names it."""


class ImageTooLarge(ImageError):
    """An image with more pixels than allowed (``max_pixels``), judged from its header before decoding."""


_LIMIT_NAMES = "max_pixels; --max-pixels on the command line"


def check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    """Refuse an image above ``max_pixels`` (``None``: no limit) with an :class:`ImageTooLarge` naming it and the limit."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(
            f"{name}: {width} x {height} = {width * height / 1e6:.1f} megapixels, over the limit of "
            f"{max_pixels / 1e6:.1f} ({_LIMIT_NAMES})"
        )


def load_image(path: str | PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as RGB uint8 ``(H, W, 3)``, applying its EXIF orientation.

    ``max_pixels``: refuse images with more pixels (:class:`ImageTooLarge`), read from the file's
    header before anything is decoded, so a decodable but huge file (or a "bomb" header) costs
    no memory. PIL's own guard stays in force above it: files over twice
    ``PIL.Image.MAX_IMAGE_PIXELS`` (179 megapixels by default; raise it to go further) are
    refused with the same message; PIL's warning below that is silenced.
    """
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: no such file")
    if p.is_dir():
        raise ImageError(f"{p}: is a folder, not an image")
    return _decode(p, str(p), max_pixels)


def decode_image(data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
    """Decode an encoded image (JPEG, PNG... bytes) as :func:`load_image` reads a file; ``name`` is how errors name it."""
    import io

    if not data:
        raise ImageError(f"{name}: empty, not an image")
    return _decode(io.BytesIO(data), name, max_pixels)


def _decode(fp: Any, name: str, max_pixels: int | None) -> np.ndarray:
    """The decoding of :func:`load_image` and :func:`decode_image`: any failure is an :class:`ImageError` naming ``name``."""
    import re
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns of damaged files ("Truncated File Read"...); they decode or raise
            with Image.open(fp) as im:
                check_pixels(name, *im.size, max_pixels)
                im = ImageOps.exif_transpose(im)
                return pil_to_rgb(im)
    except Image.DecompressionBombError as e:  # refused by PIL from the header, before ours
        n = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(n.group(1)) / 1e6:.1f} megapixels" if n else "too many pixels"
        limit = min(max_pixels or 2 * Image.MAX_IMAGE_PIXELS, 2 * Image.MAX_IMAGE_PIXELS)
        raise ImageTooLarge(f"{name}: {size}, over the limit of {limit / 1e6:.1f} ({_LIMIT_NAMES}; PIL.Image.MAX_IMAGE_PIXELS)") from e
    except UnidentifiedImageError as e:  # its message names the file object, not the input
        raise ImageError(f"{name}: not a readable image (no image format recognised)") from e
    except ImageError:
        raise
    except Exception as e:  # whatever a decoder raises on a damaged file (OSError, SyntaxError, struct.error ...)
        raise ImageError(f"{name}: not a readable image ({type(e).__name__}: {e})") from e


def image_size(path: str | PathLike) -> tuple[int, int]:
    """``(width, height)`` of an image file, EXIF orientation applied, reading only its header where possible."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            orient = im.getexif().get(0x0112, 1)
    except (FileNotFoundError, UnidentifiedImageError, OSError) as e:
        raise ImageError(f"{path}: not a readable image ({e})") from e
    return (h, w) if orient in (5, 6, 7, 8) else (w, h)


def pil_to_rgb(im: Any) -> np.ndarray:
    """PIL image of any mode -> RGB uint8 array (alpha dropped, grayscale expanded).

    16-bit grayscale (``I;16`` and ``I`` holding values above 255) is scaled to 8 bits;
    PIL's own conversion would clip it to white.
    """
    if im.mode.startswith("I;16") or im.mode == "I":
        a = np.asarray(im).astype(np.float64)
        if im.mode != "I" or a.max() > 255:
            a = a * (255.0 / 65535.0)
        return to_rgb(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    if im.mode != "RGB":
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA").convert("RGB")
        else:
            im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def to_rgb(image: ImageInput, bgr: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """Normalise any supported input to a contiguous RGB uint8 ``(H, W, 3)`` array.

    numpy arrays are taken as RGB unless ``bgr=True`` (OpenCV's order); 2-D arrays
    are grayscale, 4-channel arrays have their alpha dropped. Values: uint8 as they are;
    uint16 scaled from 0..65535; floats scaled from 0..1 when none is above 1, else taken
    as 0..255 (rounded, clipped); other integers must hold 0..255. Anything else (NaN,
    integers above 255, non-numbers) is an :class:`ImageError`, never a silent conversion.
    ``max_pixels``: see :func:`load_image`.
    """
    if isinstance(image, (str, PathLike)):
        return load_image(image, max_pixels)
    if hasattr(image, "mode") and hasattr(image, "convert"):
        from PIL import ImageOps

        check_pixels("PIL image", *image.size, max_pixels)
        return pil_to_rgb(ImageOps.exif_transpose(image))
    if not isinstance(image, np.ndarray):
        raise ImageError(f"unsupported image type {type(image).__name__}: give a path, a PIL image or a numpy array")
    a = image
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ImageError(f"image array has shape {image.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"image array is empty: shape {image.shape}")
    check_pixels("image array", a.shape[1], a.shape[0], max_pixels)
    if a.dtype != np.uint8:
        a = _to_uint8(a)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    if bgr:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """Array values -> uint8 0..255 by the rules of :func:`to_rgb`."""
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ImageError(f"image array has dtype {a.dtype}; expected uint8 (or uint16, or floats 0..1 or 0..255)")
    if a.dtype == np.uint16:
        return np.rint(a * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError("image array holds NaN or infinite values")
        if a.size and a.max() <= 1.0:
            a = a * 255.0  # 0..1 floats (skimage, matplotlib, torchvision's convention)
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if lo < 0 or hi > 255:
        raise ImageError(f"image array of {a.dtype} holds values {lo}..{hi}; expected 0..255 (or a uint16 array for 16-bit images)")
    return a.astype(np.uint8)


def is_image_path(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES
