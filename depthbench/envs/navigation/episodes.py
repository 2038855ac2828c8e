"""Habitat PointNav episodes: the dataset file format (PointNav-v1 `.json`/`.json.gz`) and habitat-lab's generator.

Files hold `{"episodes": [...]}` with habitat-lab's NavigationEpisode fields: episode_id (str), scene_id, start_position
[x, y, z] and start_rotation quaternion [x, y, z, w] in Habitat's Y-up frame, goals [{position, radius}],
info {geodesic_distance}, shortest_paths, start_room. Positions are converted to depthbench's Z-up frame only inside
`Episode` (see scenes.py), so files written here load in habitat-lab and Habitat's files load here.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthbench.envs.navigation.navgrid import NavGrid
from depthbench.envs.navigation.scenes import (
    habitat_quaternion_to_yaw,
    habitat_to_nav_position,
    nav_to_habitat_position,
    yaw_to_habitat_quaternion,
)
from depthbench.errors import DepthbenchError

# habitat-lab datasets/pointnav/pointnav_generator.py: islands smaller than this are not used for starts or goals.
ISLAND_RADIUS_LIMIT_M = 1.5


@dataclass
class Episode:
    """One PointNav episode in the navigation frame (Z-up); `goal_radius_m` is the file's goal radius."""

    episode_id: str
    scene_id: str
    start_xyz: np.ndarray
    start_yaw: float
    goal_xyz: np.ndarray
    goal_radius_m: float | None
    geodesic_distance_m: float

    def to_habitat(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "scene_id": self.scene_id,
            "start_position": [float(v) for v in nav_to_habitat_position(self.start_xyz)],
            "start_rotation": [float(v) for v in yaw_to_habitat_quaternion(self.start_yaw)],
            "info": {"geodesic_distance": float(self.geodesic_distance_m)},
            "goals": [
                {"position": [float(v) for v in nav_to_habitat_position(self.goal_xyz)], "radius": self.goal_radius_m}
            ],
            "shortest_paths": None,
            "start_room": None,
        }

    @classmethod
    def from_habitat(cls, raw: dict[str, Any], where: str) -> Episode:
        try:
            goal = raw["goals"][0]
            start = np.asarray(raw["start_position"], float)
            goal_pos = np.asarray(goal["position"], float)
            rotation = np.asarray(raw["start_rotation"], float)
            if start.shape != (3,) or goal_pos.shape != (3,) or rotation.shape != (4,):
                raise ValueError("start_position/goal position need 3 numbers, start_rotation 4 ([x, y, z, w])")
            info = raw.get("info") or {}
            return cls(
                episode_id=str(raw["episode_id"]),
                scene_id=str(raw["scene_id"]),
                start_xyz=habitat_to_nav_position(start),
                start_yaw=float(habitat_quaternion_to_yaw(rotation)),
                goal_xyz=habitat_to_nav_position(goal_pos),
                goal_radius_m=None if goal.get("radius") is None else float(goal["radius"]),
                geodesic_distance_m=float(info.get("geodesic_distance", math.nan)),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DepthbenchError(
                f"malformed PointNav episode {where}: {exc!r}; each episode needs episode_id, scene_id, "
                "start_position [x,y,z], start_rotation [x,y,z,w], goals [{position, radius}]"
            ) from None


def read_dataset(path: str | Path) -> list[Episode]:
    """Episodes of a Habitat PointNav-v1 file (`.json` or `.json.gz`)."""
    path = Path(path)
    if not path.is_file():
        raise DepthbenchError(f"episode file not found: {path}")
    try:
        raw_bytes = path.read_bytes()
        text = gzip.decompress(raw_bytes) if raw_bytes[:2] == b"\x1f\x8b" else raw_bytes
        data = json.loads(text)
    except (OSError, EOFError, ValueError) as exc:
        raise DepthbenchError(f"episode file {path} is not valid (gzipped) JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("episodes"), list):
        raise DepthbenchError(f"episode file {path} must hold a JSON object with an 'episodes' list (PointNav-v1)")
    if not data["episodes"]:
        content = sorted((path.parent / "content").glob("*.json*"))
        if content:  # habitat-lab PointNav-v1: an empty top-level file means one content file per scene
            return [episode for part in content for episode in read_dataset(part)]
        raise DepthbenchError(f"episode file {path} has no episodes (and no content/ folder beside it)")
    return [Episode.from_habitat(raw, f"#{i} in {path}") for i, raw in enumerate(data["episodes"])]


def write_dataset(path: str | Path, episodes: Sequence[Episode]) -> None:
    """Write a PointNav-v1 file atomically; gzip when the name ends in `.gz`, as habitat-lab's datasets are."""
    path = Path(path)
    payload = json.dumps({"episodes": [e.to_habitat() for e in episodes]}).encode()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


@dataclass(frozen=True)
class GeneratorRules:
    """habitat-lab generate_pointnav_episode defaults: geodesic distance in [1, 30] m, straight-line episodes
    (geodesic/euclidean < 1.1) kept only with probability 20 (ratio - 0.98)^2, 10 start samples per target."""

    closest_dist_limit_m: float = 1.0
    furthest_dist_limit_m: float = 30.0
    geodesic_to_euclid_min_ratio: float = 1.1
    number_retries_per_target: int = 10
    same_floor_tolerance_m: float = 0.5


def generate_episodes(
    grid: NavGrid,
    scene_id: str,
    floor_z: float,
    num_episodes: int,
    rng: np.random.Generator,
    *,
    goal_radius_m: float,
    rules: GeneratorRules = GeneratorRules(),
    first_id: int = 0,
) -> Iterator[tuple[Episode, np.ndarray]]:
    """Yield (episode, geodesic field of its goal) following habitat-lab's pointnav generator.

    Points are sampled uniformly over navigable cells (habitat-sim samples uniformly over navmesh area). Raises when
    the scene cannot supply episodes in the distance range (e.g. too small or no navigable area).
    """
    cells = np.flatnonzero(grid.navigable.ravel())
    if len(cells) == 0:
        raise DepthbenchError(f"scene {scene_id} has no navigable area for the agent; check the scene and floor height")
    made, attempts = 0, 0
    while made < num_episodes:
        attempts += 1
        if attempts > 200 * num_episodes + 1000:
            raise DepthbenchError(
                f"could not generate {num_episodes} episodes in scene {scene_id} with geodesic distance in "
                f"[{rules.closest_dist_limit_m}, {rules.furthest_dist_limit_m}] m; the scene may be too small"
            )
        cell_jitter = (rng.random(2) - 0.5) * grid.cell * 0.5
        target = grid.cell_centres(rng.choice(cells)) + cell_jitter
        if grid.island_radius_m[grid.island_of(target)] < ISLAND_RADIUS_LIMIT_M:
            continue
        field = None
        for _ in range(rules.number_retries_per_target):
            source = grid.cell_centres(rng.choice(cells)) + (rng.random(2) - 0.5) * grid.cell * 0.5
            # (Habitat also rejects starts on another floor: |dy| > 0.5 m; one floor per grid here.)
            euclid = float(np.linalg.norm(source - target))
            if grid.island_of(source) != grid.island_of(target) or euclid > rules.furthest_dist_limit_m:
                continue  # geodesic would be inf or > euclid > limit: same verdict, without fast marching
            if field is None:
                field = grid.geodesic_field(target)
            iy, ix = grid.cell_of(source)
            geodesic = float(field[iy, ix])
            if not (rules.closest_dist_limit_m <= geodesic <= rules.furthest_dist_limit_m):
                continue
            ratio = geodesic / max(euclid, 1e-9)
            if ratio < rules.geodesic_to_euclid_min_ratio and rng.random() > 20 * (ratio - 0.98) ** 2:
                continue
            if grid.island_radius_m[grid.island_of(source)] < ISLAND_RADIUS_LIMIT_M:
                continue
            yaw = rng.uniform(0, 2 * math.pi)
            episode = Episode(
                episode_id=str(first_id + made),
                scene_id=scene_id,
                start_xyz=np.array([source[0], source[1], floor_z]),
                start_yaw=float(yaw),
                goal_xyz=np.array([target[0], target[1], floor_z]),
                goal_radius_m=goal_radius_m,
                geodesic_distance_m=geodesic,
            )
            made += 1
            yield episode, field
            break
