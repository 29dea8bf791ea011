"""Results report: markdown tables and figures from evaluation summaries."""

from __future__ import annotations

import json

import pytest

from openmtcnn.evaluate.runs import find_summaries


def _wider(label, ap):
    curve = {"precision": [None, 1.0, 0.5], "recall": [0.0, 0.4, 0.8]}
    return {
        "benchmark": "widerface",
        "label": label,
        "settings": {"min_face_size": 10, "scale_factor": 0.79, "thresholds": [0.5, 0.5, 0.3]},
        "images": 3226,
        "ap": {"easy": ap, "medium": ap - 0.02, "hard": ap - 0.2},
        "curves": {s: curve for s in ("easy", "medium", "hard")},
        "detection": {"elapsed_seconds": 1800, "timed_images": 3226, "images": 3226, "jobs": 2, "cpu_seconds_per_image": 0.8},
        "threads": 1,
        "machine": {"cpus": 2, "load_avg_at_start": [3.5, 3.0, 2.0]},
    }


def _landmarks(label):
    stats = {"count": 10, "nme": 0.071, "per_point": {k: 0.07 for k in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")}, "failure_rate_10": 0.1}
    e2e = dict(stats, nme=0.08, found=9, found_share=0.9)
    ced = {"x": [0.0, 0.1, 0.2], "y": [0.0, 0.8, 1.0]}
    return {
        "benchmark": "landmarks",
        "label": label,
        "subsets": {"all": {"display": "all", "faces": 10, "onet_gt": stats, "end_to_end": e2e}, "net_7876": {"display": "web", "faces": 6, "onet_gt": stats, "end_to_end": e2e}},
        "ced": {"all": {"onet_gt": ced, "end_to_end": ced}},
    }


def test_report_tables_figures_and_published_numbers(tmp_path, capsys):
    from openmtcnn.cli import main

    ours = dict(_wider("ours", 0.80), images=100, partial={"images_scored": 100, "images_in_set": 3226}, weights_source="trained here", weights="w/ours")
    for name, data in {"a/widerface.json": _wider("original", 0.83), "b/widerface.json": ours, "a/landmarks.json": _landmarks("original")}.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(json.dumps(data))
    out = tmp_path / "docs" / "results"
    (tmp_path / "notes.md").write_text("Measured on a busy machine.\n")
    assert main(["evaluate", "report", "--runs", str(tmp_path / "a"), str(tmp_path / "b" / "widerface.json"), "--out", str(out), "--notes", str(tmp_path / "notes.md")]) == 0
    md = (tmp_path / "docs" / "results.md").read_text()
    assert "| original | min face 10, scale 0.79, thr 0.5/0.5/0.3 | 3226 | 0.830 | 0.810 | 0.630 |" in md
    assert md.index("| original |") < md.index("| ours |")  # best first
    assert "30 min for 3226 images; 2 process(es) x 1 thread(s); 0.80 CPU s/image, i.e. about 22 min for all 3226 images" in md
    assert "0.848" in md and "0.834" in md and "6.9 %" in md  # published figures beside ours
    assert "| original | web | 6 | 7.10 % | 10.0 % | 8.00 % |" in md
    assert "3226 of 3226 (uniform sample)" not in md and "100 of 3226 (uniform sample)" in md
    assert "- ours: trained here (`w/ours`)" in md
    assert "![WIDER FACE val precision-recall](results/widerface_pr.png)" in md
    assert md.rstrip().endswith("## Notes\n\nMeasured on a busy machine.")
    assert (out / "widerface_pr.png").stat().st_size > 1000 and (out / "landmarks_ced.png").is_file()
    assert "wrote" in capsys.readouterr().out


def test_summaries_errors_name_the_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="no evaluation summary"):
        find_summaries([tmp_path])
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="x.json: not an openmtcnn evaluation summary"):
        find_summaries([tmp_path / "x.json"])


def test_readme_block_is_replaced_between_markers(tmp_path):
    from openmtcnn.cli import main
    from openmtcnn.evaluate.report import README_END, README_START

    for name, data in {"a/widerface.json": _wider("original", 0.83), "a/landmarks.json": _landmarks("original")}.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(json.dumps(data))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n\n{README_START}\nold table\n{README_END}\n\nafter\n")
    args = ["evaluate", "report", "--runs", str(tmp_path / "a"), "--out", str(tmp_path / "docs" / "results"), "--readme", str(readme)]
    assert main(args) == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# x\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "| original | 3226 | min face 10, scale 0.79, thr 0.5/0.5/0.3 | 0.830 | 0.810 | 0.630 |" in text
    assert "| original | 10 | 7.10 % | 8.00 % (9 found, 90.0 %) |" in text
    assert "*0.848*" in text and "[docs/results.md](docs/results.md)" in text
    assert main(args) == 0 and readme.read_text() == text  # regenerating changes nothing
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        main(args)


def test_committed_tables_are_what_the_report_generates(tmp_path):
    """docs/results.md and the README's results block equal `openmtcnn evaluate report` run, as
    docs/results/notes.md says, over the committed summaries."""
    import re
    import shlex

    from conftest import REPO
    from openmtcnn.cli import main

    notes = (REPO / "docs" / "results" / "notes.md").read_text()
    command = re.search(r"`R=docs/results/summaries; openmtcnn evaluate report (--runs [^`]*)`", notes)
    assert command, "docs/results/notes.md gives the exact command of this page"
    args = shlex.split(command.group(1).replace("$R", str(REPO / "docs" / "results" / "summaries")))
    i = args.index("--out")
    args = args[:i]  # --out, --notes, --readme: to a scratch copy
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "README.md").read_text())
    assert main(["evaluate", "report", *args, "--out", str(tmp_path / "docs" / "results"),
                 "--notes", str(REPO / "docs" / "results" / "notes.md"), "--readme", str(readme)]) == 0  # fmt: skip
    assert (tmp_path / "docs" / "results.md").read_text() == (REPO / "docs" / "results.md").read_text()
    assert readme.read_text() == (REPO / "README.md").read_text()


def test_rename_shows_runs_under_their_current_names():
    from openmtcnn.evaluate.report import rename_runs

    runs = [{"label": "ours-v10 (default)"}, {"label": "ours-v10 (default), everyday settings"}, {"label": "original"},
            {"label": "ours-v10 (default)x"}]
    got = rename_runs(runs, ["ours-v10 (default)=ours-v10"])
    assert [r["label"] for r in got] == ["ours-v10", "ours-v10, everyday settings", "original", "ours-v10 (default)x"]
    assert runs[0]["label"] == "ours-v10 (default)"  # the summaries stay as measured
    with pytest.raises(ValueError, match="no run is labelled 'v9'"):
        rename_runs(runs, ["v9=v8"])
    with pytest.raises(ValueError, match="OLD=NEW"):
        rename_runs(runs, ["v9"])
