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


def load_image(path: str | PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 ``(H, W, 3)``, applying its EXIF orientation."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: no such file")
    if p.is_dir():
        raise ImageError(f"{p}: is a folder, not an image")
    try:
        with Image.open(p) as im:
            im = ImageOps.exif_transpose(im)
            return pil_to_rgb(im)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{p}: not a readable image ({e})") from e


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
        return to_rgb(a)
    if im.mode != "RGB":
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA").convert("RGB")
        else:
            im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def to_rgb(image: ImageInput, bgr: bool = False) -> np.ndarray:
    """Normalise any supported input to a contiguous RGB uint8 ``(H, W, 3)`` array.

    numpy arrays are taken as RGB unless ``bgr=True`` (OpenCV's order); 2-D arrays
    are grayscale, 4-channel arrays have their alpha dropped. Float arrays must
    hold 0..255 values.
    """
    if isinstance(image, (str, PathLike)):
        return load_image(image)
    if hasattr(image, "mode") and hasattr(image, "convert"):
        from PIL import ImageOps

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
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.number):
            raise ImageError(f"image array has dtype {a.dtype}; expected uint8")
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    if bgr:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def is_image_path(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES


class ImageTooLarge(ImageError):
    """An image with more pixels than the caller allows (read from its header, before decoding)."""


def decode_image(data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
    """Decode an encoded image (JPEG, PNG... bytes) to RGB uint8 ``(H, W, 3)``, applying its EXIF orientation.

    ``name`` is how errors name it. ``max_pixels``: refuse larger images with :class:`ImageTooLarge`,
    judged from the header before the pixels are decoded.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageError(f"{name}: empty, not an image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if max_pixels is not None and w * h > max_pixels:
                raise ImageTooLarge(f"{name}: {w} x {h} pixels is more than the {max_pixels} allowed")
            return to_rgb(im)
    except UnidentifiedImageError as e:
        raise ImageError(f"{name}: not an image (no image format recognised)") from e
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"{name}: too many pixels ({e})") from e
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, ImageError):
            raise
        raise ImageError(f"{name}: not a readable image ({e})") from e
