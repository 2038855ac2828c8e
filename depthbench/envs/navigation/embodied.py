"""`embodied-nav`: embodiment-aware long-range point-goal navigation (DeFM, Patel et al. 2026, Sec. on navigation).

Every episode samples a robot: footprint radius, body height and speed limits, given to the policy as an embodiment
vector. Actions (vx, wz) in [-1, 1] scale to the robot's limits and are integrated kinematically at `control_dt_s`;
vx is clipped to [-`reverse_speed_fraction`, 1]: by default the robot drives forward only, since the camera looks
forward and a teacher that reverses by its all-round map leaves a depth student blind (docs/embodied-nav.md). The
depth camera sits at the top of the body. Touching geometry with the footprint disc anywhere below body height
(walls, trunks, shelves, beams a short robot could pass under) ends the episode as a collision failure (training data
may instead keep going, blocked: `train_collision_ends_episode`). Goals are
10-40 m away (geodesic, for that robot). `split` picks the scene families: train/val = the training family (disjoint
seeds), test = the out-of-distribution families; `families` overrides that list.

Splits. Training scenes are drawn from the env seed (every training chunk of a run builds new scenes, so a policy
cannot memorize a handful of layouts). val/test hold a fixed set of `eval_episodes` distinct episodes on
`eval_scenes_per_family` scenes per family, walked round-robin over families, then scenes: any prefix of the order
covers the families evenly (counts differ by at most one), and each env takes every num_envs-th episode of the order,
so an evaluation of N episodes with a fixed per-env quota sees exactly the first N, whatever the episode lengths.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict
from tqdm import tqdm

from depthbench.envs import register_task
from depthbench.envs.navigation.engine import NavEngine, NavVecEnv, wrap_angle
from depthbench.envs.navigation.episodes import Episode, GeneratorRules, generate_episodes
from depthbench.envs.navigation.navgrid import NavGrid, clearance_m, scan_scene
from depthbench.envs.navigation.procedural import EMBODIED_OOD_FAMILIES, EMBODIED_TRAIN_FAMILIES, family_scene
from depthbench.envs.navigation.raycast import CameraSpec
from depthbench.envs.navigation.scenes import Scene
from depthbench.envs.timing import time_vec_env
from depthbench.errors import DepthbenchError

SPLIT_SEED_BASE = {"train": 0, "val": 1_000_000, "test": 2_000_000}
ALL_FAMILIES = EMBODIED_TRAIN_FAMILIES + EMBODIED_OOD_FAMILIES
EMBODIMENT_KEYS = ("radius_m", "height_m", "max_speed_mps", "max_yaw_rate_rps")


class ClearanceMaps:
    """Per scene, for body heights on a 5 cm ladder: each cell's distance to the nearest geometry below that height.

    A body of height H and radius r fits at a point iff clearance[bin(H)] >= r, so collision checks for many different
    robots are one gather into these packed float16 maps.
    """

    def __init__(
        self, scans: list[dict], heights_m: np.ndarray, reach_m: float, maps: list[np.ndarray] | None = None
    ) -> None:
        """`maps`: each scan's `packed_clearance` when already computed."""
        self.heights_m = heights_m
        self.cell = scans[0]["cell"]
        self.origin = np.stack([s["origin"] for s in scans])
        self.shape = np.array([s["ground"].shape for s in scans])
        sizes = self.shape.prod(1)
        self.offset = np.concatenate([[0], np.cumsum(sizes * len(heights_m))[:-1]])
        maps = maps if maps is not None else [packed_clearance(scan, heights_m, reach_m) for scan in scans]
        self.values = np.concatenate(maps)

    def height_bin(self, height_m: np.ndarray) -> np.ndarray:
        """The first ladder height >= the body height (conservative: geometry up to that height counts)."""
        return np.clip(np.searchsorted(self.heights_m, height_m - 1e-9), 0, len(self.heights_m) - 1)

    def clearance(self, scene: np.ndarray, height_bin: np.ndarray, xy: np.ndarray) -> np.ndarray:
        s = np.broadcast_to(scene, xy.shape[:-1])
        k = np.broadcast_to(height_bin, xy.shape[:-1])
        rel = np.floor((xy - self.origin[s]) / self.cell).astype(np.int64)
        ny, nx = self.shape[s, 0], self.shape[s, 1]
        inside = (rel[..., 0] >= 0) & (rel[..., 0] < nx) & (rel[..., 1] >= 0) & (rel[..., 1] < ny)
        local = np.clip(rel[..., 1], 0, ny - 1) * nx + np.clip(rel[..., 0], 0, nx - 1)
        value = self.values[self.offset[s] + k * ny * nx + local].astype(np.float32)
        return np.where(inside, value, -1.0)

    def navgrid(self, scans: list[dict], scene: int, radius_m: float, height_m: float) -> NavGrid:
        k = int(self.height_bin(np.array(height_m)))
        ny, nx = self.shape[scene]
        start = self.offset[scene] + k * ny * nx
        clearance = self.values[start : start + ny * nx].reshape(ny, nx).astype(np.float32)
        return NavGrid.from_clearance(self.origin[scene], self.cell, clearance, radius_m)


def packed_clearance(scan: dict, heights_m: np.ndarray, reach_m: float) -> np.ndarray:
    """One scan's clearance maps, flat float16: exact up to reach_m (the largest footprint plus margin); farther
    values only need to exceed it."""
    return np.minimum(clearance_m(scan, heights_m, reach_m), 60000).astype(np.float16).ravel()


def built_scene(
    family: str, seed: int, cell: float, top: float, climb: float, slope: float, heights: tuple, reach: float
) -> tuple[Scene, dict, np.ndarray]:
    """A family's scene with its scan and packed clearance."""
    scene = family_scene(family, seed)
    scan = scan_scene(scene, cell, top, climb, slope)
    return scene, scan, packed_clearance(scan, np.array(heights), reach)


# val/test scenes are kept for the process: the fixed evaluation scenes cost most of an evaluation's set-up (about
# 1 min for the 32 test scenes), and a teacher and its student, or every checkpoint of an ablation, are evaluated on
# the same ones. Training scenes are new every chunk and are not kept.
eval_scene = functools.lru_cache(maxsize=64)(built_scene)


def split_scene_seeds(split: str, seed: int, count: int) -> list[int]:
    """Scene seeds of a split: train draws `count` seeds in [0, 1e6) from the env seed (new scenes per training chunk);
    val/test use the fixed seeds base + k (base 1e6 and 2e6, disjoint from every training seed)."""
    if split == "train":
        rng = np.random.default_rng([seed, 23])
        return [int(v) for v in rng.integers(0, SPLIT_SEED_BASE["val"], count)]
    return [SPLIT_SEED_BASE[split] + k for k in range(count)]


def spread(total: int, parts: int) -> list[int]:
    """`total` split into `parts` counts that differ by at most one (the first ones get the remainder)."""
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


def round_robin(queues: list[list[int]]) -> list[int]:
    """One item from each non-empty queue in turn: [[0, 1, 2], [3], [4, 5]] -> [0, 3, 4, 1, 5, 2]."""
    out, depth = [], max((len(q) for q in queues), default=0)
    for k in range(depth):
        out += [q[k] for q in queues if k < len(q)]
    return out


def sample_embodiment(cfg: dict[str, Any], rng: np.random.Generator) -> dict[str, float]:
    return {key: float(rng.uniform(*cfg["embodiment"][key])) for key in EMBODIMENT_KEYS}


class EmbodiedNavEnv(NavVecEnv):
    """Observations: 'depth' (N,1,H,W) m from a camera at body height; 'policy' (N, 8): goal distance (m) and angle
    (rad), embodiment (radius m, height m, max speed m/s, max yaw rate rad/s), previous action (vx, wz in [-1, 1]);
    'embodiment' (N, 6): 'policy' without the goal, for a teacher that must steer by the plan; 'privileged'
    (N, 3 + P*P + R*K): geodesic distance, descent direction (robot frame), the robot's own occupancy patch, and the
    plan's look-ahead ring (`lookahead_ring`)."""

    def __init__(
        self, cfg: dict[str, Any], num_envs: int, seed: int = 0, device: str = "cpu", renderer: str = "batched"
    ) -> None:
        self.cfg, self.num_envs, self.num_actions, self.device = cfg, num_envs, 2, device
        self.max_episode_length = int(cfg["max_episode_steps"])
        families = cfg["families"] or (list(EMBODIED_OOD_FAMILIES) if cfg["split"] == "test" else ["mixed"])
        if cfg["split"] not in SPLIT_SEED_BASE:
            raise DepthbenchError(f"unknown split '{cfg['split']}'; choose train, val or test")
        for family in families:
            if family not in ALL_FAMILIES:
                known = ", ".join(ALL_FAMILIES)
                raise DepthbenchError(f"unknown embodied-nav family '{family}'; known: {known}")
        ranges = cfg["embodiment"]
        for key in EMBODIMENT_KEYS:
            lo, hi = ranges[key]
            if not 0 < lo <= hi:
                raise DepthbenchError(f"embodiment.{key} must be [low, high] with 0 < low <= high, got {ranges[key]}")
        if not 0.0 <= float(cfg["reverse_speed_fraction"]) <= 1.0:
            raise DepthbenchError(
                f"reverse_speed_fraction must be in [0, 1] (0: forward only), got {cfg['reverse_speed_fraction']}"
            )
        camera = CameraSpec(
            width=int(cfg["depth"]["width"]),
            height=int(cfg["depth"]["height"]),
            hfov_deg=cfg["camera"]["hfov_deg"],
            min_depth_m=cfg["camera"]["min_depth_m"],
            max_depth_m=cfg["camera"]["max_depth_m"],
            tilt_deg=cfg["camera"]["tilt_deg"],
        )
        cell, climb = cfg["navmesh"]["cell_size_m"], cfg["navmesh"]["max_climb_m"]
        top = ranges["height_m"][1] + 0.05
        heights = np.arange(climb + 0.05, top + 0.05, 0.05)
        training = cfg["split"] == "train"
        per_family = cfg["scenes_per_family"] if training else cfg["eval_scenes_per_family"]
        if not training and cfg["eval_episodes"] < len(families) * per_family:
            raise DepthbenchError(
                f"eval_episodes ({cfg['eval_episodes']}) must give every one of the {len(families) * per_family} "
                "val/test scenes an episode; raise eval_episodes or lower eval_scenes_per_family"
            )
        scene_seeds = split_scene_seeds(cfg["split"], seed, per_family)
        if training:
            scene_counts = [cfg["episodes_per_scene"]] * (len(families) * per_family)
        else:  # eval_episodes spread evenly over families, then over each family's scenes
            scene_counts = [n for f in spread(cfg["eval_episodes"], len(families)) for n in spread(f, per_family)]
        reach = ranges["radius_m"][1] + cfg["planning_margin_m"] + 2 * cell
        slope = cfg["navmesh"]["max_slope_deg"]
        scenes, scans, maps = [], [], []
        for family in families:
            for scene_seed in scene_seeds:
                key = (family, scene_seed, cell, top, climb, slope, tuple(heights.tolist()), reach)
                built = (built_scene if training else eval_scene)(*key)
                for part, into in zip(built, (scenes, scans, maps), strict=True):
                    into.append(part)
        self.clearance = ClearanceMaps(scans, heights, reach, maps)
        # Fields/atlas shapes come from the scene grids; per-episode navigability from the robot's clearance map.
        base_grids = [NavGrid(s["origin"], cell, s["ground"]) for s in scans]
        rules = GeneratorRules(
            closest_dist_limit_m=cfg["goal_distance_m"][0],
            furthest_dist_limit_m=cfg["goal_distance_m"][1],
            geodesic_to_euclid_min_ratio=cfg["geodesic_to_euclid_min_ratio"],
            number_retries_per_target=cfg["number_retries_per_target"],
        )
        threads = cfg["render_threads"] or min(4, os.cpu_count() or 1)
        total = sum(scene_counts)
        self.engine = NavEngine(
            scenes, base_grids, camera, num_envs, field_cache_size=total, renderer=renderer, render_threads=threads
        )
        self.families = families
        # Episode g is the j-th of its scene k (scene-major ids, as a full build numbers them), drawn from scene k's
        # own generator: built in order per scene, on demand, any subset equals that subset of the full build.
        self._scans, self._rules = scans, rules
        self._scene_first = np.concatenate([[0], np.cumsum(scene_counts)[:-1]]).astype(np.int64)
        self._scene_rngs = [
            np.random.default_rng([scene_seeds[k % per_family], 11, ALL_FAMILIES.index(families[k // per_family])])
            for k in range(len(scenes))
        ]  # a family's episodes don't depend on the family list
        self._built = np.zeros(len(scenes), np.int64)
        self.episodes: list[Episode | None] = [None] * total
        self.ep_scene = np.repeat(np.arange(len(scenes)), scene_counts)
        self.ep_start, self.ep_yaw = np.zeros((total, 2)), np.zeros(total)
        self.ep_goal, self.ep_body = np.zeros((total, 2)), np.zeros((total, len(EMBODIMENT_KEYS)))
        self.ep_slot = np.zeros(total, np.int64)  # each episode's geodesic field in the engine's cache
        scene_episodes = [
            list(range(first, first + n)) for first, n in zip(self._scene_first, scene_counts, strict=True)
        ]
        # val/test order: round-robin over families, then over each family's scenes (see the module docstring)
        by_family = [round_robin(scene_episodes[f * per_family : (f + 1) * per_family]) for f in range(len(families))]
        self.eval_order = np.array(round_robin(by_family), np.int64)
        if training:  # uniform picks over all of them: build them now
            with tqdm(total=total, desc="embodied-nav episodes", disable=total < 40) as bar:
                for k, count in enumerate(scene_counts):
                    self._build(k, count, bar)
        n = num_envs
        self._rng = np.random.default_rng(seed)
        self.episodes_started = np.zeros(n, np.int64)  # per env, for the val/test order
        self.episode_index = np.zeros(n, np.int64)
        self.body = np.zeros((n, 4))
        self.height_bin = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.blocked_steps = np.zeros(n, np.int64)  # steps a collision stopped the robot (1 when it ends the episode)
        self.path_length = np.zeros(n)
        self.start_distance = np.ones(n)
        self.distance = np.zeros(n)
        self.last_action = np.zeros((n, 2))
        self.render_depth = True  # False: no camera, no 'depth' group (set by wrappers whose policy never sees depth)
        self._reset_envs(np.arange(n))
        self._obs = self._observe()

    def _build(self, scene: int, count: int, bar: tqdm | None = None) -> None:
        """Build scene `scene`'s episodes up to its `count`-th (val/test build the episodes they reach)."""
        cfg, rng = self.cfg, self._scene_rngs[scene]
        while self._built[scene] < count:
            g = int(self._scene_first[scene] + self._built[scene])
            body = sample_embodiment(cfg, rng)
            # Plan with a margin: a path that grazes obstacles at exactly the radius cannot be followed with finite
            # steps; geodesics, starts and goals keep planning_margin_m of slack.
            grid = self.clearance.navgrid(
                self._scans, scene, body["radius_m"] + cfg["planning_margin_m"], body["height_m"]
            )
            made = generate_episodes(
                grid,
                self.engine.scenes[scene].scene_id,
                0.0,
                1,
                rng,
                goal_radius_m=cfg["success_distance_m"],
                rules=self._rules,
                first_id=g,
            )
            episode, field = next(made)
            self.episodes[g] = episode
            self.ep_start[g], self.ep_yaw[g], self.ep_goal[g] = (
                episode.start_xyz[:2],
                episode.start_yaw,
                episode.goal_xyz[:2],
            )
            self.ep_body[g] = [body[key] for key in EMBODIMENT_KEYS]
            self.ep_slot[g] = self.engine.fields.put(g, scene, field)  # slots fill in build order
            self._built[scene] += 1
            if bar is not None:
                bar.update()

    def _reset_envs(self, ids: np.ndarray) -> None:
        e = self.engine
        if self.cfg["split"] == "train":
            picks = self._rng.integers(0, len(self.episodes), len(ids))
        else:  # env i's k-th episode is eval_order[k * num_envs + i]: N episodes by per-env quota = the first N
            slots = (self.episodes_started[ids] * self.num_envs + ids) % len(self.eval_order)
            picks = self.eval_order[slots]
            self.episodes_started[ids] += 1
            for g in picks:
                scene = int(self.ep_scene[g])
                self._build(scene, int(g - self._scene_first[scene]) + 1)
        self.episode_index[ids] = picks
        e.scene[ids], e.xy[ids], e.yaw[ids] = self.ep_scene[picks], self.ep_start[picks], self.ep_yaw[picks]
        e.goal_xy[ids], e.slot[ids] = self.ep_goal[picks], self.ep_slot[picks]  # every built field is cached
        self.body[ids] = self.ep_body[picks]
        self.height_bin[ids] = self.clearance.height_bin(self.body[ids, 1])
        self.steps[ids] = 0
        self.blocked_steps[ids] = 0
        self.path_length[ids] = 0.0
        self.last_action[ids] = 0.0
        self.distance[ids] = e.geodesic()[ids]
        self.start_distance[ids] = self.distance[ids]

    def _observe(self) -> TensorDict:
        e = self.engine
        goal = e.goal_polar(e.xy, e.yaw)
        policy = np.concatenate([goal, self.body, self.last_action], 1)
        p = self.cfg["privileged"]
        privileged = np.concatenate(
            [self.distance[:, None], e.geodesic_direction(), self._patch(p), self.lookahead_ring(p)], 1
        )
        groups = {
            "policy": torch.from_numpy(policy.astype(np.float32)),
            "embodiment": torch.from_numpy(policy[:, 2:].astype(np.float32)),
            "privileged": torch.from_numpy(privileged.astype(np.float32)),
        }
        if self.render_depth:  # two thirds of a step's time on 2 CPU cores
            depth = e.render(self.body[:, 1] - self.cfg["camera"]["below_top_m"])
            groups["depth"] = torch.from_numpy(depth[:, None])
        return TensorDict(groups, batch_size=[self.num_envs])

    def view_navigable(self, env_index: int) -> np.ndarray:
        """Where this episode's robot fits: clearance at its body height >= its footprint radius."""
        c, scene = self.clearance, int(self.engine.scene[env_index])
        ny, nx = c.shape[scene]
        start = c.offset[scene] + int(self.height_bin[env_index]) * ny * nx
        return c.values[start : start + ny * nx].reshape(ny, nx) >= self.body[env_index, 0]

    def view_radii_m(self, env_index: int) -> tuple[float, float]:
        return float(self.body[env_index, 0]), float(self.cfg["success_distance_m"])

    def _patch(self, p: dict[str, Any]) -> np.ndarray:
        """Agent-centred, heading-aligned patch: 1 where this robot's footprint would collide."""
        e, cells = self.engine, p["patch_cells"]
        ticks = (np.arange(cells) - (cells - 1) / 2) * p["patch_cell_m"]
        fwd, left = (a.ravel()[None] for a in np.meshgrid(ticks, ticks, indexing="ij"))
        c, s = np.cos(e.yaw)[:, None], np.sin(e.yaw)[:, None]
        pts = np.stack([e.xy[:, :1] + c * fwd - s * left, e.xy[:, 1:] + s * fwd + c * left], -1)
        clear = self.clearance.clearance(e.scene[:, None], self.height_bin[:, None], pts)
        return (clear < self.body[:, :1]).astype(np.float32)

    def lookahead_ring(self, p: dict[str, Any]) -> np.ndarray:
        """(N, R*K) the plan beyond the next cell: for each look-ahead radius r (m) and K headings spread evenly from
        straight ahead (counter-clockwise, robot frame), the geodesic drop (distance here - distance there) / r,
        clipped to [-1, 1]; 1 = straight along the shortest path, -1 (also: no finite path from there) = away from it.

        The descent direction alone is one cell of look-ahead: in a maze it says where the next cell is, not which
        corridor leads on, and a policy trained in open arenas learns to steer by the Euclidean goal instead."""
        radii, k = np.asarray(p["lookahead_radii_m"], float), int(p["lookahead_headings"])
        if radii.size == 0:
            return np.zeros((self.num_envs, 0))
        e = self.engine
        angles = e.yaw[:, None] + 2 * np.pi * np.arange(k)[None] / k  # (N, K) world headings
        unit = np.stack([np.cos(angles), np.sin(angles)], -1)  # (N, K, 2)
        pts = e.xy[:, None, None, :] + radii[None, :, None, None] * unit[:, None]  # (N, R, K, 2)
        with np.errstate(invalid="ignore"):  # points in walls blend infinite distances: NaN, read as -1 below
            there = e.fields.sample(e.slot[:, None], e.scene[:, None], pts.reshape(self.num_envs, -1, 2)).reshape(
                self.num_envs, len(radii), k
            )
        drop = (self.distance[:, None, None] - there) / radii[None, :, None]
        return np.clip(np.nan_to_num(drop, nan=-1.0, posinf=1.0, neginf=-1.0), -1.0, 1.0).reshape(self.num_envs, -1)

    def get_observations(self) -> TensorDict:
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        e, dt = self.engine, self.cfg["control_dt_s"]
        act = np.clip(actions.detach().cpu().numpy().reshape(self.num_envs, -1)[:, :2].astype(float), -1.0, 1.0)
        act[:, 0] = np.maximum(act[:, 0], -float(self.cfg["reverse_speed_fraction"]))
        if not np.isfinite(act).all():
            raise DepthbenchError(
                "embodied-nav received non-finite actions (NaN/inf): the policy diverged; resume from an earlier "
                "checkpoint or lower the learning rate"
            )
        vx, wz = act[:, 0] * self.body[:, 2], act[:, 1] * self.body[:, 3]
        mid_yaw = e.yaw + 0.5 * wz * dt  # midpoint rule for the unicycle model
        delta = (vx * dt)[:, None] * np.column_stack([np.cos(mid_yaw), np.sin(mid_yaw)])
        # Sweep the footprint along the motion every half cell: any sample closer to geometry than the radius collides.
        k = max(1, math.ceil(float(np.abs(vx).max(initial=0.0)) * dt / (self.clearance.cell / 2)))
        frac = np.arange(1, k + 1) / k
        pts = e.xy[:, None, :] + delta[:, None, :] * frac[None, :, None]
        clear = self.clearance.clearance(e.scene[:, None], self.height_bin[:, None], pts)
        collided = (clear < self.body[:, :1]).any(1)
        moved = ~collided
        e.xy[moved] += delta[moved]
        e.yaw = wrap_angle(e.yaw + wz * dt)
        self.path_length[moved] += np.abs(vx[moved]) * dt
        self.steps += 1
        previous = self.distance
        # The footprint may squeeze through gaps the planning grid (radius + planning_margin_m) closes, onto cells
        # disconnected from the goal there (infinite geodesic): the distance holds its last finite value (no progress
        # reward, no infinite observation) until the robot is back on the planned region.
        geodesic = e.geodesic()
        self.distance = np.where(np.isfinite(geodesic), geodesic, previous)
        success = ~collided & (self.distance < self.cfg["success_distance_m"])
        r = self.cfg["reward"]
        progress = np.where(collided, 0.0, previous - self.distance)
        reward = r["slack_reward"] + progress + r["success_reward"] * success + r["collision_reward"] * collided
        reward = reward + r["action_rate"] * np.square(act - self.last_action).sum(1)  # legged_gym's action_rate
        self.last_action = act
        self.blocked_steps += collided
        if self.cfg["split"] == "train" and not self.cfg["train_collision_ends_episode"]:
            collided = np.zeros_like(collided)  # blocked, penalized, but the episode goes on (training data only)
        time_out = ~collided & ~success & (self.steps >= self.max_episode_length)
        done = collided | success | time_out
        finished = []
        if done.any():
            ids = np.flatnonzero(done)
            for i in ids:
                d0, path = self.start_distance[i], self.path_length[i]
                finished.append(
                    {
                        "env_id": int(i),
                        "episode_id": self.episodes[self.episode_index[i]].episode_id,
                        "family": self.episodes[self.episode_index[i]].scene_id.split("/")[2],
                        "success": float(success[i]),
                        "collision_failure": float(collided[i]),
                        "blocked_steps": int(self.blocked_steps[i]),
                        "timeout": float(time_out[i]),
                        "spl": float(success[i] * d0 / max(d0, path)),
                        "distance_to_goal": float(self.distance[i]),
                        "path_length": float(path),
                        "length": int(self.steps[i]),
                        **{key: float(v) for key, v in zip(EMBODIMENT_KEYS, self.body[i], strict=True)},
                    }
                )
            self._reset_envs(ids)
        self._obs = self._observe()
        log = {}
        if finished:
            for key in ("success", "collision_failure", "timeout", "spl"):
                log[f"/embodied_nav/{key}"] = float(np.mean([f[key] for f in finished]))
        extras = {"time_outs": torch.from_numpy(time_out), "log": log, "finished_episodes": finished}
        return self._obs, torch.from_numpy(reward.astype(np.float32)), torch.from_numpy(done), extras


def family_report(finished_episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's evaluation summary: success rate per family, the mean over OOD families present, and overall
    collision-failure and timeout rates."""
    if not finished_episodes:
        raise DepthbenchError("no finished embodied-nav episodes to summarize; run the evaluation longer")
    by_family: dict[str, list[float]] = {}
    for episode in finished_episodes:
        by_family.setdefault(episode["family"], []).append(episode["success"])
    success = {family: float(np.mean(v)) for family, v in sorted(by_family.items())}
    ood = [success[f] for f in EMBODIED_OOD_FAMILIES if f in success]
    return {
        "success_rate": success,
        "episodes": {family: len(v) for family, v in sorted(by_family.items())},
        "ood_mean_success_rate": float(np.mean(ood)) if ood else None,
        "collision_failure_rate": float(np.mean([e["collision_failure"] for e in finished_episodes])),
        "timeout_rate": float(np.mean([e["timeout"] for e in finished_episodes])),
    }


def _naive_baseline(cfg: dict[str, Any], num_envs: int, steps: int, seed: int) -> tuple[str, float]:
    env = EmbodiedNavEnv(cfg, num_envs, seed, renderer="naive")
    return "same env, per-env trimesh ray loop", time_vec_env(env, steps, seed)["env_steps_per_s"]


@register_task(
    "embodied-nav",
    summary="Embodiment-aware long-range point-goal navigation (continuous vx, wz; footprint/height/speed per "
    "episode; training family + OOD families)",
    engine="depthbench CPU navigation (Embree depth, FMM geodesics)",
    baseline=_naive_baseline,
    engine_id="embree",
)
def make_embodied_nav(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> EmbodiedNavEnv:
    return EmbodiedNavEnv(cfg, num_envs, seed, device)
