"""kuka-allegro-grasp task specification, engine-free: robot names and frames, the table, the home pose, the action
and observation layouts, config validation, the object pool and the workspace camera. It imports no physics engine:
each engine's binding builds the same scene from these numbers (`scene.py` + `task.py` for the batched MuJoCo engine,
`isaaclab_task.py` for Isaac Lab / Newton). Objects (families, instances, held-out pools) are in `objects.py`.

World frame: the arm's base at the origin on a pedestal level with the table top (z = 0), the table in front (+x).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

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


# --- per-step outcome and rewards, shared by every engine ----------------------------------------------------------
# Written against the operators and functions numpy and torch share (`xp` is either module), so the MuJoCo binding
# (numpy, float64) and the Isaac Lab binding (torch, on the simulation device) compute the same definitions.


def lift_outcome(
    xp: Any,
    cfg: dict[str, Any],
    *,
    height_m: Any,
    object_rel_table_m: Any,
    hold_steps: Any,
    was_lifted: Any,
    episode_length: Any,
    max_episode_length: int,
    step_dt_s: float,
) -> dict[str, Any]:
    """One control step's episode state from the object's height above its start height (N,) and its position
    relative to the table-top centre (N, 3), given the previous `hold_steps` (N,) and `was_lifted` (N,).

    Returns above (target height reached), hold_steps, was_lifted, success (held `success.hold_time_s`), dropped
    (lifted `success.lifted_m`, then back below 1 cm; or off the table and below its top), time_outs and dones."""
    success_cfg = cfg["success"]
    above = height_m >= float(success_cfg["lift_height_m"])
    hold_steps = xp.where(above, hold_steps + 1, 0)
    was_lifted = was_lifted | (height_m >= float(success_cfg["lifted_m"]))
    success = hold_steps * step_dt_s >= float(success_cfg["hold_time_s"]) - 1e-9
    off_table = (
        (xp.abs(object_rel_table_m[:, 0]) > TABLE_HALF_M[0]) | (xp.abs(object_rel_table_m[:, 1]) > TABLE_HALF_M[1])
    ) & (object_rel_table_m[:, 2] < -0.02)
    dropped = ~success & ((was_lifted & (height_m < 0.01)) | off_table)
    time_outs = ~success & ~dropped & (episode_length >= max_episode_length)
    return {
        "above": above,
        "hold_steps": hold_steps,
        "was_lifted": was_lifted,
        "success": success,
        "dropped": dropped,
        "time_outs": time_outs,
        "dones": success | dropped | time_outs,
    }


def reward_terms(
    xp: Any,
    cfg: dict[str, Any],
    outcome: dict[str, Any],
    *,
    height_m: Any,
    grasp_distance_m: Any,
    touch_n: Any,
    actions: Any,
    last_actions: Any,
) -> dict[str, Any]:
    """The reward terms (task.py's docstring defines them) from `lift_outcome`'s result, the grasp-frame-to-object
    distance (N,), the fingertip touch forces (N, 4: ff, mf, rf, th) and the current and previous actions."""
    weights, lift_m = cfg["rewards"], float(cfg["success"]["lift_height_m"])
    touching = touch_n > float(weights["touch_threshold_n"])
    grasping = touching[:, 3] & (touching[:, 0] | touching[:, 1] | touching[:, 2])
    return {
        "reach": float(weights["reach"]) * (1.0 - xp.tanh(grasp_distance_m / float(weights["reach_std_m"]))),
        "grasp": float(weights["grasp"]) * grasping,
        "lift": float(weights["lift"]) * xp.clip(height_m / lift_m, 0.0, 1.0),
        "hold": float(weights["hold"]) * outcome["above"],
        "success": float(weights["success"]) * outcome["success"],
        "drop": -float(weights["drop"]) * outcome["dropped"],
        "action_rate": -float(weights["action_rate"]) * ((actions - last_actions) ** 2).sum(axis=1),
    }


def episode_record(
    *,
    env_id: int,
    success: bool,
    length: int,
    dropped: bool,
    max_height_m: float,
    family: str,
    time_to_lift_s: float,
) -> dict[str, Any]:
    """One `finished_episodes` record; `time_to_lift_s` is NaN when the object never reached the target height
    (the key is then absent, so means are over lifted episodes)."""
    episode = {
        "env_id": int(env_id),
        "success": float(success),
        "length": int(length),
        "dropped": float(dropped),
        "max_height_m": float(max_height_m),
        "object_family": family,
    }
    if not np.isnan(time_to_lift_s):
        episode["time_to_lift_s"] = float(time_to_lift_s)
    return episode


def pose_error(pos: np.ndarray, mat: np.ndarray, target_pos: np.ndarray, target_mat: np.ndarray) -> np.ndarray:
    """(N, 6) world-frame [position error, rotation error as axis-angle] from current to target."""
    rotation = Rotation.from_matrix(target_mat @ mat.transpose(0, 2, 1)).as_rotvec()
    return np.concatenate([target_pos - pos, rotation], axis=1)
