"""Figures of the evaluations (matplotlib, no display needed): PR curves, CED, ROC, AP against cost."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

Curve = tuple[str, np.ndarray, np.ndarray]  # (legend label, x values, y values)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _arr(v) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], dtype=np.float64)


def plot_widerface_pr(runs: Sequence[dict], path: str | os.PathLike) -> Path:
    """Precision-recall curves of easy / medium / hard, one panel each, one line per run.

    ``runs``: WIDER FACE summaries (``label``, ``ap``, ``curves``) as written by the evaluation.
    """
    plt = _pyplot()
    settings = ("easy", "medium", "hard")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, s in zip(axes, settings):
        for run in sorted(runs, key=lambda r: -r["ap"][s]):
            c = run["curves"][s]
            ax.plot(_arr(c["recall"]), _arr(c["precision"]), lw=2, label=f"{run.get('label', '?')} ({run['ap'][s]:.3f})")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision", title=f"WIDER FACE val: {s}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_ced(curves: Sequence[Curve], path: str | os.PathLike, title: str = "Landmarks", max_error: float = 0.25) -> Path:
    """Cumulative error distribution: share of faces (y) with normalised error <= x."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, x, y in curves:
        ax.plot(np.asarray(x) * 100, y, lw=2, label=label)
    ax.axvline(10, color="grey", ls=":", lw=1)
    ax.set(xlim=(0, max_error * 100), ylim=(0, 1.01), xlabel="error / inter-ocular distance (%)", ylabel="share of faces", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_tradeoff(points: Sequence[dict], path: str | os.PathLike, xlabel: str, title: str) -> Path:
    """AP (y) against a cost (x), one panel per WIDER setting (easy / medium / hard), one labelled point per
    weight set. ``points``: ``label``, ``x``, ``ap`` (setting -> AP), ``marked`` (drawn as a large black square:
    the standard nets, the reference of a comparison)."""
    plt = _pyplot()
    settings = ("easy", "medium", "hard")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for ax, s in zip(axes, settings):
        for p in points:
            marked = p.get("marked", False)
            ax.plot(p["x"], p["ap"][s], "s" if marked else "o", ms=9 if marked else 6,
                    color="black" if marked else "tab:blue", zorder=3 if marked else 2)
            ax.annotate(p["label"], (p["x"], p["ap"][s]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set(xlabel=xlabel, ylabel="AP", title=f"{title}: {s}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_roc(curves: Sequence[Curve], path: str | os.PathLike, title: str = "FDDB", max_fp: int = 2000) -> Path:
    """ROC as FDDB draws it: true positive rate (y) against the number of false positives (x)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, fp, tpr in curves:
        order = np.argsort(fp, kind="stable")
        ax.plot(np.asarray(fp)[order], np.asarray(tpr)[order], lw=2, label=label)
    ax.set(xlim=(0, max_fp), ylim=(0, 1.01), xlabel="false positives", ylabel="true positive rate", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | os.PathLike) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=90)
    _pyplot().close(fig)
    return p
