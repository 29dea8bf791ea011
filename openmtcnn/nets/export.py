"""ONNX files <-> nets: export a net set to the files that inference loads, and read one back into PyTorch."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .builder import DeployNet, MTCNNNet
from .registry import STAGES, Stage, create_net

OPSET = 17


def export_net(net: MTCNNNet, path: str | Path) -> Path:
    """Write one net as ONNX: P-Net with dynamic batch/height/width, R/O-Net with dynamic batch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = net.spec.size
    deploy = DeployNet(net).eval()
    dummy = torch.zeros(1, 3, size, size)
    axes = {"image": {0: "batch"}, "prob": {0: "batch"}, "box": {0: "batch"}, "landmarks": {0: "batch"}}
    if net.spec.stage == "pnet":
        axes = {"image": {0: "batch", 2: "height", 3: "width"}}
        for k in ("prob", "box", "landmarks"):
            axes[k] = {0: "batch", 2 if k != "prob" else 1: "oh", 3 if k != "prob" else 2: "ow"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter: no onnxscript needed
        torch.onnx.export(
            deploy,
            (dummy,),
            str(path),
            input_names=["image"],
            output_names=["prob", "box", "landmarks"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def export_set(nets: dict[str, MTCNNNet], out_dir: str | Path, variant: str, extra: dict | None = None) -> Path:
    """Write ``pnet/rnet/onet.onnx`` and ``manifest.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        export_net(nets[stage], out / f"{stage}.onnx")
    manifest = {
        "variant": variant,
        "nets": {s: {"conv": nets[s].spec.conv, "alpha": nets[s].spec.alpha, "input_size": nets[s].spec.size} for s in STAGES},
        **(extra or {}),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def load_onnx_net(path: str | Path, variant: str, stage: Stage, check: bool = True) -> MTCNNNet:
    """Read a net that ``export_net`` wrote back into an ``MTCNNNet`` (to fine-tune it or re-export it).

    Named initializers map to the state dict by name (``net.`` prefix dropped); the exporter renames the slopes of
    the PReLUs that follow convolutions (``onnx::PRelu_N``, shape C x 1 x 1), so PReLU weights are taken in graph
    order. ``check``: run both on one random input and raise if they disagree (a file of another variant or layout).
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    net = create_net(variant, stage)
    sd = net.state_dict()
    prelus = [f"{name}.weight" for name, m in net.named_modules() if isinstance(m, nn.PReLU)]
    slopes = [n.input[1] for n in model.graph.node if n.op_type == "PRelu"]
    if len(slopes) != len(prelus):
        raise ValueError(f"{path}: {len(slopes)} PReLU layers, a {variant} {stage} has {len(prelus)}")
    source = {k: f"net.{k}" for k in sd} | dict(zip(prelus, slopes))
    new = {}
    for k, v in sd.items():
        arr = inits.get(source[k])
        if arr is None or arr.size != v.numel():
            raise ValueError(f"{path}: no initializer for {k} of a {variant} {stage} (shape {tuple(v.shape)})")
        new[k] = torch.from_numpy(np.array(arr, dtype=np.float32).reshape(tuple(v.shape)))
    net.load_state_dict(new)
    net.eval()
    if check:
        import onnxruntime as ort

        size = net.spec.size if stage != "pnet" else 24
        x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        ref = sess.run(None, {sess.get_inputs()[0].name: x})
        with torch.no_grad():
            ours = DeployNet(net)(torch.from_numpy(x))
        worst = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(ref, ours))
        if worst > 1e-4:
            raise ValueError(f"{path}: read back as a {variant} {stage}, its outputs differ from the file's by {worst:.2g}")
    return net
