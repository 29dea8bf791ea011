"""Split the difference between openmtcnn's cascade and facenet-pytorch's into named conventions.

Runs facenet-pytorch's arithmetic (``tests/fixtures/parity/facenet_cascade.py``) on the original weights with
its convention switches turned to openmtcnn's one at a time, in cascade order, then the nets run as openmtcnn's
backend runs them (``net rounding``), and finally ``Detector`` itself. Faces are followed from step to step
(IoU > 0.5, best first); for the faces followed through every step, each step's mean move of the box sides
and of the points (mean of the 5, x and y) is printed, in openmtcnn's pixel convention (0-based corners).
The steps add up to the whole difference exactly (the last row is the residual against ``Detector``).

Usage, from the repository root (needs torch and facenet-pytorch's weight files, as the parity test)::

    python experiments/pixel-conventions/decompose.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_parity as tp  # noqa: E402  (the parity test's cases, weights and runners)

from openmtcnn.datasets.conventions import FACENET_BOXES  # noqa: E402
from openmtcnn.ops.boxes import box_iou  # noqa: E402


def follow(prev: np.ndarray, cur: np.ndarray) -> dict[int, int]:
    """Pairs ``{index in prev: index in cur}``, best IoU first, IoU > 0.5."""
    if len(prev) == 0 or len(cur) == 0:
        return {}
    iou = box_iou(prev, cur)
    out, used = {}, set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, iou.shape)
        if iou[i, j] <= 0.5:
            break
        if i not in out and j not in used:
            out[int(i)] = int(j)
            used.add(int(j))
    return out


def steps(rgb: np.ndarray, fc, plain, backend_run, det, settings) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(step name, boxes (N, 4), points (N, 5, 2))]`` from facenet-pytorch's arithmetic to ``Detector``."""
    s = settings
    conv = fc.FACENET
    out = []

    def run(name, conv, runner):
        b, _, p = fc.detect(rgb, runner, s["min_face_size"], s["factor"], s["thresholds"], conv=conv)
        out.append((name, FACENET_BOXES.boxes(b), np.asarray(p, dtype=np.float64).reshape(-1, 5, 2)))

    run("facenet-pytorch", conv, plain)
    for name in fc.Conventions.names():
        conv = replace(conv, **{name: "ours"})
        run(name, conv, plain)
    run("net rounding", conv, backend_run)
    r = det.detect(rgb)
    out.append(("Detector (residual)", np.asarray(r.boxes, np.float64).reshape(-1, 4), np.asarray(r.landmarks, np.float64).reshape(-1, 5, 2)))
    return out


def table(cases: dict[str, np.ndarray], fc, plain, backend_run, det, settings) -> str:
    names, moves, lost = None, [], None
    faces = 0
    for rgb in cases.values():
        st = steps(rgb, fc, plain, backend_run, det, settings)
        names = [n for n, _, _ in st]
        lost = lost if lost is not None else np.zeros(len(st) - 1, int)
        faces += len(st[0][1])
        chain = {i: i for i in range(len(st[0][1]))}  # facenet face -> its index at the current step
        per = {i: [] for i in chain}
        for k in range(1, len(st)):
            pairs = follow(st[k - 1][1], st[k][1])
            lost[k - 1] += len(st[k - 1][1]) - len(pairs)
            for i in list(chain):
                j = pairs.get(chain[i])
                if j is None:
                    del chain[i]
                    continue
                (b0, p0), (b1, p1) = (st[k - 1][1][chain[i]], st[k - 1][2][chain[i]]), (st[k][1][j], st[k][2][j])
                per[i].append(np.concatenate([b1 - b0, (p1 - p0).mean(axis=0)]))
                chain[i] = j
        moves += [np.array(per[i]) for i in chain]
    m = np.stack(moves)  # (faces, steps, 6)
    mean, worst = m.mean(axis=0), np.abs(m).max(axis=0)
    lines = [
        f"{len(m)} of {faces} faces followed through every step; mean move per step (px; largest |move| in brackets)",
        "",
        "| step (switched to openmtcnn's) | x1 | y1 | x2 | y2 | points x | points y | faces not followed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, name in enumerate(names[1:]):
        cells = " | ".join(f"{mean[k, c]:+.2f} ({worst[k, c]:.2f})" for c in range(6))
        lines.append(f"| {name} | {cells} | {lost[k]} |")
    total = m.sum(axis=1).mean(axis=0)
    lines.append("| **total: openmtcnn - facenet-pytorch** | " + " | ".join(f"**{v:+.2f}**" for v in total) + " | |")
    return "\n".join(lines)


def main() -> None:
    from openmtcnn.compat import export_original

    weights = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/openmtcnn-original")
    if not (weights / "onet.onnx").is_file():
        export_original(weights)
    fc = tp._load_facenet_cascade()
    det = tp.detector_for(weights)
    plain, backend_run = tp.onnx_runner(weights), tp.detector_runner(det)
    settings = tp.REFERENCE["settings"]
    photos = {n: tp.load_rgb(n) for n in tp.IMAGES}
    small = tp.small_face_cases(per_image=3)
    tight = {k: v for k, v in small.items() if ":face" in k}
    print("## Fixture photos (faces 20-200 px)\n")
    print(table(photos, fc, plain, backend_run, det, settings))
    print("\n## Tight crops, 160 px, faces 40-80 px\n")
    print(table(tight, fc, plain, backend_run, det, settings))
    print("\n## Photos scaled down, faces 12-40 px\n")
    print(table({k: v for k, v in small.items() if k not in tight}, fc, plain, backend_run, det, settings))


if __name__ == "__main__":
    main()
