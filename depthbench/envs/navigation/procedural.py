"""Seeded procedural scenes: indoor apartments for PointNav and outdoor-scale families for embodied navigation.

Hand-written because no maintained library generates navigable indoor layouts as plain meshes offline. A scene is
fully determined by its id, `procedural://<family>/<size>/<seed>`, so Habitat-format episode files can name it and
reload the identical mesh. Geometry: trimesh boxes and cylinders in the Z-up navigation frame, floor at z=0.
"""

from __future__ import annotations

import math

import numpy as np
import trimesh

from depthbench.envs.navigation.scenes import PROCEDURAL_SCHEME, Scene
from depthbench.errors import DepthbenchError

# Rooms per side of the apartment grid for each size class (rooms are 2.5-5 m wide).
INDOOR_SIZE_CLASSES = {"small": 2, "medium": 3, "large": 4}
# Embodied-navigation families: one training family and out-of-distribution ones (see `family_scene`).
EMBODIED_TRAIN_FAMILIES = ("mixed",)
EMBODIED_OOD_FAMILIES = ("warehouse", "forest", "corridors", "overhangs")
WALL_HEIGHT_M = 2.7
WALL_THICKNESS_M = 0.12
DOOR_HEIGHT_M = 2.1


def procedural_scene_id(family: str, size: str, seed: int) -> str:
    return f"{PROCEDURAL_SCHEME}{family}/{size}/{seed}"


def scene_from_id(scene_id: str) -> Scene:
    """Rebuild the scene a `procedural://family/size/seed` id names."""
    parts = scene_id[len(PROCEDURAL_SCHEME) :].split("/")
    if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
        raise DepthbenchError(f"bad procedural scene id '{scene_id}'; expected procedural://FAMILY/SIZE/SEED")
    family, size, seed = parts[0], parts[1], int(parts[2])
    if family == "indoor":
        return indoor_scene(size, seed)
    if family in EMBODIED_TRAIN_FAMILIES + EMBODIED_OOD_FAMILIES:
        return family_scene(family, seed, size=size)
    known = ", ".join(("indoor",) + EMBODIED_TRAIN_FAMILIES + EMBODIED_OOD_FAMILIES)
    raise DepthbenchError(f"unknown procedural scene family '{family}' in '{scene_id}'; known: {known}")


def _box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> trimesh.Trimesh:
    lo_a, hi_a = np.asarray(lo, float), np.asarray(hi, float)
    return trimesh.creation.box(bounds=np.stack([lo_a, hi_a]))


def _cylinder(x: float, y: float, radius: float, z0: float, z1: float) -> trimesh.Trimesh:
    return trimesh.creation.cylinder(radius=radius, segment=[[x, y, z0], [x, y, z1]], sections=12)


def _wall_x(y: float, x0: float, x1: float, doors: list[tuple[float, float]]) -> list[trimesh.Trimesh]:
    """A wall along x at height y from x0 to x1 with door gaps (lo, hi), a lintel above each door."""
    parts, cursor, t = [], x0, WALL_THICKNESS_M / 2
    for lo, hi in sorted(doors):
        if lo > cursor:
            parts.append(_box((cursor, y - t, 0), (lo, y + t, WALL_HEIGHT_M)))
        parts.append(_box((lo, y - t, DOOR_HEIGHT_M), (hi, y + t, WALL_HEIGHT_M)))
        cursor = hi
    if x1 > cursor:
        parts.append(_box((cursor, y - t, 0), (x1, y + t, WALL_HEIGHT_M)))
    return parts


def _wall_y(x: float, y0: float, y1: float, doors: list[tuple[float, float]]) -> list[trimesh.Trimesh]:
    swap = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)  # mirror x<->y
    parts = _wall_x(x, y0, y1, doors)
    for part in parts:
        part.apply_transform(swap)
        part.invert()  # the mirror flips winding; keep normals outward
    return parts


def _shell(width: float, depth: float) -> list[trimesh.Trimesh]:
    """Floor, ceiling and outer walls of a width x depth footprint with its corner at the origin."""
    t = WALL_THICKNESS_M
    return [
        _box((-t, -t, -0.1), (width + t, depth + t, 0.0)),
        _box((-t, -t, WALL_HEIGHT_M), (width + t, depth + t, WALL_HEIGHT_M + 0.1)),
        *_wall_x(0.0, -t, width + t, []),
        *_wall_x(depth, -t, width + t, []),
        *_wall_y(0.0, 0.0, depth, []),
        *_wall_y(width, 0.0, depth, []),
    ]


def _furniture(rng: np.random.Generator, x0: float, y0: float, x1: float, y1: float) -> list[trimesh.Trimesh]:
    """One piece inside the rectangle: a cabinet/sofa box, a table (top on legs: an overhang) or a cylinder."""
    kind = rng.choice(["box", "table", "cylinder"])
    if kind == "cylinder":
        radius = rng.uniform(0.15, 0.35)
        x, y = rng.uniform(x0 + radius, x1 - radius), rng.uniform(y0 + radius, y1 - radius)
        return [_cylinder(x, y, radius, 0.0, rng.uniform(0.4, 1.8))]
    sx, sy = rng.uniform(0.5, 1.6), rng.uniform(0.4, 1.0)
    if rng.random() < 0.5:
        sx, sy = sy, sx
    sx, sy = min(sx, x1 - x0), min(sy, y1 - y0)
    x, y = rng.uniform(x0, x1 - sx), rng.uniform(y0, y1 - sy)
    if kind == "box":
        return [_box((x, y, 0.0), (x + sx, y + sy, rng.uniform(0.4, 1.9)))]
    top, leg = rng.uniform(0.65, 0.8), 0.05
    parts = [_box((x, y, top - 0.04), (x + sx, y + sy, top))]
    for lx, ly in ((x, y), (x + sx - leg, y), (x, y + sy - leg), (x + sx - leg, y + sy - leg)):
        parts.append(_box((lx, ly, 0.0), (lx + leg, ly + leg, top - 0.04)))
    return parts


def indoor_scene(size: str, seed: int) -> Scene:
    """An apartment: a grid of rooms (one row may be a corridor), doors on a spanning tree plus extra loops,
    some open-plan merges, and furniture/clutter away from the doors."""
    if size not in INDOOR_SIZE_CLASSES:
        raise DepthbenchError(f"unknown indoor size class '{size}'; known: {', '.join(INDOOR_SIZE_CLASSES)}")
    rng = np.random.default_rng(seed)
    n = INDOOR_SIZE_CLASSES[size]
    col_w = rng.uniform(2.5, 5.0, size=n)
    row_h = rng.uniform(2.5, 5.0, size=n)
    if n >= 3:  # a corridor row
        row_h[rng.integers(n)] = rng.uniform(1.3, 1.8)
    xs, ys = np.concatenate([[0], np.cumsum(col_w)]), np.concatenate([[0], np.cumsum(row_h)])
    parts = _shell(xs[-1], ys[-1])

    # Interior edges between neighbouring cells; a random spanning tree gets doors, others doors w.p. 0.3.
    edges = [((i, j), (i + 1, j)) for i in range(n - 1) for j in range(n)]
    edges += [((i, j), (i, j + 1)) for i in range(n) for j in range(n - 1)]
    order = rng.permutation(len(edges))
    parent = {(i, j): (i, j) for i in range(n) for j in range(n)}

    def root(c: tuple[int, int]) -> tuple[int, int]:
        while parent[c] != c:
            c = parent[c]
        return c

    door_spans: list[tuple[float, float]] = []  # door centres, to keep furniture clear
    for k in order:
        a, b = edges[k]
        joined = root(a) != root(b)
        if joined:
            parent[root(a)] = root(b)
        vertical = b[0] == a[0] + 1  # wall along y at x = xs[b[0]]
        lo, hi = (ys[a[1]], ys[a[1] + 1]) if vertical else (xs[a[0]], xs[a[0] + 1])
        if joined and rng.random() < 0.15:
            continue  # open plan: no wall at all
        doors = []
        if joined or rng.random() < 0.3:
            width = min(rng.uniform(0.9, 1.2), hi - lo - 0.3)
            start = lo + 0.15 + rng.random() * max(0.0, hi - lo - 0.3 - width)
            doors.append((start, start + width))
            mid = start + width / 2
            door_spans.append((xs[b[0]], mid) if vertical else (mid, ys[b[1]]))
        parts += _wall_y(xs[b[0]], lo, hi, doors) if vertical else _wall_x(ys[b[1]], lo, hi, doors)

    for i in range(n):
        for j in range(n):
            x0, x1, y0, y1 = xs[i] + 0.1, xs[i + 1] - 0.1, ys[j] + 0.1, ys[j + 1] - 0.1
            if min(x1 - x0, y1 - y0) < 1.6:
                continue  # corridors stay clear
            placed = 0
            for _ in range(12):
                if placed >= rng.integers(1, 5):
                    break
                piece = _furniture(rng, x0, y0, x1, y1)
                lo, hi = trimesh.util.concatenate(piece).bounds[:, :2]
                if any(lo[0] - 0.8 < dx < hi[0] + 0.8 and lo[1] - 0.8 < dy < hi[1] + 0.8 for dx, dy in door_spans):
                    continue
                parts += piece
                placed += 1
    mesh = trimesh.util.concatenate(parts)
    return Scene(procedural_scene_id("indoor", size, seed), mesh, 0.0, {"family": "indoor", "size": size})


def family_scene(family: str, seed: int, *, size: str = "default") -> Scene:
    """An open arena (about 46 m square) for long-range embodied navigation, populated by family:

    - mixed (training): scattered boxes, pillars and a few low beams of every kind at moderate density;
    - warehouse: pillar grid and long shelf rows with aisles;
    - forest: dense thin trunks of varied radius;
    - corridors: a maze of narrow corridors (1.2-1.6 m wide, 0.9 m openings);
    - overhangs: beams and tables at 0.35-0.9 m that only short bodies pass under.
    """
    rng = np.random.default_rng(seed)
    side = 46.0
    parts = [_box((0, 0, -0.1), (side, side, 0.0))]
    t = WALL_THICKNESS_M
    parts += [*_wall_x(0.0, -t, side + t, []), *_wall_x(side, -t, side + t, [])]
    parts += [*_wall_y(0.0, 0.0, side, []), *_wall_y(side, 0.0, side, [])]

    def scatter(count: int, make: callable) -> None:  # type: ignore[valid-type]
        for x, y in rng.uniform(1.5, side - 1.5, size=(count, 2)):
            parts.extend(make(x, y))

    def beam(x: float, y: float, lo: float, hi: float) -> list[trimesh.Trimesh]:
        """A bar at height [lo, hi] on two posts at its ends: a low overhang."""
        length, angle = rng.uniform(1.5, 3.5), rng.uniform(0, math.pi)
        dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
        bar = _box((-length / 2, -0.1, lo), (length / 2, 0.1, hi))
        bar.apply_transform(trimesh.transformations.rotation_matrix(angle, [0, 0, 1]))
        bar.apply_translation([x, y, 0])
        return [bar, _cylinder(x - dx, y - dy, 0.06, 0, hi), _cylinder(x + dx, y + dy, 0.06, 0, hi)]

    if family == "mixed":
        size = lambda: rng.uniform(0.4, 2.0)  # noqa: E731
        scatter(60, lambda x, y: [_box((x, y, 0), (x + size(), y + size(), rng.uniform(0.3, 2)))])
        scatter(40, lambda x, y: [_cylinder(x, y, rng.uniform(0.1, 0.4), 0, 2.5)])
        scatter(15, lambda x, y: beam(x, y, rng.uniform(0.5, 1.0), rng.uniform(1.05, 1.2)))
    elif family == "warehouse":
        for x in np.arange(4.0, side - 2, 6.0):
            for y in np.arange(4.0, side - 2, 6.0):
                parts.append(_box((x - 0.25, y - 0.25, 0), (x + 0.25, y + 0.25, 6.0)))
        for y in np.arange(6.5, side - 4, 6.0):
            x = 3.0
            while x < side - 5:
                length = rng.uniform(3, 9)
                if rng.random() < 0.75:
                    parts.append(_box((x, y, 0), (x + length, y + 1.0, rng.uniform(1.8, 3.5))))
                x += length + rng.uniform(1.2, 3.0)
        scatter(40, lambda x, y: [_box((x, y, 0), (x + 1.2, y + 1.0, rng.uniform(0.5, 1.5)))])
    elif family == "forest":
        scatter(420, lambda x, y: [_cylinder(x, y, rng.uniform(0.08, 0.45), 0, rng.uniform(4, 9))])
    elif family == "corridors":
        cell = rng.uniform(1.4, 1.8)  # corridor width = cell - wall thickness
        n = int(side // cell)
        for i in range(1, n):
            for j in range(n):
                if rng.random() < 0.6:  # wall pieces along x and y with 0.9 m openings at junctions
                    parts.append(_box((i * cell - 0.1, j * cell, 0), (i * cell + 0.1, (j + 1) * cell - 0.9, 2.5)))
                if rng.random() < 0.6:
                    parts.append(_box((j * cell, i * cell - 0.1, 0), ((j + 1) * cell - 0.9, i * cell + 0.1, 2.5)))
    elif family == "overhangs":
        scatter(80, lambda x, y: beam(x, y, rng.uniform(0.35, 0.8), rng.uniform(0.85, 1.0)))
        scatter(30, lambda x, y: [_cylinder(x, y, rng.uniform(0.1, 0.3), 0, 2.5)])
    else:
        known = ", ".join(EMBODIED_TRAIN_FAMILIES + EMBODIED_OOD_FAMILIES)
        raise DepthbenchError(f"unknown embodied scene family '{family}'; known: {known}")
    mesh = trimesh.util.concatenate(parts)
    return Scene(procedural_scene_id(family, size, seed), mesh, 0.0, {"family": family})
