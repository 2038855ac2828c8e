"""Noise on the depth VALUE of valid pixels: additive, depth-dependent (axial) and multiplicative speckle."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from depthbench.noise.base import NoiseModel, blob_mask, correlated_randn, randn
from depthbench.noise.registry import register_noise


@register_noise
@dataclass(repr=False)
class Gaussian(NoiseModel):
    """z' = z + N(0, std_m^2) on valid pixels; the textbook baseline, independent of depth."""

    std_m: float = 0.01

    name = "gaussian"
    summary = "additive Gaussian noise of fixed std on valid pixels"
    source = "standard additive white Gaussian noise"

    def validate(self) -> None:
        self._require(self.std_m >= 0, "std_m must be >= 0")

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noisy = depth_m + self.std_m * randn(depth_m, generator)
        return torch.where(depth_m > 0, noisy, depth_m)


@register_noise
@dataclass(repr=False)
class Axial(NoiseModel):
    """z' = z + N(0, sigma(z)^2), sigma(z) = a_m + b_per_m * z^2: the axial noise of triangulating sensors.

    Triangulation gives sigma_z = z^2 sigma_d / (f b), hence the z^2 term (Nguyen, Izadi & Lovell 2012, "Modeling
    Kinect sensor noise", 3DIMPVT: sigma = 0.0012 + 0.0019 (z - 0.4)^2 m; the defaults drop the 0.4 m offset).
    """

    a_m: float = 0.0012
    b_per_m: float = 0.0019

    name = "axial"
    summary = "depth-dependent Gaussian, sigma(z) = a + b*z^2 (structured light / stereo axial noise)"
    source = "Nguyen, Izadi & Lovell 2012 (Kinect axial noise); Intel D400 RMS-error formula"

    def validate(self) -> None:
        self._require(self.a_m >= 0 and self.b_per_m >= 0, "a_m and b_per_m must be >= 0")

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        sigma = self.a_m + self.b_per_m * depth_m.square()
        noisy = depth_m + sigma * randn(depth_m, generator)
        return torch.where(depth_m > 0, noisy, depth_m)


@register_noise
@dataclass(repr=False)
class Speckle(NoiseModel):
    """Multiplicative, spatially correlated grains: inside grains covering fraction `p` of the image,
    z' = z * (1 + std * n) with n a unit Gaussian field correlated over `size_px` pixels; outside, z' = z.

    The grainy relative error of active-illumination sensors (laser speckle, IR pattern interference) scales with
    depth; DeFM (Patel et al. 2026) trains its grasping student with speckle + dropout. p=1 gives dense correlated
    multiplicative noise.
    """

    p: float = 0.02
    std: float = 0.05
    size_px: float = 2.0

    name = "speckle"
    summary = "multiplicative spatially correlated grains covering fraction p, relative std `std`"
    source = "DeFM (Patel et al. 2026) training augmentation; multiplicative speckle model"

    def validate(self) -> None:
        self._require(0 <= self.p <= 1, "p must be in [0, 1]")
        self._require(0 <= self.std < 1, "std must be in [0, 1)")
        self._require(0 <= self.size_px <= 16, "size_px must be in [0, 16]")

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        grains = blob_mask(depth_m, generator, self.p, self.size_px)
        factor = 1 + self.std * correlated_randn(depth_m, generator, self.size_px)
        return torch.where(grains, depth_m * factor.clamp_min(0), depth_m)
