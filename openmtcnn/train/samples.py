"""Training-sample generation for one stage, stored as sharded uint8 ``.npy`` arrays, resumable.

Work items are WIDER images, landmark faces and, with ``samples.pseudo``, unannotated photos that a teacher's
detections annotate (:mod:`openmtcnn.train.pseudo`), in a fixed seeded order; item
``i`` draws its crops from its own generator ``(seed, i)``, so a run that was
killed and resumed writes exactly what an uninterrupted run would have.
Every ``flush_every`` items the buffers go to disk as one shard per
(split, type) and ``progress.json`` records how far the run got.

The folder's layout: :mod:`openmtcnn.train.store`.

Labels follow inference: box offsets are what :func:`openmtcnn.ops.boxes.calibrate`
needs to turn the (integer) crop box into the face box; landmarks are what
:func:`openmtcnn.ops.landmarks.decode` turns back into points.

Items run on the project's process pool (:func:`openmtcnn.detect.pool.worker_map`, in item
order, ``samples.workers`` processes); a worker process that dies on an item reports it like an
unreadable image. R-Net and O-Net samples include the previous stages' detections, run through
the detector's own backend (:class:`~openmtcnn.detect.backends.onnx.OnnxBackend` on those stages'
ONNX files), so with the same load-time graph rewrites as detection: equal to the plain graphs up
to float rounding, so a mined candidate can differ in its last bits from one mined on the plain
ONNX graphs (samples made before that change, with the same fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import DetectConfig
from ..datasets.landmarks import LandmarkFace, read_landmark_list
from ..datasets.wider import WiderImage, existing, read_wider_gt
from ..detect.backends.onnx import OnnxBackend
from ..detect.cascade import stage_pnet, stage_rnet
from ..detect.pool import worker_map
from ..imaging import load_image
from ..ops import boxes as B
from ..ops.crops import crop_boxes
from ..ops.landmarks import encode as encode_landmarks
from ..stages import INPUT_SIZE
from .config import SAMPLE_TYPES, SampleConfig, StageConfig, data_path
from .pseudo import check_sources, pseudo_annotation, pseudo_work, teacher_detector, teacher_files
from .store import LABEL_DIM, SPLITS, SampleStore

FLIP_POINTS = [1, 0, 2, 4, 3]  # left/right eye and mouth corners swap under a mirror
LATER_OPTIONS = {"landmark_jitter_shift", "landmark_jitter_scale", "landmark_min_iou", "spread_caps", "label_square",
                 "border_crops", "pseudo"}  # left out of the fingerprint while unset


# ----------------------------------------------------------------------------- crop boxes


def _squares(cx: np.ndarray, cy: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Integer square boxes of the given centres and sides (as the crops will be cut)."""
    return B.integer_boxes(np.column_stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]))


def _inside(boxes: np.ndarray, w: int, h: int, outside: float | None = None) -> np.ndarray:
    """Which boxes lie wholly inside a ``w x h`` image, or with ``outside`` > 0, have at most that fraction of
    their area past its border."""
    if not outside:
        return (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= w) & (boxes[:, 3] <= h)
    iw = np.clip(np.minimum(boxes[:, 2], w) - np.maximum(boxes[:, 0], 0), 0, None)
    ih = np.clip(np.minimum(boxes[:, 3], h) - np.maximum(boxes[:, 1], 0), 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return iw * ih >= (1.0 - outside) * area


def random_negatives(rng: np.random.Generator, w: int, h: int, gt: np.ndarray, n: int, s: SampleConfig, min_side: int) -> np.ndarray:
    """Up to ``n`` random squares anywhere in the image with IoU < ``neg_iou`` against every face."""
    hi = min(w, h) / 2
    if n <= 0 or hi <= min_side:
        return np.zeros((0, 4), np.int64)
    m = 2 * n
    side = rng.uniform(min_side, hi, m)
    x1 = rng.uniform(0, 1, m) * (w - side)
    y1 = rng.uniform(0, 1, m) * (h - side)
    boxes = B.integer_boxes(np.column_stack([x1, y1, x1 + side, y1 + side]))
    boxes = boxes[_inside(boxes, w, h)]
    if len(gt):
        boxes = boxes[B.box_iou(boxes, gt).max(1) < s.neg_iou]
    return boxes[:n]


def near_negatives(rng: np.random.Generator, face: np.ndarray, w: int, h: int, gt: np.ndarray, n: int, s: SampleConfig, min_side: int) -> np.ndarray:
    """Up to ``n`` squares overlapping or next to ``face`` with IoU < ``neg_iou`` against every face."""
    if n <= 0:
        return np.zeros((0, 4), np.int64)
    fs = max(face[2] - face[0], face[3] - face[1])
    m = 3 * n
    side = np.maximum(rng.uniform(0.6 * fs, 1.6 * fs, m), min_side)
    x1 = face[0] + rng.uniform(-1, 1, m) * side
    y1 = face[1] + rng.uniform(-1, 1, m) * side
    boxes = B.integer_boxes(np.column_stack([x1, y1, x1 + side, y1 + side]))
    boxes = boxes[_inside(boxes, w, h)]
    if len(gt):
        boxes = boxes[B.box_iou(boxes, gt).max(1) < s.neg_iou]
    return boxes[:n]


def jittered(rng: np.random.Generator, face: np.ndarray, n: int, s: SampleConfig, shift: float | None = None,
             scale: list[float] | None = None) -> np.ndarray:
    """``n`` squares around ``face``: centre shifted by up to ``shift`` of its size, side scaled by ``scale``
    (defaults: the config's ``jitter_shift`` / ``jitter_scale``)."""
    fw, fh = face[2] - face[0], face[3] - face[1]
    shift = s.jitter_shift if shift is None else shift
    lo, hi = s.jitter_scale if scale is None else scale
    side = rng.uniform(lo * min(fw, fh), hi * max(fw, fh), n)
    cx = face[0] + fw / 2 + rng.uniform(-shift, shift, n) * fw
    cy = face[1] + fh / 2 + rng.uniform(-shift, shift, n) * fh
    return _squares(cx, cy, side)


def label_by_iou(boxes: np.ndarray, gt: np.ndarray, usable: np.ndarray, s: SampleConfig) -> tuple[np.ndarray, np.ndarray]:
    """Type of each crop by its best IoU with the faces: 0 neg, 1 pos, 2 part, -1 dropped; and box targets.

    A crop whose best face is not ``usable`` (flagged invalid, too small) is
    dropped unless it is a clear negative, so unusable faces never become negatives.
    With ``s.label_square`` the IoU is taken with each face's square (:func:`boxes.square`);
    the box targets are always the annotated box.
    """
    kind = np.full(len(boxes), -1, np.int64)
    targets = np.zeros((len(boxes), 4))
    if len(boxes) == 0:
        return kind, targets
    if len(gt) == 0:
        kind[:] = 0
        return kind, targets
    iou = B.box_iou(boxes, B.square(gt) if s.label_square else gt)
    best = iou.argmax(1)
    top = iou[np.arange(len(boxes)), best]
    ok = usable[best]
    kind[top < s.neg_iou] = 0
    kind[(top >= s.pos_iou) & ok] = 1
    kind[(top >= s.part_iou) & (top < s.pos_iou) & ok] = 2
    targets = B.regression_targets(boxes, gt[best])
    return kind, targets


# ----------------------------------------------------------------------------- the work of one item


@dataclass
class Sampler:
    """What a process needs to make items' samples; picklable, so that each worker process of the pool
    (:func:`openmtcnn.detect.pool.worker_map`) builds its own with :meth:`start`."""

    cfg: StageConfig
    wider_root: str
    lmk_root: str
    prev: dict[str, str]  # ONNX files of the stages trained so far (none for P-Net)
    pseudo_root: str = ""  # samples.pseudo's image folder
    backend: Any = None
    teacher: Any = None  # samples.pseudo's teacher cascade (a Detector)

    def start(self) -> Sampler:
        """Load the previous stages' nets (a partial weight set) through the detector's own backend, and the
        teacher's cascade for ``samples.pseudo``."""
        cv2.setNumThreads(1)
        self.backend = OnnxBackend(nets=self.prev) if self.prev else None
        self.teacher = teacher_detector(self.cfg) if self.cfg.samples.pseudo is not None else None
        return self


def wider_samples(rng: np.random.Generator, image: np.ndarray, item: WiderImage, cfg: StageConfig, backend=None) -> dict[str, tuple]:
    """Crops of one WIDER image by type: random / near-face negatives, jittered pos / part, and for
    R-Net / O-Net the previous stages' detections labelled by IoU (their false positives = hard negatives)."""
    s, size = cfg.samples, cfg.size
    h, w = image.shape[:2]
    gt = item.boxes
    valid = item.valid_mask()
    fsize = np.minimum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]) if len(gt) else np.zeros(0)
    usable = valid & (fsize >= s.min_face)
    min_side = 12  # crops are never smaller than P-Net's window
    boxes = [random_negatives(rng, w, h, gt, s.random_neg_per_image, s, min_side)]
    for f in np.flatnonzero(usable):
        boxes.append(near_negatives(rng, gt[f], w, h, gt, s.near_neg_per_face, s, min_side))
        j = jittered(rng, gt[f], s.jitter_per_face, s)
        boxes.append(j[_inside(j, w, h, s.border_crops)])
    if s.detections is not None and backend is not None:
        d = s.detections
        dcfg = DetectConfig(
            min_face_size=d.min_face_size,
            scale_factor=d.scale_factor,
            thresholds=tuple(d.thresholds),
            max_candidates=d.max_candidates,
            crop_method=cfg.crop_method,  # the previous stages see crops as in the variant's cascade
        )
        cand = stage_pnet(image, backend, dcfg)
        if cfg.stage == "onet":
            cand = stage_rnet(image, cand, backend, dcfg)
        det = B.integer_boxes(cand[:, :4]) if len(cand) else np.zeros((0, 4), np.int64)
        kind, _ = label_by_iou(det, gt, usable, s)
        negs = np.flatnonzero(kind == 0)
        if len(negs) > d.max_neg_per_image:
            negs = rng.choice(negs, d.max_neg_per_image, replace=False)
        keep = np.sort(np.concatenate([negs, np.flatnonzero(kind > 0)]))
        boxes.append(det[keep])
    allb = np.concatenate(boxes) if boxes else np.zeros((0, 4), np.int64)
    kind, targets = label_by_iou(allb, gt, usable, s)
    out = {}
    for t, k in (("neg", 0), ("pos", 1), ("part", 2)):
        sel = kind == k
        if sel.any():
            lab = np.zeros((int(sel.sum()), LABEL_DIM), np.float32)
            if k:
                lab[:, :4] = targets[sel]
            out[t] = (crop_boxes(image, allb[sel], size, cfg.crop_method), lab)
    return out


def landmark_samples(rng: np.random.Generator, image: np.ndarray, face: LandmarkFace, cfg: StageConfig) -> dict[str, tuple]:
    """Jittered crops of one landmark face (some mirrored, some rotated), landmark targets relative to each crop."""
    s, size = cfg.samples, cfg.size
    h, w = image.shape[:2]
    crops, labs = [], []
    for _ in range(s.landmark_per_face):
        img, box, pts = image, face.box.copy(), face.points.copy()
        if rng.random() < s.landmark_flip:
            img = img[:, ::-1]
            box = np.array([w - box[2], box[1], w - box[0], box[3]])
            pts = np.column_stack([w - pts[:, 0], pts[:, 1]])[FLIP_POINTS]
        if rng.random() < s.landmark_rotate:
            angle = rng.uniform(-s.landmark_max_angle, s.landmark_max_angle)
            c = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            m = cv2.getRotationMatrix2D(c, angle, 1.0)
            img = cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            pts = np.column_stack([pts, np.ones(5)]) @ m.T
        cb = jittered(rng, box, 1, s, s.landmark_jitter_shift, s.landmark_jitter_scale)
        if B.box_iou(cb, box[None])[0, 0] < (s.pos_iou if s.landmark_min_iou is None else s.landmark_min_iou):
            continue
        off = encode_landmarks(cb, pts[None])[0]
        if off.min() < 0 or off.max() > 1:
            continue
        lab = np.zeros(LABEL_DIM, np.float32)
        lab[:4] = B.regression_targets(cb, box[None])[0]
        lab[4:] = off
        crops.append(crop_boxes(np.ascontiguousarray(img), cb, size, cfg.crop_method)[0])
        labs.append(lab)
    if not crops:
        return {}
    return {"landmark": (np.stack(crops), np.stack(labs))}


def item_rng(cfg: StageConfig, i: int, kind: str = "wider") -> tuple[np.random.Generator, bool]:
    """Work item ``i``'s own generator, and whether the item is in the validation split (its first draw; never
    for a pseudo item: held-out samples are scored against human labels only)."""
    rng = np.random.default_rng([cfg.seed, i])
    return rng, bool(rng.random() < cfg.samples.val_fraction) and kind != "pseudo"


def _process(sampler: Sampler, args: tuple[int, str, object]) -> tuple[int, bool, dict, str | None, dict]:
    """One work item: (index, kind, item) -> (index, is_val, samples by type, error or None, pseudo counts)."""
    i, kind, item = args
    cfg = sampler.cfg
    rng, is_val = item_rng(cfg, i, kind)
    try:
        if kind == "wider":
            image = load_image(Path(sampler.wider_root) / item.path)
            return i, is_val, wider_samples(rng, image, item, cfg, sampler.backend), None, {}
        if kind == "pseudo":
            image = load_image(Path(sampler.pseudo_root) / item.path)
            ann = pseudo_annotation(sampler.teacher, image, item, cfg.samples.pseudo)
            valid = int(ann.valid_mask().sum())
            counts = {"pseudo_faces": valid, "pseudo_ignored": len(ann.boxes) - valid}
            return i, is_val, wider_samples(rng, image, ann, cfg, sampler.backend), None, counts
        image = load_image(Path(sampler.lmk_root) / item.path)
        return i, is_val, landmark_samples(rng, image, item, cfg), None, {}
    except Exception as e:  # a bad image is reported and skipped; the rest of the run goes on
        return i, is_val, {}, f"{item.path}: {e}", {}


# ----------------------------------------------------------------------------- the run


def fingerprint(cfg: StageConfig, prev: dict[str, str]) -> str:
    """What determines the samples: the sample settings, stage, seed, data paths and previous nets' bytes
    (and a variant's own sample size and crop method, docs/variants.md)."""
    # options added later count only when set, so earlier sample sets stay valid
    sample_settings = {k: v for k, v in asdict(cfg.samples).items() if v is not None or k not in LATER_OPTIONS}
    # likewise the variant's sample size and crop method, only when not the standard ones (INPUT_SIZE, area)
    if cfg.size != INPUT_SIZE[cfg.stage]:
        sample_settings["variant_size"] = cfg.size
    if cfg.crop_method != "area":
        sample_settings["variant_crop_method"] = cfg.crop_method
    h = hashlib.sha256(json.dumps([cfg.stage, cfg.seed, sample_settings, asdict(cfg.data)], sort_keys=True).encode())
    for stage in sorted(prev):
        h.update(Path(prev[stage]).read_bytes())
    if cfg.samples.pseudo is not None:  # the teacher's nets, as the previous stages' (their bytes make the samples)
        for f in teacher_files(cfg.samples.pseudo):
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cap_room(cap: int, count: int, position: int, total: int, spread: bool) -> int:
    """How many more training samples of a capped type item ``position`` (of ``total``) may add.

    Plain: whatever is left of the cap. Spread: the cap paced over the list, ``cap * (position + 1) // total``
    minus what is stored, so the allowance an item leaves unused passes on to the next ones and the last item
    may reach the cap exactly.
    """
    if not spread:
        return cap - count
    return min(cap, cap * (position + 1) // max(1, total)) - count


def work_items(cfg: StageConfig, data_root: Path) -> tuple[list[tuple[str, object]], dict]:
    """The ordered work list (WIDER images, then landmark faces, then pseudo images) and what was found / missing."""
    d = cfg.data
    wider_root = data_path(data_root, d.wider_images)
    lmk_root = data_path(data_root, d.landmark_root)
    wider = existing(read_wider_gt(data_path(data_root, d.wider_gt)), wider_root)
    lmk = existing(read_landmark_list(data_path(data_root, d.landmark_list)), lmk_root)
    rng = np.random.default_rng(cfg.seed)
    wi = [wider.items[k] for k in rng.permutation(len(wider.items))]
    li = [lmk.items[k] for k in rng.permutation(len(lmk.items))]
    if cfg.samples.max_images:
        wi = wi[: cfg.samples.max_images]
    if cfg.samples.max_landmark_faces:
        li = li[: cfg.samples.max_landmark_faces]
    faces = sum(int(x.valid_mask().sum()) for x in wi)
    info = {
        "wider_images_found": len(wider.items),
        "wider_images_missing": len(wider.missing),
        "wider_images_used": len(wi),
        "wider_faces_used": faces,
        "landmark_faces_found": len(lmk.items),
        "landmark_faces_missing": len(lmk.missing),
        "landmark_faces_used": len(li),
        "wider_root": str(wider_root),
    }
    items = [("wider", x) for x in wi] + [("lmk", x) for x in li]
    if cfg.samples.pseudo is not None:
        # the photos of held-out landmark faces stay out of training, pseudo-annotated or not
        held_out = {(lmk_root / x.path).resolve() for k, x in enumerate(li) if item_rng(cfg, len(wi) + k)[1]}
        pi, pinfo = pseudo_work(cfg, data_root, rng, held_out)
        items += [("pseudo", x) for x in pi]
        info.update(pinfo)
    return items, info


def held_out_wider(cfg: StageConfig, data_root: str | Path) -> list[Path]:
    """The WIDER train images found under ``data_root`` that ``cfg``'s run holds out of training (its validation
    split, :func:`item_rng`), in work-list order."""
    items, _ = work_items(cfg, Path(data_root))
    root = data_path(data_root, cfg.data.wider_images)
    return [root / x.path for i, (kind, x) in enumerate(items) if kind == "wider" and item_rng(cfg, i)[1]]


def generate(cfg: StageConfig, data_root: str | Path, out_dir: str | Path, prev: dict[str, str] | None = None, log=print) -> dict:
    """Make (or finish making) the samples of one stage; returns the final ``progress.json`` contents.

    ``prev``: ONNX paths of the trained previous stages (R-Net: ``{"pnet": ...}``,
    O-Net: ``{"pnet": ..., "rnet": ...}``).
    """
    from tqdm import tqdm

    prev = dict(prev or {})
    data_root = Path(data_root)
    check_sources(cfg, data_root)
    store = SampleStore(out_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    items, info = work_items(cfg, data_root)
    fp = fingerprint(cfg, prev)
    progress = store.load_progress()
    if progress is not None and progress.get("fingerprint") != fp:
        raise RuntimeError(
            f"{store.root} holds samples made with other settings or other previous nets "
            f"(fingerprint {progress.get('fingerprint')} != {fp}); remove it or pass --fresh"
        )
    if progress is None:
        progress = {"fingerprint": fp, "stage": cfg.stage, "done": 0, "shards": 0, "errors": [], "seconds": 0.0,
                    "counts": {sp: {t: 0 for t in SAMPLE_TYPES} for sp in SPLITS}, "data": info}
    if progress.get("complete"):
        log(f"[{cfg.stage}] samples already complete in {store.root}")
        return progress
    store.drop_shards_after(progress["shards"])
    log(f"[{cfg.stage}] {info['wider_images_used']} WIDER images ({info['wider_images_missing']} listed but missing), "
        f"{info['landmark_faces_used']} landmark faces"
        + (f", {info['pseudo_images_used']} pseudo-annotated images" if cfg.samples.pseudo is not None else "")
        + f"; resuming at item {progress['done']}/{len(items)}")
    caps = cfg.samples.max_per_type
    spread = bool(cfg.samples.spread_caps)
    n_wider, n_lmk = info["wider_images_used"], info["landmark_faces_used"]
    n_faces = len(items) - n_lmk  # WIDER and pseudo images

    def source_position(i: int) -> tuple[int, int]:
        # WIDER and pseudo images give neg / pos / part, landmark faces give landmark: each type is paced over its
        # own list (WIDER images, then pseudo images after the landmark faces)
        if n_wider <= i < n_wider + n_lmk:
            return i - n_wider, n_lmk
        return (i if i < n_wider else i - n_lmk), n_faces

    counts = progress["counts"]
    wider_root = data_path(data_root, cfg.data.wider_images)
    lmk_root = data_path(data_root, cfg.data.landmark_root)
    pseudo_root = data_path(data_root, cfg.samples.pseudo.root) if cfg.samples.pseudo is not None else ""
    buf: dict[tuple[str, str], list] = {}
    t0 = time.time()
    base_seconds = progress["seconds"]

    def flush(done: int) -> None:
        for (sp, t), parts in buf.items():
            if parts:
                store.write_shard(sp, t, progress["shards"], np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        buf.clear()
        progress["shards"] += 1
        progress["done"] = done
        progress["seconds"] = base_seconds + time.time() - t0
        store.save_progress(progress)

    todo = [(i, k, it) for i, (k, it) in enumerate(items)][progress["done"] :]
    workers = max(1, cfg.samples.workers)

    def died(args: tuple[int, str, object], message: str) -> tuple[int, bool, dict, str, dict]:
        # the worker process died on this item (killed, out of memory): reported and skipped like a bad image
        return args[0], item_rng(cfg, args[0], args[1])[1], {}, f"{args[2].path}: {message}", {}

    sampler = Sampler(cfg, str(wider_root), str(lmk_root), prev, str(pseudo_root))
    # in item order, whatever the number of processes: the shards are the same
    results = worker_map(sampler.start, _process, todo, workers if len(todo) > 1 else 1, ordered=True, on_error=died)
    bar = tqdm(results, total=len(items), initial=progress["done"], desc=f"samples {cfg.stage}", unit="item", mininterval=5)
    try:
        for n, (i, is_val, samples, err, found) in enumerate(bar, 1):
            if err:
                progress["errors"].append(err)
                log(f"skipped: {err}")
            for k, v in found.items():  # a pseudo image's faces and ignored boxes
                progress["data"][k] += v
            sp = "val" if is_val else "train"
            for t, (imgs, labs) in samples.items():
                if sp == "train" and t in caps:
                    room = cap_room(caps[t], counts[sp][t], *source_position(i), spread)
                    if room <= 0:
                        continue
                    if len(imgs) > room:
                        pick = (np.sort(np.random.default_rng([cfg.seed, i, 1]).choice(len(imgs), room, replace=False))
                                if spread else slice(0, room))
                        imgs, labs = imgs[pick], labs[pick]
                buf.setdefault((sp, t), []).append((imgs, labs))
                counts[sp][t] += len(imgs)
            if n % cfg.samples.flush_every == 0:
                flush(i + 1)
                bar.set_postfix({t: counts["train"][t] for t in SAMPLE_TYPES})
        flush(len(items))
    finally:
        results.close()  # stops the workers
    progress["complete"] = True
    store.save_progress(progress)
    pseudo = (f", {progress['data']['pseudo_faces']} pseudo faces ({progress['data']['pseudo_ignored']} boxes ignored)"
              if cfg.samples.pseudo is not None else "")
    log(f"[{cfg.stage}] samples done in {progress['seconds']:.0f} s: train {counts['train']}, val {counts['val']}, "
        f"{len(progress['errors'])} unreadable images skipped{pseudo}")
    return progress
