"""DeFM metric-aware normalization against hand-computed values, and the depth input contract's errors."""

import math

import numpy as np
import pytest
import torch

from depthbench.encoders.preprocess import (
    DEFM_MEAN,
    DEFM_STD,
    MAX_MEDIAN_DEPTH_M,
    as_metric_depth,
    defm_normalized_channels,
    defm_preprocess,
)
from depthbench.errors import DepthbenchError

LOG101 = math.log(101.0)  # log1p(100 m), C1's range
LOG10 = math.log(10.0)  # log1p(9 m), C2's range (the official 9 m quirk)


def defm_channels(depth_m):
    """The un-normalized (C1, C2, C3) channels, read back through the DeFM mean/std."""
    x = defm_normalized_channels(depth_m)
    return x * torch.tensor(DEFM_STD).view(1, 3, 1, 1) + torch.tensor(DEFM_MEAN).view(1, 3, 1, 1)


def test_channels_by_hand_with_hole_nan_inf_and_far_values():
    depth = as_metric_depth(torch.tensor([[[0.0, 1.0, 9.0], [250.0, float("nan"), float("inf")]]]))
    c1, c2, c3 = defm_channels(depth)[0]
    log_d = torch.tensor([[0.0, math.log(2.0), LOG10], [LOG101, 0.0, 0.0]])  # 250 m clipped to 100 m; NaN/Inf -> 0
    torch.testing.assert_close(c1, log_d / LOG101)
    torch.testing.assert_close(c2, torch.tensor([[0.0, math.log(2.0) / LOG10, 1.0], [1.0, 0.0, 0.0]]))
    # C3 min-max over all pixels: the holes (0 m) are the minimum, the clipped 100 m the maximum.
    torch.testing.assert_close(c3, log_d / LOG101)


def test_c2_uses_log1p_9_not_log1p_10():
    c2 = defm_channels(as_metric_depth(torch.tensor([[[4.0, 9.0, 10.0]]])))[0, 1, 0]
    torch.testing.assert_close(c2, torch.tensor([math.log(5.0) / math.log(10.0), 1.0, 1.0]))
    assert c2[0].item() != pytest.approx(math.log(5.0) / math.log(11.0), abs=1e-3)


def test_c3_is_per_image_and_zero_for_constant_images():
    depth = as_metric_depth(torch.tensor([[[2.0, 5.0]], [[3.0, 3.0]]]))
    c3 = defm_channels(depth)[:, 2, 0]
    torch.testing.assert_close(c3, torch.tensor([[0.0, 1.0], [0.0, 0.0]]))


def test_normalization_and_cnn_padding():
    depth = as_metric_depth(torch.tensor([[[1.0, 9.0]]]))
    x = defm_preprocess(depth, pad_multiple=32)
    assert x.shape == (1, 3, 32, 32)
    c = torch.tensor([[math.log(2.0) / LOG101, LOG10 / LOG101], [math.log(2.0) / LOG10, 1.0], [0.0, 1.0]])
    expected = (c - torch.tensor(DEFM_MEAN)[:, None]) / torch.tensor(DEFM_STD)[:, None]
    torch.testing.assert_close(x[0, :, 0, :2], expected)
    # Padding is bottom/right with 0 after normalization.
    assert torch.count_nonzero(x[:, :, 1:, :]) == 0 and torch.count_nonzero(x[:, :, :, 2:]) == 0


def test_vit_path_floors_to_patch_multiple_and_resizes_after_encoding():
    depth = as_metric_depth(torch.full((2, 1, 30, 43), 4.0))
    x = defm_preprocess(depth, patch_size=14)
    assert x.shape == (2, 3, 28, 42)
    # A constant image stays constant through the antialiased resize: C1, C2 as by hand, C3 = 0.
    c = torch.tensor([math.log(5.0) / LOG101, math.log(5.0) / LOG10, 0.0])
    torch.testing.assert_close(x[0, :, 10, 10], (c - torch.tensor(DEFM_MEAN)) / torch.tensor(DEFM_STD))
    with pytest.raises(DepthbenchError, match="smaller than one 14-pixel patch"):
        defm_preprocess(as_metric_depth(torch.ones(1, 10, 30)), patch_size=14)


def test_uint16_needs_an_explicit_scale():
    millimetres = np.array([[[1000, 0], [2500, 65535]]], dtype=np.uint16)
    depth = as_metric_depth(millimetres, depth_scale=0.001)
    torch.testing.assert_close(depth, torch.tensor([[[[1.0, 0.0], [2.5, 65.535]]]]))
    as_torch = torch.from_numpy(millimetres.astype(np.int32)).to(torch.uint16)
    torch.testing.assert_close(as_metric_depth(as_torch, depth_scale=0.001), depth)
    with pytest.raises(DepthbenchError, match="integer dtype.*depth_scale"):
        as_metric_depth(millimetres)
    with pytest.raises(DepthbenchError, match="integer dtype torch.uint16"):
        as_metric_depth(as_torch)


def test_float64_and_three_dim_input_become_float32_nchw():
    depth = as_metric_depth(np.ones((2, 4, 5), dtype=np.float64))
    assert depth.dtype == torch.float32 and depth.shape == (2, 1, 4, 5)


@pytest.mark.parametrize(
    ("depth", "message"),
    [
        (torch.tensor([[[1.0, -0.5]]]), "negative values"),
        (torch.ones(4, 5), "shape \\(N,H,W\\) or \\(N,1,H,W\\)"),
        (torch.ones(2, 3, 4, 5), "shape \\(N,H,W\\) or \\(N,1,H,W\\)"),
        (torch.ones(0, 1, 4, 5), "empty"),
        (torch.ones(1, 1, 4, 5, dtype=torch.bool), "dtype torch.bool"),
        ([[1.0]], "torch.Tensor or numpy array"),
    ],
)
def test_bad_depth_input_is_a_clear_error(depth, message):
    with pytest.raises(DepthbenchError, match=message):
        as_metric_depth(depth)


def _room_mm(seed=0):
    """A (1, 48, 64) float image in millimetres (0.4-4 m) with a hole band, as `np.save(depth_mm)` writes it."""
    depth = np.random.default_rng(seed).uniform(400.0, 4000.0, (1, 48, 64)).astype(np.float32)
    depth[:, :6] = 0.0
    return depth


def test_units_rule_rejects_millimetres_saved_as_float_metres():
    with pytest.raises(DepthbenchError, match=r"median valid depth 2,\d{3} m.*millimetres.*depth_scale=0.001"):
        as_metric_depth(_room_mm())
    metres = as_metric_depth(_room_mm(), depth_scale=0.001)  # the fix the message names
    assert float(metres[metres > 0].min()) >= 0.4 and float(metres.max()) <= 4.0
    with pytest.raises(DepthbenchError, match=r"check depth_scale \(1 m per unit given"):
        as_metric_depth(_room_mm().astype(np.uint16), depth_scale=1.0)
    # A batch names the image: image 1 of three
    batch = np.concatenate([_room_mm() / 1000, _room_mm(1), _room_mm(2) / 1000])
    with pytest.raises(DepthbenchError, match=r"\(image 1\)"):
        as_metric_depth(batch)


def test_units_rule_is_on_the_median_of_valid_pixels_not_the_max():
    far = np.full((1, 10, 10), 2.0, np.float32)
    far[0, :4] = 250.0  # 40% beyond 100 m (sky, a far wall): still metres, DeFM clips those pixels
    far[0, 9] = np.inf
    assert float(as_metric_depth(far).max()) == 250.0
    holes = np.zeros((1, 10, 10), np.float32)
    holes[0, 0, :3] = 150.0  # mostly holes: the median is over the 3 valid pixels
    with pytest.raises(DepthbenchError, match="median valid depth 150 m"):
        as_metric_depth(holes)
    as_metric_depth(np.full((1, 4, 4), MAX_MEDIAN_DEPTH_M, np.float32))  # the bound itself is allowed


def _max_range_values(node, key=""):
    """Every camera range in a task config: values of keys max_m / max_depth_m / max_range_m, at any depth."""
    if isinstance(node, dict):
        return [v for k, child in node.items() for v in _max_range_values(child, k)]
    return [node] if key in ("max_m", "max_depth_m", "max_range_m") and node is not None else []


def test_units_rule_cannot_fire_on_simulator_depth():
    """Engines return 0 beyond their camera's max range; noise then moves depth by a few percent, not 10x."""
    from depthbench.envs import list_tasks
    from depthbench.envs.navigation.pointnav import PRESETS
    from depthbench.noise import DEFAULT_TRAIN_AUGMENTATION, build_noise, list_noise_models

    ranges = [v for task in list_tasks() for v in _max_range_values(task.default_config())]
    ranges += [preset["max_depth_m"] for preset in PRESETS.values()]
    assert len(ranges) >= 5 and max(ranges) <= 10.0  # 10x below the rule's 100 m
    clean = torch.full((16, 1, 32, 32), max(ranges))  # the worst case: everything at the max range
    for name in [info.name for info in list_noise_models()] + [DEFAULT_TRAIN_AUGMENTATION]:
        noisy = build_noise(name)(clean, torch.Generator().manual_seed(0))
        as_metric_depth(noisy)  # never raises
        valid = noisy[noisy > 0]
        assert valid.numel() == 0 or float(valid.median()) < 0.2 * MAX_MEDIAN_DEPTH_M, name
