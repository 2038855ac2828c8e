"""kuka-allegro-grasp on MuJoCo: the MjSpec of iiwa 14 with an Allegro right hand at its flange, a table and one
object slot, built from the engine-free facts in `spec.py` (robot names, frames, table) and `objects.py` (parts).

The object is one free body with `MAX_PARTS` part bodies of one geom each: all envs share one compiled model, so an
env's object is written into its per-env model fields at reset (`object_fields`: geometry and inertia), from a small
model compiled with the same structure; unused slots become massless, contact-free, transparent specks. The bounding
volumes stay conservative: mj_setConst recomputes the body BVHs, and keeps the compile-time (placeholder) bounding
radius of mesh geoms.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from depthbench.envs.grasp.objects import MAX_PARTS, ObjectInstance, Part
from depthbench.envs.grasp.spec import (
    ARM,
    ARM_ENTRY,
    ARM_JOINTS,
    FINGERTIPS,
    FLOOR_Z_M,
    GRASP_SITE,
    GRASP_SITE_POS,
    HAND,
    HAND_ENTRY,
    HAND_KP,
    HAND_MAX_TORQUE_NM,
    HAND_PREFIX,
    HOME_GRASP_POS,
    HOME_PALM_MAT,
    OBJECT,
    PALM,
    TABLE_CENTER_XY_M,
    TABLE_HALF_M,
    pose_error,
)
from depthbench.envs.menagerie import robot_xml

PARKED_Z_M = -50.0
# Compile-time placeholder of each part slot (larger than any part); every env overwrites its geometry at reset.
_SLOT_HALF_M = 0.12
OBJECT_CONDIM = 4  # torsional friction: without it a pinched object spins freely about the contact normal
# Contact bits: the arm touches the world and the object, never itself or the hand (self-collisions off, as in Isaac
# Lab's manipulation robots); the hand touches everything. A pair collides if contype & conaffinity matches either way.
ARM_CONTYPE, ARM_CONAFFINITY = 2, 0
WORLD_CONTYPE, WORLD_CONAFFINITY = 1, 3
PARKED_CONTACT_BIT = 4


def _hull_mesh_name(instance: ObjectInstance, index: int) -> str:
    return f"mesh_{instance.name}_{index}"


def _add_part_geom(body: mujoco.MjsBody, part: Part | None, mesh_name: str | None) -> None:
    geom = body.add_geom(condim=OBJECT_CONDIM, rgba=[0.8, 0.5, 0.2, 1.0])
    if part is None:  # unused slot: a speck with no mass, contacts or rays
        geom.type = mujoco.mjtGeom.mjGEOM_SPHERE
        geom.size = [1e-3, 0, 0]
        geom.mass = 1e-9
        geom.contype = geom.conaffinity = 0
        geom.rgba = [0, 0, 0, 0]
        return
    geom.type = {
        "box": mujoco.mjtGeom.mjGEOM_BOX,
        "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
        "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
        "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
        "mesh": mujoco.mjtGeom.mjGEOM_MESH,
    }[part.kind]
    if part.kind == "mesh":
        geom.meshname = mesh_name
    else:
        geom.size = list(part.size)
    geom.contype, geom.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
    geom.pos = list(part.pos)
    geom.quat = list(part.quat)
    geom.density = 500.0  # rescaled to the sampled mass at reset


def add_object(spec: mujoco.MjSpec, instance: ObjectInstance | None) -> None:
    """The free object body and its part slots; `instance` None compiles the placeholder slots."""
    body = spec.worldbody.add_body(name=OBJECT, pos=[TABLE_CENTER_XY_M[0], 0, 0.2])
    body.add_freejoint(name=OBJECT)
    parts = instance.parts if instance is not None else ()
    for slot in range(MAX_PARTS):
        part_body = body.add_body(name=f"{OBJECT}_part{slot}")
        if instance is None:
            part_body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[_SLOT_HALF_M] * 3,
                condim=OBJECT_CONDIM,
                density=500.0,
                contype=WORLD_CONTYPE,
                conaffinity=WORLD_CONAFFINITY,
            )
        else:
            part = parts[slot] if slot < len(parts) else None
            mesh = _hull_mesh_name(instance, slot) if part is not None and part.kind == "mesh" else None
            _add_part_geom(part_body, part, mesh)


def add_meshes(spec: mujoco.MjSpec, instances: list[ObjectInstance]) -> None:
    for instance in instances:
        for index, part in enumerate(instance.parts):
            if part.kind == "mesh":
                assert part.vertices is not None and part.faces is not None
                mesh = spec.add_mesh(name=_hull_mesh_name(instance, index))
                mesh.uservert = part.vertices.ravel().tolist()
                mesh.userface = part.faces.ravel().tolist()


def _arm_spheres_to_capsules(spec: mujoco.MjSpec) -> None:
    """Replace each iiwa link's cluster of collision spheres (46 in all) by one enveloping capsule (link 7 keeps its
    single sphere).

    MuJoCo's rangefinders test every ray against every geom (~4 ns per geom and ray, measured; transparent ones too),
    so the spheres doubled the depth cost. The capsule lies along the spheres' principal axis, with the radius that
    covers every sphere: a conservative envelope, a few cm fatter than the links' bends, for contacts and rays alike.
    """
    for body in spec.bodies:
        if not (body.name == "base" or body.name.startswith("link")):
            continue
        spheres = [g for g in body.geoms if g.type == mujoco.mjtGeom.mjGEOM_SPHERE and (g.contype or g.conaffinity)]
        if len(spheres) < 2:
            continue
        centres = np.array([g.pos for g in spheres])
        radii = np.array([g.size[0] for g in spheres])
        mean = centres.mean(axis=0)
        axis = np.linalg.svd(centres - mean)[2][0]
        along = (centres - mean) @ axis
        across = np.linalg.norm(centres - mean - along[:, None] * axis, axis=1)
        first = spheres[0]
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_CAPSULE,
            fromto=[*(mean + along.min() * axis), *(mean + along.max() * axis)],
            size=[float((radii + across).max()), 0, 0],
            group=first.group,
            rgba=[0.4, 0.4, 0.4, 1.0],
        )
        for geom in spheres:
            spec.delete(geom)


def robot_spec(timestep_s: float, hand_prefix: str = HAND_PREFIX) -> mujoco.MjSpec:
    """iiwa 14 (collision spheres merged into capsules) with the Allegro right hand attached at its flange under
    `hand_prefix`, the hand servo gains, gravity compensation and the grasp site: the robot every engine uses (the
    Isaac Lab binding converts it to USD with a prefix that is valid in USD names)."""
    spec = mujoco.MjSpec.from_file(str(robot_xml(ARM, ARM_ENTRY)))
    _arm_spheres_to_capsules(spec)
    hand = mujoco.MjSpec.from_file(str(robot_xml(HAND, HAND_ENTRY)))
    spec.attach(hand, site=spec.site("attachment_site"), prefix=hand_prefix)
    # Menagerie's Allegro servos (kp = 1 N m/rad) cannot hold a 0.2 kg object; Isaac Lab's Allegro config
    # (isaaclab_assets/robots/allegro.py) uses stiffness 3 N m/rad and an effort limit of 0.5 N m.
    for actuator in spec.actuators:
        if actuator.name.startswith(hand_prefix):
            actuator.gainprm[0] = HAND_KP
            actuator.biasprm[1] = -HAND_KP
            actuator.forcelimited = 1
            actuator.forcerange = [-HAND_MAX_TORQUE_NM, HAND_MAX_TORQUE_NM]
    spec.option.timestep = timestep_s
    # Real iiwa and Allegro controllers compensate gravity; without it the joint servos sag by ~0.02 rad.
    for body in spec.bodies:
        if body.name.startswith("link") or body.name.startswith(hand_prefix):
            body.gravcomp = 1.0
    palm = spec.body(PALM.replace(HAND_PREFIX, hand_prefix, 1))
    palm.add_site(name=GRASP_SITE, pos=list(GRASP_SITE_POS), size=[0.005, 0, 0], group=4)
    return spec


def build_spec(instances: list[ObjectInstance], timestep_s: float) -> mujoco.MjSpec:
    """Arm + hand + table + floor + object slots, with fingertip touch sensors and the grasp site."""
    spec = robot_spec(timestep_s)
    for tip in FINGERTIPS:
        # Touch sensor volume around the fingertip capsule (Menagerie: radius 12 mm, centre 19/35 mm up the tip).
        centre = 0.035 if tip.endswith("th_tip") else 0.019
        site = spec.body(tip).add_site(name=f"{tip}_touch", pos=[0, 0, centre], size=[0.017, 0, 0], group=4)
        spec.add_sensor(
            name=f"{tip}_touch", type=mujoco.mjtSensor.mjSENS_TOUCH, objtype=mujoco.mjtObj.mjOBJ_SITE, objname=site.name
        )
    for geom in spec.geoms:
        if (geom.contype or geom.conaffinity) and (geom.parent.name == "base" or geom.parent.name.startswith("link")):
            geom.contype, geom.conaffinity = ARM_CONTYPE, ARM_CONAFFINITY
    world = spec.worldbody
    contacts = {"contype": WORLD_CONTYPE, "conaffinity": WORLD_CONAFFINITY}
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1], pos=[0, 0, FLOOR_Z_M], **contacts)
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(TABLE_HALF_M),
        pos=[*TABLE_CENTER_XY_M, -TABLE_HALF_M[2]],
        rgba=[0.6, 0.6, 0.55, 1],
        **contacts,
    )
    world.add_geom(
        name="pedestal",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[0.15, (-FLOOR_Z_M) / 2, 0],
        pos=[0, 0, FLOOR_Z_M / 2],
        rgba=[0.3, 0.3, 0.3, 1],
        **contacts,
    )
    add_meshes(spec, instances)
    # MuJoCo computes a mesh's collision data (convex polygons) only for meshes that some collision geom uses at
    # compile time; slots switch to these meshes at run time, so each gets a parked, transparent user far below whose
    # contact bit nothing else carries.
    parked = world.add_body(name="parked_meshes", pos=[0, 0, PARKED_Z_M])
    for instance in instances:
        for index, part in enumerate(instance.parts):
            if part.kind == "mesh":
                parked.add_geom(
                    type=mujoco.mjtGeom.mjGEOM_MESH,
                    meshname=_hull_mesh_name(instance, index),
                    contype=PARKED_CONTACT_BIT,
                    conaffinity=PARKED_CONTACT_BIT,
                    rgba=[0, 0, 0, 0],
                    group=4,
                )
    add_object(spec, None)
    return spec


@dataclass(frozen=True)
class ObjectFields:
    """Per-env model field values of one object instance (rows for the object's bodies and slot geoms)."""

    geom: dict[str, np.ndarray]
    body: dict[str, np.ndarray]
    mass_kg: float


GEOM_FIELDS = (
    "geom_type",
    "geom_dataid",
    "geom_size",
    "geom_pos",
    "geom_quat",
    "geom_aabb",
    "geom_rbound",
    "geom_sameframe",
    "geom_contype",
    "geom_conaffinity",
    "geom_rgba",
)
BODY_FIELDS = ("body_mass", "body_inertia", "body_ipos", "body_iquat", "body_sameframe", "body_simple")


def object_fields(instance: ObjectInstance, mesh_ids: dict[str, int]) -> ObjectFields:
    """Compile `instance` alone, with the scene's object structure, and read the fields an env's model takes."""
    spec = mujoco.MjSpec()
    add_meshes(spec, [instance])
    add_object(spec, instance)
    model = spec.compile()
    root = model.body(OBJECT).id
    bodies = [root] + [model.body(f"{OBJECT}_part{k}").id for k in range(MAX_PARTS)]
    geoms = [model.body_geomadr[b] for b in bodies[1:]]
    geom = {name: getattr(model, name)[geoms].copy() for name in GEOM_FIELDS}
    for row, geom_id in enumerate(geoms):
        if model.geom_type[geom_id] == mujoco.mjtGeom.mjGEOM_MESH:
            geom["geom_dataid"][row] = mesh_ids[model.mesh(model.geom_dataid[geom_id]).name]
    body = {name: getattr(model, name)[bodies].copy() for name in BODY_FIELDS}
    return ObjectFields(geom=geom, body=body, mass_kg=float(model.body_mass[bodies].sum()))


def solve_home(model: mujoco.MjModel) -> np.ndarray:
    """Arm joints (ARM_JOINTS order) that put the grasp frame at HOME_GRASP_POS with HOME_PALM_MAT (damped least
    squares IK on a compiled `robot_spec` or `build_spec` model; the Isaac Lab binding solves it on the same MJCF)."""
    data = mujoco.MjData(model)
    qpos = np.array([model.jnt_qposadr[model.joint(j).id] for j in ARM_JOINTS])
    dof = np.array([model.jnt_dofadr[model.joint(j).id] for j in ARM_JOINTS])
    site = model.site(GRASP_SITE).id
    data.qpos[qpos] = [0.0, 0.6, 0.0, -1.4, 0.0, 1.1, 0.0]
    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    for _ in range(200):
        mujoco.mj_kinematics(model, data)
        error = pose_error(
            data.site_xpos[site][None], data.site_xmat[site].reshape(1, 3, 3), HOME_GRASP_POS[None], HOME_PALM_MAT[None]
        )[0]
        if np.linalg.norm(error) < 1e-6:
            break
        mujoco.mj_comPos(model, data)
        mujoco.mj_jacSite(model, data, jacp, jacr, site)
        jac = np.vstack([jacp, jacr])[:, dof]
        data.qpos[qpos] += jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(6), error)
    return data.qpos[qpos].copy()
