"""A scripted top-down power grasp from privileged state: proof that the task, contacts and success detection work.

Per env, a phase machine on the observations only (privileged object pose and size, proprioceptive palm pose):
above the object with the hand open and the thumb opposed -> down until the grasp frame reaches the object ->
close the fingers -> lift -> hold. Arm actions are the pose error scaled to the action range (a P controller on the
task's own end-effector actions), hand actions the open or closed posture.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from depthbench.envs.grasp.spec import HOME_PALM_MAT, NUM_ACTIONS, POLICY_LAYOUT, PRIVILEGED_LAYOUT
from depthbench.envs.grasp.task import GraspTask

TASK = "kuka-allegro-grasp"
APPROACH, DESCEND, CLOSE, LIFT = range(4)
# Allegro joint targets (rad) per finger (ff, mf, rf: base, proximal, medial, distal; th: rotation, base, medial,
# distal), found by a grid search over Menagerie's joint ranges for fingertip positions in the palm frame (x: depth
# in front of the palm face, z: along the fingers; the grasp frame is at x = 0.07, z = -0.035):
# open: fingers hooked down in front (tip x 0.06, z 0.07), thumb opposed behind (x 0.09, z -0.075);
# closed: fingertips driven past the grasp frame towards the thumb (z -0.037) and the thumb towards them (z 0.004),
# so the joint servos squeeze whatever lies between.
OPEN = np.array([0.0, 0.03, 1.47, 0.23] * 3 + [1.3, 0.3, 0.0, 0.0])
CLOSED = np.array([0.0, 1.61, 1.0, 0.46] * 3 + [1.4, 0.37, 1.19, 0.07])


class ScriptedGrasp:
    """Scripted grasp policy for a GraspTask; call `act(obs)` each step (phases restart with every episode)."""

    def __init__(
        self,
        env: GraspTask,
        *,
        hover_m: float = 0.08,
        top_clearance_m: float = 0.06,
        back_offset_m: float = 0.03,
        side_offset_m: float = -0.05,
        close_steps: int = 30,
        lift_m: float = 0.2,
        lift_step_m: float = 0.004,
        tolerance_m: float = 0.012,
        phase_timeout_steps: int = 75,
    ) -> None:
        self.env = env
        self.hover_m = hover_m
        self.top_clearance_m = top_clearance_m
        self.back_offset_m = back_offset_m
        self.side_offset_m = side_offset_m
        self.close_steps = close_steps
        self.lift_m = lift_m
        self.lift_step_m = lift_step_m
        self.tolerance_m = tolerance_m
        self.phase_timeout_steps = phase_timeout_steps
        self.phase = np.zeros(env.num_envs, np.int64)
        self.phase_steps = np.zeros(env.num_envs, np.int64)
        self.lift_start = np.zeros((env.num_envs, 3))
        self.open_action = env.hand_action(OPEN[None])[0]
        self.closed_action = env.hand_action(CLOSED[None])[0]

    def act(self, obs: dict) -> torch.Tensor:
        env = self.env
        policy = obs["policy"].cpu().numpy().astype(np.float64)
        privileged = obs["privileged"].cpu().numpy().astype(np.float64)
        new_episode = env.episode_length_buf.numpy() == 0
        self.phase[new_episode] = APPROACH
        self.phase_steps[new_episode] = 0

        grasp_pos = policy[:, POLICY_LAYOUT["grasp_pos"]]  # relative to the table centre
        object_pos = grasp_pos + privileged[:, PRIVILEGED_LAYOUT["object_rel_grasp"]]
        half = privileged[:, PRIVILEGED_LAYOUT["half_extents"]]
        # The object's bounding box in the world (objects may topple): centre and half-extents along world axes.
        rotation = Rotation.from_quat(privileged[:, PRIVILEGED_LAYOUT["object_quat"]], scalar_first=True).as_matrix()
        centre = object_pos + rotation[:, :, 2] * half[:, 2:3]  # the box's centre is half a height above the base
        world_half = np.einsum("nij,nj->ni", np.abs(rotation), half)
        # Where the grasp frame goes: the object's back (towards the robot) just clear of the hanging thumb, which
        # closes forwards against the fingers curling back. The thumb hangs at the palm's +y side, so the object is
        # placed towards +y (a negative side offset of the grasp frame), into the thumb's path.
        # Height: the object's centre, but no lower than where the palm face (6 cm above the grasp frame) meets a tall
        # object's top.
        at_grasp = centre.copy()
        at_grasp[:, 0] -= world_half[:, 0] - self.back_offset_m
        at_grasp[:, 1] += self.side_offset_m
        at_grasp[:, 2] = np.maximum(centre[:, 2], centre[:, 2] + world_half[:, 2] - self.top_clearance_m)
        above = at_grasp + [0.0, 0.0, self.hover_m]
        target = above.copy()
        descend = self.phase == DESCEND
        target[descend] = at_grasp[descend]
        holding = self.phase >= CLOSE
        target[holding] = self.lift_start[holding]
        lifting = self.phase == LIFT
        target[lifting, 2] += np.minimum(self.phase_steps[lifting] * self.lift_step_m, self.lift_m)

        error = np.linalg.norm(target - grasp_pos, axis=1)
        self.phase_steps += 1
        done = (error < self.tolerance_m) | (self.phase_steps > self.phase_timeout_steps)
        advance = ((self.phase == APPROACH) | (self.phase == DESCEND)) & done
        advance |= (self.phase == CLOSE) & (self.phase_steps > self.close_steps)
        entering_close = advance & (self.phase == DESCEND)
        self.lift_start[entering_close] = grasp_pos[entering_close]
        self.phase[advance] += 1
        self.phase_steps[advance] = 0

        actions = np.zeros((env.num_envs, NUM_ACTIONS))
        step_m = float(env.cfg["actions"]["ee_step_m"])
        step_rad = float(env.cfg["actions"]["ee_step_rad"])
        actions[:, 0:3] = (target - grasp_pos) / step_m
        palm = Rotation.from_quat(policy[:, POLICY_LAYOUT["palm_quat"]], scalar_first=True).as_matrix()
        rotation = Rotation.from_matrix(HOME_PALM_MAT[None] @ palm.transpose(0, 2, 1)).as_rotvec()
        actions[:, 3:6] = rotation / step_rad
        actions[:, 6:] = np.where(holding[:, None], self.closed_action, self.open_action)
        return torch.from_numpy(np.clip(actions, -1.0, 1.0).astype(np.float32))


def success_rate(env: GraspTask, episodes: int, **controller_kwargs: float) -> dict[str, Any]:
    """Run the scripted grasp until `episodes` episodes finished: success and drop rates (overall and per object
    family) and the mean time to lift of the episodes that lifted."""
    controller = ScriptedGrasp(env, **controller_kwargs)
    obs = env.get_observations()
    finished: list[dict] = []
    with tqdm(total=episodes, desc="scripted grasp", unit="episode") as progress:
        while len(finished) < episodes:
            obs, _, _, extras = env.step(controller.act(obs))
            finished += extras["finished_episodes"]
            progress.update(min(len(extras["finished_episodes"]), episodes - progress.n))
    finished = finished[:episodes]
    lift_times = [f["time_to_lift_s"] for f in finished if "time_to_lift_s" in f]
    families = sorted({f["object_family"] for f in finished})
    return {
        "episodes": len(finished),
        "success": float(np.mean([f["success"] for f in finished])),
        "dropped": float(np.mean([f["dropped"] for f in finished])),
        "time_to_lift_s": float(np.mean(lift_times)) if lift_times else None,
        "success_by_family": {
            family: float(np.mean([f["success"] for f in finished if f["object_family"] == family]))
            for family in families
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m depthbench.envs.grasp.scripted",
        description="Success rate of the scripted grasp (privileged state) on kuka-allegro-grasp.",
    )
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task config override, e.g. objects.set=all (repeatable)",
    )
    args = parser.parse_args(argv)
    from depthbench.config import apply_overrides
    from depthbench.envs import make_task, task_config

    overrides = apply_overrides(task_config(TASK), args.overrides)
    overrides["depth"]["enabled"] = False  # the script reads privileged state only
    env = make_task(TASK, num_envs=args.num_envs, seed=args.seed, overrides=overrides)
    result = success_rate(env, args.episodes)
    print(json.dumps({"task": TASK, "seed": args.seed, "config": overrides["objects"], **result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
