"""A small analytic depth scene (floor, back wall, a box and a sphere) for previews, benchmarks and tests: real
edges, slanted planes and a depth range of 0.5-6 m, without a simulator."""

from __future__ import annotations

import math

import torch


def synthetic_depth(num_images: int, height: int, width: int, *, hfov_deg: float = 90.0, seed: int = 0) -> torch.Tensor:
    """(num_images, 1, height, width) float32 z-depth in metres of a camera 0.6 m above the floor looking along the
    floor; the box and sphere move from image to image (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    focal = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
    v, u = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    ray = torch.stack([(u - width / 2) / focal, -(v - height / 2) / focal, torch.ones_like(u)], -1)  # z = 1
    rays = ray.expand(num_images, height, width, 3)
    inf = torch.full((num_images, height, width), math.inf)

    def draw(low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(num_images, generator=generator)).view(-1, 1, 1)

    camera_height_m = 0.6
    floor = torch.where(rays[..., 1] < 0, -camera_height_m / rays[..., 1].clamp(max=-1e-6), inf)
    wall = draw(4.0, 6.0).expand_as(floor)

    # Sphere: |t r - c|^2 = R^2 with r = (x, y, 1), so t is a depth directly.
    centre = torch.stack([draw(-1.0, 1.0), draw(-0.3, 0.3), draw(1.5, 3.0)], -1)
    radius = draw(0.2, 0.5)
    a = rays.square().sum(-1)
    b = -2 * (rays * centre).sum(-1)
    c = centre.square().sum(-1) - radius.square()
    disc = b.square() - 4 * a * c
    sphere = torch.where(disc >= 0, (-b - disc.clamp_min(0).sqrt()) / (2 * a), inf)

    # Box on the floor: slab intersection with the axis-aligned box [lo, hi].
    box_x, box_z, half = draw(-1.5, 1.5), draw(1.0, 3.5), draw(0.15, 0.4)
    lo = torch.stack([box_x - half, torch.full_like(box_x, -camera_height_m), box_z - half], -1)
    hi = torch.stack([box_x + half, -camera_height_m + 2 * half, box_z + half], -1)
    with torch.no_grad():
        t1, t2 = lo / rays, hi / rays
        t_near = torch.minimum(t1, t2).amax(-1)
        t_far = torch.maximum(t1, t2).amin(-1)
    box = torch.where((t_near <= t_far) & (t_near > 0), t_near, inf)

    depth = torch.stack([floor, wall, sphere.where(sphere > 0, inf), box]).amin(0)
    return depth.unsqueeze(1).float()
