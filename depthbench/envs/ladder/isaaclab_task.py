"""anymal-ladder on Isaac Lab 3 (kit-less) with Newton physics (MuJoCo-Warp solver) and the Newton Warp depth
renderer, built from the engine-free `spec`: CPU for tests, CUDA for scale.

Scene: ANYmal C from Menagerie's MJCF (collision shapes only, converted to USD once, `isaaclab_support`), a floor,
and per env the ladder's rails, `spec.rung_slots` rungs and the platform as static primitives. MuJoCo-Warp needs
every env (world) to have the same shapes, so all envs are built with one ladder and each reset rewrites its env's
shape sizes and poses in the Newton model (`shape_scale`, `shape_transform`), tells the solver
(SHAPE_PROPERTIES), refreshes MuJoCo-Warp's bounding radii (which that notification does not recompute) and refits
the shape BVH the renderer casts against. This is not an official Isaac Lab API; tests check its effect (the
model's shapes equal `spec.ladder_shapes`, and the depth images equal the MuJoCo engine's).

Depth: four cameras at `spec.DEPTH_CAMERAS` (Isaac Lab's "world" convention = the spec's mount frame: x optical
axis, z up), `distance_to_image_plane` in metres, 0 = no return, and returns beyond depth.max_m set to 0: the
MuJoCo binding's convention. The base's own shapes are hidden from the cameras, as MuJoCo's rangefinders skip the
camera's body (the cameras sit inside the base's collision boxes).

Observations, rewards, terminations, success and finished-episode records are those of the MuJoCo binding
(`task.py`, whose docstring defines them), computed in torch on the simulation device.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import isaaclab.sim as sim_utils
import numpy as np
import torch
from isaaclab.actuators import ImplicitActuatorCfg
from isaaclab.assets import ArticulationCfg, AssetBaseCfg
from isaaclab.envs import DirectRLEnv, DirectRLEnvCfg
from isaaclab.scene import InteractiveSceneCfg
from isaaclab.sensors import CameraCfg, ContactSensorCfg
from isaaclab.sim import SimulationCfg
from isaaclab.utils import configclass
from isaaclab_newton.physics import MJWarpSolverCfg, NewtonCfg

from depthbench.envs.isaaclab_support import menagerie_usd
from depthbench.envs.ladder import spec
from depthbench.envs.ladder.spec import LadderParams, Shape
from depthbench.errors import DepthbenchError

LADDER = "Ladder"


def _xyzw(quat_wxyz: tuple[float, ...]) -> tuple[float, float, float, float]:
    w, x, y, z = quat_wxyz
    return (x, y, z, w)


def _shape_cfg(shape: Shape) -> AssetBaseCfg:
    collision = sim_utils.UsdPhysicsCollisionCfg()
    if shape.kind == "box":
        spawn = sim_utils.CuboidCfg(size=tuple(2 * h for h in shape.half_size_m), collision_props=collision)
    elif shape.kind == "cylinder":
        radius, half_length, _ = shape.half_size_m
        spawn = sim_utils.CylinderCfg(radius=radius, height=2 * half_length, axis="Z", collision_props=collision)
    else:
        raise DepthbenchError(f"shape kind '{shape.kind}' has no Isaac Lab primitive here")
    return AssetBaseCfg(
        prim_path=f"{{ENV_REGEX_NS}}/{LADDER}/{shape.name}",
        spawn=spawn,
        init_state=AssetBaseCfg.InitialStateCfg(pos=shape.pos_m, rot=_xyzw(shape.quat_wxyz)),
    )


def _camera_cfg(camera: Any, max_m: float) -> CameraCfg:
    from isaaclab_newton.renderers import NewtonWarpRendererCfg

    mount = camera.mount_matrix()
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_matrix(mount).as_quat()  # xyzw, Isaac Lab 3's order
    vertical_aperture = 2.0 * math.tan(math.radians(camera.fovy_deg) / 2)  # focal length 1: apertures are tangents
    return CameraCfg(
        prim_path=f"{{ENV_REGEX_NS}}/Robot/base/{camera.name}",
        width=camera.width,
        height=camera.height,
        data_types=["distance_to_image_plane"],
        update_latest_camera_pose=True,
        offset=CameraCfg.OffsetCfg(pos=camera.pos, rot=tuple(float(v) for v in rot), convention="world"),
        spawn=sim_utils.PinholeCameraCfg(
            focal_length=1.0,
            vertical_aperture=vertical_aperture,
            horizontal_aperture=vertical_aperture * camera.width / camera.height,
            clipping_range=(0.01, max_m),
        ),
        renderer_cfg=NewtonWarpRendererCfg(),
    )


def env_cfg(cfg: dict[str, Any], num_envs: int, device: str) -> DirectRLEnvCfg:
    """The DirectRLEnvCfg of the depthbench task config `cfg` (validated)."""
    spec.validate_config(cfg)
    robot = cfg["robot"]
    scene = InteractiveSceneCfg(num_envs=num_envs, env_spacing=8.0, replicate_physics=True)
    scene.robot = ArticulationCfg(
        prim_path="{ENV_REGEX_NS}/Robot",
        spawn=sim_utils.UsdFileCfg(usd_path=str(menagerie_usd(spec.ROBOT, spec.ROBOT_ENTRY))),
        init_state=ArticulationCfg.InitialStateCfg(
            pos=(0.0, 0.0, spec.DEFAULT_BASE_HEIGHT_M),
            joint_pos=dict(zip(spec.JOINT_NAMES, spec.DEFAULT_JOINT_POS_RAD.tolist(), strict=True)),
        ),
        actuators={
            "legs": ImplicitActuatorCfg(
                joint_names_expr=[".*"],
                stiffness=float(robot["stiffness"]),
                damping=float(robot["damping"]),
                joint_effort_limit=float(robot["effort_limit_nm"]),
            )
        },
    )
    # The MuJoCo binding's floor is an infinite plane: this one reaches beyond the cameras' range from the start
    # (envs render and collide only with their own world's shapes, so neighbouring floors may overlap).
    floor_half_m = float(cfg["depth"]["max_m"]) + float(cfg["ladder"]["distance_m"]) + 2.0
    scene.floor = AssetBaseCfg(
        prim_path="{ENV_REGEX_NS}/Floor",
        spawn=sim_utils.CuboidCfg(
            size=(2 * floor_half_m, 2 * floor_half_m, 0.1), collision_props=sim_utils.UsdPhysicsCollisionCfg()
        ),
        init_state=AssetBaseCfg.InitialStateCfg(pos=(0.0, 0.0, -0.05)),
    )
    for shape in spec.ladder_shapes(spec.grid_params(cfg, 0), spec.rung_slots(cfg)):
        setattr(scene, f"ladder_{shape.name}", _shape_cfg(shape))
    # Contacts with the ladder and platform only (the shapes are static: no body to filter on), as the MuJoCo
    # binding's contact sensors against its "ladder" body.
    scene.contacts = ContactSensorCfg(
        prim_path="{ENV_REGEX_NS}/Robot/.*", filter_shape_prim_expr=[f"{{ENV_REGEX_NS}}/{LADDER}/.*"]
    )
    for camera in spec.depth_cameras(cfg):
        setattr(scene, camera.name, _camera_cfg(camera, float(cfg["depth"]["max_m"])))

    @configclass
    class LadderEnvCfg(DirectRLEnvCfg):
        pass

    decimation = int(cfg["sim"]["decimation"])
    physics_dt = float(cfg["sim"]["physics_dt_s"])
    return LadderEnvCfg(
        episode_length_s=float(cfg["episode_length_s"]),
        decimation=decimation,
        action_space=len(spec.JOINT_NAMES),
        observation_space=spec.POLICY_DIM,
        state_space=0,
        sim=SimulationCfg(
            device=device,
            dt=physics_dt,
            render_interval=decimation,
            physics=NewtonCfg(solver_cfg=MJWarpSolverCfg(njmax=400, nconmax=200)),
        ),
        scene=scene,
    )


class IsaacLadderEnv(DirectRLEnv):
    """anymal-ladder as an Isaac Lab DirectRLEnv; `depthbench` holds the task config it was built from."""

    def __init__(self, cfg: DirectRLEnvCfg, depthbench: dict[str, Any], seed: int = 0, **kwargs: Any) -> None:
        self.task_cfg = depthbench
        super().__init__(cfg, **kwargs)
        self.robot = self.scene["robot"]
        self.cameras = [self.scene[c.name] for c in spec.depth_cameras(depthbench)]
        self.contacts = self.scene["contacts"]
        self.joint_ids = self.robot.find_joints(list(spec.JOINT_NAMES), preserve_order=True)[0]
        self.foot_body_ids = self.robot.find_bodies(list(spec.FOOT_BODIES), preserve_order=True)[0]
        self.rung_slots = spec.rung_slots(depthbench)
        self.split = depthbench["split"]
        self._rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(self.num_envs)]
        self._episode_index = np.zeros(self.num_envs, dtype=np.int64)
        self.params: list[LadderParams] = [spec.grid_params(depthbench, 0)] * self.num_envs
        self._bind_ladder_shapes()
        self._hide_base_from_cameras()

    # ------------------------------------------------------------------------------------------ ladder shapes
    def _bind_ladder_shapes(self) -> None:
        """Newton shape index of every (env, ladder shape), in `spec.ladder_shapes` order."""
        from isaaclab_newton.physics import NewtonManager

        self._newton = NewtonManager
        model = NewtonManager.get_model()
        labels = list(model.shape_label)
        names = [s.name for s in spec.ladder_shapes(self.params[0], self.rung_slots)]
        index = {label: i for i, label in enumerate(labels)}
        rows = []
        for env in range(self.num_envs):
            prefix = f"/World/envs/env_{env}/{LADDER}/"
            row = []
            for name in names:
                matches = [i for label, i in index.items() if label.startswith(prefix + name)]
                if len(matches) != 1:
                    raise DepthbenchError(f"ladder shape {prefix + name} matches {len(matches)} Newton shapes")
                row.append(matches[0])
            rows.append(row)
        self._shape_ids = np.array(rows)

    def _hide_base_from_cameras(self) -> None:
        """The cameras sit inside the base's collision boxes; MuJoCo's rangefinders skip the camera's own body, so
        the base's shapes are made invisible to rendering here (they still collide)."""
        from newton import ShapeFlags

        model = self._newton.get_model()
        body_labels = list(model.body_label)
        base = {i for i, label in enumerate(body_labels) if label.endswith("/base")}
        shape_body = model.shape_body.numpy()
        flags = model.shape_flags.numpy()
        hidden = np.isin(shape_body, list(base))
        flags[hidden] &= ~int(ShapeFlags.VISIBLE)
        model.shape_flags.assign(flags)

    def write_ladders(self, env_ids: np.ndarray) -> None:
        """Write the ladders of `self.params[env_ids]` into the Newton model and the solver."""
        from newton import ModelFlags

        model = self._newton.get_model()
        scale = model.shape_scale.numpy()
        transform = model.shape_transform.numpy()
        origins = self.scene.env_origins.cpu().numpy()
        for env in env_ids:
            for sid, shape in zip(
                self._shape_ids[env], spec.ladder_shapes(self.params[env], self.rung_slots), strict=True
            ):
                scale[sid] = shape.half_size_m
                transform[sid, :3] = np.add(shape.pos_m, origins[env])
                transform[sid, 3:] = _xyzw(shape.quat_wxyz)
        model.shape_scale.assign(scale)
        model.shape_transform.assign(transform)
        solver = self._newton._solver
        solver.notify_model_changed(ModelFlags.SHAPE_PROPERTIES)
        _refresh_rbound(solver)
        model.bvh_refit_shapes(self._newton.get_state_0())

    # ---------------------------------------------------------------------------------------------- episodes
    def _next_params(self, env_id: int) -> LadderParams:
        if self.split == "train":
            return spec.sample_params(self.task_cfg, self._rngs[env_id])
        cell = env_id + self.num_envs * int(self._episode_index[env_id])
        params = spec.grid_params(self.task_cfg, cell)
        if self.split == "val":
            sampled = spec.sample_params(self.task_cfg, self._rngs[env_id])
            params = replace(params, rung_spacing_m=sampled.rung_spacing_m, width_m=sampled.width_m)
        return params

    def _setup_scene(self) -> None:
        pass  # every asset is in the scene config

    def _pre_physics_step(self, actions: torch.Tensor) -> None:
        raise NotImplementedError

    def _apply_action(self) -> None:
        raise NotImplementedError

    def _get_observations(self) -> dict:
        raise NotImplementedError

    def _get_rewards(self) -> torch.Tensor:
        raise NotImplementedError

    def _get_dones(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def set_start_pose(
        self,
        env_ids: torch.Tensor,
        *,
        xy_m: torch.Tensor | None = None,
        yaw_rad: torch.Tensor | None = None,
        joint_pos_rad: torch.Tensor | None = None,
    ) -> None:
        """Base at (x, y, spec.DEFAULT_BASE_HEIGHT_M) in each env's frame, facing +x rotated by `yaw_rad`, at rest;
        joints at `joint_pos_rad` (spec.JOINT_NAMES order; default: the standing pose). Then forward kinematics."""
        n = len(env_ids)
        pose = torch.zeros(n, 7, device=self.device)
        pose[:, :3] = self.scene.env_origins[env_ids]
        pose[:, 2] += spec.DEFAULT_BASE_HEIGHT_M
        if xy_m is not None:
            pose[:, :2] += xy_m
        yaw = torch.zeros(n, device=self.device) if yaw_rad is None else yaw_rad
        pose[:, 5], pose[:, 6] = torch.sin(yaw / 2), torch.cos(yaw / 2)  # xyzw
        if joint_pos_rad is None:
            joint_pos_rad = torch.as_tensor(spec.DEFAULT_JOINT_POS_RAD, dtype=torch.float32, device=self.device)
            joint_pos_rad = joint_pos_rad.expand(n, -1)
        self.robot.write_root_pose_to_sim_index(root_pose=pose, env_ids=env_ids)
        self.robot.write_root_velocity_to_sim_index(
            root_velocity=torch.zeros(n, 6, device=self.device), env_ids=env_ids
        )
        self.robot.write_joint_position_to_sim_index(position=joint_pos_rad, joint_ids=self.joint_ids, env_ids=env_ids)
        self.robot.write_joint_velocity_to_sim_index(
            velocity=torch.zeros_like(joint_pos_rad), joint_ids=self.joint_ids, env_ids=env_ids
        )
        self.set_joint_targets(joint_pos_rad, env_ids)
        self.scene.write_data_to_sim()
        self.sim.forward()
        self.scene.update(0.0)

    def set_joint_targets(self, targets_rad: torch.Tensor, env_ids: torch.Tensor | None = None) -> None:
        """PD position targets (spec.JOINT_NAMES order) of envs `env_ids` (None: all)."""
        self.robot.actuators.target_command.set_position_index(
            value=targets_rad, joint_ids=self.joint_ids, env_ids=env_ids
        )

    def depth(self) -> torch.Tensor:
        """(N, 4, H, W) planar depth in metres, 0 = no return or beyond depth.max_m (depthbench's convention)."""
        max_m = float(self.task_cfg["depth"]["max_m"])
        images = []
        for camera in self.cameras:
            camera.update(0.0, force_recompute=True)
            image = camera.data.output["distance_to_image_plane"].torch[..., 0]
            images.append(torch.where(torch.isfinite(image) & (image > 0) & (image <= max_m), image, 0.0))
        return torch.stack(images, dim=1)


def _refresh_rbound(solver: Any) -> None:
    """MuJoCo-Warp's per-world geom bounding radii after shape sizes changed (box: |half|, cylinder:
    sqrt(r^2 + h^2)); SHAPE_PROPERTIES updates geom_size but not geom_rbound, which the broadphase culls with."""
    mjw = solver.mjw_model
    size = mjw.geom_size.numpy()  # (worlds, ngeom, 3)
    rbound = mjw.geom_rbound.numpy()
    geom_type = np.asarray(solver.mj_model.geom_type)
    box, cylinder = 6, 5  # mjtGeom: mjGEOM_CYLINDER = 5, mjGEOM_BOX = 6
    is_box, is_cyl = geom_type == box, geom_type == cylinder
    rbound[:, is_box] = np.linalg.norm(size[:, is_box], axis=-1)
    rbound[:, is_cyl] = np.hypot(size[:, is_cyl, 0], size[:, is_cyl, 1])
    mjw.geom_rbound.assign(rbound)


def make_isaaclab_ladder(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> IsaacLadderEnv:
    return IsaacLadderEnv(env_cfg(cfg, num_envs, device), depthbench=cfg, seed=seed)
