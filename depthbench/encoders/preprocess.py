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


def as_metric_depth(depth: torch.Tensor | np.ndarray, depth_scale: float | None = None) -> torch.Tensor:
    """Validate a depth batch and return it as float (N,1,H,W) metres with NaN/Inf mapped to 0 (= no return).

    Accepts (N,H,W) or (N,1,H,W) float metres. Integer images (e.g. uint16 millimetres) need `depth_scale`, the
    metres per unit (0.001 for millimetres), because guessing the unit silently would be wrong by 1000x.
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
    if bool((depth < 0).any()):
        raise DepthbenchError(
            f"depth has negative values (min {float(depth.min()):.3g} m); depth is a distance >= 0, 0 = no return"
        )
    return depth


def defm_channels(depth_m: torch.Tensor) -> torch.Tensor:
    """The (C1, C2, C3) encoding of validated (N,1,H,W) metres: global log range, 0-9 m log range, per-image min-max."""
    log_depth = torch.log1p(depth_m.clamp(0.0, MAX_DEPTH_C1_M))
    c1 = log_depth / math.log1p(MAX_DEPTH_C1_M)
    c2 = (log_depth / math.log1p(MAX_DEPTH_C2_M)).clamp(0.0, 1.0)
    # C3: min-max over every pixel of the image; invalid pixels are 0 m, so they count as the minimum.
    low = log_depth.amin(dim=(1, 2, 3), keepdim=True)
    span = log_depth.amax(dim=(1, 2, 3), keepdim=True) - low
    c3 = torch.where(span > 0, (log_depth - low) / torch.where(span > 0, span, 1.0), 0.0)
    return torch.cat([c1, c2, c3], dim=1)


def defm_preprocess(
    depth_m: torch.Tensor,
    *,
    size: tuple[int, int] | None = None,
    patch_size: int | None = None,
    pad_multiple: int | None = None,
) -> torch.Tensor:
    """DeFM's normalized input (N,3,H',W') from validated (N,1,H,W) metres.

    Order as in the official code: encode at native size, resize to `size` (default: native) floored to a multiple
    of `patch_size` (ViTs) with antialiased bilinear interpolation (what torchvision's Resize does on tensors),
    normalize with the DeFM mean/std, then zero-pad bottom/right to a multiple of `pad_multiple` (CNNs: 32, which
    the BiFPN's stride-2 fusions need).
    """
    x = defm_channels(depth_m)
    height, width = size if size is not None else x.shape[-2:]
    if patch_size is not None:
        height, width = (height // patch_size) * patch_size, (width // patch_size) * patch_size
        if height == 0 or width == 0:
            raise DepthbenchError(
                f"depth image {tuple(x.shape[-2:])} is smaller than one {patch_size}-pixel patch; use a larger image"
            )
    if (height, width) != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(DEFM_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(DEFM_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    x = (x - mean) / std
    if pad_multiple is not None:
        pad_h, pad_w = (-height) % pad_multiple, (-width) % pad_multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), value=0.0)
    return x
