"""The PyTorch backend: the weight folder's ONNX nets read back into torch modules, for GPU batches."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...weights import read_manifest, resolve_weights

if TYPE_CHECKING:
    from . import Outputs


class TorchBackend:
    """The nets in PyTorch, on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).

    Same weight folder and same outputs as :class:`OnnxBackend` (face probability,
    box offsets, landmarks), within float tolerance. ``threads`` sets
    ``torch.set_num_threads`` (process-wide) when given.
    """

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", threads: int | None = None):
        import torch

        from ...nets.builder import DeployNet
        from ...nets.export import load_weight_set

        self.weights_dir = resolve_weights(weights)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU")
        if threads:
            torch.set_num_threads(int(threads))
        self.nets = {s: DeployNet(n).to(self.device).eval() for s, n in load_weight_set(self.weights_dir).items()}
        self.input_sizes = {s: n.net.spec.size for s, n in self.nets.items()}
        self.manifest = read_manifest(self.weights_dir)

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
