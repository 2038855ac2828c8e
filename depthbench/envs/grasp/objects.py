"""Procedural grasp objects: families, their random instances, named object sets and held-out pools.

An object is up to `MAX_PARTS` primitive or convex-mesh parts rigidly joined (a mug is a cylinder and a three-bar
handle, a bottle a body, shoulder and neck). Sizes are in metres, in the object's frame: z up, the base at z = 0.
Sizes follow what an Allegro hand (finger length ~0.1 m, palm width 0.09 m) can enclose, like the YCB objects used by
dexterous-grasping benchmarks (Calli et al. 2015, "The YCB object and model set").

Held-out objects: each split draws its pool from its own random stream (`pool`), so test objects are instances no
policy trained on the train split has seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import trimesh

from depthbench.errors import DepthbenchError

MAX_PARTS = 4
SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class Part:
    """One rigid part: kind in {box, cylinder, sphere, capsule, mesh}; MuJoCo geom size convention (half-sizes)."""

    kind: str
    size: tuple[float, float, float]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    vertices: np.ndarray | None = field(default=None, compare=False)  # mesh parts: (V, 3) convex-hull vertices
    faces: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ObjectInstance:
    """A sampled object: its family, parts and the shape parameters the teacher observes (bounding half-extents)."""

    family: str
    name: str
    parts: tuple[Part, ...]
    half_extents_m: tuple[float, float, float]


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


_LYING = (0.7071068, 0.7071068, 0.0, 0.0)  # 90 deg about x: a capsule's axis along y, lying on the table


def _box(rng: np.random.Generator) -> tuple[Part, ...]:
    hx, hy, hz = _u(rng, 0.02, 0.035), _u(rng, 0.02, 0.045), _u(rng, 0.025, 0.06)
    return (Part("box", (hx, hy, hz), (0, 0, hz)),)


def _cylinder(rng: np.random.Generator) -> tuple[Part, ...]:
    radius, half_height = _u(rng, 0.02, 0.035), _u(rng, 0.03, 0.07)
    return (Part("cylinder", (radius, half_height, 0), (0, 0, half_height)),)


def _sphere(rng: np.random.Generator) -> tuple[Part, ...]:
    radius = _u(rng, 0.025, 0.04)
    return (Part("sphere", (radius, 0, 0), (0, 0, radius)),)


def _capsule(rng: np.random.Generator) -> tuple[Part, ...]:
    radius, half_length = _u(rng, 0.018, 0.03), _u(rng, 0.02, 0.05)
    return (Part("capsule", (radius, half_length, 0), (0, 0, radius), _LYING),)


def _mug(rng: np.random.Generator) -> tuple[Part, ...]:
    radius, half_height = _u(rng, 0.03, 0.04), _u(rng, 0.035, 0.05)
    bar, reach = 0.006, _u(rng, 0.018, 0.028)  # handle bar half-thickness and how far it stands off the wall
    x_outer = radius + reach
    return (
        Part("cylinder", (radius, half_height, 0), (0, 0, half_height)),
        Part("box", (reach / 2, bar, bar), (radius + reach / 2, 0, 1.6 * half_height)),
        Part("box", (reach / 2, bar, bar), (radius + reach / 2, 0, 0.4 * half_height)),
        Part("box", (bar, bar, 0.6 * half_height + bar), (x_outer, 0, half_height)),
    )


def _bottle(rng: np.random.Generator) -> tuple[Part, ...]:
    radius, half_height = _u(rng, 0.025, 0.035), _u(rng, 0.045, 0.07)
    shoulder_half = _u(rng, 0.01, 0.015)
    neck_radius, neck_half = _u(rng, 0.01, 0.014), _u(rng, 0.015, 0.025)
    top = 2 * half_height
    return (
        Part("cylinder", (radius, half_height, 0), (0, 0, half_height)),
        Part("cylinder", ((radius + neck_radius) / 2, shoulder_half, 0), (0, 0, top + shoulder_half)),
        Part("cylinder", (neck_radius, neck_half, 0), (0, 0, top + 2 * shoulder_half + neck_half)),
    )


def _hull(rng: np.random.Generator) -> tuple[Part, ...]:
    # Convex hull of points on a random ellipsoid: irregular, graspable, never degenerate.
    semi_axes = rng.uniform([0.02, 0.02, 0.025], [0.04, 0.045, 0.055])
    directions = rng.normal(size=(int(rng.integers(10, 20)), 3))
    points = directions / np.linalg.norm(directions, axis=1, keepdims=True) * semi_axes
    hull = trimesh.convex.convex_hull(points)
    vertices = np.asarray(hull.vertices) - [0, 0, hull.bounds[0, 2]]  # base at z = 0
    return (Part("mesh", (0, 0, 0), vertices=vertices, faces=np.asarray(hull.faces)),)


FAMILIES: dict[str, Callable[[np.random.Generator], tuple[Part, ...]]] = {
    "box": _box,
    "cylinder": _cylinder,
    "sphere": _sphere,
    "capsule": _capsule,
    "mug": _mug,
    "bottle": _bottle,
    "hull": _hull,
}

OBJECT_SETS: dict[str, tuple[str, ...]] = {
    "simple": ("box", "cylinder", "sphere", "capsule"),
    "composite": ("mug", "bottle"),
    "hulls": ("hull",),
    "all": tuple(FAMILIES),
}


def object_set(name: str) -> tuple[str, ...]:
    """The families of object set `name`, or a clear error naming the known sets."""
    if name not in OBJECT_SETS:
        raise DepthbenchError(f"unknown object set '{name}'; known sets: {', '.join(OBJECT_SETS)}")
    return OBJECT_SETS[name]


def _half_extents(parts: tuple[Part, ...]) -> tuple[float, float, float]:
    """Half-extents of the parts' axis-aligned bounding box (rotations by multiples of 90 deg only, as built)."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for part in parts:
        if part.kind == "mesh":
            assert part.vertices is not None
            p_lo, p_hi = part.vertices.min(axis=0), part.vertices.max(axis=0)
        else:
            size = np.array(part.size, float)
            half = {
                "box": size,
                "cylinder": np.array([size[0], size[0], size[1]]),
                "sphere": np.full(3, size[0]),
                "capsule": np.array([size[0], size[0], size[1] + size[0]]),
            }[part.kind]
            if part.quat == _LYING:
                half = half[[0, 2, 1]]
            p_lo, p_hi = np.add(part.pos, -half), np.add(part.pos, half)
        lo, hi = np.minimum(lo, p_lo), np.maximum(hi, p_hi)
    return tuple(float(v) for v in (hi - lo) / 2)


def sample_object(family: str, rng: np.random.Generator, name: str) -> ObjectInstance:
    if family not in FAMILIES:
        raise DepthbenchError(f"unknown object family '{family}'; known: {', '.join(FAMILIES)}")
    parts = FAMILIES[family](rng)
    return ObjectInstance(family=family, name=name, parts=parts, half_extents_m=_half_extents(parts))


def pool(set_name: str, split: str, per_family: int, seed: int = 0) -> list[ObjectInstance]:
    """`per_family` instances of every family in the set, from the split's own random stream (held-out objects)."""
    if split not in SPLIT_STREAMS:
        raise DepthbenchError(f"unknown split '{split}'; use one of {', '.join(SPLIT_STREAMS)}")
    if per_family < 1:
        raise DepthbenchError(f"objects.per_family must be >= 1, got {per_family}")
    instances = []
    for family in object_set(set_name):
        rng = np.random.default_rng([seed, SPLIT_STREAMS[split], list(FAMILIES).index(family)])
        instances += [sample_object(family, rng, f"{split}_{family}_{i}") for i in range(per_family)]
    return instances
