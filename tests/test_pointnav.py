"""`pointnav` task: Habitat measures, reward, collisions/sliding, goal sensors, determinism, bad inputs."""

import math

import numpy as np
import pytest
import torch
import trimesh

from depthbench.envs import make_task
from depthbench.envs.navigation.episodes import Episode, write_dataset
from depthbench.envs.navigation.pointnav import MOVE_FORWARD, STOP, TURN_LEFT, TURN_RIGHT
from depthbench.envs.navigation.scenes import HABITAT_TO_NAV
from depthbench.errors import DepthbenchError

SMALL = {
    "depth": {"width": 32, "height": 32},
    "scenes": {"num_scenes": 2, "size_classes": ["small"]},
    "dataset": {"episodes_per_scene": 12},
    "split": "val",
}


def follower_actions(env):
    """Greedy shortest-path follower on the geodesic field: try every reachable heading one step ahead (through the
    env's own motion model) and turn towards / move along the one that lowers the geodesic distance most."""
    e, a = env.engine, env.agent
    turn = math.radians(a["turn_angle_deg"])
    n = round(2 * math.pi / turn)
    ids = np.arange(env.num_envs)
    best, best_k = np.full(env.num_envs, np.inf), np.zeros(env.num_envs, int)
    for k in range(n):
        heading = e.yaw + k * turn
        end, _ = e.move(
            ids, a["forward_step_m"] * np.column_stack([np.cos(heading), np.sin(heading)]), a["allow_sliding"]
        )
        value = e.geodesic(end) + 1e-3 * min(k, n - k)
        better = value < best
        best[better], best_k[better] = value[better], k
    act = np.where(best_k == 0, MOVE_FORWARD, np.where(best_k <= n // 2, TURN_LEFT, TURN_RIGHT))
    return np.where(env.distance < 0.9 * a["success_distance_m"], STOP, act)


def run_episodes(env, policy, count):
    done = []
    while len(done) < count:
        _, _, _, extras = env.step(torch.tensor(policy(env), dtype=torch.float32)[:, None])
        done += extras["finished_episodes"]
    return done[:count]


@pytest.mark.parametrize("preset", ["habitat-classic", "habitat-challenge"])
def test_shortest_path_follower_succeeds_with_high_spl(preset):
    env = make_task("pointnav", num_envs=8, seed=0, overrides={**SMALL, "preset": preset})
    done = run_episodes(env, follower_actions, 24)
    assert np.mean([d["success"] for d in done]) >= 0.95
    assert np.mean([d["spl"] for d in done]) >= 0.9
    assert all(0.0 <= d["spl"] <= 1.0 and 0.0 <= d["soft_spl"] <= 1.0 for d in done)


def test_random_policy_almost_never_succeeds():
    env = make_task("pointnav", num_envs=8, seed=1, overrides=SMALL)
    rng = np.random.default_rng(0)
    done = run_episodes(env, lambda e: rng.integers(0, 4, e.num_envs), 100)
    assert np.mean([d["success"] for d in done]) <= 0.03
    assert all(d["spl"] == 0.0 for d in done if d["success"] == 0.0)


def room_dataset(tmp_path, episodes, extra_boxes=()):
    """A 6 x 4 m room with 0.1 m walls saved as a Habitat (Y-up) .ply, and a PointNav file for it."""
    t = 0.1
    boxes = [([-t, -t, -0.1], [6 + t, 4 + t, 0]), ([-t, -t, 0], [6 + t, 0, 2.5]), ([-t, 4, 0], [6 + t, 4 + t, 2.5])]
    boxes += [([-t, 0, 0], [0, 4, 2.5]), ([6, 0, 0], [6 + t, 4, 2.5]), *extra_boxes]
    mesh = trimesh.util.concatenate([trimesh.creation.box(bounds=np.array(b, float)) for b in boxes])
    mesh.vertices = mesh.vertices @ HABITAT_TO_NAV  # navigation frame -> Habitat's Y-up frame
    mesh.export(tmp_path / "room.ply")
    eps = [
        Episode(str(i), str(tmp_path / "room.ply"), np.array([*s, 0.0]), yaw, np.array([*g, 0.0]), 0.2, 0.0)
        for i, (s, yaw, g) in enumerate(episodes)
    ]
    write_dataset(tmp_path / "room.json.gz", eps)
    return str(tmp_path / "room.json.gz")


def room_env(tmp_path, episodes, **agent):
    overrides = {"depth": {"width": 8, "height": 8}, "dataset": {"path": room_dataset(tmp_path, episodes)}}
    if agent:
        overrides["agent"] = agent
    return make_task("pointnav", num_envs=1, seed=0, overrides=overrides)


def play(env, actions):
    out = []
    for act in actions:
        _, reward, done, extras = env.step(torch.tensor([[float(act)]]))
        out.append((float(reward[0]), bool(done[0]), extras))
    return out


def test_spl_and_soft_spl_match_hand_computed_values(tmp_path):
    env = room_env(tmp_path, [((1.0, 1.0), 0.0, (3.0, 1.0))])
    assert env.start_distance[0] == pytest.approx(2.0, abs=0.01)
    # Detour: left 90 deg, 0.5 m up, right 90 deg, 2 m along x, right 90 deg, 0.5 m down, STOP at the goal.
    L, R, F = TURN_LEFT, TURN_RIGHT, MOVE_FORWARD
    steps = play(env, [L] * 9 + [F] * 2 + [R] * 9 + [F] * 8 + [R] * 9 + [F] * 2 + [STOP])
    (ep,) = steps[-1][2]["finished_episodes"]
    d0 = 2.0
    assert ep["success"] == 1.0
    assert ep["path_length"] == pytest.approx(3.0, abs=1e-6)
    assert ep["spl"] == pytest.approx(d0 / 3.0, abs=0.01)
    assert ep["soft_spl"] == pytest.approx((1 - ep["distance_to_goal"] / d0) * d0 / 3.0, abs=0.01)
    assert ep["length"] == 40 and ep["collisions"] == 0
    # Stop halfway: no success, Soft-SPL = (1 - 1/2) * 2 / max(2, 1) = 0.5.
    steps = play(env, [F] * 4 + [STOP])
    (ep,) = steps[-1][2]["finished_episodes"]
    assert ep["success"] == 0.0 and ep["spl"] == 0.0
    assert ep["soft_spl"] == pytest.approx(0.5, abs=0.01)
    # Reward: slack -0.01 plus the geodesic progress (0.25 m per forward step), +2.5 on success.
    assert [r for r, _, _ in steps[:4]] == pytest.approx([0.24] * 4, abs=0.01)
    assert steps[-1][0] == pytest.approx(-0.01, abs=0.01)


def test_success_bonus_and_timeouts(tmp_path):
    env = room_env(tmp_path, [((1.0, 1.0), 0.0, (2.0, 1.0))], max_episode_steps=6)
    steps = play(env, [MOVE_FORWARD] * 4 + [STOP])
    assert steps[-1][0] == pytest.approx(2.5 - 0.01, abs=0.01)
    assert steps[-1][2]["finished_episodes"][0]["success"] == 1.0
    assert not steps[-1][2]["time_outs"][0]
    steps = play(env, [TURN_LEFT] * 6)
    assert [d for _, d, _ in steps] == [False] * 5 + [True]
    assert bool(steps[-1][2]["time_outs"][0])
    assert steps[-1][2]["finished_episodes"][0]["length"] == 6


def test_sliding_moves_along_walls_and_no_sliding_stops(tmp_path):
    # Start 0.3 m below the top wall (y = 4) heading 45 deg into it; radius 0.1 m keeps centres below ~3.9 m.
    episodes = [((1.0, 3.7), math.radians(45), (5.0, 1.0))]
    slide = room_env(tmp_path, episodes)
    play(slide, [MOVE_FORWARD] * 6)
    x_slide, y_slide = slide.engine.xy[0]
    assert 3.75 < y_slide <= 4.0 - 0.1 + 0.05  # wall face minus radius, within one grid cell
    assert x_slide - 1.0 > 0.25 * 6 * math.cos(math.radians(45))  # slid along x beyond the diagonal component
    assert slide.collisions[0] >= 4

    stuck = room_env(tmp_path, episodes, allow_sliding=False)
    play(stuck, [MOVE_FORWARD] * 6)
    x_stuck, y_stuck = stuck.engine.xy[0]
    assert y_stuck > 3.75 and x_stuck - 1.0 < 0.3  # reached the wall, then no tangential motion
    assert stuck.collisions[0] >= 4
    assert stuck.path_length[0] < slide.path_length[0]


def test_goal_sensors(tmp_path):
    env = room_env(tmp_path, [((1.0, 1.0), 0.0, (3.0, 1.0))])
    assert env.goal_sensor()[0].tolist() == pytest.approx([2.0, 0.0], abs=1e-6)
    # policy group: (rho, cos phi, sin phi) and the previous action one-hot (none yet after a reset)
    assert env.get_observations()["policy"][0].tolist() == pytest.approx([2.0, 1.0, 0.0, 0, 0, 0, 0], abs=1e-5)
    obs, *_ = env.step(torch.tensor([[float(TURN_LEFT)]]))
    phi = -math.radians(10)  # goal now to the right
    assert env.goal_sensor()[0].tolist() == pytest.approx([2.0, phi], abs=1e-6)
    expected = [2.0, math.cos(phi), math.sin(phi), 0, 0, 1, 0]
    assert obs["policy"][0].tolist() == pytest.approx(expected, abs=1e-5)
    obs, *_ = env.step(torch.tensor([[float(MOVE_FORWARD)]]))
    forward = np.array([math.cos(math.radians(10)), math.sin(math.radians(10))]) * 0.25
    rel = np.array([2.0, 0.0]) - forward
    assert obs["policy"][0][0].item() == pytest.approx(np.hypot(*rel), abs=1e-5)
    assert obs["policy"][0][3:].tolist() == [0, 1, 0, 0]
    obs, *_ = env.step(torch.tensor([[float(STOP)]]))  # ends the episode: the new one starts with no previous action
    assert obs["policy"][0][3:].tolist() == [0, 0, 0, 0]

    polar = make_task(
        "pointnav",
        num_envs=1,
        overrides={
            "goal_sensor": "start_polar",
            "depth": {"width": 8, "height": 8},
            "dataset": {"path": str(tmp_path / "room.json.gz")},
        },
    )
    first = polar.goal_sensor().copy()
    polar.step(torch.tensor([[float(MOVE_FORWARD)]]))
    assert np.array_equal(polar.goal_sensor(), first)  # no GPS: the goal stays in the start frame


def test_same_seed_gives_identical_episodes_and_observations():
    def rollout(seed):
        env = make_task("pointnav", num_envs=4, seed=seed, overrides=SMALL | {"split": "train"})
        rng = np.random.default_rng(0)
        finished, frames = [], []
        for _ in range(30):
            obs, _, _, extras = env.step(torch.tensor(rng.integers(0, 4, (4, 1)), dtype=torch.float32))
            finished += [(f["episode_id"], f["length"], f["distance_to_goal"]) for f in extras["finished_episodes"]]
            frames.append(obs["depth"].clone())
        return finished, torch.stack(frames)

    a, b, c = rollout(3), rollout(3), rollout(4)
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    assert [f[0] for f in a[0]] != [f[0] for f in c[0]]


def test_observation_groups_follow_the_contract():
    env = make_task("pointnav", num_envs=3, overrides=SMALL)
    obs = env.get_observations()
    assert obs.batch_size == torch.Size([3])
    assert obs["depth"].shape == (3, 1, 32, 32) and obs["depth"].dtype == torch.float32
    assert obs["policy"].shape == (3, 7)
    assert obs["privileged"].shape == (3, 3 + 11 * 11)
    assert ((obs["depth"] == 0) | ((obs["depth"] > 0) & (obs["depth"] <= 10.0))).all()
    assert env.num_actions == 1


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(DepthbenchError, match="off the navmesh"):
        room_env(tmp_path, [((1.0, 1.0), 0.0, (8.0, 1.0))])  # goal outside the room
    with pytest.raises(DepthbenchError, match="off the navmesh"):
        room_env(tmp_path, [((1.0, 1.0), 0.0, (3.0, 4.05))])  # goal inside the wall
    divided = room_dataset(tmp_path, [((1.0, 1.0), 0.0, (5.0, 1.0))], extra_boxes=[([2.9, 0, 0], [3.1, 4, 2.5])])
    with pytest.raises(DepthbenchError, match="not connected"):
        make_task("pointnav", num_envs=1, overrides={"dataset": {"path": divided}})
    path = room_dataset(tmp_path, [((1.0, 1.0), 0.0, (3.0, 1.0))])
    (tmp_path / "room.ply").unlink()
    with pytest.raises(DepthbenchError, match="scene file not found"):
        make_task("pointnav", num_envs=1, overrides={"dataset": {"path": path}})
    with pytest.raises(DepthbenchError, match="unknown pointnav preset"):
        make_task("pointnav", num_envs=1, overrides={"preset": "habitat-2030"})


def test_cli_writes_episodes_for_a_glb_scan_that_the_task_loads(tmp_path):
    from depthbench.benchmarks.cli import main
    from depthbench.envs.navigation.episodes import read_dataset

    room_dataset(tmp_path, [((1.0, 1.0), 0.0, (3.0, 1.0))])
    glb = tmp_path / "room.glb"
    trimesh.load(tmp_path / "room.ply", force="mesh").export(glb)
    out = tmp_path / "gen" / "val.json.gz"
    assert main(["nav", "episodes", str(out), "--scene", str(glb), "--episodes-per-scene", "5"]) == 0
    episodes = read_dataset(out)
    assert len(episodes) == 5 and {e.scene_id for e in episodes} == {str(glb)}
    assert all(1.0 <= e.geodesic_distance_m <= 30.0 for e in episodes)
    assert all(abs(e.start_xyz[2]) < 1e-6 for e in episodes)  # detected floor: the room's floor at height 0
    env = make_task(
        "pointnav", num_envs=2, overrides={"depth": {"width": 8, "height": 8}, "dataset": {"path": str(out)}}
    )
    assert env.start_distance == pytest.approx(
        [episodes[0].geodesic_distance_m, episodes[1].geodesic_distance_m], rel=0.02
    )


def test_gymnasium_vector_adapter_wraps_pointnav():
    import gymnasium as gym

    from depthbench.envs.vector_adapter import GymVectorAdapter

    env = GymVectorAdapter(make_task("pointnav", num_envs=2, overrides=SMALL))
    obs, _ = env.reset()
    assert obs["depth"].shape == (2, 1, 32, 32)
    # the 4 Habitat actions, not a Box: one Discrete(4) per env, MultiDiscrete batched
    assert env.single_action_space == gym.spaces.Discrete(4)
    assert env.action_space == gym.spaces.MultiDiscrete([4, 4])
    obs, reward, terminated, truncated, info = env.step(np.array([STOP, STOP]))  # STOP ends both episodes
    assert terminated.all() and not truncated.any() and len(info["finished_episodes"]) == 2


def test_sampled_actions_are_uniform_over_the_four_and_step_executes_them():
    from scipy.stats import chisquare

    from depthbench.envs.vector_adapter import GymVectorAdapter

    env = GymVectorAdapter(make_task("pointnav", num_envs=4, seed=1, overrides=SMALL))
    env.action_space.seed(0)
    draws = np.stack([env.action_space.sample() for _ in range(2000)])  # 8000 actions
    assert draws.dtype.kind == "i" and draws.min() == 0 and draws.max() == 3
    # H0 uniform over {STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT}; the old Box(-1, 1) space, rounded, gave STOP 75%
    counts = np.bincount(draws.ravel(), minlength=4)
    assert chisquare(counts).pvalue > 1e-3 and (np.abs(counts / counts.sum() - 0.25) < 0.03).all()
    env.reset()
    for actions in draws[:30]:
        obs, _, terminated, truncated, _ = env.step(actions)
        done = terminated | truncated
        assert (terminated == (actions == STOP)).all()  # STOP, and only STOP, ends an episode here
        # the executed action is the observed previous action (one-hot), zeroed for envs that reset
        expected = np.eye(4, dtype=np.float32)[actions] * ~done[:, None]
        np.testing.assert_array_equal(obs["policy"][:, 3:], expected)


def test_bench_timing_uses_the_discrete_space_and_reports_resets():
    from depthbench.envs.timing import time_vec_env

    env = make_task("pointnav", num_envs=8, seed=0, overrides=SMALL)
    result = time_vec_env(env, steps=40, seed=0)
    assert result["actions"].startswith("uniform over Discrete(4): STOP ")
    assert all(name in result["actions"] for name in ("MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT"))
    # 320 env-steps, an episode ends on STOP (p = 1/4; timeouts need 500 steps): 4 binomial sigma is 0.097
    assert abs(result["reset_fraction"] - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 320)


def test_small_field_cache_recomputes_evicted_fields_identically():
    """With fewer cache slots than episodes, fields are fast-marched on reset and evicted LRU, never while in use."""

    def rollout(cache_size):
        env = make_task("pointnav", num_envs=3, seed=2, overrides=SMALL | {"field_cache_size": cache_size})
        rng = np.random.default_rng(1)
        out = []
        for _ in range(40):
            _, reward, _, extras = env.step(torch.tensor(rng.integers(0, 4, (3, 1)), dtype=torch.float32))
            out.append(reward.clone())
            out += [torch.tensor([f["distance_to_goal"], f["soft_spl"]]) for f in extras["finished_episodes"]]
        return env, torch.cat([t.flatten() for t in out])

    small, a = rollout(0)  # capacity becomes num_envs + 1 = 4 < 24 episodes
    big, b = rollout(512)
    assert small.engine.fields.capacity == 4 and big.engine.fields.capacity == 512
    assert torch.allclose(a, b)


def test_evaluation_order_visits_every_held_out_scene_first():
    overrides = SMALL | {"split": "test", "scenes": {**SMALL["scenes"], "num_scenes": 3}}
    env = make_task("pointnav", num_envs=3, overrides=overrides)
    scenes = [ep.scene_id for ep in env.episodes]
    assert len(set(scenes)) == 3
    assert all(len(set(scenes[i : i + 3])) == 3 for i in range(0, len(scenes) - 2, 3))  # round-robin over scenes
    assert sorted(env.engine.scene.tolist()) == [0, 1, 2]  # the first 3 evaluated episodes: one per scene


def test_envs_with_the_same_procedural_config_share_one_dataset():
    first = make_task("pointnav", num_envs=2, seed=0, overrides=SMALL)
    again = make_task("pointnav", num_envs=2, seed=1, overrides=SMALL)
    other = make_task("pointnav", num_envs=2, overrides=SMALL | {"split": "test"})
    assert again.episodes is first.episodes and again.engine.scenes[0] is first.engine.scenes[0]
    assert other.episodes is not first.episodes and other.episodes[0].scene_id != first.episodes[0].scene_id
