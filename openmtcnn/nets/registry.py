"""Named variants of the net set (as timm's registry): one name -> three NetSpecs and the cascade options.

A name reads ``mtcnn[-dw][-a<alpha>][-r<rho>][-bl][-bn]`` (:data:`GRAMMAR`), its parts in that order:

* ``-dw``: depthwise-separable convolutions (MobileNet's first knob; the first convolution stays standard);
* ``-a<alpha>``: width multiplier, every layer's channels times ``alpha`` (``-a0.5``, ``-a1.5``);
* ``-r<rho>``: resolution multiplier: R-Net and O-Net inputs ``24 rho`` and ``48 rho`` px (rounded; training samples
  are made at that size). P-Net is fully convolutional on 12 px windows, so its resolution multiplier is a detection
  setting of the same net, the scale of the pyramid's first level (``DetectConfig.pnet_scale``), not a variant;
* ``-bl``: R-Net and O-Net crops by bilinear sampling in one warp instead of one area resize per box
  (:func:`openmtcnn.ops.crops.crop_boxes`), in training samples and in the cascade alike;
* ``-bn``: BatchNorm2d after every convolution, before its PReLU (MobileNet's order), for training; the ONNX files
  hold the nets with BN folded into the convolutions, the graph of the same variant without ``-bn``
  (:mod:`openmtcnn.nets.norm`).

Any such name parses (:func:`parse_variant`); :func:`list_variants` lists the common ones, those with a training
config in ``configs/variants/``. The cascade options a variant was trained for (:attr:`Variant.cascade`) travel
in its weight set's ``manifest.json`` (:func:`openmtcnn.nets.export.export_set`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from ..stages import STAGES
from .builder import ConvType, MTCNNNet, NetSpec, Stage, check_input_size

#: the name grammar, in words (error messages); docs/variants.md explains each part
GRAMMAR = "mtcnn[-dw][-a<alpha>][-r<rho>][-bl][-bn]"
_NUMBER = r"\d+(?:\.\d+)?"
#: each optional part of a name, in the order a name must give them
_PARTS = {"dw": r"dw", "alpha": rf"a{_NUMBER}", "rho": rf"r{_NUMBER}", "bl": r"bl", "bn": r"bn"}
_NAME = re.compile(r"mtcnn" + "".join(rf"(?:-(?P<{k}>{v}))?" for k, v in _PARTS.items()))


@dataclass(frozen=True)
class Variant:
    """One net set: convolution type, width multiplier ``alpha``, resolution multiplier ``rho``, crop method,
    batch norm."""

    conv: ConvType = "standard"
    alpha: float = 1.0
    rho: float = 1.0
    crop_method: str = "area"
    norm: bool = False

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
        parts += ["bl" if self.crop_method == "bilinear" else "", "bn" if self.norm else ""]
        return "-".join(p for p in parts if p)

    @property
    def specs(self) -> dict[str, NetSpec]:
        out = {}
        for stage in STAGES:
            spec = NetSpec(stage, conv=self.conv, alpha=self.alpha, norm=self.norm)
            if stage != "pnet" and self.rho != 1:
                spec = replace(spec, input_size=int(round(spec.size * self.rho)))
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
        raise KeyError(f"unknown net variant {name!r}: {_misread(str(name))}common ones: {', '.join(list_variants())}")
    try:
        return Variant(
            conv="dwsep" if m["dw"] else "standard",
            alpha=float(m["alpha"][1:]) if m["alpha"] else 1.0,
            rho=float(m["rho"][1:]) if m["rho"] else 1.0,
            crop_method="bilinear" if m["bl"] else "area",
            norm=bool(m["bn"]),
        )
    except ValueError as e:
        raise KeyError(f"net variant {name!r}: {e}") from e


def _misread(name: str) -> str:
    """What is wrong with a name that does not parse: its parts out of order (the name in order given), a part
    twice, or a part that is not one."""
    head, *parts = name.split("-")
    kinds = [next((k for k, v in _PARTS.items() if re.fullmatch(v, p)), None) for p in parts]
    if head != "mtcnn" or None in kinds:
        bad = head if head != "mtcnn" else parts[kinds.index(None)]
        return f"{bad!r} is not a part of {GRAMMAR} (e.g. mtcnn-dw-a0.5-bn); "
    if len(set(kinds)) < len(kinds):
        return f"a part given twice; names read {GRAMMAR}; "
    order = list(_PARTS)
    fixed = "-".join([head] + [p for _, p in sorted(zip(kinds, parts), key=lambda kp: order.index(kp[0]))])
    return f"parts out of order, names read {GRAMMAR}: {fixed!r}; "


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
    "mtcnn-dw-bn",  # batch norm after every convolution (issue 22: mtcnn-dw trained worse than mtcnn)
)


def list_variants() -> list[str]:
    """The common variants (any name of the grammar above also works)."""
    return list(COMMON)


def variant_specs(name: str) -> dict[str, NetSpec]:
    return parse_variant(name).specs


def create_net(variant: str, stage: Stage) -> MTCNNNet:
    """Build one untrained net of a variant."""
    return MTCNNNet(variant_specs(variant)[stage])
