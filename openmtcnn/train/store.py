"""A stage's sample folder: sharded uint8 crops and their labels, and the progress record that makes generation
resumable (written by :mod:`openmtcnn.train.samples`, read by the trainer).

Layout of a sample folder::

    progress.json                       # items done, counts, data found/missing, config fingerprint
    {train,val}/{neg,pos,part,landmark}/NNNNN_img.npy   # (n, S, S, 3) uint8 RGB crops
    {train,val}/{neg,pos,part,landmark}/NNNNN_lab.npy   # (n, 14) float32: 4 box offsets, 10 landmark offsets
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

SPLITS = ("train", "val")
LABEL_DIM = 14  # 4 box offsets, 10 landmark offsets


class SampleStore:
    """One stage's sample folder: shards per (split, type) and ``progress.json``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.progress_path = self.root / "progress.json"

    def load_progress(self) -> dict | None:
        return json.loads(self.progress_path.read_text()) if self.progress_path.exists() else None

    def save_progress(self, progress: dict) -> None:
        tmp = self.progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(progress, indent=1))
        os.replace(tmp, self.progress_path)

    def write_shard(self, split: str, kind: str, index: int, images: np.ndarray, labels: np.ndarray) -> None:
        d = self.root / split / kind
        d.mkdir(parents=True, exist_ok=True)
        for suffix, arr in (("img", images), ("lab", labels)):
            tmp = d / f"{index:05d}_{suffix}.tmp.npy"
            np.save(tmp, arr)
            os.replace(tmp, d / f"{index:05d}_{suffix}.npy")

    def drop_shards_after(self, shards: int) -> None:
        """Remove shards written after the last recorded progress (a run killed mid-flush)."""
        for f in self.root.glob("*/*/*.npy"):
            if int(f.name[:5]) >= shards:
                f.unlink()

    def shard_files(self, split: str, kind: str) -> list[tuple[Path, Path]]:
        d = self.root / split / kind
        imgs = sorted(d.glob("[0-9]*_img.npy"))
        return [(p, p.with_name(p.name.replace("_img", "_lab"))) for p in imgs]

    def load(self, split: str, kind: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        """All samples of one (split, type) in memory: ``(n, S, S, 3)`` uint8, ``(n, 14)`` float32."""
        pairs = self.shard_files(split, kind)
        if not pairs:
            return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, LABEL_DIM), np.float32)
        return np.concatenate([np.load(p) for p, _ in pairs]), np.concatenate([np.load(q) for _, q in pairs])
