"""Feature heads: turn an encoder's global embedding and dense maps into the policy feature of fixed size.

Default: "global+grid" (feature_dim 256). The global embedding (DeFM: CLS token / pooled C5) says *what* is in view
but not *where*; navigation and manipulation policies need coarse layout (obstacle left or right, near or far). A 3x3
average-pooled grid of the finest dense map keeps that layout for one linear layer of cost and no extra
convolutions, so frozen-encoder runs stay cheap. "conv" (a small trainable compression conv over the dense map, as
Habitat's ResNet encoder uses) learns which channels matter and suits fine-tuning; "global" is the smallest and is
the right probe when asking what the global token alone carries. 256 matches common rsl-rl / Habitat policy widths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from depthbench.errors import DepthbenchError

HEADS = ("global", "global+grid", "conv")
DEFAULT_HEAD = "global+grid"
GRID_CELLS = 3  # 3x3: left/centre/right by top/middle/bottom
CONV_CHANNELS = 32
CONV_CELLS = 4


class GlobalHead(nn.Module):
    """Linear projection of the global embedding."""

    def __init__(self, global_dim: int, dense_channels: int, feature_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(global_dim, feature_dim)

    def forward(self, global_embedding: torch.Tensor, dense: list[torch.Tensor]) -> torch.Tensor:
        return self.proj(global_embedding)


class GlobalGridHead(nn.Module):
    """Global embedding concatenated with the finest dense map average-pooled to a 3x3 grid, then projected."""

    def __init__(self, global_dim: int, dense_channels: int, feature_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(global_dim + dense_channels * GRID_CELLS**2, feature_dim)

    def forward(self, global_embedding: torch.Tensor, dense: list[torch.Tensor]) -> torch.Tensor:
        grid = F.adaptive_avg_pool2d(dense[0], GRID_CELLS).flatten(1)
        return self.proj(torch.cat([global_embedding, grid], dim=1))


class ConvHead(nn.Module):
    """3x3 conv compressing the finest dense map to 32 channels (GroupNorm, ReLU), pooled to 4x4, then projected."""

    def __init__(self, global_dim: int, dense_channels: int, feature_dim: int) -> None:
        super().__init__()
        self.compress = nn.Sequential(
            nn.Conv2d(dense_channels, CONV_CHANNELS, 3, padding=1, bias=False),
            nn.GroupNorm(1, CONV_CHANNELS),
            nn.ReLU(inplace=True),
        )
        self.proj = nn.Linear(CONV_CHANNELS * CONV_CELLS**2, feature_dim)

    def forward(self, global_embedding: torch.Tensor, dense: list[torch.Tensor]) -> torch.Tensor:
        return self.proj(F.adaptive_avg_pool2d(self.compress(dense[0]), CONV_CELLS).flatten(1))


def build_head(head: str, global_dim: int, dense_channels: int, feature_dim: int) -> nn.Module:
    """The head named `head` (one of HEADS) producing `feature_dim` features."""
    classes = {"global": GlobalHead, "global+grid": GlobalGridHead, "conv": ConvHead}
    if head not in classes:
        raise DepthbenchError(f"unknown feature head {head!r}; choose one of {', '.join(HEADS)}")
    if feature_dim <= 0:
        raise DepthbenchError(f"feature_dim must be a positive integer, got {feature_dim}")
    return classes[head](global_dim, dense_channels, feature_dim)
