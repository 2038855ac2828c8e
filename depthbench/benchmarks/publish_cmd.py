"""`depthbench references list|add` and `depthbench leaderboard`: publishing policies and the generated results table.

Reference policies are shipped checkpoints with their manifest and evaluations, loadable anywhere a checkpoint is
accepted as `reference:TASK/ROLE` (docs/references.md). The leaderboard is built from evaluation JSONs only, so it is
regenerated, never typed (docs/leaderboard.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from rich.table import Table

from depthbench.benchmarks.agents_cmd import _console


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    refs = subparsers.add_parser(
        "references",
        help="reference policies shipped with depthbench (reference:TASK/ROLE): list them or publish a run",
        description="Reference policies live in depthbench/references/TASK/ROLE (or $DEPTHBENCH_REFERENCES_DIR): "
        "model.pt, manifest.json, eval/. Use them as `--checkpoint reference:TASK/ROLE` in eval, export, "
        "distill --teacher and eval --teacher-metrics.",
    )
    actions = refs.add_subparsers(dest="references_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="task, role, kind, encoder, stored SR [95% CI] and size of each")
    listing.add_argument("--json", action="store_true", help="print JSON (every stored evaluation's file name too)")
    listing.set_defaults(func=_list)
    add = actions.add_parser(
        "add",
        help="copy a finished run's final checkpoint, manifest and evaluations into the store",
        description="Copies RUN_DIR's final checkpoint (optimizer moments stripped: it evaluates, exports and "
        "teaches, but does not resume), its manifest plus provenance, and its evaluation JSONs with their episode "
        "records. Atomic; refuses to overwrite without --force and to grow the store past 20 MB. A distilled "
        "student's teacher must be stored first: the student then names it as reference:TASK/ROLE.",
    )
    add.add_argument("run_dir", help="a finished run directory (manifest.json, checkpoints/)")
    add.add_argument("--task", required=True, help="task name (must be the run's)")
    add.add_argument("--role", required=True, help="name within the task, e.g. teacher, student, ppo")
    add.add_argument(
        "--eval-dir", help="folder of evaluation JSONs of the final checkpoint (default RUN_DIR/eval; all are copied)"
    )
    add.add_argument("--force", action="store_true", help="replace an existing entry of the same name")
    add.set_defaults(func=_add)

    board = subparsers.add_parser(
        "leaderboard",
        help="the results table (markdown, CSV, PNG) generated from evaluation JSONs, with rliable aggregates",
        description="Reads every evaluation JSON under RESULTS_DIR (recursively; --references adds the shipped "
        "reference policies' evaluations) and writes leaderboard.md, leaderboard.csv, leaderboard_aggregate.csv "
        "and leaderboard.png: SR [95%% CI] per task x encoder x train noise x eval noise, SR / teacher, "
        "robustness drops, and IQM / mean over tasks with stratified-bootstrap CIs (rliable).",
    )
    board.add_argument("results_dirs", nargs="*", metavar="RESULTS_DIR", help="folders holding evaluation JSONs")
    board.add_argument("--references", action="store_true", help="include the shipped reference policies' evaluations")
    board.add_argument("--out", default="leaderboard", help="output folder (default ./leaderboard)")
    board.add_argument(
        "--readme",
        help="also replace the section between '<!-- results:start -->' and '<!-- results:end -->' in this file",
    )
    board.add_argument(
        "--bootstrap-reps",
        type=int,
        help="bootstrap replicates for rliable's stratified CIs and the performance profile (default 2000)",
    )
    board.set_defaults(func=_leaderboard)


def _list(args: argparse.Namespace) -> int:
    from depthbench.agents import references
    from depthbench.agents.report import _fmt

    rows = [references.describe(entry) for entry in references.entries()]
    if args.json:
        print(json.dumps({"store": str(references.store_root()), "references": rows}, indent=2))
        return 0
    table = Table(title=f"reference policies in {references.store_root()}")
    table.add_column("name", no_wrap=True)
    for column in ("kind", "encoder", "train noise", "stored SR [95% CI]", "evaluated on", "size"):
        table.add_column(column)
    for row in rows:
        stored = row.get("stored")
        table.add_row(
            row["name"],
            row["kind"],
            row["encoder"],
            row["train_noise"],
            _fmt(stored["success_rate"]) if stored else "-",
            f"{stored['episodes']} ep, {stored['eval_noise']}/{stored['split']}, {stored['actions']}"
            if stored
            else "-",
            f"{row['size_bytes'] / 1e6:.2f} MB",
        )
    _console().print(table)
    if not rows:
        print("no reference policies stored; publish one with `depthbench references add RUN_DIR --task T --role R`")
    return 0


def _add(args: argparse.Namespace) -> int:
    from depthbench.agents import references

    entry = references.add(args.run_dir, task=args.task, role=args.role, eval_dir=args.eval_dir, force=args.force)
    row = references.describe(entry)
    print(
        f"stored {entry.name} in {entry.path} ({row['size_bytes'] / 1e6:.2f} MB, {len(row['evaluations'])} evaluations)"
    )
    print(f"evaluate: depthbench eval {entry.task} --checkpoint {entry.name}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from depthbench.agents.leaderboard import BOOTSTRAP_REPS, build_leaderboard
    from depthbench.errors import DepthbenchError

    if not args.results_dirs and not args.references:
        raise DepthbenchError("leaderboard needs RESULTS_DIR (folders with evaluation JSONs) and/or --references")
    result = build_leaderboard(
        args.results_dirs,
        args.out,
        include_references=args.references,
        command=_command(args),
        readme=args.readme,
        reps=args.bootstrap_reps or BOOTSTRAP_REPS,
    )
    out = Path(result["out"])
    print((out / "leaderboard.md").read_text())
    print(f"leaderboard: {out / 'leaderboard.md'} ({len(result['rows'])} rows from {result['files']} evaluation files)")
    if args.readme:
        print(f"updated the results section of {args.readme}")
    return 0


def _command(args: argparse.Namespace) -> str:
    """The canonical command line that regenerates this leaderboard (the same text however the flags were spelled, so
    a regenerated README section only changes where the numbers do)."""
    parts = ["depthbench", "leaderboard", *args.results_dirs]
    parts += ["--references"] if args.references else []
    parts += ["--out", args.out]
    parts += ["--readme", args.readme] if args.readme else []
    parts += ["--bootstrap-reps", str(args.bootstrap_reps)] if args.bootstrap_reps else []
    return shlex.join(parts)
