"""anymal-ladder task specification, engine-free: ladder parameters, their validation and sampling, the ladder's
geometry as numbers (`ladder_shapes`), robot constants, the four depth cameras' mount poses, observation sizes and the
evaluation grid. It imports no physics engine: each engine's binding builds the same scene from these numbers
(`mujoco_scene.py` + `task.py` for the batched MuJoCo engine, `isaaclab_task.py` for Isaac Lab / Newton).

World frame: the robot starts near the origin facing +x; the ladder stands in the x-z plane centred on y = 0, its
foot `distance_m` ahead of the start, leaning away from the robot at `angle_deg` from the floor (90 = vertical); the
platform's front face sits just behind the ladder's top, its top surface at `height_m`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from depthbench.envs.camera import DepthCamera, camera_from_mount
from depthbench.errors import DepthbenchError

ROBOT, ROBOT_ENTRY = "anybotics_anymal_c", "anymal_c"

# Leg joints in actuator order of Menagerie's anymal_c.xml (LF, RF, LH, RH; hip abduction, hip flexion, knee).
LEGS: tuple[str, ...] = ("LF", "RF", "LH", "RH")
JOINT_NAMES: tuple[str, ...] = tuple(f"{leg}_{joint}" for leg in LEGS for joint in ("HAA", "HFE", "KFE"))
FOOT_BODIES: tuple[str, ...] = tuple(f"{leg}_SHANK" for leg in LEGS)
# Bodies whose contact with the ladder counts as a collision: the base and the thighs, which carry the knee drives
# (legged_gym's ANYmal terminates on base contact and penalizes thigh contacts).
COLLISION_BODIES: tuple[str, ...] = ("base",) + tuple(f"{leg}_THIGH" for leg in LEGS)

# Nominal standing pose and base height of ANYmal C (Isaac Lab isaaclab_assets/robots/anymal.py, ANYMAL_C_CFG
# init_state): HAA 0, front HFE 0.4 / KFE -0.8, hind HFE -0.4 / KFE 0.8 rad, base 0.6 m.
DEFAULT_JOINT_POS_RAD = np.array([0.0, 0.4, -0.8, 0.0, 0.4, -0.8, 0.0, -0.4, 0.8, 0.0, -0.4, 0.8])
DEFAULT_BASE_HEIGHT_M = 0.6

# The four Intel RealSense D435 depth cameras of ANYmal C (front, rear, left, right), at the mount frames of the
# `depth_camera` geoms in Menagerie's anymal_c.xml (from ANYbotics' anymal_c_simple_description URDF): front and rear
# on the faces, left and right on the flanks, all pitched 30 deg down. Mount frame: x = optical axis, z = up.
DEPTH_CAMERAS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float, float]]] = {
    "front": ((0.46165, 0.0, -0.0292), (0.965926, 0.0, 0.258819, 0.0)),
    "rear": ((-0.46165, 0.0, -0.0292), (0.0, -0.258819, 0.0, 0.965926)),
    "left": ((0.0, 0.07646, 0.02905), (0.683013, -0.183013, 0.183013, 0.683013)),
    "right": ((0.0, -0.07646, 0.02905), (0.683013, 0.183013, 0.183013, -0.683013)),
}

# Observation sizes (the layouts are documented in task.py) and episode constants, the same on every engine.
NEAREST_RUNGS = 5
POLICY_DIM = 45
PRIVILEGED_DIM = POLICY_DIM + 3 + 3 * NEAREST_RUNGS + 3 * 4 + 1 + 2 + 4
# Goal: on the platform's centre line this far past its edge, at the height the default pose holds the base.
GOAL_PAST_EDGE_M = 0.6
STANDING_BASE_HEIGHT_M = 0.45
SPLITS = ("train", "val", "test")

# Config ranges ([low, high]) of the training distribution.
RANGE_KEYS = ("angle_deg_range", "rung_radius_mm_range", "rung_spacing_m_range", "width_m_range")
RANDOMIZATION_RANGE_KEYS = ("friction_range", "added_base_mass_kg", "joint_pos_scale")

# Physical validity limits (the task's own ranges live in the config and must lie inside these).
ANGLE_LIMITS_DEG = (45.0, 90.0)  # flatter is a staircase, steeper overhangs
RUNG_RADIUS_LIMITS_M = (0.005, 0.1)
RAIL_HALF_THICKNESS_M = 0.02  # rail half-size across the ladder (y)
RAIL_HALF_DEPTH_M = 0.03  # rail half-size normal to the ladder plane
PLATFORM_CLEARANCE_M = 0.02  # between the platform's face and the rails or top rung, whichever sticks out more
PLATFORM_LENGTH_M = 1.5
PLATFORM_WIDTH_M = 2.0
# Rungs beyond a ladder's count are parked here (below the floor, out of every ray and contact): all envs share
# one MjData layout, so every model has `max_rungs` rung geoms.
PARKED_RUNG_Z_M = -50.0


@dataclass(frozen=True)
class LadderParams:
    """One ladder: the scene parameters an episode is built from (SI units, angle in degrees)."""

    angle_deg: float
    rung_radius_m: float
    rung_spacing_m: float
    width_m: float
    height_m: float
    distance_m: float
    friction: float  # sliding friction of floor, ladder and platform

    def validate(self) -> None:
        """Raise DepthbenchError naming the first parameter that makes no physical ladder."""
        lo, hi = ANGLE_LIMITS_DEG
        if not lo <= self.angle_deg <= hi:
            raise DepthbenchError(f"ladder angle {self.angle_deg} deg is outside [{lo}, {hi}] deg; use e.g. 70-90")
        lo, hi = RUNG_RADIUS_LIMITS_M
        if not lo <= self.rung_radius_m <= hi:
            raise DepthbenchError(
                f"rung radius {self.rung_radius_m * 1000:g} mm is outside [{lo * 1000:g}, {hi * 1000:g}] mm; "
                "use a positive radius such as 15-45 mm"
            )
        if not 2 * self.rung_radius_m + 0.05 <= self.rung_spacing_m <= 0.6:
            raise DepthbenchError(
                f"rung spacing {self.rung_spacing_m} m must leave 5 cm between rungs and be at most 0.6 m"
            )
        if not 0.3 <= self.width_m <= PLATFORM_WIDTH_M:
            raise DepthbenchError(f"ladder width {self.width_m} m is outside [0.3, {PLATFORM_WIDTH_M}] m")
        if not self.rung_spacing_m <= self.height_m <= 5.0:
            raise DepthbenchError(f"platform height {self.height_m} m must be between one rung spacing and 5 m")
        if not 0.5 <= self.distance_m <= 5.0:
            raise DepthbenchError(f"ladder distance {self.distance_m} m is outside [0.5, 5] m")
        if not 0.0 < self.friction <= 2.0:
            raise DepthbenchError(f"friction {self.friction} is outside (0, 2]")

    @property
    def direction(self) -> np.ndarray:
        """Unit vector up the ladder (x-z plane)."""
        angle = math.radians(self.angle_deg)
        return np.array([math.cos(angle), 0.0, math.sin(angle)])

    @property
    def length_m(self) -> float:
        """Rail length from the floor to the platform's height."""
        return self.height_m / math.sin(math.radians(self.angle_deg))

    @property
    def num_rungs(self) -> int:
        """Rungs at every spacing along the rails, the top one at most at the platform's height."""
        return int(math.floor(self.length_m / self.rung_spacing_m + 1e-9))

    def rung_centers(self) -> np.ndarray:
        """(num_rungs, 3) world positions of the rung axes' midpoints, bottom first."""
        along = self.rung_spacing_m * np.arange(1, self.num_rungs + 1)
        return np.array([self.distance_m, 0.0, 0.0]) + along[:, None] * self.direction

    @property
    def top_m(self) -> np.ndarray:
        """World position of the ladder's top (rail ends, centre line)."""
        return np.array([self.distance_m, 0.0, 0.0]) + self.length_m * self.direction

    @property
    def platform_edge_x_m(self) -> float:
        """x of the platform's front face: just clear of the ladder's top (rails or a rung, at 90 deg)."""
        return float(self.top_m[0]) + max(RAIL_HALF_DEPTH_M, self.rung_radius_m) + PLATFORM_CLEARANCE_M


def max_rungs(min_angle_deg: float, min_spacing_m: float, height_m: float) -> int:
    """Most rungs a ladder can have: the flattest angle gives the longest rails, the smallest spacing most rungs."""
    return LadderParams(min_angle_deg, RUNG_RADIUS_LIMITS_M[0], min_spacing_m, 1.0, height_m, 1.0, 1.0).num_rungs


def eval_grid(angles_deg: list[float], radii_mm: list[float]) -> list[tuple[float, float]]:
    """The (angle_deg, rung_radius_mm) cells of the evaluation grid, angle-major."""
    return [(float(a), float(r)) for a in angles_deg for r in radii_mm]


def sample_params(cfg: dict[str, Any], rng: np.random.Generator) -> LadderParams:
    """A training ladder: angle, radius, spacing and width uniform over the config's ranges."""
    ladder = cfg["ladder"]
    return LadderParams(
        angle_deg=float(rng.uniform(*ladder["angle_deg_range"])),
        rung_radius_m=float(rng.uniform(*ladder["rung_radius_mm_range"])) / 1000.0,
        rung_spacing_m=float(rng.uniform(*ladder["rung_spacing_m_range"])),
        width_m=float(rng.uniform(*ladder["width_m_range"])),
        height_m=float(ladder["height_m"]),
        distance_m=float(ladder["distance_m"]),
        friction=float(rng.uniform(*cfg["randomization"]["friction_range"])),
    )


def grid_params(cfg: dict[str, Any], cell: int) -> LadderParams:
    """Evaluation ladder `cell` (taken modulo the grid size) at the nominal spacing and width."""
    ladder = cfg["ladder"]
    grid = eval_grid(ladder["eval_angles_deg"], ladder["eval_rung_radii_mm"])
    angle_deg, radius_mm = grid[cell % len(grid)]
    return LadderParams(
        angle_deg=angle_deg,
        rung_radius_m=radius_mm / 1000.0,
        rung_spacing_m=float(ladder["eval_rung_spacing_m"]),
        width_m=float(ladder["eval_width_m"]),
        height_m=float(ladder["height_m"]),
        distance_m=float(ladder["distance_m"]),
        friction=float(ladder["friction"]),
    )


# ----------------------------------------------------------------------------- per-step outcome and rewards
# Shared by every engine, written against the operators numpy and torch share (`xp` is either module), so the
# MuJoCo binding (numpy, float64) and the Isaac Lab binding (torch, on the simulation device) compute the same
# definitions (task.py's docstring documents them).


def climb_outcome(
    xp: Any,
    cfg: dict[str, Any],
    *,
    base_pos_m: Any,
    up_z: Any,
    max_height_m: Any,
    platform_m: Any,
    collision_steps: Any,
    episode_length: Any,
    max_episode_length: int,
    step_dt_s: float,
) -> dict[str, Any]:
    """One control step's episode state from the base position (N, 3), the z component of the base's up axis (N,),
    the highest base height so far (N,), the platform's front x and top z (N, 2) and the steps with base or thigh
    contact so far (N,). Returns max_height, success, fall, collision (the contact limit reached), time_outs and
    terminated (success, fall or collision)."""
    term, success_cfg = cfg["termination"], cfg["success"]
    max_height = xp.maximum(max_height_m, base_pos_m[:, 2])
    success = (base_pos_m[:, 0] > platform_m[:, 0] + success_cfg["platform_margin_m"]) & (
        base_pos_m[:, 2] > platform_m[:, 1] + success_cfg["height_above_m"]
    )
    fall = (
        (up_z < term["upside_down_cos"])
        | (base_pos_m[:, 2] < term["min_base_height_m"])
        | (base_pos_m[:, 2] < max_height - term["fall_drop_m"])
    ) & ~success
    collision_limit = int(round(float(term["collision_limit_s"]) / step_dt_s))
    collision = (collision_steps >= collision_limit) & ~success & ~fall
    time_outs = (episode_length >= max_episode_length) & ~success & ~fall & ~collision
    return {
        "max_height": max_height,
        "success": success,
        "fall": fall,
        "collision": collision,
        "time_outs": time_outs,
        "terminated": success | fall | collision,
    }


def reward_terms(
    cfg: dict[str, Any],
    outcome: dict[str, Any],
    *,
    goal_distance_m: Any,
    previous_goal_distance_m: Any,
    torques_nm: Any,
    actions: Any,
    last_actions: Any,
    touching: Any,
    step_dt_s: float,
) -> dict[str, Any]:
    """The reward terms from `climb_outcome`'s result, the base-to-goal distance now and one step ago (N,), the
    joint torques (N, 12), the current and previous actions and the number of base/thigh bodies touching (N,)."""
    weights = cfg["rewards"]
    return {
        "progress": weights["progress"] * (previous_goal_distance_m - goal_distance_m),
        "platform": weights["platform"] * outcome["success"],
        "torques": weights["torques"] * (torques_nm**2).sum(axis=1) * step_dt_s,
        "action_rate": weights["action_rate"] * ((actions - last_actions) ** 2).sum(axis=1) * step_dt_s,
        "collision": weights["collision"] * touching * step_dt_s,
        "termination": weights["termination"] * outcome["fall"],
    }


def finish_episodes(
    cfg: dict[str, Any],
    ids: Any,
    params: list[LadderParams],
    outcome: dict[str, np.ndarray],
    lengths: np.ndarray,
    climbed_m: np.ndarray,
    levels: np.ndarray | None,
    rngs: list[np.random.Generator],
) -> list[dict[str, Any]]:
    """`finished_episodes` records of the envs `ids` whose episodes end now, from `climb_outcome`'s success, fall,
    collision and time_outs (numpy, per env). failure is "" for a success, or for an episode cut short by a reset.
    With a curriculum (`levels` given) each record carries its level, and `levels` moves by `next_levels` in place."""
    finished = []
    for i in ids:
        fall, collision, timeout = (bool(outcome[k][i]) for k in ("fall", "collision", "time_outs"))
        record = {
            "env_id": int(i),
            "success": float(outcome["success"][i]),
            "length": int(lengths[i]),
            "angle_deg": params[i].angle_deg,
            "rung_radius_mm": params[i].rung_radius_m * 1000.0,
            "rung_spacing_m": params[i].rung_spacing_m,
            "width_m": params[i].width_m,
            "climbed_m": float(climbed_m[i]),
            "failure": "fall" if fall else "collision" if collision else "timeout" if timeout else "",
        }
        if levels is not None:
            record["curriculum_level"] = int(levels[i])
            success = np.array([record["success"] > 0])
            levels[i] = next_levels(levels[i : i + 1], np.array([record["climbed_m"]]), success, cfg, rngs[i])[0]
        finished.append(record)
    return finished


def outcome_log(finished: list[dict[str, Any]]) -> dict[str, float]:
    """Outcome rates (and mean climbed metres) over the episodes that ended in one step, for TensorBoard."""
    log = {
        "/ladder/success": float(np.mean([e["success"] for e in finished])),
        "/ladder/climbed_m": float(np.mean([e["climbed_m"] for e in finished])),
    }
    for failure in ("fall", "collision", "timeout"):
        log[f"/ladder/{failure}"] = float(np.mean([e["failure"] == failure for e in finished]))
    return log


# ------------------------------------------------------------------------------------------------ curriculum
# Terrain-style curriculum for training (Rudin et al. 2022, "Learning to walk in minutes", arXiv 2109.11978; Isaac
# Lab's `terrain_levels_vel`): every env has a level; at each of its episode ends the level goes up by one when the
# base climbed more than `up_fraction` of the platform height or reached the platform, down by one when it climbed
# less than `down_fraction`, and an env that solves the top level is resampled at a uniformly random level (as
# legged-gym does, so that solved envs keep rehearsing every level). Written here with numpy because the rule is a
# few lines of arithmetic on the level array, and engine-free so that every engine binding applies the same rule.


def curriculum_active(cfg: dict[str, Any]) -> bool:
    """The curriculum shapes the train split only: val and test always run the evaluation grid."""
    return cfg["split"] == "train" and bool(cfg["curriculum"]["enabled"])


def initial_levels(cfg: dict[str, Any], rngs: list[np.random.Generator]) -> np.ndarray:
    """Start level of each env (one generator per env): uniform over [0, curriculum.initial_max_level]."""
    top = int(cfg["curriculum"]["initial_max_level"])
    return np.array([int(rng.integers(0, top + 1)) for rng in rngs], dtype=np.int64)


def next_levels(
    levels: np.ndarray,
    climbed_m: np.ndarray,
    success: np.ndarray,
    cfg: dict[str, Any],
    rng: np.random.Generator,
) -> np.ndarray:
    """Levels after the episodes that just ended in envs at `levels` (climbed_m: highest base height above the start,
    success: reached the platform)."""
    curriculum = cfg["curriculum"]
    num_levels = int(curriculum["num_levels"])
    fraction = np.asarray(climbed_m, dtype=np.float64) / float(cfg["ladder"]["height_m"])
    up = np.asarray(success, dtype=bool) | (fraction > float(curriculum["up_fraction"]))
    down = (fraction < float(curriculum["down_fraction"])) & ~up
    new = np.maximum(np.asarray(levels, dtype=np.int64) + up - down, 0)
    solved_top = new >= num_levels
    new[solved_top] = rng.integers(0, num_levels, int(solved_top.sum()))
    return new


def resumed_levels(state: dict[str, list[int]], num_envs: int, cfg: dict[str, Any]) -> np.ndarray:
    """The levels a checkpoint or the previous chunk handed over, checked against this env (both engines)."""
    levels = np.asarray(state["levels"], dtype=np.int64)
    top = int(cfg["curriculum"]["num_levels"]) - 1
    if levels.shape != (num_envs,) or levels.min() < 0 or levels.max() > top:
        raise DepthbenchError(
            f"curriculum state holds {levels.size} levels in [{levels.min()}, {levels.max()}] but this env has "
            f"{num_envs} envs and levels 0-{top}; resume with the run's own config"
        )
    return levels


def curriculum_params(cfg: dict[str, Any], level: int, rng: np.random.Generator) -> LadderParams:
    """A training ladder at curriculum `level`: level 0 is the evaluation grid's easiest cell (flattest angle,
    thickest rungs) with the start `curriculum.distance_m_range[0]` from the ladder; with each level the sampled
    angle and radius ranges widen linearly towards the grid's hardest cell and the start moves back, so the top
    level samples the whole grid range from the task's nominal start distance. Spacing, width and friction are
    sampled from the training ranges at every level."""
    ladder, curriculum = cfg["ladder"], cfg["curriculum"]
    difficulty = level / (int(curriculum["num_levels"]) - 1)
    easy_angle, hard_angle = min(ladder["eval_angles_deg"]), max(ladder["eval_angles_deg"])
    easy_radius, hard_radius = max(ladder["eval_rung_radii_mm"]), min(ladder["eval_rung_radii_mm"])
    near_m, far_m = curriculum["distance_m_range"]
    sampled = sample_params(cfg, rng)
    return replace(
        sampled,
        angle_deg=float(easy_angle + difficulty * (hard_angle - easy_angle) * rng.uniform()),
        rung_radius_m=float(easy_radius + difficulty * (hard_radius - easy_radius) * rng.uniform()) / 1000.0,
        distance_m=float(near_m + difficulty * (far_m - near_m)),
    )


def _validate_curriculum(cfg: dict[str, Any]) -> None:
    curriculum = cfg["curriculum"]
    num_levels = curriculum["num_levels"]
    if not isinstance(num_levels, int) or num_levels < 2:
        raise DepthbenchError(f"curriculum.num_levels must be an integer >= 2, got {num_levels}")
    top = curriculum["initial_max_level"]
    if not isinstance(top, int) or not 0 <= top < num_levels:
        raise DepthbenchError(f"curriculum.initial_max_level must be an integer in [0, {num_levels - 1}], got {top}")
    down, up = float(curriculum["down_fraction"]), float(curriculum["up_fraction"])
    if not 0.0 <= down < up <= 1.0:
        raise DepthbenchError(
            f"curriculum fractions must satisfy 0 <= down_fraction < up_fraction <= 1, got {down} and {up}"
        )
    distance = curriculum["distance_m_range"]
    if not (isinstance(distance, list | tuple) and len(distance) == 2 and distance[0] <= distance[1]):
        raise DepthbenchError(f"curriculum.distance_m_range must be [near, far] with near <= far, got {distance}")


def validate_config(cfg: dict[str, Any]) -> None:
    """Check every ladder the config can produce: the corners of the training ranges and the evaluation grid."""
    if cfg["split"] not in SPLITS:
        raise DepthbenchError(f"split must be one of {', '.join(SPLITS)}, got '{cfg['split']}'")
    ladder = cfg["ladder"]
    randomization = cfg["randomization"]
    ranges = {f"ladder.{key}": ladder[key] for key in RANGE_KEYS}
    ranges.update({f"randomization.{key}": randomization[key] for key in RANDOMIZATION_RANGE_KEYS})
    for key, value in ranges.items():
        if not (isinstance(value, list | tuple) and len(value) == 2 and value[0] <= value[1]):
            raise DepthbenchError(f"{key} must be [low, high] with low <= high, got {value}")
    corners = (ladder[key] for key in RANGE_KEYS)
    for angle, radius_mm, spacing, width in itertools.product(*corners):
        for friction in randomization["friction_range"]:
            LadderParams(
                angle, radius_mm / 1000.0, spacing, width, ladder["height_m"], ladder["distance_m"], friction
            ).validate()
    if not ladder["eval_angles_deg"] or not ladder["eval_rung_radii_mm"]:
        raise DepthbenchError("ladder.eval_angles_deg and ladder.eval_rung_radii_mm must not be empty")
    for cell in range(len(ladder["eval_angles_deg"]) * len(ladder["eval_rung_radii_mm"])):
        grid_params(cfg, cell).validate()
    _validate_curriculum(cfg)
    for level in (0, int(cfg["curriculum"]["num_levels"]) - 1):  # the curriculum's extremes (its ranges are convex)
        probe = curriculum_params(cfg, level, np.random.default_rng(0))
        for distance_m in cfg["curriculum"]["distance_m_range"]:
            replace(probe, distance_m=float(distance_m)).validate()
    for camera in depth_cameras(cfg):
        camera.validate()


def depth_cameras(cfg: dict[str, Any]) -> list[DepthCamera]:
    """The four base-mounted depth cameras at the configured resolution and field of view (none if disabled)."""
    depth = cfg["depth"]
    if not depth["enabled"]:
        return []
    return [
        camera_from_mount(
            f"depth_{name}",
            "base",
            pos,
            mount_quat,
            fovy_deg=float(depth["fovy_deg"]),
            width=int(depth["width"]),
            height=int(depth["height"]),
            max_range_m=float(depth["max_m"]),
        )
        for name, (pos, mount_quat) in DEPTH_CAMERAS.items()
    ]


@dataclass(frozen=True)
class Shape:
    """One static collision shape of the scene, in the world frame.

    kind "box": `half_size_m` = half-extents along the shape's local axes; kind "cylinder": (radius, half-length
    along the local z axis, 0). `quat_wxyz` rotates local axes into the world (scalar first, MuJoCo's order).
    """

    name: str
    kind: str
    half_size_m: tuple[float, float, float]
    pos_m: tuple[float, float, float]
    quat_wxyz: tuple[float, float, float, float]


def _rotation_y(angle_rad: float) -> tuple[float, float, float, float]:
    return (math.cos(angle_rad / 2), 0.0, math.sin(angle_rad / 2), 0.0)


RUNG_QUAT_WXYZ = (math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0)  # cylinder axis (local z) -> world y


def ladder_shapes(params: LadderParams, rung_slots: int) -> list[Shape]:
    """The ladder's rails, `rung_slots` rungs (the ones beyond `params.num_rungs` parked below the floor at
    PARKED_RUNG_Z_M - k) and the platform: every engine builds exactly these shapes."""
    params.validate()
    centers = params.rung_centers()
    if len(centers) > rung_slots:
        raise DepthbenchError(f"ladder has {len(centers)} rungs but the scene holds {rung_slots}; widen the ranges")
    foot = np.array([params.distance_m, 0.0, 0.0])
    half_length = params.length_m / 2
    rail_y = params.width_m / 2 + RAIL_HALF_THICKNESS_M
    as_tuple = lambda v: tuple(float(x) for x in v)  # noqa: E731
    shapes = [
        Shape(
            f"rail_{side}",
            "box",
            (half_length, RAIL_HALF_THICKNESS_M, RAIL_HALF_DEPTH_M),
            as_tuple(foot + half_length * params.direction + [0.0, sign * rail_y, 0.0]),
            _rotation_y(-math.radians(params.angle_deg)),  # local x -> up the ladder
        )
        for side, sign in (("left", 1.0), ("right", -1.0))
    ]
    for k in range(rung_slots):
        pos = centers[k] if k < len(centers) else np.array([0.0, 0.0, PARKED_RUNG_Z_M - k])
        shapes.append(
            Shape(
                f"rung_{k}", "cylinder", (params.rung_radius_m, params.width_m / 2, 0.0), as_tuple(pos), RUNG_QUAT_WXYZ
            )
        )
    shapes.append(
        Shape(
            "platform",
            "box",
            (PLATFORM_LENGTH_M / 2, PLATFORM_WIDTH_M / 2, params.height_m / 2),
            (params.platform_edge_x_m + PLATFORM_LENGTH_M / 2, 0.0, params.height_m / 2),
            (1.0, 0.0, 0.0, 0.0),
        )
    )
    return shapes


def rung_slots(cfg: dict[str, Any]) -> int:
    """Rung shapes every env's scene holds: the most any ladder of the config (training ranges, grid) can have."""
    ladder = cfg["ladder"]
    return max_rungs(
        min(ladder["angle_deg_range"][0], *ladder["eval_angles_deg"]),
        min(ladder["rung_spacing_m_range"][0], ladder["eval_rung_spacing_m"]),
        float(ladder["height_m"]),
    )
