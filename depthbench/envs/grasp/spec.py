"""kuka-allegro-grasp task specification, engine-free: robot names and frames, the table, the home pose, the action
and observation layouts, config validation, the object pool and the workspace camera. It imports no physics engine:
each engine's binding builds the same scene from these numbers (`scene.py` + `task.py` for the batched MuJoCo engine,
`isaaclab_task.py` for Isaac Lab / Newton). Objects (families, instances, held-out pools) are in `objects.py`.

World frame: the arm's base at the origin on a pedestal level with the table top (z = 0), the table in front (+x).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depthbench.envs.camera import DepthCamera
from depthbench.envs.grasp import objects
from depthbench.errors import DepthbenchError

ARM, ARM_ENTRY = "kuka_iiwa_14", "iiwa14"
HAND, HAND_ENTRY = "wonik_allegro", "right_hand"
HAND_PREFIX = "hand/"
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
HAND_JOINTS = tuple(f"{HAND_PREFIX}{finger}j{i}" for finger in ("ff", "mf", "rf", "th") for i in range(4))
FINGERTIPS = tuple(f"{HAND_PREFIX}{finger}_tip" for finger in ("ff", "mf", "rf", "th"))
PALM = f"{HAND_PREFIX}palm"
# Grasp frame on the palm: 6 cm in front of the palm face (the palm body's +x side, towards which the fingers curl),
# between the opposed thumb and the curled fingertips, where an enclosed object sits. End-effector actions move it.
GRASP_SITE = "grasp"
GRASP_SITE_POS = (0.07, 0.0, -0.035)

TABLE_HALF_M = (0.4, 0.5, 0.03)
TABLE_CENTER_XY_M = (0.7, 0.0)
FLOOR_Z_M = -0.75  # a 0.75 m table: the floor is in view of the camera beyond the table's edges
OBJECT = "object"
# Allegro joint servos (Isaac Lab isaaclab_assets/robots/allegro.py): Menagerie's kp = 1 N m/rad cannot hold 0.2 kg.
HAND_KP = 3.0
HAND_MAX_TORQUE_NM = 0.5

NUM_ARM_ACTIONS = 6
NUM_ACTIONS = NUM_ARM_ACTIONS + len(HAND_JOINTS)
# Home pose: grasp frame above the table centre-front, palm facing down, fingers pointing away from the robot.
HOME_GRASP_POS = np.array([0.55, 0.0, 0.3])
# Allegro palm frame: fingers extend along +z and curl towards +x (the palm face). Home: face down, fingers along +x.
HOME_PALM_MAT = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
PRIVILEGED_LAYOUT = {
    "object_rel_grasp": slice(0, 3),
    "object_pos": slice(3, 6),
    "object_quat": slice(6, 10),
    "object_linvel": slice(10, 13),
    "object_angvel": slice(13, 16),
    "family": slice(16, 23),
    "half_extents": slice(23, 26),
    "mass": slice(26, 27),
    "friction": slice(27, 28),
    "touch": slice(28, 32),
}
POLICY_LAYOUT = {
    "arm_q": slice(0, 7),
    "arm_qd": slice(7, 14),
    "hand_q": slice(14, 30),
    "hand_qd": slice(30, 46),
    "grasp_pos": slice(46, 49),
    "palm_quat": slice(49, 53),
    "last_actions": slice(53, 75),
}


def value_range(cfg: dict[str, Any], key: str, *, positive: bool = True) -> tuple[float, float]:
    lo, hi = (float(v) for v in cfg[key])
    if lo > hi or (positive and lo <= 0):
        raise DepthbenchError(f"objects.{key}={[lo, hi]} must be an increasing pair of positive numbers")
    return lo, hi


def validate_config(cfg: dict[str, Any]) -> None:
    """Raise DepthbenchError for the first parameter that makes no sense (before anything is compiled)."""
    objects.object_set(cfg["objects"]["set"])
    if cfg["split"] not in objects.SPLIT_STREAMS:
        raise DepthbenchError(f"split '{cfg['split']}' is unknown; use one of {', '.join(objects.SPLIT_STREAMS)}")
    value_range(cfg["objects"], "mass_kg")
    value_range(cfg["objects"], "friction")
    low, high = np.array(cfg["objects"]["spawn_low_m"], float), np.array(cfg["objects"]["spawn_high_m"], float)
    table_low = np.subtract(TABLE_CENTER_XY_M, TABLE_HALF_M[:2])
    table_high = np.add(TABLE_CENTER_XY_M, TABLE_HALF_M[:2])
    if (
        low.shape != (2,)
        or high.shape != (2,)
        or np.any(low > high)
        or np.any(low < table_low)
        or np.any(high > table_high)
    ):
        raise DepthbenchError(
            f"objects.spawn_low_m={low.tolist()} / spawn_high_m={high.tolist()} must be an xy box on the table "
            f"({table_low.tolist()} to {table_high.tolist()} m)"
        )
    if float(cfg["objects"]["size_scale"]) <= 0:
        raise DepthbenchError(f"objects.size_scale={cfg['objects']['size_scale']} must be positive")
    for key in ("lift_height_m", "hold_time_s", "lifted_m"):
        if float(cfg["success"][key]) <= 0:
            raise DepthbenchError(f"success.{key}={cfg['success'][key]} must be positive")
    if float(cfg["episode_length_s"]) <= float(cfg["success"]["hold_time_s"]):
        raise DepthbenchError("episode_length_s must exceed success.hold_time_s, or no episode can succeed")
    if int(cfg["depth"]["width"]) < 1 or int(cfg["depth"]["height"]) < 1:
        raise DepthbenchError(f"depth resolution {cfg['depth']['width']}x{cfg['depth']['height']} must be positive")


def scaled(instance: objects.ObjectInstance, scale: float) -> objects.ObjectInstance:
    """`instance` with every length multiplied by `scale` (objects.size_scale)."""
    if scale == 1.0:
        return instance
    parts = tuple(
        objects.Part(
            p.kind,
            tuple(s * scale for s in p.size),
            tuple(x * scale for x in p.pos),
            p.quat,
            None if p.vertices is None else p.vertices * scale,
            p.faces,
        )
        for p in instance.parts
    )
    return objects.ObjectInstance(
        instance.family, instance.name, parts, tuple(h * scale for h in instance.half_extents_m)
    )


def object_pool(cfg: dict[str, Any]) -> list[objects.ObjectInstance]:
    """The split's object instances at the configured size scale (held-out pools per split)."""
    scale = float(cfg["objects"]["size_scale"])
    pool = objects.pool(cfg["objects"]["set"], cfg["split"], int(cfg["objects"]["per_family"]))
    return [scaled(instance, scale) for instance in pool]


def workspace_camera(cfg: dict[str, Any]) -> DepthCamera:
    """The one workspace depth camera (world-fixed) at the configured pose and resolution, validated (also when
    depth is disabled: a config that cannot render is an error either way)."""
    cam = cfg["camera"]
    camera = DepthCamera(
        "workspace",
        pos=tuple(cam["pos"]),
        lookat=tuple(cam["lookat"]),
        fovy_deg=float(cam["fovy_deg"]),
        width=int(cfg["depth"]["width"]),
        height=int(cfg["depth"]["height"]),
        max_range_m=float(cam["max_range_m"]),
    )
    camera.validate()
    return camera
