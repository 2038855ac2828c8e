"""`depthbench nav geodesic`: the navigation engine's geodesic distance against closed-form disc-agent shortest paths.

Scenes are rooms of 0.1 m thick, 2.5 m tall box walls. For a disc agent of radius r the free space is the complement
of the obstacles grown by r (their Minkowski sum with the disc), and the shortest path around convex obstacle corners
is a taut string: straight tangent segments joined by arcs of radius r about the corners it wraps. Its length is the
sum of the straight parts plus r times the total turning angle (`taut_path`). Each case is measured at several
sub-cell placements of the geometry relative to the grid (the floor slab, which fixes the grid, stays put), because
grid errors depend on where walls fall inside cells.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

WALL_M = 0.1  # wall thickness
WALL_HEIGHT_M = 2.5
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def taut_path(
    start: tuple[float, float],
    corners: list[tuple[float, float]],
    goal: tuple[float, float],
    radius_m: float,
    side: int,
) -> tuple[float, np.ndarray]:
    """Length (m) and polyline (K, 2) of the taut string from start to goal wrapping discs of `radius_m` about
    `corners` in order, the corners on the path's left (side=+1) or right (side=-1).

    Tangent from a point at distance d to a disc: sqrt(d^2 - r^2), leaving at asin(r/d) from the line to its centre;
    between equal discs on the same side: parallel to the line of centres, length = centre distance; the arcs add
    r times the heading change. Raises when the corners do not turn the path consistently towards `side`.
    """
    a, b = np.asarray(start, float), np.asarray(goal, float)
    c = [np.asarray(p, float) for p in corners]
    headings, length = [], 0.0
    d = float(np.linalg.norm(c[0] - a))
    headings.append(math.atan2(c[0][1] - a[1], c[0][0] - a[0]) - side * math.asin(radius_m / d))
    length += math.sqrt(d * d - radius_m**2)
    for p, q in zip(c[:-1], c[1:], strict=True):
        headings.append(math.atan2(q[1] - p[1], q[0] - p[0]))
        length += float(np.linalg.norm(q - p))
    d = float(np.linalg.norm(b - c[-1]))
    headings.append(math.atan2(b[1] - c[-1][1], b[0] - c[-1][0]) + side * math.asin(radius_m / d))
    length += math.sqrt(d * d - radius_m**2)
    points = [a]
    for k, centre in enumerate(c):
        turn = (headings[k + 1] - headings[k] + math.pi) % (2 * math.pi) - math.pi
        if side * turn < 0:
            raise ValueError(f"corner {k} turns the path away from side {side}: not a taut wrap")
        length += radius_m * abs(turn)
        for h in np.linspace(headings[k], headings[k] + turn, 33):
            # The disc is on the path's `side`: the contact point is r from the centre, opposite that side.
            points.append(centre + side * radius_m * np.array([math.sin(h), -math.cos(h)]))
    points.append(b)
    return length, np.array(points)


def box_distance_m(xy: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Euclidean distance (m) from points (..., 2) to the nearest axis-aligned box (0 inside)."""
    d = np.full(xy.shape[:-1], np.inf)
    for x0, y0, x1, y1 in boxes:
        dx = np.maximum(np.maximum(x0 - xy[..., 0], xy[..., 0] - x1), 0.0)
        dy = np.maximum(np.maximum(y0 - xy[..., 1], xy[..., 1] - y1), 0.0)
        d = np.minimum(d, np.hypot(dx, dy))
    return d


def room(width: float, depth: float) -> list[Box]:
    t = WALL_M
    return [
        (-t, -t, width + t, 0.0),
        (-t, depth, width + t, depth + t),
        (-t, 0.0, 0.0, depth),
        (width, 0.0, width + t, depth),
    ]


def wall_with_gap(y: float, x0: float, x1: float, gap_x: float, gap_m: float) -> list[Box]:
    h = WALL_M / 2
    return [(x0, y - h, gap_x - gap_m / 2, y + h), (gap_x + gap_m / 2, y - h, x1, y + h)]


def cases(radius_m: float) -> dict[str, dict[str, Any]]:
    """name -> boxes, start, goal, exact length (inf: unreachable) and the path (None when straight or unreachable)."""
    r = radius_m
    out: dict[str, dict[str, Any]] = {}
    out["open room"] = {"boxes": room(6, 4), "start": (1, 1), "goal": (5, 3), "exact": math.hypot(4, 2), "path": None}
    # An L-shaped room: a block fills x > 2, y < 4; the path turns right round its corner (2, 4).
    length, path = taut_path((1, 1), [(2, 4)], (5, 5), r, -1)
    out["corner"] = {
        "boxes": room(6, 6) + [(2, 0, 6, 4)],
        "start": (1, 1),
        "goal": (5, 5),
        "exact": length,
        "path": path,
    }
    # A divider from the bottom wall to y = 3: over its end, round both end corners.
    length, path = taut_path((1, 1), [(2.95, 3), (3.05, 3)], (5, 1), r, -1)
    out["wall end"] = {
        "boxes": room(6, 4) + [(2.95, 0, 3.05, 3)],
        "start": (1, 1),
        "goal": (5, 1),
        "exact": length,
        "path": path,
    }
    # Two rooms joined by a 1 m door at x in [5, 6]: out of the lower room, round the left jamb, into the upper one.
    length, path = taut_path((1.5, 1), [(5, 2.95), (5, 3.05)], (1.5, 5), r, +1)
    out["doorway"] = {
        "boxes": room(8, 6) + wall_with_gap(3, 0, 8, 5.5, 1.0),
        "start": (1.5, 1),
        "goal": (1.5, 5),
        "exact": length,
        "path": path,
    }
    # A gap a cell and more wider than the agent: straight through; narrower than the agent: shut.
    out["gap 2r+0.1"] = {
        "boxes": room(6, 4) + wall_with_gap(2, 0, 6, 3, 2 * r + 0.1),
        "start": (3, 0.7),
        "goal": (3, 3.3),
        "exact": 2.6,
        "path": None,
    }
    out["gap 2r-0.02"] = {
        "boxes": room(6, 4) + wall_with_gap(2, 0, 6, 3, 2 * r - 0.02),
        "start": (3, 0.7),
        "goal": (3, 3.3),
        "exact": math.inf,
        "path": None,
    }
    return out


def case_scene(boxes: list[Box], offset: np.ndarray) -> Any:
    """The boxes as 2.5 m walls moved by `offset` on a fixed floor slab (the slab's bounds fix the grid origin)."""
    import trimesh

    from depthbench.envs.navigation.scenes import Scene

    parts = [trimesh.creation.box(bounds=[[-1.0, -1.0, -0.1], [10.0, 8.0, 0.0]])]
    for x0, y0, x1, y1 in boxes:
        lo, hi = np.array([x0, y0]) + offset, np.array([x1, y1]) + offset
        parts.append(trimesh.creation.box(bounds=[[lo[0], lo[1], 0.0], [hi[0], hi[1], WALL_HEIGHT_M]]))
    return Scene("geodesic-case", trimesh.util.concatenate(parts))


def measure_one(grid: Any, start: np.ndarray, goal: np.ndarray) -> float:
    """Geodesic distance (m) from start to goal as the tasks read it: the goal's field, bilinear at the start."""
    from depthbench.envs.navigation.navgrid import FieldCache, GridAtlas

    cache = FieldCache(GridAtlas([grid]), 1)
    slot = cache.put(0, 0, grid.geodesic_field(goal))
    return float(cache.sample(np.array([slot]), np.array([0]), np.asarray(start, float)[None])[0])


def measure(radius_m: float, cell_m: float, offsets: int, seed: int = 0) -> list[dict[str, Any]]:
    """Engine geodesic (bilinear field lookup at the start, as the tasks read it) against the closed form, per case,
    over `offsets` random sub-cell placements of the geometry."""
    from depthbench.envs.navigation.navgrid import AgentShape, NavGrid

    rng = np.random.default_rng(seed)
    shifts = rng.random((offsets, 2)) * cell_m
    rows = []
    for name, case in cases(radius_m).items():
        values = []
        for shift in shifts:
            grid = NavGrid.from_scene(case_scene(case["boxes"], shift), AgentShape(radius_m, 1.5, cell_size_m=cell_m))
            start, goal = np.asarray(case["start"], float) + shift, np.asarray(case["goal"], float) + shift
            values.append(measure_one(grid, start, goal))
        values = np.array(values)
        row = {"case": name, "radius_m": radius_m, "cell_m": cell_m, "exact_m": case["exact"], "offsets": offsets}
        if math.isinf(case["exact"]):
            row["reachable"] = int(np.isfinite(values).sum())
        else:
            error = 100 * (values / case["exact"] - 1)
            row.update(
                error_mean_pct=float(error.mean()), error_min_pct=float(error.min()), error_max_pct=float(error.max())
            )
        rows.append(row)
    return rows


def add_commands(nav_sub: argparse._SubParsersAction) -> None:
    parser = nav_sub.add_parser(
        "geodesic",
        help="geodesic distance of the navigation engine vs exact disc-agent shortest paths (corners, gaps, doorway)",
    )
    parser.add_argument("--radius", type=float, nargs="+", default=[0.1, 0.18], help="agent radii in m (0.1 0.18)")
    parser.add_argument("--cell", type=float, nargs="+", default=[0.05], help="grid cell sizes in m (default 0.05)")
    parser.add_argument("--offsets", type=int, default=8, help="random sub-cell placements per case (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the placements")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.set_defaults(func=_bench_geodesic)


def _bench_geodesic(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from tqdm import tqdm

    from depthbench.errors import DepthbenchError

    if args.offsets < 1 or min(args.radius) <= 0 or min(args.cell) <= 0:
        raise DepthbenchError("--offsets must be >= 1 and --radius/--cell positive (metres)")
    runs = [(r, c) for c in args.cell for r in args.radius]
    rows = [row for r, c in tqdm(runs, desc="radius x cell") for row in measure(r, c, args.offsets, args.seed)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"geodesic vs closed form: {args.offsets} sub-cell placements per case, seed {args.seed}")
    for column in ("case", "radius m", "cell m", "exact m", "error % mean", "min", "max"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for row in rows:
        if "reachable" in row:
            cells = ["unreachable", "", f"{row['reachable']}/{row['offsets']} reached"]
        else:
            cells = [f"{row['error_mean_pct']:+.2f}", f"{row['error_min_pct']:+.2f}", f"{row['error_max_pct']:+.2f}"]
        exact = "inf" if math.isinf(row["exact_m"]) else f"{row['exact_m']:.3f}"
        table.add_row(row["case"], f"{row['radius_m']:g}", f"{row['cell_m']:g}", exact, *cells)
    Console().print(table)
    return 0
