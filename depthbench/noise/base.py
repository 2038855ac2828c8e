"""The noise-model protocol, pipelines, and the few tensor helpers several models share.

A noise model maps CLEAN metric depth (N, C, H, W) in metres (0 = no return) to what a sensor would report: same shape
and dtype, invalid pixels exactly 0, never NaN/Inf. All randomness comes from the caller's `torch.Generator`, so one
seed reproduces one noise draw on any device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from depthbench.errors import DepthbenchError


def _format_value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def check_depth(depth_m: Any, generator: Any) -> None:
    """Reject what no model can handle, with a message that says what to pass instead."""
    if not isinstance(depth_m, torch.Tensor):
        raise DepthbenchError(f"noise models take a torch.Tensor of metric depth, got {type(depth_m).__name__}")
    if depth_m.dim() != 4:
        raise DepthbenchError(
            f"noise models take depth of shape (N, C, H, W), got shape {tuple(depth_m.shape)}; "
            "add the missing axes with depth[:, None] (one camera) or depth[None] (one image)"
        )
    if depth_m.numel() == 0:
        raise DepthbenchError(f"empty depth batch of shape {tuple(depth_m.shape)}; pass at least one non-empty image")
    if not depth_m.is_floating_point():
        raise DepthbenchError(f"depth must be floating-point metres, got {depth_m.dtype}; convert with .float()")
    if not isinstance(generator, torch.Generator):
        raise DepthbenchError("noise models need an explicit torch.Generator, e.g. torch.Generator().manual_seed(0)")
    if generator.device.type != depth_m.device.type:
        raise DepthbenchError(
            f"generator is on {generator.device} but depth is on {depth_m.device}; "
            f"create it with torch.Generator(device='{depth_m.device}')"
        )


def sanitize(depth_m: torch.Tensor) -> torch.Tensor:
    """NaN, +-Inf, negative and zero all mean 'no return': map them to exactly 0."""
    return torch.nan_to_num(depth_m, nan=0.0, posinf=0.0, neginf=0.0).clamp_min_(0.0)


class NoiseModel:
    """Base of every model. Subclasses are dataclasses whose fields are the spec parameters (with defaults)."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    source: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise DepthbenchError(f"{self.name}: {f.name} must be finite, got {value}")
        self.validate()

    def validate(self) -> None:
        """Raise DepthbenchError for parameters outside their physical range."""

    def _require(self, ok: bool, what: str) -> None:
        if not ok:
            raise DepthbenchError(f"{self.spec}: {what}")

    @property
    def spec(self) -> str:
        """Canonical spec string: `build_noise(model.spec)` rebuilds an equal model."""
        params = ",".join(f"{f.name}={_format_value(getattr(self, f.name))}" for f in fields(self))  # type: ignore[arg-type]
        return f"{self.name}({params})" if params else self.name

    def __repr__(self) -> str:
        return f"NoiseModel({self.spec!r})"

    def __call__(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        check_depth(depth_m, generator)
        # Half precision would round depth to ~mm steps at a few metres and overflow disparity maths: work in float32.
        work_dtype = torch.float64 if depth_m.dtype == torch.float64 else torch.float32
        out = sanitize(self.apply(sanitize(depth_m.to(work_dtype)), generator))
        return out.to(depth_m.dtype)

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The model itself. Input: finite depth, valid where > 0. Output: finite, valid where > 0 (a negative value
        is invalid to every model and becomes 0 at the end); never NaN/Inf, so pipelines need no cleaning between
        stages."""
        raise NotImplementedError

    def reset(self, env_ids: Sequence[int] | torch.Tensor | None = None) -> None:
        """Forget per-env temporal state (no-op for memoryless models); `None` resets every env."""


class Pipeline(NoiseModel):
    """Models applied left to right, as written in a spec `a(...)+b(...)`; a named pipeline is a sensor profile."""

    def __init__(self, models: Sequence[NoiseModel], name: str | None = None) -> None:
        self.models = list(models)
        self.profile_name = name

    @property
    def spec(self) -> str:
        if self.profile_name is not None:
            return self.profile_name
        return "+".join(m.spec for m in self.models) or "clean"

    @property
    def expanded_spec(self) -> str:
        """The spec with profiles spelled out as their models."""
        parts = [m.expanded_spec if isinstance(m, Pipeline) else m.spec for m in self.models]
        return "+".join(p for p in parts if p != "clean") or "clean"

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for model in self.models:
            depth_m = model.apply(depth_m, generator)
        return depth_m

    def reset(self, env_ids: Sequence[int] | torch.Tensor | None = None) -> None:
        for model in self.models:
            model.reset(env_ids)


# --- helpers shared by several models ------------------------------------------------------------------------------


def randn(like: torch.Tensor, generator: torch.Generator, shape: Sequence[int] | None = None) -> torch.Tensor:
    shape = tuple(like.shape) if shape is None else tuple(shape)
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def rand(like: torch.Tensor, generator: torch.Generator, shape: Sequence[int] | None = None) -> torch.Tensor:
    shape = tuple(like.shape) if shape is None else tuple(shape)
    return torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)


def _interpolation_matrix(length: int, nodes: int, like: torch.Tensor) -> torch.Tensor:
    """(length, nodes) linear-interpolation weights from `nodes` evenly spaced grid points, each row scaled to unit
    L2 norm so that interpolated unit white noise has variance exactly 1 at every pixel."""
    position = torch.arange(length, dtype=torch.float64) * (nodes - 1) / max(length - 1, 1)
    weights = (1 - (position.view(-1, 1) - torch.arange(nodes, dtype=torch.float64)).abs()).clamp_min(0)
    weights = weights / weights.square().sum(1, keepdim=True).sqrt()
    return weights.to(device=like.device, dtype=like.dtype)


def correlated_randn(like: torch.Tensor, generator: torch.Generator, size_px: float) -> torch.Tensor:
    """Unit-variance Gaussian random field correlated over about `size_px` pixels (white noise for size_px <= 1).

    White noise on a grid of spacing ~size_px, linearly interpolated by two small matrix products whose rows have
    unit norm: every pixel is exactly N(0, 1), so thresholds give exact expected coverage. Hand-written because it
    is ~10x cheaper on CPU than conv2d blurs or F.interpolate of full-resolution single-channel noise.
    """
    n, c, h, w = like.shape
    if size_px <= 1:
        return randn(like, generator)
    rows, cols = math.ceil((h - 1) / size_px) + 1, math.ceil((w - 1) / size_px) + 1
    coarse = randn(like, generator, (n * c, rows, cols))
    field = _interpolation_matrix(h, rows, like) @ coarse @ _interpolation_matrix(w, cols, like).T
    return field.view(n, c, h, w)


def blob_mask(like: torch.Tensor, generator: torch.Generator, fraction: float, size_px: float) -> torch.Tensor:
    """Boolean mask covering `fraction` of pixels in expectation, as blobs about `size_px` pixels across.

    Thresholding a unit Gaussian field at its (1 - fraction) quantile makes the expected coverage exactly `fraction`.
    """
    if fraction <= 0:
        return torch.zeros(like.shape, dtype=torch.bool, device=like.device)
    if fraction >= 1:
        return torch.ones(like.shape, dtype=torch.bool, device=like.device)
    threshold = torch.special.ndtri(torch.tensor(1.0 - fraction, dtype=torch.float64)).item()
    return correlated_randn(like, generator, size_px) > threshold


def neighbor_stack(x: torch.Tensor) -> torch.Tensor:
    """The 4-neighbours (up, down, left, right) of every pixel, shape (4, N, C, H, W); borders repeat the edge pixel."""
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    h, w = x.shape[-2:]
    return torch.stack(
        [padded[..., :h, 1 : w + 1], padded[..., 2:, 1 : w + 1], padded[..., 1 : h + 1, :w], padded[..., 1 : h + 1, 2:]]
    )


def extreme3x3(x: torch.Tensor, pad_value: float, op: Any) -> torch.Tensor:
    """3x3 sliding max or min (`op` = torch.maximum / torch.minimum) as two separable passes; CPU max_pool2d is
    ~10x slower for one-channel images."""
    padded = F.pad(x, (1, 1, 1, 1), value=pad_value)
    rows = op(op(padded[..., :-2], padded[..., 1:-1]), padded[..., 2:])
    return op(op(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def discontinuity(depth_m: torch.Tensor, jump: float) -> torch.Tensor:
    """Pixels at a depth edge: along x or y, the second difference of inverse depth exceeds `jump` x its own value.

    Inverse depth is affine in pixel coordinates on any plane, so slanted floors and walls never count as edges (a
    plain relative-jump test flags every grazing floor); at a step from z1 to z2 the test reads |z1 / z2 - 1| > jump
    and marks the pixels on both sides.
    """
    valid = depth_m > 0
    inverse = torch.where(valid, 1 / depth_m.clamp_min(1e-6), torch.zeros((), dtype=depth_m.dtype))
    edges = torch.zeros_like(valid)
    for dim in (-1, -2):
        n = depth_m.shape[dim]
        if n < 3:
            continue
        before, centre, after = (inverse.narrow(dim, i, n - 2) for i in range(3))
        tested = valid.narrow(dim, 0, n - 2) & valid.narrow(dim, 1, n - 2) & valid.narrow(dim, 2, n - 2)
        edges.narrow(dim, 1, n - 2).logical_or_(tested & ((before + after - 2 * centre).abs() > jump * centre))
    return edges


def focal_px(width_px: float, hfov_deg: float) -> float:
    """Pinhole focal length in pixels from image width and horizontal field of view."""
    return 0.5 * width_px / math.tan(math.radians(hfov_deg) / 2)


def occluded_in_second_view(disparity_px: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Pixels the second view (camera or projector, displaced to +x) cannot see: stereo occlusion / IR shadow.

    In the reference image a pixel u maps to u - d(u) in the second view; a nearer pixel u + k hides it there when
    d(u + k) - d(u) >= k. So shadows fall to the LEFT of foreground objects, and the left `d` columns see nothing
    (the D400 'invalid depth band', Intel D400 datasheet). `disparity_px` is in pixels of this image.
    """
    w = disparity_px.shape[-1]
    d = torch.where(valid, disparity_px, torch.zeros((), dtype=disparity_px.dtype))
    columns = torch.arange(w, device=d.device, dtype=d.dtype)
    hidden = columns < d  # u - d(u) < 0: outside the second view's image
    max_k = min(w - 1, math.ceil(float(d.max())) if d.numel() else 0)
    for k in range(1, max_k + 1):
        hidden[..., : w - k] |= (d[..., k:] - d[..., : w - k]) >= k
    return hidden & valid
