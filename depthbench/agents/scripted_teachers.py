"""Scripted teachers: privileged controllers that `distill --teacher scripted:NAME` queries like a trained teacher.

A scripted teacher plugs into rsl-rl's Distillation as the teacher model: `ScriptedTeacher` has a model's interface
(forward, reset(dones), hidden state) and no parameters, so a student checkpoint holds an empty teacher state dict and
its config names the controller, never a checkpoint. DAgger queries the teacher in the student's states (Ross et al.
2011), so a controller keeps at most per-env memory that it resets with each episode and re-derives from the state
(see depthbench/envs/grasp/scripted.py); it is called once per env step, as rsl-rl's rollouts and evaluation do.

Registry: NAME -> the task it drives, the observation groups it reads, the constants it takes from the task config
(plain values stored in the run's train_cfg, so evaluation rebuilds the same teacher) and a factory of controllers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tensordict import TensorDict

from depthbench.errors import DepthbenchError

PREFIX = "scripted:"
MODEL_CLASS = "depthbench.agents.scripted_teachers:ScriptedTeacher"


class Controller(Protocol):
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...  # obs groups as float64 -> (N, actions) in [-1, 1]

    def reset(self, envs: np.ndarray | None) -> None: ...  # forget the episode of `envs` (None: all)


@dataclass(frozen=True)
class ScriptedEntry:
    task: str
    obs_groups: tuple[str, ...]
    constants: Callable[[dict[str, Any]], dict[str, Any]]  # task config -> plain constants (JSON / checkpoint safe)
    controller: Callable[[int, dict[str, Any]], Controller]  # (num_envs, constants) -> a controller


def _grasp_constants(task_cfg: dict[str, Any]) -> dict[str, Any]:
    from depthbench.envs.grasp.scripted import GraspConstants, GraspParams

    return {**asdict(GraspConstants.from_config(task_cfg)), "params": asdict(GraspParams())}


class _GraspTeacher:
    def __init__(self, num_envs: int, constants: dict[str, Any]) -> None:
        from depthbench.envs.grasp.scripted import GraspConstants, GraspController, GraspParams

        constants = dict(constants)
        params = GraspParams(**constants.pop("params"))
        self.controller = GraspController(num_envs, GraspConstants(**constants), params)

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.controller.act(obs["policy"], obs["privileged"])

    def reset(self, envs: np.ndarray | None) -> None:
        self.controller.reset(envs)


TEACHERS: dict[str, ScriptedEntry] = {
    "grasp": ScriptedEntry("kuka-allegro-grasp", ("policy", "privileged"), _grasp_constants, _GraspTeacher),
}


def is_scripted(teacher: str | Path | None) -> bool:
    return isinstance(teacher, str) and teacher.startswith(PREFIX)


def _entry(name: str) -> ScriptedEntry:
    if name not in TEACHERS:
        raise DepthbenchError(
            f"unknown scripted teacher '{PREFIX}{name}'; available: {', '.join(PREFIX + n for n in TEACHERS)}"
        )
    return TEACHERS[name]


def teacher_config(spec: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The teacher's part of a run config (what a teacher checkpoint's config provides) for `scripted:NAME`."""
    name = spec.removeprefix(PREFIX)
    entry = _entry(name)
    if cfg["task"] != entry.task:
        raise DepthbenchError(f"scripted teacher '{spec}' drives task '{entry.task}', not '{cfg['task']}'")
    actor = {"class_name": MODEL_CLASS, "name": name, "constants": entry.constants(cfg["env"])}
    return {"teacher_obs_groups": {"actor": list(entry.obs_groups)}, "ppo": {"actor": actor}}


class ScriptedTeacher(torch.nn.Module):
    """A scripted controller behind rsl-rl's model interface; `reset(dones)` ends the episodes of those envs."""

    is_recurrent = False

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        name: str,
        constants: dict[str, Any],
    ) -> None:
        super().__init__()
        self.entry = _entry(name)
        missing = [g for g in self.entry.obs_groups if g not in obs_groups[obs_set]]
        if missing:
            raise DepthbenchError(f"scripted teacher '{PREFIX}{name}' needs observation groups {missing}")
        self.name = name
        self.constants = constants
        self.controller = self.entry.controller(int(obs.batch_size[0]), constants)
        self.ignore_resets = False

    def forward(
        self,
        obs: TensorDict,
        masks: torch.Tensor | None = None,
        hidden_state: Any = None,
        stochastic_output: bool = False,
    ) -> torch.Tensor:
        """The controller's action for this step (both modes alike: a scripted controller has no distribution)."""
        groups = {g: obs[g].detach().cpu().numpy().astype(np.float64) for g in self.entry.obs_groups}
        actions = self.controller.act(groups)
        return torch.from_numpy(actions.astype(np.float32)).to(obs[self.entry.obs_groups[0]].device)

    def reset(self, dones: torch.Tensor | None = None, hidden_state: Any = None) -> None:
        """rsl-rl calls this after every step with the envs whose episode ended (and with nothing at a new rollout
        chunk's fresh envs, or at evaluation start: every env)."""
        if self.ignore_resets:  # EncoderDistillation.update replays the rollout's resets: not episodes ending now
            return
        self.controller.reset(None if dones is None else np.flatnonzero(dones.detach().cpu().numpy()))

    def get_hidden_state(self) -> None:
        return None

    def detach_hidden_state(self, dones: torch.Tensor | None = None) -> None:
        """No hidden state to detach."""
