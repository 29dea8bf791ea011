"""PyTorch definitions of the nets (needs the ``train`` extra: torch)."""

from .builder import DeployNet, MTCNNNet, NetSpec, count_params
from .registry import STAGES, create_net, list_variants, register, variant_specs

__all__ = [
    "DeployNet",
    "MTCNNNet",
    "NetSpec",
    "STAGES",
    "count_params",
    "create_net",
    "list_variants",
    "register",
    "variant_specs",
]
