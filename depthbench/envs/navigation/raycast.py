"""Depth images by Embree ray casting: every environment's rays in one batched call per step.

All scenes of a task are placed side by side in ONE Embree scene (shifted along x, far enough apart that no ray within
the depth range can reach a neighbour), so a single `run` call renders N agents in N different scenes. Per-pixel
directions are precomputed once in the body frame (x forward, y left, z up) and scaled so their optical-axis
component is 1: Embree's hit parameter t is then directly the planar (z) depth that Habitat's depth sensor and real
depth cameras report, with no per-ray division.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import trimesh
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from depthbench.envs.navigation.scenes import Scene
from depthbench.errors import DepthbenchError


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole depth camera: square pixels, horizontal FOV, pitch (negative looks down, as Habitat's sensor
    orientation), and a valid range: returns outside [min_depth_m, max_depth_m] read 0 (no return), as real sensors
    report them (Habitat instead clips to the range; 0 is depthbench's contract for 'invalid')."""

    width: int
    height: int
    hfov_deg: float
    min_depth_m: float
    max_depth_m: float
    tilt_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise DepthbenchError(f"depth image size must be positive, got {self.width}x{self.height}")
        if not 0 < self.hfov_deg < 180:
            raise DepthbenchError(f"camera hfov_deg must be in (0, 180), got {self.hfov_deg}")
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise DepthbenchError(f"need 0 <= min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}")

    @property
    def focal_px(self) -> float:
        return (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)


def camera_ray_directions(spec: CameraSpec) -> np.ndarray:
    """(H*W, 3) float32 body-frame directions of pixel centres, row-major, optical-axis component 1."""
    f = spec.focal_px
    u = np.arange(spec.width) + 0.5 - spec.width / 2
    v = np.arange(spec.height) + 0.5 - spec.height / 2
    vv, uu = np.meshgrid(v, u, indexing="ij")
    cam = np.stack([np.ones_like(uu), -uu / f, -vv / f], axis=-1).reshape(-1, 3)  # right = -y, down = -z
    pitch = math.radians(-spec.tilt_deg)  # rotation about +y (left): positive pitch tilts the axis downwards
    rot = np.array([[math.cos(pitch), 0, math.sin(pitch)], [0, 1, 0], [-math.sin(pitch), 0, math.cos(pitch)]])
    return (cam @ rot.T).astype(np.float32)


class World:
    """The scenes of one task in one Embree scene; agents address their scene by index and local coordinates."""

    def __init__(self, scenes: Sequence[Scene], camera: CameraSpec, *, threads: int = 1) -> None:
        self.scenes = list(scenes)
        # Embree releases the GIL, so the step's batch of rays is split across a few threads (one per core); the
        # calling thread casts one share itself (measured faster than waiting on a pool of `threads` workers).
        self.threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        self.camera = camera
        self.directions_body = camera_ray_directions(camera)
        # Longest ray (in metres) that can still return a valid depth, plus a margin: the gap between scenes.
        reach = camera.max_depth_m * float(np.linalg.norm(self.directions_body, axis=1).max())
        offsets, cursor = [], 0.0
        vertices, faces, base = [], [], 0
        for scene in self.scenes:
            lo, hi = scene.mesh.bounds
            offsets.append(np.array([cursor - lo[0], 0.0, 0.0]))
            vertices.append(np.asarray(scene.mesh.vertices) + offsets[-1])
            faces.append(np.asarray(scene.mesh.faces) + base)
            base += len(scene.mesh.vertices)
            cursor += (hi[0] - lo[0]) + reach + 1.0
        self.offsets = np.stack(offsets)
        self._embree = rtcore_scene.EmbreeScene()
        TriangleMesh(self._embree, np.concatenate(vertices).astype(np.float32), np.concatenate(faces).astype(np.int32))

    def render(self, scene_index: np.ndarray, camera_position: np.ndarray, yaw: np.ndarray) -> np.ndarray:
        """Planar depth (N, H, W) float32 in metres for cameras at local positions (N, 3) with yaw (N,) in rad."""
        n = len(scene_index)
        origins = (camera_position + self.offsets[scene_index]).astype(np.float32)
        c, s = np.cos(yaw).astype(np.float32), np.sin(yaw).astype(np.float32)
        out = np.empty((n, len(self.directions_body)), np.float32)
        bounds = np.linspace(0, n, min(self.threads, n) + 1).astype(int)
        envs = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        helpers = [self._pool.submit(self._cast, origins, c, s, out, part) for part in envs[1:]] if self._pool else []
        self._cast(origins, c, s, out, envs[0])
        for job in helpers:
            job.result()
        return out.reshape(n, self.camera.height, self.camera.width)

    def _cast(self, origins: np.ndarray, c: np.ndarray, s: np.ndarray, out: np.ndarray, envs: slice) -> None:
        """Rays of environments `envs` (one Embree query; numpy and Embree release the GIL, so chunks overlap)."""
        m, p = envs.stop - envs.start, len(self.directions_body)
        body = self.directions_body
        directions = np.empty((m, p, 3), np.float32)
        directions[:, :, 0] = c[envs, None] * body[:, 0] - s[envs, None] * body[:, 1]
        directions[:, :, 1] = s[envs, None] * body[:, 0] + c[envs, None] * body[:, 1]
        directions[:, :, 2] = body[:, 2]
        ray_origins = np.broadcast_to(origins[envs, None, :], (m, p, 3)).reshape(-1, 3)
        far = self.camera.max_depth_m
        dists = np.full(m * p, far, np.float32)  # range limit on t (= planar depth)
        # DISTANCE returns only t (misses keep the limit): cheaper than the full hit record.
        depth = self._embree.run(ray_origins, directions.reshape(-1, 3), dists=dists, query="DISTANCE")
        valid = (depth < far) & (depth >= self.camera.min_depth_m)
        out[envs] = np.where(valid, depth, np.float32(0.0)).reshape(m, p)


def render_naive(
    meshes: Sequence[trimesh.Trimesh],
    camera: CameraSpec,
    scene_index: np.ndarray,
    camera_position: np.ndarray,
    yaw: np.ndarray,
) -> np.ndarray:
    """Reference renderer: one trimesh ray query per environment (what a straightforward port would do).

    Used by `depthbench bench env` as the baseline the batched `World.render` is compared with.
    """
    body = camera_ray_directions(camera).astype(np.float64)
    unit = body / np.linalg.norm(body, axis=1, keepdims=True)
    axis = camera_ray_directions(CameraSpec(1, 1, 90.0, 0.0, 1.0, camera.tilt_deg))[0]  # optical axis, body frame
    out = np.zeros((len(scene_index), camera.height * camera.width), np.float32)
    for i, (k, position, angle) in enumerate(zip(scene_index, camera_position, yaw, strict=True)):
        rot = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
        dirs = unit @ rot.T
        origins = np.repeat(position[None], len(dirs), axis=0)
        locations, ray_index, _ = meshes[k].ray.intersects_location(origins, dirs, multiple_hits=False)
        depth = (locations - position) @ (rot @ axis)
        keep = (depth >= camera.min_depth_m) & (depth <= camera.max_depth_m)
        out[i, ray_index[keep]] = depth[keep]
    return out.reshape(len(scene_index), camera.height, camera.width)
