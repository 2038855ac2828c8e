"""The actor/critic network: 1D observation groups + (optionally) a trainable depth encoder + optional GRU/LSTM + MLP.

It is an rsl-rl `MLPModel` so PPO and Distillation use it unchanged. Frozen encoders never appear here: they run once
per env step in `DepthFeatureWrapper` and arrive as the 1D group "depth_features". Trainable encoders (finetune,
partial, scratch-cnn) encode 4D groups (N, C, H, W metric depth, C cameras) inside the model, so gradients reach them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from rsl_rl.models import MLPModel
from rsl_rl.modules import RNN, HiddenState
from rsl_rl.utils import unpad_trajectories
from tensordict import TensorDict

from depthbench.errors import DepthbenchError

GRID_CELLS = 3  # frozen features keep a 3x3 layout grid, like the encoders' default "global+grid" head


def frozen_features(output: Any) -> torch.Tensor:
    """What a frozen backbone hands the policy: global embedding + its finest dense map average-pooled to 3x3.

    These are exactly the inputs of the encoders' "global+grid" head, a single linear layer, which the policy network's
    input layer (MLP or GRU) subsumes: the head still trains while the backbone runs once per step outside autograd.
    """
    grid = F.adaptive_avg_pool2d(output.dense[0], GRID_CELLS).flatten(1)
    return torch.cat([output.global_embedding, grid], dim=1)


def trainable_features(output: Any) -> torch.Tensor:
    return output.feature


def encode_cameras(
    encoder: nn.Module, depth_m: torch.Tensor, select: Callable[[Any], torch.Tensor] = trainable_features
) -> torch.Tensor:
    """Encode (..., C, H, W) metric depth camera by camera in one batched call; returns (..., C * per-camera dim)."""
    lead = depth_m.shape[:-3]
    cameras, height, width = depth_m.shape[-3:]
    features = select(encoder.encode_depth(depth_m.reshape(-1, 1, height, width)))
    return features.reshape(*lead, cameras * features.shape[-1])


class DepthModel(MLPModel):
    """MLP (optionally recurrent) over 1D groups and, when a 4D depth group is routed here, a trainable encoder."""

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        hidden_dims: tuple[int, ...] | list[int] = (256, 256, 256),
        activation: str = "elu",
        obs_normalization: bool = False,
        distribution_cfg: dict | None = None,
        rnn_type: str | None = None,
        rnn_hidden_dim: int = 256,
        rnn_num_layers: int = 1,
        encoder_cfg: dict[str, Any] | None = None,
        aux_output_dim: int = 0,
        obs_exclude: dict[str, list[int]] | None = None,
    ) -> None:
        # columns of 1D groups this model does not read, e.g. a DAgger student's previous action (de Haan et al. 2019:
        # imitators that see their own past actions learn to repeat them instead of reading the scene)
        self._kept_columns = {g: _kept(obs, g, cols) for g, cols in (obs_exclude or {}).items()}
        self._split_groups(obs, obs_groups, obs_set)
        encoder = None
        self.image_feature_dim = 0
        if self.image_groups:
            if encoder_cfg is None:
                raise ValueError(f"'{obs_set}' routes depth images {self.image_groups} but has no encoder_cfg")
            from depthbench.encoders import create

            encoder = create(**encoder_cfg)
            cameras = sum(obs[group].shape[1] for group in self.image_groups)
            self.image_feature_dim = cameras * encoder.feature_dim
        self.rnn_type = rnn_type
        self.rnn_hidden_dim = rnn_hidden_dim
        super().__init__(
            obs, obs_groups, obs_set, output_dim, hidden_dims, activation, obs_normalization, distribution_cfg
        )
        self.encoder = encoder
        self.logits_output = False  # set by EncoderDistillation.update: deterministic calls return raw logits
        self.is_recurrent = rnn_type is not None
        if rnn_type is not None:
            self.rnn = RNN(self.obs_dim + self.image_feature_dim, rnn_hidden_dim, rnn_num_layers, rnn_type)
        # a distilled student's auxiliary prediction of privileged state (EncoderDistillation's `auxiliary`): linear,
        # so the latent the policy MLP reads must carry the target itself
        self.aux_head = nn.Linear(self._get_latent_dim(), aux_output_dim) if aux_output_dim else None
        self.last_latent: torch.Tensor | None = None

    def _split_groups(self, obs: TensorDict, obs_groups: dict[str, list[str]], obs_set: str) -> None:
        self.image_groups = [g for g in obs_groups[obs_set] if obs[g].dim() == 4]
        bad = [g for g in obs_groups[obs_set] if obs[g].dim() not in (2, 4)]
        if bad:
            raise ValueError(f"observation groups {bad} must be (N, D) vectors or (N, C, H, W) depth images")

    def _get_obs_dim(self, obs: TensorDict, obs_groups: dict[str, list[str]], obs_set: str) -> tuple[list[str], int]:
        groups_1d = [g for g in obs_groups[obs_set] if obs[g].dim() == 2]
        unknown = set(self._kept_columns) - set(groups_1d)
        if unknown:
            raise DepthbenchError(
                f"distillation.student.obs_exclude names {sorted(unknown)}, not vector groups the student reads "
                f"({groups_1d})"
            )
        return groups_1d, sum(self._vector(obs, g).shape[-1] for g in groups_1d)

    def _vector(self, obs: TensorDict, group: str) -> torch.Tensor:
        return obs[group][..., self._kept_columns[group]] if group in self._kept_columns else obs[group]

    def update_normalization(self, obs: TensorDict) -> None:
        if self.obs_normalization and self.obs_groups:
            self.obs_normalizer.update(torch.cat([self._vector(obs, g) for g in self.obs_groups], dim=-1))

    def _get_latent_dim(self) -> int:
        return self.rnn_hidden_dim if self.rnn_type is not None else self.obs_dim + self.image_feature_dim

    def forward(
        self,
        obs: TensorDict,
        masks: torch.Tensor | None = None,
        hidden_state: HiddenState = None,
        stochastic_output: bool = False,
    ) -> torch.Tensor:
        if self.logits_output and not stochastic_output:
            obs = obs if masks is None or self.is_recurrent else unpad_trajectories(obs, masks)
            return self.logits(obs, masks, hidden_state)
        return super().forward(obs, masks, hidden_state, stochastic_output)

    def logits(
        self, obs: TensorDict, masks: torch.Tensor | None = None, hidden_state: HiddenState = None
    ) -> torch.Tensor:
        """The distribution's raw input (a categorical policy's logits); advances the recurrent state like forward."""
        return self.mlp(self.get_latent(obs, masks, hidden_state))

    def get_latent(
        self, obs: TensorDict, masks: torch.Tensor | None = None, hidden_state: HiddenState = None
    ) -> torch.Tensor:
        parts = []
        if self.obs_groups:
            parts.append(self.obs_normalizer(torch.cat([self._vector(obs, g) for g in self.obs_groups], dim=-1)))
        for group in self.image_groups:
            parts.append(self._encode_valid(obs[group], masks))
        latent = torch.cat(parts, dim=-1)
        if self.rnn_type is not None:
            latent = self.rnn(latent, masks, hidden_state).squeeze(0)
        self.last_latent = latent
        return latent

    def _encode_valid(self, depth_m: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        """Encode depth; for padded recurrent batches (T, B, ...) only the valid steps, not the padding.

        rsl-rl pads every trajectory to the rollout length, so with short episodes most of a padded batch is zeros:
        running the encoder on valid steps only keeps a PPO epoch at one encoder pass per collected sample.
        """
        if masks is None or not self.is_recurrent:
            return encode_cameras(self.encoder, depth_m)
        valid = masks.bool()
        features = encode_cameras(self.encoder, depth_m[valid])
        out = features.new_zeros(*valid.shape, features.shape[-1])
        out[valid] = features
        return out

    def reset(self, dones: torch.Tensor | None = None, hidden_state: HiddenState = None) -> None:
        if self.rnn_type is not None:
            self.rnn.reset(dones, hidden_state)

    def get_hidden_state(self) -> HiddenState:
        return self.rnn.hidden_state if self.rnn_type is not None else None

    def detach_hidden_state(self, dones: torch.Tensor | None = None) -> None:
        if self.rnn_type is not None:
            self.rnn.detach_hidden_state(dones)

    def encoder_param_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        """(trainable parameters, learning-rate multiplier) per group, as the encoder defines them (backbone at its
        lr_multiplier, the new feature head at the policy's rate)."""
        if self.encoder is None:
            return []
        groups = [([p for p in g["params"] if p.requires_grad], float(g["lr"])) for g in self.encoder.param_groups(1.0)]
        return [(params, mult) for params, mult in groups if params]


def _kept(obs: TensorDict, group: str, excluded: list[int]) -> list[int]:
    if group not in obs or obs[group].dim() != 2:
        raise DepthbenchError(f"distillation.student.obs_exclude names '{group}', not a vector observation group")
    width = obs[group].shape[-1]
    if not all(isinstance(c, int) and 0 <= c < width for c in excluded):
        raise DepthbenchError(
            f"distillation.student.obs_exclude.{group} must list columns of the {width}-wide group, got {excluded}"
        )
    hidden = set(excluded)
    return [c for c in range(width) if c not in hidden]
