"""The speed benchmark's arithmetic: the compute floor and the targets it reports (no timing here)."""

import json

import pytest

from openmtcnn.benchmark import measure, report
from openmtcnn.benchmark.peers import Peer


def timing(ms, macs=None, gemm=None):
    t = {"wall": {"median_ms": ms, "p90_ms": ms}, "cpu": {"median_ms": ms, "p90_ms": ms}, "faces": 1}
    if macs:
        t["macs"] = {"pnet": macs[0], "rnet": macs[1], "onet": macs[2], "total": sum(macs)}
    if gemm:
        t["gemm"] = {"median_macs_per_s": gemm[0], "best_macs_per_s": gemm[1], "n": 15}
    return t


def result(ours_vga, facenet_ms=100.0):
    return {
        "gemm": {"macs_per_s": 50e9},
        "runs": [{"threads": 1, "peers": {
            "openmtcnn": {"status": "ok", "vga": ours_vga},
            "facenet-pytorch": {"status": "ok", "vga": timing(facenet_ms)},
        }}],
    }


def test_floor_uses_the_rate_measured_between_the_passes():
    # 1e9 multiply-adds; 40e9/s between the passes -> floor 25 ms; the fastest product of the run (80e9/s) -> 12.5 ms
    res = result(timing(40.0, macs=(5e8, 3e8, 2e8), gemm=(40e9, 80e9)))
    report.derive(res)
    vga = res["runs"][0]["peers"]["openmtcnn"]["vga"]
    assert vga["floor_ms"] == pytest.approx(25.0)
    assert vga["wall_over_floor"] == pytest.approx(1.6)
    assert vga["peak_floor_ms"] == pytest.approx(12.5)
    assert vga["wall_over_peak_floor"] == pytest.approx(3.2)
    text = report.targets(res)
    assert "ours / compute floor = 1.60 wall" in text and "target <= 2: met" in text
    assert "ours / facenet-pytorch = 0.40 wall" in text and "target <= 0.33: not met" in text


def test_floor_falls_back_to_the_rate_measured_before_the_run():
    res = result(timing(60.0, macs=(5e8, 3e8, 2e8)))  # no products between the passes (e.g. an older JSON)
    report.derive(res)
    vga = res["runs"][0]["peers"]["openmtcnn"]["vga"]
    assert vga["floor_ms"] == pytest.approx(20.0)  # 1e9 / 50e9
    assert "= 3.00 wall" in report.targets(res) and "not met" in report.targets(res)


def test_gemm_sampler_measures_a_rate():
    sample = measure.gemm_sampler(64)
    assert sample() > 0


def test_time_peers_interleaves_and_keeps_the_others_when_one_fails():
    calls = []

    class Fake(Peer):
        def __init__(self, name, fail_at=None):
            self.name, self.fail_at, self.n = name, fail_at, 0

        def detect(self, rgb):
            self.n += 1
            calls.append(self.name)
            if self.fail_at is not None and self.n >= self.fail_at:
                raise RuntimeError("broken model")
            return 2

    peers = {"a": Fake("a"), "b": Fake("b"), "c": Fake("c", fail_at=3)}
    out = measure.time_peers(peers, [object()], repeat=4, warmup=1, macs={})
    timed = calls[3:]  # after one warm-up call each
    assert timed[:3] == ["a", "b", "c"] and timed[3:5] == ["b", "c"]  # pass 2 starts one peer later; c fails there
    assert out["c"] == {"status": "failed", "error": "RuntimeError: broken model"}
    for name in ("a", "b"):
        assert out[name]["wall"]["n"] == 4 and out[name]["faces"] == 2


def test_result_file_per_machine_and_history_row(tmp_path):
    m = {"cpu": "Intel(R) Xeon(R) Processor", "cores": 2}
    assert report.machine_slug(m) == "intel-xeon-processor-2c"
    res = result(timing(40.0, macs=(5e8, 3e8, 2e8), gemm=(40e9, 80e9)))
    res["runs"].append({"threads": 2, "peers": {"openmtcnn": {"status": "ok", "vga": timing(30.0), "hd": timing(150.0)},
                                                "facenet-pytorch": {"status": "ok", "vga": timing(90.0)}}})
    res.update(date="2026-12-01 01:06 UTC", machine=m)
    report.derive(res)
    header, row = report.history_row(None), report.history_row(res, "old.json")
    assert header.count("|---") == row.count(" | ") + 1 and row.startswith("| old.json | 2026-12-01 01:06 UTC |")
    assert row.rstrip(" |\n").split(" | ")[3:8] == ["40.0", "30.0", "150.0", "3.00", "1.60"]  # 40 ms over a 25 ms floor
    current = tmp_path / "intel-xeon-processor-2c.json"
    current.write_text(json.dumps(res))
    report.retire(current)
    report.retire(current)  # two replaced runs: one header, two rows
    lines = (tmp_path / "history.md").read_text().splitlines()
    assert lines.count(row.rstrip("\n").replace("old.json", current.name)) == 2 and sum(ln.startswith("|---") for ln in lines) == 1


def test_every_set_of_ours_gets_floor_and_stage_rows_and_a_ratio():
    # the depthwise set is one of ours: its own floor row and stage row, and its time over the default's
    res = result(timing(40.0, macs=(5e8, 3e8, 2e8)))
    dw = timing(20.0, macs=(2e8, 1e8, 1e8))
    dw["stages_ms"] = {"pnet": 9.0, "total": 20.0}
    res["runs"][0]["peers"]["openmtcnn-dw"] = {"status": "ok", "vga": dw}
    report.derive(res)
    assert res["runs"][0]["peers"]["openmtcnn-dw"]["vga"]["ratio_to_ours"] == pytest.approx(0.5)
    assert "| openmtcnn-dw | VGA | 200M / 100M / 100M |" in report.floor_table(res)
    assert "| 1 thr | openmtcnn-dw | VGA (wall) | — | 9.00 |" in report.stage_table(res)


def test_a_missing_depthwise_set_is_listed_not_fatal(monkeypatch):
    from types import SimpleNamespace

    from openmtcnn.benchmark import peers

    args = SimpleNamespace(weights=None, dw_weights="no-such-set", original="no-such-original")
    with pytest.raises(Exception, match="no-such-original"):  # a folder given for the original weights must exist
        peers.find_weights(args)
    args.original = None
    monkeypatch.setattr("openmtcnn.compat.export_original", lambda out: (_ for _ in ()).throw(ImportError("no torch")))
    found, why = peers.find_weights(args)
    assert "dw_weights" not in found and "no-such-set" in why["why_no_openmtcnn-dw"]
    assert "ours_weights" in found and "no torch" in why["why_no_openmtcnn-original"]


def test_readme_table_sets_side_by_side_with_the_runs_ratios(tmp_path):
    res = result(timing(40.0))
    res["runs"][0]["peers"]["openmtcnn-dw"] = {"status": "ok", "vga": timing(20.0),
                                               "folder": {"images_per_s": 8.0, "seconds": 1.0, "faces": 3}}
    res["runs"][0]["peers"]["openmtcnn"]["folder_processes"] = {"images_per_s": 5.0, "seconds": 1.0, "faces": 3}
    res |= {"date": "D", "machine": {"cpu": "C", "cores": 2}, "load": {"before": [0.5], "after": [1.0]},
            "memory": {"openmtcnn": {"hd": {"peak_mb": 100.0}, "4k": {"error": "killed"}}}}
    text = report.readme_table(res)
    assert "| VGA photo, 1 thread, median ms | 40.0 | 20.0 | 100.0 | 0.40 | 0.50 |" in text
    assert "| 1080p photo, 1 thread, median ms | — | — | — | — | — |" in text  # not run: said, not dropped
    assert "| 100 WIDER val images as a folder, 1 thread, images/s | 5.00 | 8.00 | — | — | 1.60 |" in text
    assert "| peak memory, 1080p photo, MB | 100 | — | — | — | — |" in text
    assert "| peak memory, 4K photo, MB | — | — | — | — | — |" in text
    readme = tmp_path / "README.md"
    readme.write_text("a\n" + "\n".join(report.README_MARKERS) + "\nb\n")
    from openmtcnn.evaluate.report import replace_block

    replace_block(readme, *report.README_MARKERS, text)
    assert readme.read_text().startswith("a\n<!-- speed:start") and readme.read_text().endswith("<!-- speed:end -->\nb\n")


def test_a_timing_names_its_weight_set_by_content():
    from openmtcnn.weights import resolve_weights

    w = measure.weights_record(resolve_weights("default"))
    assert w["variant"] == "mtcnn" and len(w["onnx_sha256"]) == 16 and w["folder"].endswith("default")
    assert w["folder"] == "openmtcnn/weights/default" or w["folder"].startswith("/")  # relative to the checkout run from
    res = result(timing(40.0))
    res["runs"][0]["peers"]["openmtcnn"]["weights"] = w
    res |= {"date": "D", "machine": {"cpu": "C", "cores": 2}, "load": {"before": [0.5], "after": [1.0]}}
    assert f"openmtcnn: `{w['folder']}` (mtcnn, ONNX sha256 {w['onnx_sha256']})" in report.readme_table(res)
