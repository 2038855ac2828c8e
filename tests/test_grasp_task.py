"""kuka-allegro-grasp: compiles offline, depth sees the object where projection puts it, seeded determinism,
success / drop / time-out detection with autoreset, the scripted grasp, held-out objects and parameter errors."""

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch

from depthbench.envs import make_task
from depthbench.envs.grasp import objects, scene
from depthbench.envs.grasp.scripted import ScriptedGrasp
from depthbench.envs.grasp.spec import NUM_ACTIONS, PRIVILEGED_LAYOUT
from depthbench.envs.vector_adapter import GymVectorAdapter
from depthbench.errors import DepthbenchError

TASK = "kuka-allegro-grasp"
SMALL = {"objects": {"per_family": 1}, "sim": {"nthread": 1}}


def _task(num_envs=2, seed=0, **overrides):
    merged = {**SMALL, **overrides}
    merged["objects"] = {**SMALL["objects"], **overrides.get("objects", {})}
    return make_task(TASK, num_envs=num_envs, seed=seed, overrides=merged)


def test_compiles_offline_with_documented_observation_groups():
    env = _task()
    obs = env.get_observations()
    assert env.num_actions == NUM_ACTIONS == 22
    assert obs["policy"].shape == (2, 75) and obs["privileged"].shape == (2, 32)
    assert obs["depth"].shape == (2, 1, 64, 64) and obs["depth"].dtype == torch.float32
    # iiwa 7 + Allegro 16 actuators; the object is a free body resting on the table.
    assert env.model.nu == 23
    assert np.all(np.abs(env.object_height) < 0.01)
    family = obs["privileged"][:, PRIVILEGED_LAYOUT["family"]]
    assert torch.all(family.sum(dim=1) == 1)


def test_depth_sees_object_top_at_projected_pixel():
    env = _task(num_envs=1, objects={"set": "simple"}, depth={"width": 96, "height": 96})
    camera = env.camera
    cam_pos = env.engine.bind("cam_xpos")[0, 0]
    cam_mat = env.engine.bind("cam_xmat")[0, 0].reshape(3, 3)
    # Put a known object (a box of the pool) upright at a known place and look at the centre of its top face.
    box = next(i for i, inst in enumerate(env.instances) if inst.family == "box")
    env._write_object(0, box, 0.1, 1.0)
    env.engine.set_const()
    env.object_index[0] = box
    env.engine.qpos[0, env.object_qpos : env.object_qpos + 7] = [0.6, 0.0, 0.0, 1, 0, 0, 0]
    env.engine.forward()
    top = np.array([0.6, 0.0, 2 * env.instances[box].half_extents_m[2]])
    in_cam = cam_mat.T @ (top - cam_pos)  # camera frame: x right, y up, looking along -z
    focal_px = (camera.height / 2) / np.tan(np.radians(camera.fovy_deg) / 2)
    col = int(camera.width / 2 + focal_px * in_cam[0] / -in_cam[2])
    row = int(camera.height / 2 - focal_px * in_cam[1] / -in_cam[2])
    depth = env.engine.depth()[0, 0]
    window = depth[row - 1 : row + 2, col - 1 : col + 2]
    # The top face is planar; neighbouring pixels differ by the face's slope across one pixel (< 1 cm here).
    assert np.min(np.abs(window - (-in_cam[2]))) < 0.01
    # Without the object, the same pixel sees the table behind it, farther away.
    env.engine.qpos[0, env.object_qpos : env.object_qpos + 3] = [0.6, 2.0, 0.0]
    env.engine.forward()
    assert env.engine.depth()[0, 0, row, col] > depth[row, col] + 0.02


def _rollout(seed):
    env = _task(num_envs=2, seed=seed)
    generator = torch.Generator().manual_seed(0)
    for _ in range(15):
        obs, rewards, _, _ = env.step(torch.rand((2, NUM_ACTIONS), generator=generator) * 2 - 1)
    return obs, rewards


def test_same_seed_same_rollout_and_reset_reseeds():
    obs_a, rewards_a = _rollout(seed=5)
    obs_b, rewards_b = _rollout(seed=5)
    obs_c, _ = _rollout(seed=6)
    for key in ("policy", "privileged", "depth"):
        torch.testing.assert_close(obs_a[key], obs_b[key], rtol=0, atol=0)
    torch.testing.assert_close(rewards_a, rewards_b, rtol=0, atol=0)
    assert not torch.equal(obs_a["privileged"], obs_c["privileged"])
    env = _task(num_envs=2, seed=5)
    first = env.reset(seed=11)["privileged"].clone()
    assert torch.equal(env.reset(seed=11)["privileged"], first)


def test_without_depth_the_physics_is_unchanged():
    """depth.enabled=false drops the camera, not the physics: same seed and actions give the same states."""
    with_depth, without = _task(num_envs=2, seed=4), _task(num_envs=2, seed=4, depth={"enabled": False})
    generator = torch.Generator().manual_seed(1)
    for _ in range(10):
        actions = torch.rand((2, NUM_ACTIONS), generator=generator) * 2 - 1
        obs_a, *_ = with_depth.step(actions)
        obs_b, *_ = without.step(actions)
    assert obs_b["depth"].numel() == 0 and obs_a["depth"].shape == (2, 1, 64, 64)
    torch.testing.assert_close(obs_a["policy"], obs_b["policy"], rtol=0, atol=0)
    torch.testing.assert_close(obs_a["privileged"], obs_b["privileged"], rtol=0, atol=0)


def _float_object(env, env_id, height_m):
    """Scripted state: gravity off in one env, its object teleported `height_m` above its rest pose."""
    env.engine.expand("opt.gravity")[env_id] = 0.0
    env.engine.qpos[env_id, env.object_qpos + 2] += height_m
    env.engine.qvel[env_id, env.object_dof : env.object_dof + 6] = 0.0
    env.engine.forward()


def test_success_after_hold_time_then_autoreset():
    env = _task(num_envs=2, success={"hold_time_s": 0.2})
    _float_object(env, 0, 0.15)
    hold_steps = int(round(0.2 / env.step_dt))
    finished = []
    for step in range(1, hold_steps + 1):
        _, rewards, dones, extras = env.step(torch.zeros((2, NUM_ACTIONS)))
        finished += extras["finished_episodes"]
        if step < hold_steps:
            assert not dones[0]
    assert dones[0] and not extras["time_outs"][0]
    (episode,) = finished
    assert episode["env_id"] == 0 and episode["success"] == 1.0 and episode["dropped"] == 0.0
    assert episode["length"] == hold_steps
    assert episode["time_to_lift_s"] == pytest.approx(env.step_dt)
    assert episode["max_height_m"] == pytest.approx(0.15, abs=0.01)
    # The success reward fired in env 0 only, and env 0 starts over with its object back on the table.
    assert rewards[0] > rewards[1] + 10
    assert env.episode_length_buf[0] == 0 and abs(env.object_height[0]) < 0.01


def test_drop_after_lift_is_a_failure():
    env = _task(num_envs=1)
    env.engine.qpos[0, env.object_qpos + 2] += 0.2  # lifted, then let go: it falls back onto the table
    env.engine.forward()
    finished = []
    for _ in range(60):
        _, _, dones, extras = env.step(torch.zeros((1, NUM_ACTIONS)))
        finished += extras["finished_episodes"]
        if dones[0]:
            break
    (episode,) = finished
    assert episode["dropped"] == 1.0 and episode["success"] == 0.0
    # It started above the 0.1 m target (time to lift: one control step) but fell before the hold time.
    assert episode["time_to_lift_s"] == pytest.approx(env.step_dt)
    assert episode["max_height_m"] > 0.1


def test_time_out_ends_episode_as_truncation():
    env = _task(num_envs=2, episode_length_s=0.5, success={"hold_time_s": 0.2})
    steps = int(round(0.5 / env.step_dt))
    for step in range(1, steps + 1):
        _, _, dones, extras = env.step(torch.zeros((2, NUM_ACTIONS)))
        assert bool(dones.any()) == (step == steps)
    assert extras["time_outs"].all()
    assert [e["length"] for e in extras["finished_episodes"]] == [steps, steps]
    assert all(e["success"] == 0.0 and e["dropped"] == 0.0 for e in extras["finished_episodes"])
    assert not any("time_to_lift_s" in e for e in extras["finished_episodes"])  # never lifted
    assert {e["object_family"] for e in extras["finished_episodes"]} <= set(objects.OBJECT_SETS["simple"])


def test_scripted_grasp_lifts_an_object_and_success_fires():
    env = _task(num_envs=8, seed=1, objects={"set": "simple", "per_family": 2})
    controller = ScriptedGrasp(env)
    obs = env.get_observations()
    successes = []
    for _ in range(env.max_episode_length):
        obs, _, _, extras = env.step(controller.act(obs))
        successes += [e for e in extras["finished_episodes"] if e["success"] == 1.0]
        if successes:
            break
    assert successes, "the scripted grasp lifted no object in one episode of 8 envs"
    episode = successes[0]
    hold_s = env.cfg["success"]["hold_time_s"]
    assert episode["max_height_m"] >= env.cfg["success"]["lift_height_m"]
    # The step that first reached the target height counts as the first held step.
    assert episode["time_to_lift_s"] + hold_s - env.step_dt <= episode["length"] * env.step_dt + 1e-6


def test_gym_vector_adapter_steps_the_task():
    vector = GymVectorAdapter(_task(num_envs=2))
    obs, _ = vector.reset(seed=3)
    assert obs["depth"].shape == (2, 1, 64, 64)
    obs, rewards, terminated, truncated, infos = vector.step(np.zeros((2, NUM_ACTIONS), np.float32))
    assert rewards.shape == (2,) and not terminated.any() and not truncated.any()
    # continuous task: a Box of the task's action count and the [-1, 1] bounds step() clips to
    assert vector.single_action_space == gym.spaces.Box(-1.0, 1.0, (NUM_ACTIONS,), np.float32)
    assert vector.action_space.shape == (2, NUM_ACTIONS)
    vector.action_space.seed(0)
    sample = vector.action_space.sample()
    assert sample.min() >= -1 and sample.max() <= 1 and sample.std() > 0.4  # uniform on [-1, 1]: std 0.577
    _, rewards, *_ = vector.step(sample)
    assert rewards.shape == (2,) and np.isfinite(rewards).all()


def test_each_env_simulates_its_own_object():
    """An env's object geoms sit where a model compiled from that object alone puts them, and rest on the table
    (mesh hulls included: their collision data must exist though no geom used them at compile time)."""
    env = _task(num_envs=4, seed=2, objects={"set": "all", "per_family": 1})
    for env_id, index in enumerate([0, 4, 5, 6]):  # box, mug, bottle, hull
        env._write_object(env_id, index, 0.1, 1.0)
        env.object_index[env_id] = index
    env.engine.set_const()
    pose = [0.6, 0.0, 0.0, 1, 0, 0, 0]
    env.engine.qpos[:, env.object_qpos : env.object_qpos + 7] = pose
    env.engine.forward()
    geom_xpos = env.engine.bind("geom_xpos")
    for env_id, index in enumerate([0, 4, 5, 6]):
        spec = mujoco.MjSpec()
        scene.add_meshes(spec, [env.instances[index]])
        scene.add_object(spec, env.instances[index])
        model = spec.compile()
        data = mujoco.MjData(model)
        data.qpos[:7] = pose
        mujoco.mj_forward(model, data)
        geoms = [model.body_geomadr[model.body(f"object_part{k}").id] for k in range(objects.MAX_PARTS)]
        np.testing.assert_allclose(geom_xpos[env_id, env.object_geoms], data.geom_xpos[geoms], atol=1e-9)
        assert env.engine.expand("body_mass")[env_id, env.object_bodies].sum() == pytest.approx(0.1)
    for _ in range(25):
        env.step(torch.zeros((4, NUM_ACTIONS)))
    for env_id in range(4):
        data = env.engine.batch.get_data(env_id)
        object_contacts = [
            c.dist for c in data.contact[: data.ncon] if c.geom1 in env.object_geoms or c.geom2 in env.object_geoms
        ]
        assert object_contacts and min(object_contacts) > -0.002  # resting, not sinking into the table


def test_held_out_split_draws_other_objects():
    train = objects.pool("all", "train", 3)
    test = objects.pool("all", "test", 3)
    assert [i.family for i in train] == [i.family for i in test]
    assert not {i.half_extents_m for i in train} & {i.half_extents_m for i in test}
    assert all(min(i.half_extents_m) > 0.005 for i in train + test)
    assert objects.pool("all", "train", 3)[0].half_extents_m == train[0].half_extents_m


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"objects": {"set": "kitchen"}}, "unknown object set 'kitchen'"),
        ({"objects": {"size_scale": -1.0}}, "size_scale"),
        ({"objects": {"mass_kg": [-0.1, 0.2]}}, "mass_kg"),
        ({"objects": {"friction": [1.0, 0.5]}}, "friction"),
        ({"split": "holdout"}, "split"),
        ({"success": {"lift_height_m": -0.1}}, "lift_height_m"),
        ({"camera": {"fovy_deg": 200.0}}, "fovy_deg"),
        ({"objects": {"spawn_high_m": [1.5, 0.1]}}, "on the table"),
    ],
)
def test_bad_parameters_are_clear_errors(overrides, message):
    with pytest.raises(DepthbenchError, match=message):
        _task(num_envs=1, **overrides)
