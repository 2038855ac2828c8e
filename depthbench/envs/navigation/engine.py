"""State and queries shared by the navigation tasks: N agents in M scenes, rendered and measured in batches.

`NavEngine` owns the Embree world, the packed navigable grids, the geodesic-field cache and the agents' poses as numpy
arrays (one row per environment). Tasks (pointnav.py, embodied.py) add actions, rewards and episode logic on top.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
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
        with np.errstate(invalid="ignore"):  # inf - inf (both neighbours unreachable) is a zero component
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
    `render_view` draws an env's top-down map (habitat-lab's TopDownMap, for episode videos).
    """

    steps: np.ndarray
    episode_index: np.ndarray
    engine: NavEngine
    view_name = "top-down map (navigable floor, path, goal)"

    def view_navigable(self, env_index: int) -> np.ndarray:
        """(ny, nx) bool: where the centre of env `env_index`'s agent may be, on its scene's grid."""
        return self.engine.atlas.grids[int(self.engine.scene[env_index])].navigable

    def view_radii_m(self, env_index: int) -> tuple[float, float]:
        """(agent radius, success distance) of env `env_index`'s episode, metres."""
        raise NotImplementedError

    @functools.cached_property
    def _view_state(self) -> dict[str, dict]:
        return {"trails": {}, "maps": {}}

    def render_view(self, env_index: int, width_px: int, height_px: int) -> np.ndarray:
        """(height_px, width_px, 3) uint8 top-down map of env `env_index` now: navigable floor (light), goal with its
        success radius (green), the path walked so far (orange) and the agent with its heading (blue), north up.

        The path is the positions at which this env was rendered since its episode began, so call this once per
        step (the episode recorder does)."""
        e, state = self.engine, self._view_state
        trail = state["trails"].setdefault(env_index, [])
        if self.steps[env_index] == 0:
            trail.clear()
        trail.append(e.xy[env_index].copy())
        key = int(self.episode_index[env_index]), width_px, height_px
        cached = state["maps"].get(env_index)
        if cached is None or cached[0] != key:  # the floor image depends on the episode only (scene, embodiment)
            navigable = self.view_navigable(env_index)
            ny, nx = navigable.shape
            scale = min(width_px / nx, height_px / ny)
            size = max(1, round(nx * scale)), max(1, round(ny * scale))
            floor = Image.fromarray(np.where(navigable[::-1], 235, 70).astype(np.uint8)).resize(size, Image.NEAREST)
            base = Image.new("RGB", (width_px, height_px), (40, 40, 40))
            offset = (width_px - size[0]) // 2, (height_px - size[1]) // 2
            base.paste(floor.convert("RGB"), offset)
            cached = key, base, offset, scale, ny
            state["maps"][env_index] = cached
        _, base, offset, scale, ny = cached
        origin, cell = e.atlas.origin[int(e.scene[env_index])], e.atlas.cell

        def pixel(xy: np.ndarray) -> tuple[float, float]:
            return offset[0] + (xy[0] - origin[0]) / cell * scale, offset[1] + (ny - (xy[1] - origin[1]) / cell) * scale

        agent_r, goal_r = (max(3.0, r / cell * scale) for r in self.view_radii_m(env_index))
        image = base.copy()
        draw = ImageDraw.Draw(image)
        gx, gy = pixel(e.goal_xy[env_index])
        draw.ellipse([gx - goal_r, gy - goal_r, gx + goal_r, gy + goal_r], fill=(60, 190, 60), outline=(0, 110, 0))
        if len(trail) > 1:
            draw.line([pixel(xy) for xy in trail], fill=(255, 140, 0), width=2)
        ax, ay = pixel(e.xy[env_index])
        yaw = float(e.yaw[env_index])
        tip = 2.0 * agent_r + 4.0
        draw.ellipse([ax - agent_r, ay - agent_r, ax + agent_r, ay + agent_r], fill=(40, 90, 230))
        draw.line([(ax, ay), (ax + tip * math.cos(yaw), ay - tip * math.sin(yaw))], fill=(20, 20, 120), width=2)
        return np.asarray(image)

    @property
    def episode_length_buf(self) -> torch.Tensor:
        return torch.from_numpy(self.steps)

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self.steps[:] = value.cpu().numpy()
