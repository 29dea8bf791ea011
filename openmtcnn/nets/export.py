"""Export a net set to the ONNX files that inference loads."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from .builder import DeployNet, MTCNNNet
from .registry import STAGES

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
