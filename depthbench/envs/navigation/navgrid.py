"""Navigable space as a 2-D grid built from the scene mesh, and geodesic distance fields by fast marching.

This stands in for habitat-sim's Recast navmesh (same agent parameters: radius, height, max climb, max slope; Habitat's
default cell size 0.05 m). A cell is walkable when a downward ray from body height finds flat ground within `max_climb`
of the floor and the agent's disc, centred on the cell centre, touches no geometry below body height: the clearance of
a cell is the exact Euclidean distance from its centre to the horizontal mesh sections (every 5 cm), so obstacles are
not inflated beyond the agent radius by the grid. Geodesic distance to a goal is the fast-marching solution
(scikit-fmm, second order) of |grad T| = 1 from the goal point, over the navigable cells plus a margin of at most one
cell towards the obstacles, which puts the front's effective wall on the agent-radius contour (see `marching_domain`
and docs/geodesic.md: within 1% of the exact disc-agent shortest path at the default cell).

Grids of all scenes of a task are packed into flat arrays (`GridAtlas`) and geodesic fields into fixed-size slots
(`FieldCache`), so per-step lookups for N agents in N different scenes are single vectorized numpy gathers.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import skfmm
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh
from scipy import ndimage
from scipy.spatial import cKDTree
from trimesh import intersections

from depthbench.envs.navigation.scenes import Scene
from depthbench.errors import DepthbenchError


@dataclass(frozen=True)
class AgentShape:
    """Navmesh agent parameters (habitat-sim NavMeshSettings: agent_radius, agent_height, agent_max_climb,
    agent_max_slope; cell_size 0.05 m is its default)."""

    radius_m: float
    height_m: float
    max_climb_m: float = 0.2
    max_slope_deg: float = 45.0
    cell_size_m: float = 0.05


def scan_scene(scene: Scene, cell: float, top_m: float, max_climb_m: float, max_slope_deg: float) -> dict:
    """Ground and obstacle geometry of a scene on a grid (the navmesh's voxelization step).

    Returns origin, cell, shape, `ground` (a flat surface within max_climb of the floor, found by a downward ray from
    just above climb height), `roof_m` (height above the floor, up to `top_m`, of the first geometry a downward ray from
    `top_m` meets at each cell centre, inf if none: thin horizontal parts such as table tops between sections) and the
    obstacle outlines, from horizontal mesh sections every 5 cm (walls are thin and vertical rays miss them), as points
    every cell/4 along them: `section_xy` (P, 2), `section_segment` (P, 2, 2) the section segment of each point and
    `section_height_m` (P,) its section's height. A vertical wall's sections repeat at every height, so only the lowest
    point in each cell/4 bin is kept; geometry that changes within a bin over height (slopes) is then resolved to a bin.
    """
    lo, hi = scene.mesh.bounds
    origin = np.array([lo[0] - cell, lo[1] - cell])
    nx = int(math.ceil((hi[0] - lo[0]) / cell)) + 2
    ny = int(math.ceil((hi[1] - lo[1]) / cell)) + 2
    floor = scene.floor_z
    gx, gy = np.meshgrid(origin[0] + (np.arange(nx) + 0.5) * cell, origin[1] + (np.arange(ny) + 0.5) * cell)
    n = gx.size
    embree = rtcore_scene.EmbreeScene()
    TriangleMesh(embree, scene.mesh.vertices.astype(np.float32), scene.mesh.faces.astype(np.int32))
    down = np.tile(np.array([0, 0, -1], np.float32), (n, 1))

    def cast_down(from_m: float, reach_m: float) -> dict:
        origins = np.stack([gx.ravel(), gy.ravel(), np.full(n, floor + from_m)], 1).astype(np.float32)
        return embree.run(origins, down, dists=np.full(n, reach_m, np.float32), output=1)

    hit = cast_down(max_climb_m + 0.01, 2 * max_climb_m + 0.01)
    normal = hit["Ng"] / np.maximum(np.linalg.norm(hit["Ng"], axis=1, keepdims=True), 1e-12)
    flat = np.abs(normal[:, 2]) >= math.cos(math.radians(max_slope_deg))
    ground = (hit["primID"] >= 0) & flat

    roof = np.full(n, np.inf)
    top = cast_down(top_m, top_m - max_climb_m)
    seen = top["primID"] >= 0
    roof[seen] = top_m - top["tfar"][seen]
    heights = np.arange(max_climb_m + 0.02, top_m, 0.05)
    sections = intersections.mesh_multiplane(scene.mesh, [0, 0, floor], [0, 0, 1], heights)[0]
    spacing = cell / 4
    kept = [(h, seg[:, :, :2]) for h, seg in zip(heights, sections, strict=True) if len(seg)]
    segments = np.concatenate([seg for _, seg in kept]) if kept else np.zeros((0, 2, 2))
    segment_height = np.concatenate([np.full(len(seg), h) for h, seg in kept]) if kept else np.zeros(0)
    xy, owner = _sample_segments(segments, spacing)  # heights ascend: lower sections' points come first
    bins = np.floor((xy - origin) / spacing).astype(np.int64)
    _, first = np.unique(bins[:, 1] * (4 * nx + 1) + bins[:, 0], return_index=True)
    owner = owner[first]
    return {
        "origin": origin,
        "cell": cell,
        "ground": ground.reshape(ny, nx),
        "roof_m": roof.reshape(ny, nx),
        "section_xy": xy[first],
        "section_segment": segments[owner],
        "section_height_m": segment_height[owner],
    }


def _sample_segments(segments: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along 2-D segments (S, 2, 2), both ends included, at most `spacing` apart, and their segment index."""
    length = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    count = np.maximum(np.ceil(length / spacing).astype(int), 1) + 1
    seg = np.repeat(np.arange(len(segments)), count)
    t = (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)) / np.repeat(count - 1, count)
    return segments[seg, 0] + (segments[seg, 1] - segments[seg, 0]) * t[:, None], seg


def _segment_distance_m(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance from points (P, 2) to segments (P, 2, 2), pairwise."""
    a, ab = segments[:, 0], segments[:, 1] - segments[:, 0]
    t = np.clip(((points - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-18), 0.0, 1.0)
    return np.linalg.norm(points - a - ab * t[:, None], axis=1)


def _edge_distance_m(free: np.ndarray, cell: float) -> np.ndarray:
    """Distance (m) from each free cell centre to the edge of the nearest blocked cell (0 or less when blocked), for
    obstacles known only at cell centres (missing ground, roof hits): unbiased for a wall anywhere inside a cell."""
    if free.all():
        return np.full(free.shape, np.inf)
    return (ndimage.distance_transform_edt(free) - 0.5) * cell


def clearance_m(scan: dict, heights_m: Sequence[float], reach_m: float) -> np.ndarray:
    """(K, ny, nx) distance (m) from each cell centre to the nearest geometry below each of the sorted `heights_m`.

    Exact Euclidean distance to the mesh sections for every cell up to `reach_m` from them (the nearest section point
    by k-d tree, then the distance to that point's segment: exact unless another segment is within a point spacing,
    cell/4, and then off by at most (cell/8)^2 / (2 x distance), 0.1 mm at 10 cm); farther cells get a lower bound that
    is above `reach_m`, so `clearance >= radius` is exact for any radius up to `reach_m`. Missing ground and roof hits
    are known only at cell centres and count as blocking from the nearest such cell's edge. Cells inside a solid
    obstacle measure to its outline (their islands are separate, as habitat-sim's navmesh islands on furniture tops).
    Heights are processed incrementally: each adds only the outline points first seen below it.
    """
    cell, origin, ground = scan["cell"], scan["origin"], scan["ground"]
    ny, nx = ground.shape
    xy, owner, point_height = scan["section_xy"], scan["section_segment"], scan["section_height_m"]
    centres = np.stack(
        np.meshgrid(origin[0] + (np.arange(nx) + 0.5) * cell, origin[1] + (np.arange(ny) + 0.5) * cell), -1
    )
    sections = np.full((ny, nx), np.inf)
    out = np.empty((len(heights_m), ny, nx))
    below = 0.0
    for k, height in enumerate(heights_m):
        added = (point_height < height) & ((point_height >= below) if k else True)
        new, below = xy[added], height
        if len(new):
            ij = np.floor((new - origin) / cell).astype(np.int64)
            hit = np.zeros((ny, nx), bool)
            hit[np.clip(ij[:, 1], 0, ny - 1), np.clip(ij[:, 0], 0, nx - 1)] = True
            # Distance to the nearest touched cell's centre is within half a diagonal of the true distance.
            approx = ndimage.distance_transform_edt(~hit) * cell
            near = approx <= reach_m + cell
            exact = approx - cell * math.sqrt(0.5)
            nearest = cKDTree(new).query(centres[near])[1]
            exact[near] = _segment_distance_m(centres[near], owner[added][nearest])
            sections = np.minimum(sections, exact)
        free = ground & (scan["roof_m"] >= height)
        out[k] = np.minimum(sections, _edge_distance_m(free, cell))
    return out


def marching_domain(clearance: np.ndarray, radius_m: float, cell: float) -> np.ndarray:
    """Cells fast marching runs on: the navigable cells (clearance >= radius) and a margin of cells closer to the
    obstacles, up to one cell, that lie next to the agent's free space.

    Why: scikit-fmm treats masked cells as absent, so a front running along the last unmasked cells behaves as if the
    wall were about one cell further in; a path wrapping a corner of the radius-r contour then comes out longer by
    about (turning angle) x (cell) -- the inflation this module had. With the margin the effective wall sits on the
    contour (measured bias below 0.2%, docs/geodesic.md). A margin cell is kept only when stepping from its centre
    along the clearance gradient to clearance r reaches free space (bilinear clearance >= r there): in a gap narrower
    than 2r that step runs into the opposite side, so such gaps stay shut. The margin is at most r - 0.6 cell, which
    keeps margin cells on the two sides of a zero-thickness wall more than a cell apart (no leak through walls).
    """
    navigable = clearance >= radius_m
    margin_m = float(np.clip(radius_m - 0.6 * cell, 0.0, cell))
    iy, ix = np.nonzero((clearance >= radius_m - margin_m) & ~navigable)
    gy, gx = np.gradient(clearance)
    norm = np.maximum(np.hypot(gx[iy, ix], gy[iy, ix]), 1e-9)
    step_cells = (radius_m - clearance[iy, ix] + 0.25 * cell) / cell / norm
    probe = [iy + gy[iy, ix] * step_cells, ix + gx[iy, ix] * step_cells]
    reaches = ndimage.map_coordinates(clearance, probe, order=1, mode="nearest") >= radius_m
    domain = navigable.copy()
    domain[iy[reaches], ix[reaches]] = True
    return domain


class NavGrid:
    """Navigable cells of one scene at its floor height; cell (iy, ix) has centre origin + (ix + .5, iy + .5) * cell.

    `domain` (default: the navigable cells) is where fast marching runs; see `marching_domain`. `margin_m` is a signed
    distance (m) to the navigable boundary at cell centres, positive inside: clearance - radius for grids built from a
    clearance map, else half a cell either side of the cell mask's edges. Agents move where its bilinear interpolation
    is >= 0 (`GridAtlas.is_navigable`): the disc agent's exact free space, to within a few mm at corners."""

    def __init__(
        self,
        origin: np.ndarray,
        cell: float,
        navigable: np.ndarray,
        domain: np.ndarray | None = None,
        margin_m: np.ndarray | None = None,
    ) -> None:
        self.origin, self.cell, self.navigable = np.asarray(origin, float), float(cell), navigable
        self.domain = navigable if domain is None else domain | navigable
        if margin_m is None:
            signed = ndimage.distance_transform_edt(navigable) - ndimage.distance_transform_edt(~navigable)
            margin_m = signed * (cell / 2)
        self.margin_m = margin_m.astype(np.float32)
        self.ny, self.nx = navigable.shape
        self.islands, self.num_islands = ndimage.label(self.navigable)
        # Island radius as habitat-sim's island_radius: extent of the island around its centre.
        self.island_radius_m = np.zeros(self.num_islands + 1)
        if self.num_islands:
            iy, ix = np.nonzero(self.navigable)
            labels = self.islands[iy, ix]
            count = np.bincount(labels, minlength=self.num_islands + 1)
            cx = np.bincount(labels, ix, self.num_islands + 1) / np.maximum(count, 1)
            cy = np.bincount(labels, iy, self.num_islands + 1) / np.maximum(count, 1)
            dist = np.hypot(ix - cx[labels], iy - cy[labels]) * cell
            np.maximum.at(self.island_radius_m, labels, dist)
        # Nearest navigable cell of every cell (to snap positions), and nearest marching cell (to extend geodesic
        # fields smoothly past the boundary).
        _, self._nearest = ndimage.distance_transform_edt(~self.navigable, return_indices=True)
        if self.domain is self.navigable:
            self._nearest_domain = self._nearest
        else:
            _, self._nearest_domain = ndimage.distance_transform_edt(~self.domain, return_indices=True)

    @classmethod
    def from_clearance(cls, origin: np.ndarray, cell: float, clearance: np.ndarray, radius_m: float) -> NavGrid:
        """Cells whose centre has clearance >= radius_m (clearance in m, e.g. from `clearance_m`)."""
        navigable = clearance >= radius_m
        return cls(origin, cell, navigable, marching_domain(clearance, radius_m, cell), clearance - radius_m)

    @functools.cached_property
    def normal(self) -> np.ndarray:
        """(2, ny, nx) unit normals of the navigable boundary pointing into navigable space (for sliding)."""
        gy, gx = np.gradient(self.margin_m)
        norm = np.maximum(np.hypot(gx, gy), 1e-9)
        return np.stack([gx / norm, gy / norm]).astype(np.float32)

    @classmethod
    def from_scene(cls, scene: Scene, agent: AgentShape) -> NavGrid:
        """Walkable ground where the agent's disc touches no geometry below its height."""
        scan = scan_scene(scene, agent.cell_size_m, agent.height_m, agent.max_climb_m, agent.max_slope_deg)
        # Exact clearance is needed up to the probes of `marching_domain` (radius + a quarter cell, interpolated).
        clearance = clearance_m(scan, [agent.height_m], agent.radius_m + 2 * agent.cell_size_m)[0]
        return cls.from_clearance(scan["origin"], agent.cell_size_m, clearance, agent.radius_m)

    def cell_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ij = np.floor((np.asarray(xy)[..., :2] - self.origin) / self.cell).astype(int)
        return np.clip(ij[..., 1], 0, self.ny - 1), np.clip(ij[..., 0], 0, self.nx - 1)

    def is_navigable(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy)
        ij = np.floor((xy[..., :2] - self.origin) / self.cell).astype(int)
        inside = (ij[..., 0] >= 0) & (ij[..., 0] < self.nx) & (ij[..., 1] >= 0) & (ij[..., 1] < self.ny)
        iy, ix = self.cell_of(xy)
        return inside & self.navigable[iy, ix]

    def nearest_navigable(self, xy: np.ndarray) -> np.ndarray:
        """xy itself when navigable, else the centre of the nearest navigable cell."""
        xy = np.asarray(xy, float)[:2]
        if self.is_navigable(xy):
            return xy
        iy, ix = self.cell_of(xy)
        near_y, near_x = self._nearest[:, iy, ix]
        return self.origin + (np.array([near_x, near_y]) + 0.5) * self.cell

    def island_of(self, xy: np.ndarray) -> np.ndarray:
        iy, ix = self.cell_of(xy)
        return np.where(self.is_navigable(xy), self.islands[iy, ix], 0)

    def cell_centres(self, flat_index: np.ndarray) -> np.ndarray:
        iy, ix = np.divmod(flat_index, self.nx)
        return self.origin + (np.stack([ix, iy], -1) + 0.5) * self.cell

    def geodesic_field(self, goal_xy: np.ndarray) -> np.ndarray:
        """(ny, nx) float32 geodesic distance (m) to the point `goal_xy` by fast marching; inf where unreachable.

        The goal is a point source: cells within a cell of it hold their exact Euclidean distance, and fast marching
        starts from that circle (scikit-fmm places a zero contour of a signed distance at sub-cell accuracy). Cells
        outside the marching domain get the value of their nearest domain cell plus the distance to it, so bilinear
        lookups next to walls stay smooth.
        """
        goal_xy = np.asarray(goal_xy, float)[:2]
        if not self.is_navigable(goal_xy):
            raise DepthbenchError(
                f"goal {goal_xy.round(3).tolist()} is not on the navigable area of this scene; "
                "move the goal onto the floor away from obstacles (agent radius) or regenerate the episode"
            )
        xs = self.origin[0] + (np.arange(self.nx) + 0.5) * self.cell
        ys = self.origin[1] + (np.arange(self.ny) + 0.5) * self.cell
        euclid = np.hypot(xs[None, :] - goal_xy[0], ys[:, None] - goal_xy[1])
        seed_radius = self.cell  # at least one cell centre lies inside; values there are exact Euclidean distances
        phi = np.ma.MaskedArray(euclid - seed_radius, mask=~self.domain)
        travel = skfmm.distance(phi, dx=self.cell, order=2)
        field = np.ma.filled(travel, np.inf) + seed_radius
        seed = self.domain & (euclid <= seed_radius)
        field[seed] = euclid[seed]
        # Reachability is the agent's: navigable cells of other islands are unreachable whatever the margin joined.
        island = self.islands[self.cell_of(goal_xy)]
        field[self.navigable & (self.islands != island)] = np.inf
        near_y, near_x = self._nearest_domain
        extra = np.hypot(near_x - np.arange(self.nx)[None, :], near_y - np.arange(self.ny)[:, None]) * self.cell
        return (field[near_y, near_x] + extra).astype(np.float32)


class GridAtlas:
    """Several NavGrids (same cell size) packed flat, for vectorized queries by (grid index, position)."""

    def __init__(self, grids: Sequence[NavGrid]) -> None:
        self.grids = list(grids)
        self.cell = self.grids[0].cell
        self.origin = np.stack([g.origin for g in self.grids])
        self.shape = np.array([[g.ny, g.nx] for g in self.grids])
        sizes = self.shape.prod(1)
        self.offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.max_cells = int(sizes.max())
        self.margin_m = np.concatenate([g.margin_m.ravel() for g in self.grids])
        self.normal = np.concatenate([g.normal.reshape(2, -1) for g in self.grids], axis=1)

    def flat_index(self, grid: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index into the packed arrays of the cell containing xy (..., 2), and whether xy is inside the grid.

        `grid` broadcasts against xy.shape[:-1] (e.g. (N, 1) for N agents' K points): per-grid values are looked up
        at grid's own shape and broadcast afterwards, which keeps a step's (N, K) queries cheap."""
        g = np.asarray(grid)
        rel = (xy - self.origin[g]) / self.cell
        ix, iy = np.floor(rel[..., 0]).astype(np.int64), np.floor(rel[..., 1]).astype(np.int64)
        ny, nx = self.shape[g, 0], self.shape[g, 1]
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        local = np.minimum(np.maximum(iy, 0), ny - 1) * nx + np.minimum(np.maximum(ix, 0), nx - 1)
        return self.offset[g] + local, inside

    def bilinear(self, grid: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, ...]:
        """Packed indices of the 4 cell centres around xy (..., 2) (flat index of the lower-left one, row length) and
        the weights fx, fy of the right and upper ones (clamped at the grid's border); `grid` as in flat_index."""
        g = np.asarray(grid)
        rel = (xy - self.origin[g]) / self.cell - 0.5
        ny, nx = self.shape[g, 0], self.shape[g, 1]
        ix = np.minimum(np.maximum(np.floor(rel[..., 0]).astype(np.int64), 0), nx - 2)
        iy = np.minimum(np.maximum(np.floor(rel[..., 1]).astype(np.int64), 0), ny - 2)
        fx = np.minimum(np.maximum(rel[..., 0] - ix, 0.0), 1.0)
        fy = np.minimum(np.maximum(rel[..., 1] - iy, 0.0), 1.0)
        return iy * nx + ix, nx, fx, fy

    def is_navigable(self, grid: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Whether the agent fits at xy: bilinear margin_m >= 0, inside the grid."""
        _, inside = self.flat_index(grid, xy)
        base, nx, fx, fy = self.bilinear(grid, xy)
        offset = self.offset[np.asarray(grid)]
        return inside & (_blend(lambda i: self.margin_m[offset + i], base, nx, fx, fy) >= 0)

    def normal_at(self, grid: np.ndarray, xy: np.ndarray) -> np.ndarray:
        index, _ = self.flat_index(grid, xy)
        return self.normal[:, index].T


class FieldCache:
    """Least-recently-used slots of geodesic fields, one per (episode key), sampled by bilinear interpolation."""

    def __init__(self, atlas: GridAtlas, capacity: int) -> None:
        self.atlas = atlas
        self.capacity = capacity
        self.values = np.zeros((capacity, atlas.max_cells), np.float32)
        self._slots: OrderedDict[object, int] = OrderedDict()

    def put(self, key: object, grid: int, field: np.ndarray, *, in_use: set[int] | frozenset = frozenset()) -> int:
        if key in self._slots:
            self._slots.move_to_end(key)
            return self._slots[key]
        if len(self._slots) < self.capacity:
            slot = len(self._slots)
        else:
            victim = next((k for k, s in self._slots.items() if s not in in_use), None)
            if victim is None:
                raise DepthbenchError(f"geodesic field cache of {self.capacity} is too small; raise field_cache_size")
            slot = self._slots.pop(victim)
        self.values[slot, : field.size] = field.ravel()
        self._slots[key] = slot
        return slot

    def get(self, key: object) -> int | None:
        slot = self._slots.get(key)
        if slot is not None:
            self._slots.move_to_end(key)
        return slot

    def sample(self, slot: np.ndarray, grid: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Bilinear geodesic distance (m) at xy (..., 2) from the fields in `slot` on grids `grid` (both broadcast
        against xy.shape[:-1], as in GridAtlas.flat_index)."""
        base, nx, fx, fy = self.atlas.bilinear(grid, xy)
        s = np.asarray(slot)
        return _blend(lambda i: self.values[s, i], base, nx, fx, fy)


def _blend(
    values: Callable[[np.ndarray], np.ndarray], base: np.ndarray, nx: np.ndarray, fx: np.ndarray, fy: np.ndarray
) -> np.ndarray:
    """Bilinear blend of values(index) at the 4 cell centres from GridAtlas.bilinear."""
    bottom = values(base) * (1 - fx) + values(base + 1) * fx
    top = values(base + nx) * (1 - fx) + values(base + nx + 1) * fx
    return bottom * (1 - fy) + top * fy
