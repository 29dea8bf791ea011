"""Runtimes that evaluate the nets.

* :class:`OnnxBackend` (default): ONNX Runtime on the CPU, no deep-learning framework.
  At load time each graph is rewritten into an equivalent, faster form (see
  :func:`optimize_graph`; needs the ``onnx`` package, otherwise the graph is used as is).
* :class:`TorchBackend`: PyTorch, for batch inference on a GPU (``device="cuda"``) or
  on the CPU. It reads the same weight folder: the ONNX initializers are loaded back
  into :class:`openmtcnn.nets.MTCNNNet` modules (architecture from ``manifest.json``),
  so one folder of ``*.onnx`` files serves both backends.

A backend evaluates one stage on a float32 NCHW batch and returns
``(prob, box, landmarks)``; ``landmarks`` is ``None`` when the caller passed
``landmarks=False`` (P-Net and R-Net never need them).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np

from ..weights import STAGE_NAMES, WeightsError, resolve_weights

Outputs = tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]


class Backend(Protocol):
    """Evaluates one stage on a float32 NCHW batch; returns ``(prob, box, landmarks)``."""

    input_sizes: dict[str, int]

    def run(self, stage: str, batch: np.ndarray, landmarks: bool = True) -> Outputs: ...


def _constants(graph: Any) -> dict[str, Any]:
    """Initializers by name, plus the outputs of ``Identity`` nodes over them (the exporter
    shares equal tensors, e.g. untrained PReLU slopes, through such nodes)."""
    consts = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
    return consts


def _read_manifest(weights_dir: Path) -> dict:
    manifest = weights_dir / "manifest.json"
    return json.loads(manifest.read_text()) if manifest.exists() else {}


# ----------------------------------------------------------------------------------------------
# Graph rewriting (exact)


def optimize_graph(model: Any, pad_pools: bool = False) -> Any:
    """Rewrite a net's ONNX graph into a faster, equivalent form; returns a new ``ModelProto``.

    ONNX Runtime's ``PRelu`` kernel is slow (a few ns per element) and is not part of
    its blocked (NCHWc) convolution layout, so every PReLU after a convolution costs a
    layout round trip too: in R-Net it took more time than all convolutions together.
    Each per-channel ``PRelu(x, a)`` on a 4-D tensor becomes::

        r1 = Relu(x);  r2 = Relu(DepthwiseConv1x1(x, weight=-1));  y = DepthwiseConv1x1(r2, weight=-a) + r1

    which equals ``x if x > 0 else a * x`` bit for bit (negation is exact, and exactly
    one of ``r1``, ``r2`` is non-zero), and which ONNX Runtime runs fused in the blocked
    layout. PReLUs on 2-D tensors (after the fully connected layer) are left alone.

    ``pad_pools``: max-pools with ``ceil_mode=1`` (which the blocked layout does not
    support) become ``ceil_mode=0`` with ``stride - 1`` pixels of padding at the
    bottom and right: the same windows over the same pixels, for every input size
    (padding never wins a max). Measured: P-Net 10-13 % faster; R-Net and O-Net
    slower, so the backend asks for it for P-Net only. Results then differ from the
    plain graph by float rounding (about 1e-6), as ONNX Runtime evaluates the
    following convolution differently.
    """
    import copy

    from onnx import helper, numpy_helper

    m = copy.deepcopy(model)
    g = m.graph
    inits = _constants(g)
    new_nodes = []
    for node in g.node:
        if pad_pools and node.op_type == "MaxPool":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            strides = list(attrs.get("strides", [1, 1]))
            if attrs.get("ceil_mode", 0) == 1 and not any(attrs.get("pads", [])) and list(attrs.get("dilations", [1, 1])) == [1, 1]:
                pads = [0, 0, strides[0] - 1, strides[1] - 1]
                new_nodes.append(
                    helper.make_node("MaxPool", list(node.input), list(node.output), name=node.name,
                                     kernel_shape=attrs["kernel_shape"], strides=strides, pads=pads)
                )
                continue
        slope = inits.get(node.input[1]) if node.op_type == "PRelu" and len(node.input) == 2 else None
        if slope is None or len(slope.dims) != 3 or list(slope.dims[1:]) != [1, 1]:
            new_nodes.append(node)
            continue
        x, y = node.input[0], node.output[0]
        a = numpy_helper.to_array(slope).reshape(-1).astype(np.float32)
        c = len(a)
        zeros = numpy_helper.from_array(np.zeros(c, np.float32), f"{y}/zero_bias")
        neg_one = numpy_helper.from_array(np.full((c, 1, 1, 1), -1.0, np.float32), f"{y}/neg_one")
        neg_a = numpy_helper.from_array((-a).reshape(c, 1, 1, 1), f"{y}/neg_slope")
        g.initializer.extend([zeros, neg_one, neg_a])
        dw = {"group": c, "kernel_shape": [1, 1]}
        new_nodes += [
            helper.make_node("Relu", [x], [f"{y}/pos"]),
            helper.make_node("Conv", [x, neg_one.name, zeros.name], [f"{y}/neg_x"], **dw),
            helper.make_node("Relu", [f"{y}/neg_x"], [f"{y}/neg"]),
            helper.make_node("Conv", [f"{y}/neg", neg_a.name, zeros.name], [f"{y}/neg_part"], **dw),
            helper.make_node("Add", [f"{y}/neg_part", f"{y}/pos"], [y]),
        ]
    del g.node[:]
    g.node.extend(new_nodes)
    used = {i for n in g.node for i in n.input}
    kept = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    return m


# ----------------------------------------------------------------------------------------------
# ONNX Runtime


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


class OnnxBackend:
    """ONNX Runtime sessions for the three nets of a weight folder.

    ``threads``: intra-op threads (``None``: :data:`DEFAULT_ONNX_THREADS`; 0: ONNX Runtime's own choice). ``optimize``:
    apply :func:`optimize_graph` (exact; skipped with a warning when the ``onnx``
    package is missing). ``spinning``: see :func:`session_options`.
    ``graph_optimized`` tells whether the rewrite was applied.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        threads: int | None = None,
        *,
        optimize: bool = True,
        spinning: bool | None = None,
    ):
        import onnxruntime as ort

        self.weights_dir = resolve_weights(weights)
        self.threads = DEFAULT_ONNX_THREADS if threads is None else threads
        opts = session_options(self.threads, spinning)
        onnx_mod = None
        if optimize:
            try:
                import onnx as onnx_mod
            except ImportError:
                warnings.warn("openmtcnn: the `onnx` package is missing; running the nets without the PReLU rewrite (slower)")
        self.graph_optimized = onnx_mod is not None
        self.sessions: dict[str, Any] = {}
        self.input_sizes: dict[str, int] = {}
        self._outputs: dict[str, list[str]] = {}
        for stage in STAGE_NAMES:
            path = self.weights_dir / f"{stage}.onnx"
            try:
                if onnx_mod is not None:
                    model = optimize_graph(onnx_mod.load(str(path)), pad_pools=stage == "pnet")
                    source: Any = model.SerializeToString()
                else:
                    source = str(path)
                sess = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
            except Exception as e:  # onnx / onnxruntime raise their own exception types
                raise WeightsError(f"{path}: cannot load ONNX net ({e})") from e
            self.sessions[stage] = sess
            self._outputs[stage] = [o.name for o in sess.get_outputs()]
            shape = sess.get_inputs()[0].shape
            self.input_sizes[stage] = shape[2] if isinstance(shape[2], int) else 12
        self.manifest = _read_manifest(self.weights_dir)

    def run(self, stage: str, batch: np.ndarray, landmarks: bool = True) -> Outputs:
        """Evaluate ``stage`` on ``batch`` (float32 NCHW). Without ``landmarks``, that output is not computed."""
        names = self._outputs[stage] if landmarks else self._outputs[stage][:2]
        out = self.sessions[stage].run(names, {"image": batch})
        return out[0], out[1], (out[2] if landmarks else None)


# ----------------------------------------------------------------------------------------------
# PyTorch


def nets_from_onnx(weights: str | Path | None = None) -> dict[str, Any]:
    """Rebuild the three :class:`~openmtcnn.nets.MTCNNNet` modules from a weight folder's ONNX files.

    The architecture of each net comes from ``manifest.json`` (``nets.<stage>``:
    ``conv``, ``alpha``, ``input_size``; the plain MTCNN nets when absent). Parameters
    are matched by name (the exporter names them ``net.<module path>``); PReLU slopes,
    which the exporter renames, are matched by their order in the graph. Any mismatch
    raises :class:`WeightsError`. Needs torch and onnx.
    """
    import onnx
    import torch
    from onnx import numpy_helper

    from ..nets.builder import MTCNNNet, NetSpec

    weights_dir = resolve_weights(weights)
    specs = _read_manifest(weights_dir).get("nets", {})
    nets = {}
    for stage in STAGE_NAMES:
        s = specs.get(stage, {})
        spec = NetSpec(stage, conv=s.get("conv", "standard"), alpha=float(s.get("alpha", 1.0)), input_size=s.get("input_size"))
        if stage == "pnet":
            spec = NetSpec(stage, conv=spec.conv, alpha=spec.alpha)
        net = MTCNNNet(spec)
        path = weights_dir / f"{stage}.onnx"
        model = onnx.load(str(path))
        arrays = {k: numpy_helper.to_array(v) for k, v in _constants(model.graph).items()}
        prelu_slopes = [arrays[n.input[1]] for n in model.graph.node if n.op_type == "PRelu" and n.input[1] in arrays]
        prelu_keys = [k for k, v in net.named_parameters() if k.endswith(".weight") and _is_prelu(net, k)]
        state = {}
        for key, param in net.state_dict().items():
            if key in prelu_keys:
                i = prelu_keys.index(key)
                value = prelu_slopes[i] if i < len(prelu_slopes) else None
            else:
                value = arrays.get(f"net.{key}")
            if value is None or value.size != param.numel():
                got = "missing" if value is None else f"shape {tuple(value.shape)}"
                raise WeightsError(
                    f"{path}: parameter {key} {tuple(param.shape)} does not match ({got}); "
                    "is manifest.json's architecture right for these files?"
                )
            state[key] = torch.from_numpy(np.ascontiguousarray(value).reshape(tuple(param.shape)).copy())
        if len(prelu_slopes) != len(prelu_keys):
            raise WeightsError(f"{path}: {len(prelu_slopes)} PReLU slopes in the graph, the net has {len(prelu_keys)}")
        net.load_state_dict(state)
        nets[stage] = net.eval()
    return nets


def _is_prelu(net: Any, key: str) -> bool:
    import torch

    module = net.get_submodule(key.rsplit(".", 1)[0])
    return isinstance(module, torch.nn.PReLU)


class TorchBackend:
    """The nets in PyTorch, on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).

    Same weight folder and same outputs as :class:`OnnxBackend` (face probability,
    box offsets, landmarks), within float tolerance. ``threads`` sets
    ``torch.set_num_threads`` (process-wide) when given.
    """

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", threads: int | None = None):
        import torch

        from ..nets.builder import DeployNet

        self.weights_dir = resolve_weights(weights)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU")
        if threads:
            torch.set_num_threads(int(threads))
        self.nets = {s: DeployNet(n).to(self.device).eval() for s, n in nets_from_onnx(self.weights_dir).items()}
        self.input_sizes = {s: n.net.spec.size for s, n in self.nets.items()}
        self.manifest = _read_manifest(self.weights_dir)

    def run(self, stage: str, batch: np.ndarray, landmarks: bool = True) -> Outputs:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device, non_blocking=True)
            prob, box, lmk = self.nets[stage](x)
            return (
                prob.float().cpu().numpy(),
                box.float().cpu().numpy(),
                lmk.float().cpu().numpy() if landmarks else None,
            )


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
