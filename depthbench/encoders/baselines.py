"""Baseline encoders, each with its own depth input convention (documented per encoder, shown by `encoders list`).

- scratch-cnn: the Nature-CNN-shaped network RL papers train from scratch (Mnih et al. 2015; Habitat's SimpleCNN,
  Savva et al. 2019), one channel: depth clipped to [0, 10] m and divided by 10 (Habitat's normalized depth sensor).
- imagenet-resnet18: torchvision ResNet-18 (BatchNorm) with ImageNet weights; depth clipped to [0, 10] m / 10,
  replicated to 3 channels and normalized with the ImageNet mean/std.
- dinov2-vits14: DINOv2 ViT-S/14 (Oquab et al. 2023; GELU MLP, 37x37 position grid, flat block list); same
  replicated-depth input as imagenet-resnet18, resized down to a multiple of 14.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from depthbench.encoders.defm_vit import DinoViT
from depthbench.encoders.registry import WeightsSource, register_encoder
from depthbench.errors import DepthbenchError

SCRATCH_CNN_MIN_PX = 36  # smallest input the 8x8/4, 4x4/2, 3x3/1 convolutions accept
BASELINE_MAX_DEPTH_M = 10.0  # Habitat's default depth sensor range (habitat-lab DepthSensor max_depth)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision ResNet18_Weights.IMAGENET1K_V1 transforms
IMAGENET_STD = (0.229, 0.224, 0.225)


def unit_depth(depth_m: torch.Tensor) -> torch.Tensor:
    """Depth clipped to [0, 10] m and scaled to [0, 1]; invalid (0) stays 0."""
    return depth_m.clamp(0.0, BASELINE_MAX_DEPTH_M) / BASELINE_MAX_DEPTH_M


def imagenet_depth(depth_m: torch.Tensor, patch_size: int | None = None) -> torch.Tensor:
    """unit_depth replicated to 3 channels and ImageNet-normalized, optionally resized down to a patch multiple."""
    x = unit_depth(depth_m).expand(-1, 3, -1, -1)
    if patch_size is not None:
        height, width = (x.shape[-2] // patch_size) * patch_size, (x.shape[-1] // patch_size) * patch_size
        if (height, width) != tuple(x.shape[-2:]):
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


class ScratchCnn(nn.Module):
    """Conv 8x8/4 (32) - 4x4/2 (64) - 3x3/1 (64), ReLUs, then Linear to 512 + ReLU (Habitat SimpleCNN layout).

    An adaptive average pool to 4x4 before the linear layer (the conv output size at 64x64 input, where it is the
    identity) makes the network accept any resolution >= 36 px.
    """

    def __init__(self, hidden: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 8, stride=4)
        self.conv2 = nn.Conv2d(32, 64, 4, stride=2)
        self.conv3 = nn.Conv2d(64, 64, 3, stride=1)
        self.fc = nn.Linear(64 * 4 * 4, hidden)
        self.global_dim = hidden
        self.dense_channels = [64]
        self.dense_strides = [8]

    def preprocess(self, depth_m: torch.Tensor) -> torch.Tensor:
        return unit_depth(depth_m)

    def stages(self) -> list[nn.Module]:
        return [self.conv1, self.conv2, self.conv3]

    def neck(self) -> list[nn.Module]:
        return [self.fc]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if min(x.shape[-2:]) < SCRATCH_CNN_MIN_PX:
            height, width = x.shape[-2:]
            raise DepthbenchError(
                f"scratch-cnn needs depth images of at least {SCRATCH_CNN_MIN_PX}x{SCRATCH_CNN_MIN_PX} px (its 8/4/3 "
                f"kernels), got {height}x{width}; raise the task's depth.width/height"
            )
        dense = F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x))))))
        return F.relu(self.fc(F.adaptive_avg_pool2d(dense, 4).flatten(1))), [dense]


class ImagenetResNet18(nn.Module):
    """torchvision ResNet-18 without its classifier: global = pooled layer4, dense = layer2/3/4 (strides 8/16/32)."""

    def __init__(self) -> None:
        super().__init__()
        net = torchvision.models.resnet18(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(net, name))
        self.global_dim = 512
        self.dense_channels = [128, 256, 512]
        self.dense_strides = [8, 16, 32]

    def preprocess(self, depth_m: torch.Tensor) -> torch.Tensor:
        return imagenet_depth(depth_m)

    def stages(self) -> list[nn.Module]:
        return [self.conv1, self.layer1, self.layer2, self.layer3, self.layer4]

    def neck(self) -> list[nn.Module]:
        return []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return c5.mean(dim=(2, 3)), [c3, c4, c5]


register_encoder(
    "scratch-cnn",
    family="baseline",
    summary="Nature-CNN / Habitat SimpleCNN trained from scratch (random init; use mode='finetune')",
    input_convention="1 channel: depth clipped to [0, 10] m / 10",
)(ScratchCnn)

register_encoder(
    "imagenet-resnet18",
    family="baseline",
    summary="torchvision ResNet-18 (BatchNorm) with ImageNet-1k weights",
    input_convention="depth clipped to [0, 10] m / 10, x3 channels, ImageNet mean/std",
    weights={
        "imagenet": WeightsSource(
            filename="resnet18-f37072fd.pth",
            url="https://download.pytorch.org/models/resnet18-f37072fd.pth",
            ignore_prefixes=("fc.",),
        )
    },
)(ImagenetResNet18)


def _dinov2_preprocess(depth_m: torch.Tensor) -> torch.Tensor:
    return imagenet_depth(depth_m, patch_size=14)


def _dinov2_vits14() -> DinoViT:
    return DinoViT(
        dim=384,
        depth=12,
        num_heads=6,
        pos_grid=37,  # DINOv2 hub models are built for 518 px
        ffn="mlp",
        block_chunks=0,
        preprocess_fn=_dinov2_preprocess,
    )


register_encoder(
    "dinov2-vits14",
    family="baseline",
    summary="DINOv2 ViT-S/14 (RGB self-supervised, LVD-142M)",
    input_convention="depth clipped to [0, 10] m / 10, x3 channels, ImageNet mean/std, resized to /14",
    weights={
        "dinov2": WeightsSource(
            filename="dinov2_vits14_pretrain.pth",
            url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth",
        )
    },
)(_dinov2_vits14)


class TimmDinov3(nn.Module):
    """timm's DINOv3 ViT-S/16 (class token + 4 registers + patches, final norm applied by forward_features)."""

    patch_size = 16

    def __init__(self) -> None:
        super().__init__()
        import timm  # imported here: only this encoder needs it, and it is slow to import

        self.model = timm.create_model(
            "vit_small_patch16_dinov3", pretrained=False, num_classes=0, dynamic_img_size=True
        )
        self.global_dim = self.model.num_features
        self.dense_channels = [self.model.num_features]
        self.dense_strides = [self.patch_size]

    def preprocess(self, depth_m: torch.Tensor) -> torch.Tensor:
        return imagenet_depth(depth_m, patch_size=self.patch_size)

    def stages(self) -> list[nn.Module]:
        return list(self.model.blocks)

    def neck(self) -> list[nn.Module]:
        return [self.model.norm]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        n, _, height, width = x.shape
        tokens = self.model.forward_features(x)
        patches = tokens[:, self.model.num_prefix_tokens :]
        dense = patches.transpose(1, 2).reshape(n, -1, height // self.patch_size, width // self.patch_size)
        return tokens[:, 0], [dense]


register_encoder(
    "dinov3-vits16",
    family="baseline",
    summary="DINOv3 ViT-S/16 (RGB self-supervised, LVD-1689M; timm implementation)",
    input_convention="depth clipped to [0, 10] m / 10, x3 channels, ImageNet mean/std, resized to /16",
    weights={
        "dinov3": WeightsSource(
            filename="model.safetensors",
            hf_repo="timm/vit_small_patch16_dinov3.lvd1689m",
            key_prefix="model.",
            local_filename="dinov3_vits16.safetensors",
        )
    },
)(TimmDinov3)
