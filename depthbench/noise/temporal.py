"""Temporal flicker for sequences: per-env state that evolves frame to frame and is reset when an episode restarts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from depthbench.errors import DepthbenchError
from depthbench.noise.base import NoiseModel, rand, randn
from depthbench.noise.registry import register_noise


@register_noise
@dataclass(repr=False)
class Flicker(NoiseModel):
    """Pixels drop in and out over time, and each env's depth scale drifts.

    Missing pixels follow a per-pixel Markov chain: with probability `persistence` a pixel keeps last frame's state,
    else it is redrawn missing with probability `p`, so a fraction p is missing in every frame (stationary) and
    holes last 1 / (1 - persistence (1 - p)) frames on average. A per-env AR(1) factor
    s_t = persistence s_{t-1} + sqrt(1 - persistence^2) N(0, scale_std^2) multiplies depth by (1 + s_t), the slow
    exposure / temperature drift of ToF and structured-light sensors. State is per env (batch row); call
    `reset(env_ids)` when those envs start a new episode so they redraw from the stationary distribution.
    """

    p: float = 0.01
    persistence: float = 0.8
    scale_std: float = 0.002

    name = "flicker"
    summary = "temporal flicker: Markov pixel dropout (rate p) + per-env AR(1) depth-scale drift; reset(env_ids)"
    source = "temporal noise of RGB-D sensors (Mallick, Das & Majumdar 2014 survey); AR(1) / Markov chain model"

    def validate(self) -> None:
        self._require(0 <= self.p <= 1 and 0 <= self.persistence < 1, "need p in [0, 1], persistence in [0, 1)")
        self._require(0 <= self.scale_std < 0.5, "scale_std must be in [0, 0.5)")
        self._missing: torch.Tensor | None = None  # (N, C, H, W) bool
        self._scale: torch.Tensor | None = None  # (N,)
        self._fresh: torch.Tensor | None = None  # (N,) bool: redraw from the stationary distribution

    def reset(self, env_ids: Sequence[int] | torch.Tensor | None = None) -> None:
        if env_ids is None or self._fresh is None:
            self._missing = self._scale = self._fresh = None
            return
        ids = torch.as_tensor(env_ids, dtype=torch.long).reshape(-1)
        num_envs = self._fresh.shape[0]
        if ids.numel() and (ids.min() < 0 or ids.max() >= num_envs):
            raise DepthbenchError(f"flicker.reset: env ids must be in [0, {num_envs}), got {ids.tolist()}")
        self._fresh[ids.to(self._fresh.device)] = True

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = depth_m.shape[0]
        if self._missing is None:
            self._missing = torch.zeros(depth_m.shape, dtype=torch.bool, device=depth_m.device)
            self._scale = torch.zeros(n, dtype=depth_m.dtype, device=depth_m.device)
            self._fresh = torch.ones(n, dtype=torch.bool, device=depth_m.device)
        elif self._missing.shape != depth_m.shape or self._missing.device != depth_m.device:
            raise DepthbenchError(
                f"flicker holds state for depth {tuple(self._missing.shape)} on {self._missing.device}, got "
                f"{tuple(depth_m.shape)} on {depth_m.device}; call reset() before changing batch shape or device"
            )
        assert self._scale is not None and self._fresh is not None
        fresh = self._fresh.view(n, 1, 1, 1)
        keep = (rand(depth_m, generator) < self.persistence) & ~fresh
        self._missing = torch.where(keep, self._missing, rand(depth_m, generator) < self.p)
        innovation = randn(depth_m, generator, (n,)) * self.scale_std
        drifted = self.persistence * self._scale + math.sqrt(1 - self.persistence**2) * innovation
        self._scale = torch.where(self._fresh, innovation, drifted.to(depth_m.dtype))
        self._fresh = torch.zeros_like(self._fresh)
        scaled = depth_m * (1 + self._scale.view(n, 1, 1, 1)).clamp_min(0)
        return torch.where(self._missing, torch.zeros((), dtype=depth_m.dtype), scaled)
