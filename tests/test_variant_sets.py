"""benchmarks/variant_sets.py: trained weight sets timed side by side, their table built from committed summaries."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from openmtcnn.train.record import build_record, write_record

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "openmtcnn" / "assets" / "sample.jpg"


def load_script():
    spec = importlib.util.spec_from_file_location("variant_sets", REPO / "benchmarks" / "variant_sets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sets_are_timed_and_tabled(tmp_path):
    vs = load_script()
    from openmtcnn.weights import resolve_weights

    default = resolve_weights(None)
    wider = tmp_path / "WIDER_val" / "images" / "0--Event"
    wider.mkdir(parents=True)
    for i in range(2):
        shutil.copy(SAMPLE, wider / f"im{i}.jpg")
    summaries = tmp_path / "summaries"
    summaries.mkdir()
    # a committed summary for the first set only: the second set's accuracy is reported as not measured
    (summaries / "a-everyday.widerface.json").write_text(json.dumps({"ap": {"easy": 0.7, "medium": 0.6, "hard": 0.4}, "images": 3226}))
    doc = tmp_path / "variants.md"
    start, end = vs.markers("t")
    doc.write_text(f"intro\n{start}\nold table\n{end}\noutro\n")
    out = tmp_path / "sets.json"
    rc = vs.main(["t", f"a={default}", f"b={default}", "--wider", str(tmp_path / "WIDER_val" / "images"), "--vga", str(SAMPLE),
                  "--repeat", "2", "--json", str(out), "--summaries", str(summaries), str(tmp_path / "none"), "--doc", str(doc)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert [r["label"] for r in res["rows"]] == ["a", "b"]
    for r in res["rows"]:
        assert r["variant"] == "mtcnn" and r["params"]["onet"] > r["params"]["rnet"] > r["params"]["pnet"] > 0
        assert r["vga"]["wall"]["n"] == 2 and r["wider"]["wall"]["n"] == 2
        assert r["vga"]["faces"] > 0 and r["vga"]["macs"]["total"] > r["vga"]["macs"]["pnet"] > 0
    # the same weights find the same faces at the same cost
    assert res["rows"][0]["vga"]["macs"] == res["rows"][1]["vga"]["macs"]
    text = doc.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    row_a = next(line for line in text.splitlines() if line.startswith("| a |"))
    row_b = next(line for line in text.splitlines() if line.startswith("| b |"))
    assert "0.700 / 0.600 / 0.400" in row_a and "(1.00)" in row_a
    # each stage's training time from the set's training.json: samples + training minutes, P / R / O-Net
    assert res["rows"][0]["training"]["onet"]["epochs"] > 0
    assert re.search(r"\| \d+ \+ \d+ / \d+ \+ \d+ / \d+ \+ \d+ \|$", row_a)
    assert row_b.count("not measured") == 2  # AP (everyday: the only AP column any row has) and landmarks
    assert "WIDER val AP, authors' settings" not in text and "on the full WIDER val (3226 images)" in text
    # the trade-off plots beside the document, linked from it (set a only: b has no AP)
    for name in ("variants-t-ap-macs.png", "variants-t-ap-time.png"):
        assert (tmp_path / name).stat().st_size > 5000 and f"]({name})" in text
    # the stages' held-out metrics, read from the bundled set's manifest
    held_out = [line for line in text.split("Held-out crops", 1)[1].splitlines() if line.startswith("| a |")]
    assert len(held_out) == 1 and held_out[0].count(" / ") == 6 and held_out[0].endswith(" % |")
    # the table again from the JSON alone, and the README's short one
    doc.write_text(f"{start}\n{end}\n")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n" + "\n".join(vs.README_MARKERS) + "\n")
    assert vs.main(["t", "--report-only", "--json", str(out), "--summaries", str(summaries), "--doc", str(doc),
                    "--readme", str(readme)]) == 0
    assert row_a in doc.read_text()
    short = readme.read_text()
    assert "| a | mtcnn | 0.700 / 0.600 / 0.400 | not measured |" in short and "(1.00x)" in short


def test_sample_columns_and_cascade_settings_are_said(tmp_path):
    vs = load_script()
    summaries = tmp_path / "s"
    summaries.mkdir()
    ap = {"easy": 0.8, "medium": 0.7, "hard": 0.5}
    for label in ("std", "scaled"):
        (summaries / f"{label}.widerface.json").write_text(json.dumps({"ap": ap, "images": 500}))
    timing = {"wall": {"median_ms": 10.0}, "macs": {"total": 2e8}}
    row = {"params": {"pnet": 1, "rnet": 1, "onet": 1}, "vga": timing, "wider": timing}
    res = {"rows": [dict(row, label="std", variant="mtcnn", cascade={"crop_method": "area"}),
                    dict(row, label="scaled", variant="mtcnn", cascade={"crop_method": "area", "pnet_scale": 0.75}),
                    dict(row, label="swap", variant="pnet:mtcnn rnet:mtcnn-dw onet:mtcnn")],
           "machine": {"onnxruntime": "x", "cpus": 2, "processor": "p", "load_avg_at_start": [0], "after": [0]},
           "settings": {"threads": 1}, "vga": {"repeat": 1, "source": "v"}, "wider": {"images": 1}, "date": "d", "command": "c"}
    accs = [vs.accuracy([summaries], r["label"]) for r in res["rows"]]
    text = "\n".join(vs.report(res, accs, [summaries]))
    assert "| scaled | mtcnn, P-Net's first level x 0.75 |" in text and "| swap | pnet:mtcnn rnet:mtcnn-dw onet:mtcnn |" in text
    assert "the same fixed spread of 500 WIDER val images for every row (`evaluate widerface --sample 500`)" in text
    assert "everyday" not in text.split("\n")[0]  # no row has the everyday AP: no column for it
    assert next(x for x in text.splitlines() if x.startswith("| std |")).endswith("| not recorded |")  # no training record
    # rows measured before the training column get it from their folder where it is still here
    folder = tmp_path / "set"
    folder.mkdir()
    stage = {"config": {"train": {}}, "command": "c", "config_file": "f", "data": "d", "sample_counts": {},
             "sample_seconds": 90.0, "epochs_run": 30, "best": {}, "train_seconds": 600.0}
    write_record(build_record({s: stage for s in ("pnet", "rnet", "onet")}), folder)
    res["rows"][0]["weights"], res["rows"][1]["weights"] = str(folder), str(tmp_path / "gone")
    res["rows"][2]["weights"] = str(folder)
    res["rows"][2]["training"] = None  # already looked up: left as it is
    assert vs.fill_training(res) and "training" not in res["rows"][1] and res["rows"][2]["training"] is None
    assert res["rows"][0]["training"]["rnet"] == {"samples_min": 1.5, "train_min": 10.0, "epochs": 30}
    assert "| 2 + 10 / 2 + 10 / 2 + 10 |" in "\n".join(vs.report(res, accs, [summaries]))
    (folder / "training.json").write_text(json.dumps({"stages": {}}))  # not a record: an error naming the file
    with pytest.raises(ValueError, match=re.escape(str(folder / "training.json"))):
        vs.training_minutes(folder)
    assert [p.name for p in vs.plot(res, accs, tmp_path / "doc.md", "r")] == ["variants-r-ap-macs.png", "variants-r-ap-time.png"]


def test_a_folder_without_a_weight_set_is_refused(tmp_path):
    vs = load_script()
    with pytest.raises(SystemExit, match="no-set"):
        vs.parse_sets([f"x={tmp_path / 'no-set'}"])
