"""Knowledge distillation: a trained net of the same stage (a weight set's ONNX file) as a teacher.

The teacher sees every augmented mini-batch the student sees. Its outputs become soft targets beside the
labels (``train.teacher``, weighted by ``train.distill``):

- ``det``: its face probability, on every sample (negatives, positives, part and landmark faces alike),
  as the divergence KL(teacher || student) of the two-class distributions;
- ``box``: its box offsets on positives and part faces, squared error summed over the 4 offsets;
- ``landmark``: its landmark offsets on positives (WIDER faces, which carry no landmark labels), squared
  error summed over the 10 numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..stages import net_file

DISTILL_TASKS = ("det", "box", "landmark")


class Teacher:
    """One stage's net of a weight set, run by ONNX Runtime on normalised NCHW float32 batches."""

    def __init__(self, weights: str | Path, stage: str, size: int, threads: int = 1):
        import onnxruntime as ort

        path = Path(weights)
        path = path / net_file(stage) if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"train.teacher: {path} is not a file (expected a weight-set folder holding "
                                    f"{stage}.onnx, e.g. `openmtcnn convert-weights --out weights/original`)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.path = path
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        if isinstance(shape[2], int) and shape[2] != size:
            raise ValueError(f"train.teacher: {path} takes {shape[2]} px inputs, this stage trains on {size} px")
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Face probability ``(N,)``, box offsets ``(N, 4)``, landmark offsets ``(N, 10)`` of a normalised batch."""
        prob, box, lmk = self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})
        n = len(x)
        return prob.reshape(n), box.reshape(n, 4), lmk.reshape(n, 10)


def two_class_kl(target, logits):
    """KL(target || softmax(logits)) per sample for face / non-face, ``target`` the face probability (a tensor in
    [0, 1]): the cross-entropy minus the target's own entropy, so 0 for a prediction equal to a soft target and
    the plain cross-entropy for hard 0 / 1 labels. The trainer's label loss and the distillation loss both use it."""
    import torch
    import torch.nn.functional as F

    logp = F.log_softmax(logits, 1)
    return torch.special.xlogy(target, target) + torch.special.xlogy(1 - target, 1 - target) \
        - target * logp[:, 1] - (1 - target) * logp[:, 0]


def distill_losses(net_out, kinds: np.ndarray, teacher_out: tuple[np.ndarray, np.ndarray, np.ndarray],
                   box_kinds: tuple[int, ...], landmark_kinds: tuple[int, ...]):
    """Per-task distillation losses of one batch (tensors): det on every sample, box on ``box_kinds``,
    landmark on ``landmark_kinds`` (sample-kind codes as the trainer's ``KIND``)."""
    import torch

    logits, box, lmk = (o.reshape(o.shape[0], -1) for o in net_out)
    zero = logits.sum() * 0
    p = torch.from_numpy(np.clip(teacher_out[0], 0.0, 1.0).astype(np.float32))
    det = two_class_kl(p, logits).mean()
    bm = torch.from_numpy(np.isin(kinds, box_kinds))
    tb = torch.from_numpy(teacher_out[1].astype(np.float32))
    box_l = ((box[bm] - tb[bm]) ** 2).sum(1).mean() if bm.any() else zero
    lm = torch.from_numpy(np.isin(kinds, landmark_kinds))
    tl = torch.from_numpy(teacher_out[2].astype(np.float32))
    lmk_l = ((lmk[lm] - tl[lm]) ** 2).sum(1).mean() if lm.any() else zero
    return det, box_l, lmk_l
