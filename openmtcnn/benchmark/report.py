"""The benchmark's report: ratios and compute floors derived from the measured JSON, the tables, and
``docs/speed.md``. Every figure in it comes from the JSON or from the code; none is typed in."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..detect.cascade import CHUNK, PNET_STRIP
from .peers import FACTOR, MIN_FACE, OURS, PEER_NOTES, THRESHOLDS

#: where result files go (relative to the checkout): one current file per machine ...
RESULTS = Path("benchmarks") / "results"
#: ... and one table of the runs they replaced
HISTORY = RESULTS / "history.md"


def machine_slug(m: dict) -> str:
    """A result file's name for a machine: its CPU model and core count (``intel-xeon-processor-2c``)."""
    cpu = re.sub(r"\((r|tm)\)", "", str(m.get("cpu", "unknown")).lower())
    return re.sub(r"[^a-z0-9]+", "-", cpu).strip("-") + f"-{m.get('cores', '?')}c"


def _ours(res: dict, threads: int) -> tuple[dict | None, dict | None]:
    """The base peer's entry (ours, else ours on the original weights) and the facenet-pytorch entry of a run."""
    run = next((r for r in res["runs"] if r["threads"] == threads), None)
    if run is None:
        return None, None
    return run["peers"].get(run.get("ratio_base", "openmtcnn")), run["peers"].get("facenet-pytorch")


def median_ms(e: dict | None, key: str) -> float | None:
    """A peer entry's median wall time on ``key`` (``vga``, ``hd``, ``wider``); ``None`` if it did not run."""
    return e.get(key, {}).get("wall", {}).get("median_ms") if e and e.get("status") == "ok" else None


def best_folder(e: dict) -> dict | None:
    """The fastest of a peer's folder modes (one process, batched, worker processes), or ``None``."""
    modes = [e.get(k) for k in ("folder_processes", "folder_batched", "folder")]
    return max((m for m in modes if m), key=lambda m: m["images_per_s"], default=None)


def history_row(res: dict | None, name: str = "") -> str:
    """One markdown row summarising a run (from its JSON, after :func:`derive`); the table's header for ``None``."""
    if res is None:
        return (
            "# Earlier speed runs\n\nWritten by `openmtcnn benchmark`: each row is a run that a newer run on the same machine "
            "replaced (its JSON is in git history). Median wall ms per image; `facenet × ours`: facenet-pytorch's time over "
            "ours in the same run; `floor`: our 1-thread VGA wall time over the compute floor.\n\n"
            "| run | date | machine | VGA 1 thr | VGA 2 thr | 1080p 2 thr | facenet × ours (VGA 2 thr) | floor (VGA 1 thr) |\n"
            "|---|---|---|---|---|---|---|---|\n"
        )

    one, _ = _ours(res, 1)
    two, facenet = _ours(res, 2)
    ratio = facenet.get("vga", {}).get("ratio_to_ours") if facenet and facenet.get("status") == "ok" else None
    floor = one.get("vga", {}).get("wall_over_floor") if one else None
    m = res["machine"]
    cells = [name, res["date"], f"{m['cpu']}, {m['cores']} cores", fmt(median_ms(one, "vga")), fmt(median_ms(two, "vga")), fmt(median_ms(two, "hd")),
             fmt(ratio, ".2f"), fmt(floor, ".2f")]
    return "| " + " | ".join(cells) + " |\n"


def floor_rate(res: dict, timing: dict) -> float:
    """The GEMM rate a timing's floor uses: the median of the products run between its passes where
    there are some (the same minutes of a machine whose speed drifts), else the best-of rate measured
    before the run."""
    return timing.get("gemm", {}).get("median_macs_per_s") or res["gemm"]["macs_per_s"]


def derive(res: dict) -> None:
    """Ratios to ours, and our time against the compute floor (in place).

    ``floor_ms`` uses :func:`floor_rate`; ``peak_floor_ms`` the fastest product seen in the run (before it,
    or between the passes): the stricter reading."""
    for run in res["runs"]:
        ours = run["peers"].get("openmtcnn")
        base = ours if ours and ours.get("status") == "ok" else run["peers"].get("openmtcnn-original")
        base_name = "openmtcnn" if base is ours else "openmtcnn-original"
        run["ratio_base"] = base_name
        for name, e in run["peers"].items():
            if e.get("status") != "ok" or not base or base.get("status") != "ok":
                continue
            for key in ("vga", "hd", "wider"):
                if key in e and key in base:
                    e[key]["ratio_to_ours"] = e[key]["wall"]["median_ms"] / base[key]["wall"]["median_ms"]
                    e[key]["cpu_ratio_to_ours"] = e[key]["cpu"]["median_ms"] / base[key]["cpu"]["median_ms"]
            for key in ("vga", "hd", "wider"):
                m = e.get(key, {}).get("macs")
                if m:
                    x = e[key]
                    floor = m["total"] / floor_rate(res, x) * 1000
                    x["floor_ms"] = floor
                    x["wall_over_floor"] = x["wall"]["median_ms"] / floor
                    x["cpu_over_floor"] = x["cpu"]["median_ms"] / floor
                    x["peak_macs_per_s"] = max(res["gemm"]["macs_per_s"], x.get("gemm", {}).get("best_macs_per_s", 0.0))
                    x["peak_floor_ms"] = m["total"] / x["peak_macs_per_s"] * 1000
                    x["wall_over_peak_floor"] = x["wall"]["median_ms"] / x["peak_floor_ms"]


def retire(path: Path) -> None:
    """Before a new run replaces the result file ``path``: its run becomes a row of the history table beside it."""
    old = json.loads(path.read_text())
    derive(old)
    history = path.parent / HISTORY.name
    if not history.is_file():
        history.write_text(history_row(None))
    with history.open("a") as f:
        f.write(history_row(old, path.name))


def fmt(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def table(res: dict) -> str:
    n = res.get("n_wider", 100)
    lines = []
    for run in res["runs"]:
        t = run["threads"]
        lines.append(f"\n### {t} thread{'s' if t > 1 else ''}\n")
        lines.append(
            f"| detector | VGA ms median / p90 | CPU ms | faces | × ours (wall / CPU) | 1080p ms median / p90 | CPU ms | faces "
            f"| × ours (wall / CPU) | WIDER-{n} ms median / p90 | CPU ms | × ours (wall / CPU) |"
        )
        lines.append("|---" * 12 + "|")
        for name, e in run["peers"].items():
            if e.get("status") != "ok":
                lines.append(f"| {name} | {e.get('status', '?')}: {e.get('error', '')} |" + " |" * 10)
                continue
            cells = [name]
            for key in ("vga", "hd", "wider"):
                x = e.get(key)
                if x is None:
                    cells += ["not run", "—", "—"] if key == "wider" else ["not run", "—", "—", "—"]
                    continue
                cells.append(f"{fmt(x['wall']['median_ms'])} / {fmt(x['wall']['p90_ms'])}")
                cells.append(fmt(x["cpu"]["median_ms"]))
                if key != "wider":
                    cells.append(str(x["faces"]))
                cells.append(f"{fmt(x.get('ratio_to_ours'), '.2f')} / {fmt(x.get('cpu_ratio_to_ours'), '.2f')}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(res: dict) -> str:
    """The issue's targets, checked against this run."""
    out = []
    one = next((r for r in res["runs"] if r["threads"] == 1), None)
    two = next((r for r in res["runs"] if r["threads"] == 2), None)
    base = one.get("ratio_base", "openmtcnn") if one else "openmtcnn"
    if one and one["peers"].get(base, {}).get("status") == "ok":
        ours = one["peers"][base]["vga"]
        fn = one["peers"].get("facenet-pytorch", {})
        if fn.get("status") == "ok":
            w, c = 1 / fn["vga"]["ratio_to_ours"], 1 / fn["vga"]["cpu_ratio_to_ours"]
            ok = "met" if w <= 1 / 3 else "not met"
            out.append(f"- VGA, 1 thread: ours / facenet-pytorch = {w:.2f} wall, {c:.2f} CPU (target <= 0.33: {ok} on wall time)")
        if "floor_ms" in ours:
            ok = "met" if ours["wall_over_floor"] <= 2 else "not met"
            rate = floor_rate(res, ours) / 1e9
            out.append(
                f"- VGA, 1 thread: ours / compute floor = {ours['wall_over_floor']:.2f} wall, {ours['cpu_over_floor']:.2f} CPU "
                f"(floor {ours['floor_ms']:.1f} ms at {rate:.1f} G multiply-adds/s; target <= 2: {ok} on wall time)"
            )
            if "gemm" in ours:  # rates sampled between the passes: the fastest of them may be faster than the one before
                out.append(
                    f"- the same against the fastest GEMM seen in the run ({ours['peak_floor_ms']:.1f} ms): "
                    f"{ours['wall_over_peak_floor']:.2f} wall"
                )
    if two:
        ours = best_folder(two["peers"].get(base, {}))
        fn = two["peers"].get("facenet-pytorch", {}).get("folder")
        if ours and fn:
            r = ours["images_per_s"] / fn["images_per_s"]
            out.append(f"- WIDER-{res.get('n_wider', 100)} folder, 2 threads: ours / facenet-pytorch throughput = {r:.2f} (target >= 3: {'met' if r >= 3 else 'not met'})")
    return "\n".join(out)


def ours_single_thread(res: dict) -> list[tuple[str, dict]]:
    """(name, entry) of openmtcnn's weight sets that ran in the 1-thread run."""
    run = next((r for r in res["runs"] if r["threads"] == 1), None)
    if run is None:
        return []
    return [(n, run["peers"][n]) for n in OURS if run["peers"].get(n, {}).get("status") == "ok"]


def floor_table(res: dict) -> str:
    lines = [
        "| weights | image | MACs (P / R / O-Net) | GEMM G/s | floor ms | median ms | × floor | CPU ms | CPU × floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in ours_single_thread(res):
        for key, label in (("vga", "VGA"), ("hd", "1080p"), ("wider", f"WIDER-{res.get('n_wider', 100)} (mean MACs)")):
            x = e.get(key, {})
            if "macs" not in x:
                continue
            m = x["macs"]
            lines.append(
                f"| {name} | {label} | {m['pnet']/1e6:.0f}M / {m['rnet']/1e6:.0f}M / {m['onet']/1e6:.0f}M | "
                f"{floor_rate(res, x) / 1e9:.1f} / {x['peak_macs_per_s'] / 1e9:.1f} | {x['floor_ms']:.1f} | "
                f"{x['wall']['median_ms']:.1f} | {x['wall_over_floor']:.2f} | {x['cpu']['median_ms']:.1f} | {x['cpu_over_floor']:.2f} |"
            )
    return "\n".join(lines)


def net_floor_table(res: dict) -> str:
    """Each network's time (median of the stage breakdown) against its own floor, and the time no floor covers."""
    lines = [
        "| weights | image | P-Net ms / floor / × | R-Net ms / floor / × | O-Net ms / floor / × | nets × floor | "
        "pyramid + crops + NMS + other ms | share of the time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in ours_single_thread(res):
        for key, label in (("vga", "VGA"), ("hd", "1080p")):
            x = e.get(key, {})
            st, m = x.get("stages_ms"), x.get("macs")
            if not st or not m:
                continue
            cells, nets, floors, rate = [], 0.0, 0.0, floor_rate(res, x)
            for stage in ("pnet", "rnet", "onet"):
                floor = m[stage] / rate * 1000
                cells.append(f"{st[stage]:.1f} / {floor:.1f} / {st[stage] / floor:.2f}")
                nets, floors = nets + st[stage], floors + floor
            rest = sum(st.get(k, 0.0) for k in ("pyramid", "crops", "nms", "other"))
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + f" | {nets / floors:.2f} | {rest:.1f} | {rest / (rest + nets):.0%} |")
    return "\n".join(lines)


def stage_table(res: dict) -> str:
    """Median per stage; CPU time where the run recorded it so (``stage_clock``), else wall time."""
    keys = ["pyramid", "pnet", "nms", "crops", "rnet", "onet", "other", "total"]
    lines = ["| run | weights | image | " + " | ".join(keys) + " |", "|---" * (len(keys) + 3) + "|"]
    for run in res["runs"]:
        for name in OURS:
            e = run["peers"].get(name, {})
            if e.get("status") != "ok":
                continue
            for key, label in (("vga", "VGA"), ("hd", "1080p")):
                s = e.get(key, {}).get("stages_ms", {})
                clock = "CPU" if run.get("stage_clock") == "cpu" else "wall"
                lines.append(f"| {run['threads']} thr | {name} | {label} ({clock}) | " + " | ".join(fmt(s.get(k), ".2f") for k in keys) + " |")
    return "\n".join(lines)


def memory_table(res: dict) -> str:
    lines = ["| detector | 1080p peak RSS MB | 4K peak RSS MB |", "|---|---|---|"]
    for name, m in res.get("memory", {}).items():
        cells = [f"{m[k]['peak_mb']:.0f}" if "peak_mb" in m.get(k, {}) else m.get(k, {}).get("error", "—") for k in ("hd", "4k")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def folder_table(res: dict) -> str:
    lines = ["| detector | mode | images/s | seconds | faces |", "|---|---|---|---|---|"]
    for run in res["runs"]:
        for name, e in run["peers"].items():
            for key, mode in (("folder", "decode, then detect, one by one"), ("folder_batched", "decoding thread + R/O-Net batched over 8 images"),
                              ("folder_processes", f"{run['threads']} worker processes, 1 thread each (`openmtcnn detect DIR`)")):
                f = e.get(key)
                if f:
                    lines.append(f"| {name} | {mode} | {f['images_per_s']:.2f} | {f['seconds']:.1f} | {f['faces']} |")
    return "\n".join(lines)


def markdown(res: dict) -> str:
    m = res["machine"]
    interleaved = any(r.get("interleaved") for r in res["runs"])
    same_window = any("gemm" in e.get("vga", {}) for _, e in ours_single_thread(res))  # floor rate taken between our passes
    load = res["load"]
    text = [
        "# Speed",
        "",
        f"Generated by `openmtcnn benchmark` from `{RESULTS / Path(res.get('json_path', 'speed.json')).name}` (run of {res['date']}; "
        f"earlier runs: `{HISTORY}`).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} logical cores; Python {m['python']}, ONNX Runtime {m['onnxruntime']}, numpy {m['numpy']}.",
        f"Load average before / after the run: {' / '.join(', '.join(f'{x:.1f}' for x in l) for l in (load['before'], load['after']))} "
        "(1-, 5- and 15-minute averages, which lag; the run itself keeps one or two cores busy. Where other work "
        "shares the machine, wall times are inflated; the ratios within a run and the CPU times are steadier).",
        f"Single-thread float32 GEMM rate before the run: {res['gemm']['macs_per_s']/1e9:.1f} G multiply-adds/s, best of 2 s of "
        f"512^3 products ({res['gemm'].get('blas', '?')})"
        + ("; the compute floor uses the rate measured between our timed passes (below)." if same_window else "."),
        "",
        f"Settings: min face {MIN_FACE} px, scale factor {FACTOR}, thresholds {THRESHOLDS} for every MTCNN; VGA = a WIDER val photo "
        f"with several faces resized to 640x480, 1080p = another resized to 1920x1080, WIDER-100 = {res['n_wider']} WIDER val images "
        "spread evenly over the sorted file list. Times are per image, after warm-up, one process per thread count"
        + ("; the detectors take turns image by image, in a rotating order, so that a drift in the machine's speed falls on "
           "all of them alike." if interleaved else "."),
        "",
        "## Detectors",
        "",
        *[f"- **{k}**: {v}" for k, v in PEER_NOTES.items()],
        "",
        "## Targets",
        "",
        targets(res),
        "",
        "## Time per image",
        table(res),
        "",
        "`× ours` is the detector's median wall time over openmtcnn's "
        f"(`{res['runs'][0].get('ratio_base', 'openmtcnn')}`) in the same run.",
        "",
        "## Against the compute floor (1 thread)",
        "",
        "The floor is the multiply-adds the cascade actually performed on the image (P-Net per pyramid level from its input "
        "size, R-Net and O-Net per candidate) divided by the measured GEMM rate."
        + (" The rate is the median of one 512^3 float32 product run after each timed image (not timed with it): this "
           "machine's speed drifts by tens of percent over minutes, and a rate measured at another moment would compare two "
           "different machines. The GEMM column gives that median and, after the slash, the fastest product of the run."
           if same_window else " This run's rate was measured before it; the GEMM column shows it twice."),
        "",
        floor_table(res),
        "",
        "Each network against its own floor (its multiply-adds over the GEMM rate; times from the stage breakdown below), "
        "and the work no floor counts: resizing the pyramid, cropping and resizing candidates, NMS.",
        "",
        net_floor_table(res),
        "",
        "## Where the time goes (median ms per image; CPU time of the process where marked)",
        "",
        stage_table(res),
        "",
        f"## Folder throughput (WIDER-{res.get('n_wider', 100)}, 2 threads, decoding included)",
        "",
        "Each figure is two runs over the folder, the second round in reverse order of detectors and modes; "
        "`seconds` is their sum." if interleaved else "",
        "",
        folder_table(res),
        "",
        "## Peak memory (fresh process per figure, 1 thread)",
        "",
        memory_table(res),
        "",
        res.get("memory_note", ""),
        "",
        "## What the detector does to be fast",
        "",
        "- The ONNX graphs are rewritten at load time (`openmtcnn.detect.rewrites.optimize_graph`; same results up to "
        "float rounding, about 1e-6): ONNX Runtime's PReLU is slow and breaks its blocked (NCHWc) convolution layout, so each "
        "per-channel PReLU becomes `x + (1 - a) relu(-x)` in two depthwise 1x1 convolutions it fuses; where a max-pool follows, "
        "the pool runs first and the PReLU after it on a quarter of the pixels (exact for slopes >= 0; negative slopes through "
        "negated channels in the block padding); convolution outputs are padded to whole blocks of channels so that nothing "
        "leaves the blocked layout; the face softmax becomes a sigmoid of the folded logit difference; "
        "P-Net's face and box heads are one convolution; P-Net's and R-Net's landmark heads are cut (ONNX Runtime runs every "
        "node whichever outputs are asked for).",
        "- R-Net and O-Net run once over all candidates of an image, and of several images (`Detector.detect(list)`, "
        f"`batch_size`), in cache-sized chunks ({CHUNK['rnet']} crops for R-Net, {CHUNK['onet']} for O-Net); P-Net runs tall "
        f"levels in strips of {PNET_STRIP} output rows.",
        "- `Detector(threads=N)`: P-Net on each pyramid level and each chunk of R-Net / O-Net crops run on N threads, one "
        "runtime thread per call, while the pyramid is resized on the calling thread (identical results). "
        "`openmtcnn detect` uses all CPUs for one image, a video or a stream.",
        "- NMS computes overlaps only for boxes whose x-ranges meet (same kept set as the greedy loop).",
        "- The pyramid is resized in float32 (OpenCV's area resize runs the same arithmetic as for uint8: rounded, the "
        "levels are bit-identical) and chained: each level is an area resize of the smallest earlier level at least twice "
        "its size (`--pyramid direct` resizes each from the full image).",
        "- Input scaling is exact float arithmetic on the levels; crops are resized straight into the batch.",
        "- ONNX Runtime: full graph optimisation, sequential execution, one inter-op thread, arena and memory-pattern reuse.",
        "- GPU: `Detector(backend=\"torch\", device=\"cuda\")` runs the same weight folder in PyTorch (same results as ONNX "
        "Runtime within float tolerance, tested on the CPU); this report has no GPU figures.",
        "- What this run means against the project's targets, the measurements behind these choices, and what was tried "
        "and left (with their figures, dates and machines) are in `docs/speed-notes.md` (by hand).",
        "",
    ]
    return "\n".join(text)


README_MARKERS = ("<!-- speed:start (generated by openmtcnn benchmark --readme; do not edit by hand) -->", "<!-- speed:end -->")


def readme_table(res: dict) -> str:
    """The README's short speed table: our sets and facenet-pytorch side by side (VGA and 1080p at 1 and 2 threads,
    the folder at the largest thread count, peak memory), with the ratios of the same run."""
    runs = {r["threads"]: r for r in res["runs"]}
    cols = [n for n in ("openmtcnn", "openmtcnn-dw", "facenet-pytorch")
            if any(r["peers"].get(n, {}).get("status") == "ok" for r in res["runs"])]

    def ratio(a: float | None, b: float | None) -> str:
        return fmt(a / b, ".2f") if a and b else "—"

    heads = {"openmtcnn": "openmtcnn (default weights)", "openmtcnn-dw": "openmtcnn (`mtcnn-dw`)", "facenet-pytorch": "facenet-pytorch"}
    ratios = [(a, b) for a, b in (("openmtcnn", "facenet-pytorch"), ("openmtcnn-dw", "openmtcnn")) if a in cols and b in cols]
    lines = ["| | " + " | ".join(heads[c] for c in cols) + "".join(f" | {a} / {b}" for a, b in ratios) + " |",
             "|---" * (1 + len(cols) + len(ratios)) + "|"]

    def row(label: str, value, spec: str) -> None:  # one figure per column, then the ratios of the same figures
        vals = {c: value(c) for c in cols}
        lines.append(f"| {label} | " + " | ".join(fmt(vals[c], spec) for c in cols)
                     + "".join(f" | {ratio(vals[a], vals[b])}" for a, b in ratios) + " |")

    plural = lambda t: f"{t} thread{'s' if t > 1 else ''}"
    for key, label in (("vga", "VGA photo"), ("hd", "1080p photo")):
        for t in sorted(runs):
            row(f"{label}, {plural(t)}, median ms", lambda c: median_ms(runs[t]["peers"].get(c), key), ".1f")
    if runs:
        t = max(runs)  # the folder figures are measured at the largest thread count
        row(f"{res.get('n_wider', 100)} WIDER val images as a folder, {plural(t)}, images/s",
            lambda c: (best_folder(runs[t]["peers"].get(c, {})) or {}).get("images_per_s"), ".2f")
    mem = res.get("memory", {})
    if mem:
        for k, label in (("hd", "1080p"), ("4k", "4K")):
            row(f"peak memory, {label} photo, MB", lambda c: mem.get(c, {}).get(k, {}).get("peak_mb"), ".0f")
    m, load = res["machine"], res["load"]
    sets = {c: runs[min(runs)]["peers"].get(c, {}).get("weights") for c in cols if c.startswith("openmtcnn")} if runs else {}
    said = "; ".join(f"{c}: `{w['folder']}` ({w['variant']}, ONNX sha256 {w['onnx_sha256']})" if w else f"{c}: not recorded"
                     for c, w in sets.items())
    lines += ["", f"Weights: {said}." if said else "", f"Run of {res['date']} on {m['cpu']}, {m['cores']} logical cores, load average {load['before'][0]:.1f} at the "
              f"start and {load['after'][0]:.1f} at the end; min face {MIN_FACE}, factor {FACTOR}, thresholds "
              f"{' / '.join(f'{x:g}' for x in THRESHOLDS)}; the detectors interleaved image by image; result file "
              f"`{RESULTS / Path(res.get('json_path', 'speed.json')).name}`. Ratios within the run; '—': not measured."]
    return "\n".join(lines)
