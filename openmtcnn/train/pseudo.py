"""A teacher's confident detections on unannotated photos as extra training images (``samples.pseudo``).

The photos of a list (``samples.pseudo.list``: the first field of each line is an image path, so the landmark
list itself serves) go through a teacher weight set's whole cascade, run by the library's own
:class:`~openmtcnn.Detector` (one thread per sample worker). Its detections become a WIDER-like annotation
(:func:`pseudo_annotation`): a score of ``min_score`` or more makes a face, ``ignore_score`` up to ``min_score``
an invalid face (as WIDER flags faces it cannot judge: never a positive or part face, and no negative crop may
overlap it), anything lower nothing. The image is then sampled as a WIDER image is
(:func:`openmtcnn.train.samples.wider_samples`), previous-stage mining included.

Pseudo images go to the training split only: held-out samples stay scored against human labels. Photos of the
landmark faces held out for validation are left out too (:func:`pseudo_work`), so that no held-out face is seen
in training through the teacher's eyes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.wider import WIDER_FLAGS, WiderImage
from ..stages import STAGES, net_file
from .config import PseudoSamples, StageConfig, data_path


@dataclass
class PseudoImage:
    """One work item: an unannotated photo, its path relative to ``samples.pseudo.root``."""

    path: str


def teacher_files(p: PseudoSamples) -> list[Path]:
    """The teacher weight set's ONNX files, in stage order."""
    return [Path(p.teacher) / net_file(s) for s in STAGES]


def check_sources(cfg: StageConfig, data_root: str | Path) -> None:
    """Raise :class:`FileNotFoundError` naming the path when the list, its image folder or the teacher is missing
    (called before any work starts; nothing to check with ``samples.pseudo`` off)."""
    p = cfg.samples.pseudo
    if p is None:
        return
    where = f"{cfg.stage} samples.pseudo"
    if not data_path(data_root, p.list).is_file():
        raise FileNotFoundError(f"{where}.list: {data_path(data_root, p.list)} is not a file (a list of image paths)")
    if not data_path(data_root, p.root).is_dir():
        raise FileNotFoundError(f"{where}.root: {data_path(data_root, p.root)} is not a folder")
    missing = [str(f) for f in teacher_files(p) if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{where}.teacher: {', '.join(missing)} missing (expected a weight-set folder, e.g. "
                                "`openmtcnn convert-weights --out weights/original`)")


def read_image_list(path: str | Path) -> list[str]:
    """The image paths of a list: the first field of each non-empty line, backslashes made slashes, each path once
    (in the order first listed)."""
    seen: dict[str, None] = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if fields:
            seen.setdefault(fields[0].replace("\\", "/"), None)
    return list(seen)


def pseudo_work(cfg: StageConfig, data_root: str | Path, rng: np.random.Generator, held_out: set[Path]) -> tuple[list[PseudoImage], dict]:
    """The pseudo work items (found, not ``held_out`` (resolved paths), in ``rng``'s order, at most ``max_images``)
    and what was found, for the ``data`` record."""
    p = cfg.samples.pseudo
    root = data_path(data_root, p.root)
    paths = read_image_list(data_path(data_root, p.list))
    found = [x for x in paths if (root / x).is_file()]
    kept = [x for x in found if (root / x).resolve() not in held_out]
    items = [PseudoImage(kept[k]) for k in rng.permutation(len(kept))]
    if p.max_images:
        items = items[: p.max_images]
    info = {
        "pseudo_list": str(data_path(data_root, p.list)),
        "pseudo_teacher": p.teacher,
        "pseudo_images_found": len(found),
        "pseudo_images_missing": len(paths) - len(found),
        "pseudo_images_held_out": len(found) - len(kept),  # photos of held-out landmark faces
        "pseudo_images_used": len(items),
        "pseudo_faces": 0,  # counted as the images are done
        "pseudo_ignored": 0,
    }
    return items, info


def teacher_detector(cfg: StageConfig):
    """The teacher's cascade at ``samples.pseudo``'s settings, on one thread (each sample worker has its own)."""
    from ..detect.detector import Detector

    p = cfg.samples.pseudo
    return Detector(
        weights=p.teacher, threads=1, landmark_passes=0,
        min_face_size=p.min_face_size if p.min_face_size is not None else cfg.samples.min_face,
        scale_factor=p.scale_factor, thresholds=tuple(p.thresholds),
    )


def pseudo_annotation(detector, image: np.ndarray, item: PseudoImage, p: PseudoSamples) -> WiderImage:
    """The teacher's detections on ``image`` as a WIDER annotation: faces scoring ``min_score`` or more, and those
    scoring ``ignore_score`` up to ``min_score`` flagged invalid."""
    res = detector.detect_rgb(image)
    keep = res.scores >= p.ignore_score
    flags = np.zeros((int(keep.sum()), len(WIDER_FLAGS)), np.int8)
    flags[:, WIDER_FLAGS.index("invalid")] = res.scores[keep] < p.min_score
    return WiderImage(item.path, np.asarray(res.boxes[keep], np.float64).reshape(-1, 4), flags)
