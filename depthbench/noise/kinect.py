"""Kinect-style structured light: lateral jitter, disparity-domain noise and 1/8-pixel quantization, holes at depth
edges and in the projector's shadow.

After Handa et al. 2014 (ICL-NUIM, "A benchmark for RGB-D visual odometry, 3D reconstruction and SLAM", ICRA) and
Barron & Malik 2013 ("Intrinsic scene properties from a single RGB-D image", CVPR): bilinear resampling at pixel
positions jittered by N(0, 0.5 px), disparity noise of 1/6 of a 1/8-pixel disparity step, disparity rounded to 1/8 px
(the PrimeSense sub-pixel resolution, Konolige & Mihelich 2011), and invalid pixels where the dot pattern cannot be
matched (depth edges, IR shadows).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from depthbench.noise.base import NoiseModel, discontinuity, focal_px, occluded_in_second_view, randn
from depthbench.noise.registry import register_noise


def jitter_resample(depth_m: torch.Tensor, offsets_px: torch.Tensor) -> torch.Tensor:
    """Sample depth at pixel + offsets (2, N, C, H, W): bilinear where all four taps are valid, nearest elsewhere
    (blending with a hole would invent depth)."""
    n, c, h, w = depth_m.shape
    ys = torch.arange(h, device=depth_m.device, dtype=depth_m.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=depth_m.device, dtype=depth_m.dtype).view(1, 1, 1, w)
    x = ((xs + offsets_px[0]).clamp(0, w - 1) * 2 / max(w - 1, 1) - 1).reshape(n * c, h, w)
    y = ((ys + offsets_px[1]).clamp(0, h - 1) * 2 / max(h - 1, 1) - 1).reshape(n * c, h, w)
    grid = torch.stack([x, y], dim=-1)
    flat = depth_m.reshape(n * c, 1, h, w)
    with_coverage = torch.cat([flat, (flat > 0).to(flat.dtype)], dim=1)  # one bilinear pass for depth and validity
    bilinear, coverage = F.grid_sample(with_coverage, grid, mode="bilinear", align_corners=True).unbind(1)
    nearest = F.grid_sample(flat, grid, mode="nearest", align_corners=True).squeeze(1)
    return torch.where(coverage > 1 - 1e-4, bilinear, nearest).view(n, c, h, w)


@register_noise
@dataclass(repr=False)
class Kinect(NoiseModel):
    """Structured-light (PrimeSense / Kinect v1) model. Disparity d = f b / z is in pixels of the sensor's native
    image (`native_width_px`, focal from `hfov_deg`); jitter and shadows are rescaled to the rendered width.

    The projector sits on the camera's +x side (Kinect v1: projector and IR camera at the two ends of the bar), so IR
    shadows fall to the left of foreground objects; mirror the image for the opposite layout.

    Parameters: baseline_m (IR projector-camera baseline), hfov_deg, native_width_px, shift_std_px (lateral jitter,
    native px), disparity_std_px (disparity noise, native px), subpixel (disparity steps per pixel), edge_jump
    (relative depth jump that breaks pattern matching), shadows (1 = invalidate the projector's shadow).
    """

    baseline_m: float = 0.075
    hfov_deg: float = 57.0
    native_width_px: int = 640
    shift_std_px: float = 0.5
    disparity_std_px: float = 0.125 / 6
    subpixel: int = 8
    edge_jump: float = 0.05
    shadows: int = 1

    name = "kinect"
    summary = "structured light: jitter, disparity noise + 1/8 px quantization, edge holes, IR shadows"
    source = "Handa et al. 2014 (ICL-NUIM); Barron & Malik 2013; Kinect v1: 7.5 cm baseline, 57 deg HFOV, 640 px"

    def validate(self) -> None:
        self._require(self.baseline_m > 0 and 1 <= self.hfov_deg < 179, "need baseline_m > 0, hfov_deg in [1, 179)")
        self._require(self.native_width_px >= 1 and self.subpixel >= 1, "need native_width_px >= 1, subpixel >= 1")
        self._require(self.shift_std_px >= 0 and self.disparity_std_px >= 0, "noise stds must be >= 0")
        self._require(self.edge_jump > 0 and self.shadows in (0, 1), "need edge_jump > 0 and shadows in {0, 1}")

    @property
    def focal_baseline_px_m(self) -> float:
        return focal_px(self.native_width_px, self.hfov_deg) * self.baseline_m

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        width = depth_m.shape[-1]
        image_px_per_native_px = width / self.native_width_px
        offsets = randn(depth_m, generator, (2, *depth_m.shape)) * (self.shift_std_px * image_px_per_native_px)
        shifted = jitter_resample(depth_m, offsets)
        valid = shifted > 0
        fb = self.focal_baseline_px_m
        disparity = fb / torch.where(valid, shifted, torch.ones((), dtype=shifted.dtype))
        noisy = disparity + self.disparity_std_px * randn(depth_m, generator)
        quantized = torch.round(noisy * self.subpixel) / self.subpixel
        out = torch.where(valid & (quantized > 0), fb / quantized.clamp_min(1e-6), torch.zeros((), dtype=depth_m.dtype))
        holes = discontinuity(shifted, self.edge_jump)
        if self.shadows:
            holes |= occluded_in_second_view(disparity * image_px_per_native_px, valid)
        return torch.where(holes, torch.zeros((), dtype=depth_m.dtype), out)
