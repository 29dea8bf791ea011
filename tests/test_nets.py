"""The parametrised nets: architecture, variants, ONNX export equal to PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from openmtcnn.nets import NetSpec, MTCNNNet, count_params, create_net, list_variants, variant_specs  # noqa: E402
from openmtcnn.nets.export import export_net, load_onnx_net  # noqa: E402
from openmtcnn.weights import WeightsError  # noqa: E402


def test_paper_nets_have_paper_sizes():
    # notes: roughly 6.6k, 100k and 390k parameters (+ the landmark heads of P-Net and R-Net)
    n = {s: count_params(create_net("mtcnn", s)) for s in ("pnet", "rnet", "onet")}
    assert n == {"pnet": 6962, "rnet": 101468, "onet": 389040}


@pytest.mark.parametrize("stage,size,out", [("pnet", 12, (1, 1)), ("rnet", 24, None), ("onet", 48, None)])
def test_output_shapes(stage, size, out):
    net = create_net("mtcnn", stage).eval()
    face, box, lmk = net(torch.zeros(3, 3, size, size))
    if out:
        assert face.shape == (3, 2, *out) and box.shape == (3, 4, *out) and lmk.shape == (3, 10, *out)
        # fully convolutional: a 100x60 input gives a (45, 25) map (stride 2, 12 px window)
        assert net(torch.zeros(1, 3, 100, 60))[0].shape == (1, 2, 45, 25)
    else:
        assert face.shape == (3, 2) and box.shape == (3, 4) and lmk.shape == (3, 10)


def test_variants_scale_cost():
    assert "mtcnn" in list_variants()
    full = count_params(create_net("mtcnn", "onet"))
    dw = count_params(create_net("mtcnn-dw", "onet"))
    half = count_params(create_net("mtcnn-a0.5", "onet"))
    assert dw < full and half < 0.3 * full
    dw_convs = [m for m in create_net("mtcnn-dw", "rnet").modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert dw_convs, "depthwise-separable variant has no grouped convs"
    with pytest.raises(KeyError, match="unknown net variant"):
        variant_specs("nope")


def test_resolution_multiplier_changes_input():
    net = MTCNNNet(NetSpec("onet", input_size=36))
    assert net(torch.zeros(2, 3, 36, 36))[1].shape == (2, 4)


@pytest.mark.parametrize("stage", ["pnet", "rnet", "onet"])
def test_onnx_export_matches_torch(stage, tmp_path):
    torch.manual_seed(1)
    net = create_net("mtcnn", stage).eval()
    path = export_net(net, tmp_path / f"{stage}.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = [(2, 3, 12, 12), (1, 3, 37, 53)] if stage == "pnet" else [(1, 3, net.spec.size, net.spec.size), (5, 3, net.spec.size, net.spec.size)]
    for shape in shapes:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        prob, box, lmk = sess.run(None, {"image": x})
        with torch.no_grad():
            f, b, l = net(torch.from_numpy(x))
        np.testing.assert_allclose(prob, torch.softmax(f, 1)[:, 1].numpy(), atol=1e-5)
        np.testing.assert_allclose(box, b.numpy(), atol=1e-5)
        np.testing.assert_allclose(lmk, l.numpy(), atol=1e-5)


@pytest.mark.parametrize("variant,stage", [("mtcnn", "pnet"), ("mtcnn", "rnet"), ("mtcnn", "onet"), ("mtcnn-dw", "onet")])
def test_onnx_file_reads_back_into_the_same_net(variant, stage, tmp_path):
    torch.manual_seed(2)
    net = create_net(variant, stage).eval()
    with torch.no_grad():  # PReLU slopes away from their 0.25 default, so a mixed-up order would show
        for m in net.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(0.0, 0.5)
    back = load_onnx_net(export_net(net, tmp_path / f"{stage}.onnx"), variant, stage)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v)


def test_onnx_file_of_another_net_is_refused(tmp_path):
    path = export_net(create_net("mtcnn", "rnet").eval(), tmp_path / "rnet.onnx")
    with pytest.raises(WeightsError, match="rnet.onnx"):
        load_onnx_net(path, "mtcnn", "onet")
    with pytest.raises(WeightsError, match="rnet.onnx"):
        load_onnx_net(path, "mtcnn-a0.5", "rnet")
