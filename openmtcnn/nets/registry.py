"""Named variants of the net set (as timm's registry): one name -> three NetSpecs."""

from __future__ import annotations

from dataclasses import replace

from ..stages import STAGES
from .builder import ConvType, MTCNNNet, NetSpec, Stage

_REGISTRY: dict[str, dict[str, NetSpec]] = {}


def register(name: str, conv: ConvType = "standard", alpha: float = 1.0, rho: float = 1.0) -> None:
    """Register a variant: conv type, width multiplier ``alpha``, resolution multiplier ``rho`` (R/O-Net input)."""
    specs = {}
    for stage in STAGES:
        spec = NetSpec(stage, conv=conv, alpha=alpha)
        if stage != "pnet" and rho != 1.0:
            spec = replace(spec, input_size=int(round(spec.size * rho)))
        specs[stage] = spec
    _REGISTRY[name] = specs


register("mtcnn")  # the paper's nets
register("mtcnn-dw", conv="dwsep")
register("mtcnn-dw-0.5", conv="dwsep", alpha=0.5)
register("mtcnn-0.5", alpha=0.5)


def list_variants() -> list[str]:
    return sorted(_REGISTRY)


def variant_specs(name: str) -> dict[str, NetSpec]:
    if name not in _REGISTRY:
        raise KeyError(f"unknown net variant {name!r}; known: {', '.join(list_variants())}")
    return dict(_REGISTRY[name])


def create_net(variant: str, stage: Stage) -> MTCNNNet:
    """Build one untrained net of a registered variant."""
    return MTCNNNet(variant_specs(variant)[stage])
