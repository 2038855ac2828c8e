"""Active/passive stereo matching artefacts (RealSense D400, ZED): disparity error of fixed sub-pixel std, so depth
error grows with z^2; no depth where the second camera is occluded, too close (beyond the disparity search range),
at grazing angles, or on untextured planes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from depthbench.noise.base import (
    NoiseModel,
    blob_mask,
    correlated_randn,
    focal_px,
    neighbor_stack,
    occluded_in_second_view,
)
from depthbench.noise.registry import register_noise


@register_noise
@dataclass(repr=False)
class Stereo(NoiseModel):
    """z' = f b / (f b / z + subpixel_std_px * n): RMS error z^2 * subpixel / (f b) (Intel, "Tuning depth cameras
    for best performance", D400 BKM whitepaper). n is correlated over the matching window (`window_px`, native px).

    Invalid (0): pixels the right camera cannot see (occlusion shadow left of foreground objects and the left band,
    Intel D400 datasheet); disparity above `max_disparity_px` (closer than min-Z); surfaces seen at more than
    `max_incidence_deg` from their normal (foreshortening destroys matchable texture; angle from the depth gradient,
    tan(theta) ~ |grad z| f / z); and a fraction `textureless_p` of planar regions (walls, floors: where passive
    stereo finds no texture), as blobs. Geometry only: we have no texture to match.
    """

    baseline_m: float = 0.05
    hfov_deg: float = 87.0
    native_width_px: int = 848
    subpixel_std_px: float = 0.08
    window_px: float = 7.0
    max_disparity_px: float = 126.0
    max_incidence_deg: float = 85.0
    textureless_p: float = 0.0
    occlusion: int = 1

    name = "stereo"
    summary = "stereo matching: z^2 error from sub-pixel disparity noise, occlusion/min-Z/grazing/texture holes"
    source = "Intel D400 BKM whitepaper (RMS = z^2 * subpixel / (f*b)); Intel D400 datasheet (occlusion band)"

    def validate(self) -> None:
        self._require(self.baseline_m > 0 and 1 <= self.hfov_deg < 179, "need baseline_m > 0, hfov_deg in [1, 179)")
        self._require(self.native_width_px >= 1 and self.subpixel_std_px >= 0, "need native_width_px >= 1, std >= 0")
        self._require(self.window_px >= 0 and self.max_disparity_px > 0, "need window_px >= 0, max_disparity_px > 0")
        self._require(0 < self.max_incidence_deg <= 90, "max_incidence_deg must be in (0, 90]")
        self._require(0 <= self.textureless_p <= 1 and self.occlusion in (0, 1), "need textureless_p in [0, 1]")

    @property
    def focal_baseline_px_m(self) -> float:
        return focal_px(self.native_width_px, self.hfov_deg) * self.baseline_m

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        zero = torch.zeros((), dtype=depth_m.dtype)
        width = depth_m.shape[-1]
        image_px_per_native_px = width / self.native_width_px
        valid = depth_m > 0
        fb = self.focal_baseline_px_m
        safe = torch.where(valid, depth_m, torch.ones((), dtype=depth_m.dtype))
        disparity = fb / safe
        error = correlated_randn(depth_m, generator, self.window_px * image_px_per_native_px / 2)
        noisy = disparity + self.subpixel_std_px * error
        out = torch.where(valid & (noisy > 0), fb / noisy.clamp_min(1e-6), zero)

        holes = disparity > self.max_disparity_px
        if self.occlusion:
            holes |= occluded_in_second_view(disparity * image_px_per_native_px, valid)
        if self.max_incidence_deg < 90 or self.textureless_p > 0:
            neighbors = neighbor_stack(depth_m)
            neighbors = torch.where(neighbors > 0, neighbors, depth_m)
            grad = torch.hypot(neighbors[3] - neighbors[2], neighbors[1] - neighbors[0]) / 2
            tan_incidence = grad * focal_px(width, self.hfov_deg) / safe
            holes |= tan_incidence > math.tan(math.radians(self.max_incidence_deg))
            if self.textureless_p > 0:
                # Inverse depth is affine in pixel coordinates on any plane: vanishing second differences mark planes.
                inverse = 1 / neighbors
                curvature = (inverse[0] + inverse[1] - 2 / safe).abs() + (inverse[2] + inverse[3] - 2 / safe).abs()
                planar = curvature < 1e-3 / safe
                holes |= planar & blob_mask(depth_m, generator, self.textureless_p, 4.0)
        return torch.where(holes, zero, out)
