"""The ONNX Runtime backend (the default): one session per net, on graphs rewritten at load time."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ...stages import INPUT_SIZE, STAGES, net_file
from ...weights import WeightsError, read_manifest, resolve_weights
from ..rewrites import optimize_graph

if TYPE_CHECKING:
    from . import Outputs

#: intra-op threads of ONNX Runtime when the caller gives none. The nets are small: with a
#: second thread, one image took longer (pool synchronisation), so one process uses one core
#: and many images use more processes (:mod:`openmtcnn.detect.parallel`); 0 = ONNX Runtime's own choice
DEFAULT_ONNX_THREADS = 1


def session_options(threads: int | None = None, spinning: bool | None = None):
    """The ONNX Runtime options every net is loaded with (one place, so the benchmark reports them).

    Full graph optimisation (operator fusion, NCHWc blocked layout on x86); one
    inter-op thread and sequential execution (the nets are chains: nothing runs in
    parallel between operators); ``threads`` intra-op threads (``None``: ONNX
    Runtime's default, one per physical core); memory arena and memory-pattern
    reuse on (defaults). ``spinning``: whether idle pool threads busy-wait for work;
    ``None`` leaves ONNX Runtime's default (on), ``False`` is kinder to a shared CPU.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    if spinning is not None:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.enable_cpu_mem_arena = True
    opts.enable_mem_pattern = True
    opts.log_severity_level = 3
    return opts


#: stages whose landmark head the cascade never reads: their default sessions leave it out
#: (ONNX Runtime evaluates every node of a graph whichever outputs a call asks for)
LEAN_STAGES = ("pnet", "rnet")


class OnnxBackend:
    """ONNX Runtime sessions for the three nets of a weight folder.

    ``threads``: intra-op threads (``None``: :data:`DEFAULT_ONNX_THREADS`; 0: ONNX Runtime's own choice). ``optimize``:
    apply :func:`optimize_graph` (equivalent up to float rounding; skipped with a warning when the ``onnx``
    package is missing). ``spinning``: see :func:`session_options`.
    ``graph_optimized`` tells whether the rewrite was applied.

    ``nets``: instead of a weight folder, the ONNX files of some stages, ``{stage: path}`` (training's sample
    generation runs the stages trained so far: ``{"pnet": "runs/pnet/pnet.onnx"}`` for R-Net's samples); only
    those stages can run, ``weights_dir`` is ``None`` and there is no manifest.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        threads: int | None = None,
        *,
        optimize: bool = True,
        spinning: bool | None = None,
        nets: Mapping[str, str | os.PathLike] | None = None,
    ):
        if nets is not None:
            if weights is not None:
                raise ValueError("give weights (a weight set) or nets (some stages' ONNX files), not both")
            unknown = sorted(set(nets) - set(STAGES))
            if unknown or not nets:
                raise ValueError(f"nets: stages of {', '.join(STAGES)} to ONNX files, got {sorted(nets) or 'none'}")
            self.weights_dir = None
            self._paths = {s: Path(nets[s]) for s in STAGES if s in nets}
            for stage, path in self._paths.items():
                if not path.is_file():
                    raise WeightsError(f"{path}: no such ONNX file for {stage}")
        else:
            self.weights_dir = resolve_weights(weights)
            self._paths = {s: self.weights_dir / net_file(s) for s in STAGES}
        self.threads = DEFAULT_ONNX_THREADS if threads is None else threads
        self._options = session_options(self.threads, spinning)
        self._onnx = None
        if optimize:
            try:
                import onnx

                self._onnx = onnx
            except ImportError:
                warnings.warn("openmtcnn: the `onnx` package is missing; running the nets without the graph rewrite (slower)")
        self.graph_optimized = self._onnx is not None
        self.sessions: dict[str, Any] = {}  # the sessions detection uses (lean ones for LEAN_STAGES when optimised)
        self._full: dict[str, Any] = {}  # sessions with every output, built on first demand
        self.input_sizes: dict[str, int] = {}
        for stage in self._paths:
            lean = self.graph_optimized and stage in LEAN_STAGES
            self.sessions[stage] = self._session(stage, ("prob", "box") if lean else None)
            if not lean:
                self._full[stage] = self.sessions[stage]
            shape = self.sessions[stage].get_inputs()[0].shape
            self.input_sizes[stage] = shape[2] if isinstance(shape[2], int) else INPUT_SIZE[stage]
        self.manifest = read_manifest(self.weights_dir) if self.weights_dir is not None else {}

    def _session(self, stage: str, outputs: "tuple[str, ...] | None") -> Any:
        import onnxruntime as ort

        path = self._paths[stage]
        try:
            source: Any = str(path)
            if self._onnx is not None:
                model = optimize_graph(self._onnx.load(source), pad_pools=stage == "pnet", outputs=outputs)
                source = model.SerializeToString()
            return ort.InferenceSession(source, self._options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnx / onnxruntime raise their own exception types
            raise WeightsError(f"{path}: cannot load ONNX net ({e})") from e

    def run(self, stage: str, batch: np.ndarray, landmarks: bool = True) -> Outputs:
        """Evaluate ``stage`` on ``batch`` (float32 NCHW); ``landmarks=False`` leaves that output out (``None``)."""
        if landmarks:
            if stage not in self._full:
                self._full[stage] = self._session(stage, None)
            prob, box, lmk = self._full[stage].run(["prob", "box", "landmarks"], {"image": batch})
            return prob, box, lmk
        prob, box = self.sessions[stage].run(["prob", "box"], {"image": batch})
        return prob, box, None

