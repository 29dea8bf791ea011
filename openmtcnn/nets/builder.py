"""One parametrised definition of the three MTCNN nets.

A net is a plan of layers (conv / pool) followed, for R-Net and O-Net, by a
hidden fully connected layer, then three heads: face (2 logits), box (4
offsets) and landmarks (10 numbers: x1, y1, ..., x5, y5 relative to the box).
Knobs: convolution type (``standard`` or depthwise-separable ``dwsep``),
width multiplier ``alpha`` (channels times alpha), input size (R-Net and
O-Net; P-Net is fully convolutional with a 12 px receptive field) and batch
norm after every convolution (``norm``; folded away at export, see norm.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..stages import INPUT_SIZE, Stage

ConvType = Literal["standard", "dwsep"]

# (kind, kernel, channels-or-stride): "c" conv (kernel, out channels), "p" max-pool (kernel, stride)
PLANS: dict[str, dict] = {
    "pnet": {"layers": [("c", 3, 10), ("p", 2, 2), ("c", 3, 16), ("c", 3, 32)], "fc": 0, "size": INPUT_SIZE["pnet"]},
    "rnet": {"layers": [("c", 3, 28), ("p", 3, 2), ("c", 3, 48), ("p", 3, 2), ("c", 2, 64)], "fc": 128, "size": INPUT_SIZE["rnet"]},
    "onet": {
        "layers": [("c", 3, 32), ("p", 3, 2), ("c", 3, 64), ("p", 3, 2), ("c", 3, 64), ("p", 2, 2), ("c", 2, 128)],
        "fc": 256,
        "size": INPUT_SIZE["onet"],
    },
}


@dataclass(frozen=True)
class NetSpec:
    """What distinguishes one net from another (see module docstring)."""

    stage: Stage
    conv: ConvType = "standard"
    alpha: float = 1.0
    input_size: int | None = None  # None: the stage's standard size (12 / 24 / 48)
    norm: bool = False  # BatchNorm2d after every convolution (training form; the ONNX file holds it folded)

    @property
    def size(self) -> int:
        return self.input_size or PLANS[self.stage]["size"]


def _ch(c: int, alpha: float) -> int:
    """Channels of a layer of ``c`` under width multiplier ``alpha``: plain rounding (no multiples of 8, see
    docs/variants.md: at MTCNN's widths the graph rewrite pads standard convolutions to whole blocks anyway)."""
    return max(1, int(round(c * alpha)))


def feature_size(stage: Stage, size: int) -> int:
    """Side of the last feature map for a ``size x size`` input (convolutions unpadded, pools in ceil mode);
    ``<= 0`` when the input is too small for the plan."""
    s = size
    for kind, k, v in PLANS[stage]["layers"]:
        if s < k:
            return 0
        s = s - k + 1 if kind == "c" else -(-(s - k) // v) + 1
    return s


def check_input_size(spec: NetSpec) -> None:
    """Raise ``ValueError`` naming the net when its input is too small for its layers (or P-Net's is not 12)."""
    if spec.stage == "pnet":
        if spec.size != PLANS["pnet"]["size"]:
            raise ValueError(f"pnet: its window is {PLANS['pnet']['size']} px (a resolution multiplier scales its pyramid instead), got input_size {spec.size}")
        return
    if feature_size(spec.stage, spec.size) < 1:
        least = next(s for s in range(1, 10 * PLANS[spec.stage]["size"]) if feature_size(spec.stage, s) >= 1)
        raise ValueError(f"{spec.stage}: input {spec.size} px is too small for its layers (at least {least} px)")


class ConvBlock(nn.Sequential):
    """k x k convolution + PReLU; depthwise-separable = depthwise k x k, PReLU, pointwise 1x1, PReLU.

    With ``norm`` each convolution (depthwise and pointwise alike) is followed by BatchNorm2d before its PReLU,
    MobileNet's order, and has no bias of its own (BN's shift takes its place).
    """

    def __init__(self, cin: int, cout: int, k: int, conv: ConvType, norm: bool = False):
        def unit(ci: int, co: int, kernel: int, groups: int = 1) -> list[nn.Module]:
            layer = nn.Conv2d(ci, co, kernel, groups=groups, bias=not norm)
            return [layer, nn.BatchNorm2d(co), nn.PReLU(co)] if norm else [layer, nn.PReLU(co)]

        if conv == "dwsep" and cin > 1 and k > 1:
            super().__init__(*unit(cin, cin, k, groups=cin), *unit(cin, cout, 1))
        else:
            super().__init__(*unit(cin, cout, k))


class MTCNNNet(nn.Module):
    """P-Net, R-Net or O-Net. ``forward`` returns ``(face_logits, box_offsets, landmarks)``.

    P-Net outputs maps ``(N, 2|4|10, H', W')``; R-Net and O-Net ``(N, 2|4|10)``.
    """

    def __init__(self, spec: NetSpec):
        super().__init__()
        check_input_size(spec)
        self.spec = spec
        plan = PLANS[spec.stage]
        layers: list[nn.Module] = []
        cin = 3
        for i, (kind, k, v) in enumerate(plan["layers"]):
            if kind == "c":
                cout = _ch(v, spec.alpha)
                # the first conv of a depthwise-separable net stays standard (3 input channels, as MobileNet)
                layers.append(ConvBlock(cin, cout, k, spec.conv if i > 0 else "standard", spec.norm))
                cin = cout
            else:
                layers.append(nn.MaxPool2d(k, v, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.fully_conv = plan["fc"] == 0
        if self.fully_conv:
            self.fc = nn.Identity()
            self.face = nn.Conv2d(cin, 2, 1)
            self.box = nn.Conv2d(cin, 4, 1)
            self.landmarks = nn.Conv2d(cin, 10, 1)
        else:
            n = cin * feature_size(spec.stage, spec.size) ** 2  # by arithmetic: a forward pass would move BN statistics
            hidden = _ch(plan["fc"], spec.alpha)
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.PReLU(hidden))
            self.face = nn.Linear(hidden, 2)
            self.box = nn.Linear(hidden, 4)
            self.landmarks = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.fc(self.features(x))
        return self.face(h), self.box(h), self.landmarks(h)


class DeployNet(nn.Module):
    """Inference form: face probability instead of logits (what the ONNX files hold)."""

    def __init__(self, net: MTCNNNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, box, lmk = self.net(x)
        prob = torch.softmax(logits, dim=1)[:, 1]
        return prob, box, lmk


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
