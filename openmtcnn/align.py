"""Face alignment: warp a face onto the standard 5-point template by a similarity transform."""

from __future__ import annotations

import cv2
import numpy as np

from .imaging import ImageInput, to_rgb

#: The common 5-point template (ArcFace / InsightFace) for a 112 x 112 crop:
#: left eye, right eye, nose, left and right mouth corner.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` onto ``dst``.

    Umeyama's closed form; returns a ``2 x 3`` matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (N, 2) point sets with N >= 2, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    r = u @ sign @ vt
    scale = (sig * np.diag(sign)).sum() / var_s if var_s > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def template(size: int = 112, margin: float = 0.0) -> np.ndarray:
    """The 5 template points for a ``size x size`` crop; ``margin`` (fraction of the size on each side) adds context."""
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    p = TEMPLATE_112 / 112.0
    return (p * (1 - 2 * margin) + margin) * size


def align(image: ImageInput, landmarks: np.ndarray, size: int = 112, margin: float = 0.0) -> np.ndarray:
    """Aligned face crop(s): ``landmarks`` ``(5, 2)`` -> ``(size, size, 3)``, or ``(N, 5, 2)`` -> ``(N, size, size, 3)``.

    The output has the channel order of the input array (RGB for paths and PIL images):
    the warp does not mix channels, so a BGR array gives BGR crops.
    """
    img = to_rgb(image)
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim not in (2, 3) or lm.shape[-2:] != (5, 2):
        raise ValueError(f"landmarks must have shape (5, 2) or (N, 5, 2), got {lm.shape}")
    single = lm.ndim == 2
    lm = lm.reshape(-1, 5, 2)
    dst = template(size, margin)
    out = np.stack(
        [
            cv2.warpAffine(img, similarity_transform(p, dst), (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            for p in lm
        ]
    ) if len(lm) else np.zeros((0, size, size, 3), np.uint8)
    return out[0] if single else out
