"""`depthbench train | distill | eval | ablate | report | export | list`: the benchmark's user-facing workflow.

Shaped like Isaac Lab's `train.py --task NAME` / `play.py` and habitat-baselines' train/eval: one entry per action,
every task by name, configs as YAML with `--set key=value` overrides.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

PRESETS_HELP = "cpu-smoke (~1 min), cpu-small (< 1 h on 2 cores), paper (GPU); see `depthbench list`"


def _console() -> Console:
    """Tables at the terminal's width, or 140 columns when output goes to a file or CI log (rich would use 80)."""
    return Console(width=shutil.get_terminal_size((140, 24)).columns)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a PPO policy (or a privileged teacher) on a task with a depth encoder",
        description="Train with rsl-rl PPO. Outputs in --out: manifest.json, progress.jsonl, checkpoints/, "
        "tensorboard/. Kill it any time; --resume continues from the last checkpoint.",
    )
    train.add_argument("task", help="task name (see `depthbench list`)")
    train.add_argument("--encoder", help="depth encoder name (default: the task's agent config, scratch-cnn)")
    train.add_argument(
        "--teacher", action="store_true", help="train a privileged teacher (state only, no depth) for `distill`"
    )
    _add_run_flags(train)
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.set_defaults(func=_train)

    distill = subparsers.add_parser(
        "distill", help="distill a privileged teacher into a depth student (rsl-rl DistillationRunner)"
    )
    distill.add_argument("task")
    distill.add_argument(
        "--teacher",
        help="teacher checkpoint from `train --teacher`, reference:TASK/teacher (a shipped policy), or a scripted "
        "privileged controller scripted:NAME (scripted:grasp for kuka-allegro-grasp); required unless --resume: the "
        "run knows it",
    )
    distill.add_argument("--encoder", help="student's depth encoder name")
    _add_run_flags(distill)
    distill.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    distill.set_defaults(func=_distill)

    evaluate = subparsers.add_parser(
        "eval", help="evaluate a checkpoint -> metrics JSON with 95%% confidence intervals"
    )
    evaluate.add_argument("task", help="task name (must match the checkpoint's task)")
    evaluate.add_argument(
        "--checkpoint",
        required=True,
        help="model_*.pt from a run's checkpoints/, a run dir, or a shipped reference policy reference:TASK/ROLE "
        "(`depthbench references list`)",
    )
    evaluate.add_argument("--eval-noise", help="noise spec applied to depth at evaluation (default: config, clean)")
    evaluate.add_argument("--episodes", type=int, help="episodes to evaluate (default: config)")
    evaluate.add_argument("--split", help="task split: train|val|test (default: config, test)")
    evaluate.add_argument("--num-envs", type=int, help="parallel envs during evaluation")
    evaluate.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        help="act with the most likely action (--deterministic) or sample (--no-deterministic); default: config "
        "eval.deterministic (eval.student_deterministic for a distilled student, whose teacher acts in the same mode).",
    )
    evaluate.add_argument("--seed", type=int, default=0, help="evaluation seed (episodes drawn from it)")
    evaluate.add_argument("--device", help="cpu or cuda (default: the device the run trained on)")
    add_engine_flag(evaluate, default_help="the engine the run trained on")
    evaluate.add_argument("--out", help="metrics JSON path (default: RUN/eval/<noise>_<split>.json)")
    evaluate.add_argument(
        "--teacher-metrics",
        help="a teacher's metrics JSON (same task and split) or reference:TASK/ROLE (its stored evaluation): adds SR "
        "normalized to the teacher (distilled students get it automatically; with this flag their teacher is not "
        "rolled out again)",
    )
    evaluate.add_argument(
        "--no-teacher",
        action="store_true",
        help="distilled students: skip the teacher rollout (compare later with --teacher-metrics or "
        "scripts/embodied_nav_table.py)",
    )
    evaluate.add_argument(
        "--video",
        type=int,
        default=0,
        metavar="N",
        help="also record N of the episodes into an MP4 beside the metrics JSON: depth clean and noisy, the task's "
        "view (top-down map or third-person), metrics per episode (see docs/videos.md)",
    )
    evaluate.add_argument("--no-progress", action="store_true")
    evaluate.set_defaults(func=_eval)

    ablate = subparsers.add_parser(
        "ablate", help="encoders x train noise x seeds matrix, evaluated under several noises (resumable)"
    )
    ablate.add_argument("task")
    ablate.add_argument("--encoders", required=True, help="comma-separated encoder names")
    ablate.add_argument("--train-noise", default="clean", help="comma-separated training noise specs")
    ablate.add_argument("--eval-noise", default="clean", help="comma-separated evaluation noise specs (+clean)")
    ablate.add_argument("--seeds", type=int, default=3, help="training seeds per cell (0..N-1)")
    ablate.add_argument("--weights", help="weights for pretrained encoders: none|defm|imagenet|PATH (default auto)")
    ablate.add_argument("--preset", help=PRESETS_HELP)
    add_engine_flag(ablate)
    ablate.add_argument("--episodes", type=int, help="evaluation episodes per cell and noise")
    ablate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ablate.add_argument("--out", help="output directory (default runs/ablate-TASK)")
    ablate.add_argument("--no-report", action="store_true", help="skip the report after the matrix")
    ablate.add_argument("--no-progress", action="store_true")
    ablate.add_argument(
        "--launcher",
        default="local",
        help="local: cells one after the other in this process (default); ray: one Ray task per cell, on a laptop or "
        "a cluster, with --out on a path every node sees (docs/ray.md; pip install 'depthbench[ray]')",
    )
    ablate.add_argument(
        "--address",
        help="ray: the cluster to use, auto (the one on this machine / RAY_ADDRESS) or HOST:PORT "
        "(default: a private Ray instance on this machine, stopped at the end)",
    )
    ablate.add_argument("--gpus-per-cell", type=float, help="ray: GPUs reserved per cell, fractions share (default 0)")
    ablate.add_argument("--cpus-per-cell", type=float, help="ray: CPUs per cell = its torch threads (default 1)")
    ablate.add_argument(
        "--max-retries",
        type=int,
        help="ray: times a cell whose worker or node died is started again, resuming from its checkpoint (default 3)",
    )
    ablate.set_defaults(func=_ablate)

    report = subparsers.add_parser("report", help="markdown + CSV tables and PNG plots from a runs directory")
    report.add_argument("runs_dir")
    report.add_argument("--out", help="output directory (default RUNS_DIR/report)")
    report.set_defaults(func=_report)

    export = subparsers.add_parser(
        "export", help="ONNX export (depth preprocessing + encoder + policy), parity-checked with onnxruntime"
    )
    export.add_argument("checkpoint", help="model_*.pt, or a reference policy reference:TASK/ROLE")
    export.add_argument(
        "--out",
        help="ONNX path (default: next to the checkpoint, policy.onnx; runs/references/TASK/ROLE for a reference)",
    )
    export.set_defaults(func=_export)

    average = subparsers.add_parser(
        "average",
        help="average a finished run's last checkpoints (stochastic weight averaging) into a new run folder",
        description="Stochastic weight averaging (Izmailov et al. 2018) of a finished run's saved iterates: the "
        "mean of the policy weights of every checkpoint from --from-iteration on, written to "
        "OUT/checkpoints/model_<last>.pt with a manifest naming the iterates. Evaluate it like any checkpoint; its "
        "evaluations record the average and the leaderboard keeps it apart from the last iterate.",
    )
    average.add_argument("run_dir", help="a finished train/distill run folder")
    average.add_argument(
        "--from-iteration", type=int, required=True, help="average every saved checkpoint from this iteration on"
    )
    average.add_argument("--out", required=True, help="a new folder for the averaged policy")
    average.set_defaults(func=_average)

    listing = subparsers.add_parser("list", help="tasks, encoders, noise models and presets")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", help="none | defm | imagenet | PATH (default auto: DeFM weights for defm-*)")
    parser.add_argument(
        "--mode",
        choices=["auto", "frozen", "finetune", "partial"],
        help="encoder training mode (default auto: scratch-cnn finetunes, pretrained are frozen)",
    )
    parser.add_argument("--train-noise", help="depth noise spec applied during training, e.g. 'kinect-v1'")
    parser.add_argument("--num-envs", type=int)
    parser.add_argument(
        "--iterations", type=int, help="PPO/distillation iterations (with --resume: the new total, to extend a run)"
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="cpu or cuda")
    add_engine_flag(parser)
    parser.add_argument("--preset", help=PRESETS_HELP)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set ppo.algorithm.learning_rate=3e-4 (repeatable)",
    )
    parser.add_argument("--out", help="run directory (default runs/TASK/<encoder>_<noise>_s<seed>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_engine_flag(parser: argparse.ArgumentParser, default_help: str = "the task's own, e.g. mujoco") -> None:
    parser.add_argument(
        "--engine",
        help=f"simulation engine: mujoco (batched MuJoCo, CPU) or isaaclab (Isaac Lab 3 / Newton, CPU or CUDA; "
        f"needs .venv-isaaclab, see docs/isaaclab.md); default: {default_help}",
    )


def _command_line() -> str:
    return "depthbench " + shlex.join(sys.argv[1:])


def _resolve(args: argparse.Namespace) -> dict[str, Any]:
    from depthbench.agents.config import resolve_config

    flags = {
        "encoder.name": args.encoder,
        "encoder.weights": args.weights,
        "encoder.mode": args.mode,
        "train_noise": args.train_noise,
        "num_envs": args.num_envs,
        "iterations": args.iterations,
        "seed": args.seed,
        "device": args.device,
        "engine": args.engine,
    }
    return resolve_config(args.task, preset=args.preset, flags=flags, overrides=args.overrides)


def _run_dir(args: argparse.Namespace, cfg: dict[str, Any], kind: str) -> Path:
    from depthbench.agents.ablation import slug

    if args.out:
        return Path(args.out)
    who = "teacher" if kind == "teacher" else slug(cfg["encoder"]["name"])
    prefix = "distill_" if kind == "distillation" else ""
    return Path("runs") / cfg["task"] / f"{prefix}{who}_{slug(cfg['train_noise'])}_s{cfg['seed']}"


def _train(args: argparse.Namespace) -> int:
    from depthbench.agents.training import train

    kind = "teacher" if args.teacher else "ppo"
    if args.resume and args.out:
        cfg: dict[str, Any] = {}
    else:
        cfg = _resolve(args)
    run_dir = _run_dir(args, cfg, kind) if cfg else Path(args.out)
    manifest = train(
        cfg,
        run_dir,
        kind=kind,
        resume=args.resume,
        command=_command_line(),
        show_progress=not args.no_progress,
        iterations=args.iterations if args.resume else None,
    )
    _print_done(manifest, run_dir)
    return 0


def _distill(args: argparse.Namespace) -> int:
    from depthbench.agents.training import train
    from depthbench.errors import DepthbenchError

    if not args.teacher and not args.resume:
        raise DepthbenchError(
            "distill needs --teacher CHECKPOINT (a model_*.pt from `train --teacher`) or --teacher scripted:NAME"
        )
    cfg = {} if args.resume and args.out else _resolve(args)
    run_dir = _run_dir(args, cfg, "distillation") if cfg else Path(args.out)
    manifest = train(
        cfg,
        run_dir,
        kind="distillation",
        resume=args.resume,
        teacher_checkpoint=args.teacher,
        command=_command_line(),
        show_progress=not args.no_progress,
        iterations=args.iterations if args.resume else None,
    )
    _print_done(manifest, run_dir)
    return 0


def _print_done(manifest: dict[str, Any], run_dir: Path) -> None:
    print(
        f"{manifest['kind']} run finished: {manifest['iterations_done']} iterations, encoder "
        f"{manifest['encoder']['label']} ({manifest['encoder']['weights_provenance']})"
    )
    speed = manifest["throughput"]
    print(
        f"throughput: {speed['env_steps_per_s']:,.0f} env-steps/s end to end ({speed['env_steps']:,.0f} steps, "
        f"{speed['seconds']:.1f} s of rollout + update, torch threads {torch_threads()})"
    )
    print(f"checkpoint: {manifest['checkpoint']}")
    print(f"evaluate:   depthbench eval {manifest['task']} --checkpoint {manifest['checkpoint']}")
    print(f"tensorboard --logdir {run_dir / 'tensorboard'}")


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _eval(args: argparse.Namespace) -> int:
    from depthbench.agents import references
    from depthbench.agents.ablation import eval_path
    from depthbench.agents.evaluation import evaluate_checkpoint, write_metrics
    from depthbench.agents.training import latest_checkpoint, load_checkpoint
    from depthbench.errors import DepthbenchError

    checkpoint: str | Path = args.checkpoint if references.is_reference(args.checkpoint) else Path(args.checkpoint)
    if isinstance(checkpoint, Path) and checkpoint.is_dir():
        found = latest_checkpoint(checkpoint)
        if found is None:
            raise DepthbenchError(f"no checkpoints in run directory {checkpoint}")
        checkpoint = found
    task = load_checkpoint(checkpoint)["depthbench"]["config"]["task"]
    if task != args.task:
        raise DepthbenchError(f"checkpoint {checkpoint} was trained on '{task}', not '{args.task}'")
    result = evaluate_checkpoint(
        checkpoint,
        eval_noise=args.eval_noise,
        episodes=args.episodes,
        split=args.split,
        seed=args.seed,
        num_envs=args.num_envs,
        show_progress=not args.no_progress,
        deterministic=args.deterministic,
        video_episodes=args.video,
        video_path=Path(args.out).with_suffix(".mp4") if args.out else None,
        device=args.device,
        engine=args.engine,
        run_teacher=not (args.teacher_metrics or args.no_teacher),  # a reference replaces the teacher rollout
    )
    if args.teacher_metrics:
        path = references.teacher_metrics_path(args.teacher_metrics, result)
        # a reference is named, not located: the store's absolute path differs per machine
        source = f"{args.teacher_metrics} eval/{path.name}" if references.is_reference(args.teacher_metrics) else None
        add_teacher_reference(result, path, source=source)
    run_dir = references.output_dir(checkpoint) if isinstance(checkpoint, str) else checkpoint.parent.parent
    out = Path(args.out) if args.out else eval_path(run_dir, f"{result['eval_noise']}_{result['split']}")
    write_metrics(result, out)
    _print_metrics(result)
    print(f"metrics: {out}")
    if "video" in result:
        video = result["video"]
        print(f"video:   {video['path']} ({len(video['episodes'])} episodes, {video['frames']} frames)")
        print(f"         view: {video['view']}")
    return 0


def add_teacher_reference(result: dict[str, Any], teacher_path: Path, *, source: str | None = None) -> None:
    """SR / teacher SR from a teacher evaluation on the same task and split, with its bootstrap CI; `source` names
    the teacher evaluation in the result (default: its path)."""
    from depthbench.agents.evaluation import normalized_success
    from depthbench.agents.report import actions
    from depthbench.errors import DepthbenchError

    if not teacher_path.is_file():
        raise DepthbenchError(f"teacher metrics not found: {teacher_path}")
    teacher = json.loads(teacher_path.read_text())
    if (teacher.get("task"), teacher.get("split")) != (result["task"], result["split"]):
        raise DepthbenchError(
            f"{teacher_path} evaluates {teacher.get('task')}/{teacher.get('split')}, not "
            f"{result['task']}/{result['split']}"
        )
    if actions(teacher) != actions(result):
        raise DepthbenchError(
            f"{teacher_path} acted {actions(teacher)}, this evaluation {actions(result)}; "
            "evaluate both the same way (--deterministic / --no-deterministic)"
        )
    records = json.loads((teacher_path.parent / teacher["episode_records_file"]).read_text())
    result["teacher"] = {"metrics": teacher["metrics"], "source": source or str(teacher_path)}
    result["normalized_to_teacher"] = normalized_success(result["episode_records"], records, seed=result["eval_seed"])


def _print_metrics(result: dict[str, Any]) -> None:
    from depthbench.agents.report import _fmt, actions

    table = Table(
        title=f"{result['task']} | {result['encoder']['label']} | train noise {result['train_noise']} | "
        f"eval noise {result['eval_noise']} | split {result['split']} | {result['episodes']} episodes | "
        f"{actions(result)} actions"
    )
    table.add_column("metric")
    table.add_column("mean [95% CI]", justify="right")
    table.add_column("CI method")
    for name, estimate in result["metrics"].items():
        table.add_row(name, _fmt(estimate), estimate["method"])
    if "normalized_to_teacher" in result:
        table.add_row("SR / teacher SR", _fmt(result["normalized_to_teacher"]), "bootstrap-ratio")
    _console().print(table)
    for group in result["groups"]:
        key = ", ".join(f"{k}={v}" for k, v in group["key"].items())
        print(f"  {key}: SR {_fmt(group['metrics'].get('success_rate'))} ({group['episodes']} episodes)")


def _ablate(args: argparse.Namespace) -> int:
    from depthbench.agents.ablation import run_ablation
    from depthbench.agents.report import build_report

    out = Path(args.out or f"runs/ablate-{args.task}")
    results = run_ablation(
        args.task,
        encoders=[e.strip() for e in args.encoders.split(",") if e.strip()],
        train_noises=_split_specs(args.train_noise),
        eval_noises=_split_specs(args.eval_noise),
        seeds=args.seeds,
        out=out,
        preset=args.preset,
        weights=args.weights,
        overrides=args.overrides,
        episodes=args.episodes,
        show_progress=not args.no_progress,
        launcher=args.launcher,
        ray_options={
            "address": args.address,
            "gpus_per_cell": args.gpus_per_cell,
            "cpus_per_cell": args.cpus_per_cell,
            "max_retries": args.max_retries,
        },
        engine=args.engine,
    )
    _print_ablation(results)
    if not args.no_report:
        report = build_report(out)
        print(f"report: {report['out'] / 'report.md'}")
    return 0


def _split_specs(text: str) -> list[str]:
    """Split comma-separated noise specs, keeping commas inside parentheses: 'a(p=1,q=2),b' -> ['a(p=1,q=2)', 'b']."""
    specs, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            specs.append(current.strip())
            current = ""
        else:
            current += char
    specs.append(current.strip())
    return [s for s in specs if s]


def _print_ablation(results: dict[str, Any]) -> None:
    from depthbench.agents.report import _fmt

    table = Table(
        title=f"{results['spec']['task']} ablation: success rate [95% CI] over {len(results['spec']['seeds'])} seed(s)"
    )
    for column in (
        "encoder",
        "train noise",
        "eval noise",
        "episodes",
        "SR [95% CI]",
        "SPL [95% CI]",
        "robustness drop",
    ):
        table.add_column(column)
    for row in results["rows"]:
        table.add_row(
            row["encoder_label"],
            row["train_noise"],
            row["eval_noise"],
            str(row["episodes"]),
            _fmt(row["metrics"]["success_rate"]),
            _fmt(row["metrics"].get("spl")),
            _fmt(row.get("robustness_drop")) if "robustness_drop" in row else "-",
        )
    _console().print(table)


def _report(args: argparse.Namespace) -> int:
    from depthbench.agents.report import build_report

    report = build_report(args.runs_dir, args.out)
    print((report["out"] / "report.md").read_text())
    print(f"report: {report['out'] / 'report.md'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from depthbench.agents import references
    from depthbench.agents.export import export_onnx

    if args.out:
        out = Path(args.out)
    elif references.is_reference(args.checkpoint):
        out = references.output_dir(args.checkpoint) / "policy.onnx"
    else:
        out = Path(args.checkpoint).parent / "policy.onnx"
    info = export_onnx(args.checkpoint, out)
    parity = info["parity"]
    print(
        f"wrote {info['onnx']} (inputs {info['inputs']}); parity vs PyTorch over {parity['samples']} samples: "
        f"max |diff| {parity['max_abs_diff']:.2e}, actions equal: {parity['actions_equal']}"
    )
    return 0


def _average(args: argparse.Namespace) -> int:
    from depthbench.agents.training import average_checkpoints

    checkpoint = average_checkpoints(args.run_dir, args.from_iteration, args.out, command=_command_line())
    task = json.loads((Path(args.out) / "manifest.json").read_text())["task"]
    print(f"wrote {checkpoint}")
    print(f"evaluate:   depthbench eval {task} --checkpoint {checkpoint}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from depthbench.agents.config import list_presets
    from depthbench.encoders import list_encoders
    from depthbench.envs import list_tasks
    from depthbench.noise import list_noise_models

    data = {
        "tasks": [{"name": t.name, "summary": t.summary} for t in list_tasks()],
        "encoders": [{"name": e.name, "summary": getattr(e, "summary", "")} for e in list_encoders()],
        "noise": [{"name": n.name, "summary": getattr(n, "summary", "")} for n in list_noise_models()],
        "presets": [{"name": name, "summary": description} for name, description in list_presets()],
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    console = _console()
    for section, rows in data.items():
        table = Table(title=section)
        table.add_column("name")
        table.add_column("summary")
        for row in rows:
            table.add_row(row["name"], str(row["summary"]))
        console.print(table)
    return 0
