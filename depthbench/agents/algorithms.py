"""rsl-rl PPO and Distillation with two additions the benchmark needs and rsl-rl lacks.

1. In-model depth encoders train with their own learning-rate multiplier (an Adam parameter group). rsl-rl's adaptive
   KL schedule writes one learning rate into every group, so the encoder group scales whatever it is given.
2. Discrete students are distilled with cross-entropy to the teacher's action (rsl-rl's Distillation regresses the
   action value with MSE, which is meaningless for an action index and has no gradient through argmax).
"""

from __future__ import annotations

from typing import Any

import torch
from rsl_rl.algorithms import PPO, Distillation

from depthbench.agents.distributions import CategoricalDistribution
from depthbench.agents.models import DepthModel


class ScaledLrGroup(dict):
    """An optimizer parameter group whose 'lr' is always base_lr * multiplier, however it is assigned."""

    def __init__(self, group: dict[str, Any], multiplier: float) -> None:
        super().__init__(group)
        self.multiplier = multiplier
        self["lr"] = group["lr"]

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value * self.multiplier if key == "lr" else value)


def build_param_groups(
    optimizer: torch.optim.Optimizer, models: list[torch.nn.Module], learning_rate: float
) -> torch.optim.Optimizer:
    """Rebuild `optimizer` (same class and defaults) with group 0 = everything but encoders, then one group per encoder.

    Group 0 stays the base group because rsl-rl's PPO.load reads the learning rate from param_groups[0].
    """
    encoder_params: list[tuple[torch.nn.Parameter, float]] = []
    seen: set[int] = set()
    for model in models:
        if isinstance(model, DepthModel):
            for params, multiplier in model.encoder_param_groups():
                for p in params:
                    if id(p) not in seen:
                        seen.add(id(p))
                        encoder_params.append((p, multiplier))
    base = []
    for model in models:
        for p in model.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                base.append(p)
    multipliers = sorted({m for _, m in encoder_params})
    groups = [{"params": base}] + [
        {"params": [p for p, mult in encoder_params if mult == m], "lr_multiplier": m} for m in multipliers if m != 1.0
    ]
    groups[0]["params"] += [p for p, mult in encoder_params if mult == 1.0]
    new = type(optimizer)(groups, lr=learning_rate)
    wrap_scaled_groups(new)
    return new


def wrap_scaled_groups(optimizer: torch.optim.Optimizer) -> None:
    """(Re)apply the multipliers after construction or after `load_state_dict`, which replaces the group dicts."""
    for index, group in enumerate(optimizer.param_groups):
        if "lr_multiplier" in group and not isinstance(group, ScaledLrGroup):
            base_lr = optimizer.param_groups[0]["lr"]
            scaled = ScaledLrGroup(group, group["lr_multiplier"])
            scaled["lr"] = base_lr
            optimizer.param_groups[index] = scaled


class EncoderPPO(PPO):
    """rsl-rl PPO whose optimizer gives in-model encoders their learning-rate multiplier."""

    def __init__(self, actor: DepthModel, critic: DepthModel, storage: Any, **kwargs: Any) -> None:
        super().__init__(actor, critic, storage, **kwargs)
        self.optimizer = build_param_groups(self.optimizer, [self.actor, self.critic], self.learning_rate)

    def load(self, loaded_dict: dict, load_cfg: dict | None, strict: bool) -> bool:
        result = super().load(loaded_dict, load_cfg, strict)
        wrap_scaled_groups(self.optimizer)
        return result


class EncoderDistillation(Distillation):
    """rsl-rl Distillation with encoder parameter groups and, for categorical students, a cross-entropy loss."""

    def __init__(self, student: DepthModel, teacher: DepthModel, storage: Any, **kwargs: Any) -> None:
        super().__init__(student, teacher, storage, **kwargs)
        if isinstance(student.distribution, CategoricalDistribution):
            self.loss_fn = _cross_entropy_to_teacher_index
        self.optimizer = build_param_groups(self.optimizer, [self.student], self.learning_rate)

    def update(self) -> dict[str, float]:
        """rsl-rl's update; a categorical student returns logits during it so the loss is cross-entropy."""
        self.student.logits_output = isinstance(self.student.distribution, CategoricalDistribution)
        try:
            return super().update()
        finally:
            self.student.logits_output = False

    def load(self, loaded_dict: dict, load_cfg: dict | None, strict: bool) -> bool:
        result = super().load(loaded_dict, load_cfg, strict)
        wrap_scaled_groups(self.optimizer)
        return result


def _cross_entropy_to_teacher_index(logits: torch.Tensor, teacher_index: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits, teacher_index.squeeze(-1).round().long())
