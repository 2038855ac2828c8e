"""Run configuration: `configs/agents/<task>.yaml`, then a preset, then CLI flags, then `--set` overrides.

One plain dict (Isaac Lab's agent cfg as data, rsl-rl's train_cfg derived from it), saved whole in every run manifest
and checkpoint so a run can be evaluated, resumed or exported from its directory alone.
"""

from __future__ import annotations

import copy
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from depthbench import config as base_config
from depthbench.config import apply_overrides, load_yaml, merge
from depthbench.errors import DepthbenchError

DEPTH_GROUP = "depth"
FEATURE_GROUP = "depth_features"
SCRATCH_ENCODER = "scratch-cnn"
MODEL_CLASS = "depthbench.agents.models:DepthModel"
PPO_CLASS = "depthbench.agents.algorithms:EncoderPPO"
DISTILLATION_CLASS = "depthbench.agents.algorithms:EncoderDistillation"


def config_root() -> Path:
    return Path(base_config.CONFIG_ROOT)


def list_presets() -> list[tuple[str, str]]:
    """(name, description) of every preset in configs/presets/."""
    rows = []
    for path in sorted((config_root() / "presets").glob("*.yaml")):
        rows.append((path.stem, str(load_yaml(path).get("description", ""))))
    return rows


def agent_config(task: str) -> dict[str, Any]:
    path = config_root() / "agents" / f"{task}.yaml"
    if not path.is_file():
        raise DepthbenchError(f"no agent config for task '{task}' ({path}); add configs/agents/{task}.yaml")
    return load_yaml(path)


def apply_preset(cfg: dict[str, Any], preset: str | None) -> dict[str, Any]:
    """Merge a preset's common section and its section for this task (strictly: unknown keys are errors)."""
    if not preset:
        return cfg
    path = config_root() / "presets" / f"{preset}.yaml"
    if not path.is_file():
        known = ", ".join(name for name, _ in list_presets())
        raise DepthbenchError(f"unknown preset '{preset}'; available presets: {known}")
    data = load_yaml(path)
    cfg = merge(cfg, data.get("common", {}), where=f"preset {preset}")
    return merge(cfg, data.get("tasks", {}).get(cfg["task"], {}), where=f"preset {preset}.tasks.{cfg['task']}")


def resolve_config(
    task: str, *, preset: str | None = None, flags: dict[str, Any] | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """The full run config: agent YAML <- preset <- CLI flags (dotted keys) <- `--set` overrides."""
    from depthbench.envs import get_task, task_config

    info = get_task(task)  # unknown task -> one clear error before anything else
    cfg = agent_config(task)
    if cfg.get("task") != task:
        raise DepthbenchError(f"configs/agents/{task}.yaml must have 'task: {task}'")
    cfg.setdefault("engine", info.engine_id)  # which engine runs the task (`--engine`); the task's default
    # 'env' becomes the task's full config, so presets and `--set env.KEY=...` are checked against real task keys
    cfg["env"] = task_config(task, cfg.get("env") or {})
    cfg = apply_preset(cfg, preset)
    cfg["preset"] = preset
    for key, value in (flags or {}).items():
        if value is not None:  # typed values from argparse: merged as they are, no YAML re-parsing
            nested: dict[str, Any] = {key.split(".")[-1]: value}
            for part in reversed(key.split(".")[:-1]):
                nested = {part: nested}
            cfg = merge(cfg, nested)
    cfg = apply_overrides(cfg, overrides)
    validate(cfg)
    if cfg["engine"] != info.engine_id:
        info.factory_for(cfg["engine"])  # an unknown engine, or one this environment lacks: one clear line now
    return cfg


def validate(cfg: dict[str, Any]) -> None:
    """Checks that would otherwise fail deep inside a run, phrased as what to change."""
    for key in ("num_envs", "iterations", "save_interval"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise DepthbenchError(f"config '{key}' must be a positive integer, got {cfg[key]!r}")
    if cfg["encoder"]["mode"] not in ("auto", "frozen", "finetune", "partial"):
        raise DepthbenchError(f"encoder.mode must be auto, frozen, finetune or partial, got {cfg['encoder']['mode']!r}")
    recurrent = cfg["ppo"]["actor"].get("rnn_type") or cfg["ppo"]["critic"].get("rnn_type")
    mini_batches = cfg["ppo"]["algorithm"]["num_mini_batches"]
    if recurrent and cfg["num_envs"] % mini_batches:
        raise DepthbenchError(
            f"num_envs ({cfg['num_envs']}) must be a multiple of ppo.algorithm.num_mini_batches ({mini_batches}): "
            "rsl-rl splits recurrent rollouts by environment"
        )
    from depthbench.noise import build_noise

    build_noise(str(cfg["train_noise"]))  # unknown noise names fail here with the noise library's message


def weights_argument(name: str, weights: Any) -> str | None:
    """CLI/config weights -> `encoders.create(weights=...)`: 'none' -> None; 'auto' -> DeFM's for defm-*, else None."""
    if weights in (None, "none", "None", "random"):
        return None
    if weights == "auto":
        return "defm" if name.startswith("defm") else None
    return str(weights)


def encoder_mode(cfg: dict[str, Any]) -> str:
    """'auto' trains scratch-cnn end to end and freezes pretrained encoders (the paper's default protocol)."""
    mode = cfg["encoder"]["mode"]
    if mode == "auto":
        return "finetune" if cfg["encoder"]["name"] == SCRATCH_ENCODER else "frozen"
    return mode


def encoder_create_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    enc = cfg["encoder"]
    kwargs: dict[str, Any] = {
        "name": enc["name"],
        "weights": weights_argument(enc["name"], enc["weights"]),
        "mode": encoder_mode(cfg),
    }
    for key in ("feature_dim", "head", "trainable_blocks", "lr_multiplier"):
        if enc.get(key) is not None:
            kwargs[key] = enc[key]
    if enc["name"] == SCRATCH_ENCODER and enc.get("lr_multiplier") is None:
        kwargs["lr_multiplier"] = 1.0  # trained from scratch jointly with the policy (Habitat SimpleCNN), full rate
    return kwargs


def encoder_label(name: str, weights_provenance: str) -> str:
    """How an encoder is named in every output; random-init weights are never presented as the pretrained model."""
    if weights_provenance == "random-init" and name != SCRATCH_ENCODER:
        return f"{name} (RANDOM INIT)"
    if "[random init" in weights_provenance:  # a saved random init, e.g. a pretrain run's step 0
        return f"{name} (RANDOM INIT, saved)"
    if "[depthbench pretrain" in weights_provenance:  # our own pretraining, never shown as the official weights
        return f"{name} (depthbench pretrain)"
    return name


def route_obs_groups(obs_groups: dict[str, list[str]], frozen: bool) -> dict[str, list[str]]:
    """Config names the depth camera 'depth'; with a frozen encoder the policy receives 'depth_features' instead."""
    if not frozen:
        return copy.deepcopy(obs_groups)
    return {key: [FEATURE_GROUP if g == DEPTH_GROUP else g for g in groups] for key, groups in obs_groups.items()}


def uses_depth(obs_groups: dict[str, list[str]]) -> bool:
    return any(DEPTH_GROUP in groups or FEATURE_GROUP in groups for groups in obs_groups.values())


def model_cfg(section: dict[str, Any], encoder_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """An rsl-rl model cfg for DepthModel; `encoder_kwargs` only when this model encodes depth images itself."""
    out = {"class_name": MODEL_CLASS, **copy.deepcopy(section)}
    if encoder_kwargs is not None:
        out["encoder_cfg"] = copy.deepcopy(encoder_kwargs)
    return out


def ppo_train_cfg(cfg: dict[str, Any], *, teacher: bool) -> dict[str, Any]:
    """rsl-rl OnPolicyRunner train_cfg. A teacher routes privileged state and never sees depth."""
    frozen = encoder_mode(cfg) == "frozen"
    groups = cfg["teacher_obs_groups"] if teacher else cfg["obs_groups"]
    groups = route_obs_groups(groups, frozen)
    in_model = None if frozen or teacher else encoder_create_kwargs(cfg)
    ppo = cfg["ppo"]
    return {
        "num_steps_per_env": ppo["num_steps_per_env"],
        "save_interval": 10**9,  # depthbench's chunked loop saves; rsl-rl's own periodic save stays off
        "obs_groups": groups,
        "actor": model_cfg(ppo["actor"], in_model if DEPTH_GROUP in groups["actor"] else None),
        "critic": model_cfg(ppo["critic"], in_model if DEPTH_GROUP in groups["critic"] else None),
        "algorithm": {"class_name": PPO_CLASS, **copy.deepcopy(ppo["algorithm"])},
        "check_for_nan": True,
        "logger": "tensorboard",
    }


def changed_keys(cfg: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The nested part of `cfg` whose values differ from `base` (keys absent from base count as changed)."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            inner = changed_keys(value, base[key])
            if inner:
                out[key] = inner
        elif key not in base or base[key] != value:
            out[key] = copy.deepcopy(value)
    return out


def student_env(task: str, student: dict[str, Any], teacher: dict[str, Any]) -> dict[str, Any]:
    """A distilled student trains in its teacher's env (the teacher's observations, e.g. its privileged state, must
    have the shapes it was trained on), with the student's own changes to the task defaults (preset, --set) on top."""
    from depthbench.envs import task_config

    return merge(task_config(task, teacher), changed_keys(student, task_config(task)), where="env")


def distillation_train_cfg(cfg: dict[str, Any], teacher_cfg: dict[str, Any]) -> dict[str, Any]:
    """rsl-rl DistillationRunner train_cfg: the teacher's network and routing come from its own run config."""
    frozen = encoder_mode(cfg) == "frozen"
    teacher_groups = teacher_cfg["teacher_obs_groups"]["actor"]
    if DEPTH_GROUP in teacher_groups:
        raise DepthbenchError(
            "the teacher checkpoint routes depth; distill from a privileged teacher (train --teacher)"
        )
    student_groups = route_obs_groups({"student": cfg["obs_groups"]["actor"]}, frozen)["student"]
    dist = cfg["distillation"]
    in_model = None if frozen else encoder_create_kwargs(cfg)
    student = model_cfg(dist["student"], in_model if DEPTH_GROUP in student_groups else None)
    if dist["algorithm"].get("auxiliary") is not None:
        from depthbench.agents.algorithms import AuxiliaryTarget

        student["aux_output_dim"] = len(AuxiliaryTarget.from_config(dist["algorithm"]["auxiliary"]).indices)
    return {
        "num_steps_per_env": dist["num_steps_per_env"],
        "save_interval": 10**9,
        "obs_groups": {"student": student_groups, "teacher": list(teacher_groups)},
        "student": student,
        "teacher": model_cfg(teacher_cfg["ppo"]["actor"], None),
        "algorithm": {"class_name": DISTILLATION_CLASS, **copy.deepcopy(dist["algorithm"])},
        "check_for_nan": True,
        "logger": "tensorboard",
    }


def versions() -> dict[str, str]:
    """Library versions and the repository commit, recorded in every manifest and results file."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("depthbench", "torch", "rsl-rl-lib", "numpy", "mujoco", "tensordict"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=config_root().parent, capture_output=True, text=True, timeout=5
        )
        out["git_commit"] = commit.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = "unknown"
    return out
