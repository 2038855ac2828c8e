"""Missing data: random pixel dropout, blob holes, and flying pixels / invalidation at depth edges."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from depthbench.noise.base import NoiseModel, blob_mask, discontinuity, extreme3x3, rand
from depthbench.noise.registry import register_noise


@register_noise
@dataclass(repr=False)
class Dropout(NoiseModel):
    """Each pixel independently becomes invalid (0) with probability p: isolated missing returns."""

    p: float = 0.05

    name = "dropout"
    summary = "each pixel independently set to 0 with probability p"
    source = "DeFM (Patel et al. 2026) training augmentation; i.i.d. Bernoulli dropout"

    def validate(self) -> None:
        self._require(0 <= self.p <= 1, "p must be in [0, 1]")

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.where(rand(depth_m, generator) < self.p, torch.zeros((), dtype=depth_m.dtype), depth_m)


@register_noise
@dataclass(repr=False)
class Holes(NoiseModel):
    """Missing patches (absorbing, specular or transparent surfaces, sunlight): blobs about `size_px` across,
    covering fraction `p` of the image in expectation, set to 0."""

    p: float = 0.02
    size_px: float = 3.0

    name = "holes"
    summary = "blob-shaped holes (value 0) covering fraction p, blobs ~size_px across"
    source = "thresholded Gaussian random field; missing-patch augmentation for RGB-D sim-to-real"

    def validate(self) -> None:
        self._require(0 <= self.p <= 1, "p must be in [0, 1]")
        self._require(0 < self.size_px <= 16, "size_px must be in (0, 16]")

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        holes = blob_mask(depth_m, generator, self.p, self.size_px)
        return torch.where(holes, torch.zeros((), dtype=depth_m.dtype), depth_m)


@register_noise
@dataclass(repr=False)
class Edge(NoiseModel):
    """At depth discontinuities (a step of more than `jump` relative depth; planes, however slanted, are not edges), a
    pixel is invalid with probability `p_invalid`, else a flying pixel at a uniform depth between the two surfaces.

    Mixed pixels come from a footprint straddling two surfaces (ToF / LiDAR) and from matching windows spanning an
    edge (stereo); sensors' filters remove some of them (Fankhauser et al. 2015, Kinect v2 evaluation; Intel D400).
    """

    jump: float = 0.05
    p_invalid: float = 0.5

    name = "edge"
    summary = "depth-edge pixels: invalid with p_invalid, else flying pixels between the two surfaces"
    source = "mixed-pixel effect: Fankhauser et al. 2015 (Kinect v2); Intel D400 BKMs"

    def validate(self) -> None:
        self._require(self.jump > 0, "jump must be > 0")
        self._require(0 <= self.p_invalid <= 1, "p_invalid must be in [0, 1]")

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        edges = discontinuity(depth_m, self.jump)
        # The other surface: the 3x3 neighbourhood's valid depth extreme farther from this pixel.
        near = extreme3x3(torch.where(depth_m > 0, depth_m, math.inf), math.inf, torch.minimum)
        far = extreme3x3(depth_m, 0.0, torch.maximum)
        across = torch.where(near + far < 2 * depth_m, near, far)
        u = rand(depth_m, generator)
        # Given u >= p_invalid, (u - p_invalid) / (1 - p_invalid) is again uniform: one draw serves both choices.
        fraction = (u - self.p_invalid).mul_(1 / max(1 - self.p_invalid, 1e-12))
        out = torch.where(
            u < self.p_invalid, torch.zeros((), dtype=depth_m.dtype), torch.lerp(depth_m, across, fraction)
        )
        return torch.where(edges, out, depth_m)
