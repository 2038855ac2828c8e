"""anymal-ladder scene specification: ladder parameters, their validation and sampling, and the MjSpec of ANYmal C
with four depth cameras in front of a procedural ladder that leads onto a platform.

Engine-independent facts live here (geometry, robot constants, the evaluation grid) so that a GPU backend can build
the same scene; `task.py` binds them to the batched MuJoCo engine.

World frame: the robot starts near the origin facing +x; the ladder stands in the x-z plane centred on y = 0, its
foot `distance_m` ahead of the start, leaning away from the robot at `angle_deg` from the floor (90 = vertical); the
platform's front face sits just behind the ladder's top, its top surface at `height_m`.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from depthbench.envs.menagerie import robot_xml
from depthbench.envs.mujoco_engine import DepthCamera
from depthbench.errors import DepthbenchError

ROBOT = "anybotics_anymal_c"

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


def validate_config(cfg: dict[str, Any]) -> None:
    """Check every ladder the config can produce: the corners of the training ranges and the evaluation grid."""
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
    for camera in depth_cameras(cfg):
        camera.validate()


def depth_cameras(cfg: dict[str, Any]) -> list[DepthCamera]:
    """The four base-mounted depth cameras at the configured resolution and field of view (none if disabled)."""
    depth = cfg["depth"]
    if not depth["enabled"]:
        return []
    cameras = []
    for name, (pos, mount_quat) in DEPTH_CAMERAS.items():
        mount = np.zeros(9)
        mujoco.mju_quat2Mat(mount, np.asarray(mount_quat, dtype=float))
        axes = mount.reshape(3, 3)
        cameras.append(
            DepthCamera(
                name=f"depth_{name}",
                body="base",
                pos=pos,
                lookat=tuple(np.add(pos, axes[:, 0])),
                up=tuple(axes[:, 2]),
                fovy_deg=float(depth["fovy_deg"]),
                width=int(depth["width"]),
                height=int(depth["height"]),
                max_range_m=float(depth["max_m"]),
            )
        )
    return cameras


def _rotation_y(angle_rad: float) -> list[float]:
    return [math.cos(angle_rad / 2), 0.0, math.sin(angle_rad / 2), 0.0]


@functools.cache
def _robot_spec(path: str) -> mujoco.MjSpec:
    """ANYmal C without its visual meshes, parsed once per process: a copy costs 50 us, parsing 2.5 ms."""
    spec = mujoco.MjSpec.from_file(path)
    spec.discard_visual()
    return spec


def build_spec(
    params: LadderParams, cfg: dict[str, Any], rung_slots: int, added_base_mass_kg: float = 0.0
) -> mujoco.MjSpec:
    """MjSpec of ANYmal C in front of the ladder (`rung_slots` rung geoms, the unused ones parked below the floor),
    its rails and the platform, all in the static body "ladder"; with foot sites and contact sensors.

    Visual-only meshes are discarded: depth rays then hit the collision shapes, which the contact physics sees too.
    The depth cameras (`depth_cameras`) are added by the engine.
    """
    params.validate()
    spec = _robot_spec(str(robot_xml(ROBOT, "anymal_c"))).copy()
    spec.option.timestep = float(cfg["sim"]["physics_dt_s"])

    robot = cfg["robot"]
    base = spec.body("base")
    base.quat = [1.0, 0.0, 0.0, 0.0]  # Menagerie's base is yawed 180 deg; face +x, towards the ladder
    base.pos = [0.0, 0.0, DEFAULT_BASE_HEIGHT_M]
    base.mass += added_base_mass_kg  # payload randomization (Isaac Lab ANYmal C add_base_mass: -5..5 kg)
    # Joint PD as Isaac Lab's ANYmal simple actuator (ANYDRIVE_3_SIMPLE_ACTUATOR_CFG): kp 40 N m/rad, kd 5 N m s/rad,
    # torque limit 80 N m; MuJoCo position actuator: force = kp (target - q) - kd qdot.
    kp, kd = float(robot["stiffness"]), float(robot["damping"])
    for actuator in spec.actuators:
        actuator.gainprm[0] = kp
        actuator.biasprm[:3] = [0.0, -kp, -kd]
        actuator.forcerange = [-float(robot["effort_limit_nm"]), float(robot["effort_limit_nm"])]

    friction = [params.friction, 0.005, 0.0001]
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.0, 0.0, 0.05], friction=friction)
    ladder = spec.worldbody.add_body(name="ladder")  # static: welded to the world
    foot = np.array([params.distance_m, 0.0, 0.0])
    half_length = params.length_m / 2
    rail_y = params.width_m / 2 + RAIL_HALF_THICKNESS_M
    for side, sign in (("left", 1.0), ("right", -1.0)):
        ladder.add_geom(
            name=f"rail_{side}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[half_length, RAIL_HALF_THICKNESS_M, RAIL_HALF_DEPTH_M],
            pos=list(foot + half_length * params.direction + [0.0, sign * rail_y, 0.0]),
            quat=_rotation_y(-math.radians(params.angle_deg)),  # local x -> up the ladder
            friction=friction,
        )
    centers = params.rung_centers()
    if len(centers) > rung_slots:
        raise DepthbenchError(f"ladder has {len(centers)} rungs but the scene holds {rung_slots}; widen the ranges")
    axis_y = [math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0]  # cylinder axis (local z) -> world y
    for k in range(rung_slots):
        pos = centers[k] if k < len(centers) else np.array([0.0, 0.0, PARKED_RUNG_Z_M - k])
        ladder.add_geom(
            name=f"rung_{k}",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[params.rung_radius_m, params.width_m / 2, 0.0],
            pos=list(pos),
            quat=axis_y,
            friction=friction,
        )
    ladder.add_geom(
        name="platform",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[PLATFORM_LENGTH_M / 2, PLATFORM_WIDTH_M / 2, params.height_m / 2],
        pos=[params.platform_edge_x_m + PLATFORM_LENGTH_M / 2, 0.0, params.height_m / 2],
        friction=friction,
    )

    # Contact flags (1 = touching the ladder or platform): base and thighs count as collisions, feet as footholds.
    def contact_sensor(name: str, objtype: mujoco.mjtObj, objname: str) -> None:
        spec.add_sensor(
            name=name,
            type=mujoco.mjtSensor.mjSENS_CONTACT,
            objtype=objtype,
            objname=objname,
            reftype=mujoco.mjtObj.mjOBJ_BODY,
            refname="ladder",
            intprm=[1, 0, 1],  # data="found", no reduction, one slot
        )

    for body in COLLISION_BODIES:
        contact_sensor(f"touch_{body}", mujoco.mjtObj.mjOBJ_BODY, body)
    for leg, shank in zip(LEGS, FOOT_BODIES, strict=True):
        foot_geom = next(g for g in spec.body(shank).geoms if g.type == mujoco.mjtGeom.mjGEOM_SPHERE)
        foot_geom.name = f"{leg}_foot"
        spec.body(shank).add_site(name=f"{leg}_foot", pos=list(foot_geom.pos))
        contact_sensor(f"touch_{leg}_foot", mujoco.mjtObj.mjOBJ_GEOM, f"{leg}_foot")
    return spec
