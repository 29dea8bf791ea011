"""Multiply-accumulate counts of the nets, read off their ONNX graphs (for the compute floor and the cost of
each net variant: ``python -m openmtcnn.benchmark.macs mtcnn mtcnn-dw-a0.5``).

Only the nodes needed for the outputs the cascade asks for are counted (P-Net and
R-Net: face probability and box; O-Net: also landmarks). Convolutions count
``output elements x (input channels / groups) x kernel area``; fully connected
layers ``inputs x outputs`` per sample. Activations, pooling and softmax are not
multiply-adds and are not counted.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from openmtcnn.stages import STAGES, net_file

NEEDED = {"pnet": ("prob", "box"), "rnet": ("prob", "box"), "onet": ("prob", "box", "landmarks")}


class NetMacs:
    """MAC counter for one ONNX net; :meth:`count` for an input of ``(h, w)``."""

    def __init__(self, path: str | Path, stage: str):
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(path))
        g = model.graph
        self.init_shapes = {i.name: tuple(i.dims) for i in g.initializer}
        for n in g.node:  # shared initializers reached through Identity nodes
            if n.op_type == "Identity" and n.input[0] in self.init_shapes:
                self.init_shapes[n.output[0]] = self.init_shapes[n.input[0]]
        self.input = g.input[0].name
        producers = {o: n for n in g.node for o in n.output}
        needed, stack = set(), list(NEEDED[stage])
        while stack:  # the nodes the wanted outputs depend on
            name = stack.pop()
            node = producers.get(name)
            if node is None or id(node) in needed:
                continue
            needed.add(id(node))
            stack.extend(node.input)
        self.nodes = [n for n in g.node if id(n) in needed]
        self.attrs = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in self.nodes]
        del numpy_helper

    @lru_cache(maxsize=4096)
    def count(self, h: int, w: int) -> int:
        """MACs for one ``(1, 3, h, w)`` input."""
        shapes: dict[str, tuple] = {self.input: (1, 3, h, w)}
        shapes.update(self.init_shapes)
        total = 0
        for n, a in zip(self.nodes, self.attrs):
            ins = [shapes.get(i) for i in n.input]
            if n.op_type == "Conv":
                x, wt = ins[0], ins[1]
                k = wt[2:]
                s = a.get("strides", [1, 1])
                p = a.get("pads", [0, 0, 0, 0])
                d = a.get("dilations", [1, 1])
                oh = (x[2] + p[0] + p[2] - d[0] * (k[0] - 1) - 1) // s[0] + 1
                ow = (x[3] + p[1] + p[3] - d[1] * (k[1] - 1) - 1) // s[1] + 1
                out = (x[0], wt[0], oh, ow)
                total += math.prod(out) * wt[1] * k[0] * k[1]
            elif n.op_type in ("MaxPool", "AveragePool"):
                x = ins[0]
                k, s = a["kernel_shape"], a.get("strides", [1, 1])
                p = a.get("pads", [0, 0, 0, 0])
                rnd = math.ceil if a.get("ceil_mode", 0) else math.floor
                oh = int(rnd((x[2] + p[0] + p[2] - k[0]) / s[0])) + 1
                ow = int(rnd((x[3] + p[1] + p[3] - k[1]) / s[1])) + 1
                out = (x[0], x[1], oh, ow)
            elif n.op_type == "Flatten":
                x = ins[0]
                out = (x[0], math.prod(x[1:]))
            elif n.op_type in ("Gemm", "MatMul"):
                x, wt = ins[0], ins[1]
                trans_b = a.get("transB", 0) if n.op_type == "Gemm" else 0
                nout, kin = (wt[0], wt[1]) if trans_b else (wt[1], wt[0])
                out = (x[0], nout)
                total += x[0] * nout * kin
            else:  # elementwise, softmax, gather...: no multiply-adds; shape of the first input
                out = ins[0] if ins and ins[0] is not None else ()
            for o in n.output:
                shapes[o] = out
        return total


class CascadeMacs:
    """MACs of one cascade run from what it processed: P-Net input sizes and R/O-Net crop counts."""

    def __init__(self, weights_dir: str | Path, input_sizes: dict[str, int]):
        wd = Path(weights_dir)
        self.nets = {s: NetMacs(wd / net_file(s), s) for s in STAGES}
        self.per_crop = {s: self.nets[s].count(input_sizes[s], input_sizes[s]) for s in ("rnet", "onet")}

    def count(self, pnet_inputs: list[tuple[int, int]], batch: dict[str, int]) -> dict[str, int]:
        """``{"pnet": .., "rnet": .., "onet": .., "total": ..}`` multiply-adds."""
        out = {
            "pnet": sum(self.nets["pnet"].count(int(h), int(w)) for h, w in pnet_inputs),
            "rnet": self.per_crop["rnet"] * int(batch.get("rnet", 0)),
            "onet": self.per_crop["onet"] * int(batch.get("onet", 0)),
        }
        out["total"] = sum(out.values())
        return out


# ---------------------------------------------------------------------------------- variants


def variant_costs(variant: str, work_dir: str | Path, height: int = 480, width: int = 640, min_face: float = 20.0,
                  factor: float = 0.709, pnet_scale: float = 1.0) -> dict:
    """Parameters and multiply-adds of a net variant (:func:`openmtcnn.nets.parse_variant`), read off its ONNX graphs.

    The nets are exported untrained into ``work_dir`` (costs do not depend on the weights). Per net: parameters
    (landmark heads included), multiply-adds per call on one input (P-Net: one 12 x 12 window) and, for P-Net,
    over the whole pyramid of a ``height x width`` image (``min_face``, ``factor``, ``pnet_scale``).
    R-Net and O-Net work depends on how many candidates trained nets pass on, so it is per crop.
    """
    import torch

    from openmtcnn.detect.pyramid import level_size, pyramid_scales
    from openmtcnn.nets import STAGES, count_params, create_net
    from openmtcnn.nets.export import export_net
    from openmtcnn.nets.norm import fold_norm

    torch.manual_seed(0)
    out: dict = {"variant": variant, "nets": {}}
    for stage in STAGES:
        net = create_net(variant, stage).eval()
        path = export_net(net, Path(work_dir) / f"{variant}-{stage}.onnx")
        counter = NetMacs(path, stage)
        size = net.spec.size
        row = {"params": count_params(fold_norm(net)), "input": size, "macs_per_call": counter.count(size, size)}  # as exported
        if stage == "pnet":
            levels = [level_size(height, width, s) for s in pyramid_scales(height, width, min_face, factor, pnet_scale)]
            row["macs_pyramid"] = sum(counter.count(h, w) for h, w in levels)
            row["pyramid_levels"] = len(levels)
        out["nets"][stage] = row
    out["pyramid"] = {"image": [height, width], "min_face": min_face, "factor": factor, "pnet_scale": pnet_scale}
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m openmtcnn.benchmark.macs mtcnn mtcnn-dw mtcnn-dw-a0.5 ...``: a cost table per variant (Markdown or JSON)."""
    import argparse
    import json
    import tempfile

    p = argparse.ArgumentParser(description="parameters and multiply-adds per net of net variants (untrained nets)")
    p.add_argument("variants", nargs="*", help="variant names, mtcnn[-dw][-a<alpha>][-r<rho>][-bl][-bn] (default: the common ones)")
    p.add_argument("--pnet-scale", type=float, default=1.0, help="P-Net's pyramid first-level scale (default 1)")
    p.add_argument("--json", action="store_true", help="JSON instead of a Markdown table")
    args = p.parse_args(argv)
    from openmtcnn.nets import list_variants

    with tempfile.TemporaryDirectory() as tmp:
        rows = [variant_costs(v, tmp, pnet_scale=args.pnet_scale) for v in (args.variants or list_variants())]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print("\n".join(cost_table(rows)))
    return 0


def cost_table(rows: list[dict]) -> list[str]:
    """Markdown lines: params (k) and multiply-adds per net, P-Net over the VGA pyramid."""
    lines = [
        "| variant | P-Net params | R-Net params | O-Net params | R-Net / O-Net input | P-Net MACs, VGA pyramid | R-Net MACs per crop | O-Net MACs per crop |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = r["nets"]
        lines.append(
            f"| {r['variant']} | {n['pnet']['params'] / 1e3:.1f} k | {n['rnet']['params'] / 1e3:.1f} k | {n['onet']['params'] / 1e3:.1f} k "
            f"| {n['rnet']['input']} / {n['onet']['input']} px | {n['pnet']['macs_pyramid'] / 1e6:.1f} M "
            f"| {n['rnet']['macs_per_call'] / 1e6:.2f} M | {n['onet']['macs_per_call'] / 1e6:.2f} M |"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
