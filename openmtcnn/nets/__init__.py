"""PyTorch definitions of the nets (needs the ``train`` extra: torch)."""

from .builder import DeployNet, MTCNNNet, NetSpec, count_params
from .registry import STAGES, Variant, create_net, list_variants, parse_variant, variant_specs

__all__ = [
    "DeployNet",
    "MTCNNNet",
    "NetSpec",
    "Variant",
    "STAGES",
    "count_params",
    "create_net",
    "list_variants",
    "parse_variant",
    "variant_specs",
]
