"""Episode videos (`eval --video N`): the MP4 decodes to the frames the episodes imply, panels show what they claim,
metrics do not change, MuJoCo tasks get a rendered third-person view, failures leave no partial files."""

import json

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from depthbench.agents import training, video
from depthbench.agents.config import resolve_config
from depthbench.agents.evaluation import run_episodes
from depthbench.agents.wrappers import DepthFeatureWrapper
from depthbench.benchmarks.cli import main
from depthbench.envs import make_task
from depthbench.envs.mujoco_engine import OffscreenUnavailable
from depthbench.noise import build_noise

PANEL, HEADER = video.PANEL_PX, video.HEADER_PX
WIDTH, HEIGHT = video.FRAME_SIZE
POINTNAV_TINY = {"split": "test", "scenes": {"num_scenes": 1}, "dataset": {"episodes_per_scene": 4}}


def read_frames(path):
    with imageio.get_reader(str(path)) as reader:  # len() of an ffmpeg reader is inf: iterate
        return np.stack([frame for frame in reader])


def panel(frames, k):
    return frames[:, HEADER : HEADER + PANEL, k * PANEL : (k + 1) * PANEL].astype(float)


class ScriptedPolicy:
    """Uniform random actions from a seeded generator; `actions` restricts discrete ones (pointnav: never STOP)."""

    def __init__(self, num_envs, num_actions, actions=None, fail_after=None):
        self.generator = torch.Generator().manual_seed(0)
        self.num_envs, self.num_actions, self.actions = num_envs, num_actions, actions
        self.calls, self.fail_after = 0, fail_after

    def reset(self, dones=None):
        pass

    def __call__(self, obs, stochastic_output=False):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("policy crashed")
        if self.actions is not None:
            index = torch.randint(len(self.actions), (self.num_envs, 1), generator=self.generator)
            return torch.tensor(self.actions, dtype=torch.float32)[index]
        return torch.rand(self.num_envs, self.num_actions, generator=self.generator) * 2 - 1


def record(task, overrides, *, episodes, video_episodes, path, num_envs=2, noise="kinect-v1", actions=None, **kw):
    env = make_task(task, num_envs=num_envs, seed=0, overrides=overrides)
    wrapped = DepthFeatureWrapper(env, noise=build_noise(noise), generator=torch.Generator().manual_seed(0))
    recorder = video.EpisodeRecorder(
        wrapped, episodes=episodes, video_episodes=video_episodes, path=path, title=task, policy_input=noise
    )
    policy = ScriptedPolicy(num_envs, env.num_actions, actions, **kw)
    try:
        records = run_episodes(recorder, policy, episodes, deterministic=False, show_progress=False)
        info = recorder.finish()
    finally:
        recorder.close()
    return records, info, recorder


def test_episodes_are_chosen_first_of_every_env_then_second(tmp_path):
    # 5 episodes on 2 envs: quotas [3, 2]; 4 recorded: env 0 #0, env 1 #0, env 0 #1, env 1 #1
    pointnav = {**POINTNAV_TINY, "agent": {"max_episode_steps": 6}}
    records, info, _ = record(
        "pointnav", pointnav, episodes=5, video_episodes=4, path=tmp_path / "v.mp4", actions=[1, 2, 3]
    )
    assert [(e["env_id"], e["env_episode"]) for e in info["episodes"]] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    # never STOP, so every episode times out at 6 steps: 6 observed frames + the end card each
    assert all(r["length"] == 6 for r in records)
    end_card = video.END_CARD_S * video.DEFAULT_FPS
    assert [e["frames"] for e in info["episodes"]] == [6 + end_card] * 4
    assert [e["first_frame"] for e in info["episodes"]] == [0, 16, 32, 48]
    assert info["frames"] == 64 and info["fps"] == video.DEFAULT_FPS
    frames = read_frames(tmp_path / "v.mp4")
    assert frames.shape == (64, HEIGHT, WIDTH, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # segments and temp names removed


def test_eval_video_cli_matches_the_episodes_and_keeps_metrics(tmp_path):
    overrides = [
        "num_envs=2",
        "ppo.num_steps_per_env=8",
        "ppo.actor.rnn_hidden_dim=16",
        "ppo.actor.hidden_dims=[16]",
        "ppo.critic.hidden_dims=[16]",
        "env.scenes.num_scenes=1",
        "env.dataset.episodes_per_scene=4",
        "env.agent.max_episode_steps=20",
    ]
    cfg = resolve_config("pointnav", flags={"iterations": 1, "save_interval": 1}, overrides=overrides)
    run = tmp_path / "run"
    training.train(cfg, run, show_progress=False)
    common = ["eval", "pointnav", "--checkpoint", str(run), "--episodes", "3", "--num-envs", "2"]
    common += ["--eval-noise", "kinect-v1", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "plain.json")]) == 0
    assert main([*common, "--video", "3"]) == 0
    metrics = json.loads((run / "eval" / "kinect-v1-test.json").read_text())
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert metrics["metrics"] == plain["metrics"]  # recording passes everything through: same episodes, same numbers
    info = metrics["video"]
    assert info["path"] == str(run / "eval" / "kinect-v1-test.mp4")
    records = json.loads((run / "eval" / metrics["episode_records_file"]).read_text())
    by_env = {}
    for r in records:
        by_env.setdefault(r["env_id"], []).append(r)
    expected = [by_env[e["env_id"]][e["env_episode"]]["length"] + info["end_card_frames"] for e in info["episodes"]]
    assert [e["frames"] for e in info["episodes"]] == expected
    frames = read_frames(info["path"])
    assert frames.shape == (sum(expected), HEIGHT, WIDTH, 3) == (info["frames"], info["height"], info["width"], 3)
    clean, noisy, view = panel(frames, 0), panel(frames, 1), panel(frames, 2)
    for image in (clean, noisy, view):
        assert image.std() > 20  # real content, not a constant frame
    # kinect-v1 drops and quantizes depth: the policy's panel differs from the clean one (H.264 noise is ~2 levels)
    assert np.abs(clean - noisy).mean() > 10
    # the footer is blank while an episode runs and carries its metrics on the end card
    footer = frames[:, HEADER + PANEL :].astype(float)
    first = info["episodes"][0]
    assert footer[first["first_frame"]].std() < 3
    assert footer[first["first_frame"] + first["frames"] - 1].std() > 10
    assert main([*common, "--video", "4"]) == 2  # more than the evaluated episodes: one-line error


@pytest.mark.parametrize(
    ("task", "overrides"),
    [
        ("kuka-allegro-grasp", {"split": "test", "episode_length_s": 0.3, "success": {"hold_time_s": 0.2}}),
        ("anymal-ladder", {"split": "test", "episode_length_s": 0.3}),
    ],
)
def test_mujoco_tasks_get_a_rendered_third_person_view(task, overrides, tmp_path):
    records, info, _ = record(task, overrides, episodes=1, video_episodes=1, path=tmp_path / "v.mp4", num_envs=1)
    assert info["view"] == "third-person (MuJoCo, collision geometry)" and info["gl_backend"] != "none"
    assert info["fps"] == 50.0  # real time: 50 Hz control in both tasks
    frames = read_frames(tmp_path / "v.mp4")
    assert len(frames) == records[0]["length"] + 50
    view = panel(frames, 2)
    assert view.std() > 20
    # the scene is lit and shaded (many grey levels), unlike the flat fallback panel; random actions move the robot
    assert len(np.unique(frames[0, HEADER : HEADER + PANEL, 2 * PANEL :, 0])) > 50
    assert np.abs(view[-1] - view[0]).mean() > 0.5


def test_no_offscreen_gl_gives_labelled_depth_only_frames(tmp_path, monkeypatch, capsys):
    def unavailable(self, env_index, width_px, height_px):
        raise OffscreenUnavailable("no OpenGL here (test)")

    from depthbench.envs.navigation.pointnav import PointNavEnv

    monkeypatch.setattr(PointNavEnv, "render_view", unavailable)
    pointnav = {**POINTNAV_TINY, "agent": {"max_episode_steps": 4}}
    _, info, _ = record("pointnav", pointnav, episodes=1, video_episodes=1, path=tmp_path / "v.mp4", actions=[2, 3])
    assert info["view"] == "depth only (no task view: no OpenGL here (test))"
    assert "video frames are depth only: no OpenGL here (test)" in capsys.readouterr().err
    view = panel(read_frames(tmp_path / "v.mp4"), 2)
    # the fallback panel: its fill colour (90, 60, 60) with white text, within H.264's error
    fill = np.median(view.reshape(-1, 3), axis=0)
    assert np.allclose(fill, [90, 60, 60], atol=6)


def test_a_failed_evaluation_leaves_no_video_or_segments(tmp_path):
    pointnav = {**POINTNAV_TINY, "agent": {"max_episode_steps": 50}}
    with pytest.raises(RuntimeError, match="policy crashed"):
        record(
            "pointnav", pointnav, episodes=2, video_episodes=2, path=tmp_path / "v.mp4", actions=[1, 2, 3], fail_after=5
        )
    assert list(tmp_path.iterdir()) == []
