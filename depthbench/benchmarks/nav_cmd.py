"""`depthbench nav episodes`: write Habitat PointNav-v1 episode files (procedural scenes or your own .glb scans);
`depthbench nav geodesic`: geodesic accuracy against closed-form shortest paths (geodesic_cmd.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from depthbench.benchmarks import geodesic_cmd


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    nav = subparsers.add_parser(
        "nav", help="navigation tools (Habitat PointNav episode files, geodesic accuracy check)"
    )
    nav_sub = nav.add_subparsers(dest="nav_command", metavar="ACTION", required=True)
    episodes = nav_sub.add_parser(
        "episodes",
        help="generate PointNav episodes with habitat-lab's generator rules and write a .json.gz habitat-lab reads",
    )
    episodes.add_argument("out", type=Path, help="output file, e.g. data/pointnav/val.json.gz")
    episodes.add_argument(
        "--scene",
        action="append",
        default=[],
        help="a .glb/.ply/.obj scene (Habitat Y-up); repeatable. Default: the procedural scenes of --split",
    )
    episodes.add_argument("--split", default="val", choices=("train", "val", "test"), help="procedural split")
    episodes.add_argument("--preset", default="habitat-classic", help="agent preset (radius, height, success radius)")
    episodes.add_argument("--episodes-per-scene", type=int, default=32)
    episodes.add_argument(
        "--floor-height-m",
        type=float,
        default=None,
        help="floor height of --scene files in Habitat's frame (y); default: the largest upward-facing area",
    )
    episodes.add_argument("--seed", type=int, default=0)
    episodes.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="pointnav config override")
    episodes.set_defaults(func=_episodes)
    geodesic_cmd.add_commands(nav_sub)


def _episodes(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from depthbench.config import apply_overrides
    from depthbench.envs import task_config
    from depthbench.envs.navigation.episodes import GeneratorRules, generate_episodes, write_dataset
    from depthbench.envs.navigation.navgrid import AgentShape, NavGrid
    from depthbench.envs.navigation.pointnav import build_dataset, resolve_agent
    from depthbench.envs.navigation.scenes import Scene, detect_floor_z, load_scene_file

    cfg = task_config("pointnav", {"preset": args.preset, "split": args.split})
    cfg = apply_overrides(cfg, args.set)
    cfg["dataset"]["episodes_per_scene"] = args.episodes_per_scene
    agent = resolve_agent(cfg)
    if not args.scene:
        _, _, episodes, _, _ = build_dataset(cfg, agent)
    else:
        data, nav = cfg["dataset"], cfg["navmesh"]
        rules = GeneratorRules(
            data["closest_dist_limit_m"],
            data["furthest_dist_limit_m"],
            data["geodesic_to_euclid_min_ratio"],
            data["number_retries_per_target"],
        )
        shape = AgentShape(
            agent["agent_radius_m"],
            agent["agent_height_m"],
            nav["max_climb_m"],
            nav["max_slope_deg"],
            nav["cell_size_m"],
        )
        rng = np.random.default_rng(args.seed)
        episodes = []
        for path in tqdm(args.scene, desc="scenes"):
            mesh = load_scene_file(path)
            floor = detect_floor_z(mesh) if args.floor_height_m is None else args.floor_height_m
            scene = Scene(str(path), mesh, floor)
            grid = NavGrid.from_scene(scene, shape)
            made = generate_episodes(
                grid,
                scene.scene_id,
                floor,
                args.episodes_per_scene,
                rng,
                goal_radius_m=agent["success_distance_m"],
                rules=rules,
                first_id=len(episodes),
            )
            episodes += [episode for episode, _ in made]
    write_dataset(args.out, episodes)
    print(f"wrote {len(episodes)} episodes to {args.out}")
    return 0
