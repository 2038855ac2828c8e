"""DeFM metric-aware normalization against hand-computed values, and the depth input contract's errors."""

import math

import numpy as np
import pytest
import torch

from depthbench.encoders.preprocess import (
    DEFM_MEAN,
    DEFM_STD,
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
    with pytest.raises(DepthbenchError, match="integer dtype.*depth_scale"):
        as_metric_depth(millimetres)


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
