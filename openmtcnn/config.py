"""One configuration object for the cascade's detection settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
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
    landmarks: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.min_face_size < 1:
            raise ValueError(f"min_face_size must be >= 1, got {self.min_face_size}")
        if not 0 < self.scale_factor < 1:
            raise ValueError(f"scale_factor must be in (0, 1), got {self.scale_factor}")
        if len(self.thresholds) != 3 or not all(0 <= t <= 1 for t in self.thresholds):
            raise ValueError(f"thresholds must be three probabilities, got {self.thresholds}")
        if self.pyramid not in ("chained", "direct"):
            raise ValueError(f"pyramid must be 'chained' or 'direct', got {self.pyramid!r}")
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))

    def replace(self, **changes: Any) -> "DetectConfig":
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        d["thresholds"] = list(self.thresholds)
        return d


#: The settings of the original authors' WIDER FACE evaluation (their notes).
WIDER_EVAL = DetectConfig(min_face_size=10, scale_factor=0.79, thresholds=(0.5, 0.5, 0.3))
