"""anymal-ladder: the compiled ladder is the requested one, the depth cameras see it where geometry says, episodes
end with the right outcome and reset, seeded rollouts repeat, and the evaluation split covers the whole grid."""

import math

import mujoco
import numpy as np
import pytest
import torch

from depthbench.envs import make_task, task_config
from depthbench.envs.ladder import spec as ladder_spec
from depthbench.envs.ladder.mujoco_scene import build_spec
from depthbench.envs.ladder.spec import POLICY_DIM, PRIVILEGED_DIM, LadderParams
from depthbench.envs.mujoco_engine import BatchedMujoco
from depthbench.errors import DepthbenchError

SMALL = {"depth": {"width": 16, "height": 16}}


def _cfg(**overrides: dict) -> dict:
    return task_config("anymal-ladder", {**SMALL, **overrides})


def _params(angle_deg: float = 75.0, radius_m: float = 0.025) -> LadderParams:
    return LadderParams(
        angle_deg=angle_deg,
        rung_radius_m=radius_m,
        rung_spacing_m=0.3,
        width_m=0.7,
        height_m=2.0,
        distance_m=1.0,
        friction=0.7,
    )


def test_compiled_ladder_has_the_requested_angle_radius_spacing_and_width():
    params = _params(angle_deg=75.0, radius_m=0.025)
    model = build_spec(params, _cfg(), rung_slots=9, added_base_mass_kg=2.5).compile()
    rungs = [model.geom(f"rung_{k}") for k in range(9)]
    expected_count = math.floor(2.0 / math.sin(math.radians(75.0)) / 0.3)  # 2.07 m of rails / 0.3 m = 6
    assert expected_count == params.num_rungs == 6
    real = [g for g in rungs if g.pos[2] > 0]
    assert len(real) == 6 and all(g.pos[2] < ladder_spec.PARKED_RUNG_Z_M + 1 for g in rungs[6:])
    for geom in real:
        assert geom.type == mujoco.mjtGeom.mjGEOM_CYLINDER
        assert geom.size[0] == pytest.approx(0.025)  # radius
        assert 2 * geom.size[1] == pytest.approx(0.7)  # rung length = ladder width
    centers = np.array([g.pos for g in real])
    steps = np.diff(centers, axis=0)
    np.testing.assert_allclose(np.linalg.norm(steps, axis=1), 0.3, atol=1e-9)
    np.testing.assert_allclose(np.degrees(np.arctan2(steps[:, 2], steps[:, 0])), 75.0, atol=1e-9)
    np.testing.assert_allclose(
        centers[0], [1.0 + 0.3 * math.cos(math.radians(75)), 0, 0.3 * math.sin(math.radians(75))]
    )
    # Rails run along the same line; the platform's top is at the requested height, just behind the ladder's top.
    rail = model.geom("rail_left")
    rail_axis = np.zeros(9)
    mujoco.mju_quat2Mat(rail_axis, rail.quat)
    np.testing.assert_allclose(rail_axis.reshape(3, 3)[:, 0], params.direction, atol=1e-9)
    platform = model.geom("platform")
    assert platform.pos[2] + platform.size[2] == pytest.approx(2.0)
    assert platform.pos[0] - platform.size[0] == pytest.approx(params.top_m[0] + 0.03 + 0.02)  # rails stick out 3 cm
    assert model.nu == 12 and model.actuator_gainprm[0, 0] == pytest.approx(40.0)
    # Per-episode physics: surface friction and payload.
    assert model.geom("rung_0").friction[0] == model.geom("floor").friction[0] == pytest.approx(0.7)
    assert model.body("base").mass[0] == pytest.approx(19.2035 + 2.5)  # Menagerie base mass + payload


def test_front_camera_sees_a_rung_at_the_pixel_and_distance_geometry_predicts():
    cfg = _cfg(depth={"width": 64, "height": 64})
    params = _params(angle_deg=70.0, radius_m=0.04)
    cameras = ladder_spec.depth_cameras(cfg)
    engine = BatchedMujoco(build_spec(params, cfg, rung_slots=9), 1, decimation=4, cameras=cameras, per_env_models=True)
    base = np.array([0.0, 0.0, 0.6])
    qpos = engine.model.qpos0.copy()
    qpos[:3] = base
    engine.reset(np.array([0]), qpos=qpos[None])
    depth = engine.depth()[0, 0]  # front camera

    # Camera pose from the mount constants (base unrotated): optical axis = mount x, image up = mount z.
    pos, quat = ladder_spec.DEPTH_CAMERAS["front"]
    mount = np.zeros(9)
    mujoco.mju_quat2Mat(mount, np.array(quat))
    forward, up = mount.reshape(3, 3)[:, 0], mount.reshape(3, 3)[:, 2]
    right = np.cross(forward, up)
    origin = base + np.array(pos)
    focal_px = 32 / math.tan(math.radians(cfg["depth"]["fovy_deg"]) / 2)

    rung = params.rung_centers()[0]  # the lowest rung, straight ahead of the front camera
    to_rung = rung - origin
    z = to_rung @ forward
    col = int(math.floor(32 + focal_px * (to_rung @ right) / z))
    row = int(math.floor(32 - focal_px * (to_rung @ up) / z))
    assert 0 <= row < 64 and 0 <= col < 64
    # Exact hit of that pixel's centre ray on the rung (an infinite cylinder along y through `rung`).
    ray = forward + (col + 0.5 - 32) / focal_px * right + (32 - row - 0.5) / focal_px * up
    d, o = ray[[0, 2]], (origin - rung)[[0, 2]]
    a, b, c = d @ d, 2 * d @ o, o @ o - params.rung_radius_m**2
    t = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)  # ray parameter: planar depth, since ray . forward = 1
    assert 0.5 < t < 1.0
    assert depth[row, col] == pytest.approx(t, abs=1e-5)
    # The rung is a horizontal bar as tall as its diameter subtends (~7 px here), the floor far behind it above.
    on_rung = np.abs(depth[:, col] - t) < 0.02
    top, bottom = row, row
    while on_rung[top - 1]:
        top -= 1
    while on_rung[bottom + 1]:
        bottom += 1
    assert bottom - top + 1 == pytest.approx(focal_px * 2 * params.rung_radius_m / t, abs=2)
    assert depth[top - 1, col] > t + 0.3


def test_observation_groups_and_action_limits():
    env = make_task("anymal-ladder", num_envs=2, seed=0, overrides=SMALL)
    obs = env.get_observations()
    assert obs["depth"].shape == (2, 4, 16, 16)
    assert obs["policy"].shape == (2, POLICY_DIM) and obs["privileged"].shape == (2, PRIVILEGED_DIM)
    # Standing start: gravity straight down in the base frame (up to the start yaw), nothing moving, no last action.
    np.testing.assert_allclose(obs["policy"][:, 3:6].numpy(), [[0, 0, -1]] * 2, atol=1e-6)
    assert torch.all(obs["policy"][:, 33:45] == 0)
    assert torch.all(obs["depth"] >= 0) and torch.all(obs["depth"] <= 10.0) and obs["depth"].max() > 0
    with pytest.raises(DepthbenchError, match="12 actions"):
        env.step(torch.zeros(2, 3))
    # Actions outside [-1, 1] are clipped: the joint targets move by at most action_scale.
    env.step(torch.full((2, 12), 5.0))
    np.testing.assert_allclose(env.engine.ctrl, np.tile(ladder_spec.DEFAULT_JOINT_POS_RAD + 0.5, (2, 1)), atol=1e-12)


def test_same_seed_same_rollout_and_other_seed_other_ladders():
    def rollout(seed: int, depth: bool = True) -> tuple[list, list]:
        # the training ranges themselves (the curriculum's levels: tests/test_ladder_curriculum.py)
        overrides = {"depth": {**SMALL["depth"], "enabled": depth}, "curriculum": {"enabled": False}}
        env = make_task("anymal-ladder", num_envs=2, seed=seed, overrides=overrides)
        generator = torch.Generator().manual_seed(0)
        frames = []
        for _ in range(15):
            obs, reward, _, _ = env.step(torch.rand(2, 12, generator=generator) * 2 - 1)
            frames.append((obs["depth"].clone(), obs["privileged"].clone(), reward.clone()))
        return frames, [(p.angle_deg, p.rung_radius_m) for p in env.params]

    first, ladders = rollout(3)
    second, same_ladders = rollout(3)
    assert ladders == same_ladders
    for (d1, p1, r1), (d2, p2, r2) in zip(first, second, strict=True):
        assert torch.equal(d1, d2) and torch.equal(p1, p2) and torch.equal(r1, r2)
    _, other_ladders = rollout(4)
    assert other_ladders != ladders
    # Without cameras (for `bench env`) the depth group is empty and the physics is the same.
    blind, _ = rollout(3, depth=False)
    assert blind[0][0].shape[1] == 0
    for (_, p1, r1), (_, p2, r2) in zip(first, blind, strict=True):
        assert torch.equal(p1, p2) and torch.equal(r1, r2)


def test_scripted_states_end_episodes_with_success_fall_and_collision_then_autoreset():
    cfg_overrides = {**SMALL, "split": "test", "termination": {"collision_limit_s": 0.02}}
    env = make_task("anymal-ladder", num_envs=3, seed=0, overrides=cfg_overrides)
    engine = env.engine
    qpos = engine.qpos.copy()
    ladder = env.params[0]
    # env 0: base standing on the platform, 0.5 m past its edge -> success
    qpos[0, :3] = [ladder.platform_edge_x_m + 0.5, 0.0, ladder.height_m + 0.5]
    # env 1: base upside down (180 deg about x) on the floor -> fall
    qpos[1, 2] = 0.6
    qpos[1, 3:7] = [0.0, 1.0, 0.0, 0.0]
    # env 2: base front pressed into the lowest rung -> collision after one policy step (limit 0.02 s)
    rung = env.params[2].rung_centers()[0]
    qpos[2, :3] = [rung[0] - 0.5, 0.0, rung[2]]
    engine.qpos[:] = qpos
    engine.forward()
    _, rewards, dones, extras = env.step(torch.zeros(3, 12))

    outcomes = {e["env_id"]: e for e in extras["finished_episodes"]}
    assert dones.tolist() == [True, True, True] and not extras["time_outs"].any()
    assert outcomes[0]["success"] == 1.0 and outcomes[0]["failure"] == ""
    assert outcomes[1]["success"] == 0.0 and outcomes[1]["failure"] == "fall"
    assert outcomes[2]["success"] == 0.0 and outcomes[2]["failure"] == "collision"
    log = extras["log"]
    assert log["/ladder/success"] == log["/ladder/fall"] == log["/ladder/collision"] == pytest.approx(1 / 3)
    weights = env.cfg["rewards"]
    assert rewards[0] > weights["platform"] - 10 and rewards[1] < weights["termination"] + 10
    assert rewards[2] > weights["termination"] + 10  # the collision limit ends the episode without the lump sum
    assert outcomes[0]["angle_deg"] == 70.0 and outcomes[0]["rung_radius_mm"] == pytest.approx(15.0)
    # Autoreset: every env is back at the start, in front of its next grid ladder, with a fresh episode.
    assert np.all(np.abs(engine.qpos[:, 0]) < 1e-9) and np.all(engine.qpos[:, 3] == 1.0)
    assert env.episode_length_buf.tolist() == [0, 0, 0]
    assert [p.angle_deg for p in env.params] == [70, 70, 70]
    assert [p.rung_radius_m * 1000 for p in env.params] == pytest.approx([30, 35, 40])


def test_timeouts_and_test_split_cover_the_whole_evaluation_grid():
    # One-step episodes: every step ends every episode by timeout, dealing each env its next grid cell.
    env = make_task("anymal-ladder", num_envs=4, seed=0, overrides={**SMALL, "split": "test", "episode_length_s": 0.02})
    cells = []
    for _ in range(9):  # ceil(35 / 4) episodes per env
        _, _, dones, extras = env.step(torch.zeros(4, 12))
        assert dones.all() and extras["time_outs"].all()
        assert all(e["failure"] == "timeout" and e["length"] == 1 for e in extras["finished_episodes"])
        cells += [(e["angle_deg"], round(e["rung_radius_mm"])) for e in extras["finished_episodes"]]
    grid = {(a, r) for a in (70, 75, 80, 85, 90) for r in range(15, 50, 5)}
    assert set(cells) == grid and len(cells) == 36  # 35 cells, then the first again


def test_val_split_is_the_grid_with_training_spacing_and_width():
    env = make_task("anymal-ladder", num_envs=4, seed=0, overrides={**SMALL, "split": "val"})
    cells = [(p.angle_deg, round(p.rung_radius_m * 1000)) for p in env.params]
    assert cells == [(70, 15), (70, 20), (70, 25), (70, 30)]
    spacings = [p.rung_spacing_m for p in env.params]
    assert all(0.25 <= s <= 0.35 for s in spacings) and len(set(spacings)) == 4
    assert all(p.friction == 0.8 for p in env.params)  # nominal surfaces: only training randomizes friction


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (LadderParams(120.0, 0.03, 0.3, 0.7, 2.0, 1.0, 0.8), "angle 120"),
        (LadderParams(80.0, -0.02, 0.3, 0.7, 2.0, 1.0, 0.8), "rung radius -20 mm"),
        (LadderParams(80.0, 0.03, 0.05, 0.7, 2.0, 1.0, 0.8), "rung spacing"),
        (LadderParams(80.0, 0.03, 0.3, 0.1, 2.0, 1.0, 0.8), "ladder width"),
        (LadderParams(80.0, 0.03, 0.3, 0.7, 2.0, 1.0, -0.1), "friction"),
    ],
)
def test_impossible_ladders_are_clear_errors(params, message):
    with pytest.raises(DepthbenchError, match=message):
        params.validate()


def test_bad_task_configs_are_clear_errors():
    with pytest.raises(DepthbenchError, match="angle 120"):
        make_task("anymal-ladder", num_envs=1, overrides={"ladder": {"angle_deg_range": [70, 120]}})
    with pytest.raises(DepthbenchError, match="rung radius -5 mm"):
        make_task("anymal-ladder", num_envs=1, overrides={"ladder": {"eval_rung_radii_mm": [-5, 15]}})
    with pytest.raises(DepthbenchError, match="split"):
        make_task("anymal-ladder", num_envs=1, overrides={"split": "holdout"})
    with pytest.raises(DepthbenchError, match="low <= high"):
        make_task("anymal-ladder", num_envs=1, overrides={"ladder": {"width_m_range": [0.9, 0.6]}})


def test_single_env_for_the_async_baseline_follows_the_gymnasium_api():
    from gymnasium.utils.env_checker import check_env

    from depthbench.envs.mujoco_engine import SingleTaskEnv

    env = SingleTaskEnv("anymal-ladder", _cfg(depth={"width": 8, "height": 8}), seed=0)
    check_env(env, skip_render_check=True)  # spaces, reset/step signatures, seeded determinism
    obs, _ = env.reset(seed=5)
    assert obs["depth"].shape == (4, 8, 8) and obs["policy"].shape == (POLICY_DIM,)
