"""`depthbench tasks list` and `depthbench bench env TASK`: what tasks exist and how fast their engines step."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    tasks = subparsers.add_parser("tasks", help="list the registered tasks")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    listing = tasks_sub.add_parser("list", help="name, engine and summary of every task")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_tasks_list)

    bench = subparsers.add_parser("bench", help="throughput benchmarks (engines)")
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="TARGET", required=True)
    env = bench_sub.add_parser(
        "env",
        help="env-steps/s of a task's batched engine with random actions (also without depth where the task's config "
        "has depth.enabled), and its naive baseline in the same run",
    )
    env.add_argument("task", help="task name (see `depthbench tasks list`)")
    env.add_argument("--num-envs", type=int, default=64, help="environments stepped together (default 64)")
    env.add_argument("--size", type=int, default=64, help="depth image width and height in pixels (default 64)")
    env.add_argument("--steps", type=int, default=200, help="timed policy steps after warm-up (default 200)")
    env.add_argument("--seed", type=int, default=0)
    env.add_argument("--no-baseline", action="store_true", help="skip the naive reference engine")
    env.add_argument("--engine", help="engine to time (default: the task's own; see `depthbench tasks list`)")
    env.add_argument("--device", default="cpu", help="torch / simulation device, cpu or cuda (default cpu)")
    env.add_argument(
        "--depth",
        choices=["both", "on", "off"],
        default="both",
        help="time with cameras, without, or both (default). Isaac Lab runs one simulation per process: its "
        "'off' row comes from a second process",
    )
    env.add_argument(
        "--compare-python",
        help="Python of another environment whose default engine is timed in the same run (e.g. .venv/bin/python "
        "from .venv-isaaclab: the MuJoCo engine needs mujoco 4, which Isaac Lab's environment lacks)",
    )
    env.add_argument("--json", action="store_true", help="print the rows as JSON")
    env.set_defaults(func=_bench_env)


def _tasks_list(args: argparse.Namespace) -> int:
    from depthbench.envs import list_tasks

    rows = [
        {"name": t.name, "engine": t.engine, "engines": list(t.engine_ids), "summary": t.summary} for t in list_tasks()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="depthbench tasks")
    for column in ("name", "engine", "engines", "summary"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["engine"], ", ".join(row["engines"]), row["summary"])
    Console().print(table)
    return 0


def _bench_rows(python: str, args: argparse.Namespace, *, depth: str, engine: str | None = "same") -> list:
    """Rows timed by `python -m depthbench bench env ... --json` in a process of its own."""
    import os
    import subprocess

    from depthbench.errors import DepthbenchError

    engine = args.engine if engine == "same" else engine
    command = [python, "-m", "depthbench", "bench", "env", args.task, "--num-envs", str(args.num_envs)]
    command += ["--size", str(args.size), "--steps", str(args.steps), "--seed", str(args.seed), "--depth", depth]
    command += ["--device", args.device, "--no-baseline", "--json"] + (["--engine", engine] if engine else [])
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise DepthbenchError(f"benchmark process {python} failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    return [(row["engine"], row["env_steps_per_s"], row["episodes_ended"]) for row in rows]


def _bench_env(args: argparse.Namespace) -> int:
    import torch

    from depthbench.envs import get_task, make_task, task_config
    from depthbench.envs.timing import time_vec_env

    info = get_task(args.task)
    overrides = {"depth": {"width": args.size, "height": args.size}}
    make = partial(make_task, args.task, num_envs=args.num_envs, seed=args.seed, device=args.device, engine=args.engine)
    label = info.engine if args.engine in (None, info.engine_id) else args.engine
    has_switch = "enabled" in task_config(args.task)["depth"]  # the task can run without cameras
    one_sim = args.engine == "isaaclab"
    rows: list[tuple[str, float, str]] = []
    actions = None

    def timed(name: str, env: Any) -> tuple[str, float, str]:
        nonlocal actions
        result = time_vec_env(env, args.steps, args.seed)
        actions = actions or result["actions"]
        return name, result["env_steps_per_s"], f"{result['reset_fraction']:.1%}"

    if args.depth in ("both", "on"):
        rows.append(timed(f"{label} (batched)", make(overrides=overrides)))
    if args.depth in ("both", "off") and has_switch:
        if one_sim and rows:
            rows += _bench_rows(sys.executable, args, depth="off")
        else:
            no_depth = {"depth": {**overrides["depth"], "enabled": False}}
            rows.append(timed(f"{label} (batched), no depth", make(overrides=no_depth)))
    if args.compare_python:
        rows += _bench_rows(args.compare_python, args, depth="both", engine=None)
    if info.baseline is not None and not args.no_baseline and not one_sim:
        name, rate = info.baseline(task_config(args.task, overrides), args.num_envs, args.steps, args.seed)
        rows.append((name, rate, ""))
    if args.json:
        print(json.dumps([{"engine": n, "env_steps_per_s": r, "episodes_ended": e} for n, r, e in rows]))
        return 0
    table = Table(
        title=f"{args.task}: {args.num_envs} envs, {args.size}x{args.size} depth, {args.steps} steps, "
        f"torch threads {torch.get_num_threads()}"
    )
    table.add_column("engine")
    table.add_column("env-steps/s", justify="right")
    table.add_column("vs batched", justify="right")
    table.add_column("episodes ended", justify="right")
    for name, rate, resets in rows:
        table.add_row(name, f"{rate:,.0f}", f"{rows[0][1] / rate:.2f}x", resets)
    console = Console()
    console.print(table)
    if actions is not None:
        console.print(f"actions timed: {actions} (seed {args.seed})")
    console.print(
        "episodes ended = share of env-steps that finished an episode, so the env reset inside step (resets cost more)"
    )
    return 0
