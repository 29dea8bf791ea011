"""The original-weights converter (openmtcnn.compat) and the `convert-weights` / `export` commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from openmtcnn import compat  # noqa: E402
from openmtcnn.cli import main  # noqa: E402
from openmtcnn.nets import STAGES, create_net  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def facenet_sds() -> dict:
    if compat.facenet_data_dir() is None:
        pytest.skip("facenet-pytorch's weight files are not installed (pip install facenet-pytorch==2.6.0 --no-deps)")
    return compat.load_facenet_state_dicts()


@pytest.fixture(scope="module")
def converted(facenet_sds) -> dict:
    return {s: compat.convert_state_dict(s, facenet_sds[s]) for s in STAGES}


def facenet_forward(stage: str, sd: dict, x: torch.Tensor):
    """facenet-pytorch 2.6.0's PNet/RNet/ONet forward, restated with plain torch ops on its state dict.

    Returns ``(face_prob, box, landmarks_or_None)``; landmarks in its order x1..x5, y1..y5.
    """

    def conv(x, name, prelu):
        return F.prelu(F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"]), sd[f"{prelu}.weight"])

    def lin(x, name):
        return F.linear(x, sd[f"{name}.weight"], sd[f"{name}.bias"])

    pool = lambda x, k, s: F.max_pool2d(x, k, s, ceil_mode=True)  # noqa: E731
    if stage == "pnet":
        x = conv(pool(conv(x, "conv1", "prelu1"), 2, 2), "conv2", "prelu2")
        x = conv(x, "conv3", "prelu3")
        face = F.conv2d(x, sd["conv4_1.weight"], sd["conv4_1.bias"])
        return torch.softmax(face, 1)[:, 1], F.conv2d(x, sd["conv4_2.weight"], sd["conv4_2.bias"]), None
    x = pool(conv(x, "conv1", "prelu1"), 3, 2)
    x = pool(conv(x, "conv2", "prelu2"), 3, 2)
    if stage == "rnet":
        x = conv(x, "conv3", "prelu3")
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # facenet's (N, W, H, C) flatten
        x = F.prelu(lin(x, "dense4"), sd["prelu4.weight"])
        return torch.softmax(lin(x, "dense5_1"), 1)[:, 1], lin(x, "dense5_2"), None
    x = pool(conv(x, "conv3", "prelu3"), 2, 2)
    x = conv(x, "conv4", "prelu4")
    x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
    x = F.prelu(lin(x, "dense5"), sd["prelu5.weight"])
    return torch.softmax(lin(x, "dense6_1"), 1)[:, 1], lin(x, "dense6_2"), lin(x, "dense6_3")


def ours_forward(net, x: torch.Tensor):
    with torch.no_grad():
        face, box, lmk = net(x)
    return torch.softmax(face, 1)[:, 1], box, lmk


INPUTS = {"pnet": (3, 31, 45), "rnet": (3, 24, 24), "onet": (3, 48, 48)}


def test_fc_input_permutation_is_the_whc_to_chw_map():
    c, h, w = 2, 3, 4
    perm = compat.fc_input_permutation(c, h, w)
    assert sorted(perm.tolist()) == list(range(c * h * w))
    for ci in range(c):
        for hi in range(h):
            for wi in range(w):
                assert perm[ci * h * w + hi * w + wi] == wi * h * c + hi * c + ci
    # and it does what the flatten orders need: ours(x) == theirs(x.permute) for a linear map
    x = torch.randn(5, c, h, w)
    weight = torch.randn(7, c * h * w)
    theirs = x.permute(0, 3, 2, 1).reshape(5, -1) @ weight.T
    ours = x.reshape(5, -1) @ weight[:, perm].T
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("stage", STAGES)
def test_converted_net_computes_what_facenet_computes(stage, facenet_sds, converted):
    torch.manual_seed(1)
    x = torch.randn(6, *INPUTS[stage])
    p_ref, b_ref, l_ref = facenet_forward(stage, facenet_sds[stage], x)
    p, b, lmk = ours_forward(converted[stage], x)
    torch.testing.assert_close(p, p_ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b, b_ref, atol=1e-5, rtol=1e-4)
    if l_ref is not None:
        torch.testing.assert_close(lmk[:, 0::2], l_ref[:, :5], atol=1e-5, rtol=1e-4)  # x1..x5
        torch.testing.assert_close(lmk[:, 1::2], l_ref[:, 5:], atol=1e-5, rtol=1e-4)  # y1..y5
    else:
        assert torch.count_nonzero(lmk) == 0  # released P-Net and R-Net have no landmark head


@pytest.mark.parametrize("stage", ["rnet", "onet"])
def test_fc_permutation_is_needed(stage, facenet_sds):
    """Copying the fully connected weights as they are gives different outputs: the check above can fail."""
    net = compat.convert_state_dict(stage, facenet_sds[stage])
    dense = {"rnet": "dense4", "onet": "dense5"}[stage]
    with torch.no_grad():
        net.fc[1].weight.copy_(facenet_sds[stage][f"{dense}.weight"])
    torch.manual_seed(2)
    x = torch.randn(16, *INPUTS[stage])
    p_ref, b_ref, _ = facenet_forward(stage, facenet_sds[stage], x)
    p, b, _ = ours_forward(net, x)
    assert (b - b_ref).abs().max() > 0.05 or (p - p_ref).abs().max() > 0.05


def _face_crops(name: str, transposed: bool) -> torch.Tensor:
    """48x48 net inputs of the faces facenet-pytorch found in a fixture photo (inside the image only)."""
    import cv2

    from openmtcnn.imaging import load_image

    ref = json.loads((FIXTURES / "parity" / "reference.json").read_text())["images"][name]["faces"]
    img = load_image(FIXTURES / "images" / name)
    crops = []
    for f in ref:
        x1, y1, x2, y2 = f["box"]
        side = round(max(x2 - x1 + 1, y2 - y1 + 1))
        a, b = round((x1 - 1 + x2) / 2 - side / 2), round((y1 - 1 + y2) / 2 - side / 2)
        if a < 0 or b < 0 or a + side > img.shape[1] or b + side > img.shape[0]:
            continue
        crops.append(cv2.resize(img[b : b + side, a : a + side], (48, 48), interpolation=cv2.INTER_AREA))
    x = torch.from_numpy(((np.stack(crops).astype(np.float32) - 127.5) / 128).transpose(0, 3, 1, 2).copy())
    return x.transpose(2, 3) if transposed else x


def test_converted_onet_sees_upright_faces(converted):
    """The transposed training is folded into the weights: upright faces score high, transposed ones do not."""
    upright = _face_crops("situation_room_1024.jpg", transposed=False)
    assert len(upright) >= 8
    p_up, _, lmk = ours_forward(converted["onet"], upright)
    p_tr, _, _ = ours_forward(converted["onet"], _face_crops("situation_room_1024.jpg", transposed=True))
    assert p_up.min() > 0.9
    assert p_tr.mean() < 0.6
    pts = lmk.reshape(-1, 5, 2)  # left eye, right eye, nose, mouth left, mouth right; (x, y) in the crop
    assert torch.all(pts[:, 0, 0] < pts[:, 1, 0]) and torch.all(pts[:, 3, 0] < pts[:, 4, 0])  # left of right
    assert torch.all(pts[:, :2, 1].max(1).values < pts[:, 3:, 1].min(1).values)  # eyes above the mouth
    assert torch.all((pts > 0) & (pts < 1))


def test_export_original_writes_an_onnx_set_with_manifest(tmp_path, facenet_sds, converted):
    import onnxruntime as ort

    rc = main(["convert-weights", "--src", str(compat.facenet_data_dir()), "--out", str(tmp_path / "orig")])
    assert rc == 0
    out = tmp_path / "orig"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"] == "original (Zhang et al. 2016, via facenet-pytorch 2.6.0)"
    assert manifest["variant"] == "mtcnn"
    assert {s: manifest["nets"][s]["landmarks"] for s in STAGES} == {"pnet": False, "rnet": False, "onet": True}
    torch.manual_seed(3)
    for s in STAGES:
        x = torch.randn(2, *INPUTS[s])
        prob, box, lmk = ort.InferenceSession(str(out / f"{s}.onnx"), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})
        p, b, lm = ours_forward(converted[s], x)
        np.testing.assert_allclose(prob, p.numpy(), atol=1e-5)
        np.testing.assert_allclose(box, b.numpy(), atol=1e-5)
        np.testing.assert_allclose(lmk, lm.numpy(), atol=1e-5)


def test_facenet_data_dir_is_found_without_importing_facenet(facenet_sds):
    d = compat.facenet_data_dir()
    assert d is not None and d.name == "data" and d.parent.name == "facenet_pytorch"
    assert all((d / f"{s}.pt").is_file() for s in STAGES)
    assert "facenet_pytorch" not in sys.modules


def test_missing_files_are_named(tmp_path):
    with pytest.raises(compat.OriginalWeightsError, match="not a folder"):
        compat.resolve_src(tmp_path / "nowhere")
    (tmp_path / "pnet.pt").write_bytes(b"")
    with pytest.raises(compat.OriginalWeightsError, match=r"missing rnet\.pt, onet\.pt"):
        compat.resolve_src(tmp_path)


def test_corrupt_and_foreign_state_dicts_are_refused(tmp_path, facenet_sds):
    for s in STAGES:
        (tmp_path / f"{s}.pt").write_bytes(b"not a torch file")
    with pytest.raises(compat.OriginalWeightsError, match=r"pnet\.pt: not a readable PyTorch state dict"):
        compat.load_facenet_state_dicts(tmp_path)
    sd = dict(facenet_sds["onet"])
    del sd["dense6_3.weight"]
    with pytest.raises(compat.OriginalWeightsError, match="missing tensor 'dense6_3.weight'"):
        compat.convert_state_dict("onet", sd)
    with pytest.raises(compat.OriginalWeightsError, match="unexpected tensors"):
        compat.convert_state_dict("pnet", {**facenet_sds["pnet"], "conv5.weight": torch.zeros(1)})
    with pytest.raises(compat.OriginalWeightsError, match="our net wants"):
        compat.convert_state_dict("rnet", {**facenet_sds["rnet"], "conv1.weight": torch.zeros(28, 3, 5, 5)})


def test_convert_weights_cli_reports_a_bad_src(tmp_path, capsys):
    rc = main(["convert-weights", "--src", str(tmp_path), "--out", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "pnet.pt" in err
    assert not (tmp_path / "out").exists()


# ---- `openmtcnn export`: state dicts / training checkpoints -> ONNX set


def _small_nets(variant: str = "mtcnn-dw-a0.5") -> dict:
    torch.manual_seed(4)
    return {s: create_net(variant, s).eval() for s in STAGES}


def _check_onnx_equals(nets: dict, out: Path) -> None:
    import onnxruntime as ort

    for s, net in nets.items():
        x = torch.randn(2, 3, net.spec.size, net.spec.size)
        prob, box, lmk = ort.InferenceSession(str(out / f"{s}.onnx"), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})
        p, b, lm = ours_forward(net, x)
        np.testing.assert_allclose(prob.reshape(p.shape), p.numpy(), atol=1e-5)
        np.testing.assert_allclose(box, b.numpy(), atol=1e-5)
        np.testing.assert_allclose(lmk, lm.numpy(), atol=1e-5)


def test_export_from_state_dict_dir(tmp_path):
    nets = _small_nets()
    src = tmp_path / "sd"
    src.mkdir()
    for s, net in nets.items():
        torch.save(net.state_dict(), src / f"{s}.pt")
    assert main(["export", "--state-dict-dir", str(src), "--variant", "mtcnn-dw-a0.5", "--out", str(tmp_path / "w")]) == 0
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert manifest["variant"] == "mtcnn-dw-a0.5" and manifest["nets"]["rnet"]["alpha"] == 0.5
    _check_onnx_equals(nets, tmp_path / "w")


def test_export_from_checkpoints_takes_their_variant(tmp_path):
    nets = _small_nets()
    args = []
    for s, net in nets.items():
        torch.save({"model": net.state_dict(), "variant": "mtcnn-dw-a0.5", "stage": s}, tmp_path / f"{s}_best.pt")
        args += [f"--{s}", str(tmp_path / f"{s}_best.pt")]
    assert main(["export", *args, "--out", str(tmp_path / "w")]) == 0
    assert json.loads((tmp_path / "w" / "manifest.json").read_text())["variant"] == "mtcnn-dw-a0.5"
    _check_onnx_equals(nets, tmp_path / "w")


def test_export_errors_name_the_problem(tmp_path, capsys):
    nets = _small_nets()
    for s, net in nets.items():
        torch.save({"model": net.state_dict(), "variant": "mtcnn-dw-a0.5"}, tmp_path / f"{s}.pt")
    out = str(tmp_path / "w")
    assert main(["export", "--state-dict-dir", str(tmp_path), "--variant", "mtcnn", "--out", out]) == 2
    assert "record ['mtcnn-dw-a0.5']" in capsys.readouterr().err
    plain = tmp_path / "plain"
    plain.mkdir()
    for s, net in nets.items():
        torch.save(net.state_dict(), plain / f"{s}.pt")
    assert main(["export", "--state-dict-dir", str(plain), "--variant", "mtcnn", "--out", out]) == 2
    assert f"{plain / 'pnet.pt'}: does not fit mtcnn's pnet" in capsys.readouterr().err
    (tmp_path / "rnet.pt").unlink()
    assert main(["export", "--state-dict-dir", str(tmp_path), "--out", out]) == 2
    assert f"{tmp_path / 'rnet.pt'}: no such file" in capsys.readouterr().err
    assert main(["export", "--pnet", str(tmp_path / "pnet.pt"), "--out", out]) == 2
    assert "no file for rnet, onet" in capsys.readouterr().err
    assert not Path(out).exists()
