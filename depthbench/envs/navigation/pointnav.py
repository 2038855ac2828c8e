"""`pointnav`: Habitat PointGoal navigation (Savva et al. 2019; Anderson et al. 2018) on depthbench's CPU engine.

Rules follow habitat-lab: actions STOP / MOVE_FORWARD / TURN_LEFT / TURN_RIGHT; the episode ends when STOP is called or
after max_episode_steps; success = STOP called with geodesic distance to goal < success_distance (habitat-lab
`Success`); SPL = success * d0 / max(d0, path length) and Soft-SPL = max(0, 1 - d/d0) * d0 / max(d0, path length),
with d0 the geodesic distance at reset (habitat-lab `SPL`, `SoftSPL`); the reward is habitat-baselines' NavRLEnv
reward: slack -0.01 + (previous - current geodesic distance) + 2.5 on success.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import defaultdict
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict
from tqdm import tqdm

from depthbench.envs import register_task
from depthbench.envs.navigation.engine import NavEngine, NavVecEnv
from depthbench.envs.navigation.episodes import Episode, GeneratorRules, generate_episodes, read_dataset
from depthbench.envs.navigation.navgrid import AgentShape, NavGrid
from depthbench.envs.navigation.procedural import INDOOR_SIZE_CLASSES, indoor_scene
from depthbench.envs.navigation.raycast import CameraSpec
from depthbench.envs.navigation.scenes import Scene, resolve_scene
from depthbench.envs.timing import time_vec_env
from depthbench.errors import DepthbenchError

STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT = range(4)
ACTION_NAMES = ("STOP", "MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT")
# habitat-lab benchmark configs: pointnav (classic, Savva et al. 2019) and the Habitat Challenge 2020/21 PointNav
# (LoCoBot-like agent: 0.18 m radius, camera 0.88 m tilted down 20 deg, HFOV 70, 30-degree turns, no sliding).
PRESETS: dict[str, dict[str, Any]] = {
    "habitat-classic": {
        "forward_step_m": 0.25,
        "turn_angle_deg": 10.0,
        "agent_radius_m": 0.1,
        "agent_height_m": 1.5,
        "camera_height_m": 1.25,
        "camera_tilt_deg": 0.0,
        "hfov_deg": 90.0,
        "min_depth_m": 0.0,
        "max_depth_m": 10.0,
        "success_distance_m": 0.2,
        "max_episode_steps": 500,
        "allow_sliding": True,
    },
    "habitat-challenge": {
        "forward_step_m": 0.25,
        "turn_angle_deg": 30.0,
        "agent_radius_m": 0.18,
        "agent_height_m": 0.88,
        "camera_height_m": 0.88,
        "camera_tilt_deg": -20.0,
        "hfov_deg": 70.0,
        "min_depth_m": 0.1,
        "max_depth_m": 10.0,
        "success_distance_m": 0.36,
        "max_episode_steps": 500,
        "allow_sliding": False,
    },
}
# Procedural scene seeds per split: disjoint ranges, so val/test scenes are never seen in training.
SPLIT_SEED_BASE = {"train": 0, "val": 1_000_000, "test": 2_000_000}


def resolve_agent(cfg: dict[str, Any]) -> dict[str, Any]:
    """The preset named by cfg['preset'] with any non-null cfg['agent'] entries applied."""
    if cfg["preset"] not in PRESETS:
        raise DepthbenchError(f"unknown pointnav preset '{cfg['preset']}'; choose one of {', '.join(PRESETS)}")
    agent = dict(PRESETS[cfg["preset"]])
    agent.update({k: v for k, v in (cfg.get("agent") or {}).items() if v is not None})
    return agent


def spl(success: np.ndarray, start_distance: np.ndarray, path_length: np.ndarray) -> np.ndarray:
    """habitat-lab SPL: success * d0 / max(d0, path length) (Anderson et al. 2018)."""
    return success * start_distance / np.maximum(start_distance, path_length)


def soft_spl(distance: np.ndarray, start_distance: np.ndarray, path_length: np.ndarray) -> np.ndarray:
    """habitat-lab SoftSPL: max(0, 1 - d / d0) * d0 / max(d0, path length)."""
    soft_success = np.maximum(0.0, 1.0 - distance / start_distance)
    return soft_success * start_distance / np.maximum(start_distance, path_length)


def _floor_key(z: float) -> float:
    return round(z * 2) / 2  # starts within 0.25 m share a floor


def build_dataset(
    cfg: dict[str, Any], agent: dict[str, Any]
) -> tuple[list[Scene], list[NavGrid], list[Episode], list[int], list[np.ndarray | None]]:
    """Scenes, their grids, the episodes, each episode's scene index, and any geodesic fields already computed.

    With `dataset.path` the Habitat file's episodes are used (scenes loaded from their scene_id, one grid per floor);
    otherwise episodes are generated on procedural scenes of the split with habitat-lab's generator rules.
    """
    shape = AgentShape(
        radius_m=agent["agent_radius_m"],
        height_m=agent["agent_height_m"],
        max_climb_m=cfg["navmesh"]["max_climb_m"],
        max_slope_deg=cfg["navmesh"]["max_slope_deg"],
        cell_size_m=cfg["navmesh"]["cell_size_m"],
    )
    data = cfg["dataset"]
    if data["path"]:
        episodes = read_dataset(data["path"])
        groups: dict[tuple[str, float], list[int]] = defaultdict(list)
        for i, ep in enumerate(episodes):
            groups[(ep.scene_id, _floor_key(ep.start_xyz[2]))].append(i)
        scenes, grids, meshes, scene_index = [], [], {}, [0] * len(episodes)
        for k, ((scene_id, _), members) in enumerate(groups.items()):
            floor = float(np.median([episodes[i].start_xyz[2] for i in members]))
            if scene_id not in meshes:
                meshes[scene_id] = resolve_scene(scene_id, scene_dir=cfg["scenes"]["scene_dir"]).mesh
            scenes.append(Scene(scene_id, meshes[scene_id], floor))
            grids.append(NavGrid.from_scene(scenes[-1], shape))
            for i in members:
                scene_index[i] = k
                _snap_onto_grid(episodes[i], grids[-1], data["goal_snap_m"])
        return scenes, grids, episodes, scene_index, [None] * len(episodes)

    split = cfg["split"]
    if split not in SPLIT_SEED_BASE:
        raise DepthbenchError(f"unknown split '{split}'; choose train, val or test")
    sizes = cfg["scenes"]["size_classes"]
    for size in sizes:
        if size not in INDOOR_SIZE_CLASSES:
            raise DepthbenchError(f"unknown scene size class '{size}'; known: {', '.join(INDOOR_SIZE_CLASSES)}")
    rules = GeneratorRules(
        closest_dist_limit_m=data["closest_dist_limit_m"],
        furthest_dist_limit_m=data["furthest_dist_limit_m"],
        geodesic_to_euclid_min_ratio=data["geodesic_to_euclid_min_ratio"],
        number_retries_per_target=data["number_retries_per_target"],
    )
    scenes, grids, episodes, scene_index, fields = [], [], [], [], []
    for k in range(cfg["scenes"]["num_scenes"]):
        seed = SPLIT_SEED_BASE[split] + k
        scene = indoor_scene(sizes[k % len(sizes)], seed)
        grid = NavGrid.from_scene(scene, shape)
        rng = np.random.default_rng([seed, 7])  # episodes depend only on the scene and the rules
        made = generate_episodes(
            grid,
            scene.scene_id,
            scene.floor_z,
            data["episodes_per_scene"],
            rng,
            goal_radius_m=agent["success_distance_m"],
            rules=rules,
            first_id=len(episodes),
        )
        for episode, field in made:
            episodes.append(episode)
            scene_index.append(k)
            fields.append(field)
        scenes.append(scene)
        grids.append(grid)
    # Round-robin over scenes (1st episode of every scene, then the 2nd, ...), so that evaluating any prefix of the
    # val/test episodes covers as many held-out scenes as it can.
    per_scene = [0] * len(scenes)
    rank = []
    for k in scene_index:
        rank.append(per_scene[k])
        per_scene[k] += 1
    order = sorted(range(len(episodes)), key=lambda i: (rank[i], scene_index[i]))
    return scenes, grids, [episodes[i] for i in order], [scene_index[i] for i in order], [fields[i] for i in order]


@functools.lru_cache(maxsize=4)
def _cached_dataset(key: str) -> tuple[list[Scene], list[NavGrid], list[Episode], list[int], list[np.ndarray | None]]:
    cfg, agent = json.loads(key)
    return build_dataset(cfg, agent)


def shared_dataset(
    cfg: dict[str, Any], agent: dict[str, Any]
) -> tuple[list[Scene], list[NavGrid], list[Episode], list[int], list[np.ndarray | None]]:
    """`build_dataset`, built once per process for a given configuration and shared (read-only) by every env made
    from it: training rebuilds its envs every checkpoint interval, and 32 scenes with 1024 geodesic fields take
    seconds. The geodesic fields list is filled in by the first env that computes them. Dataset files are read
    afresh every time (they may change on disk)."""
    if cfg["dataset"]["path"]:
        return build_dataset(cfg, agent)
    parts = {key: cfg[key] for key in ("split", "scenes", "dataset", "navmesh")}
    return _cached_dataset(json.dumps([parts, agent], sort_keys=True))


def _snap_onto_grid(episode: Episode, grid: NavGrid, tolerance_m: float) -> None:
    """Move start and goal onto the nearest navigable cell when within `tolerance_m` (the grid and habitat-sim's
    navmesh differ by up to a cell); farther off, or start and goal on different islands, is an error."""
    where = f"episode {episode.episode_id} in {episode.scene_id}"
    for name, what in (("start_xyz", "start"), ("goal_xyz", "goal")):
        xyz = getattr(episode, name)
        snapped = grid.nearest_navigable(xyz[:2])
        if np.linalg.norm(snapped - xyz[:2]) > tolerance_m:
            raise DepthbenchError(
                f"{where}: {what} position is off the navmesh (more than {tolerance_m} m from navigable floor for "
                "this agent); fix the episode or raise dataset.goal_snap_m"
            )
        setattr(episode, name, np.array([snapped[0], snapped[1], xyz[2]]))
    if grid.island_of(episode.start_xyz[:2]) != grid.island_of(episode.goal_xyz[:2]):
        raise DepthbenchError(f"{where}: start and goal are not connected for this agent (different navmesh islands)")


class PointNavEnv(NavVecEnv):
    """N PointNav agents stepped together; observations 'depth' (N,1,H,W) m, 'policy' (N,7), 'privileged'
    (N, 3 + P*P): geodesic distance, geodesic descent direction (forward, left), and an agent-centred occupancy patch.

    'policy' is what habitat-baselines' PointNav policy (PointNavResNetNet) feeds its network: the goal sensor's
    (rho, phi) as (rho, cos phi, sin phi), so the angle has no jump behind the agent, and the previous action, one-hot
    (habitat-baselines embeds it; all zero after a reset). `goal_polar` keeps the sensor's raw (rho, phi)."""

    def __init__(
        self, cfg: dict[str, Any], num_envs: int, seed: int = 0, device: str = "cpu", renderer: str = "batched"
    ) -> None:
        if cfg["goal_sensor"] not in ("gps_compass", "start_polar"):
            raise DepthbenchError(f"goal_sensor must be gps_compass or start_polar, got '{cfg['goal_sensor']}'")
        self.cfg = cfg
        self.num_envs = num_envs
        self.num_actions = 1  # one column: the action index, as rsl-rl's categorical policies emit it
        # gymnasium's view (vector_adapter, bench env): the 4 Habitat actions; an instance each, as spaces carry RNGs
        self.single_action_space = gym.spaces.Discrete(len(ACTION_NAMES))
        self.action_names = ACTION_NAMES
        self.device = device
        self.agent = agent = resolve_agent(cfg)
        self.max_episode_length = int(agent["max_episode_steps"])
        camera = CameraSpec(
            width=int(cfg["depth"]["width"]),
            height=int(cfg["depth"]["height"]),
            hfov_deg=agent["hfov_deg"],
            min_depth_m=agent["min_depth_m"],
            max_depth_m=agent["max_depth_m"],
            tilt_deg=agent["camera_tilt_deg"],
        )
        scenes, grids, self.episodes, scene_index, fields = shared_dataset(cfg, agent)
        threads = cfg["render_threads"] or min(4, os.cpu_count() or 1)
        self.engine = NavEngine(
            scenes,
            grids,
            camera,
            num_envs,
            field_cache_size=cfg["field_cache_size"],
            renderer=renderer,
            render_threads=threads,
        )
        e = self.engine
        self.ep_scene = np.array(scene_index)
        self.ep_start = np.array([ep.start_xyz[:2] for ep in self.episodes])
        self.ep_yaw = np.array([ep.start_yaw for ep in self.episodes])
        self.ep_goal = np.array([ep.goal_xyz[:2] for ep in self.episodes])
        if len(self.episodes) <= e.fields.capacity:  # precompute: no fast marching inside the step loop
            missing = [i for i, f in enumerate(fields) if f is None]
            for i in tqdm(missing, desc="geodesic fields", disable=len(missing) < 50):
                fields[i] = grids[self.ep_scene[i]].geodesic_field(self.ep_goal[i])
            for i, field in enumerate(fields):
                e.fields.put(i, int(self.ep_scene[i]), field)
        self._rng = np.random.default_rng(seed)
        self._cursor = 0
        n = num_envs
        self.episode_index = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.path_length = np.zeros(n)
        self.collisions = np.zeros(n, np.int64)
        self.start_distance = np.ones(n)
        self.distance = np.zeros(n)
        self.start_pose = np.zeros((n, 3))
        self.previous_action = np.zeros((n, 4), np.float32)
        self._reset_envs(np.arange(n))
        self._obs = self._observe()

    def _next_episodes(self, count: int) -> np.ndarray:
        """Train: uniform random episodes; val/test: the dataset in order, cycling (every episode evaluated)."""
        if self.cfg["split"] == "train" and not self.cfg["dataset"]["path"]:
            return self._rng.integers(0, len(self.episodes), count)
        picks = (self._cursor + np.arange(count)) % len(self.episodes)
        self._cursor += count
        return picks

    def _reset_envs(self, ids: np.ndarray) -> None:
        e = self.engine
        picks = self._next_episodes(len(ids))
        self.episode_index[ids] = picks
        e.scene[ids] = self.ep_scene[picks]
        e.xy[ids] = self.ep_start[picks]
        e.yaw[ids] = self.ep_yaw[picks]
        e.goal_xy[ids] = self.ep_goal[picks]
        active = np.ones(self.num_envs, bool)
        active[ids] = False
        for env, ep in zip(ids, picks, strict=True):
            e.slot[env] = e.field_slot(int(ep), int(self.ep_scene[ep]), self.ep_goal[ep], active)
            active[env] = True
        self.steps[ids] = 0
        self.path_length[ids] = 0.0
        self.collisions[ids] = 0
        self.previous_action[ids] = 0.0
        self.distance[ids] = e.geodesic(e.xy[ids]) if len(ids) == self.num_envs else e.geodesic()[ids]
        self.start_distance[ids] = self.distance[ids]
        self.start_pose[ids] = np.column_stack([e.xy[ids], e.yaw[ids]])

    def _observe(self) -> TensorDict:
        e = self.engine
        depth = e.render(self.agent["camera_height_m"])
        goal = self.goal_sensor()
        policy = np.column_stack([goal[:, 0], np.cos(goal[:, 1]), np.sin(goal[:, 1]), self.previous_action])
        p = self.cfg["privileged"]
        privileged = np.concatenate(
            [self.distance[:, None], e.geodesic_direction(), e.occupancy_patch(p["patch_cells"], p["patch_cell_m"])], 1
        )
        return TensorDict(
            {
                "depth": torch.from_numpy(depth[:, None]),
                "policy": torch.from_numpy(policy.astype(np.float32)),
                "privileged": torch.from_numpy(privileged.astype(np.float32)),
            },
            batch_size=[self.num_envs],
        )

    def view_radii_m(self, env_index: int) -> tuple[float, float]:
        return self.agent["agent_radius_m"], self.agent["success_distance_m"]

    def goal_sensor(self) -> np.ndarray:
        """(N, 2) the goal sensor's reading (rho m, phi rad, + = left), as habitat-lab's sensors define it."""
        e = self.engine
        if self.cfg["goal_sensor"] == "gps_compass":
            return e.goal_polar(e.xy, e.yaw)
        # static goal in the start frame (habitat-lab PointGoalSensor): no GPS/compass updates
        return e.goal_polar(self.start_pose[:, :2], self.start_pose[:, 2])

    def get_observations(self) -> TensorDict:
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        e, a = self.engine, self.agent
        action = np.clip(np.rint(actions.detach().cpu().numpy().reshape(self.num_envs, -1)[:, 0]), 0, 3).astype(int)
        turn = math.radians(a["turn_angle_deg"])
        e.yaw += turn * ((action == TURN_LEFT).astype(float) - (action == TURN_RIGHT))
        forward = np.flatnonzero(action == MOVE_FORWARD)
        if len(forward):
            heading = np.column_stack([np.cos(e.yaw[forward]), np.sin(e.yaw[forward])])
            new_xy, collided = e.move(forward, heading * a["forward_step_m"], a["allow_sliding"])
            self.path_length[forward] += np.linalg.norm(new_xy - e.xy[forward], axis=1)
            self.collisions[forward] += collided
            e.xy[forward] = new_xy
        self.steps += 1
        self.previous_action = np.eye(4, dtype=np.float32)[action]
        previous = self.distance
        self.distance = e.geodesic()
        stop = action == STOP
        success = stop & (self.distance < a["success_distance_m"])
        r = self.cfg["reward"]
        reward = r["slack_reward"] + (previous - self.distance) + r["success_reward"] * success
        time_out = ~stop & (self.steps >= self.max_episode_length)
        done = stop | time_out
        finished = []
        if done.any():
            ids = np.flatnonzero(done)
            spl_v = spl(success[ids], self.start_distance[ids], self.path_length[ids])
            soft_v = soft_spl(self.distance[ids], self.start_distance[ids], self.path_length[ids])
            for j, i in enumerate(ids):
                finished.append(
                    {
                        "env_id": int(i),
                        "episode_id": self.episodes[self.episode_index[i]].episode_id,
                        "scene_id": self.episodes[self.episode_index[i]].scene_id,
                        "success": float(success[i]),
                        "spl": float(spl_v[j]),
                        "soft_spl": float(soft_v[j]),
                        "distance_to_goal": float(self.distance[i]),
                        "path_length": float(self.path_length[i]),
                        "collisions": int(self.collisions[i]),
                        "length": int(self.steps[i]),
                    }
                )
            self._reset_envs(ids)
        self._obs = self._observe()
        log = {}
        if finished:
            for key in ("success", "spl", "soft_spl", "distance_to_goal", "collisions"):
                log[f"/pointnav/{key}"] = float(np.mean([f[key] for f in finished]))
        extras = {"time_outs": torch.from_numpy(time_out), "log": log, "finished_episodes": finished}
        return self._obs, torch.from_numpy(reward.astype(np.float32)), torch.from_numpy(done), extras


def _naive_baseline(cfg: dict[str, Any], num_envs: int, steps: int, seed: int) -> tuple[str, float]:
    env = PointNavEnv(cfg, num_envs, seed, renderer="naive")
    return "same env, per-env trimesh ray loop", time_vec_env(env, steps, seed)["env_steps_per_s"]


@register_task(
    "pointnav",
    summary="Habitat PointGoal navigation (discrete actions, GPS+compass goal, SPL) on procedural or Habitat scenes",
    engine="depthbench CPU navigation (Embree depth, FMM geodesics)",
    baseline=_naive_baseline,
    engine_id="embree",
)
def make_pointnav(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> PointNavEnv:
    return PointNavEnv(cfg, num_envs, seed, device)
