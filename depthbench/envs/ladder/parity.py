"""Reference depth images for the cross-engine parity test: the MuJoCo binding's four cameras for given ladders with
ANYmal C standing at the start pose (base at (0, 0, spec.DEFAULT_BASE_HEIGHT_M), facing +x, default joints).

The Isaac Lab environment (.venv-isaaclab) cannot run the batched MuJoCo engine (it needs mujoco 4), so the parity
test runs this module with the MuJoCo environment's Python and compares against the file it writes:

    python -m depthbench.envs.ladder.parity --cells 0 34 --size 32 --out ref.npz
"""

from __future__ import annotations

import argparse

import numpy as np

from depthbench.envs import task_config


def reference_depth(cells: list[int], size: int) -> np.ndarray:
    """(len(cells), 4, size, size) MuJoCo depth of the test-split grid ladders `cells` at the start pose."""
    from depthbench.envs.ladder import spec
    from depthbench.envs.ladder.mujoco_scene import build_spec
    from depthbench.envs.mujoco_engine import BatchedMujoco

    cfg = task_config("anymal-ladder", {"split": "test", "depth": {"width": size, "height": size}})
    slots = spec.rung_slots(cfg)
    cameras = spec.depth_cameras(cfg)
    images = []
    for cell in cells:
        engine = BatchedMujoco(
            build_spec(spec.grid_params(cfg, cell), cfg, slots), 1, decimation=1, cameras=cameras, nthread=1
        )
        model = engine.model
        qpos = model.qpos0.copy()
        qpos[:3] = [0.0, 0.0, spec.DEFAULT_BASE_HEIGHT_M]
        qpos[3:7] = [1.0, 0.0, 0.0, 0.0]
        for name, angle in zip(spec.JOINT_NAMES, spec.DEFAULT_JOINT_POS_RAD, strict=True):
            qpos[model.jnt_qposadr[model.joint(name).id]] = angle
        engine.reset(np.array([0]), qpos=qpos[None])
        images.append(engine.depth()[0])
    return np.stack(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m depthbench.envs.ladder.parity", description=__doc__)
    parser.add_argument("--cells", type=int, nargs="+", default=[0], help="test-split evaluation grid cells")
    parser.add_argument("--size", type=int, default=32, help="image width and height in pixels")
    parser.add_argument("--out", required=True, help="output .npz (arrays: depth, cells)")
    args = parser.parse_args(argv)
    np.savez(args.out, depth=reference_depth(args.cells, args.size), cells=np.array(args.cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
