"""kuka-allegro-grasp scene: iiwa 14 with an Allegro right hand at its flange, a table and one object slot.

Engine-independent facts (robot names, frames, table, object parts) live here so that a GPU backend can build the same
scene; `task.py` binds them to the batched MuJoCo engine.

World frame: the arm's base at the origin on a pedestal level with the table top (z = 0), the table in front (+x).
The object is one free body with `MAX_PARTS` part bodies of one geom each: all envs share one compiled model, so an
env's object is written into its per-env model fields at reset (`object_fields`), from a small model compiled with
the same structure. Each slot is compiled as a generous box so that the compile-time bounding volumes contain any
object; unused slots become massless, contact-free, transparent specks.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from depthbench.envs.grasp.objects import MAX_PARTS, ObjectInstance, Part
from depthbench.envs.menagerie import robot_xml

ARM, ARM_ENTRY = "kuka_iiwa_14", "iiwa14"
HAND, HAND_ENTRY = "wonik_allegro", "right_hand"
HAND_PREFIX = "hand/"
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
HAND_JOINTS = tuple(f"{HAND_PREFIX}{finger}j{i}" for finger in ("ff", "mf", "rf", "th") for i in range(4))
FINGERTIPS = tuple(f"{HAND_PREFIX}{finger}_tip" for finger in ("ff", "mf", "rf", "th"))
PALM = f"{HAND_PREFIX}palm"
# Grasp frame on the palm: 4 cm in front of the palm face (the palm body's +x side, towards which the fingers curl),
# between the opposed thumb and the curled fingertips, where an enclosed object sits. End-effector actions move it.
GRASP_SITE = "grasp"
GRASP_SITE_POS = (0.07, 0.0, -0.035)

TABLE_HALF_M = (0.4, 0.5, 0.03)
TABLE_CENTER_XY_M = (0.7, 0.0)
FLOOR_Z_M = -0.75  # a 0.75 m table: the floor is in view of the camera beyond the table's edges
OBJECT = "object"
# Compile-time placeholder of each part slot: larger than any object part, so the bounding volumes MuJoCo computes at
# compile time (body BVH) contain whatever shape an env writes into the slot later.
_SLOT_HALF_M = 0.12
# Geom group of the Allegro's visual meshes: rays see its collision boxes instead, which match the links to a few mm.
HAND_VISUAL_GROUP = 2
HAND_KP = 3.0
HAND_MAX_TORQUE_NM = 0.7
OBJECT_CONDIM = 4  # torsional friction: without it a pinched object spins freely about the contact normal


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
                type=mujoco.mjtGeom.mjGEOM_BOX, size=[_SLOT_HALF_M] * 3, condim=OBJECT_CONDIM, density=500.0
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


def build_spec(instances: list[ObjectInstance], timestep_s: float) -> mujoco.MjSpec:
    """Arm + hand + table + floor + object slots, with fingertip touch sensors and the grasp site."""
    spec = mujoco.MjSpec.from_file(str(robot_xml(ARM, ARM_ENTRY)))
    hand = mujoco.MjSpec.from_file(str(robot_xml(HAND, HAND_ENTRY)))
    spec.attach(hand, site=spec.site("attachment_site"), prefix=HAND_PREFIX)
    # Menagerie's Allegro servos (kp = 1 N m/rad) cannot hold a 0.2 kg object; Isaac Lab's Allegro config uses
    # stiffness 3 N m/rad (isaaclab_assets/robots/allegro.py), capped at the Allegro's 0.7 N m joint torque (Wonik
    # Robotics Allegro Hand v4 datasheet).
    for actuator in spec.actuators:
        if actuator.name.startswith(HAND_PREFIX):
            actuator.gainprm[0] = HAND_KP
            actuator.biasprm[1] = -HAND_KP
            actuator.forcelimited = 1
            actuator.forcerange = [-HAND_MAX_TORQUE_NM, HAND_MAX_TORQUE_NM]
    spec.option.timestep = timestep_s
    # Real iiwa and Allegro controllers compensate gravity; without it the joint servos sag by ~0.02 rad.
    for body in spec.bodies:
        if body.name.startswith("link") or body.name.startswith(HAND_PREFIX):
            body.gravcomp = 1.0
    palm = spec.body(PALM)
    palm.add_site(name=GRASP_SITE, pos=list(GRASP_SITE_POS), size=[0.005, 0, 0], group=4)
    for tip in FINGERTIPS:
        # Touch sensor volume around the fingertip capsule (Menagerie: radius 12 mm, centre 19/35 mm up the tip).
        centre = 0.035 if tip.endswith("th_tip") else 0.019
        site = spec.body(tip).add_site(name=f"{tip}_touch", pos=[0, 0, centre], size=[0.017, 0, 0], group=4)
        spec.add_sensor(
            name=f"{tip}_touch", type=mujoco.mjtSensor.mjSENS_TOUCH, objtype=mujoco.mjtObj.mjOBJ_SITE, objname=site.name
        )
    world = spec.worldbody
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1], pos=[0, 0, FLOOR_Z_M])
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(TABLE_HALF_M),
        pos=[*TABLE_CENTER_XY_M, -TABLE_HALF_M[2]],
        rgba=[0.6, 0.6, 0.55, 1],
    )
    world.add_geom(
        name="pedestal",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[0.15, (-FLOOR_Z_M) / 2, 0],
        pos=[0, 0, FLOOR_Z_M / 2],
        rgba=[0.3, 0.3, 0.3, 1],
    )
    add_meshes(spec, instances)
    add_object(spec, None)
    return spec


@dataclass(frozen=True)
class ObjectFields:
    """Per-env model field values of one object instance (rows for the object's bodies and slot geoms)."""

    geom: dict[str, np.ndarray]
    body: dict[str, np.ndarray]
    bvh_aabb: np.ndarray
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
    bvh = np.stack([model.bvh_aabb[model.body_bvhadr[b]] for b in bodies[1:]])
    return ObjectFields(geom=geom, body=body, bvh_aabb=bvh, mass_kg=float(model.body_mass[bodies].sum()))
