"""Training one stage: mixed mini-batches, multi-task loss, online hard sample mining, resumable.

Each mini-batch draws the sample types in the configured mix (paper: 3:1:1:2
neg:pos:part:landmark). Negatives and positives feed the face/non-face loss,
of which only the hardest ``ohem_keep`` fraction is back-propagated;
positives and part faces feed the box loss; landmark faces the landmark
loss. The total is weighted by the stage's task weights. After every epoch
the held-out split is scored per task; the best epoch (lowest weighted
validation loss; with ``train.keep: last``, the last epoch) is kept as ``best.pt``. ``last.pt`` is written every
``checkpoint_seconds`` so that a killed run continues where it stopped.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np

from ..ops.boxes import offsets_iou
from ..ops.crops import PIXEL_MEAN, PIXEL_SCALE
from ..ops.landmarks import normalised_errors
from ..stages import net_file
from .config import LANDMARK_LOSSES, SAMPLE_TYPES, StageConfig, TrainConfig
from .corrupt import corrupt
from .samples import FLIP_POINTS
from .store import SampleStore
from .teacher import DISTILL_TASKS, Teacher, distill_losses, two_class_kl

KIND = {t: k for k, t in enumerate(SAMPLE_TYPES)}  # neg 0, pos 1, part 2, landmark 3
METRICS = ("loss", "det_loss", "box_loss", "landmark_loss", "landmark_nme", "accuracy", "recall", "false_pos_rate")


def _lmk_flip_index() -> list[int]:
    """Column order of the 10 landmark numbers after a mirror (points swapped left/right)."""
    return [2 * p + c for p in FLIP_POINTS for c in (0, 1)]


def to_tensor(images: np.ndarray):
    """uint8 NHWC -> float32 NCHW in 0..255 (normalised later, after augmentation)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


def augment(x, kinds: np.ndarray, labels: np.ndarray, rng: np.random.Generator, flip: float, jitter: float):
    """Random horizontal flips (box and landmark labels mirrored) and colour jitter, on a 0..255 batch.

    Box offsets ``dx1, dy1, dx2, dy2`` become ``-dx2, dy1, -dx1, dy2`` under a
    mirror of the crop; landmark x offsets become ``1 - x`` with left and right
    points swapped.
    """
    import torch

    labels = labels.copy()
    n = len(kinds)
    if flip > 0:
        m = rng.random(n) < flip
        if m.any():
            idx = torch.from_numpy(np.flatnonzero(m))
            x[idx] = x[idx].flip(3)
            b = labels[m, :4].copy()
            labels[m, 0], labels[m, 2] = -b[:, 2], -b[:, 0]
            lm = m & (kinds == KIND["landmark"])
            if lm.any():
                l10 = labels[lm, 4:][:, _lmk_flip_index()]
                l10[:, 0::2] = 1.0 - l10[:, 0::2]
                labels[lm, 4:] = l10
    if jitter > 0:
        def u(lo, hi):
            return torch.from_numpy(rng.uniform(lo, hi, n).astype(np.float32))[:, None, None, None]

        gray = x.mean(1, keepdim=True)
        x = gray + (x - gray) * u(1 - jitter, 1 + jitter)  # saturation
        mean = x.mean((1, 2, 3), keepdim=True)
        x = mean + (x - mean) * u(1 - jitter, 1 + jitter)  # contrast
        x = x + u(-jitter, jitter) * 128  # brightness
        x = x.clamp(0, 255)
    return x, labels


def normalise(x):
    """0..255 -> the nets' input scale ``(x - 127.5) / 128`` (as :func:`openmtcnn.ops.crops.to_net_input`)."""
    return (x - PIXEL_MEAN) * PIXEL_SCALE


def landmark_loss(residual, kind: str = "l2", wing_w: float = TrainConfig.wing_w, wing_eps: float = TrainConfig.wing_eps):
    """Landmark loss of ``(N, 10)`` residuals (crop-side units): summed over the 10 numbers, mean over faces.

    "l2" is the paper's squared error. "l1" and "wing" (Feng et al. 2018) weigh small and middle errors more
    than squares do, where L2's gradient vanishes; wing is ``w ln(1 + |x| / eps)`` below ``w``, linear above.
    """
    import torch

    a = residual.abs()
    if kind == "l2":
        per = residual ** 2
    elif kind == "l1":
        per = a
    elif kind == "wing":
        c = wing_w - wing_w * float(np.log1p(wing_w / wing_eps))  # joins the two pieces at |x| = w
        per = torch.where(a < wing_w, wing_w * torch.log1p(a / wing_eps), a - c)
    else:
        raise ValueError(f"train.landmark_loss: {kind!r} is not one of {', '.join(LANDMARK_LOSSES)}")
    return per.sum(1).mean()


def face_targets(kinds: np.ndarray, labels: np.ndarray, soft: tuple[float, float, bool] | None = None,
                 landmark_pos_iou: float | None = None) -> np.ndarray:
    """Face/non-face target per sample: 0 neg, 1 pos, NaN (no such loss) part and landmark.

    ``soft = (neg_iou, pos_iou, square)`` gives part faces a target ramping linearly from 0 at IoU ``neg_iou``
    to 1 at ``pos_iou``, the IoU read from their box labels (:func:`openmtcnn.ops.boxes.offsets_iou`).
    ``landmark_pos_iou``: landmark faces whose crop has at least this IoU with their annotated box (read the
    same way) are positives (``train.landmark_as_face``).
    """
    t = np.full(len(kinds), np.nan, np.float32)
    t[kinds == KIND["neg"]] = 0
    t[kinds == KIND["pos"]] = 1
    lm = kinds == KIND["landmark"]
    if landmark_pos_iou is not None and lm.any():
        t[np.flatnonzero(lm)[offsets_iou(labels[lm, :4]) >= landmark_pos_iou]] = 1
    part = kinds == KIND["part"]
    if soft is not None and part.any():
        lo, hi, sq = soft
        iou = offsets_iou(labels[part, :4], sq)
        t[part] = np.clip((iou - lo) / (hi - lo), 0, 1)
    return t


def soft_range(cfg: StageConfig) -> tuple[float, float, bool] | None:
    """The ``soft`` argument of :func:`face_targets` for a stage config (None: the paper's hard labels)."""
    s = cfg.samples
    return (s.neg_iou, s.pos_iou, bool(s.label_square)) if cfg.train.part_soft_label else None


def losses(
    net_out,
    kinds: np.ndarray,
    labels: np.ndarray,
    ohem_keep: float,
    tc: TrainConfig | None = None,
    soft: tuple[float, float, bool] | None = None,
    landmark_pos_iou: float | None = None,
):
    """Per-task losses of one batch: (det, box, landmark) tensors and the face probabilities.

    det: cross-entropy on neg / pos (and, with ``soft``, part faces: see :func:`face_targets`), as the
    divergence from the target so that a soft target's own entropy does not count as hardness; mean of the
    hardest ``ohem_keep`` fraction;
    box: squared error summed over the 4 offsets, mean over pos / part;
    landmark: :func:`landmark_loss` (``tc.landmark_loss``; default squared error) over the 10 numbers, mean
    over landmark faces.
    """
    import torch

    logits, box, lmk = (o.reshape(o.shape[0], -1) for o in net_out)
    kinds_t = torch.from_numpy(kinds)
    lab = torch.from_numpy(labels)
    zero = logits.sum() * 0
    target = face_targets(kinds, labels, soft, landmark_pos_iou)
    labelled = ~np.isnan(target)
    cls = torch.from_numpy(labelled)
    if labelled.any():
        ce = two_class_kl(torch.from_numpy(target[labelled]), logits[cls])
        k = max(1, int(round(ohem_keep * len(ce))))
        det = ce.topk(k).values.mean() if k < len(ce) else ce.mean()
    else:
        det = zero
    bm = (kinds_t == KIND["pos"]) | (kinds_t == KIND["part"])
    box_l = ((box[bm] - lab[bm, :4]) ** 2).sum(1).mean() if bm.any() else zero
    lm = kinds_t == KIND["landmark"]
    tc = tc or TrainConfig()
    lmk_l = landmark_loss(lmk[lm] - lab[lm, 4:], tc.landmark_loss, tc.wing_w, tc.wing_eps) if lm.any() else zero
    prob = torch.softmax(logits, 1)[:, 1]
    return det, box_l, lmk_l, prob


def weighted_loss(task_weights: dict[str, float], det, box, landmark):
    """The multi-task total: training's objective and the validation score that picks the best epoch."""
    tw = task_weights
    return tw.get("det", 1) * det + tw.get("box", 0.5) * box + tw.get("landmark", 0.5) * landmark


class Pools:
    """In-memory samples of one split, by type, with the batch composition of the mix."""

    def __init__(self, store: SampleStore, split: str, size: int, limit: int = 0):
        self.data = {t: store.load(split, t, size) for t in SAMPLE_TYPES}
        if limit:
            self.data = {t: (im[:limit], lb[:limit]) for t, (im, lb) in self.data.items()}

    def counts(self) -> dict[str, int]:
        return {t: len(self.data[t][0]) for t in SAMPLE_TYPES}

    def batch_plan(self, batch: int, mix: dict[str, float]) -> dict[str, int]:
        """Samples of each type per mini-batch (types with no samples get none)."""
        w = {t: float(mix.get(t, 0)) for t in SAMPLE_TYPES if len(self.data[t][0]) and mix.get(t, 0) > 0}
        if "neg" not in w or "pos" not in w:
            raise RuntimeError(f"training needs negatives and positives; have {self.counts()}")
        total = sum(w.values())
        plan = {t: int(round(batch * v / total)) for t, v in w.items()}
        return plan

    def sample(self, rng: np.random.Generator, plan: dict[str, int]):
        imgs, kinds, labs = [], [], []
        for t, n in plan.items():
            im, lb = self.data[t]
            idx = rng.integers(0, len(im), n)
            imgs.append(im[idx])
            labs.append(lb[idx])
            kinds.append(np.full(n, KIND[t]))
        return np.concatenate(imgs), np.concatenate(kinds), np.concatenate(labs)

    def all_batches(self, batch: int):
        for t in SAMPLE_TYPES:
            im, lb = self.data[t]
            for i in range(0, len(im), batch):
                yield im[i : i + batch], np.full(len(im[i : i + batch]), KIND[t]), lb[i : i + batch]


def validate(net, pools: Pools, cfg: StageConfig) -> dict[str, float]:
    """Per-task validation metrics over the whole held-out split (no mining, no augmentation)."""
    import torch

    tc = cfg.train
    sums = {"det": 0.0, "n_det": 0, "box": 0.0, "n_box": 0, "lmk": 0.0, "nme": 0.0, "n_lmk": 0, "tp": 0, "fp": 0,
            "n_pos": 0, "n_neg": 0, "correct": 0}
    net.eval()
    with torch.no_grad():
        for im, kinds, lab in pools.all_batches(2048):
            out = net(normalise(to_tensor(im)))
            det, box_l, lmk_l, prob = losses(out, kinds, lab, 1.0, tc)  # det is read for neg / pos only: hard labels
            n = len(kinds)
            if kinds[0] in (KIND["neg"], KIND["pos"]):
                sums["det"] += float(det) * n
                sums["n_det"] += n
                pred = (prob.numpy() > 0.5)
                if kinds[0] == KIND["pos"]:
                    sums["tp"] += int(pred.sum())
                    sums["n_pos"] += n
                    sums["correct"] += int(pred.sum())
                else:
                    sums["fp"] += int(pred.sum())
                    sums["n_neg"] += n
                    sums["correct"] += int((~pred).sum())
            if kinds[0] in (KIND["pos"], KIND["part"]):
                sums["box"] += float(box_l) * n
                sums["n_box"] += n
            if kinds[0] == KIND["landmark"]:
                sums["lmk"] += float(lmk_l) * n
                sums["nme"] += float(normalised_errors(out[2].reshape(n, 10).numpy(), lab[:, 4:]).mean(1).sum())
                sums["n_lmk"] += n
    net.train()
    m = {
        "det_loss": sums["det"] / max(1, sums["n_det"]),
        "box_loss": sums["box"] / max(1, sums["n_box"]),
        "landmark_loss": sums["lmk"] / max(1, sums["n_lmk"]),
        # mean point error / inter-ocular distance on the held-out landmark crops: comparable across loss choices
        "landmark_nme": sums["nme"] / max(1, sums["n_lmk"]),
        "accuracy": sums["correct"] / max(1, sums["n_det"]),
        "recall": sums["tp"] / max(1, sums["n_pos"]),
        "false_pos_rate": sums["fp"] / max(1, sums["n_neg"]),
    }
    m["loss"] = weighted_loss(tc.task_weights, m["det_loss"], m["box_loss"], m["landmark_loss"])
    return m


def _save(obj: dict, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def plot_curves(rows: list[dict], path: Path) -> None:
    """Training and validation curves, one panel per task, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
    for ax, key in zip(axes, ("det_loss", "box_loss", "landmark_loss")):
        ax.plot(ep, [r[f"train_{key}"] for r in rows], label="train")
        ax.plot(ep, [r[f"val_{key}"] for r in rows], label="val")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")  # the first epoch's losses would flatten the rest
        ax.legend()
    ax = axes[3]
    ax.plot(ep, [r.get("val_landmark_nme", np.nan) for r in rows])  # rows from before the metric existed: gaps
    ax.set_title("validation landmark NME")
    ax.set_xlabel("epoch")
    ax = axes[4]
    for key in ("accuracy", "recall", "false_pos_rate"):
        ax.plot(ep, [r[f"val_{key}"] for r in rows], label=key)
    ax.set_title("validation classification")
    ax.set_xlabel("epoch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def train_stage(cfg: StageConfig, samples_dir: str | Path, out_dir: str | Path, log=print) -> dict:
    """Train (or resume training) one stage; returns a summary with the best epoch's validation metrics.

    Writes ``last.pt`` (resume state), ``best.pt`` (best weights), ``log.csv`` and ``curves.png`` into ``out_dir``.
    """
    import torch
    from tqdm import tqdm

    from ..nets import create_net

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tc = cfg.train
    soft = soft_range(cfg)
    torch.set_num_threads(tc.threads)
    torch.manual_seed(cfg.seed)
    store = SampleStore(samples_dir)
    train, val = Pools(store, "train", cfg.size), Pools(store, "val", cfg.size, tc.val_max_per_type)
    plan = train.batch_plan(tc.batch_size, tc.mix)
    log(f"[{cfg.stage}] train samples {train.counts()}, val {val.counts()}, batch plan {plan}")
    teacher = None
    if tc.teacher:
        teacher = Teacher(tc.teacher, cfg.stage, cfg.size, threads=tc.threads)
        log(f"[{cfg.stage}] teacher {teacher.path}, distillation weights {tc.distill}")
    landmark_pos_iou = cfg.samples.pos_iou if tc.landmark_as_face else None
    last, best_path = out / "last.pt", out / "best.pt"
    if tc.init_weights and not last.exists():
        net = initial_net(cfg)
        log(f"[{cfg.stage}] starting from {tc.init_weights}")
        if net.spec.norm:  # BN rebuilt from the folded file: its statistics from training samples (nets/norm.py)
            from ..nets.norm import calibrate_norm

            calibrate_norm(net, normalise(to_tensor(train.sample(np.random.default_rng(cfg.seed + 1), plan)[0])))
            log(f"[{cfg.stage}] batch norm statistics set from {tc.batch_size} training samples")
    else:
        net = create_net(cfg.variant, cfg.stage)
    opt = torch.optim.Adam(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    state = {"epoch": 0, "step": 0, "rows": [], "best": None, "seconds": 0.0}
    if last.exists():
        ck = torch.load(last, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        state = ck["state"]
        log(f"[{cfg.stage}] resuming at epoch {state['epoch'] + 1}, step {state['step']}")
    if state.get("finished") and tc.keep == "last" and state["rows"] and state["best"] != state["rows"][-1]:
        # a run that finished keeping its best epoch, now asked for its last one (the config's keep changed)
        state["best"] = state["rows"][-1]
        _save({"model": net.state_dict(), "variant": cfg.variant, "stage": cfg.stage, "row": state["best"]}, best_path)
        _save({**torch.load(last, weights_only=False), "state": state}, last)
        log(f"[{cfg.stage}] keeping the last epoch ({state['best']['epoch']}) as best.pt")
    if state.get("finished"):
        log(f"[{cfg.stage}] training already finished")
        return _summary(cfg, state, train, val, plan)

    def checkpoint() -> None:
        _save({"model": net.state_dict(), "opt": opt.state_dict(), "rng": rng.bit_generator.state,
               "torch_rng": torch.get_rng_state(), "state": state}, last)

    t_start = time.time() - state["seconds"]
    last_ck = time.time()
    net.train()
    while state["epoch"] < tc.epochs:
        ep = state["epoch"]
        lr = tc.lr * 0.1 ** sum(ep >= e for e in tc.lr_decay_epochs)
        for g in opt.param_groups:
            g["lr"] = lr
        acc = state.setdefault("acc", {"det": 0.0, "box": 0.0, "lmk": 0.0, "distill": 0.0, "n": 0})
        bar = tqdm(range(state["step"], tc.steps_per_epoch), desc=f"{cfg.stage} epoch {ep + 1}/{tc.epochs}",
                   unit="step", mininterval=5, leave=False)
        for step in bar:
            im, kinds, lab = train.sample(rng, plan)
            im = corrupt(im, rng, tc.blur, tc.jpeg, tc.grayscale)
            x, lab = augment(to_tensor(im), kinds, lab, rng, tc.flip, tc.color_jitter)
            x = normalise(x)
            net_out = net(x)
            det, box_l, lmk_l, _ = losses(net_out, kinds, lab.astype(np.float32), tc.ohem_keep, tc, soft, landmark_pos_iou)
            loss = weighted_loss(tc.task_weights, det, box_l, lmk_l)
            if teacher is not None:
                d = distill_losses(net_out, kinds, teacher(x.numpy()), (KIND["pos"], KIND["part"]), (KIND["pos"],))
                d_loss = sum(tc.distill.get(k, 0.0) * v for k, v in zip(DISTILL_TASKS, d))
                loss = loss + d_loss
                acc["distill"] = acc.get("distill", 0.0) + d_loss.item()  # .get: a checkpoint from before the teacher
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc["det"] += det.item()
            acc["box"] += box_l.item()
            acc["lmk"] += lmk_l.item()
            acc["n"] += 1
            state["step"] = step + 1
            if step % 50 == 0:
                bar.set_postfix(det=f"{det.item():.3f}", box=f"{box_l.item():.4f}", lmk=f"{lmk_l.item():.4f}")
            if time.time() - last_ck > tc.checkpoint_seconds:
                state["seconds"] = time.time() - t_start
                checkpoint()
                last_ck = time.time()
        m = validate(net, val, cfg)
        n = max(1, acc["n"])
        row = {"epoch": ep + 1, "lr": lr, "seconds": round(time.time() - t_start, 1),
               "train_det_loss": acc["det"] / n, "train_box_loss": acc["box"] / n, "train_landmark_loss": acc["lmk"] / n,
               **({"train_distill_loss": acc["distill"] / n} if teacher is not None else {}),
               **{f"val_{k}": v for k, v in m.items()}}
        state["rows"].append(row)
        if state["best"] is None or m["loss"] < state["best"]["val_loss"] or tc.keep == "last":
            state["best"] = row
            _save({"model": net.state_dict(), "variant": cfg.variant, "stage": cfg.stage, "row": row}, best_path)
        log(f"[{cfg.stage}] epoch {ep + 1}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k.startswith(("train_", "val_"))))
        state["epoch"] = ep + 1
        state["step"] = 0
        state.pop("acc")
        state["seconds"] = time.time() - t_start
        _write_log(state["rows"], out)
        stop = tc.max_minutes and state["seconds"] > tc.max_minutes * 60
        if stop:
            log(f"[{cfg.stage}] time limit of {tc.max_minutes} min reached after epoch {ep + 1}")
            break
        checkpoint()
        last_ck = time.time()
    state["finished"] = True
    checkpoint()
    return _summary(cfg, state, train, val, plan)


def _write_log(rows: list[dict], out: Path) -> None:
    with open(out / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot_curves(rows, out / "curves.png")


def _summary(cfg: StageConfig, state: dict, train: Pools, val: Pools, plan: dict) -> dict:
    return {"stage": cfg.stage, "epochs_run": state["epoch"], "train_seconds": round(state["seconds"], 1),
            "best": state["best"], "train_samples": train.counts(), "val_samples": val.counts(), "batch_plan": plan}


def initial_net(cfg: StageConfig):
    """The net named by ``train.init_weights`` (a weight-set folder or an ONNX file), in train mode (a ``-bn``
    variant's with BN layers that pass the file's folded net through: :func:`openmtcnn.nets.norm.unfold_norm`)."""
    from ..nets.export import load_onnx_net

    src = Path(cfg.train.init_weights)
    path = src / net_file(cfg.stage) if src.is_dir() else src
    if not path.is_file():
        raise FileNotFoundError(f"train.init_weights: {path} is not a file (expected a weight-set folder or an ONNX file)")
    return load_onnx_net(path, cfg.variant, cfg.stage).train()


def load_best(cfg: StageConfig, out_dir: str | Path):
    """The best checkpoint of a stage as an ``MTCNNNet`` (eval mode)."""
    import torch

    from ..nets import create_net

    path = Path(out_dir) / "best.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained {cfg.stage}; run `openmtcnn train {cfg.stage}` first")
    ck = torch.load(path, weights_only=False)
    net = create_net(ck.get("variant", cfg.variant), cfg.stage)
    net.load_state_dict(ck["model"])
    return net.eval()
