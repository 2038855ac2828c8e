"""Depth encoders: registry, DeFM models, baselines, DeFM preprocessing.

from depthbench.encoders import create
encoder = create("defm-resnet18", weights="defm")          # or weights=None for an explicit random init
out = encoder.encode_depth(depth_m)                         # (N,1,H,W) metres -> EncoderOutput
"""

from depthbench.encoders.encoder import MODES, Encoder, EncoderOutput, count_parameters, create
from depthbench.encoders.heads import DEFAULT_HEAD, HEADS
from depthbench.encoders.registry import (
    ENTRY_POINT_GROUP,
    EncoderInfo,
    WeightsSource,
    get_encoder_info,
    list_encoders,
    register_encoder,
)

__all__ = [
    "DEFAULT_HEAD",
    "ENTRY_POINT_GROUP",
    "HEADS",
    "MODES",
    "Encoder",
    "EncoderInfo",
    "EncoderOutput",
    "WeightsSource",
    "count_parameters",
    "create",
    "get_encoder_info",
    "list_encoders",
    "register_encoder",
]
