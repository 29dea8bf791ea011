"""Runtimes that evaluate the nets, one module each.

* :class:`~.onnx.OnnxBackend` (default): ONNX Runtime on the CPU, no deep-learning framework.
  At load time each graph is rewritten into an equivalent, faster form
  (:func:`openmtcnn.detect.rewrites.optimize_graph`).
* :class:`~.torch.TorchBackend`: PyTorch, for batch inference on a GPU (``device="cuda"``) or
  on the CPU. It reads the same weight folder (:func:`openmtcnn.nets.export.load_weight_set`),
  so one folder of ``*.onnx`` files serves both backends.

A backend evaluates one stage on a float32 NCHW batch and returns
``(prob, box, landmarks)``; ``landmarks`` is ``None`` when the caller passed
``landmarks=False`` (P-Net and R-Net never need them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Protocol

import numpy as np

Outputs = tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]


class Backend(Protocol):
    """Evaluates one stage on a float32 NCHW batch; returns ``(prob, box, landmarks)``."""

    input_sizes: dict[str, int]

    def run(self, stage: str, batch: np.ndarray, landmarks: bool = True) -> Outputs: ...


from ..rewrites import optimize_graph  # noqa: E402,F401  (its old import path)
from .onnx import DEFAULT_ONNX_THREADS, LEAN_STAGES, OnnxBackend, session_options  # noqa: E402,F401
from .torch import TorchBackend  # noqa: E402


def make_backend(
    backend: "str | Backend | None",
    weights: str | Path | None = None,
    *,
    threads: int | None = None,
    device: str | None = None,
) -> Backend:
    """``"onnx"`` (default) / ``"torch"`` / a ready backend object -> a backend.

    ``threads=None``: :data:`DEFAULT_ONNX_THREADS` for ONNX Runtime; torch's own setting for torch.
    """
    if backend is None or backend == "onnx":
        if device not in (None, "cpu"):
            raise ValueError(f"the ONNX Runtime backend runs on the CPU only; for device={device!r} use backend='torch'")
        return OnnxBackend(weights, threads=threads)
    if backend == "torch":
        return TorchBackend(weights, device=device or "cpu", threads=threads)
    if isinstance(backend, str):
        raise ValueError(f"unknown backend {backend!r}: use 'onnx' or 'torch' (or pass a backend object)")
    if not hasattr(backend, "run") or not hasattr(backend, "input_sizes"):
        raise TypeError(f"backend must be 'onnx', 'torch' or an object with run() and input_sizes, got {type(backend).__name__}")
    return backend
