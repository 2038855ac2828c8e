"""`kuka-allegro-grasp`: grasp an object from a table with an iiwa 14 + Allegro hand and hold it above a height.

After the DeFM paper's dexterous-grasping task (Patel et al. 2026, built on DextrAH's Kuka-Allegro setup, Singh et al.
2024), on the batched MuJoCo engine.

Actions (22, each in [-1, 1]):
  0-2   grasp-frame translation, world frame, up to `actions.ee_step_m` per control step;
  3-5   grasp-frame rotation (axis-angle, world frame), up to `actions.ee_step_rad` per control step;
  6-21  Allegro joint position targets (ff, mf, rf, th; 4 joints each), mapped linearly onto each joint's range.
  End-effector deltas (Isaac Lab's differential-IK action: damped least squares on the grasp-frame Jacobian, with
  gravity-compensated joint servos) keep the arm's action space task-shaped and IK-free for the policy; absolute hand
  targets are how DextrAH and most Allegro policies command fingers.
Observations:
  "depth"      (N, 1, H, W) planar metres from one workspace camera, 0 = no return (the robot as its collision
               geometry, see RAY_HIDDEN_GROUP).
  "policy"     (N, 75) proprioception: arm q, qd (7+7), hand q, qd (16+16), grasp-frame position relative to the table
               centre (3) and palm orientation quaternion (4), previous actions (22).
  "privileged" (N, 32) teacher state: object position relative to the grasp frame (3) and to the table centre (3),
               orientation (4), linear and angular velocity (3+3), family one-hot (7), bounding half-extents (3),
               mass (1), friction (1), fingertip touch forces / `rewards.touch_scale_n` clipped to 1 (ff, mf, rf, th).
Rewards (weights in the config's `rewards`; forms after Isaac Lab's lift task, isaaclab_tasks/manager_based/
manipulation/lift/lift_env_cfg.py): reach (1 - tanh(grasp-frame-to-object distance / reach_std_m)), grasp (thumb and
at least one finger touching), lift (height gained / lift height, clipped to [0, 1]), hold (per step above the target
height), success (once), drop (once, negative), action rate (-|a_t - a_{t-1}|^2).
Episode end: success = object at least `success.lift_height_m` above its start height for `success.hold_time_s`;
dropped = after being lifted `success.lifted_m` it falls back to the table, or it leaves the table; time-out after
`episode_length_s`. Metrics per finished episode: success, dropped, max_height_m, object_family, and time_to_lift_s
(first time at the target height; absent when the object never got there, so means are over lifted episodes).
Split: each split draws its objects from its own procedural stream (held-out object instances).
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from depthbench.envs.grasp import objects, scene
from depthbench.envs.grasp import spec as grasp_spec
from depthbench.envs.grasp.spec import NUM_ACTIONS, NUM_ARM_ACTIONS, value_range
from depthbench.envs.mujoco_engine import BatchedMujoco, ViewCamera
from depthbench.errors import DepthbenchError

# Rays see geom groups 0-4; the visual meshes of the arm and the hand move to this group (and out of the model). The
# camera then sees the Allegro's collision boxes (within a few mm of its links) and the iiwa's collision capsules
# (scene._arm_spheres_to_capsules; a few cm fat at the links' bends): a ray entering a mesh's bounds costs ~5 us, and
# the arm's meshes tripled the depth cost.
RAY_HIDDEN_GROUP = 5
# Episode videos: the robot's base, the table and the object from the front left, above table height. The robot is
# drawn as its collision geometry (group 3): its visual meshes are not in the model (RAY_HIDDEN_GROUP).
VIEW_CAMERA = ViewCamera(
    lookat=(0.55, 0.0, 0.15), distance_m=1.7, azimuth_deg=150.0, elevation_deg=-25.0, geom_groups=(0, 1, 2, 3)
)


class GraspTask(VecEnv):
    """N Kuka-Allegro grasping environments on one BatchedMujoco (see module docstring)."""

    def __init__(self, cfg: dict[str, Any], num_envs: int, seed: int = 0, device: str = "cpu") -> None:
        grasp_spec.validate_config(cfg)
        self.cfg = cfg
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.num_actions = NUM_ACTIONS
        sim = cfg["sim"]
        decimation = int(sim["decimation"])
        self.step_dt = float(sim["timestep_s"]) * decimation
        self.max_episode_length = int(round(float(cfg["episode_length_s"]) / self.step_dt))
        self.instances = grasp_spec.object_pool(cfg)
        spec = scene.build_spec(self.instances, float(sim["timestep_s"]))
        for geom in spec.geoms:
            robot = geom.parent.name.startswith((grasp_spec.HAND_PREFIX, "link")) or geom.parent.name == "base"
            if robot and geom.contype == 0 and geom.conaffinity == 0:  # a visual mesh
                geom.group = RAY_HIDDEN_GROUP
        self.camera = grasp_spec.workspace_camera(cfg)
        self.engine = BatchedMujoco(
            spec,
            num_envs,
            decimation=decimation,
            cameras=[self.camera] if cfg["depth"]["enabled"] else [],
            ray_groups=range(RAY_HIDDEN_GROUP),
            nthread=int(sim["nthread"]),
        )
        model = self.engine.model
        self.model = model
        self._bind_indices(model)
        self._instance_family = np.array([list(objects.FAMILIES).index(i.family) for i in self.instances])
        self._instance_extents = np.array([i.half_extents_m for i in self.instances])
        mesh_ids = {model.mesh(i).name: i for i in range(model.nmesh)}
        self.object_fields = [scene.object_fields(i, mesh_ids) for i in self.instances]
        self._expanded = {name: self.engine.expand(name) for name in (*scene.GEOM_FIELDS, *scene.BODY_FIELDS)}
        self._friction = self.engine.expand("geom_friction")
        self.home_arm_q = scene.solve_home(model)

        self.rng = np.random.default_rng(seed)
        n = num_envs
        self._episode_length = np.zeros(n, np.int64)
        self.object_index = np.zeros(n, np.int64)
        self.object_mass = np.zeros(n)
        self.object_friction = np.zeros(n)
        self.start_height = np.zeros(n)
        self.hold_steps = np.zeros(n, np.int64)
        self.was_lifted = np.zeros(n, bool)
        self.max_height = np.zeros(n)
        self.time_to_lift = np.full(n, np.nan)
        self.actions = np.zeros((n, NUM_ACTIONS))
        self.last_actions = np.zeros((n, NUM_ACTIONS))
        self._reset_envs(np.arange(n))
        self._obs = self._observe()

    # --- model bookkeeping -------------------------------------------------------------------------------------
    def _bind_indices(self, model: mujoco.MjModel) -> None:
        self.arm_qpos = np.array([model.jnt_qposadr[model.joint(j).id] for j in grasp_spec.ARM_JOINTS])
        self.arm_dof = np.array([model.jnt_dofadr[model.joint(j).id] for j in grasp_spec.ARM_JOINTS])
        self.hand_qpos = np.array([model.jnt_qposadr[model.joint(j).id] for j in grasp_spec.HAND_JOINTS])
        self.hand_dof = np.array([model.jnt_dofadr[model.joint(j).id] for j in grasp_spec.HAND_JOINTS])
        joint = model.joint(grasp_spec.OBJECT).id
        self.object_qpos = int(model.jnt_qposadr[joint])
        self.object_dof = int(model.jnt_dofadr[joint])
        self.arm_range = model.jnt_range[[model.joint(j).id for j in grasp_spec.ARM_JOINTS]]
        actuated = [model.actuator_trnid[a, 0] for a in range(model.nu)]
        self.arm_act = np.array([actuated.index(model.joint(j).id) for j in grasp_spec.ARM_JOINTS])
        self.hand_act = np.array([actuated.index(model.joint(j).id) for j in grasp_spec.HAND_JOINTS])
        self.hand_ctrl_range = model.actuator_ctrlrange[self.hand_act]
        root = model.body(grasp_spec.OBJECT).id
        self.object_bodies = np.array([root] + [model.body(f"{grasp_spec.OBJECT}_part{k}").id for k in range(4)])
        self.object_geoms = np.array([model.body_geomadr[b] for b in self.object_bodies[1:]])
        self.palm_body = model.body(grasp_spec.PALM).id
        self.grasp_site = model.site(grasp_spec.GRASP_SITE).id
        self.table_top = np.array([*grasp_spec.TABLE_CENTER_XY_M, 0.0])
        self.site_xpos = self.engine.bind("site_xpos")
        self.site_xmat = self.engine.bind("site_xmat")
        self.xquat = self.engine.bind("xquat")
        self.subtree_com = self.engine.bind("subtree_com")
        self._touch_views = [self.engine.sensor(f"{tip}_touch") for tip in grasp_spec.FINGERTIPS]

    # --- rsl-rl VecEnv -----------------------------------------------------------------------------------------
    @property
    def episode_length_buf(self) -> torch.Tensor:
        return torch.from_numpy(self._episode_length)

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:  # rsl-rl may randomize initial lengths
        self._episode_length[:] = np.asarray(value.cpu(), dtype=np.int64)

    def get_observations(self) -> TensorDict:
        return self._obs

    view_name = "third-person (MuJoCo, collision geometry)"

    def render_view(self, env_index: int, width_px: int, height_px: int) -> np.ndarray:
        """Episode-video frame of env `env_index` now, from the fixed VIEW_CAMERA."""
        return self.engine.render_view(env_index, VIEW_CAMERA, width_px, height_px)

    def reset(self, seed: int | None = None) -> TensorDict:
        """Reset every env (re-seeding the task's random stream when `seed` is given)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._reset_envs(np.arange(self.num_envs))
        self._obs = self._observe()
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        actions = np.clip(np.asarray(actions.detach().cpu(), dtype=np.float64), -1.0, 1.0)
        if actions.shape != (self.num_envs, NUM_ACTIONS):
            raise DepthbenchError(f"actions must have shape ({self.num_envs}, {NUM_ACTIONS}), got {actions.shape}")
        self.last_actions, self.actions = self.actions, actions
        self._apply_actions(actions)
        self.engine.step()
        self._episode_length += 1
        rewards, dones, time_outs, finished, terms = self._evaluate()
        done_ids = np.flatnonzero(dones)
        if done_ids.size:
            self._reset_envs(done_ids)
        self._obs = self._observe()
        log = {f"/reward/{k}": float(v.mean()) for k, v in terms.items()}
        extras = {
            "time_outs": torch.from_numpy(time_outs).to(self.device),
            "log": log,
            "finished_episodes": finished,
        }
        return (
            self._obs,
            torch.from_numpy(rewards.astype(np.float32)).to(self.device),
            torch.from_numpy(dones).to(self.device),
            extras,
        )

    # --- actions -----------------------------------------------------------------------------------------------
    def _apply_actions(self, actions: np.ndarray) -> None:
        act = self.cfg["actions"]
        error = np.concatenate(
            [actions[:, 0:3] * float(act["ee_step_m"]), actions[:, 3:6] * float(act["ee_step_rad"])], axis=1
        )
        jacp, jacr = self.engine.batch.jac(
            self.palm_body, self.site_xpos[:, self.grasp_site]
        )  # (N, 3, nv) each, at the current state
        jac = np.concatenate([jacp, jacr], axis=1)[:, :, self.arm_dof]  # (N, 6, 7)
        damping = float(act["ik_damping"]) ** 2 * np.eye(6)
        jac_t = jac.transpose(0, 2, 1)
        dq = (jac_t @ np.linalg.solve(jac @ jac_t + damping, error[:, :, None]))[:, :, 0]
        target = np.clip(self.engine.qpos[:, self.arm_qpos] + dq, self.arm_range[:, 0], self.arm_range[:, 1])
        self.engine.ctrl[:, self.arm_act] = target
        lo, hi = self.hand_ctrl_range[:, 0], self.hand_ctrl_range[:, 1]
        self.engine.ctrl[:, self.hand_act] = lo + (actions[:, NUM_ARM_ACTIONS:] + 1.0) * 0.5 * (hi - lo)

    def hand_action(self, joint_targets: np.ndarray) -> np.ndarray:
        """Hand joint targets (N, 16) in radians -> the action values that command them."""
        lo, hi = self.hand_ctrl_range[:, 0], self.hand_ctrl_range[:, 1]
        return np.clip(2.0 * (joint_targets - lo) / (hi - lo) - 1.0, -1.0, 1.0)

    # --- state -------------------------------------------------------------------------------------------------
    @property
    def object_pos(self) -> np.ndarray:
        return self.engine.qpos[:, self.object_qpos : self.object_qpos + 3]

    @property
    def object_height(self) -> np.ndarray:
        """Height of the object's centre of mass above its height at rest after reset, metres (tipping an object
        over barely changes it, unlike the height of its base frame)."""
        return self.subtree_com[:, self.object_bodies[0], 2] - self.start_height

    @property
    def grasp_pos(self) -> np.ndarray:
        return self.site_xpos[:, self.grasp_site]

    def touch_forces(self) -> np.ndarray:
        """(N, 4) fingertip normal forces (ff, mf, rf, th), newtons."""
        return np.concatenate(self._touch_views, axis=1)

    def _observe(self) -> TensorDict:
        qpos, qvel = self.engine.qpos, self.engine.qvel
        policy = np.concatenate(
            [
                qpos[:, self.arm_qpos],
                qvel[:, self.arm_dof],
                qpos[:, self.hand_qpos],
                qvel[:, self.hand_dof],
                self.grasp_pos - self.table_top,
                self.xquat[:, self.palm_body],
                self.actions,
            ],
            axis=1,
        )
        obj_pos = self.object_pos
        family = np.zeros((self.num_envs, len(objects.FAMILIES)))
        family[
            np.arange(self.num_envs),
            [list(objects.FAMILIES).index(self.instances[i].family) for i in self.object_index],
        ] = 1
        extents = np.array([self.instances[i].half_extents_m for i in self.object_index])
        touch = np.clip(self.touch_forces() / float(self.cfg["rewards"]["touch_scale_n"]), 0.0, 1.0)
        privileged = np.concatenate(
            [
                obj_pos - self.grasp_pos,
                obj_pos - self.table_top,
                qpos[:, self.object_qpos + 3 : self.object_qpos + 7],
                qvel[:, self.object_dof : self.object_dof + 3],
                qvel[:, self.object_dof + 3 : self.object_dof + 6],
                family,
                extents,
                self.object_mass[:, None],
                self.object_friction[:, None],
                touch,
            ],
            axis=1,
        )
        as_tensor = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)  # noqa: E731
        return TensorDict(
            {"policy": as_tensor(policy), "privileged": as_tensor(privileged), "depth": as_tensor(self.engine.depth())},
            batch_size=[self.num_envs],
            device=self.device,
        )

    # --- rewards, terminations ---------------------------------------------------------------------------------
    def _evaluate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict], dict[str, np.ndarray]]:
        height = self.object_height
        self.max_height = np.maximum(self.max_height, height)
        obj = self.object_pos
        outcome = grasp_spec.lift_outcome(
            np,
            self.cfg,
            height_m=height,
            object_rel_table_m=obj - self.table_top,
            hold_steps=self.hold_steps,
            was_lifted=self.was_lifted,
            episode_length=self._episode_length,
            max_episode_length=self.max_episode_length,
            step_dt_s=self.step_dt,
        )
        first_lift = outcome["above"] & np.isnan(self.time_to_lift)
        self.time_to_lift[first_lift] = self._episode_length[first_lift] * self.step_dt
        self.hold_steps, self.was_lifted = outcome["hold_steps"], outcome["was_lifted"]
        terms = grasp_spec.reward_terms(
            np,
            self.cfg,
            outcome,
            height_m=height,
            grasp_distance_m=np.linalg.norm(obj - self.grasp_pos, axis=1),
            touch_n=self.touch_forces(),
            actions=self.actions,
            last_actions=self.last_actions,
        )
        rewards = sum(terms.values())
        dones = outcome["dones"]
        finished = [
            grasp_spec.episode_record(
                env_id=i,
                success=outcome["success"][i],
                length=self._episode_length[i],
                dropped=outcome["dropped"][i],
                max_height_m=self.max_height[i],
                family=self.instances[self.object_index[i]].family,
                time_to_lift_s=self.time_to_lift[i],
            )
            for i in np.flatnonzero(dones)
        ]
        return rewards, dones, outcome["time_outs"], finished, terms

    # --- resets ------------------------------------------------------------------------------------------------
    def _write_object(self, env: int, index: int, mass_kg: float, friction: float) -> None:
        """Env `env`'s object becomes pool instance `index` with the given mass and friction (set_const after)."""
        fields = self.object_fields[index]
        for name, values in fields.geom.items():
            self._expanded[name][env, self.object_geoms] = values
        for name, values in fields.body.items():
            self._expanded[name][env, self.object_bodies] = values
        factor = mass_kg / fields.mass_kg
        self._expanded["body_mass"][env, self.object_bodies] *= factor
        self._expanded["body_inertia"][env, self.object_bodies] *= factor
        self._friction[env, self.object_geoms, 0] = friction

    def _reset_envs(self, ids: np.ndarray) -> None:
        """New object (instance, mass, friction, pose) and home arm pose in envs `ids`."""
        objs = self.cfg["objects"]
        n = ids.size
        chosen = self.rng.integers(len(self.instances), size=n)
        mass = self.rng.uniform(*value_range(objs, "mass_kg"), size=n)
        friction = self.rng.uniform(*value_range(objs, "friction"), size=n)
        for env, index, mass_kg, mu in zip(ids, chosen, mass, friction, strict=True):
            self._write_object(env, index, mass_kg, mu)
        self.engine.set_const(ids)
        self.object_index[ids], self.object_mass[ids], self.object_friction[ids] = chosen, mass, friction

        qpos = np.tile(self.model.qpos0, (n, 1))
        qpos[:, self.arm_qpos] = self.home_arm_q + self.rng.uniform(-1, 1, (n, 7)) * float(objs["arm_noise_rad"])
        spawn = self.rng.uniform(np.array(objs["spawn_low_m"]), np.array(objs["spawn_high_m"]), size=(n, 2))
        yaw = self.rng.uniform(-np.pi, np.pi, size=n)
        qpos[:, self.object_qpos : self.object_qpos + 3] = np.column_stack([spawn, np.full(n, 0.002)])
        qpos[:, self.object_qpos + 3 : self.object_qpos + 7] = np.column_stack(
            [np.cos(yaw / 2), np.zeros(n), np.zeros(n), np.sin(yaw / 2)]
        )
        self.engine.reset(ids, qpos=qpos)
        self.engine.ctrl[ids[:, None], self.arm_act] = qpos[:, self.arm_qpos]
        self.engine.ctrl[ids[:, None], self.hand_act] = self.model.qpos0[self.hand_qpos].clip(
            self.hand_ctrl_range[:, 0], self.hand_ctrl_range[:, 1]
        )
        self.start_height[ids] = self.subtree_com[ids, self.object_bodies[0], 2] - 0.002  # the spawn gap
        self._episode_length[ids] = 0
        self.hold_steps[ids] = 0
        self.was_lifted[ids] = False
        self.max_height[ids] = 0.0
        self.time_to_lift[ids] = np.nan
        self.actions[ids] = 0.0
        self.last_actions[ids] = 0.0
