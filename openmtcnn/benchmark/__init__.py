"""openmtcnn's speed against the MTCNNs (and classic detectors) a user could pick instead.

    bash benchmarks/setup.sh                       # once: .bench-venv with the peers (from a checkout)
    nice -n 5 .bench-venv/bin/openmtcnn benchmark          # or: python -m openmtcnn.benchmark
    .bench-venv/bin/openmtcnn benchmark --report-only   # docs/speed.md from the JSON

For each thread count (1 and 2) one worker process loads every detector and runs
them on the same images with the same settings (min face 20, thresholds
0.6 / 0.7 / 0.7 for the MTCNNs), after warm-up: a VGA photo, a 1080p photo and a
fixed sample of WIDER FACE val images. The detectors take turns image by image
(interleaved passes), so that the machine's drifting speed falls on all alike. It reports median and p90 milliseconds per
image (wall and process CPU time), faces found, each peer's time over ours, where
our time goes stage by stage, and our time against the compute floor: the
multiply-adds the cascade performed on that image divided by this machine's
single-thread float32 matrix-multiply rate, measured between our timed passes. Then peak
memory (RSS) for a 1080p and a 4K image, each in a fresh process, and folder
throughput (decode + detect, 2 threads) on the WIDER sample. Peers that are not
installed are listed as such. The machine's load is recorded: on a busy machine
compare the ratios (same run) and the CPU times rather than absolute wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .measure import MARK, gemm_rate, machine, peak_rss, run_worker_process, worker
from .peers import HD_SOURCE, OURS, PEERS, VGA_SOURCE, WIDER_VAL, find_weights, wider_sample
from .report import (
    HISTORY, README_MARKERS, RESULTS, derive, floor_table, folder_table, machine_slug, markdown, memory_table, readme_table, retire,
    stage_table, table, targets,
)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="openmtcnn's weights (default: the bundled default set)")
    p.add_argument("--dw-weights", default="mtcnn-dw", help="the depthwise set timed beside it (default: the bundled mtcnn-dw)")
    p.add_argument("--original", help="a folder with the original MTCNN weights as ONNX (default: converted here)")
    p.add_argument("--vga", default=str(VGA_SOURCE), help="photo for the VGA figure (resized to 640x480)")
    p.add_argument("--hd", default=str(HD_SOURCE), help="photo for the 1080p and 4K figures")
    p.add_argument("--wider", default=str(WIDER_VAL), help="WIDER FACE val images folder")
    p.add_argument("--n-wider", type=int, default=100, help="WIDER images in the sample (default 100)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    p.add_argument("--repeat", type=int, default=15, help="timed passes on the VGA image (1080p: a third)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--peers", nargs="+", default=PEERS, choices=PEERS, help="detectors to run (default all)")
    p.add_argument(
        "--wider-peers", nargs="+", default=PEERS, choices=PEERS,
        help="detectors timed on the WIDER sample (default all; fewer on a busy machine)",
    )
    p.add_argument(
        "--folder-peers", nargs="+", default=["openmtcnn", "openmtcnn-dw", "openmtcnn-original", "facenet-pytorch"], choices=PEERS,
        help="detectors whose folder throughput is measured (at the largest thread count)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument(
        "--memory-peers", nargs="+", default=["openmtcnn", "openmtcnn-dw", "openmtcnn-original", "facenet-pytorch"], choices=PEERS,
        help="detectors whose peak memory is measured (default: ours and facenet-pytorch)",
    )
    p.add_argument("--json", default=None,
                   help=f"result file (default: {RESULTS}/MACHINE.json, one current file per machine; the run it replaces "
                   f"is summarised in {HISTORY})")
    p.add_argument("--markdown", default=str(Path("docs") / "speed.md"), help="write the report here ('' to skip)")
    p.add_argument("--readme", default=None, help="also write the short speed table into this README's speed markers")
    p.add_argument("--report-only", action="store_true", help="only regenerate the markdown from --json")
    return p


def run(args) -> dict:
    if args.report_only:
        if args.json is None:
            raise SystemExit(f"--report-only needs --json (a result file under {RESULTS})")
        res = json.loads(Path(args.json).read_text())
        res["json_path"] = args.json  # where it is now (files are renamed: one current file per machine)
        derive(res)  # ratios and floors from the measured figures, as the code now reads them
    else:
        for p in (args.vga, args.hd):
            if not Path(p).is_file():
                raise SystemExit(f"{p}: no such image (give --vga / --hd, or stage WIDER val under data/)")
        res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "load": {"before": list(os.getloadavg())}}
        found, why = find_weights(args)
        wider = [str(p) for p in wider_sample(Path(args.wider), args.n_wider)]
        res["n_wider"] = len(wider)
        print("measuring the single-thread GEMM rate...", file=sys.stderr, flush=True)
        res["gemm"] = gemm_rate()
        spec = {
            "vga": args.vga, "hd": args.hd, "wider": wider, "peers": args.peers, "repeat": args.repeat, "warmup": args.warmup,
            "wider_peers": args.wider_peers, "folder_peers": args.folder_peers, "all_threads": args.threads, **found, **why,
        }
        res["runs"] = [run_worker_process({**spec, "threads": t}) for t in args.threads]
        if not args.no_memory:
            res["memory"] = {}
            for name in args.memory_peers:
                if name in OURS and OURS[name] not in found:
                    continue
                print(f"peak memory: {name}", file=sys.stderr, flush=True)
                res["memory"][name] = {"hd": peak_rss(name, spec, 1920, 1080), "4k": peak_rss(name, spec, 3840, 2160)}
        res["load"]["after"] = list(os.getloadavg())
        derive(res)
        path = Path(args.json) if args.json else RESULTS / f"{machine_slug(res['machine'])}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            retire(path)
        res["json_path"] = str(path)
        path.write_text(json.dumps(res, indent=1) + "\n")
        args.json = str(path)
    print(table(res))
    print("\nTargets:\n" + targets(res))
    print("\nCompute floor (1 thread):\n" + floor_table(res))
    print("\nStages (median ms):\n" + stage_table(res))
    print("\nFolder throughput:\n" + folder_table(res))
    if res.get("memory"):
        print("\nPeak memory:\n" + memory_table(res))
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown(res))
        print(f"\nwrote {args.markdown} and {args.json}", file=sys.stderr)
    if args.readme:
        from ..evaluate.report import replace_block

        replace_block(args.readme, *README_MARKERS, readme_table(res))
    return res


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        out = worker(json.loads(argv[1]))
        print(MARK + json.dumps(out), flush=True)
        return 0
    run(build_parser().parse_args(argv))
    return 0
