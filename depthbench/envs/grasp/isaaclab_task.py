"""kuka-allegro-grasp on Isaac Lab 3 (kit-less) with Newton physics (MuJoCo-Warp solver) and the Newton Warp depth
renderer, built from the engine-free `spec` and `objects`: CPU for tests, CUDA for scale.

Scene per env: the MuJoCo binding's robot (`scene.robot_spec`: iiwa 14 with its collision spheres merged into
capsules, the Allegro right hand at the flange, gravity compensation, the hand servo gains), stripped to its
collision shapes and converted to USD once (`isaaclab_support.mjcf_usd`; the hand prefix is `hand_`, since "/" is
not a USD name character); the table, pedestal and floor as static boxes and a cylinder; the object; the workspace
depth camera.

Objects: MuJoCo-Warp needs every env (world) to have the same shapes, so the object is one rigid body with a fixed
set of primitive slots (`object_slots`: for each primitive kind, as many as the object set's largest object uses;
"simple": a box, a cylinder, a sphere and a capsule). Each reset writes the env's sampled instance into the Newton
model: its parts' sizes and poses into their slots (`shape_scale`, `shape_transform`), unused slots shrunk to 1 mm
specks inside the first part (no contact, no pixel), friction into the slots' `shape_material_mu`, and the mass,
centre of mass and inertia (MuJoCo's, of the same parts at uniform density, scaled to the sampled mass) into the
body; then the solver is notified (SHAPE_PROPERTIES, BODY_INERTIAL_PROPERTIES), MuJoCo-Warp's per-world bounding
radii and boxes are refreshed (`isaaclab_support.refresh_bounds`) and the renderer's shape BVH refit. This is not an
official Isaac Lab API; the tests check its effect (the slots hold the spec's sizes; depth equals the MuJoCo
engine's). Convex-hull objects (families "hull", sets "hulls" / "all") need a different mesh per env, which one
MuJoCo-Warp model cannot hold: they are one clear error here.

Observations, actions, rewards, terminations, success and finished-episode records are the MuJoCo binding's
(`task.py`, whose docstring defines them); outcome and reward math are `spec.lift_outcome` / `spec.reward_terms`,
shared with it. Quaternions in observations are wxyz, as on MuJoCo (Isaac Lab 3's own are xyzw). The arm's
end-effector actions use damped least squares on the grasp-frame Jacobian, assembled from the arm's joint axes and
anchors (all revolute, one chain) at the current state, as the MuJoCo binding's `mj_jac`. Differences: fingertip
touch is the Newton contact sensor's net normal force on each tip body (MuJoCo: a touch-sensor sphere around the
tip capsule), and the object's contacts use Newton's default condim (MuJoCo binding: 4, torsional friction).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import isaaclab.sim as sim_utils
import mujoco
import numpy as np
import torch
from isaaclab.actuators import ImplicitActuatorCfg
from isaaclab.assets import ArticulationCfg, AssetBaseCfg, RigidObjectCfg
from isaaclab.envs import DirectRLEnv, DirectRLEnvCfg
from isaaclab.scene import InteractiveSceneCfg
from isaaclab.sensors import ContactSensorCfg
from isaaclab.sim import SimulationCfg
from isaaclab.utils import configclass
from isaaclab_newton.physics import MJWarpSolverCfg, NewtonCfg

from depthbench.envs.grasp import objects, scene
from depthbench.envs.grasp import spec as grasp_spec
from depthbench.envs.grasp.objects import ObjectInstance, Part
from depthbench.envs.isaaclab_support import (
    camera_cfg,
    depth_image,
    matrix_xyzw,
    mjcf_usd,
    refresh_bounds,
    show_to_cameras,
    usd_cache_dir,
    xyzw,
)
from depthbench.errors import DepthbenchError

USD_HAND_PREFIX = "hand_"
SLOT_KINDS = ("box", "cylinder", "sphere", "capsule")
SPECK_M = 1e-3
_PLACEHOLDER_HALF_M = 0.03  # build-time slot size; every reset writes the env's own
_ARM_STIFFNESS, _ARM_DAMPING = 2000.0, 200.0  # Menagerie iiwa14: gainprm 2000, biasprm (0, -2000, -200)
_HAND_DAMPING = 0.1  # Menagerie Allegro joint damping


def usd_name(name: str) -> str:
    """The USD (Isaac Lab) name of a robot joint or body named `name` in the MuJoCo binding."""
    return name.replace(grasp_spec.HAND_PREFIX, USD_HAND_PREFIX, 1)


def object_slots(instances: list[ObjectInstance]) -> tuple[str, ...]:
    """The object body's primitive slots: per kind, as many as the pool's largest use of it."""
    most = dict.fromkeys(SLOT_KINDS, 0)
    for instance in instances:
        counts = Counter(part.kind for part in instance.parts)
        if "mesh" in counts:
            raise DepthbenchError(
                f"object family '{instance.family}' is a convex hull, which the isaaclab engine cannot build (one "
                "MuJoCo-Warp model holds one mesh per shape for every env); use objects.set simple or composite"
            )
        for kind, count in counts.items():
            most[kind] = max(most[kind], count)
    return tuple(kind for kind in SLOT_KINDS for _ in range(most[kind]))


def slot_geometry(instance: ObjectInstance, slots: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, 3) Newton shape scales (MuJoCo's half-size convention), (S, 3) positions and (S, 4) xyzw rotations in
    the object frame of `instance` in `slots`; unused slots are specks at the first part's position."""
    scale = np.full((len(slots), 3), SPECK_M)
    pos = np.tile(np.asarray(instance.parts[0].pos, float), (len(slots), 1))
    quat = np.tile([0.0, 0.0, 0.0, 1.0], (len(slots), 1))
    free = list(range(len(slots)))
    for part in instance.parts:
        slot = next(i for i in free if slots[i] == part.kind)
        free.remove(slot)
        scale[slot] = _newton_scale(part)
        pos[slot] = part.pos
        quat[slot] = xyzw(part.quat)
    return scale, pos, quat


def _newton_scale(part: Part) -> tuple[float, float, float]:
    r, h = part.size[0], part.size[1]
    return {"box": tuple(part.size), "cylinder": (r, h, 0.0), "sphere": (r, 0.0, 0.0), "capsule": (r, h, 0.0)}[
        part.kind
    ]


def unit_inertia(instance: ObjectInstance) -> tuple[float, np.ndarray, np.ndarray]:
    """(mass at the MuJoCo binding's density, centre of mass (3,), inertia about it (3, 3)) of `instance` in its
    frame: MuJoCo's own computation of the same parts (the MuJoCo binding rescales them to the sampled mass too)."""
    model_spec = mujoco.MjSpec()
    body = model_spec.worldbody.add_body(name="object")
    body.add_freejoint()
    kinds = {
        "box": mujoco.mjtGeom.mjGEOM_BOX,
        "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
        "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
        "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
    }
    for part in instance.parts:
        body.add_geom(
            type=kinds[part.kind], size=list(part.size), pos=list(part.pos), quat=list(part.quat), density=500
        )
    model = model_spec.compile()
    i = model.body("object").id
    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, model.body_iquat[i])
    rot = rot.reshape(3, 3)
    return float(model.body_mass[i]), model.body_ipos[i].copy(), rot @ np.diag(model.body_inertia[i]) @ rot.T


def object_usd(slots: tuple[str, ...]) -> str:
    """A USD file of the object body: one rigid body with a collider per slot (placeholder sizes), cached."""
    from pxr import Gf, Usd, UsdGeom, UsdPhysics

    key = hashlib.sha256(repr((slots, _PLACEHOLDER_HALF_M)).encode()).hexdigest()[:16]
    path = usd_cache_dir() / "objects" / f"grasp_object_{key}.usda"
    if path.is_file():
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.usda")
    stage = Usd.Stage.CreateNew(str(tmp))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, "/Object")
    stage.SetDefaultPrim(root.GetPrim())
    UsdPhysics.RigidBodyAPI.Apply(root.GetPrim())
    UsdPhysics.MassAPI.Apply(root.GetPrim()).CreateMassAttr(0.1)
    half = _PLACEHOLDER_HALF_M
    for k, kind in enumerate(slots):
        prim_path = f"/Object/slot{k}_{kind}"
        if kind == "box":
            geom = UsdGeom.Cube.Define(stage, prim_path)
            geom.CreateSizeAttr(2 * half)
        elif kind == "sphere":
            geom = UsdGeom.Sphere.Define(stage, prim_path)
            geom.CreateRadiusAttr(half)
        else:
            geom = (UsdGeom.Cylinder if kind == "cylinder" else UsdGeom.Capsule).Define(stage, prim_path)
            geom.CreateRadiusAttr(half)
            geom.CreateHeightAttr(2 * half)
            geom.CreateAxisAttr("Z")
        geom.AddTranslateOp().Set(Gf.Vec3d(0.0, 0.0, half))
        UsdPhysics.CollisionAPI.Apply(geom.GetPrim())
    stage.GetRootLayer().Save()
    tmp.replace(path)
    return str(path)


def robot_model(cfg: dict[str, Any]) -> tuple[mujoco.MjModel, str]:
    """The robot as the MuJoCo binding builds it (compiled, for the home pose, joint ranges and joint frames) and
    the path of its USD."""
    robot = scene.robot_spec(float(cfg["sim"]["timestep_s"]), USD_HAND_PREFIX)
    model = robot.compile()
    xml = robot.to_xml()
    folder = usd_cache_dir() / "mjcf"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"iiwa14_allegro_{hashlib.sha256(xml.encode()).hexdigest()[:16]}.xml"
    if not path.is_file():
        path.write_text(xml)
    return model, str(mjcf_usd(path, "iiwa14_allegro", fix_base=True))


@configclass
class GraspEnvCfg(DirectRLEnvCfg):
    depthbench: dict = {}  # the depthbench task config the scene was built from (configs/tasks/kuka-allegro-grasp)


def env_cfg(cfg: dict[str, Any], num_envs: int, device: str) -> GraspEnvCfg:
    """The DirectRLEnvCfg of the depthbench task config `cfg` (validated)."""
    grasp_spec.validate_config(cfg)
    slots = object_slots(grasp_spec.object_pool(cfg))
    model, robot_usd = robot_model(cfg)
    home = scene.solve_home(model)
    hand_rest = _hand_rest(model)
    scene_cfg = InteractiveSceneCfg(num_envs=num_envs, env_spacing=3.0, replicate_physics=True)
    scene_cfg.robot = ArticulationCfg(
        prim_path="{ENV_REGEX_NS}/Robot",
        spawn=sim_utils.UsdFileCfg(usd_path=robot_usd),  # no self-collisions: Newton gives its shapes contype 0
        init_state=ArticulationCfg.InitialStateCfg(
            pos=(0.0, 0.0, 0.0),
            joint_pos={
                **dict(zip(grasp_spec.ARM_JOINTS, home.tolist(), strict=True)),
                **dict(zip(map(usd_name, grasp_spec.HAND_JOINTS), hand_rest.tolist(), strict=True)),
            },
        ),
        actuators={
            "arm": ImplicitActuatorCfg(
                joint_names_expr=list(grasp_spec.ARM_JOINTS), stiffness=_ARM_STIFFNESS, damping=_ARM_DAMPING
            ),
            "hand": ImplicitActuatorCfg(
                joint_names_expr=[usd_name(j) for j in grasp_spec.HAND_JOINTS],
                stiffness=grasp_spec.HAND_KP,
                damping=_HAND_DAMPING,
                joint_effort_limit=grasp_spec.HAND_MAX_TORQUE_NM,
            ),
        },
    )
    scene_cfg.object = RigidObjectCfg(
        prim_path="{ENV_REGEX_NS}/Object",
        spawn=sim_utils.UsdFileCfg(usd_path=object_usd(slots)),
        init_state=RigidObjectCfg.InitialStateCfg(pos=(*grasp_spec.TABLE_CENTER_XY_M, 0.1)),
    )
    collision = sim_utils.UsdPhysicsCollisionCfg()
    table_half = grasp_spec.TABLE_HALF_M
    scene_cfg.table = AssetBaseCfg(
        prim_path="{ENV_REGEX_NS}/Table",
        spawn=sim_utils.CuboidCfg(size=tuple(2 * h for h in table_half), collision_props=collision),
        init_state=AssetBaseCfg.InitialStateCfg(pos=(*grasp_spec.TABLE_CENTER_XY_M, -table_half[2])),
    )
    floor_z = grasp_spec.FLOOR_Z_M
    scene_cfg.pedestal = AssetBaseCfg(
        prim_path="{ENV_REGEX_NS}/Pedestal",
        spawn=sim_utils.CylinderCfg(radius=0.15, height=-floor_z, axis="Z", collision_props=collision),
        init_state=AssetBaseCfg.InitialStateCfg(pos=(0.0, 0.0, floor_z / 2)),
    )
    # The MuJoCo binding's floor: a 6 x 6 m plane (MuJoCo's rays honour a plane's size), here a box with that top.
    scene_cfg.floor = AssetBaseCfg(
        prim_path="{ENV_REGEX_NS}/Floor",
        spawn=sim_utils.CuboidCfg(size=(6.0, 6.0, 0.1), collision_props=collision),
        init_state=AssetBaseCfg.InitialStateCfg(pos=(0.0, 0.0, floor_z - 0.05)),
    )
    scene_cfg.touch = ContactSensorCfg(prim_path="{ENV_REGEX_NS}/Robot/.*" + f"{USD_HAND_PREFIX}.._tip")
    if cfg["depth"]["enabled"]:
        camera = grasp_spec.workspace_camera(cfg)
        scene_cfg.workspace = camera_cfg(camera, "{ENV_REGEX_NS}/WorkspaceCamera", camera.max_range_m)

    decimation = int(cfg["sim"]["decimation"])
    return GraspEnvCfg(
        episode_length_s=float(cfg["episode_length_s"]),
        decimation=decimation,
        action_space=grasp_spec.NUM_ACTIONS,
        observation_space=max(s.stop for s in grasp_spec.POLICY_LAYOUT.values()),
        state_space=0,
        sim=SimulationCfg(
            device=device,
            dt=float(cfg["sim"]["timestep_s"]),
            render_interval=decimation,
            physics=NewtonCfg(solver_cfg=MJWarpSolverCfg(njmax=300, nconmax=150, integrator="implicitfast")),
        ),
        scene=scene_cfg,
        depthbench=cfg,
    )


def _hand_rest(model: mujoco.MjModel) -> np.ndarray:
    """The hand's rest joint positions (qpos0 clipped to the servo ranges), as the MuJoCo binding resets it."""
    joints = [model.joint(usd_name(j)).id for j in grasp_spec.HAND_JOINTS]
    return np.clip(model.qpos0[model.jnt_qposadr[joints]], *_hand_ctrl_range(model).T)


def _hand_ctrl_range(model: mujoco.MjModel) -> np.ndarray:
    """(16, 2) servo target ranges of the hand joints (HAND_JOINTS order)."""
    actuated = [int(model.actuator_trnid[a, 0]) for a in range(model.nu)]
    joints = [model.joint(usd_name(j)).id for j in grasp_spec.HAND_JOINTS]
    return model.actuator_ctrlrange[[actuated.index(j) for j in joints]]


class IsaacGraspEnv(DirectRLEnv):
    """kuka-allegro-grasp as an Isaac Lab DirectRLEnv; `task_cfg` holds the depthbench task config."""

    def __init__(self, cfg: GraspEnvCfg, render_mode: str | None = None, **kwargs: Any) -> None:
        self.task_cfg = task_cfg = cfg.depthbench
        seed = 0 if cfg.seed is None else int(cfg.seed)
        self.instances = grasp_spec.object_pool(task_cfg)
        self.slots = object_slots(self.instances)
        super().__init__(cfg, render_mode, **kwargs)
        self.robot = self.scene["robot"]
        self.object = self.scene["object"]
        self.touch = self.scene["touch"]
        self.camera = self.scene["workspace"] if task_cfg["depth"]["enabled"] else None
        self.rng = np.random.default_rng(seed)
        model, _ = robot_model(task_cfg)
        self._bind_robot(model)
        self._bind_object()
        self._compensate_gravity()
        model_labels = self._newton.get_model().shape_label
        show_to_cameras(self._newton, np.array(["/Robot/" in label for label in model_labels]))
        self._init_buffers(model)

    # ------------------------------------------------------------------------------------------ bookkeeping
    def _bind_robot(self, model: mujoco.MjModel) -> None:
        self.arm_ids = self.robot.find_joints(list(grasp_spec.ARM_JOINTS), preserve_order=True)[0]
        self.hand_ids = self.robot.find_joints([usd_name(j) for j in grasp_spec.HAND_JOINTS], preserve_order=True)[0]
        arm = [model.joint(j).id for j in grasp_spec.ARM_JOINTS]
        links = [model.body(model.jnt_bodyid[j]).name for j in arm]
        self.link_ids = self.robot.find_bodies(links, preserve_order=True)[0]
        self.palm_id = self.robot.find_bodies([usd_name(grasp_spec.PALM)])[0][0]
        tips = [usd_name(t) for t in grasp_spec.FINGERTIPS]
        self.tip_sensors = self.touch.find_sensors(tips, preserve_order=True)[0]
        as_t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32, device=self.device)  # noqa: E731
        self._joint_axis, self._joint_anchor = as_t(model.jnt_axis[arm]), as_t(model.jnt_pos[arm])  # link frames
        self.arm_range = as_t(model.jnt_range[arm])
        self.hand_ctrl_range = as_t(_hand_ctrl_range(model))
        self.home_arm_q = as_t(scene.solve_home(model))
        self.hand_rest = as_t(_hand_rest(model))
        self._grasp_offset = as_t(grasp_spec.GRASP_SITE_POS)

    def _compensate_gravity(self) -> None:
        """Gravity compensation of the arm links and the hand (MuJoCo's body gravcomp = 1, as the MuJoCo binding):
        the converter writes it as `mjc:body:gravcomp`, which Newton 1.6 does not read (it reads `mjc:gravcomp`),
        so it is set in the Newton model's `mujoco.gravcomp` and handed to the solver."""
        from newton import ModelFlags

        model = self._newton.get_model()
        names = [label.rsplit("/", 1)[-1] for label in model.body_label]
        robot = [i for i, label in enumerate(model.body_label) if "/Robot/" in label]
        gravcomp = model.mujoco.gravcomp.numpy()
        for i in robot:
            if names[i].startswith(("link", USD_HAND_PREFIX)):
                gravcomp[i] = 1.0
        model.mujoco.gravcomp.assign(gravcomp)
        self._newton._solver.notify_model_changed(ModelFlags.BODY_INERTIAL_PROPERTIES)

    def _bind_object(self) -> None:
        """Newton shape index of every (env, slot) and body index of every env's object."""
        from isaaclab_newton.physics import NewtonManager

        self._newton = NewtonManager
        model = NewtonManager.get_model()
        shape_labels = list(model.shape_label)
        body_labels = list(model.body_label)
        rows, bodies = [], []
        for env in range(self.num_envs):
            prefix = f"/World/envs/env_{env}/Object"
            row = []
            for k, kind in enumerate(self.slots):
                matches = [i for i, label in enumerate(shape_labels) if label.startswith(f"{prefix}/slot{k}_{kind}")]
                if len(matches) != 1:
                    raise DepthbenchError(f"object slot {prefix}/slot{k}_{kind} matches {len(matches)} Newton shapes")
                row.append(matches[0])
            rows.append(row)
            matches = [i for i, label in enumerate(body_labels) if label == prefix]
            if len(matches) != 1:
                raise DepthbenchError(f"object body {prefix} matches {len(matches)} Newton bodies")
            bodies.append(matches[0])
        self._slot_shapes, self._object_bodies = np.array(rows), np.array(bodies)
        self._unit_inertia = [unit_inertia(instance) for instance in self.instances]
        self._slot_geometry = [slot_geometry(instance, self.slots) for instance in self.instances]
        self._family_index = torch.as_tensor(
            [list(objects.FAMILIES).index(i.family) for i in self.instances], device=self.device
        )
        self._instance_extents = torch.as_tensor(
            np.array([i.half_extents_m for i in self.instances]), dtype=torch.float32, device=self.device
        )

    def _init_buffers(self, model: mujoco.MjModel) -> None:
        n, dev = self.num_envs, self.device
        zeros = lambda *shape, dtype=torch.float32: torch.zeros(*shape, device=dev, dtype=dtype)  # noqa: E731
        self.actions, self.last_actions = zeros(n, grasp_spec.NUM_ACTIONS), zeros(n, grasp_spec.NUM_ACTIONS)
        self._arm_targets, self._hand_targets = zeros(n, 7), zeros(n, 16)
        self.object_index = zeros(n, dtype=torch.long)
        self.object_mass, self.object_friction = zeros(n), zeros(n)
        self._com = zeros(n, 3)
        self.start_height, self.max_height = zeros(n), zeros(n)
        self.hold_steps = zeros(n, dtype=torch.long)
        self.was_lifted = zeros(n, dtype=torch.bool)
        self.time_to_lift = torch.full((n,), float("nan"), device=dev)
        self.table_top = torch.tensor([*grasp_spec.TABLE_CENTER_XY_M, 0.0], device=dev)
        self._outcome: dict[str, torch.Tensor] | None = None

    def _setup_scene(self) -> None:
        pass  # every asset is in the scene config

    # ---------------------------------------------------------------------------------------------- state
    def _local(self, pos_w: torch.Tensor) -> torch.Tensor:
        return pos_w - self.scene.env_origins

    @property
    def object_pos(self) -> torch.Tensor:
        """(N, 3) object frame origin (its base) in each env's frame (the MuJoCo binding's free-joint position)."""
        return self._local(self.object.data.root_link_pos_w.torch)

    @property
    def object_height(self) -> torch.Tensor:
        """Height of the object's centre of mass above its height at rest after reset, metres."""
        rot = matrix_xyzw(self.object.data.root_link_quat_w.torch)
        return self.object_pos[:, 2] + torch.einsum("nij,nj->ni", rot, self._com)[:, 2] - self.start_height

    def _palm(self) -> tuple[torch.Tensor, torch.Tensor]:
        data = self.robot.data
        return data.body_link_pos_w.torch[:, self.palm_id], matrix_xyzw(data.body_link_quat_w.torch[:, self.palm_id])

    @property
    def grasp_pos(self) -> torch.Tensor:
        """(N, 3) grasp frame in each env's frame (GRASP_SITE_POS on the palm)."""
        pos, rot = self._palm()
        return self._local(pos + rot @ self._grasp_offset)

    def touch_forces(self) -> torch.Tensor:
        """(N, 4) fingertip normal contact forces (ff, mf, rf, th), newtons."""
        return self.touch.data.net_normal_forces_w.torch[:, self.tip_sensors].norm(dim=-1)

    def grasp_jacobian(self) -> torch.Tensor:
        """(N, 6, 7) world-frame [linear; angular] Jacobian of the grasp frame w.r.t. the arm joints: for revolute
        joint j with world axis a_j through anchor p_j, (a_j x (p_grasp - p_j); a_j)."""
        data = self.robot.data
        n = self.num_envs
        rot = matrix_xyzw(data.body_link_quat_w.torch[:, self.link_ids].reshape(-1, 4)).reshape(n, 7, 3, 3)
        anchor = data.body_link_pos_w.torch[:, self.link_ids] + torch.einsum("nkij,kj->nki", rot, self._joint_anchor)
        axis = torch.einsum("nkij,kj->nki", rot, self._joint_axis)
        pos, palm_rot = self._palm()
        grasp = pos + palm_rot @ self._grasp_offset
        linear = torch.cross(axis, grasp[:, None] - anchor, dim=-1)
        return torch.cat([linear, axis], dim=-1).transpose(1, 2)

    # -------------------------------------------------------------------------------------------- actions
    def _pre_physics_step(self, actions: torch.Tensor) -> None:
        self.extras["finished_episodes"] = []  # filled by _reset_idx for the episodes this step ends
        if actions.shape != (self.num_envs, grasp_spec.NUM_ACTIONS):
            raise DepthbenchError(
                f"actions must have shape ({self.num_envs}, {grasp_spec.NUM_ACTIONS}), got {tuple(actions.shape)}"
            )
        # In-place copies: rsl-rl steps under torch.inference_mode (see the ladder binding).
        self.last_actions.copy_(self.actions)
        self.actions.copy_(actions.clamp(-1.0, 1.0))
        act = self.task_cfg["actions"]
        error = torch.cat(
            [self.actions[:, 0:3] * float(act["ee_step_m"]), self.actions[:, 3:6] * float(act["ee_step_rad"])], dim=1
        )
        jac = self.grasp_jacobian()
        jac_t = jac.transpose(1, 2)
        damping = float(act["ik_damping"]) ** 2 * torch.eye(6, device=self.device)
        dq = (jac_t @ torch.linalg.solve(jac @ jac_t + damping, error[:, :, None]))[:, :, 0]
        q = self.robot.data.joint_pos.torch[:, self.arm_ids]
        self._arm_targets.copy_(torch.clamp(q + dq, self.arm_range[:, 0], self.arm_range[:, 1]))
        lo, hi = self.hand_ctrl_range[:, 0], self.hand_ctrl_range[:, 1]
        self._hand_targets.copy_(lo + (self.actions[:, grasp_spec.NUM_ARM_ACTIONS :] + 1.0) * 0.5 * (hi - lo))

    def _apply_action(self) -> None:
        self._set_targets(self._arm_targets, self._hand_targets)

    def _set_targets(self, arm: torch.Tensor, hand: torch.Tensor, env_ids: torch.Tensor | None = None) -> None:
        command = self.robot.actuators.target_command
        command.set_position_index(value=arm, joint_ids=self.arm_ids, env_ids=env_ids)
        command.set_position_index(value=hand, joint_ids=self.hand_ids, env_ids=env_ids)

    def hand_action(self, joint_targets: torch.Tensor) -> torch.Tensor:
        """Hand joint targets (N, 16) in radians -> the action values that command them."""
        lo, hi = self.hand_ctrl_range[:, 0], self.hand_ctrl_range[:, 1]
        return torch.clamp(2.0 * (joint_targets - lo) / (hi - lo) - 1.0, -1.0, 1.0)

    # ----------------------------------------------------------------------------------------- observations
    def _get_observations(self) -> dict:
        data = self.robot.data
        q, qd = data.joint_pos.torch, data.joint_vel.torch
        palm_quat = data.body_link_quat_w.torch[:, self.palm_id]
        grasp = self.grasp_pos
        policy = torch.cat(
            [
                q[:, self.arm_ids],
                qd[:, self.arm_ids],
                q[:, self.hand_ids],
                qd[:, self.hand_ids],
                grasp - self.table_top,
                palm_quat[:, [3, 0, 1, 2]],  # wxyz, as MuJoCo's xquat
                self.actions,
            ],
            dim=1,
        )
        obj = self.object.data
        obj_pos = self.object_pos
        family = torch.nn.functional.one_hot(self._family_index[self.object_index], len(objects.FAMILIES)).float()
        touch = torch.clamp(self.touch_forces() / float(self.task_cfg["rewards"]["touch_scale_n"]), 0.0, 1.0)
        privileged = torch.cat(
            [
                obj_pos - grasp,
                obj_pos - self.table_top,
                obj.root_link_quat_w.torch[:, [3, 0, 1, 2]],
                obj.root_link_lin_vel_w.torch,  # MuJoCo's free joint: world-frame linear velocity of the origin,
                obj.root_link_ang_vel_b.torch,  # and body-frame angular velocity
                family,
                self._instance_extents[self.object_index],
                self.object_mass[:, None],
                self.object_friction[:, None],
                touch,
            ],
            dim=1,
        )
        if self.camera is not None:
            depth = depth_image(self.camera, float(self.task_cfg["camera"]["max_range_m"]))[:, None]
        else:
            depth = torch.zeros(self.num_envs, 0, 0, 0, device=self.device)
        return {"policy": policy, "privileged": privileged, "depth": depth}

    # ----------------------------------------------------------------------------------- rewards and dones
    def _get_dones(self) -> tuple[torch.Tensor, torch.Tensor]:
        height = self.object_height
        self.max_height.copy_(torch.maximum(self.max_height, height))
        outcome = grasp_spec.lift_outcome(
            torch,
            self.task_cfg,
            height_m=height,
            object_rel_table_m=self.object_pos - self.table_top,
            hold_steps=self.hold_steps,
            was_lifted=self.was_lifted,
            episode_length=self.episode_length_buf,
            max_episode_length=self.max_episode_length,
            step_dt_s=self.step_dt,
        )
        first_lift = outcome["above"] & torch.isnan(self.time_to_lift)
        self.time_to_lift[first_lift] = self.episode_length_buf[first_lift].float() * self.step_dt
        self.hold_steps.copy_(outcome["hold_steps"])
        self.was_lifted.copy_(outcome["was_lifted"])
        self._height, self._outcome = height, outcome
        return outcome["success"] | outcome["dropped"], outcome["time_outs"]

    def _get_rewards(self) -> torch.Tensor:
        terms = grasp_spec.reward_terms(
            torch,
            self.task_cfg,
            self._outcome,
            height_m=self._height,
            grasp_distance_m=(self.object_pos - self.grasp_pos).norm(dim=1),
            touch_n=self.touch_forces(),
            actions=self.actions,
            last_actions=self.last_actions,
        )
        self.extras["log"] = {f"/reward/{k}": float(v.float().mean()) for k, v in terms.items()}
        return sum(terms.values()).float()

    # ------------------------------------------------------------------------------------------------ resets
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Reset every env; with `seed`, first re-seed the task's random stream (as a fresh build with it)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        return super().reset(seed=seed, options=options)

    def _reset_idx(self, env_ids: torch.Tensor | None) -> None:
        if env_ids is None:
            env_ids = torch.arange(self.num_envs, device=self.device)
        env_ids = torch.as_tensor(env_ids, device=self.device, dtype=torch.long)
        ids = env_ids.cpu().numpy()
        finished = []
        if self._outcome is not None:  # an episode ended (not the first reset)
            outcome = self._outcome
            finished = [
                grasp_spec.episode_record(
                    env_id=i,
                    success=bool(outcome["success"][i]),
                    length=int(self.episode_length_buf[i]),
                    dropped=bool(outcome["dropped"][i]),
                    max_height_m=float(self.max_height[i]),
                    family=self.instances[int(self.object_index[i])].family,
                    time_to_lift_s=float(self.time_to_lift[i]),
                )
                for i in ids
            ]
        self.extras["finished_episodes"] = finished
        super()._reset_idx(env_ids)
        # Draws in the MuJoCo binding's order (instance, mass, friction, arm noise, spawn xy, yaw).
        objs, n = self.task_cfg["objects"], len(ids)
        chosen = self.rng.integers(len(self.instances), size=n)
        mass = self.rng.uniform(*grasp_spec.value_range(objs, "mass_kg"), size=n)
        friction = self.rng.uniform(*grasp_spec.value_range(objs, "friction"), size=n)
        arm_noise = self.rng.uniform(-1, 1, (n, 7)) * float(objs["arm_noise_rad"])
        spawn = self.rng.uniform(np.array(objs["spawn_low_m"]), np.array(objs["spawn_high_m"]), size=(n, 2))
        yaw = self.rng.uniform(-np.pi, np.pi, size=n)
        self.write_objects(ids, chosen, mass, friction)
        as_t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32, device=self.device)  # noqa: E731
        self.set_state(
            env_ids,
            arm_q=self.home_arm_q + as_t(arm_noise),
            object_pos=as_t(np.column_stack([spawn, np.full(n, 0.002)])),
            object_yaw=as_t(yaw),
        )
        self.start_height[env_ids] = self._com[env_ids, 2]  # the COM height at rest: the spawn gap is 2 mm
        self.max_height[env_ids] = 0.0
        self.hold_steps[env_ids] = 0
        self.was_lifted[env_ids] = False
        self.time_to_lift[env_ids] = float("nan")
        self.actions[env_ids] = 0.0
        self.last_actions[env_ids] = 0.0

    def write_objects(self, env_ids: np.ndarray, index: np.ndarray, mass_kg: np.ndarray, friction: np.ndarray) -> None:
        """Envs `env_ids` get pool instances `index` with the given masses and frictions (Newton model + solver)."""
        from newton import ModelFlags

        model = self._newton.get_model()
        scale, transform = model.shape_scale.numpy(), model.shape_transform.numpy()
        mu = model.shape_material_mu.numpy()
        body_mass, body_inv_mass = model.body_mass.numpy(), model.body_inv_mass.numpy()
        body_com, body_inertia = model.body_com.numpy(), model.body_inertia.numpy()
        body_inv_inertia = model.body_inv_inertia.numpy()
        for env, k, m, f in zip(env_ids, index, mass_kg, friction, strict=True):
            shapes, body = self._slot_shapes[env], self._object_bodies[env]
            scale[shapes], transform[shapes, :3], transform[shapes, 3:] = self._slot_geometry[k]
            mu[shapes] = f
            unit_mass, com, inertia = self._unit_inertia[k]
            inertia = inertia * (m / unit_mass)
            body_mass[body], body_inv_mass[body] = m, 1.0 / m
            body_com[body], body_inertia[body], body_inv_inertia[body] = com, inertia, np.linalg.inv(inertia)
            self.object_index[env], self.object_mass[env], self.object_friction[env] = int(k), float(m), float(f)
            self._com[env] = torch.as_tensor(com, dtype=torch.float32)
        for array, values in (
            (model.shape_scale, scale),
            (model.shape_transform, transform),
            (model.shape_material_mu, mu),
            (model.body_mass, body_mass),
            (model.body_inv_mass, body_inv_mass),
            (model.body_com, body_com),
            (model.body_inertia, body_inertia),
            (model.body_inv_inertia, body_inv_inertia),
        ):
            array.assign(values)
        solver = self._newton._solver
        solver.notify_model_changed(ModelFlags.SHAPE_PROPERTIES | ModelFlags.BODY_INERTIAL_PROPERTIES)
        refresh_bounds(solver)
        model.bvh_refit_shapes(self._newton.get_state_0())

    def set_state(
        self,
        env_ids: torch.Tensor,
        *,
        arm_q: torch.Tensor,
        hand_q: torch.Tensor | None = None,
        object_pos: torch.Tensor,
        object_yaw: torch.Tensor | None = None,
        object_quat_xyzw: torch.Tensor | None = None,
    ) -> None:
        """Robot joints (servo targets too) and the object pose (position in the env frame; a yaw or a full xyzw
        quaternion) of envs `env_ids`, at rest; then forward kinematics. Hand default: its rest pose."""
        n = len(env_ids)
        arm_q = arm_q.expand(n, -1) if arm_q.dim() == 1 else arm_q
        hand_q = self.hand_rest.expand(n, -1) if hand_q is None else hand_q
        robot = self.robot
        for ids, value in ((self.arm_ids, arm_q), (self.hand_ids, hand_q)):
            robot.write_joint_position_to_sim_index(position=value, joint_ids=ids, env_ids=env_ids)
            robot.write_joint_velocity_to_sim_index(velocity=torch.zeros_like(value), joint_ids=ids, env_ids=env_ids)
        self._set_targets(arm_q, hand_q, env_ids)
        pose = torch.zeros(n, 7, device=self.device)
        pose[:, :3] = self.scene.env_origins[env_ids] + object_pos
        if object_quat_xyzw is not None:
            pose[:, 3:] = object_quat_xyzw
        else:
            yaw = torch.zeros(n, device=self.device) if object_yaw is None else object_yaw
            pose[:, 5], pose[:, 6] = torch.sin(yaw / 2), torch.cos(yaw / 2)
        self.object.write_root_pose_to_sim_index(root_pose=pose, env_ids=env_ids)
        self.object.write_root_velocity_to_sim_index(
            root_velocity=torch.zeros(n, 6, device=self.device), env_ids=env_ids
        )
        self.scene.write_data_to_sim()
        self.sim.forward()
        self.scene.update(0.0)

    def depth(self) -> torch.Tensor:
        """(N, 1, H, W) planar depth in metres, 0 = no return or beyond camera.max_range_m."""
        if self.camera is None:
            raise DepthbenchError("this kuka-allegro-grasp env was built with depth.enabled = false: no camera")
        return depth_image(self.camera, float(self.task_cfg["camera"]["max_range_m"]))[:, None]


def make_isaaclab_grasp(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> Any:
    """The task as an rsl-rl VecEnv (Isaac Lab's RslRlVecEnvWrapper)."""
    from depthbench.envs.isaaclab_support import make_vec_env

    return make_vec_env(IsaacGraspEnv, env_cfg(cfg, num_envs, device), seed)
