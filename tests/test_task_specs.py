"""The task specs are engine-free: they import without any physics engine, so every engine's binding (MuJoCo 4 here,
Isaac Lab's MuJoCo 3.12 / Newton in .venv-isaaclab) builds its scene from the same numbers."""

import math
import subprocess
import sys

import numpy as np
import pytest

from depthbench.envs import task_config
from depthbench.envs.ladder import spec as ladder_spec


def test_specs_and_registry_import_without_any_physics_engine():
    # mujoco, newton and warp made unimportable: importing a spec or listing the tasks must not need them.
    code = (
        "import sys\n"
        "for name in ('mujoco', 'newton', 'warp', 'isaaclab'): sys.modules[name] = None\n"
        "import depthbench.envs.ladder.spec, depthbench.envs.grasp.spec\n"
        "from depthbench.envs import list_tasks, task_config\n"
        "from depthbench.envs.grasp.spec import object_pool, workspace_camera\n"
        "names = [t.name for t in list_tasks()]\n"
        "assert 'anymal-ladder' in names and 'kuka-allegro-grasp' in names, names\n"
        "cfg = task_config('kuka-allegro-grasp')\n"
        "assert object_pool(cfg) and workspace_camera(cfg).width == 64\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_ladder_shapes_are_the_ladder_the_parameters_describe():
    params = ladder_spec.LadderParams(80.0, 0.03, 0.3, 0.7, 2.0, 1.0, 0.8)
    slots = ladder_spec.rung_slots(task_config("anymal-ladder"))
    shapes = {s.name: s for s in ladder_spec.ladder_shapes(params, slots)}
    rungs = [shapes[f"rung_{k}"] for k in range(slots)]
    real = rungs[: params.num_rungs]
    assert params.num_rungs == math.floor(2.0 / math.sin(math.radians(80)) / 0.3 + 1e-9) == 6
    assert all(s.kind == "cylinder" and s.half_size_m[:2] == (0.03, 0.35) for s in real)
    steps = np.diff([s.pos_m for s in real], axis=0)
    np.testing.assert_allclose(np.linalg.norm(steps, axis=1), 0.3, atol=1e-12)
    np.testing.assert_allclose(np.degrees(np.arctan2(steps[:, 2], steps[:, 0])), 80.0, atol=1e-9)
    assert all(s.pos_m[2] <= ladder_spec.PARKED_RUNG_Z_M for s in rungs[params.num_rungs :])
    platform = shapes["platform"]
    assert platform.pos_m[2] + platform.half_size_m[2] == pytest.approx(2.0)
    rails = shapes["rail_left"], shapes["rail_right"]
    assert rails[0].pos_m[1] == pytest.approx(0.35 + ladder_spec.RAIL_HALF_THICKNESS_M) == -rails[1].pos_m[1]
    assert 2 * rails[0].half_size_m[0] == pytest.approx(params.length_m)


def test_camera_mount_frames_are_the_mount_quaternions():
    cameras = ladder_spec.depth_cameras(task_config("anymal-ladder"))
    assert [c.name for c in cameras] == ["depth_front", "depth_rear", "depth_left", "depth_right"]
    for camera, (pos, quat) in zip(cameras, ladder_spec.DEPTH_CAMERAS.values(), strict=True):
        w, x, y, z = quat
        # First and third columns of the quaternion's rotation matrix (optical axis, image up), written out.
        forward = [1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)]
        up = [2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)]
        mount = camera.mount_matrix()
        # The constants have 6 digits (norm 1 +- 1e-6) and the mount frame is re-orthonormalized: 1e-5 apart.
        np.testing.assert_allclose(mount[:, 0], forward, atol=1e-5)
        np.testing.assert_allclose(mount[:, 2], up, atol=1e-5)
        assert camera.pos == pos
    # All four pitched 30 deg down.
    assert all(math.degrees(math.asin(-c.mount_matrix()[2, 0])) == pytest.approx(30.0, abs=1e-3) for c in cameras)
