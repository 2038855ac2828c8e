"""Reference depth images for the cross-engine parity test: the MuJoCo binding's workspace camera with the arm at
its home pose (no noise), the hand at its rest pose and given test-split objects at given poses.

The Isaac Lab environment (.venv-isaaclab) cannot run the batched MuJoCo engine (it needs mujoco 4), so the parity
test runs this module with the MuJoCo environment's Python and compares against the file it writes (which also
holds the joint positions and object poses, so the Isaac Lab side sets exactly the same state):

    python -m depthbench.envs.grasp.parity --size 32 --out ref.npz
"""

from __future__ import annotations

import argparse

import numpy as np

from depthbench.envs import task_config

# (pool index in the test split's "simple" set, object xy on the table in metres, yaw in radians) per env: a box
# and a cylinder (16 instances per family) in different places.
SCENES = ((0, (0.57, 0.0), 0.3), (16, (0.52, 0.06), -0.8))


def parity_config(size: int) -> dict:
    return task_config("kuka-allegro-grasp", {"split": "test", "depth": {"width": size, "height": size}})


def reference(size: int) -> dict[str, np.ndarray]:
    """The MuJoCo binding's depth (len(SCENES), 1, size, size) with the state that produced it."""
    from depthbench.envs.grasp import spec
    from depthbench.envs.grasp.task import GraspTask

    cfg = parity_config(size)
    cfg["sim"]["nthread"] = 1
    task = GraspTask(cfg, num_envs=len(SCENES), seed=0)
    ids = np.arange(len(SCENES))
    qpos = np.tile(task.model.qpos0, (len(SCENES), 1))
    hand_q = task.model.qpos0[task.hand_qpos].clip(task.hand_ctrl_range[:, 0], task.hand_ctrl_range[:, 1])
    pos, quat = np.zeros((len(SCENES), 3)), np.zeros((len(SCENES), 4))
    for env, (index, xy, yaw) in enumerate(SCENES):
        task._write_object(env, index, 0.1, 1.0)
        pos[env] = [*xy, 0.0]
        quat[env] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
    task.engine.set_const(ids)
    qpos[:, task.arm_qpos] = task.home_arm_q
    qpos[:, task.hand_qpos] = hand_q
    qpos[:, task.object_qpos : task.object_qpos + 3] = pos
    qpos[:, task.object_qpos + 3 : task.object_qpos + 7] = quat
    task.engine.reset(ids, qpos=qpos)
    return {
        "depth": task.engine.depth(),
        "arm_q": np.tile(task.home_arm_q, (len(SCENES), 1)),
        "hand_q": np.tile(hand_q, (len(SCENES), 1)),
        "object_pos": pos,
        "object_quat_wxyz": quat,
        "object_index": np.array([s[0] for s in SCENES]),
        "grasp_pos": task.grasp_pos.copy(),
        "families": np.array([task.instances[s[0]].family for s in SCENES]),
        "hand_joints": np.array(spec.HAND_JOINTS),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m depthbench.envs.grasp.parity", description=__doc__)
    parser.add_argument("--size", type=int, default=32, help="image width and height in pixels")
    parser.add_argument("--out", required=True, help="output .npz (depth and the state that produced it)")
    args = parser.parse_args(argv)
    np.savez(args.out, **reference(args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
