"""A scripted top-down power grasp from privileged state: the task's proof of work and its DAgger teacher.

Per env, a phase machine on the observations (privileged object pose and size, proprioceptive grasp-frame pose):
above the object with the hand open and the thumb opposed -> down until the grasp frame reaches the object (or the
descent times out, blocked by the table) -> close the fingers -> lift -> hold. Arm actions are the pose error scaled to
the action range (a P controller on the task's own end-effector actions), hand actions the open or closed posture.

As a DAgger teacher (`distill --teacher scripted:grasp`) it acts in states the student led to (Ross et al. 2011), so
its memory (phase, steps in the phase, where the grasp closed) restarts with every episode and gives way to the state:
closed or lifting with the object more than `hold_tolerance_m` off the grasp pose (nothing in hand), or descending
more than `descend_xy_m` off the object, it starts over from the approach. In its own rollouts these never fire (the
success rates with and without them are the same on the val split), so they change nothing where it leads.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from scipy.stats import binomtest
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
PROXIMAL = [1, 5, 9]  # ff, mf, rf proximal joints: how far the fingers have closed (OPEN -> CLOSED moves them most)


@dataclass(frozen=True)
class GraspParams:
    """Geometry, thresholds and durations of the scripted grasp (metres; steps of the 50 Hz control loop)."""

    hover_m: float = 0.08
    top_clearance_m: float = 0.06
    back_offset_m: float = 0.03
    side_offset_m: float = -0.05
    close_steps: int = 30
    lift_m: float = 0.2
    lift_step_m: float = 0.004
    tolerance_m: float = 0.012
    phase_timeout_steps: int = 75
    descend_xy_m: float = 0.08  # descending, the grasp frame this far off the object in xy: approach again
    hold_tolerance_m: float = 0.1  # closed or lifting, the object this far from the grasp pose: not in hand


@dataclass(frozen=True)
class GraspConstants:
    """What the controller needs from the task config: action scales and the open / closed hand actions."""

    ee_step_m: float
    ee_step_rad: float
    open_action: tuple[float, ...]
    closed_action: tuple[float, ...]

    @classmethod
    def from_env(cls, env: GraspTask) -> GraspConstants:
        return cls(
            float(env.cfg["actions"]["ee_step_m"]),
            float(env.cfg["actions"]["ee_step_rad"]),
            tuple(env.hand_action(OPEN[None])[0].tolist()),
            tuple(env.hand_action(CLOSED[None])[0].tolist()),
        )

    @classmethod
    def from_config(cls, task_cfg: dict[str, Any]) -> GraspConstants:
        """From a task config alone (a DAgger teacher built before any env): the hand's control ranges are read from
        Menagerie's Allegro model, which the scene attaches unchanged."""
        import mujoco

        from depthbench.envs.grasp import spec
        from depthbench.envs.menagerie import robot_xml

        model = mujoco.MjModel.from_xml_path(str(robot_xml(spec.HAND, spec.HAND_ENTRY)))
        order = [model.joint(j.removeprefix(spec.HAND_PREFIX)).id for j in spec.HAND_JOINTS]
        actuated = [int(model.actuator_trnid[a, 0]) for a in range(model.nu)]
        ranges = model.actuator_ctrlrange[[actuated.index(j) for j in order]]
        lo, hi = ranges[:, 0], ranges[:, 1]
        to_action = lambda q: tuple(np.clip(2.0 * (q - lo) / (hi - lo) - 1.0, -1.0, 1.0).tolist())  # noqa: E731
        act = task_cfg["actions"]
        return cls(float(act["ee_step_m"]), float(act["ee_step_rad"]), to_action(OPEN), to_action(CLOSED))


def grasp_pose(policy: np.ndarray, privileged: np.ndarray, params: GraspParams) -> tuple[np.ndarray, np.ndarray]:
    """(grasp-frame position, grasp pose for the object), both (N, 3) relative to the table centre."""
    grasp_pos = policy[:, POLICY_LAYOUT["grasp_pos"]]
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
    at_grasp[:, 0] -= world_half[:, 0] - params.back_offset_m
    at_grasp[:, 1] += params.side_offset_m
    at_grasp[:, 2] = np.maximum(centre[:, 2], centre[:, 2] + world_half[:, 2] - params.top_clearance_m)
    return grasp_pos, at_grasp


class GraspController:
    """The scripted grasp for `num_envs` envs: per-env phase memory, reset per env, re-derived from the state."""

    def __init__(self, num_envs: int, constants: GraspConstants, params: GraspParams | None = None) -> None:
        self.constants = constants
        self.params = params or GraspParams()
        self.phase = np.zeros(num_envs, np.int64)
        self.phase_steps = np.zeros(num_envs, np.int64)
        self.lift_start = np.zeros((num_envs, 3))

    def reset(self, envs: np.ndarray | None = None) -> None:
        """Forget the phase of `envs` (all when None): at an episode's start."""
        envs = slice(None) if envs is None else envs
        self.phase[envs] = APPROACH
        self.phase_steps[envs] = 0

    def act(self, policy: np.ndarray, privileged: np.ndarray) -> np.ndarray:
        """(N, 22) actions in [-1, 1] for one (policy, privileged) observation; advances the phases one step."""
        p = self.params
        grasp_pos, at_grasp = grasp_pose(policy, privileged, p)
        # The memory must agree with the state (a DAgger student, not this controller, may have moved the robot):
        # fingers closed around nothing (the object is off the grasp pose) or a descent that drifted off the object
        # start over from the approach.
        off = np.linalg.norm(at_grasp - grasp_pos, axis=1) > p.hold_tolerance_m
        lost = (self.phase >= CLOSE) & off
        lost |= (self.phase == DESCEND) & (np.linalg.norm((at_grasp - grasp_pos)[:, :2], axis=1) > p.descend_xy_m)
        self.phase[lost] = APPROACH
        self.phase_steps[lost] = 0

        above = at_grasp + [0.0, 0.0, p.hover_m]
        target = above.copy()
        descend = self.phase == DESCEND
        target[descend] = at_grasp[descend]
        holding = self.phase >= CLOSE
        target[holding] = self.lift_start[holding]
        lifting = self.phase == LIFT
        target[lifting, 2] += np.minimum(self.phase_steps[lifting] * p.lift_step_m, p.lift_m)

        error = np.linalg.norm(target - grasp_pos, axis=1)
        self.phase_steps += 1
        done = (error < p.tolerance_m) | (self.phase_steps > p.phase_timeout_steps)
        advance = ((self.phase == APPROACH) | (self.phase == DESCEND)) & done
        advance |= (self.phase == CLOSE) & (self.phase_steps > p.close_steps)
        entering_close = advance & (self.phase == DESCEND)
        self.lift_start[entering_close] = grasp_pos[entering_close]
        self.phase[advance] += 1
        self.phase_steps[advance] = 0

        c = self.constants
        actions = np.zeros((policy.shape[0], NUM_ACTIONS))
        actions[:, 0:3] = (target - grasp_pos) / c.ee_step_m
        palm = Rotation.from_quat(policy[:, POLICY_LAYOUT["palm_quat"]], scalar_first=True).as_matrix()
        rotation = Rotation.from_matrix(HOME_PALM_MAT[None] @ palm.transpose(0, 2, 1)).as_rotvec()
        actions[:, 3:6] = rotation / c.ee_step_rad
        actions[:, 6:] = np.where(holding[:, None], c.closed_action, c.open_action)
        return np.clip(actions, -1.0, 1.0)


class ScriptedGrasp:
    """The scripted grasp on a GraspTask's observations; call `act(obs)` once per step (phases restart with every
    episode, read from the env's episode counters)."""

    def __init__(self, env: GraspTask, **params: float) -> None:
        self.env = env
        self.controller = GraspController(env.num_envs, GraspConstants.from_env(env), GraspParams(**params))
        self.params = self.controller.params

    def act(self, obs: dict) -> torch.Tensor:
        self.controller.reset(np.flatnonzero(self.env.episode_length_buf.numpy() == 0))
        policy = obs["policy"].cpu().numpy().astype(np.float64)
        privileged = obs["privileged"].cpu().numpy().astype(np.float64)
        return torch.from_numpy(self.controller.act(policy, privileged).astype(np.float32))


def success_rate(
    env: GraspTask,
    episodes: int,
    *,
    random_steps: int = 0,
    random_action_prob: float = 0.0,
    seed: int = 0,
    **params: float,
) -> dict[str, Any]:
    """Run the scripted grasp until `episodes` episodes finished: success and drop rates (overall and per object
    family) and the mean time to lift of the episodes that lifted.

    Perturbed runs check it as a DAgger expert, in states another policy leads to: the first `random_steps` steps
    of every episode, and any step with probability `random_action_prob`, execute uniform random actions."""
    controller = ScriptedGrasp(env, **params)
    rng = torch.Generator().manual_seed(seed)
    obs = env.get_observations()
    finished: list[dict] = []
    with tqdm(total=episodes, desc="scripted grasp", unit="episode") as progress:
        while len(finished) < episodes:
            actions = controller.act(obs)
            random = torch.rand(env.num_envs, 1, generator=rng) < random_action_prob
            random |= (env.episode_length_buf < random_steps)[:, None]
            noise = torch.rand(actions.shape, generator=rng) * 2.0 - 1.0
            obs, _, _, extras = env.step(torch.where(random, noise, actions))
            finished += extras["finished_episodes"]
            progress.update(min(len(extras["finished_episodes"]), episodes - progress.n))
    finished = finished[:episodes]
    lift_times = [f["time_to_lift_s"] for f in finished if "time_to_lift_s" in f]
    families = sorted({f["object_family"] for f in finished})
    success = [f["success"] for f in finished]
    return {
        "episodes": len(finished),
        "success": float(np.mean(success)),
        "success_ci95": list(binomtest(int(sum(success)), len(success)).proportion_ci(method="wilson")),
        "dropped": float(np.mean([f["dropped"] for f in finished])),
        "time_to_lift_s": float(np.mean(lift_times)) if lift_times else None,
        "success_by_family": {
            family: float(np.mean([f["success"] for f in finished if f["object_family"] == family]))
            for family in families
        },
        "perturbation": {"random_steps": random_steps, "random_action_prob": random_action_prob},
        "params": asdict(controller.params),
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
        "--random-steps", type=int, default=0, help="uniform random actions for the first N steps of every episode"
    )
    parser.add_argument(
        "--random-action-prob", type=float, default=0.0, help="uniform random action with this probability per step"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task config override, e.g. objects.set=all (repeatable)",
    )
    parser.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"controller parameter, e.g. lift_step_m=0.002 (repeatable): {', '.join(GraspParams.__annotations__)}",
    )
    args = parser.parse_args(argv)
    params = {}
    for item in args.params:
        name, _, value = item.partition("=")
        if name not in GraspParams.__annotations__ or not value:
            parser.error(f"--param {item!r}: use NAME=VALUE with NAME one of {', '.join(GraspParams.__annotations__)}")
        try:
            params[name] = int(value) if GraspParams.__annotations__[name] == "int" else float(value)
        except ValueError:
            parser.error(f"--param {item!r}: {value!r} is not a number")
    from depthbench.config import apply_overrides
    from depthbench.envs import make_task, task_config

    overrides = apply_overrides(task_config(TASK), args.overrides)
    overrides["depth"]["enabled"] = False  # the script reads privileged state only
    env = make_task(TASK, num_envs=args.num_envs, seed=args.seed, overrides=overrides)
    result = success_rate(
        env,
        args.episodes,
        random_steps=args.random_steps,
        random_action_prob=args.random_action_prob,
        seed=args.seed,
        **params,
    )
    print(json.dumps({"task": TASK, "seed": args.seed, "config": overrides["objects"], **result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
