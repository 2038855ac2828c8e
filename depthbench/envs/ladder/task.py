"""`anymal-ladder`: ANYmal C climbs a procedural ladder onto a platform (DeFM, Patel et al. 2026, ladder task;
ladder climbing after Vogel et al. 2025, "Robust Ladder Climbing with a Quadrupedal Robot", arXiv 2409.17731).

Episode: the robot starts on the floor about `ladder.distance_m` in front of a ladder (training: angle, rung radius,
spacing and width uniform over the config ranges; val/test: the evaluation grid) and has `episode_length_s` to get its
base onto the platform at the top.

Observations (TensorDict groups):
- "depth" (N, 4, H, W): clean planar depth in metres from the front, rear, left and right cameras (0 = no return,
  or one beyond depth.max_m).
- "policy" (N, 45): base angular velocity (base frame, rad/s), projected gravity (base frame), goal vector (base
  frame, m; the goal is on the platform), joint positions relative to the default pose (rad), joint velocities
  (rad/s), last action: the legged_gym / Isaac Lab locomotion set (Rudin et al. 2022, arXiv 2109.11978) with the
  velocity command replaced by the goal, and without base linear velocity, which a real robot only estimates.
- "privileged" (N, 82): the policy group, base linear velocity (base frame), the 5 rungs nearest the base relative
  to it (base frame; the platform edge counts as the rung above the top one), for each foot the nearest rung
  relative to that foot (base frame), rung radius (m), sin and cos of the ladder angle, and foot-ladder contact flags.

Actions (N, 12) in [-1, 1] (clipped): joint position targets = default pose + `robot.action_scale` (0.5 rad) x action,
tracked by a joint PD (kp 40, kd 5, |torque| <= 80 N m: Isaac Lab's ANYmal simple actuator). Control runs at 50 Hz:
`sim.decimation` = 4 physics steps of 5 ms per policy step; depth is rendered once per policy step.

Rewards per policy step (weights in the config's `rewards`; dense terms are multiplied by the policy step dt as in
legged_gym and Isaac Lab):
- progress: weight x (distance to the goal before the step - after it) (potential-based; no dt);
- platform: weight once on success;
- torques: weight x sum of squared joint torques x dt;
- action_rate: weight x squared change of the action x dt;
- collision: weight x number of base/thigh bodies touching the ladder or platform x dt;
- termination: weight once on a fall. The collision limit ends the episode without a lump sum: the collision term
  already charges every contact, and with -100 on top (measured) the teacher learned to keep away from the ladder.

Terminations, in this order of precedence:
- success: base centre `success.platform_margin_m` past the platform's edge and `success.height_above_m` above its
  surface;
- fall: the base is upside down, its centre is below `termination.min_base_height_m`, or it dropped
  `termination.fall_drop_m` below the highest point it reached this episode;
- collision: base or thighs (which carry the knee drives) touched the ladder/platform for `collision_limit_s` in total;
- timeout: `episode_length_s` elapsed (reported in extras["time_outs"]).
Each finished episode reports success, length, angle_deg, rung_radius_mm, rung_spacing_m, width_m, climbed_m and
failure ("fall" | "collision" | "timeout" | "").

Curriculum (train split, `curriculum.enabled`; spec.curriculum_params / next_levels, docs/ladder.md): each env has a
level; level 0 is the grid's easiest ladder close to the start, higher levels widen angle and rung radius towards the
whole grid and move the start back to `ladder.distance_m`; an episode end moves the level up, down or (past the top)
to a random level, and finished episodes also report the curriculum_level they were played at.

Splits: train samples every ladder and randomizes surface friction, payload (base mass +-5 kg), start pose and joint
angles; val runs the evaluation grid (angles x rung radii) with training spacing and width, payload and start
randomization; test runs the grid at the nominal spacing, width and friction from the nominal start. Grid cells are
dealt deterministically: env i's k-th episode gets cell (i + k x num_envs) mod cells, so an evaluation of
ceil(cells / num_envs) episodes per env covers every cell.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from rsl_rl.env import VecEnv
from scipy.spatial.transform import Rotation
from tensordict import TensorDict

from depthbench.envs.ladder import spec as ladder_spec
from depthbench.envs.ladder.mujoco_scene import build_spec
from depthbench.envs.ladder.spec import (
    GOAL_PAST_EDGE_M,
    NEAREST_RUNGS,
    STANDING_BASE_HEIGHT_M,
    LadderParams,
)
from depthbench.envs.mujoco_engine import BatchedMujoco, ViewCamera
from depthbench.errors import DepthbenchError

# Episode videos: from the robot's left, looking at the ladder and the platform edge (ladder foot 1 m ahead, platform
# top 2 m up in the default config). The scene holds collision geometry only (spec.build_spec), in group 3.
VIEW_CAMERA = ViewCamera(
    lookat=(1.0, 0.0, 0.9), distance_m=4.5, azimuth_deg=-90.0, elevation_deg=-15.0, geom_groups=(0, 1, 2, 3)
)


class LadderTask(VecEnv):
    """N ANYmal C robots, each in front of its own ladder, stepped together by the batched MuJoCo engine."""

    def __init__(self, *, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> None:
        ladder_spec.validate_config(cfg)
        self.cfg = cfg
        self.num_envs = num_envs
        self.num_actions = len(ladder_spec.JOINT_NAMES)
        self.device = torch.device(device)
        self.split = cfg["split"]
        self.decimation = int(cfg["sim"]["decimation"])
        self.step_dt = float(cfg["sim"]["physics_dt_s"]) * self.decimation
        self.max_episode_length = int(math.ceil(float(cfg["episode_length_s"]) / self.step_dt))
        self.rung_slots = ladder_spec.rung_slots(cfg)
        self._seed(seed)
        self.curriculum = ladder_spec.curriculum_active(cfg)
        # Curriculum level per env (docs/ladder.md); kept across re-seeding, carried across env rebuilds and resumes
        # by the training loop through curriculum_state / load_curriculum_state.
        self.levels = ladder_spec.initial_levels(cfg, self._rngs) if self.curriculum else np.zeros(num_envs, np.int64)
        self.params = [ladder_spec.grid_params(cfg, 0)] * num_envs  # replaced by every env's first reset below
        self.engine = BatchedMujoco(
            build_spec(self.params[0], cfg, self.rung_slots),
            num_envs,
            decimation=self.decimation,
            cameras=ladder_spec.depth_cameras(cfg),
            per_env_models=True,
        )
        model = self.engine.model
        self._qpos_joints = np.array([model.jnt_qposadr[model.joint(n).id] for n in ladder_spec.JOINT_NAMES])
        self._qvel_joints = np.array([model.jnt_dofadr[model.joint(n).id] for n in ladder_spec.JOINT_NAMES])
        self._actuator_force = self.engine.bind("actuator_force")
        self._site_xpos = self.engine.bind("site_xpos")
        self._foot_sites = np.array([model.site(f"{leg}_foot").id for leg in ladder_spec.LEGS])
        self._collision_contacts = [self.engine.sensor(f"touch_{body}") for body in ladder_spec.COLLISION_BODIES]
        self._foot_contacts = [self.engine.sensor(f"touch_{leg}_foot") for leg in ladder_spec.LEGS]

        n = num_envs
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=self.device)
        self.actions = np.zeros((n, self.num_actions))
        self.last_actions = np.zeros((n, self.num_actions))
        self._rungs = np.zeros((n, self.rung_slots + 1, 3))  # real rungs, then the platform edge repeated
        self._goal = np.zeros((n, 3))
        self._ladder_state = np.zeros((n, 3))  # rung radius (m), sin and cos of the ladder angle
        self._platform = np.zeros((n, 2))  # x of the platform's front face, its top's height (m)
        self._goal_distance = np.zeros(n)
        self._max_height = np.zeros(n)
        self._start_height = np.zeros(n)
        self._collision_steps = np.zeros(n, dtype=np.int64)
        self._reset_envs(np.arange(n))
        self._obs = self._observations()

    # ----------------------------------------------------------------------------------------------- episodes
    def _seed(self, seed: int) -> None:
        """One random stream per env, so an env's episodes do not depend on the others (or on num_envs)."""
        self.seed = seed
        self._rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(self.num_envs)]
        self._episode_index = np.zeros(self.num_envs, dtype=np.int64)

    def _next_params(self, env_id: int) -> LadderParams:
        """Ladder of env `env_id`'s next episode: sampled (train), or its next evaluation grid cell (val/test)."""
        if self.curriculum:
            return ladder_spec.curriculum_params(self.cfg, int(self.levels[env_id]), self._rngs[env_id])
        if self.split == "train":
            return ladder_spec.sample_params(self.cfg, self._rngs[env_id])
        cell = env_id + self.num_envs * int(self._episode_index[env_id])
        params = ladder_spec.grid_params(self.cfg, cell)
        if self.split == "val":  # grid angles and radii, training spacing and width
            sampled = ladder_spec.sample_params(self.cfg, self._rngs[env_id])
            params = replace(params, rung_spacing_m=sampled.rung_spacing_m, width_m=sampled.width_m)
        return params

    def _reset_envs(self, ids: np.ndarray) -> None:
        """Start new episodes in envs `ids`: their own ladder model (geometry, friction, payload), start pose and
        buffers."""
        if ids.size == 0:
            return
        randomization = self.cfg["randomization"]
        qpos = np.tile(self.engine.model.qpos0, (ids.size, 1))
        models = []
        for row, i in enumerate(ids):
            self.params[i] = self._next_params(int(i))
            rng = self._rngs[i]
            yaw, added_mass_kg, joint_scale = 0.0, 0.0, np.ones(self.num_actions)
            if self.split != "test":
                qpos[row, :2] += rng.uniform(-1, 1, 2) * randomization["start_x_m"]
                yaw = rng.uniform(-1, 1) * randomization["start_yaw_rad"]
                joint_scale = rng.uniform(*randomization["joint_pos_scale"], self.num_actions)
                added_mass_kg = rng.uniform(*randomization["added_base_mass_kg"])
            qpos[row, 3:7] = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
            qpos[row, self._qpos_joints] = ladder_spec.DEFAULT_JOINT_POS_RAD * joint_scale
            spec = build_spec(self.params[i], self.cfg, self.rung_slots, added_mass_kg)
            models.append(self.engine.compile_variant(spec))
        self.engine.set_models(ids, models)
        self.engine.reset(ids, qpos=qpos, qvel=np.zeros((ids.size, self.engine.model.nv)))
        self.engine.ctrl[ids] = qpos[:, self._qpos_joints]
        for i in ids:
            params = self.params[i]
            centers = params.rung_centers()
            edge = np.array([params.platform_edge_x_m, 0.0, params.height_m])
            self._rungs[i] = edge
            self._rungs[i, : len(centers)] = centers
            self._goal[i] = [params.platform_edge_x_m + GOAL_PAST_EDGE_M, 0.0, params.height_m + STANDING_BASE_HEIGHT_M]
            angle = math.radians(params.angle_deg)
            self._ladder_state[i] = [params.rung_radius_m, math.sin(angle), math.cos(angle)]
            self._platform[i] = [params.platform_edge_x_m, params.height_m]
        base = self.engine.qpos[ids, :3]
        self._goal_distance[ids] = np.linalg.norm(self._goal[ids] - base, axis=1)
        self._max_height[ids] = base[:, 2]
        self._start_height[ids] = base[:, 2]
        self._collision_steps[ids] = 0
        self.actions[ids] = 0.0
        self.last_actions[ids] = 0.0
        self.episode_length_buf[torch.as_tensor(ids, device=self.device)] = 0

    def curriculum_state(self) -> dict[str, list[int]] | None:
        """The curriculum levels as plain lists (checkpoints store them; they load with weights_only=True)."""
        return {"levels": [int(level) for level in self.levels]} if self.curriculum else None

    def load_curriculum_state(self, state: dict[str, list[int]] | None) -> None:
        """Take over the levels of an earlier env of the same run (the previous chunk or a checkpoint) and restart
        every episode at them; None (no curriculum) leaves the env as it is."""
        if state is None or not self.curriculum:
            return
        self.levels = ladder_spec.resumed_levels(state, self.num_envs, self.cfg)
        self.reset()

    def reset(self, seed: int | None = None) -> TensorDict:
        """Start new episodes in every env (re-seeding first when `seed` is given)."""
        if seed is not None:
            self._seed(seed)
        self._reset_envs(np.arange(self.num_envs))
        self._obs = self._observations()
        return self._obs

    # ------------------------------------------------------------------------------------------- observations
    def _base_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Base position (N, 3) and rotation (N, 3, 3), body -> world."""
        rotation = Rotation.from_quat(self.engine.qpos[:, 3:7], scalar_first=True)  # MuJoCo quaternions are wxyz
        return self.engine.qpos[:, :3].copy(), rotation.as_matrix()

    def _observations(self) -> TensorDict:
        n = self.num_envs
        qpos, qvel = self.engine.qpos, self.engine.qvel
        base_pos, rot = self._base_state()
        to_base = rot.transpose(0, 2, 1)  # world -> base frame

        def in_base(vectors: np.ndarray) -> np.ndarray:  # (N, ..., 3) world vectors -> base frame
            return np.einsum("nij,n...j->n...i", to_base, vectors)

        gravity = to_base[:, :, 2] * -1.0  # world (0, 0, -1) in the base frame
        # Free joint: qvel[:3] linear velocity in the world frame, qvel[3:6] angular velocity in the body frame.
        policy = np.concatenate(
            [
                qvel[:, 3:6],
                gravity,
                in_base(self._goal - base_pos),
                qpos[:, self._qpos_joints] - ladder_spec.DEFAULT_JOINT_POS_RAD,
                qvel[:, self._qvel_joints],
                self.actions,
            ],
            axis=1,
        )
        rung_offsets = self._rungs - base_pos[:, None]
        nearest = np.sort(np.argsort(np.linalg.norm(rung_offsets, axis=2), axis=1)[:, :NEAREST_RUNGS], axis=1)
        near_rungs = np.take_along_axis(rung_offsets, nearest[:, :, None], axis=1)
        feet = self._site_xpos[:, self._foot_sites]  # (N, 4, 3)
        foot_to_rungs = self._rungs[:, None] - feet[:, :, None]  # (N, 4, R, 3)
        closest = np.argmin(np.linalg.norm(foot_to_rungs, axis=3), axis=2)
        foot_rung = np.take_along_axis(foot_to_rungs, closest[:, :, None, None], axis=2)[:, :, 0]
        privileged = np.concatenate(
            [
                policy,
                in_base(qvel[:, :3]),
                in_base(near_rungs).reshape(n, -1),
                in_base(foot_rung).reshape(n, -1),
                self._ladder_state,
                np.concatenate(self._foot_contacts, axis=1),
            ],
            axis=1,
        )
        as_tensor = lambda x: torch.as_tensor(x, dtype=torch.float32, device=self.device)  # noqa: E731
        return TensorDict(
            {"depth": as_tensor(self.engine.depth()), "policy": as_tensor(policy), "privileged": as_tensor(privileged)},
            batch_size=[n],
            device=self.device,
        )

    def get_observations(self) -> TensorDict:
        return self._obs

    view_name = "third-person (MuJoCo, collision geometry)"

    def render_view(self, env_index: int, width_px: int, height_px: int) -> np.ndarray:
        """Episode-video frame of env `env_index` now, from the fixed VIEW_CAMERA."""
        return self.engine.render_view(env_index, VIEW_CAMERA, width_px, height_px)

    # ------------------------------------------------------------------------------------------------- step
    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        actions_np = np.clip(actions.detach().cpu().numpy().astype(np.float64).reshape(self.num_envs, -1), -1, 1)
        if actions_np.shape[1] != self.num_actions:
            raise DepthbenchError(f"anymal-ladder takes {self.num_actions} actions per env, got {actions_np.shape[1]}")
        self.last_actions[:] = self.actions
        self.actions[:] = actions_np
        self.engine.ctrl[:] = ladder_spec.DEFAULT_JOINT_POS_RAD + float(self.cfg["robot"]["action_scale"]) * actions_np
        self.engine.step()
        self.episode_length_buf += 1

        base_pos, rot = self._base_state()
        goal_distance = np.linalg.norm(self._goal - base_pos, axis=1)
        touching = np.concatenate(self._collision_contacts, axis=1).sum(axis=1)
        self._collision_steps += touching > 0
        length = self.episode_length_buf.cpu().numpy()
        outcome = ladder_spec.climb_outcome(
            np,
            self.cfg,
            base_pos_m=base_pos,
            up_z=rot[:, 2, 2],
            max_height_m=self._max_height,
            platform_m=self._platform,
            collision_steps=self._collision_steps,
            episode_length=length,
            max_episode_length=self.max_episode_length,
            step_dt_s=self.step_dt,
        )
        self._max_height = outcome["max_height"]
        success, fall, collision, timeout = (outcome[k] for k in ("success", "fall", "collision", "time_outs"))
        terms = ladder_spec.reward_terms(
            self.cfg,
            outcome,
            goal_distance_m=goal_distance,
            previous_goal_distance_m=self._goal_distance,
            torques_nm=self._actuator_force,
            actions=self.actions,
            last_actions=self.last_actions,
            touching=touching,
            step_dt_s=self.step_dt,
        )
        rewards = sum(terms.values())
        self._goal_distance = goal_distance

        done = success | fall | collision | timeout
        done_ids = np.flatnonzero(done)
        finished = ladder_spec.finish_episodes(
            self.cfg,
            done_ids,
            self.params,
            outcome,
            length,
            self._max_height - self._start_height,
            self.levels if self.curriculum else None,
            self._rngs,
        )
        self._episode_index[done_ids] += 1
        self._reset_envs(done_ids)
        self._obs = self._observations()
        log = {f"/reward/{name}": float(np.mean(value)) for name, value in terms.items()}
        if self.curriculum:
            log["/ladder/curriculum_level"] = float(np.mean(self.levels))
        if finished:  # outcome rates over the episodes that ended in this step
            log.update(ladder_spec.outcome_log(finished))
        extras = {"time_outs": torch.as_tensor(timeout, device=self.device), "log": log, "finished_episodes": finished}
        return (
            self._obs,
            torch.as_tensor(rewards, dtype=torch.float32, device=self.device),
            torch.as_tensor(done, device=self.device),
            extras,
        )
