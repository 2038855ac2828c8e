"""PCA images of dense features beside the depth (as in the DeFM paper's figures), and a procedural demo scene."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def pca_rgb(dense: torch.Tensor) -> np.ndarray:
    """(h, w, 3) in [0, 1]: the first three principal components of a (C, h, w) feature map, one per colour.

    Each component is stretched between its 1st and 99th percentile so a few outlier tokens do not wash it out.
    """
    channels, height, width = dense.shape
    tokens = dense.detach().float().cpu().reshape(channels, -1).T
    tokens = tokens - tokens.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(tokens, full_matrices=False)
    components = tokens @ vh[: min(3, vh.shape[0])].T
    if components.shape[1] < 3:
        components = torch.cat([components, torch.zeros(components.shape[0], 3 - components.shape[1])], dim=1)
    low = torch.quantile(components, 0.01, dim=0)
    high = torch.quantile(components, 0.99, dim=0)
    rgb = ((components - low) / torch.clamp(high - low, min=1e-8)).clamp(0.0, 1.0)
    return rgb.reshape(height, width, 3).numpy()


def save_depth_pca_figure(depth_m: np.ndarray, rgb: np.ndarray, path: str | os.PathLike, title: str) -> Path:
    """Write depth (invalid pixels black) and the PCA image side by side to `path` (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    shown = np.ma.masked_where(depth_m <= 0, depth_m)
    image = left.imshow(shown, cmap=matplotlib.colormaps["turbo"].with_extremes(bad="black"))
    figure.colorbar(image, ax=left, fraction=0.046, pad=0.04, label="depth [m]")
    left.set_title("depth (black: no return)")
    right.imshow(rgb, interpolation="nearest", extent=(0, depth_m.shape[1], depth_m.shape[0], 0))
    right.set_title("PCA of dense features (3 components)")
    for axis in (left, right):
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    os.replace(tmp, path)
    return path


def procedural_room_depth(
    seed: int, height: int = 120, width: int = 160, num_boxes: int = 5, focal_px: float | None = None
) -> np.ndarray:
    """(height, width) z-depth in metres of a seeded room seen by a pinhole camera 1 m above the floor.

    The room spans x in [-3, 3] m (sideways), z in [0, 2.6] m (up) and y up to 8 m ahead, with `num_boxes`
    axis-aligned boxes on the floor and a doorway in the back wall opening onto a far wall at 40 m. Rays are
    intersected analytically (planes and the slab test for boxes, Kay & Kajiya 1986).
    """
    rng = np.random.default_rng(seed)
    focal = focal_px if focal_px is not None else 0.9 * width  # ~58 deg horizontal field of view
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    # Camera frame to world: x right, y forward (optical axis), z up. A ray with forward component 1 has t = z-depth.
    directions = np.stack(
        [(cols + 0.5 - width / 2) / focal, np.ones_like(rows), -(rows + 0.5 - height / 2) / focal], axis=-1
    )
    origin = np.array([0.0, 0.0, 1.0])
    depth = np.full((height, width), np.inf)

    def hit_plane(axis: int, value: float, keep: np.ndarray | None = None) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (value - origin[axis]) / directions[..., axis]
        valid = (t > 0) if keep is None else (t > 0) & keep(origin + t[..., None] * directions)
        np.minimum(depth, np.where(valid, t, np.inf), out=depth)

    hit_plane(2, 0.0)  # floor
    hit_plane(2, 2.6)  # ceiling
    hit_plane(0, -3.0)
    hit_plane(0, 3.0)
    door_x = rng.uniform(-1.5, 1.0)
    hit_plane(1, 8.0, lambda p: ~((p[..., 0] > door_x) & (p[..., 0] < door_x + 1.0) & (p[..., 2] < 2.1)))
    hit_plane(1, 40.0)
    for _ in range(num_boxes):
        size = rng.uniform([0.3, 0.3, 0.3], [1.2, 1.2, 1.5])
        centre = np.array([rng.uniform(-2.4, 2.4), rng.uniform(1.5, 7.0), size[2] / 2])
        low, high = centre - size / 2, centre + size / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = (low - origin) / directions, (high - origin) / directions
        t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
        t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
        hit = (t_far >= t_near) & (t_near > 0)
        np.minimum(depth, np.where(hit, t_near, np.inf), out=depth)
    return depth.astype(np.float32)
