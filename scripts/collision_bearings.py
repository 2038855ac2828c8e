"""Where an embodied-nav policy's collisions come from: the bearing of the geometry it hit, against the camera's view.

Usage: python scripts/collision_bearings.py CHECKPOINT [--steps 300] [--num-envs 32] [--seed 3] [--split val]

The checkpoint's policy (a distilled student: the student) drives greedy. At every collision, the footprint circle
of the pre-step pose (1.05 x radius, 72 directions) is probed against the clearance map; the direction closest to
geometry is the bearing of the contact, relative to the heading. A contact at more than half the camera's horizontal
field of view was outside the image when it happened: only memory could have avoided it. Printed as JSON: bearing
percentiles and the share outside the field of view, overall and per footprint-radius bin (docs/embodied-nav.md).
"""

import argparse
import json

import numpy as np
import torch

from depthbench.agents.evaluation import checkpoint_in_env

RADIUS_BINS = [(0.15, 0.25), (0.25, 0.35), (0.35, 0.46)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--split", choices=["train", "val", "test"], default="val")
    args = parser.parse_args()
    cfg, wrapped, runner = checkpoint_in_env(args.checkpoint, split=args.split, num_envs=args.num_envs, seed=args.seed)
    env = getattr(wrapped, "env", wrapped)  # the depth-feature wrapper keeps the task env as .env
    student = hasattr(runner.alg, "student")
    policy = runner.alg.student if student else runner.alg.actor
    policy.eval()
    angles = np.linspace(-np.pi, np.pi, 72, endpoint=False)
    obs, bearings, radii = wrapped.get_observations(), [], []
    with torch.inference_mode():
        for _ in range(args.steps):
            action = policy(obs)
            xy, yaw = env.engine.xy.copy(), env.engine.yaw.copy()
            scene, height_bin, radius = env.engine.scene.copy(), env.height_bin.copy(), env.body[:, 0].copy()
            obs, _, dones, extras = wrapped.step(action)
            policy.reset(dones)
            for episode in extras.get("finished_episodes", []):
                if episode["collision_failure"]:
                    i = episode["env_id"]
                    heading = yaw[i] + angles
                    ring = xy[i] + 1.05 * radius[i] * np.column_stack([np.cos(heading), np.sin(heading)])
                    clear = env.clearance.clearance(np.full(72, scene[i]), np.full(72, height_bin[i]), ring)
                    bearings.append(abs(np.degrees(angles[np.argmin(clear)])))
                    radii.append(radius[i])
    b, r = np.array(bearings), np.array(radii)
    half_fov = cfg["env"]["camera"]["hfov_deg"] / 2
    stats = {
        "collisions": len(b),
        "hfov_deg": 2 * half_fov,
        "bearing_deg_p10_p25_p50_p75_p90": np.percentile(b, [10, 25, 50, 75, 90]).round(0).tolist() if len(b) else [],
        "share_outside_fov": round(float((b > half_fov).mean()), 3) if len(b) else None,
        "share_outside_fov_by_radius": {
            f"[{lo}, {hi})": round(float((b[(r >= lo) & (r < hi)] > half_fov).mean()), 3)
            for lo, hi in RADIUS_BINS
            if ((r >= lo) & (r < hi)).any()
        },
    }
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
