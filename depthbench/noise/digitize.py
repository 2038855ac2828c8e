"""What the sensor's output format does: depth quantization and the min/max range outside which it returns 0."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from depthbench.noise.base import NoiseModel
from depthbench.noise.registry import register_noise


@register_noise
@dataclass(repr=False)
class Quantize(NoiseModel):
    """z' = step_m * round(z / step_m): uniform depth quantization (1 mm = uint16 millimetre depth images).

    Disparity-domain quantization of triangulating sensors (steps growing with z^2) is part of `kinect`, `stereo`
    and `redwood`.
    """

    step_m: float = 0.001

    name = "quantize"
    summary = "round depth to multiples of step_m (uint16 mm images: 0.001)"
    source = "uint16 millimetre depth encoding (RealSense z16, Kinect v2 SDK, TUM RGB-D at 1/5000 m)"

    def validate(self) -> None:
        self._require(self.step_m > 0, "step_m must be > 0")

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.round(depth_m / self.step_m) * self.step_m


@register_noise
@dataclass(repr=False)
class Range(NoiseModel):
    """Depth outside [min_m, max_m] becomes 0: sensors report no return, they do not clamp."""

    min_m: float = 0.1
    max_m: float = 10.0

    name = "range"
    summary = "invalidate (0) depth below min_m or above max_m"
    source = "operating range from each sensor's datasheet (see profiles)"

    def validate(self) -> None:
        self._require(0 <= self.min_m < self.max_m, "need 0 <= min_m < max_m")

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        inside = (depth_m >= self.min_m) & (depth_m <= self.max_m)
        return torch.where(inside, depth_m, torch.zeros((), dtype=depth_m.dtype))
