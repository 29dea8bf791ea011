"""Score calibration of a weight set against a reference set (``openmtcnn train calibrate``).

A user's thresholds (:class:`~openmtcnn.config.DetectConfig`'s everyday 0.6 / 0.7 / 0.7) were chosen for the original
MTCNN weights' scores. Nets trained here score faces on their own scale: at O-Net's 0.7 the default set keeps fewer
boxes than the original weights, at a higher precision (docs/training.md, "Where the everyday settings cost us
more"). Calibration adds one number to a stage's face logit (``p' = sigmoid(logit(p) + shift)``), fitted so that at
the threshold the stage passes as many of the same candidate crops as the reference set's stage does.

The shift moves the score scale, not the ranking: every threshold keeps the crops that another threshold kept on the
unshifted net, boxes and landmarks do not change, and non-maximum suppression (by score order) keeps the same boxes.
It is folded into the ONNX file (the face class's bias in the classifier layer before the softmax), so every backend
runs it and nothing at run time knows of it; the set's ``training.json`` records it and the model card says so.

The fit uses WIDER train images held out of the stage's own training run (its recorded config's validation split,
:func:`~openmtcnn.train.samples.held_out_wider`), never a benchmark's images: the set's earlier stages propose
candidates at the detection settings (default: the everyday ones), both stages score the same crops, and the cut
falls halfway (in logits) between the stage's k-th and (k+1)-th highest scores, k being the number of crops the
reference's stage scores above the threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..config import DetectConfig
from ..detect.backends import Backend
from ..detect.cascade import CHUNK, stage_pnet, stage_rnet, weight_bound
from ..imaging import load_image
from ..ops.crops import crop_boxes, to_net_input
from ..stages import STAGES, TITLES, net_file

#: the stages whose scores can be calibrated: those that score crops (P-Net scores a sliding window)
CALIBRATED = ("rnet", "onet")
#: the face class's index in every stage's two-class output (``prob`` is ``softmax(logits)[:, FACE]``)
FACE = 1


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` in float64, with p clipped into (0, 1) (float32 scores saturate at 0 and 1)."""
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def fit_shift(ours: np.ndarray, ref: np.ndarray, threshold: float) -> tuple[float, int]:
    """The shift of ``ours``' face logit after which as many of its scores exceed ``threshold`` as ``ref``'s scores
    (of the same crops) do, and that count k. The cut lies halfway in logits between ``ours``' k-th and (k+1)-th
    highest scores (one logit past the highest or lowest when k is 0 or all); tied scores at the cut pass or fail
    together, so the counts then differ by the ties."""
    ours, ref = np.asarray(ours).ravel(), np.asarray(ref).ravel()
    if len(ours) != len(ref) or not len(ours):
        raise ValueError(f"need the same crops scored by both nets, got {len(ours)} and {len(ref)} scores")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    k = int((ref > threshold).sum())
    z = np.sort(logit(ours))[::-1]
    if k == 0:
        cut = z[0] + 1.0
    elif k == len(z):
        cut = z[-1] - 1.0
    else:
        cut = (z[k - 1] + z[k]) / 2
    return float(logit(np.array([threshold]))[0] - cut), k


def fold_shift(model, shift: float) -> None:
    """Add ``shift`` to the face logit of an ONNX stage net (``onnx.ModelProto``, changed in place): to the face
    class's entry of the bias of the layer that feeds the net's one softmax. ``ValueError`` if the graph is not
    shaped so (one Softmax fed by a Gemm or Conv with a two-entry bias initializer)."""
    from onnx import numpy_helper

    g = model.graph
    soft = [n for n in g.node if n.op_type == "Softmax"]
    if len(soft) != 1:
        raise ValueError(f"expected one Softmax in the net, found {len(soft)}")
    layer = next((n for n in g.node if soft[0].input[0] in n.output), None)
    if layer is None or layer.op_type not in ("Gemm", "Conv") or len(layer.input) < 3:
        raise ValueError("the softmax is not fed by a Gemm or Conv with a bias")
    bias = next((t for t in g.initializer if t.name == layer.input[2]), None)
    if bias is None:
        raise ValueError(f"the classifier's bias {layer.input[2]!r} is not an initializer")
    b = numpy_helper.to_array(bias).copy()
    if b.shape != (2,):
        raise ValueError(f"the classifier's bias has shape {b.shape}, not (2,)")
    b[FACE] += np.asarray(shift, b.dtype)
    bias.CopyFrom(numpy_helper.from_array(b, bias.name))


def scored_crops(images: Iterable[Path], stage: str, ours: Backend, ref: Backend, cfg: DetectConfig,
                 log=print) -> tuple[np.ndarray, np.ndarray, int]:
    """Both backends' ``stage`` scores of the same crops: the candidates that ``ours``' earlier stages propose at
    ``cfg`` on each image. Returns the two score arrays and how many images were read; an unreadable image is
    reported and skipped."""
    cfg = weight_bound(cfg, ours)
    size = ours.input_sizes[stage]
    if ref.input_sizes[stage] != size:
        raise ValueError(f"the two sets' {TITLES[stage]}s take {size} and {ref.input_sizes[stage]} px crops")
    mine, theirs, read = [], [], 0
    for path in images:
        try:
            image = load_image(path)
        except (OSError, ValueError) as e:
            log(f"skipped {path}: {e}")
            continue
        read += 1
        cand = stage_pnet(image, ours, cfg)
        if stage == "onet" and len(cand):
            cand = stage_rnet(image, cand, ours, cfg)
        for s in range(0, len(cand), CHUNK[stage]):
            x = to_net_input(crop_boxes(image, cand[s : s + CHUNK[stage], :4], size, cfg.crop_method))
            mine.append(ours.run(stage, x, landmarks=False)[0])
            theirs.append(ref.run(stage, x, landmarks=False)[0])
    if not mine:
        raise ValueError(f"no {TITLES[stage]} candidates on the {read} images read")
    return np.concatenate(mine), np.concatenate(theirs), read


def calibrate_set(weights: str | Path, reference: str | Path, stage: str, data_root: str | Path,
                  out: str | Path | None = None, cfg: DetectConfig | None = None, threshold: float | None = None,
                  max_images: int = 0, command: str | None = None, log=print) -> dict:
    """Write ``weights`` with ``stage``'s face score calibrated to ``reference``'s into ``out`` (``None``: in
    place): the ONNX file with the shift folded in, ``training.json`` with the stage's ``calibration`` record, the
    model card written again. ``threshold``: default ``cfg``'s for the stage. ``max_images``: at most this many
    held-out images (0: all). Returns the calibration record."""
    import onnx

    from ..detect.backends import make_backend
    from .card import write_model_card
    from .config import stage_config
    from .pipeline import reexport_set
    from .record import CARD, read_record, sha256_file, write_record
    from .samples import held_out_wider

    if stage not in CALIBRATED:
        raise ValueError(f"only {' and '.join(TITLES[s] for s in CALIBRATED)} scores can be calibrated, not {stage}")
    cfg = cfg or DetectConfig()
    t = cfg.thresholds[STAGES.index(stage)] if threshold is None else threshold
    src = Path(weights)
    record = read_record(src)
    images = held_out_wider(stage_config(record["stages"][stage]["config"], f"{src}/training.json: {stage}"), data_root)
    if max_images:
        images = images[:max_images]
    if not images:
        raise ValueError(f"no held-out WIDER train images of {TITLES[stage]}'s training found under {data_root}")
    ours, ref = make_backend(None, src), make_backend(None, reference)
    mine, theirs, read = scored_crops(images, stage, ours, ref, cfg, log)
    shift, k = fit_shift(mine, theirs, t)
    model = onnx.load(str(src / net_file(stage)))
    fold_shift(model, shift)
    dst = reexport_set(src, out, log=lambda *_: None)
    onnx.save(model, str(dst / net_file(stage)))
    earlier = record["stages"][stage].get("calibration") or {}
    calibration = {
        "shift": round(earlier.get("shift", 0.0) + shift, 6),
        "reference": str(reference),
        "threshold": t,
        "images": read,
        "crops": int(len(mine)),
        "passed_reference": k,
        "passed_before": int((mine > t).sum()),
        "settings": {"min_face_size": cfg.min_face_size, "scale_factor": cfg.scale_factor,
                     "thresholds": list(cfg.thresholds)},
        "onnx_sha256": sha256_file(dst / net_file(stage)),
    } | ({"command": command} if command else {})
    record["stages"][stage]["calibration"] = calibration
    write_record(record, dst)
    write_model_card(record, dst / CARD)
    log(f"[{stage}] face logit shifted by {shift:+.4f}: at {t:g} it passes {k} of {len(mine)} candidate crops "
        f"on {read} held-out WIDER train images as {reference}'s {TITLES[stage]} does (before: "
        f"{calibration['passed_before']}); written to {dst}")
    return calibration


__all__ = ["CALIBRATED", "calibrate_set", "fit_shift", "fold_shift", "logit", "scored_crops"]
