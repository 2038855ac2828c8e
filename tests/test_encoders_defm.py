"""DeFM architectures against the official implementation (fixture from scripts/make_defm_fixture.py)."""

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depthbench.encoders import create, get_encoder_info
from depthbench.encoders.weights import file_sha256

FIXTURES = Path(__file__).parent / "fixtures"
SCRIPT = Path(__file__).parents[1] / "scripts" / "make_defm_fixture.py"

# Backbone + BiFPN parameter counts of the official code, in millions (issue 2; measured from leggedrobotics/defm).
OFFICIAL_PARAMS_M = {
    "vit-s14": 21.635,
    "vit-l14": 303.655,
    "resnet18": 11.736,
    "resnet34": 23.287,
    "resnet50": 26.201,
    "efficientnet-b0": 3.010,
    "efficientnet-b2": 4.955,
    "efficientnet-b4": 14.157,
    "efficientnet-b6": 28.983,
    "regnet-y-400mf": 4.063,
    "regnet-y-800mf": 6.252,
    "regnet-y-1.6gf": 12.431,
}


def _load_script():
    spec = importlib.util.spec_from_file_location("make_defm_fixture", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fixture_script = _load_script()


@pytest.fixture(scope="module")
def reference():
    with gzip.open(FIXTURES / "defm_state_dicts.json.gz", "rt") as handle:
        return json.load(handle)["variants"]


@pytest.fixture(scope="module")
def outputs():
    return dict(np.load(FIXTURES / "defm_outputs.npz"))


def _build(variant):
    """Backbone on the meta device (no memory); torchvision RegNet cannot be built there, so it is built on CPU."""
    builder = get_encoder_info(f"defm-{variant}").builder
    if variant.startswith("regnet"):
        return builder()
    with torch.device("meta"):
        return builder()


@pytest.mark.parametrize("variant", list(OFFICIAL_PARAMS_M))
def test_keys_shapes_and_param_count_match_official(variant, reference):
    model = _build(variant)
    expected = [(k, tuple(s)) for k, s in reference[variant]["keys"]]
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == expected
    params = sum(p.numel() for p in model.parameters())
    assert params == reference[variant]["params"]
    assert round(params / 1e6, 3) == OFFICIAL_PARAMS_M[variant]
    # A state dict of exactly the official shapes loads strictly.
    device = next(model.parameters()).device
    model.load_state_dict({k: torch.empty(s, device=device) for k, s in expected}, strict=True)


@pytest.mark.parametrize("variant", fixture_script.OUTPUT_VARIANTS)
def test_seeded_outputs_match_official(variant, reference, outputs, tmp_path):
    shapes = {k: tuple(s) for k, s in reference[variant]["keys"]}
    checkpoint = tmp_path / f"defm_{variant}.pth"
    torch.save(fixture_script.seeded_state_dict(shapes), checkpoint)
    encoder = create(f"defm-{variant}", weights=str(checkpoint))
    assert encoder.weights_provenance == f"{checkpoint} sha256:{file_sha256(checkpoint)[:12]}"
    x = torch.from_numpy(outputs[f"{variant}/input"])
    out = encoder(x)
    np.testing.assert_allclose(out.global_embedding.numpy(), outputs[f"{variant}/global"], atol=2e-4, rtol=1e-4)
    assert len(out.dense) == (1 if variant.startswith("vit") else 3)
    for level, dense in enumerate(out.dense):
        np.testing.assert_allclose(dense.numpy(), outputs[f"{variant}/dense{level}"], atol=2e-4, rtol=1e-4)
    assert out.feature.shape == (x.shape[0], encoder.feature_dim)


def test_preprocessing_matches_official(outputs):
    from depthbench.encoders.preprocess import as_metric_depth, defm_preprocess

    depth = as_metric_depth(torch.from_numpy(outputs["preprocess/depth"]))
    cnn = get_encoder_info("defm-resnet18").builder().preprocess(depth)
    np.testing.assert_allclose(cnn.numpy(), outputs["preprocess/cnn"], atol=1e-5)
    assert cnn.shape[-2:] == (32, 64)  # 30x41 padded to multiples of 32
    vit = get_encoder_info("defm-vit-s14").builder().preprocess(depth)
    np.testing.assert_allclose(vit.numpy(), outputs["preprocess/vit"], atol=1e-5)
    assert vit.shape[-2:] == (28, 28)
    resized = defm_preprocess(depth, size=(20, 27))
    np.testing.assert_allclose(resized.numpy(), outputs["preprocess/resized"], atol=1e-5)


def test_fixture_depth_generator_is_what_the_fixture_holds(outputs):
    np.testing.assert_array_equal(fixture_script.seeded_depth().numpy(), outputs["preprocess/depth"])
