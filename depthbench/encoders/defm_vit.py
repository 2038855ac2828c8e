"""DINOv2-style Vision Transformer, as used by DeFM ViT-S/14 and ViT-L/14 (and the DINOv2 baseline).

Facts from the official code (leggedrobotics/defm 1.1.0 models/vision_transformer.py and configs/defm_vit_*.yaml,
which follow DINOv2, Oquab et al. 2023): patch 14, learned position embedding for a 224 image (16x16 + CLS) that is
bicubically resized to other grids with DINOv2's +0.1 scale offset, LayerNorm eps 1e-6, LayerScale init 1e-5, SwiGLU
FFN ("swiglufused": hidden = 8 * ceil((2/3 * 4d) / 8)), biases on qkv/proj/ffn, no register tokens, a
`mask_token` (iBOT masking in `depthbench pretrain`), blocks stored in 4 chunks (`blocks.<chunk>.<index>`). The global
embedding is the normed CLS token; the dense map is the normed patch tokens as (N, D, H/14, W/14).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from depthbench.encoders.preprocess import defm_preprocess
from depthbench.encoders.registry import defm_weights, register_encoder


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, tokens, dim))


class SwiGLU(nn.Module):
    """SwiGLU FFN (Shazeer 2020) with DINOv2's hidden width rounding to a multiple of 8."""

    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = (int(dim * mlp_ratio * 2 / 3) + 7) // 8 * 8
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


class Mlp(nn.Module):
    """GELU MLP (the FFN of the original DINOv2 ViT-S/B/L)."""

    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.act = nn.GELU()
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_value: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, ffn: str, layerscale: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim, layerscale)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = SwiGLU(dim, 4.0) if ffn == "swiglu" else Mlp(dim, 4.0)
        self.ls2 = LayerScale(dim, layerscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoViT(nn.Module):
    """Bare ViT on normalized input (H, W multiples of the patch): returns (CLS (N,D), [patch map (N,D,h,w)])."""

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        num_heads: int,
        patch_size: int = 14,
        pos_grid: int = 16,
        ffn: str = "swiglu",
        layerscale: float = 1e-5,
        block_chunks: int = 4,
        interpolate_offset: float = 0.1,
        preprocess_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.interpolate_offset = interpolate_offset
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_grid**2 + 1, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # used only by DINO's masked pre-training
        self.patch_embed = PatchEmbed(patch_size, dim)
        blocks = [Block(dim, num_heads, ffn, layerscale) for _ in range(depth)]
        if block_chunks > 0:  # FSDP-era layout: chunk c holds blocks under their global index
            size = depth // block_chunks
            chunks = [range(start, start + size) for start in range(0, depth, size)]
            self.blocks = nn.ModuleList(nn.ModuleDict({str(i): blocks[i] for i in chunk}) for chunk in chunks)
        else:
            self.blocks = nn.ModuleList(blocks)
        self._blocks = blocks
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.global_dim = dim
        self.dense_channels = [dim]
        self.dense_strides = [patch_size]
        self._preprocess = preprocess_fn
        self._init_weights()

    def _init_weights(self) -> None:
        # DINOv2's init (timm ViT): truncated-normal(0.02) linears and position embedding, near-zero CLS token.
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def preprocess(self, depth_m: torch.Tensor) -> torch.Tensor:
        if self._preprocess is None:
            raise NotImplementedError("this DinoViT was built without an input convention (preprocess_fn)")
        return self._preprocess(depth_m)

    def stages(self) -> list[nn.Module]:
        return self._blocks

    def neck(self) -> list[nn.Module]:
        return [self.norm]

    def position_embedding(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """Position embedding for a grid_h x grid_w patch grid: DINOv2's bicubic resize with scale (g + 0.1) / M."""
        side = int((self.pos_embed.shape[1] - 1) ** 0.5)
        if grid_h == grid_w == side:
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:].float()
        patch_pos = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        scale = ((grid_h + self.interpolate_offset) / side, (grid_w + self.interpolate_offset) / side)
        patch_pos = F.interpolate(patch_pos, scale_factor=scale, mode="bicubic", antialias=False)
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1).to(self.pos_embed.dtype)
        return torch.cat([cls_pos, patch_pos], dim=1)

    def forward(
        self, x: torch.Tensor, patch_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`patch_mask` (N, h, w) bool: patches replaced by the learned mask token (iBOT masked-image modelling in
        `depthbench pretrain`); None for every other use."""
        n, _, height, width = x.shape
        grid_h, grid_w = height // self.patch_size, width // self.patch_size
        patches = self.patch_embed(x)
        if patch_mask is not None:
            patches = torch.where(patch_mask.reshape(n, -1, 1), self.mask_token.to(patches.dtype), patches)
        tokens = torch.cat([self.cls_token.expand(n, -1, -1), patches], dim=1)
        tokens = tokens + self.position_embedding(grid_h, grid_w)
        for block in self._blocks:
            tokens = block(tokens)
        tokens = self.norm(tokens)
        dense = tokens[:, 1:].transpose(1, 2).reshape(n, -1, grid_h, grid_w)
        return tokens[:, 0], [dense]


def defm_vit_preprocess(depth_m: torch.Tensor) -> torch.Tensor:
    """DeFM normalization resized (antialiased bilinear) down to the nearest multiple of the 14-pixel patch."""
    return defm_preprocess(depth_m, patch_size=14)


# (dim, depth, heads) of DINOv2's vit_small / vit_large.
DEFM_VIT_VARIANTS = {"vit-s14": (384, 12, 6), "vit-l14": (1024, 24, 16)}
# DeiT/DINO's ViT-Tiny width and heads (Touvron et al. 2021): no official DeFM weights; a CPU-sized architecture to
# pretrain with `depthbench pretrain` (DeFM's layout and normalization, so a DeFM-recipe checkpoint loads strictly).
VIT_T14 = (192, 12, 3)


def _register(variant: str, dim: int, depth: int, num_heads: int) -> None:
    @register_encoder(
        f"defm-{variant}",
        family="defm-vit",
        summary=f"DeFM ViT-{variant[4].upper()}/14 (DINOv2-style, {depth} blocks, width {dim}) pre-trained on depth",
        input_convention="DeFM 3-channel log-depth (C1 0-100 m, C2 0-9 m, C3 per-image), resized to /14",
        weights={"defm": defm_weights(variant)},
    )
    def build() -> DinoViT:
        return DinoViT(dim=dim, depth=depth, num_heads=num_heads, preprocess_fn=defm_vit_preprocess)


for _variant, (_dim, _depth, _heads) in DEFM_VIT_VARIANTS.items():
    _register(_variant, _dim, _depth, _heads)


@register_encoder(
    "vit-t14",
    family="pretrain",
    summary="ViT-T/14 in DeFM's layout and normalization, no published weights: pretrain it (`depthbench pretrain`)",
    input_convention="DeFM 3-channel log-depth (C1 0-100 m, C2 0-9 m, C3 per-image), resized to /14",
)
def build_vit_t14() -> DinoViT:
    dim, depth, heads = VIT_T14
    return DinoViT(dim=dim, depth=depth, num_heads=heads, preprocess_fn=defm_vit_preprocess)
