"""Named variants of the net set (as timm's registry): one name -> three NetSpecs and the cascade options.

A name reads ``mtcnn[-dw][-a<alpha>][-r<rho>][-bl]``:

* ``-dw``: depthwise-separable convolutions (MobileNet's first knob; the first convolution stays standard);
* ``-a<alpha>``: width multiplier, every layer's channels times ``alpha`` (``-a0.5``, ``-a1.5``);
* ``-r<rho>``: resolution multiplier: R-Net and O-Net inputs ``24 rho`` and ``48 rho`` px (rounded; training samples
  are made at that size). P-Net is fully convolutional on 12 px windows, so its resolution multiplier is a detection
  setting of the same net, the scale of the pyramid's first level (``DetectConfig.pnet_scale``), not a variant;
* ``-bl``: R-Net and O-Net crops by bilinear sampling in one warp instead of one area resize per box
  (:func:`openmtcnn.ops.crops.crop_boxes`), in training samples and in the cascade alike.

Any such name parses (:func:`parse_variant`); :func:`list_variants` lists the common ones, those with a training
config in ``configs/variants/``. The cascade options a variant was trained for (:attr:`Variant.cascade`) travel
in its weight set's ``manifest.json`` (:func:`openmtcnn.nets.export.export_set`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..stages import STAGES
from .builder import ConvType, MTCNNNet, NetSpec, Stage, check_input_size

_NAME = re.compile(r"mtcnn(?P<dw>-dw)?(?:-a(?P<alpha>\d+(?:\.\d+)?))?(?:-r(?P<rho>\d+(?:\.\d+)?))?(?P<bl>-bl)?")


@dataclass(frozen=True)
class Variant:
    """One net set: convolution type, width multiplier ``alpha``, resolution multiplier ``rho``, crop method."""

    conv: ConvType = "standard"
    alpha: float = 1.0
    rho: float = 1.0
    crop_method: str = "area"

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 4:
            raise ValueError(f"width multiplier alpha must be in (0, 4], got {self.alpha}")
        if not 0 < self.rho <= 1:
            raise ValueError(f"resolution multiplier rho must be in (0, 1], got {self.rho}")
        for spec in self.specs.values():
            check_input_size(spec)

    @property
    def name(self) -> str:
        """The canonical name (:func:`parse_variant` of it gives this variant back)."""
        parts = ["mtcnn", "dw" if self.conv == "dwsep" else ""]
        parts += [f"a{self.alpha:g}" if self.alpha != 1 else "", f"r{self.rho:g}" if self.rho != 1 else ""]
        parts += ["bl" if self.crop_method == "bilinear" else ""]
        return "-".join(p for p in parts if p)

    @property
    def specs(self) -> dict[str, NetSpec]:
        out = {}
        for stage in STAGES:
            spec = NetSpec(stage, conv=self.conv, alpha=self.alpha)
            if stage != "pnet" and self.rho != 1:
                spec = NetSpec(stage, conv=self.conv, alpha=self.alpha, input_size=int(round(spec.size * self.rho)))
            out[stage] = spec
        return out

    @property
    def cascade(self) -> dict[str, object]:
        """The :class:`~openmtcnn.config.DetectConfig` options these nets were trained for (weight-bound options)."""
        return {"crop_method": self.crop_method}


@lru_cache(maxsize=256)
def parse_variant(name: str) -> Variant:
    """``mtcnn-dw-a0.5-r0.75`` -> :class:`Variant`; a name that does not parse, or nets that cannot take the
    input size, raise ``KeyError`` naming the variant."""
    m = _NAME.fullmatch(str(name))
    if m is None:
        raise KeyError(
            f"unknown net variant {name!r}: names read mtcnn[-dw][-a<alpha>][-r<rho>][-bl] "
            f"(e.g. mtcnn-dw-a0.5); common ones: {', '.join(list_variants())}"
        )
    try:
        return Variant(
            conv="dwsep" if m["dw"] else "standard",
            alpha=float(m["alpha"] or 1.0),
            rho=float(m["rho"] or 1.0),
            crop_method="bilinear" if m["bl"] else "area",
        )
    except ValueError as e:
        raise KeyError(f"net variant {name!r}: {e}") from e


#: the variants with a training config in configs/variants/ (MobileNet's three sweeps and alpha > 1)
COMMON = (
    "mtcnn",
    "mtcnn-dw",
    "mtcnn-dw-a0.75",
    "mtcnn-dw-a0.5",
    "mtcnn-dw-a0.25",
    "mtcnn-dw-a2",
    "mtcnn-a0.5",
    "mtcnn-dw-r0.75",
    "mtcnn-dw-r0.6",  # R-Net 14 px (its least input), O-Net 29 px
    "mtcnn-dw-bl",
)


def list_variants() -> list[str]:
    """The common variants (any name of the grammar above also works)."""
    return list(COMMON)


def variant_specs(name: str) -> dict[str, NetSpec]:
    return parse_variant(name).specs


def create_net(variant: str, stage: Stage) -> MTCNNNet:
    """Build one untrained net of a variant."""
    return MTCNNNet(variant_specs(variant)[stage])
