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
    # Not bit-exact across CPUs: float32 convolutions/matmuls sum in a kernel-dependent order (MKL, oneDNN, AVX2 vs
    # AVX-512), the weights' float64 Box-Muller draws may round to float32 differently, and GELU/SiLU/softmax use
    # vectorized transcendental kernels; errors of ~1e-6 relative per layer grow through 20-50 layers. Measured at
    # <= 4% of this tolerance on Intel AVX-512, AVX2 and ATEN_CPU_CAPABILITY=default; a wrong layer is off by >> 1e-2.
    np.testing.assert_allclose(out.global_embedding.numpy(), outputs[f"{variant}/global"], atol=2e-4, rtol=1e-4)
    assert len(out.dense) == (1 if variant.startswith("vit") else 3)
    for level, dense in enumerate(out.dense):
        np.testing.assert_allclose(dense.numpy(), outputs[f"{variant}/dense{level}"], atol=2e-4, rtol=1e-4)
    assert out.feature.shape == (x.shape[0], encoder.feature_dim)


def test_preprocessing_matches_official(outputs):
    from depthbench.encoders.preprocess import as_metric_depth, defm_preprocess

    # The preprocessed values are O(1) (log depth, then DeFM mean/std): a log, a few divisions and bilinear taps
    # differ by a few float32 ulp across CPUs (measured <= 1e-6); a wrong formula is off by >= 1e-3.
    depth = as_metric_depth(torch.from_numpy(outputs["preprocess/depth"]))
    cnn = get_encoder_info("defm-resnet18").builder().preprocess(depth)
    np.testing.assert_allclose(cnn.numpy(), outputs["preprocess/cnn"], atol=1e-5)
    assert cnn.shape[-2:] == (32, 64)  # 30x41 padded to multiples of 32
    vit = get_encoder_info("defm-vit-s14").builder().preprocess(depth)
    np.testing.assert_allclose(vit.numpy(), outputs["preprocess/vit"], atol=1e-5)
    assert vit.shape[-2:] == (28, 28)
    resized = defm_preprocess(depth, size=(20, 27))
    np.testing.assert_allclose(resized.numpy(), outputs["preprocess/resized"], atol=1e-5)


# float32 machine epsilon (2**-23): one ulp of relative error.
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def test_fixture_depth_generator_is_what_the_fixture_holds(outputs):
    """The fixture was written on one CPU; `seeded_depth` rerun on another is equal up to float32 rounding.

    Which pixels are holes, NaN, +Inf or 250 m comes from torch.rand (integer bits scaled by 2**-24, exact) and
    comparisons, so it is bit-identical everywhere. The log-uniform values exp(a + (b - a) * u) are not: the fused
    or unfused multiply-add can round x = a + (b - a) * u differently by 1 ulp (|x| <= ln 60 = 4.1, so 2**-21 absolute,
    i.e. 4 ulp relative after exp), and torch's vectorized exp (SLEEF, <= 1 ulp; AVX2/AVX-512/NEON) and the scalar
    libm expf (< 1 ulp) may each be 1 ulp off in opposite directions. Measured: bit-exact on Intel AVX-512 vs AVX2,
    42 values at 1 ulp on AMD EPYC, 739 values at <= 4 ulp with ATEN_CPU_CAPABILITY=default. 8 ulp bounds it all.
    """
    depth, fixture = fixture_script.seeded_depth().numpy(), outputs["preprocess/depth"]
    for special in (np.isnan, np.isposinf, lambda d: d == 0.0, lambda d: d == 250.0):
        np.testing.assert_array_equal(special(depth), special(fixture))
    log_uniform = np.isfinite(fixture) & (fixture > 0.0) & (fixture != 250.0)
    assert log_uniform.mean() > 0.5  # the comparison below covers most pixels
    np.testing.assert_allclose(depth[log_uniform], fixture[log_uniform], rtol=8 * FLOAT32_EPS, atol=0.0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["defm-efficientnet-b0", "defm-vit-s14"])
def test_cuda_matches_cpu(name):
    encoder = create(name)
    depth = np.random.default_rng(0).uniform(0.0, 30.0, size=(2, 1, 64, 80)).astype(np.float32)
    with torch.inference_mode():
        cpu = encoder.encode_depth(depth)
        cuda = encoder.cuda().encode_depth(depth)  # numpy input lands on the encoder's device
    torch.testing.assert_close(cuda.global_embedding.cpu(), cpu.global_embedding, atol=1e-3, rtol=1e-3)
    for a, b in zip(cuda.dense, cpu.dense, strict=True):
        torch.testing.assert_close(a.cpu(), b, atol=1e-3, rtol=1e-3)
