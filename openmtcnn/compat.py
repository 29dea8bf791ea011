"""The original MTCNN weights (Zhang et al. 2016), as facenet-pytorch distributes them.

facenet-pytorch 2.6.0 ships the authors' released P-, R- and O-Net as plain
PyTorch state dicts (``facenet_pytorch/data/{pnet,rnet,onet}.pt``). This module
maps them onto :class:`openmtcnn.nets.MTCNNNet` (variant ``"mtcnn"``) so that the
ordinary cascade runs them on ordinary images, with nothing special at
inference, and exports them as an ONNX weight set.

What the mapping has to handle (checked against facenet-pytorch's own code and
outputs, see ``tests/test_compat.py``):

* The released Caffe models were trained on transposed images (MATLAB is
  column-major). facenet-pytorch's files already hold convolution kernels for
  upright images (its detector feeds images untransposed and finds upright
  faces; fed a transposed image it finds almost none), so kernels are copied
  as they are.
* The fully connected layers still read their input in the transposed order:
  facenet-pytorch's R-Net and O-Net do ``x.permute(0, 3, 2, 1)`` (N, W, H, C)
  before flattening. Our nets flatten (N, C, H, W), so the columns of the first
  fully connected layer are permuted accordingly.
* Box offsets are already ``dx1, dy1, dx2, dy2`` of upright images; facenet's
  width is MATLAB's ``x2 - x1 + 1``, which equals our ``x2 - x1`` once its
  1-based boxes are mapped to ours (``x1 - 1``), so offsets carry over as-is.
* O-Net landmarks come as ``x1..x5, y1..y5``; ours are ``x1, y1, ..., x5, y5``.
* The released P-Net and R-Net have no landmark output: those heads are zero,
  and the manifest says ``"landmarks": false`` for them.

Only ``torch`` is needed; ``facenet_pytorch`` itself is never imported (it
imports torchvision). The original weights are never openmtcnn's default.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from .stages import STAGES

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .nets import MTCNNNet

FACENET_VERSION = "2.6.0"
SOURCE = f"original (Zhang et al. 2016, via facenet-pytorch {FACENET_VERSION})"
VARIANT = "mtcnn"
HAS_LANDMARKS = {"pnet": False, "rnet": False, "onet": True}

# facenet-pytorch module name -> ours, per stage: (conv, prelu) pairs into ConvBlocks,
# the hidden fully connected layer + PReLU, and the heads.
_CONVS = {
    "pnet": [("conv1", "prelu1", 0), ("conv2", "prelu2", 2), ("conv3", "prelu3", 3)],
    "rnet": [("conv1", "prelu1", 0), ("conv2", "prelu2", 2), ("conv3", "prelu3", 4)],
    "onet": [("conv1", "prelu1", 0), ("conv2", "prelu2", 2), ("conv3", "prelu3", 4), ("conv4", "prelu4", 6)],
}
_FC = {"rnet": ("dense4", "prelu4"), "onet": ("dense5", "prelu5")}
_HEADS = {
    "pnet": {"face": "conv4_1", "box": "conv4_2"},
    "rnet": {"face": "dense5_1", "box": "dense5_2"},
    "onet": {"face": "dense6_1", "box": "dense6_2", "landmarks": "dense6_3"},
}
# row k of ours = row LANDMARK_ORDER[k] of theirs: (x1, y1, x2, y2, ...) from (x1..x5, y1..y5)
LANDMARK_ORDER = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)


class OriginalWeightsError(FileNotFoundError):
    """The original weight files are missing or not what facenet-pytorch 2.6.0 ships."""


def facenet_data_dir() -> Path | None:
    """``facenet_pytorch/data`` of an installed facenet-pytorch, found without importing it; ``None`` if absent."""
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec("facenet_pytorch")  # finds a top-level package without running it
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        if spec.origin and spec.origin not in ("namespace", "built-in"):
            candidates.append(Path(spec.origin).parent / "data")
        candidates += [Path(p) / "data" for p in (spec.submodule_search_locations or [])]
    candidates += [Path(p) / "facenet_pytorch" / "data" for p in sys.path if p]
    for d in candidates:
        if all((d / f"{s}.pt").is_file() for s in STAGES):
            return d
    return None


def resolve_src(src: str | Path | None) -> Path:
    """The folder holding ``pnet.pt``, ``rnet.pt``, ``onet.pt``: ``src``, or the installed facenet-pytorch's data."""
    if src is None:
        d = facenet_data_dir()
        if d is None:
            raise OriginalWeightsError(
                "no facenet-pytorch weight files found: install them with "
                f"`pip install facenet-pytorch=={FACENET_VERSION} --no-deps` (only the data files are used), "
                "or pass --src DIR with pnet.pt, rnet.pt and onet.pt"
            )
        return d
    d = Path(src)
    if not d.is_dir():
        raise OriginalWeightsError(f"{d}: not a folder (expected one holding pnet.pt, rnet.pt, onet.pt)")
    missing = [f"{s}.pt" for s in STAGES if not (d / f"{s}.pt").is_file()]
    if missing:
        raise OriginalWeightsError(f"{d}: missing {', '.join(missing)} (facenet-pytorch's pnet.pt, rnet.pt, onet.pt)")
    return d


def load_facenet_state_dicts(src: str | Path | None = None) -> dict[str, dict[str, "torch.Tensor"]]:
    """Read facenet-pytorch's three state dicts (CPU tensors) from ``src`` (see :func:`resolve_src`)."""
    import torch

    d = resolve_src(src)
    out = {}
    for s in STAGES:
        path = d / f"{s}.pt"
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a corrupt or foreign file
            raise OriginalWeightsError(f"{path}: not a readable PyTorch state dict ({e})") from e
        if not isinstance(sd, Mapping):
            raise OriginalWeightsError(f"{path}: expected a state dict, found {type(sd).__name__}")
        out[s] = dict(sd)
    return out


def fc_input_permutation(channels: int, height: int, width: int) -> "torch.Tensor":
    """Index map for the first fully connected layer's columns.

    facenet-pytorch flattens features as (W, H, C); we flatten as (C, H, W).
    ``ours[:, i] = theirs[:, perm[i]]`` with ``i = c*H*W + h*W + w`` and
    ``perm[i] = w*H*C + h*C + c``.
    """
    import torch

    theirs = torch.arange(channels * height * width).reshape(width, height, channels)
    return theirs.permute(2, 1, 0).reshape(-1)


def convert_state_dict(stage: str, sd: Mapping[str, "torch.Tensor"]) -> "MTCNNNet":
    """One facenet-pytorch state dict -> our ``MTCNNNet`` (variant ``mtcnn``, eval mode)."""
    import torch

    from .nets import create_net

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    net = create_net(VARIANT, stage)
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        if key not in sd:
            raise OriginalWeightsError(f"{stage}.pt: missing tensor {key!r}; not facenet-pytorch {FACENET_VERSION}'s {stage}")
        used.add(key)
        return sd[key].detach().to(torch.float32).clone()

    new: dict[str, torch.Tensor] = {}
    for conv, prelu, idx in _CONVS[stage]:
        new[f"features.{idx}.0.weight"] = take(f"{conv}.weight")
        new[f"features.{idx}.0.bias"] = take(f"{conv}.bias")
        new[f"features.{idx}.1.weight"] = take(f"{prelu}.weight")
    if stage in _FC:
        dense, prelu = _FC[stage]
        with torch.no_grad():
            c, h, w = net.features(torch.zeros(1, 3, net.spec.size, net.spec.size)).shape[1:]
        weight = take(f"{dense}.weight")
        if weight.shape[1] != c * h * w:
            raise OriginalWeightsError(f"{stage}.pt: {dense}.weight has {weight.shape[1]} inputs, expected {c * h * w}")
        new["fc.1.weight"] = weight[:, fc_input_permutation(c, h, w)].contiguous()
        new["fc.1.bias"] = take(f"{dense}.bias")
        new["fc.2.weight"] = take(f"{prelu}.weight")
    for head, key in _HEADS[stage].items():
        weight, bias = take(f"{key}.weight"), take(f"{key}.bias")
        if head == "landmarks":
            order = torch.tensor(LANDMARK_ORDER)
            weight, bias = weight[order].contiguous(), bias[order].contiguous()
        new[f"{head}.weight"], new[f"{head}.bias"] = weight, bias
    if not HAS_LANDMARKS[stage]:
        lm = net.landmarks
        new["landmarks.weight"] = torch.zeros_like(lm.weight)
        new["landmarks.bias"] = torch.zeros_like(lm.bias)
    extra = sorted(set(sd) - used)
    if extra:
        raise OriginalWeightsError(f"{stage}.pt: unexpected tensors {extra}; not facenet-pytorch {FACENET_VERSION}'s {stage}")
    ours = net.state_dict()
    for k, v in new.items():
        if k not in ours or ours[k].shape != v.shape:
            want = tuple(ours[k].shape) if k in ours else "absent"
            raise OriginalWeightsError(f"{stage}.pt: tensor for {k} has shape {tuple(v.shape)}, our net wants {want}")
    net.load_state_dict(new, strict=True)
    return net.eval()


def convert(src: str | Path | None = None) -> dict[str, "MTCNNNet"]:
    """All three original nets as our ``MTCNNNet`` objects, from ``src`` or the installed facenet-pytorch."""
    sds = load_facenet_state_dicts(src)
    return {s: convert_state_dict(s, sds[s]) for s in STAGES}


def manifest_extra(src: Path) -> dict:
    """What ``manifest.json`` records about a converted original set (with the source files' SHA-256)."""
    import hashlib
    from importlib import metadata

    try:
        installed = metadata.version("facenet-pytorch")  # reads the package metadata, does not import it
    except metadata.PackageNotFoundError:
        installed = None
    return {
        "source": SOURCE,
        "license": "MIT (the authors' MTCNN release; facenet-pytorch is MIT too)",
        "paper": "Zhang, Zhang, Li, Qiao, Joint Face Detection and Alignment using Multi-task Cascaded "
        "Convolutional Networks, IEEE SPL 23(10), 2016",
        "converted_from": {f"{s}.pt": hashlib.sha256((Path(src) / f"{s}.pt").read_bytes()).hexdigest() for s in STAGES},
        "converted_by": "openmtcnn convert-weights",
        "facenet_pytorch_installed": installed,
        "landmarks": dict(HAS_LANDMARKS),
        "note": "input RGB, (x - 127.5) / 128, upright (the transposed training is folded into the weights); "
        "P-Net and R-Net have no landmark head (zeros)",
    }


def export_original(out_dir: str | Path, src: str | Path | None = None) -> Path:
    """Convert the original weights and write ``pnet/rnet/onet.onnx`` + ``manifest.json`` to ``out_dir``."""
    from .nets.export import export_set

    d = resolve_src(src)
    nets = convert(d)
    out = export_set(nets, out_dir, VARIANT, manifest_extra(d))
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for s in STAGES:
        manifest["nets"][s]["landmarks"] = HAS_LANDMARKS[s]
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return out
