"""`openmtcnn convert-weights` (the original MTCNN weights -> ONNX) and `openmtcnn export` (PyTorch state dicts -> ONNX)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..stages import STAGES

CONVERT_EPILOG = """\
The original weights come from the facenet-pytorch package's data files; facenet-pytorch itself is not
imported, so install it without its dependencies:
  pip install facenet-pytorch==2.6.0 --no-deps
  openmtcnn convert-weights --out weights/original
  openmtcnn detect photo.jpg --weights weights/original
They are never openmtcnn's default weights.
"""

EXPORT_EPILOG = """\
Each input file is either a plain state dict (torch.save(net.state_dict(), ...)) or a training checkpoint
holding one under "model" (as `openmtcnn train` writes best.pt, with its "variant").
examples:
  openmtcnn export --state-dict-dir my_nets/ --variant mtcnn-dw --out weights/mine
  openmtcnn export --pnet runs/pnet/best.pt --rnet runs/rnet/best.pt --onet runs/onet/best.pt --out weights/mine
"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "convert-weights",
        help="convert the original MTCNN weights (from facenet-pytorch's files) to an ONNX weight set",
        description="Convert the original MTCNN P/R/O-Net weights (Zhang et al. 2016, as shipped in "
        "facenet-pytorch 2.6.0) into an openmtcnn weight folder (ONNX + manifest).",
        epilog=CONVERT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--src",
        metavar="DIR",
        help="folder with pnet.pt, rnet.pt, onet.pt (default: the installed facenet_pytorch package's data folder)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="weight folder to write (pnet/rnet/onet.onnx, manifest.json)")
    p.set_defaults(func=run_convert)

    e = subparsers.add_parser(
        "export",
        help="export PyTorch state dicts of a net set to an ONNX weight folder",
        description="Write pnet/rnet/onet.onnx and manifest.json from PyTorch state dicts or training checkpoints.",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("--state-dict-dir", metavar="DIR", help="folder with pnet.pt, rnet.pt, onet.pt")
    for s in STAGES:
        e.add_argument(f"--{s}", metavar="FILE", help=f"{s} state dict or checkpoint (overrides --state-dict-dir)")
    e.add_argument(
        "--variant", metavar="NAME", help="net variant, mtcnn[-dw][-a<alpha>][-r<rho>][-bl][-bn] (see openmtcnn.nets.list_variants(); default: the checkpoints' own, else mtcnn)"
    )
    e.add_argument("--out", required=True, metavar="DIR", help="weight folder to write")
    e.set_defaults(func=run_export)


def run_convert(args: argparse.Namespace) -> int:
    from ..compat import OriginalWeightsError, export_original, resolve_src

    try:
        src = resolve_src(args.src)
        out = export_original(args.out, src)
    except OriginalWeightsError as e:
        print(f"openmtcnn convert-weights: {e}", file=sys.stderr)
        return 2
    print(f"converted {src} -> {out} (pnet.onnx, rnet.onnx, onet.onnx, manifest.json)")
    return 0


def _load_state(path: Path) -> tuple[dict, str | None]:
    """A file's state dict and the variant it records (``None`` for a plain state dict)."""
    import torch

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"{path}: not a PyTorch file ({e})") from e
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        return obj["model"], obj.get("variant")
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, None
    raise ValueError(f"{path}: neither a state dict nor a checkpoint with a 'model' state dict")


def export_state_dicts(files: dict[str, Path], out: str | Path, variant: str | None = None) -> Path:
    """Build the three nets of ``variant`` from state-dict files and export them with :func:`export_set`."""
    from ..nets import create_net, parse_variant
    from ..nets.export import export_set

    states, recorded = {}, set()
    for s in STAGES:
        states[s], v = _load_state(files[s])
        if v:
            recorded.add(v)
    if variant is None:
        if len(recorded) > 1:
            raise ValueError(f"the checkpoints record different variants {sorted(recorded)}; pass --variant")
        variant = recorded.pop() if recorded else "mtcnn"
    elif recorded - {variant}:
        raise ValueError(f"--variant {variant} but the checkpoints record {sorted(recorded)}")
    try:
        parse_variant(variant)
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    nets = {}
    for s in STAGES:
        net = create_net(variant, s)
        try:
            net.load_state_dict(states[s], strict=True)
        except RuntimeError as e:
            raise ValueError(f"{files[s]}: does not fit {variant}'s {s} ({str(e).splitlines()[0]})") from e
        nets[s] = net.eval()
    extra = {"source": "openmtcnn export", "exported_from": {s: str(files[s]) for s in STAGES}}
    return export_set(nets, out, variant, extra)


def run_export(args: argparse.Namespace) -> int:
    files: dict[str, Path] = {}
    for s in STAGES:
        given = getattr(args, s)
        if given:
            files[s] = Path(given)
        elif args.state_dict_dir:
            files[s] = Path(args.state_dict_dir) / f"{s}.pt"
    missing = [s for s in STAGES if s not in files]
    if missing:
        print(f"openmtcnn export: no file for {', '.join(missing)}: give --state-dict-dir or --{missing[0]}", file=sys.stderr)
        return 2
    try:
        out = export_state_dicts(files, args.out, args.variant)
    except ValueError as e:
        print(f"openmtcnn export: {e}", file=sys.stderr)
        return 2
    print(f"exported {out} (pnet.onnx, rnet.onnx, onet.onnx, manifest.json)")
    return 0
