"""Backends: the exact graph rewrite, backend selection, and the PyTorch backend against ONNX Runtime."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from openmtcnn.detect.backends import OnnxBackend, make_backend
from openmtcnn.weights import WeightsError


def batches(rng):
    return {
        "pnet": rng.normal(0, 0.7, (2, 3, 37, 53)).astype(np.float32),
        "rnet": rng.normal(0, 0.7, (9, 3, 24, 24)).astype(np.float32),
        "onet": rng.normal(0, 0.7, (5, 3, 48, 48)).astype(np.float32),
    }


def test_graph_rewrite_is_equivalent(random_weights, rng):
    onnx = pytest.importorskip("onnx")
    plain = OnnxBackend(random_weights, threads=1, optimize=False)
    fast = OnnxBackend(random_weights, threads=1)
    assert fast.graph_optimized and not plain.graph_optimized
    from openmtcnn.detect.rewrites import optimize_graph

    for stage, fc_prelus in (("pnet", 0), ("rnet", 1), ("onet", 1)):
        ops = [n.op_type for n in optimize_graph(onnx.load(str(random_weights / f"{stage}.onnx"))).graph.node]
        assert ops.count("PRelu") == fc_prelus  # only the PReLU after the fully connected layer is left
    padded = optimize_graph(onnx.load(str(random_weights / "pnet.onnx")), pad_pools=True)
    pools = [n for n in padded.graph.node if n.op_type == "MaxPool"]
    assert pools and all(a.name != "ceil_mode" or a.i == 0 for n in pools for a in n.attribute)
    for stage in ("pnet", "rnet", "onet"):
        graph = optimize_graph(onnx.load(str(random_weights / f"{stage}.onnx")), outputs=("prob", "box")).graph
        ops = [n.op_type for n in graph.node]
        assert "Softmax" not in ops and ops.count("Sigmoid") == 1  # the face softmax is folded
        assert [o.name for o in graph.output] == ["prob", "box"] and not any("landmarks" in n.output[0] for n in graph.node)
        first_conv = next(n for n in graph.node if n.op_type == "Conv")
        assert next(n for n in graph.node if first_conv.output[0] in n.input).op_type == "MaxPool"  # pool before PReLU
        widths = [i.dims[0] for n in graph.node if n.op_type == "Conv" for i in graph.initializer if i.name == n.input[1]]
        assert all(c % 16 == 0 for c in widths[:1])  # P-Net's 10 and R-Net's 28 channels padded
        assert ops.count("Split") == (stage == "pnet")  # P-Net's face and box heads: one convolution
    for stage, x in batches(rng).items():
        for a, b in zip(plain.run(stage, x), fast.run(stage, x)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_rewrite_handles_slopes_of_any_sign(tmp_path, rng):
    """Negative slopes and slopes above 1 (the original weights have both); odd and even P-Net input sizes."""
    torch = pytest.importorskip("torch")
    from openmtcnn.nets import STAGES, create_net
    from openmtcnn.nets.export import export_set

    torch.manual_seed(1)
    nets = {s: create_net("mtcnn", s) for s in STAGES}
    with torch.no_grad():
        for net in nets.values():
            for m in net.modules():
                if isinstance(m, torch.nn.PReLU):
                    m.weight.copy_(torch.linspace(-1.5, 2.0, m.weight.numel()))
    out = export_set(nets, tmp_path / "w", "mtcnn")
    plain, fast = OnnxBackend(out, threads=1, optimize=False), OnnxBackend(out, threads=1)
    import onnx

    from openmtcnn.detect.rewrites import optimize_graph

    # P-Net's first layer: 4 negative slopes in 10 channels fit the padding to 16, so the pool moves
    # first and a full 1x1 convolution combines; R-Net's 12 in 28 would not (left as a split PReLU)
    for stage, mixed in (("pnet", True), ("rnet", False)):
        graph = optimize_graph(onnx.load(str(out / f"{stage}.onnx"))).graph
        first_conv = next(n for n in graph.node if n.op_type == "Conv")
        after = next(n for n in graph.node if first_conv.output[0] in n.input)
        assert (after.op_type == "MaxPool") == mixed, stage
    more = {f"pnet-{h}x{w}": ("pnet", rng.normal(0, 0.7, (1, 3, h, w)).astype(np.float32)) for h, w in ((12, 12), (13, 17), (40, 41), (64, 30))}
    for key, (stage, x) in {**{s: (s, x) for s, x in batches(rng).items()}, **more}.items():
        got, want = fast.run(stage, x), plain.run(stage, x)
        for a, b in zip(got, want):
            assert a.shape == b.shape, key
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=key)


def test_landmarks_can_be_skipped(random_weights, rng):
    be = OnnxBackend(random_weights, threads=1)
    x = batches(rng)["rnet"]
    p, b, l = be.run("rnet", x, landmarks=False)
    assert l is None and p.shape == (9,) and b.shape == (9, 4)
    np.testing.assert_array_equal(p, be.run("rnet", x)[0])


def test_backend_selection_errors(random_weights):
    with pytest.raises(ValueError, match="unknown backend"):
        make_backend("tensorrt", random_weights)
    with pytest.raises(ValueError, match="CPU only"):
        make_backend("onnx", random_weights, device="cuda")
    with pytest.raises(TypeError, match="backend must be"):
        make_backend(42, random_weights)
    be = OnnxBackend(random_weights, threads=1)
    assert make_backend(be) is be


def test_torch_backend_matches_onnx(random_weights, rng):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from openmtcnn.detect.backends import TorchBackend

    tb = TorchBackend(random_weights, device="cpu")
    ob = OnnxBackend(random_weights, threads=1)
    assert tb.input_sizes == ob.input_sizes
    for stage, x in batches(rng).items():
        for a, b in zip(tb.run(stage, x), ob.run(stage, x)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_detector_with_torch_backend_finds_the_same(random_weights):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from openmtcnn import Detector
    from openmtcnn.detect import StageTimer
    from openmtcnn.imaging import load_image
    from pathlib import Path

    photo = load_image(Path(__file__).resolve().parent / "fixtures" / "images" / "situation_room_480.jpg")
    # thresholds inside the random nets' output range so that every stage has work
    kw = dict(min_face_size=30, thresholds=(0.53, 0.484, 0.4966))
    a = Detector(random_weights, backend="onnx", threads=1, **kw).detect(photo)
    det = Detector(random_weights, backend="torch", device="cpu", **kw)
    timer = StageTimer()
    b = det.detect(photo, timer=timer)
    assert timer.batch["onet"] > 0
    assert len(a) == len(b)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_torch_backend_without_gpu_says_so(random_weights):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from openmtcnn.detect.backends import TorchBackend

    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        TorchBackend(random_weights, device="cuda")


def test_torch_backend_rejects_a_wrong_manifest(random_weights, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from openmtcnn.nets.export import load_weight_set

    w = tmp_path / "w"
    shutil.copytree(random_weights, w)
    manifest = json.loads((w / "manifest.json").read_text())
    manifest["nets"]["rnet"]["alpha"] = 0.5
    (w / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match="rnet.onnx: parameter"):
        load_weight_set(w)


def test_onnx_backend_loads_only_the_stages_given(tmp_path):
    """``nets=``: some stages' ONNX files (training's partial weight sets); a weight folder still needs all three."""
    from openmtcnn.detect.backends.onnx import OnnxBackend
    from openmtcnn.weights import WeightsError, resolve_weights

    full = resolve_weights(None)
    b = OnnxBackend(nets={"pnet": full / "pnet.onnx", "rnet": full / "rnet.onnx"})
    assert set(b.sessions) == {"pnet", "rnet"} and b.input_sizes == {"pnet": 12, "rnet": 24}
    assert b.weights_dir is None and b.manifest == {}
    x = np.random.default_rng(0).random((2, 3, 24, 24), dtype=np.float32)
    ref = OnnxBackend(full).run("rnet", x, landmarks=False)
    got = b.run("rnet", x, landmarks=False)
    np.testing.assert_array_equal(got[0], ref[0]) and np.testing.assert_array_equal(got[1], ref[1])
    with pytest.raises(WeightsError, match="missing.onnx"):
        OnnxBackend(nets={"pnet": tmp_path / "missing.onnx"})
    with pytest.raises(ValueError, match="nets"):
        OnnxBackend(nets={"qnet": full / "pnet.onnx"})
    with pytest.raises(ValueError, match="not both"):
        OnnxBackend(full, nets={"pnet": full / "pnet.onnx"})
    (tmp_path / "pnet.onnx").write_bytes((full / "pnet.onnx").read_bytes())
    with pytest.raises(WeightsError, match="missing rnet.onnx, onet.onnx"):
        OnnxBackend(tmp_path)  # a partial folder is not a weight set
