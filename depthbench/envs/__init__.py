"""Task registry: every task is an rsl-rl VecEnv built from its YAML config (`configs/tasks/<name>.yaml`).

A task module registers a factory with `@register_task`; `make_task` merges the user's overrides (strictly: unknown
keys are errors) onto the task's default config and calls it. Task specs stay apart from the engines that run them:
a task has a default engine (`engine_id`, e.g. "mujoco") and may name others (`engines`: id -> "module:factory",
imported only when asked for, so an engine's packages are needed only in the environment that runs it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from depthbench.config import CONFIG_ROOT, load_yaml, merge
from depthbench.errors import DepthbenchError

# Modules whose import registers tasks; a new task family adds one line here.
_TASK_MODULES: tuple[str, ...] = (
    "depthbench.envs.navigation",
    "depthbench.envs.ladder",
    "depthbench.envs.grasp",
)


@dataclass(frozen=True)
class TaskInfo:
    name: str
    summary: str
    engine: str
    factory: Callable[..., Any]
    # Optional: (cfg, num_envs, steps, seed) -> (label, env-steps per second) of the task's naive reference engine,
    # timed by `depthbench bench env` in the same run as the batched engine.
    baseline: Callable[[dict[str, Any], int, int, int], tuple[str, float]] | None = None
    engine_id: str = "default"
    engines: dict[str, str] = field(default_factory=dict)  # other engines: id -> "module:factory"

    @property
    def engine_ids(self) -> tuple[str, ...]:
        """Every engine this task runs on, the default first."""
        return (self.engine_id, *self.engines)

    def factory_for(self, engine: str | None) -> Callable[..., Any]:
        """The factory of `engine` (None: the default), or one clear error naming the task's engines."""
        if engine is None or engine == self.engine_id:
            return self.factory
        if engine not in self.engines:
            raise DepthbenchError(
                f"task '{self.name}' has no engine '{engine}'; its engines: {', '.join(self.engine_ids)}"
            )
        if engine == "isaaclab":
            from depthbench.envs.isaaclab_support import require_isaaclab

            require_isaaclab()
        module, attribute = self.engines[engine].split(":")
        return getattr(importlib.import_module(module), attribute)

    @property
    def config_path(self) -> Any:
        return CONFIG_ROOT / "tasks" / f"{self.name}.yaml"

    def default_config(self) -> dict[str, Any]:
        return load_yaml(self.config_path)


_TASKS: dict[str, TaskInfo] = {}
_loaded = False


def register_task(
    name: str,
    *,
    summary: str,
    engine: str,
    baseline: Callable[[dict[str, Any], int, int, int], tuple[str, float]] | None = None,
    engine_id: str = "default",
    engines: dict[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register `factory(cfg=dict, num_envs=int, seed=int, device=str) -> VecEnv` under `name` as the
    task's default engine `engine_id`; `engines` names other engines' factories ("module:function", same signature)."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _TASKS:
            raise ValueError(f"task '{name}' is registered twice")
        _TASKS[name] = TaskInfo(
            name=name,
            summary=summary,
            engine=engine,
            factory=factory,
            baseline=baseline,
            engine_id=engine_id,
            engines=dict(engines or {}),
        )
        return factory

    return decorate


def _load_builtin_tasks() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _TASK_MODULES:
            importlib.import_module(module)


def list_tasks() -> list[TaskInfo]:
    _load_builtin_tasks()
    return [_TASKS[name] for name in sorted(_TASKS)]


def get_task(name: str) -> TaskInfo:
    _load_builtin_tasks()
    if name not in _TASKS:
        known = ", ".join(sorted(_TASKS)) or "(none registered)"
        raise DepthbenchError(f"unknown task '{name}'; available tasks: {known}")
    return _TASKS[name]


def task_config(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The task's default YAML config with `overrides` merged in (unknown keys are errors)."""
    return merge(get_task(name).default_config(), overrides or {})


def make_task(
    name: str,
    *,
    num_envs: int,
    seed: int = 0,
    device: str = "cpu",
    overrides: dict[str, Any] | None = None,
    engine: str | None = None,
) -> Any:
    """Build task `name` as an rsl-rl VecEnv with `num_envs` environments on `engine` (None: the task's default)."""
    if num_envs < 1:
        raise DepthbenchError(f"num_envs must be >= 1, got {num_envs}")
    factory = get_task(name).factory_for(engine)
    return factory(cfg=task_config(name, overrides), num_envs=num_envs, seed=seed, device=device)
