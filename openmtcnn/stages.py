"""The cascade's three stages: names, display names, net input sizes and net file names (defined here once; no imports)."""

from __future__ import annotations

from typing import Literal

Stage = Literal["pnet", "rnet", "onet"]

#: the stages in cascade order
STAGES: tuple[Stage, ...] = ("pnet", "rnet", "onet")

#: names for people (tables, model cards)
TITLES: dict[str, str] = {"pnet": "P-Net", "rnet": "R-Net", "onet": "O-Net"}

#: each net's standard input side in pixels (P-Net: its window, being fully convolutional;
#: a variant may give R-Net and O-Net other sizes, see :class:`openmtcnn.nets.NetSpec`)
INPUT_SIZE: dict[str, int] = {"pnet": 12, "rnet": 24, "onet": 48}


def net_file(stage: str) -> str:
    """The file name of ``stage``'s net in a weight folder or a stage's run folder: ``pnet.onnx``..."""
    return f"{stage}.onnx"
