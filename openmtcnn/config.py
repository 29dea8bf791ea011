"""One configuration object for the cascade's detection settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .ops.crops import CROP_METHODS


#: the settings a weight set's manifest may fix (its nets were trained for them), with their values when neither
#: the caller nor the weight set gives one: the original cascade's
WEIGHT_BOUND: dict[str, Any] = {"pnet_scale": 1.0, "crop_method": "area"}


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

    Weight-bound settings (:data:`WEIGHT_BOUND`): ``None`` means "what the weight set was trained for",
    read from its ``manifest.json`` (``cascade``) by :meth:`for_weights`, else the value in
    :data:`WEIGHT_BOUND`; a value given here wins over the weight set's.
    ``pnet_scale``: the scale of the pyramid's first level relative to ``12 / min_face_size`` (every
    level's scale times it; P-Net's resolution multiplier: 0.75 runs P-Net on 0.75x the pixels per
    level, and faces under ``min_face_size / pnet_scale`` become hard to find). ``crop_method``: how
    R-Net and O-Net inputs are cropped (:func:`openmtcnn.ops.crops.crop_boxes`: ``"area"``, one area
    resize per box as the original code, or ``"bilinear"``, one warp for all boxes).
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
    pnet_scale: float | None = None
    crop_method: str | None = None

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
        if self.pnet_scale is not None and not 0 < self.pnet_scale <= 4:
            raise ValueError(f"pnet_scale must be in (0, 4], got {self.pnet_scale}")
        if self.crop_method not in (None, *CROP_METHODS):
            raise ValueError(f"crop_method must be one of {CROP_METHODS}, got {self.crop_method!r}")
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

    def for_weights(self, options: dict[str, Any] | None = None) -> "DetectConfig":
        """A copy with every weight-bound setting left ``None`` taken from ``options`` (a weight set's
        ``manifest.json`` ``cascade``), else from :data:`WEIGHT_BOUND`. Keys of ``options`` that are not
        weight-bound raise ``ValueError`` naming them."""
        if all(getattr(self, k) is not None for k in WEIGHT_BOUND):
            return self
        options = dict(options or {})
        unknown = set(options) - set(WEIGHT_BOUND)
        if unknown:
            raise ValueError(f"cascade options {sorted(unknown)} cannot come from a weight set; known: {sorted(WEIGHT_BOUND)}")
        filled = {k: options.get(k, d) for k, d in WEIGHT_BOUND.items() if getattr(self, k) is None}
        return replace(self, **filled)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["thresholds"] = list(self.thresholds)
        return d


#: The settings of the original authors' WIDER FACE evaluation (their notes). WIDER FACE scores boxes only,
#: so no landmark passes (they would cost time for the many low-scoring boxes kept at these thresholds).
WIDER_EVAL = DetectConfig(min_face_size=10, scale_factor=0.79, thresholds=(0.5, 0.5, 0.3), landmark_passes=0)
