"""Evaluate a checkpoint on a task split under an evaluation noise model -> metrics JSON with 95% CIs.

Episodes are collected with a fixed quota per env (the first k episodes of every env), so short episodes are not
over-represented the way "first N episodes to finish across envs" would make them (a known bias of parallel eval,
cf. habitat-baselines' per-episode-id bookkeeping).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import torch
from tqdm import tqdm

from depthbench.agents import config as agent_config
from depthbench.agents import scripted_teachers, stats
from depthbench.agents.training import PolicySetup, load_checkpoint, seed_everything, write_json_atomic
from depthbench.errors import DepthbenchError

SCHEMA_PATH = Path(__file__).with_name("metrics.schema.json")
EVAL_SEED_OFFSET = 7_000_003  # eval envs never reuse a training chunk's seed
NON_METRIC_KEYS = ("env_id",)


def metric_name(key: str) -> str:
    return "success_rate" if key == "success" else key


def summarize_episodes(records: Sequence[dict[str, Any]], *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Mean and 95% CI of every numeric per-episode field (Wilson for 0/1 fields, bootstrap otherwise)."""
    keys: list[str] = []
    indicators: set[str] = set(stats.INDICATOR_METRICS)
    for record in records:
        for key, value in record.items():
            if key not in NON_METRIC_KEYS and isinstance(value, int | float) and key not in keys:
                keys.append(key)
            if isinstance(value, bool):
                indicators.add(key)
    # NaN marks "undefined for this episode" (grasp time_to_lift_s when nothing was lifted): left out of that metric
    values = {key: [float(r[key]) for r in records if key in r and not math.isnan(float(r[key]))] for key in keys}
    return {
        metric_name(key): stats.summarize(values[key], indicator=key in indicators, seed=seed)
        for key in keys
        if values[key]
    }


def group_episodes(records: Sequence[dict[str, Any]], group_by: Sequence[str], *, seed: int = 0) -> list[dict]:
    """Per-group summaries (embodied-nav scene family, ladder (angle, radius) cell), in sorted key order."""
    if not group_by:
        return []
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for record in records:
        if all(key in record for key in group_by):
            groups.setdefault(tuple(record[key] for key in group_by), []).append(record)
    out = []
    for key in sorted(groups, key=lambda k: tuple(str(v) if isinstance(v, str) else float(v) for v in k)):
        members = groups[key]
        summary = summarize_episodes([{k: v for k, v in r.items() if k not in group_by} for r in members], seed=seed)
        out.append({"key": dict(zip(group_by, key, strict=True)), "episodes": len(members), "metrics": summary})
    return out


def episode_quota(episodes: int, num_envs: int) -> list[int]:
    """Episodes each env contributes to an evaluation of `episodes`: the first k of every env, k as even as can be."""
    return [episodes // num_envs + (1 if i < episodes % num_envs else 0) for i in range(num_envs)]


def run_episodes(
    env: Any, policy: Any, episodes: int, *, deterministic: bool, desc: str = "eval", show_progress: bool = True
) -> list[dict[str, Any]]:
    """Step `env` with `policy` until every env finished its quota; returns the per-episode records."""
    num_envs = env.num_envs
    quota = episode_quota(episodes, num_envs)
    counts = [0] * num_envs
    records: list[dict[str, Any]] = []
    max_len = int(torch.as_tensor(env.max_episode_length).max())
    step_limit = (max(quota) + 2) * max_len + 10
    obs = env.get_observations()
    policy.reset()
    with torch.inference_mode(), tqdm(total=episodes, desc=desc, unit="ep", disable=not show_progress) as bar:
        for _ in range(step_limit):
            if counts == quota:
                break
            actions = policy(obs, stochastic_output=not deterministic)
            obs, _, dones, extras = env.step(actions)
            policy.reset(dones)
            for episode in extras.get("finished_episodes", []):
                env_id = int(episode["env_id"])
                if counts[env_id] < quota[env_id]:
                    counts[env_id] += 1
                    records.append(_plain(episode))
                    bar.update(1)
        else:
            raise DepthbenchError(f"evaluation did not finish {episodes} episodes in {step_limit} steps per env")
    return records


def checkpoint_in_env(
    checkpoint: str | Path, *, split: str, num_envs: int, seed: int, env_overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], Any, Any]:
    """(config, env, runner) of a checkpoint on CPU with clean depth, its networks loaded (for a distilled student:
    student and teacher), for diagnostics that step a policy by hand (scripts/policy_action_stats.py,
    scripts/collision_bearings.py). `env_overrides` go on top of the checkpoint's env config."""
    data = load_checkpoint(checkpoint)
    meta = data["depthbench"]
    cfg = with_device(meta["config"], "cpu")
    cfg["env"] = {**cfg["env"], **(env_overrides or {})}
    setup = PolicySetup(cfg, kind=meta["kind"], teacher_cfg=_teacher_cfg(meta))
    generator = torch.Generator().manual_seed(seed)
    env = setup.make_env(seed=seed, noise_spec="clean", split=split, num_envs=num_envs, generator=generator)
    runner = setup.runner(env, log_dir=None)
    load_cfg = {"student": True, "teacher": True} if meta["kind"] == "distillation" else {"actor": True}
    runner.alg.load(data, load_cfg, strict=True)
    return cfg, env, runner


def _plain(episode: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in episode.items():
        if isinstance(value, torch.Tensor):
            value = value.item()
        out[key] = value
    return out


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    eval_noise: str | None = None,
    episodes: int | None = None,
    split: str | None = None,
    seed: int = 0,
    num_envs: int | None = None,
    device: str | None = None,
    show_progress: bool = True,
    deterministic: bool | None = None,
    video_episodes: int = 0,
    video_path: str | Path | None = None,
    engine: str | None = None,
    run_teacher: bool = True,
) -> dict[str, Any]:
    """Metrics of one checkpoint (and, for a distilled student, of its teacher on the same episodes, acting in the
    same mode: greedy against greedy, sampled against sampled). `deterministic` None: the config's
    eval.deterministic, or eval.student_deterministic for a distilled student. `video_episodes` > 0 also records
    that many episodes into an MP4 at `video_path` (default: beside the default metrics JSON), see video.py.
    `engine` None: the one it trained on. `run_teacher` False: no teacher rollout (the caller brings a teacher
    evaluation of the same split, e.g. `eval --teacher-metrics`)."""
    data = load_checkpoint(checkpoint)
    meta = data["depthbench"]
    cfg = with_device(meta["config"], device)
    if engine is not None:
        cfg["engine"] = engine
    if "curriculum" in cfg["env"]:  # training curricula shape training only: every split evaluates the task itself
        cfg = {**cfg, "env": {**cfg["env"], "curriculum": {**cfg["env"]["curriculum"], "enabled": False}}}
    if deterministic is None:
        deterministic = cfg["eval"]["student_deterministic" if meta["kind"] == "distillation" else "deterministic"]
    eval_cfg = {**cfg["eval"], "deterministic": deterministic}
    noise = eval_noise if eval_noise is not None else eval_cfg["noise"]
    episodes = int(episodes if episodes is not None else eval_cfg["episodes"])
    split = split if split is not None else eval_cfg["split"]
    num_envs = min(int(num_envs if num_envs is not None else eval_cfg["num_envs"]), episodes)
    if episodes < 1:
        raise DepthbenchError(f"--episodes must be >= 1, got {episodes}")
    if not 0 <= video_episodes <= episodes:
        raise DepthbenchError(f"--video {video_episodes} must be between 0 and the {episodes} evaluated episodes")

    seed_everything(EVAL_SEED_OFFSET + seed)  # stochastic policies sample from the global torch RNG
    setup = PolicySetup(cfg, kind=meta["kind"], teacher_cfg=_teacher_cfg(meta))
    _restore_frozen_encoder(setup, meta)
    generator = torch.Generator(device=cfg["device"]).manual_seed(EVAL_SEED_OFFSET + seed)
    env = setup.make_env(
        seed=EVAL_SEED_OFFSET + seed, noise_spec=noise, split=split, num_envs=num_envs, generator=generator
    )
    runner = setup.runner(env, log_dir=None)
    # evaluation needs the networks only: checkpoints without the optimizer state (reference copies) load too
    load_cfg = {"student": True, "teacher": True} if meta["kind"] == "distillation" else {"actor": True}
    runner.alg.load(data, load_cfg, strict=True)
    setup.describe_encoder(runner)
    policy = runner.get_inference_policy()
    label = setup.encoder_info["label"]
    recorder = None
    if video_episodes:
        from depthbench.agents.ablation import eval_path
        from depthbench.agents.video import EpisodeRecorder

        recorder = EpisodeRecorder(
            env,
            episodes=episodes,
            video_episodes=video_episodes,
            path=video_path or eval_path(Path(checkpoint).parent.parent, f"{noise}_{split}").with_suffix(".mp4"),
            title=f"{cfg['task']} | {label} | {meta['kind']} | eval noise {noise} | split {split} | seed {seed}",
            policy_input=noise,
        )
    try:
        records = run_episodes(
            recorder or env,
            policy,
            episodes,
            deterministic=eval_cfg["deterministic"],
            desc=f"eval {cfg['task']} [{label}] noise={noise}",
            show_progress=show_progress,
        )
        video = recorder.finish() if recorder else None
    finally:
        if recorder:
            recorder.close()
    result: dict[str, Any] = {
        "schema": "depthbench.metrics/1",
        "task": cfg["task"],
        "kind": meta["kind"],
        "checkpoint": str(checkpoint),
        "iterations": int(data["iter"]),
        "split": split,
        "eval_noise": noise,
        "train_noise": cfg["train_noise"],
        "train_seed": int(cfg["seed"]),
        "eval_seed": seed,
        "episodes": len(records),
        "deterministic": bool(eval_cfg["deterministic"]),
        "encoder": setup.encoder_info,
        "metrics": summarize_episodes(records, seed=seed),
        "groups": group_episodes(records, eval_cfg["group_by"], seed=seed),
        "config": cfg,
        "versions": agent_config.versions(),
    }
    if "weights_average" in meta:  # depthbench average: the mean of these iterates, not the checkpoint's own
        result["weights_average"] = meta["weights_average"]
    if meta["kind"] == "distillation" and run_teacher:
        teacher_env = setup.make_env(
            seed=EVAL_SEED_OFFSET + seed,
            noise_spec=noise,
            split=split,
            num_envs=num_envs,
            generator=torch.Generator().manual_seed(EVAL_SEED_OFFSET + seed),
        )
        teacher = runner.alg.teacher
        teacher.eval()
        teacher_records = run_episodes(
            teacher_env,
            teacher,
            episodes,
            deterministic=eval_cfg["deterministic"],
            desc="eval teacher",
            show_progress=show_progress,
        )
        result["teacher"] = {
            "metrics": summarize_episodes(teacher_records, seed=seed),
            "groups": group_episodes(teacher_records, eval_cfg["group_by"], seed=seed),
        }
        result["normalized_to_teacher"] = normalized_success(records, teacher_records, seed=seed)
    if video is not None:
        result["video"] = video
    result["episode_records"] = records
    return result


def with_device(cfg: dict[str, Any], device: str | None) -> dict[str, Any]:
    """The run config on `device` (default: where it trained); a CUDA run on a machine without CUDA is an error."""
    cfg = {**cfg, "device": device or cfg["device"]}
    if str(cfg["device"]).startswith("cuda") and not torch.cuda.is_available():
        raise DepthbenchError(f"this run used device '{cfg['device']}' but CUDA is not available; pass --device cpu")
    return cfg


def normalized_success(student: Sequence[dict], teacher: Sequence[dict], *, seed: int = 0) -> dict[str, Any]:
    """Student SR / teacher SR with a bootstrap 95% CI (DeFM paper: success normalized to the teacher)."""
    s = [float(r["success"]) for r in student]
    t = [float(r["success"]) for r in teacher]
    teacher_sr = sum(t) / len(t) if t else 0.0
    mean = (sum(s) / len(s)) / teacher_sr if teacher_sr > 0 else float("nan")
    lo, hi = stats.ratio_interval(s, t, seed=seed)
    return {"mean": mean, "ci95": [lo, hi], "n": len(s), "method": "bootstrap-ratio"}


def _teacher_cfg(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The distillation train_cfg embeds the teacher network; rebuild its run-config shape for PolicySetup."""
    if meta["kind"] != "distillation":
        return None
    train_cfg = meta["train_cfg"]
    # the model class is never taken from a file, except the one class that wraps registered scripted teachers
    teacher = {k: v for k, v in train_cfg["teacher"].items() if k != "class_name" or v == scripted_teachers.MODEL_CLASS}
    return {"teacher_obs_groups": {"actor": train_cfg["obs_groups"]["teacher"]}, "ppo": {"actor": teacher}}


def _restore_frozen_encoder(setup: PolicySetup, meta: dict[str, Any]) -> None:
    """Random-init frozen weights come from the checkpoint; pretrained ones must match the recorded provenance."""
    if setup.frozen_encoder is None:
        return
    state = meta.get("frozen_encoder_state")
    if state is not None:
        setup.frozen_encoder.load_state_dict(state)
        return
    recorded = meta["encoder"]["weights_provenance"]
    if str(setup.frozen_encoder.weights_provenance) != recorded:
        raise DepthbenchError(
            f"frozen encoder weights differ from training: now '{setup.frozen_encoder.weights_provenance}', "
            f"recorded '{recorded}'; make the original weights available"
        )


def validate_metrics(result: dict[str, Any]) -> None:
    """Check a metrics document against metrics.schema.json (raises DepthbenchError naming the problem)."""
    schema = json.loads(SCHEMA_PATH.read_text())
    try:
        jsonschema.validate(result, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise DepthbenchError(f"metrics JSON invalid at {where}: {exc.message}") from None


def write_metrics(result: dict[str, Any], path: str | Path) -> Path:
    """Validate and write atomically: the summary to `path`, per-episode records beside it (*.episodes.json)."""
    path = Path(path)
    records = result.pop("episode_records", [])
    validate_metrics(result)
    episodes_path = path.with_name(path.stem + ".episodes.json")
    result["episode_records_file"] = episodes_path.name
    write_json_atomic(episodes_path, records)
    write_json_atomic(path, result)
    return path
