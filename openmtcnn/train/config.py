"""Per-stage training configuration, read from YAML (configs/pnet.yaml etc.).

Every number that shapes the samples or the training lives in the config
file; the dataclass defaults only fill keys a file leaves out. Unknown keys
are errors, so a typo cannot silently fall back to a default.

An experiment config can start with ``extends: other.yaml`` (a path relative
to the file) and hold only what it changes: its sections (``data``,
``samples``, ``samples.detections``, ``samples.pseudo``, ``train``) are merged key by key over the
base file's; any other value, mappings such as ``train.mix`` included, replaces
the base value whole. Runs record the resolved config, never the file text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..stages import STAGES

SAMPLE_TYPES = ("neg", "pos", "part", "landmark")
LANDMARK_LOSSES = ("l2", "l1", "wing")


class ConfigError(ValueError):
    """A bad configuration file or value; the message names it."""


@dataclass
class DataConfig:
    """Where the data lies, relative to the ``--data`` folder (or absolute)."""

    wider_images: str = "widerface/WIDER_train/images"
    wider_gt: str = "widerface/wider_face_split/wider_face_train_bbx_gt.txt"
    landmark_list: str = "landmarks/trainImageList.txt"
    landmark_root: str = "landmarks"


@dataclass
class DetectionSamples:
    """R-Net / O-Net: candidates from the previous stages (the cascade) labelled by IoU with ground truth."""

    min_face_size: float = 20.0
    scale_factor: float = 0.709
    thresholds: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.7])
    max_candidates: int = 300  # per image and stage, highest scores first
    max_neg_per_image: int = 60  # hard negatives kept per image (random subset)


@dataclass
class PseudoSamples:
    """A teacher's confident detections on unannotated photos as extra WIDER-like images (``samples.pseudo``).

    Each image of ``list`` goes through the teacher's whole cascade; detections scoring ``min_score`` or more
    are faces, those scoring ``ignore_score`` up to ``min_score`` are flagged invalid as WIDER's invalid faces
    are (never positives or part faces, no negative crop overlaps them), and the image is then sampled exactly
    as a WIDER image (:func:`openmtcnn.train.samples.wider_samples`). Training split only.
    """

    # a text file whose lines start with an image path (the first field; further fields, such as the landmark
    # list's, are ignored; a path listed twice is used once), relative to ``root``; both relative to --data
    list: str = "landmarks/trainImageList.txt"
    root: str = "landmarks"
    teacher: str = "weights/original"  # a weight-set folder (pnet/rnet/onet.onnx), relative to the current folder
    min_score: float = 0.97
    ignore_score: float = 0.6
    max_images: int = 0  # 0: every listed image found
    min_face_size: float | None = None  # the teacher's pyramid; None: samples.min_face
    scale_factor: float = 0.709
    thresholds: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.7])


@dataclass
class SampleConfig:
    """How many crops of each kind, and the rules that make them."""

    val_fraction: float = 0.05  # images (and landmark faces) held out for validation
    max_images: int = 0  # 0: every WIDER image found
    max_landmark_faces: int = 0  # 0: every landmark face found
    flush_every: int = 200  # work items between shard writes (the resume granularity)
    workers: int = 2
    min_face: float = 12.0  # ground-truth faces smaller than this give no positives / parts
    random_neg_per_image: int = 40  # random negatives (IoU < neg_iou with every face)
    near_neg_per_face: int = 4  # negatives drawn close to each face
    jitter_per_face: int = 12  # jittered crops per face, kept as pos / part by IoU
    jitter_shift: float = 0.2  # centre shift, fraction of face size
    jitter_scale: list[float] = field(default_factory=lambda: [0.8, 1.25])  # crop side / face side
    neg_iou: float = 0.3
    part_iou: float = 0.4
    pos_iou: float = 0.65
    landmark_per_face: int = 4  # jittered crops per landmark face (kept with IoU >= pos_iou)
    landmark_jitter_shift: float | None = None  # None: jitter_shift (O-Net sees well-aligned boxes: less jitter)
    landmark_jitter_scale: list[float] | None = None  # None: jitter_scale
    landmark_min_iou: float | None = None  # a landmark crop's least IoU with the annotated box (None: pos_iou)
    landmark_flip: float = 0.5  # probability of a mirrored copy (left/right points swapped)
    landmark_rotate: float = 0.5  # probability of a rotated copy
    landmark_max_angle: float = 15.0  # degrees
    max_per_type: dict[str, int] = field(default_factory=dict)  # caps on training samples per type
    # True: each cap is paced over the work list (item k of n may bring the total up to cap * (k + 1) / n, a random
    # subset of its crops), so every image contributes; None/False: first come, first kept (a cap reached at 60 % of
    # the images leaves the last 40 % without that type)
    spread_caps: bool | None = None
    # True: crops are labelled (neg / part / pos) by IoU with the square around each face (side max(w, h), as
    # MTCNN's own boxes are square) instead of the annotated box; box targets stay the annotated box. WIDER faces
    # are taller than wide (median h/w 1.26): a square crop reaches IoU 0.65 with a h/w >= 1.7 box never, so with
    # the plain rule tall faces give almost no positives. None/False: the annotated box
    label_square: bool | None = None
    # jittered face crops (pos / part) may reach past the image border by up to this fraction of their area, the
    # outside zero-filled as the cascade's own crops are: faces cut by the border or filling a tight photo, which
    # crops kept wholly inside never show. None/0: crops wholly inside the image only (as the paper)
    border_crops: float | None = None
    detections: DetectionSamples | None = None  # R-Net / O-Net only
    pseudo: PseudoSamples | None = None  # a teacher's detections on unannotated photos as extra images; None: off


@dataclass
class TrainConfig:
    """Optimisation, mixing, mining and augmentation."""

    batch_size: int = 512
    mix: dict[str, float] = field(default_factory=lambda: {"neg": 3, "pos": 1, "part": 1, "landmark": 2})
    task_weights: dict[str, float] = field(default_factory=lambda: {"det": 1.0, "box": 0.5, "landmark": 0.5})
    ohem_keep: float = 0.7  # fraction of classification losses kept per mini-batch
    # landmark loss per number: "l2" (the paper's squared error), "l1", or "wing" (Feng et al. 2018: w ln(1 + |x| / eps)
    # below w, linear above; w and eps in units of the crop side, 0.15 and 0.03 = the paper's 10 and 2 px on 64 px)
    landmark_loss: str = "l2"
    wing_w: float = 0.15
    wing_eps: float = 0.03
    # part faces (IoU part_iou..pos_iou) also feed the face/non-face loss, with a soft target that ramps from 0 at
    # samples.neg_iou to 1 at samples.pos_iou (IoU with the face's square under samples.label_square). The paper
    # leaves them out of it; then nothing teaches a stage to pass a roughly placed face box on to be calibrated.
    part_soft_label: bool = False
    lr: float = 0.001
    weight_decay: float = 0.0
    epochs: int = 10
    steps_per_epoch: int = 500
    lr_decay_epochs: list[int] = field(default_factory=list)  # epochs after which lr is divided by 10
    max_minutes: float = 0.0  # stop after the epoch that crosses this (0: no limit)
    checkpoint_seconds: float = 120.0
    flip: float = 0.5  # probability of a horizontal flip (labels mirrored)
    color_jitter: float = 0.2  # brightness / contrast / saturation amplitude
    threads: int = 2
    val_max_per_type: int = 0  # score at most this many held-out samples per type each epoch (0: all)
    # a weight-set folder (its STAGE.onnx) or an ONNX file: the net that training starts from (fine-tuning);
    # None: random initialisation. Read at the start of a fresh run only (a resumed run has its own last.pt)
    init_weights: str | None = None
    # knowledge distillation: a weight-set folder (e.g. the original weights after `openmtcnn convert-weights`) whose
    # net of the same stage sees every augmented mini-batch; its face probability (every sample), box offsets
    # (pos / part) and landmark offsets (pos / landmark faces) become soft targets beside the labels, each weighted
    # by `distill`. None: no teacher (the paper's recipe)
    teacher: str | None = None
    # which epoch becomes best.pt: "best", the lowest weighted validation loss against the labels; "last", the final
    # one. With a teacher the labels' loss is no longer the objective: the student leaves the labels to follow the
    # teacher (its validation loss against them rises while it does), so the lowest one picks the least-distilled epoch
    keep: str = "best"
    distill: dict[str, float] = field(default_factory=lambda: {"det": 1.0, "box": 0.5, "landmark": 0.0})
    # landmark crops whose IoU with their face box reaches samples.pos_iou also feed the face/non-face loss as
    # positives (web photos and LFW: other people, poses and framing than WIDER). Their box labels follow the
    # landmark set's tighter box convention, so they stay out of the box loss
    landmark_as_face: bool = False
    # per-sample probabilities of photometric corruptions applied before colour jitter: gaussian blur (sigma
    # 0.3-1.5 px of the crop), JPEG re-encoding (quality 20-80), grayscale
    blur: float = 0.0
    jpeg: float = 0.0
    grayscale: float = 0.0


@dataclass
class StageConfig:
    """Everything one stage needs: which net, which data, which samples, how to train."""

    stage: str
    variant: str = "mtcnn"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    samples: SampleConfig = field(default_factory=SampleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def size(self) -> int:
        """Side of this stage's samples: its variant's net input (R-Net / O-Net scaled by the variant's rho)."""
        from ..nets.registry import variant_specs

        return variant_specs(self.variant)[self.stage].size

    @property
    def crop_method(self) -> str:
        """How samples are cropped (:func:`openmtcnn.ops.crops.crop_boxes`): R-Net / O-Net as the variant's cascade
        crops their inputs; P-Net's as the cascade makes its input, by area resizing (the pyramid)."""
        from ..nets.registry import parse_variant

        return parse_variant(self.variant).crop_method if self.stage != "pnet" else "area"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# the nested sections of a config file and their types: built field by field, merged key by key under ``extends``
_SECTIONS = {"data": DataConfig, "samples": SampleConfig, "train": TrainConfig, "detections": DetectionSamples,
             "pseudo": PseudoSamples}


def _build(cls, values: Any, where: str):
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(fields)}")
    kwargs = {}
    for k, v in values.items():
        kwargs[k] = _build(_SECTIONS[k], v, f"{where}.{k}") if k in _SECTIONS and v is not None else v
    return cls(**kwargs)


def validate(cfg: StageConfig, where: str = "config") -> StageConfig:
    """Check the values that would otherwise fail late, deep inside a run."""
    if cfg.stage not in STAGES:
        raise ConfigError(f"{where}: stage must be one of {', '.join(STAGES)}, got {cfg.stage!r}")
    try:
        cfg.size
    except KeyError as e:
        raise ConfigError(f"{where}: variant: {e.args[0]}") from None
    for name, d in (("train.mix", cfg.train.mix), ("samples.max_per_type", cfg.samples.max_per_type)):
        bad = set(d) - set(SAMPLE_TYPES)
        if bad:
            raise ConfigError(f"{where}: {name} has unknown sample type(s) {sorted(bad)}; known: {SAMPLE_TYPES}")
    if not set(cfg.train.task_weights) <= {"det", "box", "landmark"}:
        raise ConfigError(f"{where}: train.task_weights keys must be det, box, landmark")
    if not 0 < cfg.train.ohem_keep <= 1:
        raise ConfigError(f"{where}: train.ohem_keep must be in (0, 1], got {cfg.train.ohem_keep}")
    if cfg.train.landmark_loss not in LANDMARK_LOSSES:
        raise ConfigError(f"{where}: train.landmark_loss must be one of {', '.join(LANDMARK_LOSSES)}, got {cfg.train.landmark_loss!r}")
    if cfg.train.landmark_loss == "wing" and not (cfg.train.wing_w > 0 and cfg.train.wing_eps > 0):
        raise ConfigError(f"{where}: train.wing_w and train.wing_eps must be > 0")
    if not set(cfg.train.distill) <= {"det", "box", "landmark"}:
        raise ConfigError(f"{where}: train.distill keys must be det, box, landmark")
    if cfg.train.keep not in ("best", "last"):
        raise ConfigError(f"{where}: train.keep must be 'best' or 'last', got {cfg.train.keep!r}")
    for name in ("blur", "jpeg", "grayscale"):
        if not 0 <= getattr(cfg.train, name) <= 1:
            raise ConfigError(f"{where}: train.{name} is a probability, got {getattr(cfg.train, name)}")
    if cfg.stage != "pnet" and cfg.samples.detections is None:
        raise ConfigError(f"{where}: {cfg.stage} needs samples.detections (candidates from the previous stages)")
    s = cfg.samples
    if not s.neg_iou <= s.part_iou <= s.pos_iou:
        raise ConfigError(f"{where}: need neg_iou <= part_iou <= pos_iou")
    p = s.pseudo
    if p is not None:
        if not 0 <= p.ignore_score <= p.min_score <= 1:
            raise ConfigError(f"{where}: samples.pseudo needs 0 <= ignore_score <= min_score <= 1, "
                              f"got {p.ignore_score} and {p.min_score}")
        if len(p.thresholds) != 3 or not all(0 <= t <= 1 for t in p.thresholds):
            raise ConfigError(f"{where}: samples.pseudo.thresholds must be three probabilities, got {p.thresholds}")
        if not 0 < p.scale_factor < 1 or (p.min_face_size is not None and p.min_face_size < 1) or p.max_images < 0:
            raise ConfigError(f"{where}: samples.pseudo: need 0 < scale_factor < 1, min_face_size >= 1, max_images >= 0")
    return cfg


def merge_sections(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: config sections merge key by key, every other value replaces."""
    out = dict(base)
    for k, v in over.items():
        if k in _SECTIONS and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_sections(out[k], v)
        else:
            out[k] = v
    return out


def _read_raw(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping with its ``extends`` chain resolved (cycles are errors)."""
    import yaml

    if not path.is_file():
        via = f" (extended by {chain[-1]})" if chain else ""
        raise ConfigError(f"{path}: no such config file{via}")
    if path.resolve() in {p.resolve() for p in chain}:
        raise ConfigError(f"{path}: extends itself through {' -> '.join(map(str, chain))}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping")
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends must be a file path, got {base!r}")
    return merge_sections(_read_raw(path.parent / base, chain + (path,)), raw)


def data_path(data_root: str | Path, p: str) -> Path:
    """A config's data path (``data.*``, ``samples.pseudo.list`` / ``root``): absolute, or relative to the
    ``--data`` folder."""
    q = Path(p)
    return q if q.is_absolute() else Path(data_root) / q


def stage_config(values: dict[str, Any], where: str) -> StageConfig:
    """A stage config from its mapping (a YAML file's, ``extends`` resolved, or a training record's ``config``),
    checked; ``where`` names it in errors."""
    return validate(_build(StageConfig, values, where), where)


def load_config(path: str | Path, stage: str | None = None) -> StageConfig:
    """Read a stage config file (resolving ``extends``); ``stage`` (if given) must match its ``stage``."""
    path = Path(path)
    raw = _read_raw(path)
    if "stage" not in raw:
        raise ConfigError(f"{path}: expected a mapping with a 'stage' key")
    cfg = stage_config(raw, str(path))
    if stage is not None and cfg.stage != stage:
        raise ConfigError(f"{path}: is a {cfg.stage} config, but {stage} was asked for")
    return cfg
