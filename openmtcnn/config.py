"""One configuration object for the cascade's detection settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class DetectConfig:
    """Detection settings (defaults are the everyday MTCNN ones).

    ``min_face_size``: smallest face, in pixels, the pyramid looks for.
    ``scale_factor``: ratio between pyramid levels (0.709 halves the area).
    ``thresholds``: face-probability cut-offs for P-Net, R-Net, O-Net.
    ``nms_pnet_level`` / ``nms_pnet`` / ``nms_rnet`` / ``nms_onet``: NMS IoU
    thresholds per pyramid level, across levels, after R-Net and after O-Net
    (the last one measured as intersection over the smaller box, "min").
    ``pyramid``: ``"chained"`` (levels resized from earlier levels: faster) or
    ``"direct"`` (each from the full image, as the original code; see
    :func:`openmtcnn.detect.pyramid.pyramid_levels`).
    ``max_candidates``: cap on boxes passed from one stage to the next (0 = none),
    a guard against pathological images.
    ``landmark_passes``: extra O-Net passes for the landmarks of each found face, on
    crops placed on its points (:func:`openmtcnn.detect.cascade.refine_landmarks`);
    the points are the mean of the passes. 0 = the points of O-Net's first look at
    the R-Net box, as the original MTCNN.
    ``max_pixels``: images with more pixels are refused with an :class:`~openmtcnn.ImageError`
    (files: from their header, before decoding; see :func:`openmtcnn.imaging.load_image`);
    ``None``: no limit of openmtcnn's own (PIL's guard, twice ``PIL.Image.MAX_IMAGE_PIXELS``,
    stays). The default, 100 megapixels, takes any camera photo up to 100 MP (about
    300 MB decoded) and refuses decompression bombs.
    """

    min_face_size: float = 20.0
    scale_factor: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    nms_pnet_level: float = 0.5
    nms_pnet: float = 0.7
    nms_rnet: float = 0.7
    nms_onet: float = 0.7
    pyramid: str = "chained"
    max_candidates: int = 0
    landmark_passes: int = 2
    max_pixels: int | None = 100_000_000

    def __post_init__(self) -> None:
        if self.min_face_size < 1:
            raise ValueError(f"min_face_size must be >= 1, got {self.min_face_size}")
        if not 0 < self.scale_factor < 1:
            raise ValueError(f"scale_factor must be in (0, 1), got {self.scale_factor}")
        if len(self.thresholds) != 3 or not all(0 <= t <= 1 for t in self.thresholds):
            raise ValueError(f"thresholds must be three probabilities, got {self.thresholds}")
        if self.pyramid not in ("chained", "direct"):
            raise ValueError(f"pyramid must be 'chained' or 'direct', got {self.pyramid!r}")
        if self.landmark_passes < 0:
            raise ValueError(f"landmark_passes must be >= 0, got {self.landmark_passes}")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ValueError(f"max_pixels must be >= 1 (or None: no limit), got {self.max_pixels}")
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))

    def with_overrides(self, **changes: Any) -> "DetectConfig":
        """A copy with the named settings changed (validated as a new config).

        An unknown name raises :class:`TypeError` naming it; ``None`` is a value only of the settings
        that take it (``max_pixels=None``: no limit); for the others it raises :class:`ValueError`
        (leave a setting out to keep it).
        """
        names = [f.name for f in fields(self)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise TypeError(f"unknown detection setting(s) {', '.join(unknown)}; known: {', '.join(names)}")
        nullable = {f.name for f in fields(self) if "None" in str(f.type)}
        empty = sorted(k for k, v in changes.items() if v is None and k not in nullable)
        if empty:
            raise ValueError(f"detection setting(s) {', '.join(empty)} given as None: give a value, or leave them out to keep {self}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["thresholds"] = list(self.thresholds)
        return d


#: The settings of the original authors' WIDER FACE evaluation (their notes). WIDER FACE scores boxes only,
#: so no landmark passes (they would cost time for the many low-scoring boxes kept at these thresholds).
WIDER_EVAL = DetectConfig(min_face_size=10, scale_factor=0.79, thresholds=(0.5, 0.5, 0.3), landmark_passes=0)
