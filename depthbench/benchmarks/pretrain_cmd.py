"""`depthbench data`, `pretrain`, `distill-encoder` and `probe`: DeFM's recipe on your own depth data."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from depthbench.errors import DepthbenchError


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="depth datasets for encoder pretraining (collect, import, inspect)")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    collect = data_sub.add_parser(
        "collect",
        help="harvest depth frames from a task's training scenes (random actions), or import a folder with --from",
        description="Writes DIR/manifest.json and uint16-millimetre .npy shards (docs/pretrain.md). Only training "
        "splits: val/test scenes are held out for evaluation.",
    )
    collect.add_argument("task", nargs="?", help="task to collect from (omit with --from)")
    collect.add_argument("--frames", type=int, default=50000, help="frames to collect (default 50000)")
    collect.add_argument("--out", required=True, help="dataset folder to create")
    collect.add_argument("--from", dest="source", help="import a folder of .npy (metres) / 16-bit .png depth instead")
    collect.add_argument("--png-scale", type=float, help="PNG units per metre (1000 for millimetres); needed for .png")
    collect.add_argument("--num-envs", type=int, default=16)
    collect.add_argument("--seed", type=int, default=0)
    collect.add_argument("--noise", default="clean", help="depth noise spec applied to the frames (default clean)")
    collect.add_argument("--every", type=int, default=4, help="keep the frames of every N-th step (default 4)")
    collect.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="task config override")
    collect.add_argument("--no-progress", action="store_true")
    collect.set_defaults(func=_collect)
    info = data_sub.add_parser("info", help="frames, size and provenance of a dataset folder")
    info.add_argument("dataset")
    info.set_defaults(func=_info)

    pretrain = subparsers.add_parser(
        "pretrain",
        help="DINOv2-style self-distillation (DINO + iBOT + KoLeo, EMA teacher) of a ViT on a depth dataset",
        description="Writes RUN/encoder.pth (loads with create(ARCH, weights=PATH)), checkpoints/, progress.jsonl, "
        "tensorboard/. Kill it any time; --resume continues exactly.",
    )
    pretrain.add_argument("--arch", default="vit-t14", help="a registered DeFM-layout ViT (default vit-t14)")
    pretrain.add_argument("--data", help="dataset folder (from `depthbench data collect`)")
    pretrain.add_argument("--out", required=True, help="run directory")
    pretrain.add_argument("--preset", default="cpu", help="cpu (about 1 h on 2 cores) or gpu (default cpu)")
    pretrain.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    pretrain.add_argument("--resume", action="store_true", help="continue the run in --out")
    pretrain.add_argument("--no-progress", action="store_true")
    pretrain.set_defaults(func=_pretrain)

    distill = subparsers.add_parser(
        "distill-encoder",
        help="distil a pretrained ViT into a DeFM CNN + BiFPN (global and dense supervision)",
        description="Writes RUN/encoder.pth, which loads strictly with create(STUDENT, weights=PATH).",
    )
    distill.add_argument("--teacher", required=True, help="a `depthbench pretrain` run directory or its encoder.pth")
    distill.add_argument("--student", default="defm-resnet18", help="a DeFM CNN name (default defm-resnet18)")
    distill.add_argument("--data", required=True, help="dataset folder")
    distill.add_argument("--out", required=True, help="output directory")
    distill.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    distill.add_argument("--no-progress", action="store_true")
    distill.set_defaults(func=_distill)

    probe = subparsers.add_parser(
        "probe",
        help="linear probe (nearest return per image sector) of frozen encoders on held-out frames, with 95%% CIs",
    )
    probe.add_argument("--train", required=True, help="dataset folder the probe is fitted on")
    probe.add_argument("--test", required=True, help="held-out dataset folder it is scored on")
    probe.add_argument(
        "--encoder",
        action="append",
        required=True,
        metavar="NAME[=WEIGHTS]",
        help="encoder to probe, repeatable; NAME alone is random init (e.g. vit-t14 vit-t14=runs/pt/encoder.pth)",
    )
    probe.add_argument("--frames", type=int, default=5000, help="frames used from each dataset (default 5000)")
    probe.add_argument("--sectors", type=int, default=4)
    probe.add_argument("--out", help="write the results JSON here")
    probe.set_defaults(func=_probe)


def _command() -> str:
    return shlex.join(["depthbench", *sys.argv[1:]])


def _overrides(pairs: list[str]) -> dict[str, Any]:
    from depthbench.config import parse_override

    out: dict[str, Any] = {}
    for pair in pairs:
        out.update(parse_override(pair))
    return out


def _collect(args: argparse.Namespace) -> int:
    from depthbench.pretrain.dataset import import_folder

    if args.source:
        if args.task:
            raise DepthbenchError("give either a TASK or --from DIR, not both")
        manifest = import_folder(args.source, args.out, png_scale=args.png_scale, command=_command())
    else:
        if not args.task:
            raise DepthbenchError("data collect needs a TASK (see `depthbench tasks list`) or --from DIR")
        from depthbench.pretrain.collect import collect_frames

        manifest = collect_frames(
            args.task,
            frames=args.frames,
            out=args.out,
            num_envs=args.num_envs,
            seed=args.seed,
            noise=args.noise,
            every=args.every,
            overrides=_overrides(args.set),
            command=_command(),
            show_progress=not args.no_progress,
        )
    print(f"{manifest['frames']} frames of {manifest['height']}x{manifest['width']} -> {args.out}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from depthbench.pretrain.dataset import DepthDataset

    print(json.dumps(DepthDataset(args.dataset).manifest, indent=2))
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from depthbench.pretrain.ssl import ENCODER_FILE, pretrain, pretrain_config

    if not args.resume and not args.data:
        raise DepthbenchError("pretrain needs --data DIR (a dataset from `depthbench data collect`)")
    cfg = pretrain_config(args.preset, _overrides(args.set))
    manifest = pretrain(
        cfg,
        arch=args.arch,
        data=args.data,
        out=args.out,
        resume=args.resume,
        command=_command(),
        show_progress=not args.no_progress,
    )
    print(f"encoder: {Path(args.out) / ENCODER_FILE} ({manifest['arch']}, {manifest['steps_done']} steps)")
    return 0


def _teacher_file(teacher: str) -> tuple[Path, str]:
    """(encoder.pth, arch) of a pretrain run directory or an encoder.pth file."""
    import torch

    path = Path(teacher)
    path = path / "encoder.pth" if path.is_dir() else path
    if not path.is_file():
        raise DepthbenchError(f"--teacher {teacher}: no encoder.pth there; pass a `depthbench pretrain` run")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any read failure means the same to the user
        raise DepthbenchError(f"--teacher {path} could not be read ({type(exc).__name__})") from None
    if not isinstance(data, dict) or "arch" not in data:
        raise DepthbenchError(f"--teacher {path} is not a `depthbench pretrain` encoder (no 'arch')")
    return path, str(data["arch"])


def _distill(args: argparse.Namespace) -> int:
    from depthbench.pretrain.distill import ENCODER_FILE, distill_encoder

    path, arch = _teacher_file(args.teacher)
    distill_encoder(
        teacher=arch,
        teacher_weights=path,
        student=args.student,
        data=args.data,
        out=args.out,
        overrides=_overrides(args.set),
        command=_command(),
        show_progress=not args.no_progress,
    )
    print(f"encoder: {Path(args.out) / ENCODER_FILE} (loads with create({args.student!r}, weights=PATH))")
    return 0


def _probe(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from depthbench.agents.config import encoder_label
    from depthbench.agents.training import write_json_atomic
    from depthbench.encoders import create
    from depthbench.pretrain.dataset import DepthDataset
    from depthbench.pretrain.probe import (
        bootstrap_r2,
        linear_probe,
        paired_difference,
        probe_features,
        sector_targets,
    )

    train, test = DepthDataset(args.train), DepthDataset(args.test)
    train_depth = train.frames(np.arange(min(args.frames, len(train))))
    test_depth = test.frames(np.arange(min(args.frames, len(test))))
    train_y = sector_targets(train_depth, args.sectors)
    test_y = sector_targets(test_depth, args.sectors)
    results = []
    for spec in args.encoder:
        name, _, weights = spec.partition("=")
        encoder = create(name, weights=weights or None)
        result = linear_probe(
            probe_features(encoder, train_depth), train_y, probe_features(encoder, test_depth), test_y
        )
        low, high = bootstrap_r2(result["errors"], result["baseline"])
        results.append(
            {
                "encoder": name,
                "label": encoder_label(name, encoder.weights_provenance),
                "weights_provenance": encoder.weights_provenance,
                "r2": result["r2"],
                "r2_ci": [low, high],
                "ridge": result["ridge"],
                "_raw": result,
            }
        )
    table = Table(title=f"linear probe: nearest return per sector ({args.sectors}), R^2 on {len(test_depth)} frames")
    for column in ("encoder", "R^2 [95% CI]", "vs first [95% CI]"):
        table.add_column(column)
    for row in results:
        diff = paired_difference(row["_raw"], results[0]["_raw"])
        row["vs_first"] = diff
        table.add_row(
            row["label"],
            f"{row['r2']:.3f} [{row['r2_ci'][0]:.3f}, {row['r2_ci'][1]:.3f}]",
            f"{diff['difference']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]",
        )
    Console().print(table)
    if args.out:
        clean = [{k: v for k, v in row.items() if k != "_raw"} for row in results]
        write_json_atomic(
            Path(args.out),
            {
                "train": args.train,
                "test": args.test,
                "frames": len(test_depth),
                "sectors": args.sectors,
                "command": _command(),
                "results": clean,
            },
        )
    return 0
