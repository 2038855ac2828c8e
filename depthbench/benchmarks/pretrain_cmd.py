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
        help="linear probes of frozen encoders: fitted on one dataset, scored on a held-out one, with 95%% CIs",
        description="Targets (docs/pretrain.md#linear-probe): 'sectors', the nearest return in each cell of a "
        "ROWS x COLS grid (ridge, R^2), and 'free-direction', the column with the largest mean depth (linear "
        "classifier, accuracy). Ridge strength by CV over whole trajectories of --train; intervals by a bootstrap "
        "over trajectories of --test, paired for the differences to the first encoder.",
    )
    probe.add_argument("--train", required=True, help="dataset folder the probe is fitted on")
    probe.add_argument("--test", required=True, help="held-out dataset folder it is scored on (other seeds)")
    probe.add_argument(
        "--encoder",
        action="append",
        required=True,
        metavar="NAME[=WEIGHTS]",
        help="encoder to probe, repeatable; NAME alone is random init (e.g. vit-t14 vit-t14=runs/pt/encoder.pth); "
        "'pixels' is the trivial baseline (log depth pooled to 16x16)",
    )
    probe.add_argument(
        "--init-seeds",
        default="0",
        help="comma-separated torch seeds: each random-init encoder is probed once per seed (default 0)",
    )
    probe.add_argument("--frames", type=int, default=5000, help="frames used from each dataset (default 5000)")
    probe.add_argument("--rows", type=int, default=2, help="sector rows (default 2)")
    probe.add_argument("--cols", type=int, default=8, help="sector and free-direction columns (default 8)")
    probe.add_argument("--pool", type=int, default=4, help="dense map pooled to POOL x POOL features (default 4)")
    probe.add_argument("--folds", type=int, default=3, help="cross-validation folds over trajectories (default 3)")
    probe.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    probe.add_argument("--out", help="write the results JSON here")
    probe.add_argument("--markdown", help="also write the tables as markdown here (for docs)")
    probe.add_argument("--no-progress", action="store_true")
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
    import torch
    from rich.console import Console
    from rich.table import Table
    from tqdm import tqdm

    from depthbench.agents.config import encoder_label
    from depthbench.agents.training import write_json_atomic
    from depthbench.encoders import create
    from depthbench.pretrain import probe
    from depthbench.pretrain.dataset import DepthDataset

    try:
        init_seeds = [int(s) for s in args.init_seeds.split(",")]
    except ValueError:
        raise DepthbenchError(f"--init-seeds must be comma-separated integers, got {args.init_seeds!r}") from None
    train, test = DepthDataset(args.train), DepthDataset(args.test)
    n_train, n_test = min(args.frames, len(train)), min(args.frames, len(test))
    train_depth, test_depth = train.frames(np.arange(n_train)), test.frames(np.arange(n_test))
    train_groups = probe.stream_groups(train.manifest, n_train)
    test_groups = probe.stream_groups(test.manifest, n_test)
    targets = {
        "sectors": (
            "r2",
            probe.sector_targets(train_depth, args.rows, args.cols),
            probe.sector_targets(test_depth, args.rows, args.cols),
        ),
        "free-direction": (
            "accuracy",
            probe.free_direction(train_depth, args.cols),
            probe.free_direction(test_depth, args.cols),
        ),
    }
    probes = []  # (encoder name, weights or None, init seed or None for loaded weights and pixels)
    for spec in args.encoder:
        name, _, weights = spec.partition("=")
        seeds = init_seeds if not weights and name != "pixels" else [None]
        probes += [(name, weights or None, seed) for seed in seeds]
    rows: list[dict[str, Any]] = []
    for name, weights, seed in tqdm(probes, desc="probe", unit="encoder", disable=args.no_progress):
        if name == "pixels":
            label, provenance = "raw pixels (16x16 log depth)", "none"
            train_x, test_x = probe.pixel_features(train_depth), probe.pixel_features(test_depth)
        else:
            if seed is not None:
                torch.manual_seed(seed)
            encoder = create(name, weights=weights)
            label, provenance = encoder_label(name, encoder.weights_provenance), encoder.weights_provenance
            train_x = probe.probe_features(encoder, train_depth, args.pool)
            test_x = probe.probe_features(encoder, test_depth, args.pool)
        row: dict[str, Any] = {
            "encoder": name,
            "weights": weights,
            "init_seed": seed,
            "label": label,
            "weights_provenance": provenance,
            "features": int(train_x.shape[1]),
        }
        row.update(probe.linear_probes(train_x, train_groups, test_x, targets, folds=args.folds))
        rows.append(row)
    console = Console(width=140)
    summary = {}
    markdown = [
        "| encoder | weights | init seed | target | score [95% CI] | vs first [95% CI] |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for target, (kind, _, test_y) in targets.items():
        samples = probe.cluster_bootstrap(
            [row[target]["parts"] for row in rows], [kind] * len(rows), test_groups, seed=args.seed
        )
        majority = float(np.mean(test_y == np.bincount(targets[target][1]).argmax())) if kind == "accuracy" else 0.0
        title = (
            f"{target}: {'R^2' if kind == 'r2' else 'accuracy'} on {n_test} held-out frames "
            f"({len(np.unique(test_groups))} trajectories)"
            + (f"; majority class {majority:.3f}" if kind == "accuracy" else "")
        )
        table = Table(title=title)
        for column in ("encoder", "init seed", "score [95% CI]", "vs first [95% CI]", "ridge"):
            table.add_column(column)
        for i, row in enumerate(rows):
            result = row[target]
            result["ci95"] = probe.interval(samples[i])
            diff = {"difference": result["score"] - rows[0][target]["score"]}
            diff["low"], diff["high"] = probe.interval(samples[i] - samples[0])
            result["vs_first"] = diff
            table.add_row(
                row["label"],
                "-" if row["init_seed"] is None else str(row["init_seed"]),
                f"{result['score']:.3f} [{result['ci95'][0]:.3f}, {result['ci95'][1]:.3f}]",
                f"{diff['difference']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]",
                f"{result['ridge']:g}",
            )
            markdown.append(
                f"| {row['label']} | {row['weights'] or '-'} | {'-' if row['init_seed'] is None else row['init_seed']} "
                f"| {target} | {result['score']:.3f} [{result['ci95'][0]:.3f}, {result['ci95'][1]:.3f}] "
                f"| {diff['difference']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}] |"
            )
        console.print(table)
        summary[target] = {"kind": kind, "majority_class_accuracy": majority if kind == "accuracy" else None}
    if args.out:
        clean = [
            {k: ({kk: vv for kk, vv in v.items() if kk != "parts"} if k in targets else v) for k, v in row.items()}
            for row in rows
        ]
        write_json_atomic(
            Path(args.out),
            {
                "train": args.train,
                "test": args.test,
                "train_frames": n_train,
                "test_frames": n_test,
                "test_trajectories": len(np.unique(test_groups)),
                "rows": args.rows,
                "cols": args.cols,
                "pool": args.pool,
                "folds": args.folds,
                "bootstrap": "95% percentile, 2000 resamples of held-out trajectories, seed " + str(args.seed),
                "targets": summary,
                "command": _command(),
                "results": clean,
            },
        )
    if args.markdown:
        from depthbench.files import write_text_atomic

        write_text_atomic(Path(args.markdown), "\n".join(markdown) + "\n")
    return 0
