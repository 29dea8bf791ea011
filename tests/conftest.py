"""Shared fixtures: small weight sets and images that the tests make themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """A complete ONNX weight folder of untrained (seeded) nets: exercises the plumbing, not accuracy."""
    torch = pytest.importorskip("torch")
    from openmtcnn.nets import STAGES, create_net
    from openmtcnn.nets.export import export_set

    torch.manual_seed(0)
    nets = {s: create_net("mtcnn", s) for s in STAGES}
    return export_set(nets, tmp_path_factory.mktemp("random_weights"), "mtcnn")


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
