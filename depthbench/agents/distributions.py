"""A categorical action distribution for rsl-rl, for discrete-action tasks (PointNav's 4 actions).

rsl-rl 5.5 ships Gaussian and Beta distributions only. Discrete tasks follow the env contract: num_actions = 1 and the
action is the index as a float, so output_dim is 1 and the MLP produces one logit per action (input_dim).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from rsl_rl.modules.distribution import Distribution
from torch.distributions import Categorical


class CategoricalDistribution(Distribution):
    """Categorical over `num_categories` actions; samples are the action index as a float of shape (..., 1)."""

    def __init__(self, output_dim: int, num_categories: int, init_logit_scale: float = 0.01) -> None:
        if output_dim != 1:
            raise ValueError(f"CategoricalDistribution needs num_actions == 1 (the action index), got {output_dim}")
        if num_categories < 2:
            raise ValueError(f"CategoricalDistribution needs at least 2 categories, got {num_categories}")
        super().__init__(output_dim)
        self.num_categories = num_categories
        self.init_logit_scale = init_logit_scale
        self._distribution: Categorical | None = None
        Categorical.set_default_validate_args(False)

    def update(self, mlp_output: torch.Tensor) -> None:
        self._distribution = Categorical(logits=mlp_output)

    def sample(self) -> torch.Tensor:
        return self._distribution.sample().unsqueeze(-1).float()  # type: ignore[union-attr]

    def deterministic_output(self, mlp_output: torch.Tensor) -> torch.Tensor:
        return mlp_output.argmax(dim=-1, keepdim=True).float()

    def as_deterministic_output_module(self) -> nn.Module:
        return _ArgmaxOutput()

    @property
    def input_dim(self) -> int:
        return self.num_categories

    @property
    def _index_values(self) -> torch.Tensor:
        probs = self._distribution.probs  # type: ignore[union-attr]
        return torch.arange(self.num_categories, device=probs.device, dtype=probs.dtype)

    @property
    def mean(self) -> torch.Tensor:
        """Expected action index (logged by rsl-rl; acting uses samples or the argmax)."""
        return (self._distribution.probs * self._index_values).sum(-1, keepdim=True)  # type: ignore[union-attr]

    @property
    def std(self) -> torch.Tensor:
        """Standard deviation of the action index: rsl-rl logs it as 'mean action std', a spread measure."""
        probs = self._distribution.probs  # type: ignore[union-attr]
        second = (probs * self._index_values**2).sum(-1, keepdim=True)
        return (second - self.mean**2).clamp_min(0).sqrt()

    @property
    def entropy(self) -> torch.Tensor:
        return self._distribution.entropy()  # type: ignore[union-attr]

    @property
    def params(self) -> tuple[torch.Tensor, ...]:
        return (self._distribution.logits,)  # type: ignore[union-attr]  # normalized log-probabilities

    def log_prob(self, outputs: torch.Tensor) -> torch.Tensor:
        return self._distribution.log_prob(outputs.squeeze(-1).round().long())  # type: ignore[union-attr]

    def kl_divergence(self, old_params: tuple[torch.Tensor, ...], new_params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.distributions.kl_divergence(Categorical(logits=old_params[0]), Categorical(logits=new_params[0]))

    def init_mlp_weights(self, mlp: nn.Module) -> None:
        """Shrink the logit layer so the initial policy is near uniform (Andrychowicz et al. 2021, 'What matters
        in on-policy RL', recommendation: policy output layer 100x smaller)."""
        last = [m for m in mlp.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            last.weight.mul_(self.init_logit_scale)
            last.bias.zero_()


class _ArgmaxOutput(nn.Module):
    """Export-friendly greedy action: the index of the largest logit as a float (N, 1)."""

    def forward(self, mlp_output: torch.Tensor) -> torch.Tensor:
        return mlp_output.argmax(dim=-1, keepdim=True).float()
