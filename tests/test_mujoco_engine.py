"""The batched MuJoCo engine: depth where pinhole geometry puts it, current at every control step, seeded rollouts."""

import math

import mujoco
import numpy as np
import pytest

from depthbench.envs.mujoco_engine import BatchedMujoco, DepthCamera
from depthbench.errors import DepthbenchError

CAMERA_HEIGHT_M = 2.0
BOX_CENTER = (0.1, 0.05)  # the camera (at x=y=0) is over the box top, so no side face is visible
BOX_HALF = (0.3, 0.2, 0.25)


def _scene(free_box: bool = False) -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.option.timestep = 0.005
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[5, 5, 0.1])
    box = spec.worldbody.add_body(name="box", pos=[*BOX_CENTER, BOX_HALF[2]])
    box.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=list(BOX_HALF))
    if free_box:
        ball = spec.worldbody.add_body(name="ball", pos=[-0.5, 0.3, 1.0])
        ball.add_freejoint()
        ball.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.1], mass=1.0)
    return spec


def _camera(width: int = 16, height: int = 12) -> DepthCamera:
    # Looking straight down; image up is world +x, so image right is world -y.
    return DepthCamera(
        "top", pos=(0, 0, CAMERA_HEIGHT_M), lookat=(0, 0, 0), up=(1, 0, 0), fovy_deg=70, width=width, height=height
    )


def _expected_depth(camera: DepthCamera) -> np.ndarray:
    """Pinhole model: pixel (r, c) centre ray hits the box top (z = 2*half) or the floor (z = 0)."""
    focal_px = (camera.height / 2) / math.tan(math.radians(camera.fovy_deg) / 2)
    expected = np.empty((camera.height, camera.width))
    box_top = 2 * BOX_HALF[2]
    for r in range(camera.height):
        for c in range(camera.width):
            right_px, up_px = c + 0.5 - camera.width / 2, camera.height / 2 - r - 0.5
            depth = CAMERA_HEIGHT_M - box_top
            world_x, world_y = up_px / focal_px * depth, -right_px / focal_px * depth
            on_box = abs(world_x - BOX_CENTER[0]) <= BOX_HALF[0] and abs(world_y - BOX_CENTER[1]) <= BOX_HALF[1]
            expected[r, c] = depth if on_box else CAMERA_HEIGHT_M
    return expected


def test_depth_sees_box_and_floor_where_pinhole_geometry_predicts():
    camera = _camera()
    engine = BatchedMujoco(_scene(), num_envs=2, decimation=4, cameras=[camera])
    depth = engine.depth()
    assert depth.shape == (2, 1, camera.height, camera.width) and depth.dtype == np.float32
    expected = _expected_depth(camera)
    # Both surfaces appear, asymmetrically (the box is off-centre), exactly where the pinhole model says.
    assert 0 < (expected < CAMERA_HEIGHT_M).sum() < expected.size
    np.testing.assert_allclose(depth[0, 0], expected, atol=1e-5)
    np.testing.assert_allclose(depth[1, 0], expected, atol=1e-5)


def test_no_return_reads_zero_and_camera_body_is_invisible():
    spec = _scene()
    # A housing on the camera's own body must not block its rays; the sky beyond max range reads 0.
    mount = spec.worldbody.add_body(name="robot", pos=[0, 0, 0])
    mount.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.3], pos=[0, 0, CAMERA_HEIGHT_M])
    up = DepthCamera("up", pos=(0, 0, CAMERA_HEIGHT_M), lookat=(0, 0, 3), up=(1, 0, 0), width=4, height=4, body="robot")
    down = DepthCamera(
        "down", pos=(0, 0, CAMERA_HEIGHT_M), lookat=(0, 0, 0), up=(1, 0, 0), width=4, height=4, body="robot"
    )
    engine = BatchedMujoco(spec, num_envs=1, decimation=1, cameras=[up, down])
    depth = engine.depth()
    assert np.all(depth[0, 0] == 0.0)
    np.testing.assert_allclose(depth[0, 1].min(), CAMERA_HEIGHT_M - 2 * BOX_HALF[2], atol=1e-6)


def test_ray_groups_hide_other_groups_from_depth():
    spec = _scene()
    for geom in spec.geoms:
        if geom.type == mujoco.mjtGeom.mjGEOM_BOX:
            geom.group = 3
    engine = BatchedMujoco(spec, num_envs=1, decimation=1, cameras=[_camera()], ray_groups=(0,))
    np.testing.assert_allclose(engine.depth()[0, 0], CAMERA_HEIGHT_M, atol=1e-5)


def test_depth_is_current_after_every_control_step():
    camera = _camera(8, 8)
    engine = BatchedMujoco(_scene(free_box=True), num_envs=3, decimation=5, cameras=[camera])
    rng = np.random.default_rng(0)
    ball_qpos = engine.model.jnt_qposadr[engine.model.body("ball").jntadr[0]]
    changed = 0
    for _ in range(200):
        before = engine.depth()
        # Teleport the ball somewhere in view each step, then step: the image must show the post-step state.
        engine.qpos[:, ball_qpos : ball_qpos + 3] = rng.uniform([-0.6, -0.6, 0.8], [0.6, 0.6, 1.6], size=(3, 3))
        engine.step()
        after = engine.depth()
        fresh = BatchedMujoco(_scene(free_box=True), num_envs=3, decimation=5, cameras=[camera])
        fresh.qpos[:] = engine.qpos
        fresh.forward()
        np.testing.assert_array_equal(after, fresh.depth())
        changed += int(not np.array_equal(before, after))
        if changed > 20:
            break
    assert changed > 20


def _rollout(seed: int, nthread: int) -> tuple[np.ndarray, np.ndarray]:
    spec = _scene(free_box=True)
    spec.worldbody.add_body(name="arm_base").add_body(name="link", pos=[0, -0.8, 0.5])
    link = spec.body("link")
    link.add_joint(name="hinge", axis=[1, 0, 0])
    link.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[0, 0, 0, 0, 0.6, 0], size=[0.05])
    spec.add_actuator(target="hinge", trntype=mujoco.mjtTrn.mjTRN_JOINT).gear[0] = 5.0
    engine = BatchedMujoco(spec, num_envs=4, decimation=3, cameras=[_camera(8, 8)], nthread=nthread)
    rng = np.random.default_rng(seed)
    engine.expand("body_mass")[:, engine.model.body("ball").id] = rng.uniform(0.5, 2.0, size=4)
    engine.set_const()
    for _ in range(30):
        engine.ctrl[:] = rng.uniform(-1, 1, size=engine.ctrl.shape)
        engine.step()
    return engine.qpos.copy(), engine.depth()


def test_same_seed_same_rollout_at_any_thread_count():
    qpos_a, depth_a = _rollout(seed=3, nthread=1)
    qpos_b, depth_b = _rollout(seed=3, nthread=2)
    qpos_c, _ = _rollout(seed=4, nthread=2)
    # Bit-exact by construction: same machine and process, and each env steps in its own mjData with the same
    # operation sequence whichever thread runs it (threads split envs, never one env's sums).
    np.testing.assert_array_equal(qpos_a, qpos_b)
    np.testing.assert_array_equal(depth_a, depth_b)
    assert not np.allclose(qpos_a, qpos_c)


def test_reset_subset_restores_defaults_and_writes_state():
    engine = BatchedMujoco(_scene(free_box=True), num_envs=3, decimation=5, cameras=[_camera(4, 4)])
    for _ in range(20):
        engine.step()
    fallen = engine.qpos.copy()
    start = engine.model.qpos0.copy()
    start[2] = 1.5
    engine.reset(np.array([1]), qpos=start[None])
    np.testing.assert_array_equal(engine.qpos[1], start)
    np.testing.assert_array_equal(engine.qpos[[0, 2]], fallen[[0, 2]])
    assert engine.time[1] == 0.0 and engine.time[0] > 0.0
    # The ball fell (from 1.0 towards the floor) in the untouched envs.
    assert fallen[0, 2] < 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fovy_deg": 190.0}, "fovy_deg"),
        ({"width": 0}, "resolution"),
        ({"lookat": (0.0, 0.0, 2.0)}, "lookat"),
    ],
)
def test_bad_camera_parameters_are_clear_errors(kwargs, message):
    params = {"name": "c", "pos": (0.0, 0.0, 2.0), "lookat": (0.0, 0.0, 0.0), "up": (1.0, 0.0, 0.0)} | kwargs
    with pytest.raises(DepthbenchError, match=message):
        BatchedMujoco(_scene(), num_envs=1, decimation=1, cameras=[DepthCamera(**params)])
