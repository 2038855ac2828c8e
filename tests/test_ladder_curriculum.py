"""anymal-ladder training curriculum: the level rule on hand-worked cases, the level -> ladder mapping at its
extremes, no curriculum in evaluation splits, seeded reproducibility, and levels carried through chunks and
`--resume` in checkpoints that load with weights_only=True."""

import json

import numpy as np
import pytest
import torch

from depthbench.agents import training
from depthbench.agents.config import resolve_config
from depthbench.agents.evaluation import evaluate_checkpoint
from depthbench.envs import make_task, task_config
from depthbench.envs.ladder import spec as ladder_spec
from depthbench.errors import DepthbenchError

NO_DEPTH = {"depth": {"enabled": False}}


def _cfg(**overrides: dict) -> dict:
    return task_config("anymal-ladder", {**NO_DEPTH, **overrides})


def test_level_rule_moves_up_down_stays_and_resamples_the_solved_top_level():
    cfg = _cfg()  # platform 2 m up, up above 50 % (1 m), down below 10 % (0.2 m), levels 0-9
    levels = np.array([2, 2, 2, 5, 0, 9, 9])
    climbed_m = np.array([1.2, 0.5, 0.1, 0.05, 0.0, 1.7, 0.05])
    success = np.array([False, False, False, True, False, False, True])
    new = ladder_spec.next_levels(levels, climbed_m, success, cfg, np.random.default_rng(0))
    # up (1.2 m > 1 m), stay (0.2 <= 0.5 < 1 m), down (0.1 < 0.2 m), up on success despite 0.05 m, down clipped at 0,
    # and two envs past the top: resampled in [0, 9]
    assert new[:5].tolist() == [3, 2, 1, 6, 0]
    assert all(0 <= level <= 9 for level in new[5:])
    resampled = ladder_spec.next_levels(
        np.full(5000, 9), np.full(5000, 1.9), np.ones(5000, bool), cfg, np.random.default_rng(1)
    )
    counts = np.bincount(resampled, minlength=10)
    # uniform over 10 levels: 500 each, binomial sd ~21, so 400-600 holds with overwhelming probability
    assert counts.size == 10 and counts.min() > 400 and counts.max() < 600


def test_extreme_levels_are_the_grids_easiest_cell_and_its_whole_range():
    cfg = _cfg()
    ladder = cfg["ladder"]
    rng = np.random.default_rng(0)
    easiest = [ladder_spec.curriculum_params(cfg, 0, rng) for _ in range(50)]
    assert {p.angle_deg for p in easiest} == {float(min(ladder["eval_angles_deg"]))}  # 70 deg
    assert {round(p.rung_radius_m * 1000, 9) for p in easiest} == {float(max(ladder["eval_rung_radii_mm"]))}  # 45 mm
    assert {p.distance_m for p in easiest} == {cfg["curriculum"]["distance_m_range"][0]}
    top = [ladder_spec.curriculum_params(cfg, 9, rng) for _ in range(2000)]
    angles = np.array([p.angle_deg for p in top])
    radii_mm = np.array([p.rung_radius_m * 1000 for p in top])
    # uniform over the grid's range 70-90 deg x 15-45 mm: 2000 draws come within 0.5 % of the range of both ends
    assert 70 <= angles.min() < 70.1 and 89.9 < angles.max() <= 90
    assert 15 <= radii_mm.min() < 15.15 and 44.85 < radii_mm.max() <= 45
    assert {p.distance_m for p in top} == {ladder["distance_m"]}  # the evaluation's start distance
    middle = [ladder_spec.curriculum_params(cfg, 3, rng) for _ in range(500)]  # difficulty 1/3
    assert max(p.angle_deg for p in middle) <= 70 + 20 / 3 + 1e-9
    assert min(p.rung_radius_m for p in middle) * 1000 >= 45 - 30 / 3 - 1e-9
    assert {round(p.distance_m, 9) for p in middle} == {round(0.6 + 0.4 / 3, 9)}
    spacing = ladder["rung_spacing_m_range"]
    assert all(spacing[0] <= p.rung_spacing_m <= spacing[1] for p in middle)


@pytest.mark.parametrize("split", ["val", "test"])
def test_evaluation_splits_never_use_the_curriculum(split):
    env = make_task("anymal-ladder", num_envs=3, overrides={**NO_DEPTH, "split": split, "episode_length_s": 0.1})
    assert env.curriculum_state() is None
    assert [p.angle_deg for p in env.params] == [ladder_spec.grid_params(env.cfg, i).angle_deg for i in range(3)]
    env.load_curriculum_state({"levels": [9, 9, 9]})  # a training state handed to an eval env changes nothing
    assert [p.angle_deg for p in env.params] == [ladder_spec.grid_params(env.cfg, i).angle_deg for i in range(3)]
    finished = []
    for _ in range(env.max_episode_length):
        finished += env.step(torch.zeros(3, 12))[3]["finished_episodes"]
    assert len(finished) == 3 and all("curriculum_level" not in ep for ep in finished)


def test_timeouts_lower_every_level_and_the_same_seed_repeats_levels_and_ladders():
    def run(seed: int) -> tuple[list, list]:
        env = make_task("anymal-ladder", num_envs=3, seed=seed, overrides={**NO_DEPTH, "episode_length_s": 0.1})
        env.load_curriculum_state({"levels": [9, 4, 0]})
        ladders = [tuple(round(p.angle_deg, 6) for p in env.params)]
        reported = []
        for _ in range(env.max_episode_length):  # standing still: every episode times out without climbing
            finished = env.step(torch.zeros(3, 12))[3]["finished_episodes"]
            reported += [(ep["env_id"], ep["curriculum_level"], ep["failure"]) for ep in finished]
        ladders.append(tuple(round(p.angle_deg, 6) for p in env.params))
        assert sorted(reported) == [(0, 9, "timeout"), (1, 4, "timeout"), (2, 0, "timeout")]
        assert env.curriculum_state() == {"levels": [8, 3, 0]}
        assert env.params[2].angle_deg == 70.0 and env.params[2].distance_m == 0.6  # level 0: the easiest ladder
        return ladders, env.curriculum_state()["levels"]

    assert run(5) == run(5)
    assert run(5)[0] != run(6)[0]  # another seed draws other ladders at the same levels


def test_bad_curriculum_configs_are_clear_errors():
    with pytest.raises(DepthbenchError, match="down_fraction < up_fraction"):
        make_task("anymal-ladder", num_envs=1, overrides={"curriculum": {"down_fraction": 0.6}})
    with pytest.raises(DepthbenchError, match="num_levels"):
        make_task("anymal-ladder", num_envs=1, overrides={"curriculum": {"num_levels": 1}})
    with pytest.raises(DepthbenchError, match="ladder distance 0.2 m"):
        make_task("anymal-ladder", num_envs=1, overrides={"curriculum": {"distance_m_range": [0.2, 1.0]}})
    env = make_task("anymal-ladder", num_envs=2, overrides=NO_DEPTH)
    with pytest.raises(DepthbenchError, match="2 envs and levels 0-9"):
        env.load_curriculum_state({"levels": [0, 12]})


TINY = [
    "num_envs=4",
    "ppo.num_steps_per_env=8",
    "ppo.actor.hidden_dims=[16]",
    "ppo.critic.hidden_dims=[16]",
    "env.depth.enabled=false",
    "env.episode_length_s=0.1",  # 5 policy steps: every env ends 3 episodes in a chunk of 16 steps
    "env.curriculum.num_levels=30",  # start levels uniform in 0-29: some stay above 0 after 6 one-level drops
    "env.curriculum.initial_max_level=29",
]


def test_levels_survive_chunk_rebuilds_and_resume_from_weights_only_checkpoints(tmp_path):
    cfg = resolve_config("anymal-ladder", flags={"iterations": 4, "save_interval": 2}, overrides=TINY)
    training.train(cfg, tmp_path / "full", kind="teacher", show_progress=False)
    training.train({**cfg, "iterations": 2}, tmp_path / "short", kind="teacher", show_progress=False)
    training.train(cfg, tmp_path / "short", resume=True, iterations=4, show_progress=False)
    full = torch.load(tmp_path / "full/checkpoints/model_4.pt", weights_only=True)["depthbench"]["curriculum"]
    middle = torch.load(tmp_path / "full/checkpoints/model_2.pt", weights_only=True)["depthbench"]["curriculum"]
    resumed = torch.load(tmp_path / "short/checkpoints/model_4.pt", weights_only=True)["depthbench"]["curriculum"]
    # 0.1 s episodes climb nothing, so every episode end lowers the level by one: chunk 2 continues from chunk 1's
    # levels (3 episodes per env per chunk), and a resumed run from the checkpoint's
    starts = make_task("anymal-ladder", num_envs=4, seed=training.chunk_env_seed(0, 0), overrides=cfg["env"]).levels
    assert middle["levels"] == [max(int(level) - 3, 0) for level in starts]
    assert full["levels"] == [max(level - 3, 0) for level in middle["levels"]]
    assert resumed == full and max(full["levels"]) > 0
    # evaluating a curriculum run, even on the train split, samples the task's own ladders (no levels, start 1 m)
    result = evaluate_checkpoint(
        tmp_path / "full/checkpoints/model_4.pt", split="train", episodes=8, num_envs=4, show_progress=False
    )
    records = result["episode_records"]
    assert all("curriculum_level" not in r for r in records)
    assert len({round(r["angle_deg"], 3) for r in records}) == 8  # uniform 70-90 deg, not level 0's 70 deg


def test_curriculum_plot_only_for_runs_that_log_levels(tmp_path):
    from depthbench.agents.report import plot_curriculum

    manifest = {"task": "anymal-ladder", "kind": "teacher", "seed": 0}
    rows = [{"iteration": i + 1, "episodes": 4, "climbed_m": 0.1 * i} for i in range(5)]
    run = tmp_path / "run"
    run.mkdir()
    (run / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert not plot_curriculum([(run, manifest)], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    rows = [{**r, "curriculum_level": 0.5 * i} for i, r in enumerate(rows)]
    (run / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert plot_curriculum([(run, manifest)], tmp_path / "curriculum.png")
    from PIL import Image

    assert Image.open(tmp_path / "curriculum.png").size == (13 * 110, int(4.5 * 110))  # figsize x dpi


def test_paper_preset_trains_the_ladder_teacher_with_the_curriculum_at_gpu_scale():
    cfg = resolve_config("anymal-ladder", preset="paper")
    assert cfg["device"] == "cuda" and cfg["num_envs"] == 256 and cfg["iterations"] == 3000
    assert ladder_spec.curriculum_active(cfg["env"])
    assert cfg["save_interval"] == 100  # levels are handed over at every one of the 30 chunk boundaries
    ladder_spec.validate_config(cfg["env"])
    assert not ladder_spec.curriculum_active({**cfg["env"], "split": "test"})
