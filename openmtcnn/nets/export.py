"""ONNX files <-> nets: export a net set to the files that inference loads, and read one back into PyTorch."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..weights import WeightsError, read_manifest, resolve_weights
from .builder import DeployNet, MTCNNNet, NetSpec
from .norm import fold_norm, unfold_norm
from .registry import STAGES, Stage, parse_variant, variant_specs

OPSET = 17


def export_net(net: MTCNNNet, path: str | Path) -> Path:
    """Write one net as ONNX: P-Net with dynamic batch/height/width, R/O-Net with dynamic batch.

    A net with batch norm is written folded (:func:`~openmtcnn.nets.norm.fold_norm`, its eval-mode statistics):
    the file holds no BatchNormalization node, the graph of the same variant without ``-bn``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = net.spec.size
    deploy = DeployNet(fold_norm(net)).eval()
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


def mixed_name(variants: dict[str, str]) -> str:
    """The name of a set whose stages are different variants (``{"pnet": "mtcnn", ...}``), e.g.
    ``pnet:mtcnn rnet:mtcnn-dw-a0.5 onet:mtcnn``; one variant's name when all stages share it."""
    names = [variants[s] for s in STAGES]
    return names[0] if len(set(names)) == 1 else " ".join(f"{s}:{variants[s]}" for s in STAGES)


def stage_variants(manifest: dict) -> dict[str, str]:
    """Each stage's variant in a weight set's manifest (``stage_variants``; older sets: ``variant`` for all)."""
    one = manifest.get("variant", "mtcnn")
    return {s: (manifest.get("stage_variants") or {}).get(s, one) for s in STAGES}


def export_set(nets: dict[str, MTCNNNet], out_dir: str | Path, variant: str | dict[str, str], extra: dict | None = None,
               cascade: dict | None = None) -> Path:
    """Write ``pnet/rnet/onet.onnx`` and ``manifest.json`` into ``out_dir``.

    The manifest holds the variant's name, each stage's variant (``stage_variants``), each net's architecture
    (``nets``) and the cascade settings the nets were trained for (``cascade``:
    :attr:`~openmtcnn.nets.registry.Variant.cascade`), which a :class:`~openmtcnn.Detector` on this folder uses
    unless told otherwise, with ``cascade`` over them (settings chosen for the set after training, such as
    ``pnet_scale``); ``extra`` adds keys. ``variant``: one name, or one per stage (a set that swaps one
    stage for another variant's, as issue 22's sweeps do: its name is :func:`mixed_name`; the stages must agree
    on the cascade settings, else ``ValueError``).
    """
    variants = {s: variant for s in STAGES} if isinstance(variant, str) else dict(variant)
    cascades = {s: parse_variant(v).cascade for s, v in variants.items()}
    if any(c != cascades["pnet"] for c in cascades.values()):
        raise ValueError(f"the stages' variants were trained for different cascade settings: {cascades}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        export_net(nets[stage], out / f"{stage}.onnx")
    manifest = {
        "variant": mixed_name(variants),
        "stage_variants": {s: variants[s] for s in STAGES},
        "nets": {s: {"conv": nets[s].spec.conv, "alpha": nets[s].spec.alpha, "input_size": nets[s].spec.size,
                     "norm": nets[s].spec.norm} for s in STAGES},
        "cascade": {**cascades["pnet"], **(cascade or {})},
        **(extra or {}),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def read_onnx_net(path: str | Path, spec: NetSpec, check: bool = True) -> MTCNNNet:
    """Read a net that :func:`export_net` wrote back into an ``MTCNNNet`` of architecture ``spec`` (eval mode).

    The one ONNX-to-torch reader (fine-tuning, re-export and the torch backend use it). The file holds a net
    without norm (a ``-bn`` net folded by :func:`export_net`) and is read as such; for a ``spec`` with ``norm``
    the net read is returned in its ``-bn`` form with BN layers that pass it through
    (:func:`~openmtcnn.nets.norm.unfold_norm`: the same function in eval mode). Named initializers
    map to the state dict by name (``net.`` prefix dropped); the exporter renames the slopes of the PReLUs
    that follow convolutions (``onnx::PRelu_N``, shape C x 1 x 1, equal ones shared through ``Identity``
    nodes), so PReLU weights are taken in graph order. ``check``: run both on one random input and raise
    if they disagree. A file of another architecture raises :class:`~openmtcnn.weights.WeightsError`
    naming the file.
    """
    import onnx
    from onnx import numpy_helper

    from ..detect.rewrites import constants

    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as e:  # onnx raises its own types (DecodeError...)
        raise WeightsError(f"{path}: cannot read ONNX net ({e})") from e
    arrays = {k: numpy_helper.to_array(v) for k, v in constants(model.graph).items()}
    net = MTCNNNet(replace(spec, norm=False))
    what = f"a {spec.conv} {spec.stage} (alpha {spec.alpha}, input {spec.size}{', BN folded' if spec.norm else ''})"
    prelus = [f"{name}.weight" for name, m in net.named_modules() if isinstance(m, nn.PReLU)]
    slopes = [n.input[1] for n in model.graph.node if n.op_type == "PRelu"]
    if len(slopes) != len(prelus):
        raise WeightsError(f"{path}: {len(slopes)} PReLU layers in the graph, {what} has {len(prelus)}")
    source = {k: f"net.{k}" for k in net.state_dict()} | dict(zip(prelus, slopes))
    state = {}
    for key, param in net.state_dict().items():
        value = arrays.get(source[key])
        if value is None or value.size != param.numel():
            got = "missing" if value is None else f"shape {tuple(value.shape)}"
            raise WeightsError(f"{path}: parameter {key} {tuple(param.shape)} of {what} does not match ({got})")
        state[key] = torch.from_numpy(np.array(value, dtype=np.float32).reshape(tuple(param.shape)))
    net.load_state_dict(state)
    net.eval()
    if check:
        import onnxruntime as ort

        size = spec.size if spec.stage != "pnet" else 24
        x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        ref = sess.run(None, {sess.get_inputs()[0].name: x})
        with torch.no_grad():
            ours = DeployNet(net)(torch.from_numpy(x))
        worst = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(ref, ours))
        if worst > 1e-4:
            raise WeightsError(f"{path}: read back as {what}, its outputs differ from the file's by {worst:.2g}")
    return unfold_norm(net) if spec.norm else net


def load_onnx_net(path: str | Path, variant: str, stage: Stage, check: bool = True) -> MTCNNNet:
    """:func:`read_onnx_net` for a registered variant's net (``variant``, ``stage``)."""
    return read_onnx_net(path, variant_specs(variant)[stage], check)


def load_weight_set(weights: str | Path | None = None, check: bool = True) -> dict[str, MTCNNNet]:
    """The three nets of a weight folder (:func:`~openmtcnn.weights.resolve_weights`) in eval mode.

    Each net's architecture comes from ``manifest.json`` (``nets.<stage>``: ``conv``, ``alpha``,
    ``input_size``; the plain MTCNN nets when absent; P-Net's size is always its 12 px window). Nets trained with
    batch norm (``norm``) are read as the files hold them, folded: nets without norm that compute the same.
    """
    weights_dir = resolve_weights(weights)
    specs = read_manifest(weights_dir).get("nets", {})
    nets = {}
    for stage in STAGES:
        s = specs.get(stage, {})
        size = s.get("input_size") if stage != "pnet" else None
        spec = NetSpec(stage, conv=s.get("conv", "standard"), alpha=float(s.get("alpha", 1.0)), input_size=size)
        nets[stage] = read_onnx_net(weights_dir / f"{stage}.onnx", spec, check)
    return nets
