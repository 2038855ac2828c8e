"""`embodied-nav`: embodiment-dependent collisions (overhangs), kinematics, camera height, families, timeouts."""

import numpy as np
import pytest
import torch
import trimesh

from depthbench.envs import make_task
from depthbench.envs.navigation.embodied import ClearanceMaps
from depthbench.envs.navigation.navgrid import scan_scene
from depthbench.envs.navigation.procedural import EMBODIED_OOD_FAMILIES
from depthbench.envs.navigation.raycast import World
from depthbench.envs.navigation.scenes import Scene
from depthbench.errors import DepthbenchError

TINY = {
    "scenes_per_family": 1,
    "episodes_per_scene": 2,
    "eval_scenes_per_family": 1,
    "eval_episodes": 8,
    "depth": {"width": 16, "height": 16},
}


@pytest.fixture(scope="module")
def test_env():
    return make_task("embodied-nav", num_envs=4, seed=0, overrides=TINY | {"split": "test"})


def test_clearance_lets_short_robots_pass_under_overhangs():
    floor = trimesh.creation.box(bounds=[[-5, -5, -0.1], [5, 5, 0]])
    beam = trimesh.creation.box(bounds=[[-0.2, -3, 0.5], [0.2, 3, 0.6]])  # a bar 0.5-0.6 m above the floor
    scan = scan_scene(Scene("beam", trimesh.util.concatenate([floor, beam])), 0.1, 1.25, 0.2, 45.0)
    maps = ClearanceMaps([scan], np.arange(0.25, 1.3, 0.05), reach_m=1.0)
    under = np.array([[0.0, 0.0]])
    short, tall = maps.height_bin(np.array([0.4])), maps.height_bin(np.array([1.0]))
    assert maps.clearance(np.array([0]), short, under)[0] > 3.0  # nothing below 0.4 m nearby
    assert maps.clearance(np.array([0]), tall, under)[0] <= 0.0  # inside the beam's footprint
    beside = np.array([[1.0, 0.0]])  # 0.8 m from the beam's side
    assert maps.clearance(np.array([0]), tall, beside)[0] == pytest.approx(0.8, abs=0.1)


def test_observations_embodiment_and_ood_families(test_env):
    env = test_env
    assert set(env.families) == set(EMBODIED_OOD_FAMILIES)
    obs = env.get_observations()
    assert obs["depth"].shape == (4, 1, 16, 16) and obs["policy"].shape == (4, 8)
    body = obs["policy"][:, 2:6].numpy()
    for column, (lo, hi) in enumerate(
        env.cfg["embodiment"][k] for k in ("radius_m", "height_m", "max_speed_mps", "max_yaw_rate_rps")
    ):
        assert ((body[:, column] >= lo - 1e-6) & (body[:, column] <= hi + 1e-6)).all()
    built = [ep for ep in env.episodes if ep is not None]  # val/test build the episodes they reach
    assert len(built) == 4 and all(10.0 <= ep.geodesic_distance_m <= 40.0 for ep in built)


def test_episodes_built_on_demand_equal_those_of_a_full_build(test_env):
    """val/test build each scene's episodes in order when an env first reaches them (an evaluation of N episodes
    builds about N, not all `eval_episodes`); each scene draws from its own generator, so they equal a full build."""
    env = test_env
    full = make_task("embodied-nav", num_envs=1, seed=0, overrides=TINY | {"split": "test"})
    for scene in range(len(full._scene_first)):
        full._build(scene, int(np.sum(full.ep_scene == scene)))
    assert all(ep is not None for ep in full.episodes) and len(full.episodes) == 8
    for g in env.eval_order[:4]:
        assert env.episodes[g].to_habitat() == full.episodes[g].to_habitat()
        np.testing.assert_array_equal(env.ep_body[g], full.ep_body[g])
        np.testing.assert_array_equal(env.ep_start[g], full.ep_start[g])


def test_camera_height_follows_the_body(test_env):
    env, e = test_env, test_env.engine
    depth = env.get_observations()["depth"][:, 0].numpy()
    expected = World(e.scenes, e.world.camera).render(
        e.scene, np.column_stack([e.xy, env.body[:, 1] - env.cfg["camera"]["below_top_m"]]), e.yaw
    )
    assert np.allclose(depth, expected)
    assert len(set(np.round(env.body[:, 1], 3))) > 1  # different robots, different camera heights


def test_unicycle_kinematics_scale_actions_by_the_robots_limits():
    env = make_task("embodied-nav", num_envs=4, seed=0, overrides=TINY)
    e, dt = env.engine, env.cfg["control_dt_s"]
    xy, yaw, body = e.xy.copy(), e.yaw.copy(), env.body.copy()
    _, _, done, _ = env.step(torch.tensor([[0.0, 1.0]] * 4))
    assert not done.any()  # turning in place never collides
    assert np.allclose(np.cos(e.yaw - yaw - body[:, 3] * dt), 1.0)
    assert np.allclose(e.xy, xy)
    xy, yaw = e.xy.copy(), e.yaw.copy()
    _, _, done, extras = env.step(torch.tensor([[0.5, 0.0]] * 4))
    moved = ~done.numpy()
    step = np.linalg.norm(e.xy - xy, axis=1)
    assert np.allclose(step[moved], 0.5 * body[moved, 2] * dt)
    assert all(f["collision_failure"] == 1.0 for f in extras["finished_episodes"])


def test_reverse_is_clipped_to_its_fraction_of_the_forward_speed():
    """Default forward only: a reverse command holds the robot still; `reverse_speed_fraction` f backs it at f * max."""
    for fraction in (0.0, 0.5):
        env = make_task("embodied-nav", num_envs=4, seed=0, overrides=TINY | {"reverse_speed_fraction": fraction})
        e, dt = env.engine, env.cfg["control_dt_s"]
        xy, yaw, speed = e.xy.copy(), e.yaw.copy(), env.body[:, 2].copy()
        _, _, done, _ = env.step(torch.tensor([[-1.0, 0.0]] * 4))
        moved = ~done.numpy()
        expected = xy - (fraction * speed * dt)[:, None] * np.column_stack([np.cos(yaw), np.sin(yaw)])
        assert moved.any() and np.allclose(e.xy[moved], expected[moved])
        assert np.allclose(env.last_action[moved, 0], -fraction)  # the executed action, which the policy observes


def test_driving_straight_ends_in_collision_failures_and_zero_speed_in_timeouts():
    env = make_task("embodied-nav", num_envs=4, seed=1, overrides=TINY | {"max_episode_steps": 400})
    done = []
    for _ in range(400):
        _, _, _, extras = env.step(torch.tensor([[1.0, 0.0]] * 4))
        done += extras["finished_episodes"]
        if len(done) >= 4:
            break
    assert len(done) >= 4 and all(f["collision_failure"] == 1.0 and f["success"] == 0.0 for f in done)
    assert all(f["path_length"] > 0 for f in done if f["length"] > 1)
    idle = make_task("embodied-nav", num_envs=2, seed=0, overrides=TINY | {"max_episode_steps": 3})
    for _ in range(3):
        _, _, dones, extras = idle.step(torch.zeros(2, 2))
    assert dones.all() and extras["time_outs"].all()
    assert [f["timeout"] for f in extras["finished_episodes"]] == [1.0, 1.0]
    assert {f["family"] for f in extras["finished_episodes"]} == {"mixed"}


def test_bad_embodied_config_is_a_clear_error():
    with pytest.raises(DepthbenchError, match="unknown embodied-nav family"):
        make_task("embodied-nav", num_envs=1, overrides={"families": ["moon"]})
    env = make_task("embodied-nav", num_envs=1, overrides=TINY)
    with pytest.raises(DepthbenchError, match="non-finite actions"):
        env.step(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(DepthbenchError, match="reverse_speed_fraction"):
        make_task("embodied-nav", num_envs=1, overrides=TINY | {"reverse_speed_fraction": 1.5})
    with pytest.raises(DepthbenchError, match="embodiment.radius_m"):
        make_task("embodied-nav", num_envs=1, overrides={"embodiment": {"radius_m": [0.5, 0.1]}})


def test_family_report_averages_ood_families_only():
    from depthbench.envs.navigation.embodied import family_report

    def ep(family, success, collision=0.0, timeout=0.0):
        return {"family": family, "success": success, "collision_failure": collision, "timeout": timeout}

    report = family_report(
        [ep("mixed", 1.0), ep("forest", 1.0), ep("forest", 0.0, collision=1.0), ep("warehouse", 0.0, timeout=1.0)]
    )
    assert report["success_rate"] == {"forest": 0.5, "mixed": 1.0, "warehouse": 0.0}
    assert report["ood_mean_success_rate"] == pytest.approx(0.25)  # (0.5 + 0.0) / 2, training family excluded
    assert report["collision_failure_rate"] == 0.25 and report["timeout_rate"] == 0.25
    with pytest.raises(DepthbenchError, match="no finished"):
        family_report([])


def test_generated_episodes_are_feasible_for_their_robot():
    """A privileged geodesic follower reaches the goal without touching anything: starts, goals and the 10-40 m
    geodesics are computed for each episode's own footprint (plus the planning margin) and height."""
    env = make_task("embodied-nav", num_envs=6, seed=0, overrides=TINY | {"split": "val", "eval_episodes": 6})
    obs, done = env.get_observations(), []
    for _ in range(600):
        p = obs["privileged"].numpy()
        heading_error = np.arctan2(p[:, 2], p[:, 1])
        action = np.column_stack([np.abs(heading_error) < 0.4, np.clip(3 * heading_error, -1, 1)])
        obs, _, _, extras = env.step(torch.tensor(action, dtype=torch.float32))
        done += extras["finished_episodes"]
        if len(done) >= 6:
            break
    assert len(done) >= 6
    assert all(f["success"] == 1.0 and f["collision_failure"] == 0.0 for f in done)
    assert all(f["path_length"] >= 10.0 - env.cfg["success_distance_m"] - 1e-6 for f in done)


def test_round_robin_order_spreads_any_prefix_evenly():
    from depthbench.envs.navigation.embodied import round_robin, spread

    assert spread(23, 4) == [6, 6, 6, 5] and spread(3, 4) == [1, 1, 1, 0]
    assert round_robin([[0, 1, 2], [3], [4, 5]]) == [0, 3, 4, 1, 5, 2]
    families = [[f * 10 + k for k in range(n)] for f, n in enumerate(spread(26, 4))]
    order = round_robin(families)
    for prefix in range(1, len(order) + 1):
        counts = [sum(i // 10 == f for i in order[:prefix]) for f in range(4)]
        assert max(counts) - min(counts) <= 1


def test_test_split_covers_every_ood_family_evenly_at_any_episode_count():
    num_envs, episodes = 3, 23  # 3 envs do not divide 4 families; 23 episodes: 6, 6, 6, 5 per family
    """Evaluation takes the first k episodes of every env; episodes end at random times (random drives collide or
    time out), yet the evaluated episodes are exactly the first N of the round-robin order: family counts differ by at
    most one, so a run of at least 4 episodes per family visits warehouse, forest, corridors and overhangs."""
    from depthbench.agents.evaluation import run_episodes

    overrides = TINY | {"split": "test", "eval_episodes": 24, "max_episode_steps": 6}
    env = make_task("embodied-nav", num_envs=num_envs, seed=0, overrides=overrides)
    assert sorted(env.eval_order.tolist()) == list(range(len(env.episodes)))  # every distinct episode once
    generator = torch.Generator().manual_seed(0)

    class RandomDrive(torch.nn.Module):
        def forward(self, obs, stochastic_output=False):
            return torch.rand(obs["policy"].shape[0], 2, generator=generator) * 2 - 1

        def reset(self, dones=None):
            pass

    records = run_episodes(env, RandomDrive(), episodes, deterministic=True, show_progress=False)
    lengths = {r["length"] for r in records}
    assert len(lengths) > 1  # episodes really ended at different steps
    order = [env.episodes[g].episode_id for g in env.eval_order[:episodes]]  # built: the evaluation reached them
    assert sorted(r["episode_id"] for r in records) == sorted(order)
    counts = [sum(r["family"] == f for r in records) for f in EMBODIED_OOD_FAMILIES]
    assert max(counts) - min(counts) <= 1 and min(counts) >= 4


def test_lookahead_ring_points_along_the_plan():
    """A short step out, the ring's geodesic drop is largest at the heading nearest the descent direction (so its
    headings run counter-clockwise from straight ahead, in the robot's frame, as documented)."""
    k, radii = 16, [0.3, 2.0]
    privileged = {"patch_cells": 3, "patch_cell_m": 0.25, "lookahead_radii_m": radii, "lookahead_headings": k}
    env = make_task("embodied-nav", num_envs=6, seed=0, overrides=TINY | {"split": "val", "privileged": privileged})
    p = env.get_observations()["privileged"].numpy()
    assert p.shape == (6, 3 + 9 + len(radii) * k)
    ring = p[:, 12:].reshape(6, len(radii), k)
    assert np.all(np.abs(ring) <= 1.0)
    descent = np.arctan2(p[:, 2], p[:, 1])
    best = 2 * np.pi * ring[:, 0].argmax(1) / k
    error = np.abs(np.angle(np.exp(1j * (best - descent))))
    open_ahead = ring[:, 0].max(1) > 0.9  # the best 0.3 m step is nearly straight down the field
    assert open_ahead.sum() >= 3
    assert np.all(error[open_ahead] <= np.pi / k + 0.15)  # half a heading bin, plus the field's discretisation


def test_lookahead_ring_off_keeps_the_privileged_shape_of_earlier_checkpoints():
    env = make_task("embodied-nav", num_envs=2, seed=0, overrides=TINY | {"split": "val", "eval_episodes": 4})
    cells = env.cfg["privileged"]["patch_cells"]
    assert env.get_observations()["privileged"].shape == (2, 3 + cells * cells)


def test_training_collisions_can_block_instead_of_ending_and_evaluation_always_ends():
    """Driving straight on: with train_collision_ends_episode false the train split never ends on a collision (each
    blocked step is penalized by collision_reward and counted, the robot stays put) and episodes run to the time
    limit; the val split ignores the setting."""
    cfg = TINY | {"max_episode_steps": 60, "train_collision_ends_episode": False}
    env = make_task("embodied-nav", num_envs=4, seed=1, overrides=cfg)
    penalty, slack = env.cfg["reward"]["collision_reward"], env.cfg["reward"]["slack_reward"]
    done, blocked_rewards = [], []
    for _ in range(60):
        before = env.engine.xy.copy()
        _, reward, dones, extras = env.step(torch.tensor([[1.0, 0.0]] * 4))
        stuck = np.all(env.engine.xy == before, axis=1) & ~dones.numpy()
        blocked_rewards += reward.numpy()[stuck].tolist()
        done += extras["finished_episodes"]
    assert len(done) == 4 and all(f["timeout"] == 1.0 and f["collision_failure"] == 0.0 for f in done)
    assert sum(f["blocked_steps"] for f in done) > 0  # driving straight for 60 steps meets a wall
    assert blocked_rewards and np.allclose(blocked_rewards, slack + penalty)
    val = make_task("embodied-nav", num_envs=4, seed=1, overrides=cfg | {"split": "val", "eval_episodes": 8})
    ended = []
    for _ in range(60):
        ended += val.step(torch.tensor([[1.0, 0.0]] * 4))[3]["finished_episodes"]
    assert any(f["collision_failure"] == 1.0 and f["blocked_steps"] == 1 for f in ended)


def test_action_rate_penalty_is_its_coefficient_times_the_squared_action_change():
    """Same seed, same actions: the rewards of action_rate -0.5 and 0 differ by exactly -0.5 |a_t - a_(t-1)|^2, with
    a_(-1) = 0 after a reset."""
    actions = torch.tensor([[[0.5, 1.0]] * 2, [[0.5, -1.0]] * 2, [[0.0, -1.0]] * 2])
    rewards = {}
    for rate in (0.0, -0.5):
        env = make_task("embodied-nav", num_envs=2, seed=3, overrides=TINY | {"reward": {"action_rate": rate}})
        rewards[rate] = torch.stack([env.step(a)[1] for a in actions])
    change = torch.diff(actions, dim=0, prepend=torch.zeros(1, 2, 2)).square().sum(-1)  # [1.25, 4, 0.25] per env
    torch.testing.assert_close(rewards[-0.5] - rewards[0.0], -0.5 * change, rtol=0, atol=1e-5)
