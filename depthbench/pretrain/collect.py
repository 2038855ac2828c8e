"""Harvest depth frames from the suite's own engines for pretraining: training scenes and splits only.

Frames come from the task's `depth` observation group (every camera image is one frame) under actions sampled from
the task's gymnasium action space, with optional depth noise. Evaluation splits are refused: an encoder pretrained
on the scenes a policy is tested in would leak them into every benchmark number built on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from depthbench.errors import DepthbenchError
from depthbench.pretrain.dataset import DepthDatasetWriter

HELD_OUT_SPLITS = ("val", "test")


def collect_frames(
    task: str,
    *,
    frames: int,
    out: str | Path,
    num_envs: int = 16,
    seed: int = 0,
    noise: str = "clean",
    every: int = 4,
    overrides: dict[str, Any] | None = None,
    command: str = "",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Step `task` with random actions and keep the depth images of every `every`-th step until `frames` frames."""
    from depthbench.envs import make_task, task_config
    from depthbench.envs.vector_adapter import GymVectorAdapter
    from depthbench.noise import build_noise

    if frames < 1 or num_envs < 1 or every < 1:
        raise DepthbenchError(f"--frames, --num-envs and --every must be >= 1 (got {frames}, {num_envs}, {every})")
    overrides = dict(overrides or {})
    split = overrides.get("split", task_config(task).get("split", "train"))
    if split in HELD_OUT_SPLITS:
        raise DepthbenchError(f"split {split!r} is held out for evaluation; collect pretraining frames from 'train'")
    env = make_task(task, num_envs=num_envs, seed=seed, overrides=overrides)
    if "depth" not in env.get_observations():
        raise DepthbenchError(f"task {task} has no depth observation group (is depth disabled in its config?)")
    gym_env = GymVectorAdapter(env)
    gym_env.action_space.seed(seed)
    noise_model = build_noise(noise)
    generator = torch.Generator().manual_seed(seed)
    obs, _ = gym_env.reset()
    provenance = {
        "source": "task",
        "task": task,
        "split": split,
        "seed": seed,
        "num_envs": num_envs,
        "policy": "random actions (the task's gymnasium action space)",
        "every_n_steps": every,
        # frames written per kept step (envs x cameras), in env order: frame i belongs to stream i % frames_per_step,
        # one env's trajectory, which `depthbench probe` resamples as a unit
        "frames_per_step": int(np.prod(obs["depth"].shape[:-2])),
        "noise": noise,
        "overrides": overrides,
        "command": command,
    }
    writer = DepthDatasetWriter(out, provenance)
    step = 0
    with tqdm(total=frames, desc=f"collect {task}", unit="frame", disable=not show_progress) as bar:
        while writer.frames < frames:
            if step % every == 0:
                depth = torch.from_numpy(obs["depth"]).float()
                depth = noise_model(depth, generator)
                batch = depth.reshape(-1, *depth.shape[-2:]).numpy()[: frames - writer.frames]
                writer.add(batch)
                bar.update(len(batch))
            obs, *_ = gym_env.step(gym_env.action_space.sample())
            step += 1
    return writer.close()
