"""End to end on synthetic images: `openmtcnn train all` -> weight set (ONNX, manifest, training.json, model card)
-> Detector, adoption, and cards written again from training.json alone (tiny, about a minute)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")

from test_train_synthetic import background, draw_face, make_dataset  # noqa: E402

TINY_SAMPLES = {
    "workers": 1, "flush_every": 5, "val_fraction": 0.2, "random_neg_per_image": 12, "near_neg_per_face": 3,
    "jitter_per_face": 10, "landmark_per_face": 6,
}
TINY_TRAIN = {"batch_size": 64, "epochs": 3, "steps_per_epoch": 15, "lr": 0.01, "checkpoint_seconds": 1}
DETECTIONS = {"min_face_size": 20, "thresholds": [0.3, 0.3, 0.3], "max_candidates": 40, "max_neg_per_image": 20}


def _configs(d: Path) -> Path:
    d.mkdir()
    for stage in ("pnet", "rnet", "onet"):
        c = {"stage": stage, "seed": 3, "samples": dict(TINY_SAMPLES), "train": dict(TINY_TRAIN)}
        if stage != "pnet":
            c["samples"]["detections"] = DETECTIONS
        if stage == "onet":
            c["train"].update(batch_size=32, steps_per_epoch=6, lr=0.002)
        (d / f"{stage}.yaml").write_text(yaml.safe_dump(c))
    return d


def _run(argv: list[str]) -> int:
    from openmtcnn.cli import train

    parser = argparse.ArgumentParser()
    train.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def _digests(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.is_file()}


def test_train_all_end_to_end(tmp_path, capsys):
    from openmtcnn.train.card import card_text
    from openmtcnn.train.record import ADOPTION_KEYS, read_record
    from openmtcnn.weights import BUNDLED_DIR

    bundled = _digests(BUNDLED_DIR / "default")
    data = make_dataset(tmp_path / "data", n_images=20, n_landmark=30)
    configs = _configs(tmp_path / "configs")
    runs = tmp_path / "runs"
    out = runs / "weights"  # the default --out: never the package's own set
    argv = ["train", "all", "--config", str(configs), "--data", str(data), "--runs", str(runs)]
    assert _run(argv) == 0

    for stage in ("pnet", "rnet", "onet"):
        rows = list(csv.DictReader(open(runs / stage / "train" / "log.csv")))
        assert len(rows) == 3
        assert (runs / stage / "train" / "curves.png").stat().st_size > 0
        summary = json.loads((runs / stage / "summary.json").read_text())
        assert summary["sample_counts"]["train"]["neg"] > 0 and summary["sample_counts"]["train"]["landmark"] > 0
        if stage == "pnet":  # the loss falls
            assert float(rows[-1]["train_det_loss"]) < float(rows[0]["train_det_loss"])
            assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"]) + 0.05
            assert summary["data"]["wider_images_missing"] == 1 and summary["unreadable_images"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variant"] == "mtcnn" and set(manifest["val_metrics"]) == {"pnet", "rnet", "onet"}
    card = (out / "MODEL_CARD.md").read_text()
    assert "WIDER FACE train: 21 images used" in card  # the corrupt one is found, then reported
    # training.json: each stage's summary.json as run_stage wrote it, and the card is a function of it alone
    record = read_record(out)
    for stage in ("pnet", "rnet", "onet"):
        assert record["stages"][stage] == json.loads((runs / stage / "summary.json").read_text())
    assert record["evaluation"] is None and record["cascade"] == {} and card == card_text(record)
    assert "## Intended use" in card and "## Terms of the data and of the teacher" in card
    assert "21 of WIDER FACE's 12,880 train images" in card and "learnt from the weight set" not in card  # no teacher

    from openmtcnn import Detector

    det = Detector(weights=out, thresholds=(0.3, 0.3, 0.3), min_face_size=20)
    img = background(np.random.default_rng(5), 128, 128)
    draw_face(img, 40, 40, 40)
    res = det.detect(img)
    assert res.boxes.shape[1:] == (4,) and res.landmarks.shape[1:] == (5, 2)

    # 'export' rewrites the set and card from the runs, with benchmark figures given as JSON
    figs = tmp_path / "figs.json"
    figs.write_text(json.dumps({"Synthetic benchmark": {"AP": 0.5}}))
    assert _run(["train", "export", "--runs", str(runs), "--out", str(tmp_path / "w2"), "--eval-json", str(figs)]) == 0
    assert "Synthetic benchmark" in (tmp_path / "w2" / "MODEL_CARD.md").read_text()
    assert read_record(tmp_path / "w2")["evaluation"] == {"Synthetic benchmark": {"AP": 0.5}}
    # a P-Net first level chosen for the set after training: in the manifest, the card, and what Detector uses
    assert _run(["train", "export", "--runs", str(runs), "--out", str(tmp_path / "w3"), "--pnet-scale", "0.75"]) == 0
    assert json.loads((tmp_path / "w3" / "manifest.json").read_text())["cascade"]["pnet_scale"] == 0.75
    assert "first pyramid level x 0.75" in (tmp_path / "w3" / "MODEL_CARD.md").read_text()
    assert Detector(weights=tmp_path / "w3").config.pnet_scale == 0.75 and det.config.pnet_scale == 1.0
    assert _run(["train", "export", "--runs", str(runs), "--out", str(tmp_path / "w1"), "--pnet-scale", "1"]) == 0
    assert "pnet_scale" not in json.loads((tmp_path / "w1" / "manifest.json").read_text()).get("cascade", {})
    assert "pnet_scale" not in read_record(tmp_path / "w1").get("cascade", {})  # the original pyramid: no choice
    assert _run(["train", "export", "--runs", str(runs), "--out", str(tmp_path / "w0"), "--pnet-scale", "0"]) == 2
    assert "pnet_scale must be in (0, 4], got 0" in capsys.readouterr().err and not (tmp_path / "w0").exists()
    # the same choice made on an exported set, without its runs: nets copied, manifest, record and card alike;
    # a file of the new folder that links into another set is replaced, not written through
    w4 = tmp_path / "w4"
    w4.mkdir()
    (w4 / "training.json").symlink_to(tmp_path / "w2" / "training.json")
    before = (tmp_path / "w2" / "training.json").read_text()
    assert _run(["train", "export", "--weights", str(tmp_path / "w2"), "--out", str(w4), "--pnet-scale", "0.6"]) == 0
    assert (tmp_path / "w2" / "training.json").read_text() == before and not (w4 / "training.json").is_symlink()
    assert json.loads((w4 / "manifest.json").read_text())["cascade"]["pnet_scale"] == 0.6
    r4 = read_record(w4)
    assert r4["cascade"] == {"pnet_scale": 0.6} and r4["evaluation"] == {"Synthetic benchmark": {"AP": 0.5}}
    assert r4["stages"] == read_record(tmp_path / "w2")["stages"]
    assert (w4 / "MODEL_CARD.md").read_text() == card_text(r4) and "first pyramid level x 0.6" in card_text(r4)
    assert all((w4 / f).read_bytes() == (tmp_path / "w2" / f).read_bytes() for f in ("pnet.onnx", "rnet.onnx", "onet.onnx"))
    assert Detector(weights=w4).config.pnet_scale == 0.6
    # in place, back to the original pyramid: the choice leaves manifest and record
    assert _run(["train", "export", "--weights", str(w4), "--pnet-scale", "1"]) == 0
    assert "pnet_scale" not in json.loads((w4 / "manifest.json").read_text())["cascade"]
    assert read_record(w4)["cascade"] == {} and "first pyramid level" not in (w4 / "MODEL_CARD.md").read_text()
    (w4 / "training.json").unlink()
    assert _run(["train", "export", "--weights", str(w4), "--pnet-scale", "0.6"]) == 2
    assert "no training record" in capsys.readouterr().err

    # a second run finds everything done and only re-exports
    capsys.readouterr()
    assert _run(argv) == 0
    assert "already complete" in capsys.readouterr().out

    # retrain O-Net alone: P-Net and R-Net adopted from the exported set, O-Net fine-tuned from it
    runs2 = tmp_path / "runs2"
    assert _run(["train", "adopt", "--weights", str(out), "--runs", str(runs2)]) == 0
    assert (runs2 / "pnet" / "pnet.onnx").read_bytes() == (out / "pnet.onnx").read_bytes()
    adopted = json.loads((runs2 / "rnet" / "summary.json").read_text())
    trained = json.loads((runs / "rnet" / "summary.json").read_text())
    assert {k: v for k, v in adopted.items() if k not in ADOPTION_KEYS} == trained  # from training.json: exact
    assert adopted["record_from"] == "training.json" and adopted["adopted_from"] == str(out)
    # an older set without training.json: the record is read back from its model card, to the card's precision
    legacy = tmp_path / "legacy"
    shutil.copytree(out, legacy)
    (legacy / "training.json").unlink()
    assert _run(["train", "adopt", "--weights", str(legacy), "--runs", str(tmp_path / "runs-legacy"), "--stages", "rnet"]) == 0
    from_card = json.loads((tmp_path / "runs-legacy" / "rnet" / "summary.json").read_text())
    assert from_card["record_from"] == "MODEL_CARD.md" and from_card["config"] == trained["config"]
    assert from_card["sample_counts"] == trained["sample_counts"] and from_card["command"] == trained["command"]
    assert from_card["best"]["epoch"] == trained["best"]["epoch"]
    assert from_card["best"]["val_landmark_nme"] == pytest.approx(trained["best"]["val_landmark_nme"], abs=1e-4)
    # `train card` on it: refused until asked to make the record from the card, which then writes the same card
    capsys.readouterr()
    assert _run(["train", "card", "--weights", str(legacy)]) == 2 and "--from-card" in capsys.readouterr().err
    assert _run(["train", "card", "--weights", str(legacy), "--from-card"]) == 0
    assert (legacy / "MODEL_CARD.md").read_text() == card and read_record(legacy)["stages"]["pnet"]["epochs_run"] == 3
    assert _run(["train", "card", "--weights", str(legacy), "--from-card"]) == 2  # never over a training.json
    (legacy / "training.json").write_text("{")
    assert _run(["train", "card", "--weights", str(legacy)]) == 2
    assert f"{legacy / 'training.json'}: not a JSON file" in capsys.readouterr().err
    onet_cfg = yaml.safe_load((configs / "onet.yaml").read_text())
    onet_cfg["train"].update(epochs=1, init_weights=str(out / "onet.onnx"), teacher=str(out))  # distilled from itself
    (configs / "onet-ft.yaml").write_text(yaml.safe_dump(onet_cfg))
    # one stage without --out: the set goes into the runs folder
    out2 = runs2 / "weights"
    capsys.readouterr()
    assert _run(["train", "onet", "--config", str(configs / "onet-ft.yaml"), "--data", str(data), "--runs", str(runs2)]) == 0
    assert "starting from" in capsys.readouterr().out
    card2 = (out2 / "MODEL_CARD.md").read_text()
    assert "P-Net: taken unchanged from the weight set" in card2 and "O-Net: fine-tuned, starting from" in card2
    assert "records, read from its `training.json`." in card2
    assert f"O-Net learnt from the weight set `{out}` as a teacher" in card2
    assert "WIDER FACE train: 21 images used" in card2
    init_sha = hashlib.sha256((out / "onet.onnx").read_bytes()).hexdigest()[:16]
    assert f"fine-tuned, starting from `{out / 'onet.onnx'}` (sha256 {init_sha})" in card2
    assert f"**Distilled**: the O-Net of the weight set `{out}` was its teacher" in card2
    # adopting from that set again carries its card's word on each stage: the chain stays traceable
    runs3 = tmp_path / "runs3"
    assert _run(["train", "adopt", "--weights", str(out2), "--runs", str(runs3), "--stages", "pnet", "rnet", "onet"]) == 0
    assert json.loads((runs3 / "onet" / "summary.json").read_text())["provenance"].startswith("fine-tuned, starting from")
    assert _run(["train", "export", "--runs", str(runs3), "--out", str(tmp_path / "w3")]) == 0
    card3 = (tmp_path / "w3" / "MODEL_CARD.md").read_text()
    assert f"O-Net: taken unchanged from the weight set `{out2}`" in card3
    assert f"That card said of it: fine-tuned, starting from `{out / 'onet.onnx'}` (sha256 {init_sha})" in card3
    assert "That card said of it: taken unchanged from the weight set" in card3  # P-Net: adopted twice
    assert f"**Distilled**: the O-Net of the weight set `{out}`" in card3
    assert _run(["train", "adopt", "--weights", str(tmp_path / "nowhere"), "--runs", str(runs2)]) == 2
    # a variant's O-Net behind adopted standard P-Net and R-Net (a one-stage sweep): trained, but no mixed set
    runs4 = tmp_path / "runs4"
    assert _run(["train", "adopt", "--weights", str(out), "--runs", str(runs4)]) == 0
    dw_cfg = yaml.safe_load((configs / "onet.yaml").read_text())
    dw_cfg["variant"] = "mtcnn-dw"
    dw_cfg["train"].update(epochs=1)
    (configs / "onet-dw.yaml").write_text(yaml.safe_dump(dw_cfg))
    capsys.readouterr()
    assert _run(["train", "onet", "--config", str(configs / "onet-dw.yaml"), "--data", str(data), "--runs", str(runs4)]) == 0
    assert "not exporting a weight set: the three stages were trained as different variants" in capsys.readouterr().out
    assert (runs4 / "onet" / "onet.onnx").is_file() and not (runs4 / "weights").exists()
    assert _run(["train", "export", "--runs", str(runs4)]) == 2
    assert "different variants" in capsys.readouterr().err
    assert _run(["train", "export", "--runs", str(runs4), "--mixed"]) == 2  # a mixed set is written only where named
    assert "needs --out" in capsys.readouterr().err
    # explicitly mixed, into a folder: a comparison set that says which stage is which variant
    w4 = tmp_path / "w4"
    assert _run(["train", "export", "--runs", str(runs4), "--mixed", "--out", str(w4)]) == 0
    manifest = json.loads((w4 / "manifest.json").read_text())
    assert manifest["variant"] == "pnet:mtcnn rnet:mtcnn onet:mtcnn-dw"
    assert manifest["stage_variants"] == {"pnet": "mtcnn", "rnet": "mtcnn", "onet": "mtcnn-dw"}
    assert manifest["nets"]["onet"]["conv"] == "dwsep" and manifest["nets"]["rnet"]["conv"] == "standard"
    card4 = (w4 / "MODEL_CARD.md").read_text()
    assert "Stages of different net variants" in card4 and "O-Net `mtcnn-dw` (the paper's" in card4
    from openmtcnn import Detector

    rgb = np.zeros((60, 80, 3), np.uint8)
    for backend in ("onnx", "torch"):
        Detector(weights=str(w4), backend=backend).detect(rgb)
    # and a stage adopted from it is the stage's own variant
    runs5 = tmp_path / "runs5"
    assert _run(["train", "adopt", "--weights", str(w4), "--runs", str(runs5), "--stages", "onet"]) == 0
    import torch

    assert torch.load(runs5 / "onet" / "train" / "best.pt", weights_only=False)["variant"] == "mtcnn-dw"

    # every card written again from its training.json alone: the runs, and the file a stage was fine-tuned from, gone
    kept = tmp_path / "kept"
    for name, folder in {"w2": tmp_path / "w2", "out2": out2, "w3": tmp_path / "w3", "w4": w4}.items():
        shutil.copytree(folder, kept / name)
    for folder in (runs, runs2, runs3, runs4, runs5, tmp_path / "runs-legacy"):
        shutil.rmtree(folder)
    for name in ("w2", "out2", "w3", "w4"):
        before = (kept / name / "MODEL_CARD.md").read_text()
        (kept / name / "MODEL_CARD.md").unlink()
        assert _run(["train", "card", "--weights", str(kept / name)]) == 0
        assert (kept / name / "MODEL_CARD.md").read_text() == before, name
    assert f"(sha256 {init_sha})" in (kept / "out2" / "MODEL_CARD.md").read_text()  # recorded at export, not re-read
    # new figures for a set: into its training.json, and its card
    assert _run(["train", "card", "--weights", str(kept / "w3"), "--eval-json", str(figs)]) == 0
    assert read_record(kept / "w3")["evaluation"] and "Synthetic benchmark" in (kept / "w3" / "MODEL_CARD.md").read_text()
    assert _digests(BUNDLED_DIR / "default") == bundled  # no step of this test wrote into the package


def test_git_commit_names_the_committed_version(tmp_path):
    import subprocess

    from openmtcnn.train.pipeline import _git_commit

    f = tmp_path / "pnet.onnx"
    f.write_bytes(b"v1")
    assert _git_commit(f) is None  # not in a repository
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "pnet.onnx"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert _git_commit(f) == head
    f.write_bytes(b"v2")  # changed since: no commit holds these bytes
    assert _git_commit(f) is None


def test_the_bundled_sets_cards_are_written_from_their_training_json():
    """A bundled set's card is card_text of its training.json (no hand edits), the record names the ONNX files it
    ships, and reading the card back gives the record again (the fallback for older sets stays in step)."""
    from openmtcnn.train.card import card_text
    from openmtcnn.train.record import read_record, record_from_card
    from openmtcnn.weights import BUNDLED_DIR, bundled_sets

    assert bundled_sets()
    for name in bundled_sets():
        d = BUNDLED_DIR / name
        record = read_record(d)
        assert (d / "MODEL_CARD.md").read_text(encoding="utf-8") == card_text(record), name
        for stage, sm in record["stages"].items():
            # a calibrated stage names the file the calibration wrote; an adopted one was taken over byte for byte
            named = (sm.get("calibration") or {}).get("onnx_sha256") or (sm["onnx_sha256"] if sm.get("adopted_from") else None)
            if named:
                assert named == hashlib.sha256((d / f"{stage}.onnx").read_bytes()).hexdigest(), (name, stage)
        if record.get("from_card"):  # made from the card of a set older than training.json: the card gives it again
            assert record_from_card(d) == record


def test_a_set_adopting_its_own_stage_again_says_so_once():
    """Re-exporting a set that adopts a stage from its own folder (same file, same commit) must not nest the same
    sentence once more on every export: the card says where the stage was taken from once, then what the stage's
    first record said of it."""
    from openmtcnn.train.card import stage_note

    first = "fine-tuned, starting from `init/onet.onnx` (sha256 0123456789abcdef) instead of a random initialisation."
    adoption = {"adopted_from": "openmtcnn/weights/default", "source_commit": "21a8003", "onnx_sha256": "7cd35a6ff21a617c" * 4,
                "record_from": "MODEL_CARD.md", "provenance": first}
    once = stage_note("onet", adoption)
    assert once.startswith("taken unchanged from the weight set `openmtcnn/weights/default` as of commit 21a8003")
    assert once.endswith(f"That card said of it: {first}")
    assert stage_note("onet", adoption | {"provenance": once}) == once  # the same adoption again: unchanged
    assert stage_note("onet", adoption | {"provenance": once, "record_from": "training.json"}).count("taken unchanged") == 1
    # another set's adoption of it stays a chain of two
    other = stage_note("onet", adoption | {"adopted_from": "runs/x/weights", "source_commit": None, "provenance": once})
    assert other.count("taken unchanged") == 2 and other.endswith(first)
