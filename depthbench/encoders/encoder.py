"""`create(name, ...)`: a registered backbone wrapped with weights, a training mode and a feature head.

Modes (the head is always trainable: it is new and belongs to the policy):
  - frozen:   backbone parameters need no grad, the backbone stays in eval() and runs under torch.no_grad
              (inference_mode would produce tensors the trainable head cannot backpropagate through).
  - finetune: every parameter trains; `lr_multiplier` (default 0.1) scales the backbone's learning rate.
  - partial:  the last `trainable_blocks` stages (default 1) plus the neck (DeFM: BiFPN + LayerNorms; ViT: final
              norm) train, earlier stages are frozen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from depthbench.encoders.heads import DEFAULT_HEAD, build_head
from depthbench.encoders.preprocess import as_metric_depth
from depthbench.encoders.registry import EncoderInfo, get_encoder_info
from depthbench.encoders.weights import load_weights
from depthbench.errors import DepthbenchError

MODES = ("frozen", "finetune", "partial")
# A pretrained backbone fine-tuned at a tenth of the policy's learning rate keeps its features from being wiped out
# by early, noisy RL gradients (a common choice; the agent may pass its own); frozen backbones get no updates.
DEFAULT_LR_MULTIPLIER = {"frozen": 0.0, "finetune": 0.1, "partial": 0.1}
DEFAULT_TRAINABLE_BLOCKS = 1


@dataclass
class EncoderOutput:
    """Uniform encoder output: global (N,D), dense maps [(N,C,h,w), ...] finest first, policy feature (N,F)."""

    global_embedding: torch.Tensor
    dense: list[torch.Tensor]
    feature: torch.Tensor


class Encoder(nn.Module):
    """A backbone (the bare network, `self.backbone`) plus its preprocessing, training mode and feature head."""

    def __init__(
        self,
        info: EncoderInfo,
        backbone: nn.Module,
        *,
        mode: str,
        feature_dim: int,
        head: str,
        trainable_blocks: int | None,
        lr_multiplier: float,
        weights_provenance: str,
    ) -> None:
        super().__init__()
        self.info = info
        self.name = info.name
        self.backbone = backbone
        self.head_name = head
        self.head = build_head(head, backbone.global_dim, backbone.dense_channels[0], feature_dim)
        self.feature_dim = feature_dim
        self.mode = mode
        self.trainable_blocks = trainable_blocks
        self.lr_multiplier = lr_multiplier
        self.weights_provenance = weights_provenance
        self._apply_mode()

    def _apply_mode(self) -> None:
        self.backbone.requires_grad_(self.mode == "finetune")
        if self.mode == "partial":
            for module in [*self.backbone.stages()[-self.trainable_blocks :], *self.backbone.neck()]:
                module.requires_grad_(True)
        if self.mode == "frozen":
            self.backbone.eval()

    def train(self, mode: bool = True) -> Encoder:
        """Like nn.Module.train, but a frozen backbone stays in eval mode."""
        super().train(mode)
        if self.mode == "frozen":
            self.backbone.eval()
        return self

    def preprocess(self, depth_m: torch.Tensor | np.ndarray, depth_scale: float | None = None) -> torch.Tensor:
        """The backbone's normalized input from metric depth (N,1,H,W) or (N,H,W) metres, 0 = invalid."""
        return self.backbone.preprocess(as_metric_depth(depth_m, depth_scale))

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        if self.mode == "frozen":
            with torch.no_grad():
                global_embedding, dense = self.backbone(x)
        else:
            global_embedding, dense = self.backbone(x)
        return EncoderOutput(global_embedding, dense, self.head(global_embedding, dense))

    def encode_depth(self, depth_m: torch.Tensor | np.ndarray, depth_scale: float | None = None) -> EncoderOutput:
        """preprocess + forward."""
        device = next(self.parameters()).device
        if isinstance(depth_m, torch.Tensor) and depth_m.device != device:
            depth_m = depth_m.to(device)
        return self(self.preprocess(depth_m, depth_scale))

    @property
    def global_dim(self) -> int:
        return self.backbone.global_dim

    @property
    def dense_channels(self) -> list[int]:
        return self.backbone.dense_channels

    def param_groups(self, base_lr: float) -> list[dict]:
        """Optimizer groups: trainable backbone parameters at base_lr * lr_multiplier, the head at base_lr."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        groups = [{"params": list(self.head.parameters()), "lr": base_lr, "name": f"{self.name}/head"}]
        if backbone:
            groups.append({"params": backbone, "lr": base_lr * self.lr_multiplier, "name": f"{self.name}/backbone"})
        return groups

    def extra_repr(self) -> str:
        return f"name={self.name}, mode={self.mode}, head={self.head_name}, weights={self.weights_provenance}"


def create(
    name: str,
    weights: str | os.PathLike | None = None,
    mode: str = "frozen",
    feature_dim: int | None = None,
    head: str | None = None,
    trainable_blocks: int | None = None,
    lr_multiplier: float | None = None,
) -> Encoder:
    """Build encoder `name`. weights: None (random init, labelled "random-init"), a keyword the encoder knows
    ("defm", "imagenet", ...; see `depthbench encoders info NAME`) or a checkpoint path."""
    info = get_encoder_info(name)
    if mode not in MODES:
        raise DepthbenchError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if trainable_blocks is not None and mode != "partial":
        raise DepthbenchError(f"trainable_blocks={trainable_blocks} only applies to mode='partial' (got {mode!r})")
    backbone = info.builder()
    if mode == "partial":
        trainable_blocks = DEFAULT_TRAINABLE_BLOCKS if trainable_blocks is None else trainable_blocks
        num_stages = len(backbone.stages())
        if not 1 <= trainable_blocks <= num_stages:
            raise DepthbenchError(f"trainable_blocks must be in 1..{num_stages} for {name}, got {trainable_blocks}")
    provenance = "random-init" if weights is None else load_weights(backbone, info, weights)
    return Encoder(
        info,
        backbone,
        mode=mode,
        feature_dim=info.default_feature_dim if feature_dim is None else int(feature_dim),
        head=DEFAULT_HEAD if head is None else head,
        trainable_blocks=trainable_blocks,
        lr_multiplier=DEFAULT_LR_MULTIPLIER[mode] if lr_multiplier is None else float(lr_multiplier),
        weights_provenance=provenance,
    )


def count_parameters(name: str) -> int:
    """Parameter count of encoder `name`'s backbone, built on the meta device (no memory, no init cost).

    torchvision's RegNet computes its stage widths with tensor ops the meta device cannot run; those are built on CPU.
    """
    info = get_encoder_info(name)
    try:
        with torch.device("meta"):
            backbone = info.builder()
    except NotImplementedError:
        backbone = info.builder()
    return sum(p.numel() for p in backbone.parameters())
