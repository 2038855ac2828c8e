"""State and queries shared by the navigation tasks: N agents in M scenes, rendered and measured in batches.

`NavEngine` owns the Embree world, the packed navigable grids, the geodesic-field cache and the agents' poses as numpy
arrays (one row per environment). Tasks (pointnav.py, embodied.py) add actions, rewards and episode logic on top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from rsl_rl.env import VecEnv

from depthbench.envs.navigation.navgrid import FieldCache, GridAtlas, NavGrid
from depthbench.envs.navigation.raycast import CameraSpec, World, render_naive
from depthbench.envs.navigation.scenes import Scene
from depthbench.errors import DepthbenchError

RENDERERS = ("batched", "naive")


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles to [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


class NavEngine:
    def __init__(
        self,
        scenes: Sequence[Scene],
        grids: Sequence[NavGrid],
        camera: CameraSpec,
        num_envs: int,
        *,
        field_cache_size: int,
        renderer: str = "batched",
        render_threads: int = 1,
    ) -> None:
        if renderer not in RENDERERS:
            raise DepthbenchError(f"unknown renderer '{renderer}'; choose {', '.join(RENDERERS)}")
        self.scenes = list(scenes)
        self.world = World(self.scenes, camera, threads=render_threads)
        self.atlas = GridAtlas(grids)
        self.fields = FieldCache(self.atlas, max(field_cache_size, num_envs + 1))
        self.renderer = renderer
        self.num_envs = num_envs
        self.scene = np.zeros(num_envs, np.int64)  # scene index per env
        self.xy = np.zeros((num_envs, 2))  # agent position on its scene's floor (m)
        self.yaw = np.zeros(num_envs)  # heading, counter-clockwise from +x (rad)
        self.goal_xy = np.zeros((num_envs, 2))
        self.slot = np.zeros(num_envs, np.int64)  # geodesic field slot of each env's goal

    def field_slot(self, key: object, scene: int, goal_xy: np.ndarray, active: np.ndarray) -> int:
        """Slot of the geodesic field for `key` (computed by fast marching on a cache miss)."""
        slot = self.fields.get(key)
        if slot is None:
            field = self.atlas.grids[scene].geodesic_field(goal_xy)
            slot = self.fields.put(key, scene, field, in_use=set(self.slot[active].tolist()))
        return slot

    def render(self, camera_height_m: np.ndarray | float) -> np.ndarray:
        floor = np.array([s.floor_z for s in self.scenes])[self.scene]
        position = np.column_stack([self.xy, floor + camera_height_m])
        if self.renderer == "naive":
            meshes = [s.mesh for s in self.scenes]
            return render_naive(meshes, self.world.camera, self.scene, position, self.yaw)
        return self.world.render(self.scene, position, self.yaw)

    def geodesic(self, xy: np.ndarray | None = None) -> np.ndarray:
        """Geodesic distance (m) from xy (default: the agents) to each env's goal."""
        return self.fields.sample(self.slot, self.scene, self.xy if xy is None else xy)

    def geodesic_direction(self) -> np.ndarray:
        """(N, 2) unit vector, in each agent's frame (forward, left), of steepest geodesic descent."""
        h = self.atlas.cell
        offsets = np.array([[h, 0], [-h, 0], [0, h], [0, -h]])
        v = self.fields.sample(self.slot[:, None], self.scene[:, None], self.xy[:, None, :] + offsets)
        grad = np.nan_to_num(np.stack([v[:, 0] - v[:, 1], v[:, 2] - v[:, 3]], 1), posinf=0.0, neginf=0.0)
        down = -grad / np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-9)
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.stack([c * down[:, 0] + s * down[:, 1], -s * down[:, 0] + c * down[:, 1]], 1)

    def occupancy_patch(self, cells: int, cell_m: float) -> np.ndarray:
        """(N, cells*cells) 1 where the agent-centred, heading-aligned patch is NOT navigable (row = forward)."""
        ticks = (np.arange(cells) - (cells - 1) / 2) * cell_m
        fwd, left = np.meshgrid(ticks, ticks, indexing="ij")
        c, s = np.cos(self.yaw)[:, None], np.sin(self.yaw)[:, None]
        fwd, left = fwd.ravel()[None], left.ravel()[None]
        pts = np.stack([self.xy[:, :1] + c * fwd - s * left, self.xy[:, 1:] + s * fwd + c * left], -1)
        return (~self.atlas.is_navigable(self.scene[:, None], pts)).astype(np.float32)

    def goal_polar(self, xy: np.ndarray, yaw: np.ndarray) -> np.ndarray:
        """(N, 2) Euclidean distance and angle (rad, + = to the left) of the goal seen from pose (xy, yaw).

        Habitat's PointGoalWithGPSCompass sensor (POLAR, 2-D): rho and -phi of the goal in the agent frame.
        """
        d = self.goal_xy - xy
        return np.stack([np.hypot(d[:, 0], d[:, 1]), wrap_angle(np.arctan2(d[:, 1], d[:, 0]) - yaw)], 1)

    def move(self, ids: np.ndarray, delta: np.ndarray, slide: bool) -> tuple[np.ndarray, np.ndarray]:
        """Move agents `ids` by delta (M, 2) over the navigable grid; returns (new xy, collided).

        The segment is sampled every half cell; the agent stops at the last navigable sample (habitat-sim
        `try_step_no_sliding` stops at the navmesh edge). With sliding (habitat-sim `try_step`) the rest of the
        displacement is projected onto the boundary tangent and applied from the contact point. Either way a move
        that comes out shorter than requested counts as a collision (habitat-sim previous_step_collided).
        """
        start = self.xy[ids]
        end, blocked, normal = self._sweep(ids, start, delta)
        if slide and blocked.any():
            b = np.flatnonzero(blocked)
            rest = start[b] + delta[b] - end[b]
            n = normal[b]
            tangent = rest - np.minimum((rest * n).sum(1, keepdims=True), 0.0) * n
            end[b], _, _ = self._sweep(ids[b], end[b], tangent)
        # habitat-sim: collided when the filtered move is shorter than the requested one by more than 1e-5 m.
        collided = np.linalg.norm(delta, axis=1) - np.linalg.norm(end - start, axis=1) > 1e-5
        return end, collided

    def _sweep(self, ids: np.ndarray, start: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, ...]:
        length = float(np.linalg.norm(delta, axis=1).max(initial=0.0))
        k = max(1, math.ceil(length / (self.atlas.cell / 2)))
        frac = np.arange(1, k + 1) / k
        pts = start[:, None, :] + delta[:, None, :] * frac[None, :, None]
        ok = self.atlas.is_navigable(self.scene[ids][:, None], pts)
        blocked = ~ok.all(1)
        first_bad = np.where(blocked, np.argmin(ok, axis=1), k)
        free_frac = first_bad / k
        end = start + delta * free_frac[:, None]
        bad_pt = pts[np.arange(len(ids)), np.minimum(first_bad, k - 1)]
        normal = self.atlas.normal_at(self.scene[ids], bad_pt)
        return end, blocked, normal


class NavVecEnv(VecEnv):
    """rsl-rl VecEnv whose step counter lives in a numpy array `self.steps` (the navigation tasks' state is numpy).

    rsl-rl may overwrite episode_length_buf (random initial lengths); the property keeps both views in sync.
    """

    steps: np.ndarray

    @property
    def episode_length_buf(self) -> torch.Tensor:
        return torch.from_numpy(self.steps)

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self.steps[:] = value.cpu().numpy()
