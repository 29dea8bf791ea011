"""MobileNet-style variants: names, input sizes, weight-bound cascade settings, crops, graph rewrites, training."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from openmtcnn import DetectConfig, Detector  # noqa: E402
from openmtcnn.detect.cascade import StageTimer, stage_pnet  # noqa: E402
from openmtcnn.detect.pyramid import pyramid_scales  # noqa: E402
from openmtcnn.detect.rewrites import optimize_graph  # noqa: E402
from openmtcnn.imaging import load_image  # noqa: E402
from openmtcnn.nets import STAGES, DeployNet, count_params, create_net, list_variants, parse_variant, variant_specs  # noqa: E402
from openmtcnn.nets.export import export_net, export_set  # noqa: E402
from openmtcnn.ops.crops import crop_boxes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "openmtcnn" / "assets" / "sample.jpg"
#: untrained nets pass nearly every window: few candidates and a small image keep these runs short
QUICK = {"thresholds": (0.3, 0.3, 0.3), "min_face_size": 40, "max_candidates": 40}


def _small_sample() -> np.ndarray:
    import cv2

    return cv2.resize(load_image(str(SAMPLE)), (240, 160), interpolation=cv2.INTER_AREA)


def _random_nets(variant: str, seed: int = 0) -> dict:
    """Untrained nets with PReLU slopes of both signs (the rewrites treat negative slopes apart) and, with batch
    norm, random BN statistics, scales and shifts (the fold must use every one of them)."""
    torch.manual_seed(seed)
    nets = {s: create_net(variant, s).eval() for s in STAGES}
    with torch.no_grad():
        for net in nets.values():
            for m in net.modules():
                if isinstance(m, torch.nn.PReLU):
                    m.weight.uniform_(-0.5, 0.5)
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.5)
                    m.running_var.uniform_(0.2, 3.0)
                    m.weight.uniform_(0.3, 1.7)
                    m.bias.normal_(0, 0.3)
    return nets


def test_names_parse_into_variants():
    v = parse_variant("mtcnn-dw-a0.5-r0.75")
    assert (v.conv, v.alpha, v.rho, v.crop_method) == ("dwsep", 0.5, 0.75, "area")
    assert {s: spec.size for s, spec in v.specs.items()} == {"pnet": 12, "rnet": 18, "onet": 36}
    assert parse_variant("mtcnn") == parse_variant("mtcnn-a1") and parse_variant("mtcnn").name == "mtcnn"
    assert parse_variant("mtcnn-a0.5-bl").cascade == {"crop_method": "bilinear"}
    for name in ("mtcnn-bn", "mtcnn-dw-bn", "mtcnn-dw-a0.5-bn", "mtcnn-dw-a0.5-r0.75-bl-bn"):
        v = parse_variant(name)
        assert v.norm and v.name == name and all(s.norm for s in v.specs.values())
    assert parse_variant("mtcnn-dw-bn").cascade == parse_variant("mtcnn-dw").cascade  # not a cascade setting
    assert not parse_variant("mtcnn-dw").norm
    for name in list_variants():  # the common names are canonical and build
        assert parse_variant(name).name == name
        assert all(s.stage == st for st, s in variant_specs(name).items())
    for bad in ("mtcnn-0.5", "mtcnn-dw-0.5", "mobilenet", "mtcnn-r0.75-dw", "mtcnn-a0", "mtcnn-dw-bnx"):
        with pytest.raises(KeyError, match=bad):
            parse_variant(bad)
    # malformed names say what is wrong: parts out of order (with the name in order), twice, or unknown
    with pytest.raises(KeyError, match=r"'mtcnn-bn-dw': parts out of order.*'mtcnn-dw-bn'"):
        parse_variant("mtcnn-bn-dw")
    with pytest.raises(KeyError, match=r"parts out of order.*'mtcnn-dw-a0.5-bl-bn'"):
        parse_variant("mtcnn-dw-bn-a0.5-bl")
    with pytest.raises(KeyError, match="'mtcnn-dw-bn-bn': a part given twice"):
        parse_variant("mtcnn-dw-bn-bn")
    with pytest.raises(KeyError, match=r"'bnx' is not a part of mtcnn\[-dw\]\[-a<alpha>\]\[-r<rho>\]\[-bl\]\[-bn\]"):
        parse_variant("mtcnn-dw-bnx")


def test_too_small_inputs_are_refused_by_name():
    with pytest.raises(KeyError, match=r"mtcnn-dw-r0.5.*rnet: input 12 px is too small.*at least 14 px"):
        parse_variant("mtcnn-dw-r0.5")
    from openmtcnn.nets import MTCNNNet, NetSpec

    with pytest.raises(ValueError, match="onet: input 25 px is too small"):
        MTCNNNet(NetSpec("onet", input_size=25))
    with pytest.raises(ValueError, match="pnet: its window is 12 px"):
        MTCNNNet(NetSpec("pnet", input_size=9))
    net = MTCNNNet(NetSpec("rnet", input_size=14))  # the least R-Net input still gives a 1 x 1 map
    assert net(torch.zeros(2, 3, 14, 14))[0].shape == (2, 2)


def test_multipliers_scale_the_cost():
    p = {v: sum(count_params(create_net(v, s)) for s in STAGES) for v in ("mtcnn", "mtcnn-dw", "mtcnn-dw-a0.5", "mtcnn-dw-a2")}
    assert p["mtcnn-dw-a0.5"] < p["mtcnn-dw"] < p["mtcnn"] < p["mtcnn-dw-a2"]
    convs = [m for m in create_net("mtcnn-dw", "pnet").modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].groups == 1 and any(c.groups == c.in_channels > 1 for c in convs)  # first conv standard


def test_batch_norm_follows_every_convolution():
    for variant in ("mtcnn-bn", "mtcnn-dw-bn"):
        for stage in STAGES:
            net = create_net(variant, stage)
            layers = [m for m in net.features.modules() if not list(m.children())]
            convs = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.Conv2d)]
            assert len(convs) == len([m for m in create_net(variant[:-3], stage).features.modules() if isinstance(m, torch.nn.Conv2d)])
            for i in convs:  # the first standard one, depthwise and pointwise ones alike: conv (no bias), BN, PReLU
                assert layers[i].bias is None and isinstance(layers[i + 1], torch.nn.BatchNorm2d)
                assert isinstance(layers[i + 2], torch.nn.PReLU) and layers[i + 1].num_features == layers[i].out_channels
            heads = [m for name, m in net.named_modules() if not name.startswith("features")]
            assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in heads)  # fully connected layers and heads: none
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in create_net("mtcnn-dw", "onet").modules())


@pytest.mark.parametrize("variant", ["mtcnn-bn", "mtcnn-dw-bn", "mtcnn-dw-a0.5-r0.75-bn"])
def test_batch_norm_is_folded_into_the_exported_graph(variant, tmp_path):
    """The ONNX file of a -bn net: no BatchNormalization node, the graph of the variant without -bn, the outputs
    of the eval-mode net with its BN; read back as that net (folded) or as a -bn net that passes it through."""
    from openmtcnn.nets.export import load_onnx_net, read_onnx_net
    from openmtcnn.nets.norm import fold_norm

    plain_variant = parse_variant(variant).name.removesuffix("-bn")
    rng = np.random.default_rng(2)
    for stage, net in _random_nets(variant, seed=5).items():
        path = export_net(net, tmp_path / f"{stage}.onnx")
        graph = onnx.load(str(path)).graph
        plain = create_net(plain_variant, stage).eval()
        with torch.no_grad():  # its slopes as distinct as the -bn net's (the exporter shares equal ones)
            prelus = [m for m in net.modules() if isinstance(m, torch.nn.PReLU)]
            for m, src in zip([m for m in plain.modules() if isinstance(m, torch.nn.PReLU)], prelus, strict=True):
                m.weight.copy_(src.weight)
        plain_graph = onnx.load(str(export_net(plain, tmp_path / "plain.onnx"))).graph
        assert "BatchNormalization" not in {n.op_type for n in graph.node}
        assert [n.op_type for n in graph.node] == [n.op_type for n in plain_graph.node]
        assert {i.name: list(i.dims) for i in graph.initializer} == {i.name: list(i.dims) for i in plain_graph.initializer}
        size = net.spec.size
        x = rng.normal(0, 0.7, (2, 3, 29, 37) if stage == "pnet" else (4, 3, size, size)).astype(np.float32)
        ours = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})
        with torch.no_grad():
            ref = [t.numpy() for t in DeployNet(net)(torch.from_numpy(x))]
            folded = [t.numpy() for t in DeployNet(fold_norm(net))(torch.from_numpy(x))]
        assert net.spec.norm and not fold_norm(net).spec.norm and not net.training  # the fold leaves the net alone
        for a, b, c in zip(ours, ref, folded):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
            np.testing.assert_allclose(c, b, rtol=0, atol=1e-5)
        # read back: the variant's -bn net (fine-tuning, adopt) and the folded net (the torch backend)
        back = load_onnx_net(path, variant, stage)
        flat = read_onnx_net(path, variant_specs(plain_variant)[stage])
        assert back.spec == net.spec and not flat.spec.norm and not back.training
        with torch.no_grad():
            for a, b, c in zip(DeployNet(back)(torch.from_numpy(x)), DeployNet(flat)(torch.from_numpy(x)), ref):
                np.testing.assert_allclose(a.numpy(), c, rtol=0, atol=1e-5)
                np.testing.assert_allclose(b.numpy(), c, rtol=0, atol=1e-5)
        again = onnx.load(str(export_net(back, tmp_path / "again.onnx"))).graph  # folds back to the same weights
        for i, j in zip(graph.initializer, again.initializer):
            np.testing.assert_allclose(onnx.numpy_helper.to_array(j), onnx.numpy_helper.to_array(i), rtol=0, atol=1e-6)


def test_batch_norm_calibrated_on_a_batch_passes_it_through_in_train_mode():
    """Fine-tuning from a folded file: BN set from a batch's statistics keeps the eval-mode function exactly and
    makes the train-mode one (batch statistics) that of the folded net on that batch."""
    from openmtcnn.nets.norm import calibrate_norm, fold_norm, unfold_norm

    net = _random_nets("mtcnn-dw-bn", seed=6)["onet"]
    x = torch.from_numpy(np.random.default_rng(3).normal(0, 0.7, (16, 3, 48, 48)).astype(np.float32))
    rebuilt = unfold_norm(fold_norm(net)).train()
    with torch.no_grad():
        ref = net(x)
        naive = copy.deepcopy(rebuilt)(x)  # BN from the fold alone normalises each batch anew: another function
        calibrate_norm(rebuilt, x)
        assert rebuilt.training
        in_train = rebuilt(x)
        in_eval = rebuilt.eval()(x)
    assert max(float((a - b).abs().max()) for a, b in zip(naive, ref)) > 0.1
    for a, b, c in zip(in_train, in_eval, ref):
        torch.testing.assert_close(a, c, rtol=0, atol=1e-5)
        torch.testing.assert_close(b, c, rtol=0, atol=1e-5)


def test_variant_costs_read_off_the_graphs(tmp_path):
    """openmtcnn.benchmark.macs (the one MAC counter) per variant: P-Net's 12 x 12 window counted by hand."""
    from openmtcnn.benchmark.macs import variant_costs

    plain = variant_costs("mtcnn", tmp_path)
    # conv 3x3 3->10 on 10x10, pool, conv 3x3 10->16 on 3x3, conv 3x3 16->32 on 1x1, heads 32->2 and 32->4
    assert plain["nets"]["pnet"]["macs_per_call"] == 100 * 10 * 27 + 9 * 16 * 90 + 32 * 144 + 32 * 2 + 32 * 4
    small = variant_costs("mtcnn-dw-r0.75", tmp_path, pnet_scale=0.75)
    assert (small["nets"]["rnet"]["input"], small["nets"]["onet"]["input"]) == (18, 36)
    assert small["nets"]["pnet"]["macs_pyramid"] < plain["nets"]["pnet"]["macs_pyramid"] / 4


@pytest.mark.parametrize("variant", list_variants())
def test_graph_rewrite_equals_plain_graph_and_torch(variant, tmp_path):
    rng = np.random.default_rng(1)
    for stage, net in _random_nets(variant).items():
        model = onnx.load(str(export_net(net, tmp_path / f"{stage}.onnx")))
        fast = optimize_graph(model, pad_pools=stage == "pnet")
        size = net.spec.size
        x = rng.normal(0, 0.7, (3, 3, 41, 53) if stage == "pnet" else (5, 3, size, size)).astype(np.float32)
        plain = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": x})
        rewritten = ort.InferenceSession(fast.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": x})
        with torch.no_grad():
            ref = [t.numpy() for t in DeployNet(net)(torch.from_numpy(x))]
        for a, b, c in zip(plain, rewritten, ref):
            np.testing.assert_allclose(b, a, rtol=0, atol=2e-5)
            np.testing.assert_allclose(a, c, rtol=0, atol=2e-5)
        if stage == "pnet" and parse_variant(variant).conv == "dwsep":
            # the first layer's channels padded to whole blocks through the depthwise convolution after it
            dims = {i.name: list(i.dims) for i in fast.graph.initializer}
            first_dw = next(n for n in fast.graph.node if n.op_type == "Conv" and dims[n.input[1]][1:] == [1, 3, 3])
            assert dims[first_dw.input[1]][0] % 16 == 0
            # the max-pool moves before the PReLU although a depthwise convolution follows it (slopes >= 0 here:
            # with many negative ones the negated channels would need another block, and the layer is left alone)
            plain_slopes = onnx.load(str(export_net(create_net(variant, "pnet").eval(), tmp_path / "p.onnx")))
            graph = optimize_graph(plain_slopes, pad_pools=True).graph
            first_conv = next(n for n in graph.node if n.op_type == "Conv")
            assert next(n for n in graph.node if first_conv.output[0] in n.input).op_type == "MaxPool"


def test_detector_loads_a_variant_set_with_its_cascade_settings(tmp_path, monkeypatch):
    variant = "mtcnn-dw-a0.5-r0.75-bl"
    out = export_set(_random_nets(variant, seed=3), tmp_path / "dw-test-set", variant)  # a name no checkout has
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cascade"] == {"crop_method": "bilinear"} and manifest["nets"]["onet"]["input_size"] == 36

    det = Detector(weights=out, **QUICK)
    assert det.backend.input_sizes == {"pnet": 12, "rnet": 18, "onet": 36}  # read from the ONNX graphs
    assert det.config.crop_method == "bilinear" and det.config.pnet_scale == 1.0
    res = det.detect(_small_sample())
    assert res.boxes.shape[1:] == (4,) and res.landmarks.shape[1:] == (5, 2)
    # explicit settings win over the weight set's
    assert Detector(weights=out, crop_method="area").config.crop_method == "area"
    assert Detector(weights=out, config=DetectConfig(crop_method="area")).config.crop_method == "area"
    # a per-call config (as a server request's) gets the weight set's settings too, unless it gives them
    import openmtcnn.detect.cascade as C

    seen = []
    monkeypatch.setattr(C, "crop_boxes", lambda im, b, size, method: seen.append(method) or crop_boxes(im, b, size, method))
    rgb = _small_sample()
    det.detect_rgb(rgb, config=DetectConfig(**QUICK))
    assert seen and set(seen) == {"bilinear"}
    seen.clear()
    det.detect_rgb(rgb, config=DetectConfig(crop_method="area", **QUICK))
    assert seen and set(seen) == {"area"}
    # a bundled name: openmtcnn/weights/<name>/
    import openmtcnn.weights as W

    monkeypatch.setattr(W, "BUNDLED_DIR", tmp_path)
    assert Detector(weights="dw-test-set").backend.input_sizes["rnet"] == 18


@pytest.mark.parametrize("variant", ["mtcnn-dw-r0.75-bl", "mtcnn-dw-bn"])
def test_the_torch_backend_uses_the_same_settings(variant, tmp_path):
    out = export_set(_random_nets(variant, seed=4), tmp_path / "w", variant)
    norm = parse_variant(variant).norm
    assert all(n["norm"] == norm for n in json.loads((out / "manifest.json").read_text())["nets"].values())
    img = _small_sample()
    a = Detector(weights=out, landmark_passes=0, **QUICK)
    b = Detector(weights=out, landmark_passes=0, backend="torch", **QUICK)
    assert b.config == a.config and b.backend.input_sizes == a.backend.input_sizes
    ra, rb = a.detect(img), b.detect(img)
    assert len(ra.boxes) == len(rb.boxes) > 0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for n in b.backend.nets.values() for m in n.modules())  # folded
    np.testing.assert_allclose(ra.boxes, rb.boxes, atol=1e-2)


def test_default_weights_keep_the_original_cascade():
    cfg = Detector().config
    assert cfg.crop_method == "area" and cfg.pnet_scale == 1.0
    with pytest.raises(ValueError, match="cannot come from a weight set"):
        DetectConfig().for_weights({"thresholds": [0.1, 0.1, 0.1]})
    with pytest.raises(ValueError, match="crop_method"):
        DetectConfig(crop_method="nearest")


def test_bilinear_crops():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    boxes = np.array([[10, 5, 34, 29], [-4, -4, 20, 20], [40, 30, 88, 78]], float)
    area, bil = crop_boxes(image, boxes, 24), crop_boxes(image, boxes, 24, "bilinear")
    assert bil.shape == area.shape == (3, 24, 24, 3)
    np.testing.assert_array_equal(bil[0], image[5:29, 10:34])  # same size: the pixels themselves
    np.testing.assert_array_equal(bil[1, :3, :3], 0)  # outside the image: 0
    np.testing.assert_array_equal(bil[1, 5:, 5:], image[1:20, 1:20])
    flat = np.full((60, 80, 3), 77, np.uint8)  # inside the image, a flat image stays flat
    assert (crop_boxes(flat, np.array([[3, 3, 53, 53.0]]), 12, "bilinear") == 77).all()
    half = crop_boxes(image, np.array([[0, 0, 48, 48.0]]), 24, "bilinear")[0].astype(int)  # 2:1: mean of 2 x 2
    ref = image[:48, :48].astype(int).reshape(24, 2, 24, 2, 3).mean(axis=(1, 3))
    assert np.abs(half - ref).max() <= 1
    assert crop_boxes(image, np.zeros((0, 4)), 24, "bilinear").shape == (0, 24, 24, 3)
    with pytest.raises(ValueError, match="crop method"):
        crop_boxes(image, boxes, 24, "cubic")


def test_pnet_scale_scales_the_pyramid(random_weights):
    base = pyramid_scales(480, 640, 20, 0.709)
    assert pyramid_scales(480, 640, 20, 0.709, 1.0) == base  # identity, the same floats
    half = pyramid_scales(480, 640, 20, 0.709, 0.5)
    np.testing.assert_allclose(half, [s * 0.5 for s in base[: len(half)]])
    assert min(half) * 480 >= 12 and len(half) == len(base) - 2  # 0.709**2 ~ 0.5: two levels fewer
    image = _small_sample()
    from openmtcnn.detect.backends import OnnxBackend

    backend = OnnxBackend(random_weights)
    sizes = {}
    for scale in (1.0, 0.75):
        timer = StageTimer()
        stage_pnet(image, backend, DetectConfig(pnet_scale=scale, max_candidates=10), timer)
        sizes[scale] = timer.pnet_inputs
    h, w = image.shape[:2]
    assert sizes[1.0][0] == (int(np.ceil(h * 0.6)), int(np.ceil(w * 0.6)))
    assert sizes[0.75][0] == (int(np.ceil(h * 0.45)), int(np.ceil(w * 0.45)))


def test_variant_configs_load_with_the_variant_sizes():
    from openmtcnn.train.config import StageConfig, load_config

    folders = sorted((REPO / "configs" / "variants").iterdir())
    assert {f.name for f in folders} == set(list_variants()) - {"mtcnn"}
    for folder in folders:
        for stage in STAGES:
            cfg = load_config(folder / f"{stage}.yaml", stage)
            assert cfg.variant == folder.name and cfg.size == variant_specs(folder.name)[stage].size
    assert StageConfig("onet", variant="mtcnn-dw-r0.75-bl").size == 36
    assert StageConfig("onet", variant="mtcnn-dw-bl").crop_method == "bilinear"
    assert StageConfig("pnet", variant="mtcnn-dw-bl").crop_method == "area"  # P-Net's input is the pyramid


def test_a_variant_with_a_bad_name_is_a_config_error(tmp_path):
    from openmtcnn.train.config import ConfigError, load_config

    (tmp_path / "c.yaml").write_text("stage: rnet\nvariant: mtcnn-dw-r0.5\n")
    with pytest.raises(ConfigError, match="c.yaml: variant: .*too small"):
        load_config(tmp_path / "c.yaml")


def test_weight_bound_flags_are_checked_by_name(capsys):
    from openmtcnn.cli import main

    sample = str(REPO / "openmtcnn" / "assets" / "sample.jpg")
    assert main(["detect", sample, "--pnet-scale", "9"]) == 2
    assert "--pnet-scale must be in (0, 4], got 9" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):  # argparse's choices
        main(["detect", sample, "--crop-method", "cubic"])
    assert "--crop-method: invalid choice: 'cubic'" in capsys.readouterr().err


def test_reports_name_the_variant_settings():
    from openmtcnn.evaluate.report import settings_text

    base = {"min_face_size": 10, "scale_factor": 0.79, "thresholds": [0.5, 0.5, 0.3], "pyramid": "chained"}
    assert settings_text(base | {"pnet_scale": 1.0, "crop_method": "area"}) == settings_text(base)
    assert settings_text(base | {"pnet_scale": 0.75, "crop_method": "bilinear"}).endswith("P-Net scale 0.75, bilinear crops")


def test_a_variant_trains_exports_and_detects(tmp_path, monkeypatch):
    """dw + alpha + rho + bilinear crops + batch norm in one tiny synthetic run: `train all` -> weight set -> Detector."""
    import yaml
    from test_train_pipeline import _configs, _run
    from test_train_synthetic import make_dataset

    variant = "mtcnn-dw-a0.5-r0.75-bl-bn"
    data = make_dataset(tmp_path / "data", n_images=12, n_landmark=16)
    _configs(tmp_path / "base")
    configs = tmp_path / "configs"
    configs.mkdir()
    for stage in STAGES:
        (configs / f"{stage}.yaml").write_text(yaml.safe_dump({"extends": f"../base/{stage}.yaml", "variant": variant}))
    runs, out = tmp_path / "runs", tmp_path / "weights"
    assert _run(["train", "all", "--config", str(configs), "--data", str(data), "--runs", str(runs), "--out", str(out)]) == 0
    from openmtcnn.train.store import SampleStore

    x, _ = SampleStore(runs / "onet" / "samples").load("train", "pos", 36)
    assert x.shape[1:] == (36, 36, 3)  # O-Net's samples at the variant's size
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variant"] == variant and manifest["cascade"] == {"crop_method": "bilinear"}
    assert f"`{variant}`" in (out / "MODEL_CARD.md").read_text() and manifest["nets"]["onet"]["norm"] is True
    for stage in STAGES:  # trained BN statistics, folded away in the files
        best = torch.load(runs / stage / "train" / "best.pt", weights_only=False)["model"]
        assert any(k.endswith("running_var") and not torch.allclose(v, torch.ones_like(v)) for k, v in best.items())
        assert "BatchNormalization" not in {n.op_type for n in onnx.load(str(out / f"{stage}.onnx")).graph.node}
    det = Detector(weights=out, **QUICK)
    assert det.config.crop_method == "bilinear" and det.backend.input_sizes["onet"] == 36
    res = det.detect(_small_sample())
    assert res.boxes.shape[1:] == (4,)
    # without --out the set goes to RUNS/weights; into the package (here a stand-in for it) only when named
    import openmtcnn.weights as W

    monkeypatch.setattr(W, "BUNDLED_DIR", tmp_path / "bundled")
    assert _run(["train", "export", "--runs", str(runs)]) == 0
    assert (runs / "weights" / "manifest.json").is_file() and not (tmp_path / "bundled").exists()
    assert _run(["train", "export", "--runs", str(runs), "--out", str(tmp_path / "bundled" / variant)]) == 0
    assert Detector(weights=variant, **QUICK).backend.input_sizes["rnet"] == 18


def test_a_bn_net_trains_in_train_mode_validates_in_eval_mode_and_resumes(tmp_path, monkeypatch):
    """BN normalises by the batch in training steps and uses its running statistics in validation, which leaves
    them alone; last.pt carries them, so a run killed and resumed ends where an unbroken one does; fine-tuning
    from the folded file starts with BN set from training samples."""
    from test_train import training_killed_and_resumed
    from test_train_synthetic import make_dataset

    from openmtcnn.train import samples as S
    from openmtcnn.train import trainer as T
    from openmtcnn.train.config import StageConfig

    data = make_dataset(tmp_path / "data", n_images=8, n_landmark=10)
    cfg = StageConfig(stage="pnet", variant="mtcnn-dw-bn")
    cfg.samples.workers = 1
    cfg.train.batch_size, cfg.train.epochs, cfg.train.steps_per_epoch = 32, 2, 5
    cfg.train.checkpoint_seconds = 0  # checkpoint after every step
    S.generate(cfg, data, tmp_path / "samples", log=print)

    modes, phase = [], ["train"]
    real_forward, real_validate = torch.nn.BatchNorm2d.forward, T.validate

    def forward(bn, x):
        modes.append((phase[0], bn.training))
        return real_forward(bn, x)

    def validate(net, pools, cfg):
        before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
        phase[0] = "val"
        try:
            return real_validate(net, pools, cfg)
        finally:
            phase[0] = "train"
            assert net.training  # back to train mode for the next epoch
            assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())

    monkeypatch.setattr(torch.nn.BatchNorm2d, "forward", forward)
    monkeypatch.setattr(T, "validate", validate)
    T.train_stage(cfg, tmp_path / "samples", tmp_path / "full", log=print)
    assert {m for p, m in modes if p == "train"} == {True} and {m for p, m in modes if p == "val"} == {False}
    full = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["model"]
    stats = [k for k in full if k.endswith(("running_mean", "running_var"))]
    assert stats and all(k in torch.load(tmp_path / "full" / "best.pt", weights_only=False)["model"] for k in stats)
    assert not torch.allclose(full[stats[1]], torch.ones_like(full[stats[1]]))  # moved by the training steps

    training_killed_and_resumed(cfg, tmp_path / "samples", tmp_path / "killed", monkeypatch, at_step=8)  # 2nd epoch
    resumed = torch.load(tmp_path / "killed" / "last.pt", weights_only=False)["model"]
    for k in full:
        assert torch.equal(full[k], resumed[k]), k

    # fine-tuning from the exported (folded) file: BN rebuilt, statistics set from training samples
    onnx_path = export_net(T.load_best(cfg, tmp_path / "full"), tmp_path / "pnet.onnx")
    cfg.train.init_weights, cfg.train.epochs = str(onnx_path), 1
    lines = []
    T.train_stage(cfg, tmp_path / "samples", tmp_path / "tuned", log=lines.append)
    assert any("batch norm statistics set from 32 training samples" in line for line in lines)
