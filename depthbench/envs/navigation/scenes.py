"""Scenes as triangle meshes in depthbench's navigation frame, and the conversion from Habitat's frame.

Frames. depthbench navigates in a Z-up frame: x, y span the floor, z points up, yaw is counter-clockwise from +x.
Habitat scenes (Gibson, HM3D, MP3D `.glb`) and PointNav episode files are Y-up with the agent looking along -Z
(habitat-sim's default agent frame). A point maps as (x, y, z)_habitat -> (x, -z, y)_depthbench, a proper rotation of
+90 degrees about x. Every mesh, start/goal position and rotation read from Habitat data goes through the functions
here, and every file written goes back through them, so episode files stay valid for habitat-lab.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from depthbench.errors import DepthbenchError

# (x, y, z)_habitat -> (x, -z, y)_depthbench
HABITAT_TO_NAV = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
PROCEDURAL_SCHEME = "procedural://"
HABITAT_SCENE_PREFIX = "data/scene_datasets/"


@dataclass
class Scene:
    """One scene: a triangle mesh in the Z-up navigation frame and the floor height agents stand on."""

    scene_id: str
    mesh: trimesh.Trimesh
    floor_z: float = 0.0
    # Free-form facts about generated scenes (size class, family) reported with episodes.
    info: dict = field(default_factory=dict)


def habitat_to_nav_position(position: np.ndarray) -> np.ndarray:
    """Habitat (Y-up) positions (..., 3) to navigation-frame (Z-up) positions."""
    return np.asarray(position, dtype=np.float64) @ HABITAT_TO_NAV.T


def nav_to_habitat_position(position: np.ndarray) -> np.ndarray:
    """Navigation-frame positions (..., 3) back to Habitat's Y-up frame."""
    return np.asarray(position, dtype=np.float64) @ HABITAT_TO_NAV


def habitat_quaternion_to_yaw(quaternion_xyzw: np.ndarray) -> np.ndarray:
    """Habitat agent rotations [x, y, z, w] (..., 4) to navigation-frame yaw (rad) of the agent's forward axis."""
    q = np.asarray(quaternion_xyzw, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    # Forward is -Z in habitat-sim's agent frame: rotate (0, 0, -1) by q (standard quaternion rotation formula).
    forward_h = np.stack([-(2 * (x * z + w * y)), -(2 * (y * z - w * x)), -(1 - 2 * (x * x + y * y))], axis=-1)
    forward = habitat_to_nav_position(forward_h)
    return np.arctan2(forward[..., 1], forward[..., 0])


def yaw_to_habitat_quaternion(yaw: np.ndarray) -> np.ndarray:
    """Navigation-frame yaw to Habitat's rotation about +Y, [0, sin(a/2), 0, cos(a/2)] as habitat-lab writes it."""
    # forward (cos yaw, sin yaw, 0)_nav = (-sin a, 0, -cos a)_habitat  =>  a = yaw - pi/2
    a = np.asarray(yaw, dtype=np.float64) - math.pi / 2
    return np.stack([np.zeros_like(a), np.sin(a / 2), np.zeros_like(a), np.cos(a / 2)], axis=-1)


def load_scene_file(path: str | Path, *, y_up: bool = True) -> trimesh.Trimesh:
    """Load a `.glb`/`.gltf`/`.ply`/`.obj` mesh as one Trimesh in the navigation frame (Y-up files are rotated)."""
    path = Path(path)
    if not path.is_file():
        raise DepthbenchError(f"scene file not found: {path}; check the scene path or `scenes.scene_dir` in the config")
    if path.suffix.lower() not in (".glb", ".gltf", ".ply", ".obj"):
        raise DepthbenchError(f"scene file {path} has unsupported type '{path.suffix}'; use .glb, .gltf, .ply or .obj")
    try:
        # Geometry only: textures are not needed for depth (and HM3D's Basis-compressed ones would not decode).
        loaded = trimesh.load(path, force="mesh", process=False, skip_materials=True)
    except Exception as exc:  # trimesh raises many types for corrupt files
        raise DepthbenchError(f"could not read scene file {path}: {exc}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise DepthbenchError(f"scene file {path} holds no triangles")
    mesh = trimesh.Trimesh(vertices=np.asarray(loaded.vertices), faces=np.asarray(loaded.faces), process=False)
    if y_up:
        transform = np.eye(4)
        transform[:3, :3] = HABITAT_TO_NAV
        mesh.apply_transform(transform)
    return mesh


def resolve_scene(scene_id: str, *, scene_dir: str | Path | None = None, floor_z: float = 0.0) -> Scene:
    """A Scene from an episode's scene_id: `procedural://...` ids are regenerated, anything else is a mesh file.

    Relative file ids are looked up under `scene_dir` (as habitat-lab's `dataset.scenes_dir`), else the working
    directory.
    """
    if scene_id.startswith(PROCEDURAL_SCHEME):
        from depthbench.envs.navigation.procedural import scene_from_id

        return scene_from_id(scene_id)
    path = Path(scene_id)
    if not path.is_absolute() and scene_dir is not None:
        # habitat-lab PointNavDatasetV1: ids start with "data/scene_datasets/", replaced by dataset.scenes_dir
        relative = scene_id[len(HABITAT_SCENE_PREFIX) :] if scene_id.startswith(HABITAT_SCENE_PREFIX) else scene_id
        path = Path(scene_dir) / relative
    return Scene(scene_id=scene_id, mesh=load_scene_file(path), floor_z=floor_z)


def detect_floor_z(mesh: trimesh.Trimesh, bin_m: float = 0.1) -> float:
    """Height of the largest upward-facing area (the main floor of a one-storey scan), in the navigation frame."""
    up = mesh.face_normals[:, 2] > 0.9
    if not up.any():
        raise DepthbenchError("scene has no upward-facing surfaces to stand on; is it Y-up? (pass the floor height)")
    z = mesh.triangles_center[up, 2]
    area = mesh.area_faces[up]
    bins = np.floor(z / bin_m).astype(int)
    best = np.bincount(bins - bins.min(), weights=area).argmax() + bins.min()
    in_bin = bins == best
    return float(np.average(z[in_bin], weights=area[in_bin]))
