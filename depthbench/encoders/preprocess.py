"""Depth input validation and DeFM's metric-aware 3-channel normalization, batched in torch on any device.

The semantics follow the official `defm.utils.preprocess_depth_batch` (leggedrobotics/defm 1.1.0) exactly; the
constants below are that package's. Baselines share `as_metric_depth` and bring their own normalization.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from depthbench.errors import DepthbenchError

# DeFM pre-training statistics of the (C1, C2, C3) encoding (official defm/utils/utils.py).
DEFM_MEAN = (0.248880, 0.495620, 0.492858)
DEFM_STD = (0.139357, 0.271314, 0.297177)
# C1 spans 0-100 m. C2 "mid range" uses log1p(9) = log(10): pre-training used log(10) where the paper says
# log1p(10), and the official code keeps 9 m to match the trained weights.
MAX_DEPTH_C1_M = 100.0
MAX_DEPTH_C2_M = 9.0
# The units rule (docs/encoders.md, "Depth units"): an image whose valid (> 0) pixels have a median beyond DeFM's whole
# range is not metres. A millimetre image from any sensor with a minimum range >= 0.1 m has every valid value >= 100,
# so it always trips the rule; a metric image trips it only when most of it lies where C1 saturates (and the
# baselines' 10 m clip), i.e. where an encoder sees next to nothing. Simulators clip at their camera's max range
# (3-10 m in configs/tasks/), far below it.
MAX_MEDIAN_DEPTH_M = MAX_DEPTH_C1_M


def implausible_metric_depth(depth_m: torch.Tensor) -> tuple[int, float] | None:
    """(image index, median valid depth in m) of the first (N,1,H,W) image that breaks the units rule, else None.

    The median is only computed when some pixel exceeds MAX_MEDIAN_DEPTH_M, so metric batches pay one reduction.
    """
    if not bool((depth_m > MAX_MEDIAN_DEPTH_M).any()):
        return None
    flat = depth_m.reshape(depth_m.shape[0], -1).float()
    medians = torch.nanmedian(torch.where(flat > 0, flat, float("nan")), dim=1).values
    bad = (medians > MAX_MEDIAN_DEPTH_M).nonzero().flatten().tolist()
    return (bad[0], float(medians[bad[0]])) if bad else None


def require_metric_units(depth_m: torch.Tensor, source: str, fix: str) -> None:
    """Raise the one-line units-rule error for (N,1,H,W) depth that is not plausibly metres; `fix` says what to do."""
    found = implausible_metric_depth(depth_m)
    if found is None:
        return
    index, median_m = found
    image = f" (image {index})" if depth_m.shape[0] > 1 else ""
    raise DepthbenchError(
        f"{source}{image} has median valid depth {median_m:,.0f} m, beyond DeFM's whole {MAX_MEDIAN_DEPTH_M:.0f} m "
        f"range: it looks like millimetres, not metres; {fix}"
    )


def as_metric_depth(depth: torch.Tensor | np.ndarray, depth_scale: float | None = None) -> torch.Tensor:
    """Validate a depth batch and return it as float (N,1,H,W) metres with NaN/Inf mapped to 0 (= no return).

    Accepts (N,H,W) or (N,1,H,W) float metres. Integer images (e.g. uint16 millimetres) need `depth_scale`, the
    metres per unit (0.001 for millimetres), because guessing the unit silently would be wrong by 1000x. For the same
    reason an image whose valid pixels have a median above MAX_MEDIAN_DEPTH_M (100 m) is rejected (the units rule).
    """
    if isinstance(depth, np.ndarray):
        if depth.dtype == np.uint16:  # torch has limited uint16 support: widen losslessly first
            depth = depth.astype(np.int32)
        depth = torch.from_numpy(depth)
    if not isinstance(depth, torch.Tensor):
        raise DepthbenchError(f"depth must be a torch.Tensor or numpy array, got {type(depth).__name__}")
    if depth.ndim == 3:
        depth = depth.unsqueeze(1)
    if depth.ndim != 4 or depth.shape[1] != 1:
        raise DepthbenchError(
            f"depth must have shape (N,H,W) or (N,1,H,W), got {tuple(depth.shape)}; stack single images with [None]"
        )
    if depth.shape[0] == 0 or depth.shape[2] == 0 or depth.shape[3] == 0:
        raise DepthbenchError(f"depth batch is empty: shape {tuple(depth.shape)}")
    if depth.dtype == torch.bool or depth.is_complex():
        raise DepthbenchError(f"depth has dtype {depth.dtype}; pass float metres")
    if depth.is_floating_point():
        if depth_scale is not None:
            depth = depth * depth_scale
        depth = depth.to(torch.float32) if depth.dtype == torch.float64 else depth
    else:
        if depth_scale is None:
            raise DepthbenchError(
                f"depth has integer dtype {depth.dtype} but no depth scale was given; pass depth_scale in metres per "
                "unit (0.001 for millimetre images) or convert to float metres"
            )
        depth = depth.to(torch.float32) * depth_scale
    depth = torch.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)
    if float(depth.min()) < 0:
        raise DepthbenchError(
            f"depth has negative values (min {float(depth.min()):.3g} m); depth is a distance >= 0, 0 = no return"
        )
    fix = "pass depth_scale=0.001 if it is millimetres (float or integer)"
    if depth_scale is not None:
        fix = f"check depth_scale ({depth_scale:g} m per unit given; 0.001 for millimetres)"
    require_metric_units(depth, "depth", fix)
    return depth


def defm_normalized_channels(depth_m: torch.Tensor) -> torch.Tensor:
    """The normalized (C1, C2, C3) encoding (N,3,H,W) of validated (N,1,H,W) metres.

    C1 = log1p(d) / log1p(100) (global range), C2 = clip(log1p(d) / log1p(9), 0, 1) (0-9 m), C3 = per-image min-max
    of log1p(d) over every pixel (invalid pixels are 0 m, so they count as the minimum; 0 where max == min); then
    (C - mean) / std. Each channel's normalization is folded into one affine op written straight into the output:
    the encoder wrapper must stay within a few percent of the bare network's time.
    """
    n, _, height, width = depth_m.shape
    log_depth = torch.log1p(depth_m.clamp(max=MAX_DEPTH_C1_M))  # inputs are >= 0 (as_metric_depth)
    out = torch.empty((n, 3, height, width), dtype=log_depth.dtype, device=log_depth.device)
    (m1, m2, m3), (s1, s2, s3) = DEFM_MEAN, DEFM_STD
    torch.mul(log_depth, 1.0 / (s1 * math.log1p(MAX_DEPTH_C1_M)), out=out[:, 0:1])
    out[:, 0:1].sub_(m1 / s1)
    torch.mul(log_depth, 1.0 / (s2 * math.log1p(MAX_DEPTH_C2_M)), out=out[:, 1:2])
    out[:, 1:2].clamp_(max=1.0 / s2).sub_(m2 / s2)
    low, high = torch.aminmax(log_depth.view(n, -1), dim=1)
    span = (high - low).view(n, 1, 1, 1)
    scale = torch.where(span > 0, 1.0 / (span * s3), 0.0)
    torch.addcmul(-low.view(n, 1, 1, 1) * scale - m3 / s3, log_depth, scale, out=out[:, 2:3])
    return out


def defm_preprocess(
    depth_m: torch.Tensor,
    *,
    size: tuple[int, int] | None = None,
    patch_size: int | None = None,
    pad_multiple: int | None = None,
) -> torch.Tensor:
    """DeFM's normalized input (N,3,H',W') from validated (N,1,H,W) metres.

    As the official code: encode at native size, resize to `size` (default: native) floored to a multiple of
    `patch_size` (ViTs) with antialiased bilinear interpolation (what torchvision's Resize does on tensors), then
    zero-pad bottom/right after normalization to a multiple of `pad_multiple` (CNNs: 32, which the BiFPN's stride-2
    fusions need). Normalizing before the resize is the same as after it: the per-channel affine map commutes with
    interpolation, whose weights sum to one.
    """
    x = defm_normalized_channels(depth_m)
    height, width = size if size is not None else x.shape[-2:]
    if patch_size is not None:
        height, width = (height // patch_size) * patch_size, (width // patch_size) * patch_size
        if height == 0 or width == 0:
            raise DepthbenchError(
                f"depth image {tuple(x.shape[-2:])} is smaller than one {patch_size}-pixel patch; use a larger image"
            )
    if (height, width) != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    if pad_multiple is not None:
        pad_h, pad_w = (-height) % pad_multiple, (-width) % pad_multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), value=0.0)
    return x
