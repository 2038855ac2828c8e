"""`depthbench` entry point. Each command module exposes `add_commands(subparsers)`; failures print one line."""

from __future__ import annotations

import argparse
import importlib
import sys

from depthbench import __version__
from depthbench.errors import DepthbenchError

# One line per command module; each adds its own subcommands.
COMMAND_MODULES: tuple[str, ...] = (
    "depthbench.benchmarks.tasks_cmd",
    "depthbench.benchmarks.encoders_cmd",
    "depthbench.benchmarks.noise_cmd",
    "depthbench.benchmarks.nav_cmd",
    "depthbench.benchmarks.agents_cmd",
    "depthbench.benchmarks.publish_cmd",
    "depthbench.benchmarks.pretrain_cmd",
    "depthbench.benchmarks.doctor_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depthbench",
        description="RL benchmarks where robot policies see the world through a pluggable depth encoder (DeFM).",
    )
    parser.add_argument("--version", action="version", version=f"depthbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DepthbenchError as exc:
        if args.debug:
            raise
        print(f"depthbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("depthbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
