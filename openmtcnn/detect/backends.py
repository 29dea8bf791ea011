"""Runtimes that evaluate the nets: ONNX Runtime (default, no deep-learning framework)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from ..weights import STAGE_NAMES, WeightsError, resolve_weights

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]


class Backend(Protocol):
    """Evaluates one stage on a float32 NCHW batch; returns ``(prob, box, landmarks)``."""

    input_sizes: dict[str, int]

    def run(self, stage: str, batch: np.ndarray) -> Outputs: ...


class OnnxBackend:
    """ONNX Runtime sessions for the three nets of a weight folder."""

    def __init__(self, weights: str | Path | None = None, threads: int | None = None):
        import onnxruntime as ort

        self.weights_dir = resolve_weights(weights)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sessions = {}
        self.input_sizes = {}
        for stage in STAGE_NAMES:
            path = self.weights_dir / f"{stage}.onnx"
            try:
                sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            except Exception as e:  # onnxruntime raises its own exception types
                raise WeightsError(f"{path}: cannot load ONNX net ({e})") from e
            self.sessions[stage] = sess
            shape = sess.get_inputs()[0].shape
            self.input_sizes[stage] = shape[2] if isinstance(shape[2], int) else 12
        manifest = self.weights_dir / "manifest.json"
        self.manifest = json.loads(manifest.read_text()) if manifest.exists() else {}

    def run(self, stage: str, batch: np.ndarray) -> Outputs:
        prob, box, lmk = self.sessions[stage].run(None, {"image": batch})
        return prob, box, lmk
