"""Statistical behaviour of the noise models: error std vs depth, quantization grids, rates, holes, seeding."""

import math

import numpy as np
import pytest
import torch

from depthbench.errors import DepthbenchError
from depthbench.noise import DEFAULT_TRAIN_AUGMENTATION, build_noise, list_noise_models
from depthbench.noise.base import focal_px
from depthbench.noise.scene import synthetic_depth

ALL_NAMES = [info.name for info in list_noise_models()]
DETERMINISTIC = {"clean", "quantize", "range"}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def planes(depths_m, size=64):
    """One fronto-parallel plane per image: (len(depths), 1, size, size)."""
    return torch.tensor(depths_m, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, size, size).contiguous()


def step_image(near_m=1.0, far_m=3.0, size=64, near_from_col=32):
    """Far background with a near surface from column `near_from_col` to the right."""
    depth = torch.full((1, 1, size, size), far_m)
    depth[..., near_from_col:] = near_m
    return depth


def std_per_plane(noisy, clean):
    err = noisy - clean
    valid = noisy > 0
    return np.array([err[i][valid[i]].std().item() for i in range(len(clean))])


def fit_a_b(depths, stds):
    """Least-squares sigma = a + b z^2."""
    design = np.stack([np.ones_like(depths), depths**2], 1)
    return np.linalg.lstsq(design, stds, rcond=None)[0]


def test_axial_std_grows_as_a_plus_b_z_squared():
    depths = np.array([0.5, 1.0, 2.0, 3.0, 4.0, 5.0])
    clean = planes(depths, size=96)
    noisy = build_noise("axial(a_m=0.002,b_per_m=0.003)")(clean, gen())
    a, b = fit_a_b(depths, std_per_plane(noisy, clean))
    assert a == pytest.approx(0.002, rel=0.15)
    assert b == pytest.approx(0.003, rel=0.05)


def test_gaussian_std_is_constant_and_mean_unbiased():
    clean = planes([1.0, 4.0], size=128)
    noisy = build_noise("gaussian(std_m=0.02)")(clean, gen())
    assert std_per_plane(noisy, clean) == pytest.approx([0.02, 0.02], rel=0.05)
    assert (noisy - clean).mean().item() == pytest.approx(0.0, abs=1e-3)


def test_stereo_error_std_follows_intel_rms_formula():
    depths = np.array([1.0, 2.0, 3.0, 4.0])
    clean = planes(depths, size=96)
    model = build_noise("stereo(subpixel_std_px=0.08,occlusion=0)")
    stds = std_per_plane(model(clean, gen()), clean)
    k = 0.08 / (focal_px(848, 87.0) * 0.05)  # RMS = z^2 * subpixel / (f b)
    assert stds == pytest.approx(k * depths**2, rel=0.1)


def test_stereo_min_z_occlusion_band_and_shadow_where_geometry_puts_them():
    model = build_noise("stereo(subpixel_std_px=0,max_incidence_deg=90)")
    fb = focal_px(848, 87.0) * 0.05
    assert (model(planes([0.9 * fb / 126]), gen()) == 0).all()  # closer than min-Z: disparity beyond the search
    out = model(step_image(near_m=1.0, far_m=3.0), gen())[0, 0]
    scale = 64 / 848  # image px per native px
    d_far, d_near = fb / 3.0 * scale, fb / 1.0 * scale
    band = math.ceil(d_far)  # columns u < d(u) are outside the right camera's view
    shadow = math.floor(d_near - d_far)  # columns left of the near surface hidden from the right camera
    invalid_cols = (out == 0).all(0).nonzero().flatten().tolist()
    assert invalid_cols == list(range(band)) + list(range(32 - shadow, 32))
    # exact on every CPU: with no sub-pixel noise z' = fb / (fb / z), and IEEE-754 division is correctly rounded
    assert (out[:, band : 32 - shadow] == 3.0).all() and (out[:, 32:] == 1.0).all()


def test_stereo_drops_grazing_floor_and_textureless_planes():
    # floor 0.6 m below a 90 deg camera: z = f h / (v - cy), incidence tan(theta) = z / h
    size, height_m = 64, 0.6
    v = torch.arange(size, dtype=torch.float32) + 0.5 - size / 2
    floor = torch.where(v > 0, (size / 2) * height_m / v.clamp_min(1e-3), torch.tensor(0.0))
    floor = floor.view(1, 1, -1, 1).expand(1, 1, size, size).contiguous()
    model = build_noise("stereo(hfov_deg=90,subpixel_std_px=0,occlusion=0,max_incidence_deg=80)")
    out = model(floor, gen())
    tan_incidence = floor / height_m
    limit = math.tan(math.radians(80))
    assert (out[(tan_incidence > 1.2 * limit)] == 0).all()
    assert (out[(tan_incidence > 0) & (tan_incidence < 0.8 * limit)] > 0).all()
    # untextured planes: fraction textureless_p of them missing; a rough (nowhere planar) surface keeps its pixels
    planes_out = build_noise("stereo(subpixel_std_px=0,occlusion=0,textureless_p=0.3)")(planes([2.0] * 16), gen())
    assert (planes_out == 0).float().mean().item() == pytest.approx(0.3, rel=0.2)
    rough = 1.0 + 0.05 * torch.rand(16, 1, 64, 64, generator=gen(5))
    rough_out = build_noise("stereo(subpixel_std_px=0,occlusion=0,textureless_p=0.9)")(rough, gen())
    assert (rough_out == 0).float().mean().item() < 0.05


def test_kinect_depth_lies_on_the_eighth_pixel_disparity_grid():
    model = build_noise("kinect(shadows=0)")
    fb = focal_px(640, 57.0) * 0.075
    out = model(planes([0.9, 1.7, 2.5, 3.3]), gen())
    steps = 8 * fb / out[out > 0].double()
    assert (steps - steps.round()).abs().max() < 1e-3
    # disparity noise of 1/6 of a step, then rounding: the error never exceeds half a step plus 4 sigma of noise
    step_m = out.new_tensor([0.9, 1.7, 2.5, 3.3]).view(-1, 1, 1, 1) ** 2 / (8 * fb)
    assert ((out - planes([0.9, 1.7, 2.5, 3.3])).abs() <= step_m * (0.5 + 4 / 6) * 1.01).all()


def test_kinect_shadow_and_edge_holes():
    fb = focal_px(640, 57.0) * 0.075
    model = build_noise("kinect(shift_std_px=0,disparity_std_px=0)")
    out = model(step_image(near_m=1.0, far_m=3.0), gen())[0, 0]
    scale = 64 / 640
    shadow = math.floor((fb / 1.0 - fb / 3.0) * scale)
    band = math.ceil(fb / 3.0 * scale)
    invalid_cols = (out == 0).all(0).nonzero().flatten().tolist()
    # the edge test removes both sides of the discontinuity (columns 31 and 32) as well
    assert invalid_cols == list(range(band)) + list(range(min(31, 32 - shadow), 33))


def test_quantize_rounds_to_nearest_step():
    clean = torch.rand(4, 1, 16, 16, generator=gen()) * 5 + 0.1
    out = build_noise("quantize(step_m=0.004)")(clean.double(), gen())
    assert ((out / 0.004) - (out / 0.004).round()).abs().max() < 1e-9
    assert (out - clean.double()).abs().max() <= 0.002 + 1e-9


def test_dropout_rate_matches_p_and_holes_are_exactly_zero():
    clean = planes([2.0] * 8, size=64)
    out = build_noise("dropout(p=0.1)")(clean, gen())
    n = clean.numel()
    rate = (out == 0).float().mean().item()
    assert abs(rate - 0.1) < 4 * math.sqrt(0.1 * 0.9 / n)
    assert ((out == 0) | (out == 2.0)).all()


def test_blob_holes_cover_fraction_p_and_are_exactly_zero():
    clean = planes([2.0] * 16, size=64)
    out = build_noise("holes(p=0.05,size_px=2)")(clean, gen())
    assert (out == 0).float().mean().item() == pytest.approx(0.05, rel=0.2)
    assert ((out == 0) | (out == 2.0)).all()
    # blobs, not salt: most hole pixels have a hole neighbour
    holes = (out == 0).float()
    neighbours = torch.nn.functional.avg_pool2d(holes, 3, stride=1, padding=1) * 9 - holes
    assert (neighbours[holes > 0] >= 1).float().mean() > 0.9


def test_speckle_is_multiplicative_on_fraction_p():
    clean = planes([1.0, 4.0] * 8, size=64)
    out = build_noise("speckle(p=0.2,std=0.05,size_px=1)")(clean, gen())
    changed = out != clean
    assert changed.float().mean().item() == pytest.approx(0.2, rel=0.15)
    relative = (out / clean - 1)[changed]
    assert relative.std().item() == pytest.approx(0.05, rel=0.1)
    dense = build_noise("speckle(p=1,std=0.05,size_px=2)")(clean, gen())
    neighbour_corr = np.corrcoef((dense / clean - 1)[..., :-1].flatten(), (dense / clean - 1)[..., 1:].flatten())[0, 1]
    assert neighbour_corr > 0.7  # spatially correlated (Gaussian kernel, 2 px: exp(-1/16) ~ 0.94)


def test_edge_noise_only_touches_discontinuities():
    clean = step_image(near_m=1.0, far_m=3.0).expand(64, 1, 64, 64).contiguous()
    out = build_noise("edge(jump=0.05,p_invalid=0.3)")(clean, gen())
    edge_cols = [31, 32]
    untouched = torch.ones(64, dtype=torch.bool)
    untouched[edge_cols] = False
    assert torch.equal(out[..., untouched], clean[..., untouched])
    edge = out[..., edge_cols]
    assert (edge == 0).float().mean().item() == pytest.approx(0.3, abs=0.04)
    flying = edge[edge > 0]
    assert (flying >= 1.0).all() and (flying <= 3.0).all()
    assert flying.std() > 0.3  # spread between the two surfaces


def test_slanted_planes_are_not_edges():
    # a floor seen from 0.6 m height, 90 deg HFOV: depth 0.6 * f / row, steep in image space near the horizon
    rows = torch.arange(1, 33, dtype=torch.float32).view(1, 1, -1, 1)
    floor = (0.6 * 32 / rows).expand(1, 1, 32, 32).contiguous()
    assert torch.equal(build_noise("edge(jump=0.02,p_invalid=1)")(floor, gen()), floor)


def test_range_invalidates_outside_and_keeps_inside():
    clean = planes([0.2, 0.5, 3.0, 9.0])
    out = build_noise("range(min_m=0.3,max_m=5)")(clean, gen())
    assert torch.equal(out, clean * torch.tensor([0.0, 1, 1, 0]).view(-1, 1, 1, 1))


def test_redwood_cutoff_disparity_grid_and_identity_table():
    out = build_noise("redwood")(planes([2.0, 12.0], size=64), gen())
    assert (out[1] == 0).all()  # >= 10 m returns nothing
    steps = 35.130 * 8 / out[0].double()
    assert (steps - steps.round()).abs().max() < 1e-3
    assert out[0].mean().item() == pytest.approx(2.0, rel=0.01)  # identity table: no systematic distortion


def test_redwood_loads_a_distortion_table(tmp_path):
    path = tmp_path / "dist.npy"
    np.save(path, np.full(32000, 1.25, dtype=np.float32))
    out = build_noise(f"redwood(multiplier=0,table={path})")(planes([2.5], size=32), gen())
    assert out.mean().item() == pytest.approx(2.5 / 1.25, rel=0.01)  # undistorted depth z / f
    # orientation and depth bins: columns >= 40 of 80 (right image half) use bins (1, 2, 1, 1, 1) at 1, 3, 5, 7, 9 m
    table = np.ones((80, 80, 5), dtype=np.float32)
    table[:, 40:, 1] = 2.0
    np.save(path, table)
    clean = planes([1.0, 2.0, 3.0], size=32)
    out = build_noise(f"redwood(multiplier=0,table={path})")(clean, gen())
    expected_right = torch.tensor([1.0, 2.0 / 1.5, 3.0 / 2.0]).view(-1, 1, 1)
    assert torch.allclose(out[:, 0, :, :16], clean[:, 0, :, :16], rtol=0.01)
    assert torch.allclose(out[:, 0, :, 16:], expected_right.expand(-1, 32, 16), rtol=0.01)
    np.save(tmp_path / "bad.npy", np.ones(10))
    with pytest.raises(DepthbenchError, match="expected 32000"):
        build_noise(f"redwood(table={tmp_path / 'bad.npy'})")
    with pytest.raises(DepthbenchError, match="not found"):
        build_noise(f"redwood(table={tmp_path / 'missing.npy'})")


def test_flicker_is_stationary_persistent_and_resets_per_env():
    model = build_noise("flicker(p=0.1,persistence=0.8,scale_std=0.01)")
    reference = build_noise("flicker(p=0.1,persistence=0.8,scale_std=0.01)")
    clean = planes([2.0] * 4, size=64)
    g, g_ref = gen(1), gen(1)
    masks = []
    for t in range(12):
        if t == 6:
            model.reset([0])
        out, ref = model(clean, g), reference(clean, g_ref)
        masks.append(out == 0)
        assert torch.equal(out[1:], ref[1:])  # envs not reset continue exactly as without the reset
        if t == 6:
            assert not torch.equal(out[0], ref[0])
    missing = torch.stack(masks).float()
    assert missing.mean().item() == pytest.approx(0.1, rel=0.1)
    still = (missing[1:] * missing[:-1]).sum() / missing[:-1].sum()
    assert still.item() == pytest.approx(0.8 + 0.2 * 0.1, abs=0.03)  # P(missing_t | missing_t-1)
    with pytest.raises(DepthbenchError, match="call reset"):
        model(planes([2.0] * 3), g)
    model.reset()
    assert model(planes([2.0] * 3), g).shape == (3, 1, 64, 64)


@pytest.mark.parametrize("name", ALL_NAMES + [DEFAULT_TRAIN_AUGMENTATION])
def test_same_seed_same_noise_other_seed_differs(name):
    clean = synthetic_depth(2, 32, 32)
    first = build_noise(name)(clean, gen(3))
    assert torch.equal(first, build_noise(name)(clean, gen(3)))
    if name not in DETERMINISTIC:
        assert not torch.equal(first, build_noise(name)(clean, gen(4)))


@pytest.mark.parametrize("name", ALL_NAMES + [DEFAULT_TRAIN_AUGMENTATION])
def test_bad_values_never_become_nan_and_dtype_shape_survive(name):
    clean = synthetic_depth(2, 16, 16).repeat(1, 2, 1, 1)  # two cameras
    clean[0, 0, :4, :4] = float("nan")
    clean[0, 1, :4, :4] = float("inf")
    clean[1, 0, :4, :4] = 0.0
    clean[1, 1, :4, :4] = -1.0
    for dtype in (torch.float32, torch.float16, torch.float64):
        out = build_noise(name)(clean.to(dtype), gen())
        assert out.shape == clean.shape and out.dtype == dtype
        assert torch.isfinite(out).all() and (out >= 0).all()
    if name not in {"kinect", "redwood", "kinect-v1"}:  # those resample neighbours, by design
        assert (build_noise(name)(clean, gen())[..., :4, :4] == 0).all()


def test_bad_inputs_raise_clear_errors():
    model = build_noise("dropout")
    with pytest.raises(DepthbenchError, match="empty depth batch"):
        model(torch.zeros(0, 1, 8, 8), gen())
    with pytest.raises(DepthbenchError, match=r"shape \(N, C, H, W\), got shape \(8, 8\)"):
        model(torch.ones(8, 8), gen())
    with pytest.raises(DepthbenchError, match="floating-point"):
        model(torch.ones(1, 1, 8, 8, dtype=torch.int32), gen())
    with pytest.raises(DepthbenchError, match="explicit torch.Generator"):
        model(torch.ones(1, 1, 8, 8), 0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ALL_NAMES + [DEFAULT_TRAIN_AUGMENTATION])
def test_models_run_on_cuda_with_same_statistics(name):
    clean = synthetic_depth(64, 32, 32)
    cpu = build_noise(name)(clean, gen())
    cuda = build_noise(name)(clean.cuda(), torch.Generator(device="cuda").manual_seed(0))
    assert cuda.device.type == "cuda" and torch.isfinite(cuda).all()
    assert torch.equal(build_noise(name)(clean.cuda(), torch.Generator(device="cuda").manual_seed(0)), cuda)
    assert (cuda == 0).float().mean().item() == pytest.approx((cpu == 0).float().mean().item(), abs=0.02)
    both = (cpu > 0) & (cuda.cpu() > 0)
    assert (cuda.cpu() - clean)[both].abs().mean().item() == pytest.approx(
        (cpu - clean)[both].abs().mean().item(), rel=0.2, abs=2e-4
    )
