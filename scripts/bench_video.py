"""Cost of episode videos: the same evaluation loop with and without EpisodeRecorder (docs/videos.md, "Cost").

    OMP_NUM_THREADS=1 python scripts/bench_video.py pointnav kuka-allegro-grasp anymal-ladder

Two envs, two recorded episodes of 100 steps each (episodes time out), kinect-v1 noise, seeded random actions
(pointnav: never STOP). Prints wall seconds for both and the video's frame count.
"""

import sys
import tempfile
import time
from pathlib import Path

import torch

from depthbench.agents.evaluation import run_episodes
from depthbench.agents.video import EpisodeRecorder
from depthbench.agents.wrappers import DepthFeatureWrapper
from depthbench.envs import make_task
from depthbench.noise import build_noise

OVERRIDES = {
    "pointnav": {"split": "test", "scenes": {"num_scenes": 1}, "agent": {"max_episode_steps": 100}},
    "embodied-nav": {"split": "val", "scenes_per_family": 1, "episodes_per_scene": 2, "max_episode_steps": 100},
    "kuka-allegro-grasp": {"split": "test", "episode_length_s": 2.0},  # 50 Hz: 100 steps
    "anymal-ladder": {"split": "test", "episode_length_s": 2.0},
}


class RandomPolicy:
    def __init__(self, task, num_envs, num_actions):
        self.generator = torch.Generator().manual_seed(0)
        self.task, self.shape = task, (num_envs, num_actions)

    def reset(self, dones=None):
        pass

    def __call__(self, obs, stochastic_output=False):
        if self.task == "pointnav":  # MOVE_FORWARD / TURN_LEFT / TURN_RIGHT
            return torch.randint(1, 4, self.shape, generator=self.generator).float()
        return torch.rand(self.shape, generator=self.generator) * 2 - 1


def main(tasks):
    out = Path(tempfile.mkdtemp())
    for task in tasks:
        for with_video in (False, True):
            env = make_task(task, num_envs=2, seed=0, overrides=OVERRIDES[task])
            noise = DepthFeatureWrapper(env, noise=build_noise("kinect-v1"), generator=torch.Generator().manual_seed(0))
            recorder = None
            if with_video:
                recorder = EpisodeRecorder(
                    noise, episodes=2, video_episodes=2, path=out / f"{task}.mp4", title=task, policy_input="kinect-v1"
                )
            start = time.perf_counter()
            records = run_episodes(
                recorder or noise, RandomPolicy(task, 2, env.num_actions), 2, deterministic=False, show_progress=False
            )
            frames = recorder.finish()["frames"] if recorder else "-"
            seconds = time.perf_counter() - start
            if recorder:
                recorder.close()
            steps = sum(r["length"] for r in records)
            print(f"{task:20s} video={with_video!s:5s} {seconds:6.2f} s  {steps} env-steps  frames {frames}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(OVERRIDES))
