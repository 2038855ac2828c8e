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
from isaaclab.sensors import ContactSensorCfg
from isaaclab.sim import SimulationCfg
from isaaclab.utils import configclass
from isaaclab_newton.physics import MJWarpSolverCfg, NewtonCfg

from depthbench.envs.isaaclab_support import (
    camera_cfg,
    depth_image,
    matrix_xyzw,
    menagerie_usd,
    refresh_bounds,
    show_to_cameras,
    xyzw,
)
from depthbench.envs.ladder import spec
from depthbench.envs.ladder.spec import LadderParams, Shape
from depthbench.errors import DepthbenchError

LADDER = "Ladder"


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
        init_state=AssetBaseCfg.InitialStateCfg(pos=shape.pos_m, rot=xyzw(shape.quat_wxyz)),
    )


@configclass
class LadderEnvCfg(DirectRLEnvCfg):
    depthbench: dict = {}  # the depthbench task config the scene was built from (configs/tasks/anymal-ladder.yaml)


def env_cfg(cfg: dict[str, Any], num_envs: int, device: str) -> LadderEnvCfg:
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
        max_m = float(cfg["depth"]["max_m"])
        setattr(scene, camera.name, camera_cfg(camera, f"{{ENV_REGEX_NS}}/Robot/base/{camera.name}", max_m))

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
        depthbench=cfg,
    )


class IsaacLadderEnv(DirectRLEnv):
    """anymal-ladder as an Isaac Lab DirectRLEnv; `depthbench` holds the task config it was built from."""

    def __init__(self, cfg: LadderEnvCfg, render_mode: str | None = None, **kwargs: Any) -> None:
        self.task_cfg = depthbench = cfg.depthbench
        seed = 0 if cfg.seed is None else int(cfg.seed)
        super().__init__(cfg, render_mode, **kwargs)
        self.robot = self.scene["robot"]
        self.cameras = [self.scene[c.name] for c in spec.depth_cameras(depthbench)]
        self.contacts = self.scene["contacts"]
        self.joint_ids = self.robot.find_joints(list(spec.JOINT_NAMES), preserve_order=True)[0]
        self.foot_body_ids = self.robot.find_bodies(list(spec.FOOT_BODIES), preserve_order=True)[0]
        self.rung_slots = spec.rung_slots(depthbench)
        self.split = depthbench["split"]
        self._rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(self.num_envs)]
        self._episode_index = np.zeros(self.num_envs, dtype=np.int64)
        self.curriculum = spec.curriculum_active(depthbench)  # the MuJoCo binding's levels and rule (spec.py)
        n = self.num_envs
        self.levels = spec.initial_levels(depthbench, self._rngs) if self.curriculum else np.zeros(n, np.int64)
        self.params: list[LadderParams] = [spec.grid_params(depthbench, 0)] * self.num_envs
        self._bind_ladder_shapes()
        self._show_robot_to_cameras()
        self._init_buffers()

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

    def _show_robot_to_cameras(self) -> None:
        """The robot is its collision shapes, which the converter marks invisible: they are made visible, except the
        base's. The cameras sit inside the base's collision boxes, and MuJoCo's rangefinders skip the camera's own
        body (the base's shapes still collide)."""
        model = self._newton.get_model()
        base = [i for i, label in enumerate(model.body_label) if label.endswith("/base")]
        robot = np.array(["/Robot/" in label for label in model.shape_label])
        show_to_cameras(self._newton, robot, np.isin(model.shape_body.numpy(), base))

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
                transform[sid, 3:] = xyzw(shape.quat_wxyz)
        model.shape_scale.assign(scale)
        model.shape_transform.assign(transform)
        solver = self._newton._solver
        solver.notify_model_changed(ModelFlags.SHAPE_PROPERTIES)
        refresh_bounds(solver)
        model.bvh_refit_shapes(self._newton.get_state_0())

    # ---------------------------------------------------------------------------------------------- episodes
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Reset every env; with `seed`, first re-seed every env's ladder stream as a fresh build with that seed."""
        if seed is not None:
            self._rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(self.num_envs)]
            self._episode_index[:] = 0
        return super().reset(seed=seed, options=options)

    def curriculum_state(self) -> dict[str, list[int]] | None:
        """The curriculum levels as plain lists, as the MuJoCo binding's."""
        return {"levels": [int(level) for level in self.levels]} if self.curriculum else None

    def load_curriculum_state(self, state: dict[str, list[int]] | None) -> None:
        """Take over a checkpoint's levels and restart every episode at them (as the MuJoCo binding)."""
        if state is None or not self.curriculum:
            return
        self.levels = spec.resumed_levels(state, self.num_envs, self.task_cfg)
        self.reset()

    def _next_params(self, env_id: int) -> LadderParams:
        if self.curriculum:
            return spec.curriculum_params(self.task_cfg, int(self.levels[env_id]), self._rngs[env_id])
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

    def _init_buffers(self) -> None:
        n, dev = self.num_envs, self.device
        zeros = lambda *shape: torch.zeros(*shape, device=dev)  # noqa: E731
        self.actions, self.last_actions = zeros(n, 12), zeros(n, 12)
        self._rungs = zeros(n, self.rung_slots + 1, 3)  # real rungs, then the platform edge repeated
        self._goal, self._ladder_state, self._platform = zeros(n, 3), zeros(n, 3), zeros(n, 2)
        self._goal_distance, self._max_height, self._start_height = zeros(n), zeros(n), zeros(n)
        self._collision_steps = torch.zeros(n, dtype=torch.long, device=dev)
        self._default_q = torch.as_tensor(spec.DEFAULT_JOINT_POS_RAD, dtype=torch.float32, device=dev)
        self._foot_offsets = torch.as_tensor(_foot_offsets(), dtype=torch.float32, device=dev)  # (4, 3) shank frame
        self._collision_sensors = self.contacts.find_sensors(list(spec.COLLISION_BODIES), preserve_order=True)[0]
        self._foot_sensors = self.contacts.find_sensors(list(spec.FOOT_BODIES), preserve_order=True)[0]

    def _pre_physics_step(self, actions: torch.Tensor) -> None:
        self.extras["finished_episodes"] = []  # filled by _reset_idx for the episodes this step ends
        if actions.shape[-1] != 12:
            raise DepthbenchError(f"anymal-ladder takes 12 actions per env, got {actions.shape[-1]}")
        # In-place copies: rsl-rl steps under torch.inference_mode, and a buffer rebound there would become an
        # inference tensor that the next reset (outside it) cannot write.
        self.last_actions.copy_(self.actions)
        self.actions.copy_(actions.clamp(-1.0, 1.0))
        self._targets = self._default_q + float(self.task_cfg["robot"]["action_scale"]) * self.actions

    def _apply_action(self) -> None:
        self.set_joint_targets(self._targets)

    def _base(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Base position in each env's frame (N, 3) and rotation body -> world (N, 3, 3)."""
        data = self.robot.data
        quat = data.root_link_quat_w.torch  # xyzw
        return data.root_link_pos_w.torch - self.scene.env_origins, matrix_xyzw(quat)

    def _touching(self, sensors: list[int]) -> torch.Tensor:
        """(N, len(sensors)) 1 where the body touches the ladder or platform."""
        forces = self.contacts.data.force_matrix_w.torch[:, sensors]  # (N, B, shapes, 3)
        return (forces.norm(dim=-1).amax(dim=-1) > 0).float()

    def _get_observations(self) -> dict:
        data = self.robot.data
        base_pos, rot = self._base()
        to_base = rot.transpose(1, 2)
        in_base = lambda v: torch.einsum("nij,n...j->n...i", to_base, v)  # noqa: E731
        q = data.joint_pos.torch[:, self.joint_ids]
        qd = data.joint_vel.torch[:, self.joint_ids]
        policy = torch.cat(
            [
                data.root_link_ang_vel_b.torch,
                -to_base[:, :, 2],
                in_base(self._goal - base_pos),
                q - self._default_q,
                qd,
                self.actions,
            ],
            dim=1,
        )
        rung_offsets = self._rungs - base_pos[:, None]
        nearest = torch.sort(torch.argsort(rung_offsets.norm(dim=2), dim=1)[:, : spec.NEAREST_RUNGS], dim=1).values
        near_rungs = torch.take_along_dim(rung_offsets, nearest[:, :, None], dim=1)
        shank_pos = data.body_link_pos_w.torch[:, self.foot_body_ids] - self.scene.env_origins[:, None]
        shank_rot = matrix_xyzw(data.body_link_quat_w.torch[:, self.foot_body_ids].reshape(-1, 4)).reshape(-1, 4, 3, 3)
        feet = shank_pos + torch.einsum("nfij,fj->nfi", shank_rot, self._foot_offsets)
        foot_to_rungs = self._rungs[:, None] - feet[:, :, None]
        closest = foot_to_rungs.norm(dim=3).argmin(dim=2)
        foot_rung = torch.take_along_dim(foot_to_rungs, closest[:, :, None, None], dim=2)[:, :, 0]
        n = self.num_envs
        privileged = torch.cat(
            [
                policy,
                in_base(data.root_link_lin_vel_w.torch),
                in_base(near_rungs).reshape(n, -1),
                in_base(foot_rung).reshape(n, -1),
                self._ladder_state,
                self._touching(self._foot_sensors),
            ],
            dim=1,
        )
        depth = self.depth() if self.cameras else torch.zeros(n, 0, 0, 0, device=self.device)
        return {"policy": policy, "privileged": privileged, "depth": depth}

    def _get_dones(self) -> tuple[torch.Tensor, torch.Tensor]:
        base_pos, rot = self._base()
        self._base_pos = base_pos
        self._touching_count = self._touching(self._collision_sensors).sum(dim=1)
        self._collision_steps += self._touching_count > 0
        self._outcome = spec.climb_outcome(
            torch,
            self.task_cfg,
            base_pos_m=base_pos,
            up_z=rot[:, 2, 2],
            max_height_m=self._max_height,
            platform_m=self._platform,
            collision_steps=self._collision_steps,
            episode_length=self.episode_length_buf,
            max_episode_length=self.max_episode_length,
            step_dt_s=self.step_dt,
        )
        self._max_height.copy_(self._outcome["max_height"])
        return self._outcome["terminated"], self._outcome["time_outs"]

    def _get_rewards(self) -> torch.Tensor:
        goal_distance = (self._goal - self._base_pos).norm(dim=1)
        terms = spec.reward_terms(
            self.task_cfg,
            self._outcome,
            goal_distance_m=goal_distance,
            previous_goal_distance_m=self._goal_distance,
            torques_nm=self.robot.actuators.applied_effort.torch,
            actions=self.actions,
            last_actions=self.last_actions,
            touching=self._touching_count,
            step_dt_s=self.step_dt,
        )
        self._goal_distance.copy_(goal_distance)
        self.extras["log"] = {f"/reward/{k}": float(v.mean()) for k, v in terms.items()}
        return sum(terms.values())

    def _reset_idx(self, env_ids: torch.Tensor | None) -> None:
        if env_ids is None:
            env_ids = torch.arange(self.num_envs, device=self.device)
        env_ids = torch.as_tensor(env_ids, device=self.device, dtype=torch.long)
        ids = env_ids.cpu().numpy()
        finished = []
        if hasattr(self, "_outcome"):  # an episode ended (not the first reset)
            outcome = {k: v.cpu().numpy() for k, v in self._outcome.items()}
            finished = spec.finish_episodes(
                self.task_cfg,
                ids,
                self.params,
                outcome,
                self.episode_length_buf.cpu().numpy(),
                (self._max_height - self._start_height).cpu().numpy(),
                self.levels if self.curriculum else None,
                self._rngs,
            )
            self._episode_index[ids] += 1
        self.extras["finished_episodes"] = finished
        if finished:
            log = self.extras.setdefault("log", {})
            log.update(spec.outcome_log(finished))
            if self.curriculum:
                log["/ladder/curriculum_level"] = float(np.mean(self.levels))
        super()._reset_idx(env_ids)
        randomization = self.task_cfg["randomization"]
        n = len(ids)
        xy, yaw, scale = np.zeros((n, 2)), np.zeros(n), np.ones((n, 12))
        for row, i in enumerate(ids):
            self.params[i] = self._next_params(int(i))
            if self.split != "test":
                rng = self._rngs[i]
                xy[row] = rng.uniform(-1, 1, 2) * randomization["start_x_m"]
                yaw[row] = rng.uniform(-1, 1) * randomization["start_yaw_rad"]
                scale[row] = rng.uniform(*randomization["joint_pos_scale"], 12)
        self.write_ladders(ids)
        as_t = lambda x: torch.as_tensor(x, dtype=torch.float32, device=self.device)  # noqa: E731
        self.set_start_pose(env_ids, xy_m=as_t(xy), yaw_rad=as_t(yaw), joint_pos_rad=self._default_q * as_t(scale))
        for i in ids:
            params = self.params[i]
            centers = as_t(params.rung_centers())
            self._rungs[i] = as_t([params.platform_edge_x_m, 0.0, params.height_m])
            self._rungs[i, : len(centers)] = centers
            self._goal[i] = as_t(
                [params.platform_edge_x_m + spec.GOAL_PAST_EDGE_M, 0.0, params.height_m + spec.STANDING_BASE_HEIGHT_M]
            )
            angle = math.radians(params.angle_deg)
            self._ladder_state[i] = as_t([params.rung_radius_m, math.sin(angle), math.cos(angle)])
            self._platform[i] = as_t([params.platform_edge_x_m, params.height_m])
        base = self._base()[0][env_ids]
        self._goal_distance[env_ids] = (self._goal[env_ids] - base).norm(dim=1)
        self._max_height[env_ids] = base[:, 2]
        self._start_height[env_ids] = base[:, 2]
        self._collision_steps[env_ids] = 0
        self.actions[env_ids] = 0.0
        self.last_actions[env_ids] = 0.0

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
        return torch.stack([depth_image(camera, max_m) for camera in self.cameras], dim=1)


def _foot_offsets() -> np.ndarray:
    """(4, 3) foot sphere centres in their shank frames (spec.LEGS order), read from Menagerie's MJCF: the MuJoCo
    binding's foot sites."""
    from xml.etree import ElementTree

    from depthbench.envs.menagerie import robot_xml

    root = ElementTree.parse(robot_xml(spec.ROBOT, spec.ROBOT_ENTRY)).getroot()
    offsets = []
    for shank in spec.FOOT_BODIES:
        body = next(b for b in root.iter("body") if b.get("name") == shank)
        foot = next(g for g in body.findall("geom") if g.get("class") == "foot")
        offsets.append([float(v) for v in foot.get("pos").split()])
    return np.array(offsets)


def make_isaaclab_ladder(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> Any:
    """The task as an rsl-rl VecEnv (Isaac Lab's RslRlVecEnvWrapper)."""
    from depthbench.envs.isaaclab_support import make_vec_env

    return make_vec_env(IsaacLadderEnv, env_cfg(cfg, num_envs, device), seed)
