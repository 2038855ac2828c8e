"""DeFM's distilled CNNs: torchvision ResNet / EfficientNet / RegNet trunks with GroupNorm, one BiFPN block, LayerNorms.

Architecture facts from the official code (leggedrobotics/defm 1.1.0, models/*_bifpn.py), re-implemented so the
state dict matches the released `defm_<variant>.pth` files key for key: every BatchNorm becomes GroupNorm(32)
(halving the group count until it divides the channels), C3/C4/C5 are the stride-8/16/32 stages (EfficientNets stop
at `features.6`), the global embedding is the average-pooled C5 after `norm_cls`, and the dense maps are the BiFPN
outputs P3/P4/P5, each after the shared `norm_patch` LayerNorm over channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from depthbench.encoders.preprocess import defm_preprocess
from depthbench.encoders.registry import defm_weights, register_encoder

# name -> (torchvision constructor, BiFPN width); widths from the official configs/defm_<variant>.yaml.
DEFM_CNN_VARIANTS: dict[str, tuple[str, int]] = {
    "resnet18": ("resnet18", 128),
    "resnet34": ("resnet34", 256),
    "resnet50": ("resnet50", 256),
    "efficientnet-b0": ("efficientnet_b0", 64),
    "efficientnet-b2": ("efficientnet_b2", 128),
    "efficientnet-b4": ("efficientnet_b4", 256),
    "efficientnet-b6": ("efficientnet_b6", 256),
    "regnet-y-400mf": ("regnet_y_400mf", 64),
    "regnet-y-800mf": ("regnet_y_800mf", 128),
    "regnet-y-1.6gf": ("regnet_y_1_6gf", 256),
}
# BiFPN fusions downsample by 2 between levels, so inputs are padded to the C5 stride.
CNN_PAD_MULTIPLE = 32


def batchnorm_to_groupnorm(module: nn.Module, max_groups: int = 32) -> nn.Module:
    """Replace every BatchNorm2d in place by GroupNorm with the largest power-of-two group count <= 32 that divides."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            groups = max_groups
            while child.num_features % groups:
                groups //= 2
            setattr(module, name, nn.GroupNorm(groups, child.num_features))
        else:
            batchnorm_to_groupnorm(child, max_groups)
    return module


class CnnTrunk(nn.Module):
    """The torchvision network up to C5, keeping torchvision's module names (hence the checkpoint's key names)."""

    def __init__(self, arch: str) -> None:
        super().__init__()
        net = batchnorm_to_groupnorm(getattr(torchvision.models, arch)(weights=None))
        self.kind = arch.split("_")[0].rstrip("0123456789")
        if self.kind == "resnet":
            for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
                setattr(self, name, getattr(net, name))
            stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
            self._stages = [stem, net.layer1, net.layer2, net.layer3, net.layer4]
            self._taps = (2, 3, 4)
        elif self.kind == "efficientnet":
            self.features = net.features[:7]  # features.7 and the 1x1 head conv (features.8) are not used
            self._stages = list(self.features)
            self._taps = (3, 4, 6)
        elif self.kind == "regnet":
            self.stem, self.trunk_output = net.stem, net.trunk_output
            self._stages = [net.stem, *net.trunk_output]
            self._taps = (2, 3, 4)
        else:
            raise ValueError(f"unsupported trunk {arch}")

    def stages(self) -> list[nn.Module]:
        """The trunk's sequential stages, input side first (what partial fine-tuning counts)."""
        return self._stages

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, stage in enumerate(self._stages):
            x = stage(x)
            if index in self._taps:
                taps.append(x)
        return taps


class WeightedFusion(nn.Module):
    """BiFPN fast normalized fusion: sum_i relu(w_i) x_i / (sum relu(w) + 1e-6) (Tan et al. 2020, EfficientDet)."""

    def __init__(self, num_inputs: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.ones(num_inputs))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        w = F.relu(self.weights)
        w = w / (w.sum() + 1e-6)
        out = w[0] * inputs[0]
        for weight, feature in zip(w[1:], inputs[1:], strict=True):
            out = out + weight * feature
        return out


class BiFPNLayer(nn.Module):
    """One top-down (nearest upsampling) and bottom-up (2x2 max-pool) pass, then a 3x3 conv per level."""

    def __init__(self, channels: int, levels: int) -> None:
        super().__init__()
        self.fuse_topdown = nn.ModuleList([WeightedFusion(2) for _ in range(levels - 1)])
        self.fuse_bottomup = nn.ModuleList([WeightedFusion(2) for _ in range(levels - 1)])
        self.convs = nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1) for _ in range(levels)])

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        top_down = list(feats)
        for i in range(len(feats) - 2, -1, -1):
            up = F.interpolate(top_down[i + 1], size=feats[i].shape[-2:], mode="nearest")
            top_down[i] = self.fuse_topdown[i]([feats[i], up])
        out = [top_down[0]]
        for i in range(1, len(feats)):
            out.append(self.fuse_bottomup[i - 1]([top_down[i], F.max_pool2d(out[-1], kernel_size=2, stride=2)]))
        return [conv(f) for conv, f in zip(self.convs, out, strict=True)]


class BiFPN(nn.Module):
    """1x1 projections of C3/C4/C5 to a common width followed by BiFPN layers (the official code uses one)."""

    def __init__(self, in_channels: list[int], channels: int, num_blocks: int = 1) -> None:
        super().__init__()
        self.proj = nn.ModuleList([nn.Conv2d(c, channels, 1) for c in in_channels])
        self.blocks = nn.ModuleList([BiFPNLayer(channels, len(in_channels)) for _ in range(num_blocks)])

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        feats = [proj(f) for proj, f in zip(self.proj, feats, strict=True)]
        for block in self.blocks:
            feats = block(feats)
        return feats


def _stage_channels(trunk: CnnTrunk) -> list[int]:
    """Output channels of C3/C4/C5 from one tiny forward pass (on the trunk's device, so `meta` works too)."""
    device = next(trunk.parameters()).device
    with torch.no_grad():
        return [c.shape[1] for c in trunk(torch.zeros(1, 3, 64, 64, device=device))]


class DefmCnn(nn.Module):
    """Bare DeFM CNN on normalized input: returns (global (N,C5), [P3, P4, P5]) with the official key names."""

    def __init__(self, arch: str, out_channels: int) -> None:
        super().__init__()
        self.backbone = CnnTrunk(arch)
        in_channels = _stage_channels(self.backbone)
        self.fpn = BiFPN(in_channels, out_channels)
        self.norm_cls = nn.LayerNorm(in_channels[-1], eps=1e-6)
        self.norm_patch = nn.LayerNorm(out_channels, eps=1e-6)
        self.global_dim = in_channels[-1]
        self.dense_channels = [out_channels] * 3
        self.dense_strides = [8, 16, 32]

    def preprocess(self, depth_m: torch.Tensor) -> torch.Tensor:
        """DeFM normalization at native size, padded bottom/right to a multiple of 32 (as the official code)."""
        return defm_preprocess(depth_m, pad_multiple=CNN_PAD_MULTIPLE)

    def stages(self) -> list[nn.Module]:
        return self.backbone.stages()

    def neck(self) -> list[nn.Module]:
        """Modules after the trunk (BiFPN, LayerNorms): trained with the last stages in partial mode."""
        return [self.fpn, self.norm_cls, self.norm_patch]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        c3, c4, c5 = self.backbone(x)
        global_embedding = self.norm_cls(c5.mean(dim=(2, 3)))
        dense = [self.norm_patch(p.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) for p in self.fpn([c3, c4, c5])]
        return global_embedding, dense


def _register(variant: str, arch: str, out_channels: int) -> None:
    @register_encoder(
        f"defm-{variant}",
        family="defm-cnn",
        summary=f"DeFM {arch} + BiFPN({out_channels}) distilled from DeFM ViT-L/14",
        input_convention="DeFM 3-channel log-depth (C1 0-100 m, C2 0-9 m, C3 per-image), padded to /32",
        weights={"defm": defm_weights(variant)},
    )
    def build() -> DefmCnn:
        return DefmCnn(arch, out_channels)


for _variant, (_arch, _width) in DEFM_CNN_VARIANTS.items():
    _register(_variant, _arch, _width)
