"""anymal-ladder on MuJoCo: the MjSpec of ANYmal C (Menagerie MJCF) in front of the ladder that `spec.ladder_shapes`
describes, with foot sites and contact sensors. The depth cameras (`spec.depth_cameras`) are added by the engine."""

from __future__ import annotations

import functools
from typing import Any

import mujoco

from depthbench.envs.ladder.spec import (
    COLLISION_BODIES,
    DEFAULT_BASE_HEIGHT_M,
    FOOT_BODIES,
    LEGS,
    ROBOT,
    ROBOT_ENTRY,
    LadderParams,
    ladder_shapes,
)
from depthbench.envs.menagerie import robot_xml

_GEOM_TYPES = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER}


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
    """
    shapes = ladder_shapes(params, rung_slots)
    spec = _robot_spec(str(robot_xml(ROBOT, ROBOT_ENTRY))).copy()
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
    for shape in shapes:
        ladder.add_geom(
            name=shape.name,
            type=_GEOM_TYPES[shape.kind],
            size=list(shape.half_size_m),
            pos=list(shape.pos_m),
            quat=list(shape.quat_wxyz),
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
