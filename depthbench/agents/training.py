"""Training runs: rsl-rl OnPolicyRunner (PPO) or DistillationRunner, driven in checkpoint-sized chunks.

Why chunks: an env's internal state (scenes, poses, episode counters) is not checkpointable through the VecEnv API, so
every chunk of `save_interval` iterations starts from a freshly built env seeded by (seed, iteration). A run killed
mid-chunk and resumed from the last checkpoint (model, optimizer, RNG states, logger buffers) therefore replays exactly
what an uninterrupted run does, and its final results files are identical.

Run directory: manifest.json (config, seed, versions, encoder provenance, status), progress.jsonl (one row per
iteration, the learning curve), checkpoints/model_<iterations>.pt, tensorboard/ (rsl-rl's TensorBoard writer).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import pickle  # only for its UnpicklingError: checkpoints are read by torch's weights-only unpickler
import random
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rsl_rl.runners import DistillationRunner, OnPolicyRunner
from rsl_rl.utils.logger import Logger
from tqdm import tqdm

from depthbench.agents import config as agent_config
from depthbench.agents import scripted_teachers
from depthbench.agents.wrappers import DepthFeatureWrapper
from depthbench.errors import DepthbenchError
from depthbench.files import write_text_atomic

MANIFEST = "manifest.json"
PROGRESS = "progress.jsonl"
CHECKPOINTS = "checkpoints"
TIMING_KEYS = ("env_steps_per_s", "iteration_time_s")  # wall-clock fields: excluded when runs are compared


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def torch_save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(noise_generator: torch.Generator) -> dict[str, Any]:
    """All RNG states as tensors and plain types, so a checkpoint loads with `torch.load(weights_only=True)`."""
    version, python_state, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "noise": noise_generator.get_state(),
    }


def set_rng_state(state: dict[str, Any], noise_generator: torch.Generator) -> None:
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
            "has_gauss": numpy["has_gauss"],
            "gauss": numpy["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    noise_generator.set_state(state["noise"])


def torchrun_ranks() -> tuple[int, int, int]:
    """(global rank, local rank, world size) that torchrun sets; (0, 0, 1) for a plain single-device run."""
    return int(os.getenv("RANK", "0")), int(os.getenv("LOCAL_RANK", "0")), int(os.getenv("WORLD_SIZE", "1"))


def multi_gpu_device(device: str) -> str:
    """This process's GPU under torchrun (rsl-rl's multi-GPU PPO wants cuda:<LOCAL_RANK> and NCCL)."""
    _, local_rank, world = torchrun_ranks()
    if not str(device).startswith("cuda"):
        raise DepthbenchError(
            f"torchrun started {world} processes (WORLD_SIZE={world}): multi-GPU training needs --device cuda, "
            f"got '{device}'; run without torchrun on the CPU"
        )
    if torch.cuda.device_count() <= local_rank:
        raise DepthbenchError(
            f"LOCAL_RANK={local_rank} but torch sees {torch.cuda.device_count()} CUDA device(s); "
            "use --nproc-per-node <= the GPUs of this node"
        )
    return f"cuda:{local_rank}"


def curriculum_state(env: DepthFeatureWrapper) -> dict[str, Any] | None:
    """The task's curriculum state (plain lists, e.g. anymal-ladder's levels), None for tasks without one."""
    task = getattr(env.env, "unwrapped", env.env)  # Isaac Lab's VecEnv wrapper holds the task as `unwrapped`
    getter = getattr(task, "curriculum_state", None)
    return getter() if getter is not None else None


def load_curriculum_state(env: DepthFeatureWrapper, state: dict[str, Any] | None) -> None:
    """Hand a curriculum state to the task of a rebuilt (next chunk) or resumed env."""
    if state is not None:
        getattr(env.env, "unwrapped", env.env).load_curriculum_state(state)


def chunk_env_seed(seed: int, iteration: int) -> int:
    """Env seed of the chunk starting at `iteration`: distinct per chunk, the same in a resumed and an unkilled run."""
    return seed * 1_000_003 + iteration


class _ProgressLogger(Logger):
    """rsl-rl's Logger (TensorBoard scalars) plus a progress.jsonl learning curve and a tqdm bar instead of the
    multi-line console dump."""

    def __init__(self, *args: Any, progress_path: Path | None, bar: tqdm, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress_path = progress_path
        self.bar = bar
        self.finished: list[dict[str, Any]] = []

    def init_logging_writer(self) -> None:
        """One TensorBoard writer per run (rsl-rl opens one per learn() call and snapshots git; the manifest already
        records versions)."""
        if self.writer is None and self.log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=self.log_dir, flush_secs=10)

    def process_env_step(self, rewards: Any, dones: Any, extras: dict, intrinsic_rewards: Any = None) -> None:
        super().process_env_step(rewards, dones, extras, intrinsic_rewards)
        self.finished.extend(extras.get("finished_episodes", []))

    def log(self, it: int, start_it: int, total_it: int, collect_time: float, learn_time: float, **kwargs: Any) -> None:
        row: dict[str, Any] = {"iteration": it + 1}
        row["env_steps"] = (it + 1) * self.cfg["num_steps_per_env"] * self.num_envs
        if self.rewbuffer:
            row["mean_reward"] = float(np.mean(self.rewbuffer))
            row["mean_episode_length"] = float(np.mean(self.lenbuffer))
        if self.finished:
            row["train_success_rate"] = float(np.mean([float(ep.get("success", 0.0)) for ep in self.finished]))
            row["episodes"] = len(self.finished)
            for key in ("curriculum_level", "climbed_m"):  # the tasks that report them (anymal-ladder)
                if all(key in ep for ep in self.finished):
                    row[key] = float(np.mean([float(ep[key]) for ep in self.finished]))
        row.update({f"loss_{k}": float(v) for k, v in kwargs["loss_dict"].items()})
        row["learning_rate"] = float(kwargs["learning_rate"])
        row["iteration_time_s"] = collect_time + learn_time
        row["env_steps_per_s"] = self.cfg["num_steps_per_env"] * self.num_envs / max(collect_time + learn_time, 1e-9)
        if self.writer is not None and "train_success_rate" in row:
            self.writer.add_scalar("Train/success_rate", row["train_success_rate"], it)
        self.finished = []
        with contextlib.redirect_stdout(io.StringIO()):
            super().log(
                it=it, start_it=start_it, total_it=total_it, collect_time=collect_time, learn_time=learn_time, **kwargs
            )
        if self.progress_path is not None:  # None on torchrun ranks other than 0
            with self.progress_path.open("a") as f:
                f.write(json.dumps(row, sort_keys=True) + "\n")
        self.bar.update(1)
        postfix = {"reward": f"{row.get('mean_reward', float('nan')):.2f}", "fps": f"{row['env_steps_per_s']:.0f}"}
        if "train_success_rate" in row:
            postfix["SR"] = f"{row['train_success_rate']:.2f}"
        if "curriculum_level" in row:
            postfix["level"] = f"{row['curriculum_level']:.1f}"
        self.bar.set_postfix(postfix)

    def state(self) -> dict[str, Any]:
        return {"rewbuffer": list(self.rewbuffer), "lenbuffer": list(self.lenbuffer)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.rewbuffer = deque(state["rewbuffer"], maxlen=self.rewbuffer.maxlen)
        self.lenbuffer = deque(state["lenbuffer"], maxlen=self.lenbuffer.maxlen)


class PolicySetup:
    """Everything built from a run config: the frozen encoder (if any), env factory with noise, rsl-rl train_cfg."""

    def __init__(self, cfg: dict[str, Any], *, kind: str, teacher_cfg: dict[str, Any] | None = None) -> None:
        from depthbench.encoders import create

        self.cfg = cfg
        self.kind = kind  # "ppo" | "teacher" | "distillation"
        if kind == "distillation":
            self.train_cfg = agent_config.distillation_train_cfg(cfg, teacher_cfg or {})
        else:
            self.train_cfg = agent_config.ppo_train_cfg(cfg, teacher=kind == "teacher")
        self.needs_depth = kind != "teacher"
        self.encoder_kwargs = agent_config.encoder_create_kwargs(cfg)
        frozen = agent_config.encoder_mode(cfg) == "frozen"
        self.frozen_encoder = create(**self.encoder_kwargs).to(cfg["device"]) if self.needs_depth and frozen else None
        self.encoder_info: dict[str, Any] = {}

    def describe_encoder(self, runner: OnPolicyRunner) -> dict[str, Any]:
        """Name, label and weights provenance of the encoder the policy sees through (frozen or in the model)."""
        if not self.needs_depth:
            info = {"name": "none", "label": "privileged teacher (no depth)", "weights_provenance": "n/a"}
        else:
            encoder = self.frozen_encoder if self.frozen_encoder is not None else runner.alg.get_policy().encoder
            provenance = str(encoder.weights_provenance)
            name = self.encoder_kwargs["name"]
            info = {
                "name": name,
                "label": agent_config.encoder_label(name, provenance),
                "weights": self.encoder_kwargs["weights"],
                "mode": self.encoder_kwargs["mode"],
                "lr_multiplier": float(getattr(encoder, "lr_multiplier", 1.0)),
                "feature_dim": int(encoder.feature_dim),
                "weights_provenance": provenance,
            }
        self.encoder_info = info
        return info

    def make_env(
        self, *, seed: int, noise_spec: str, split: str | None, num_envs: int, generator: torch.Generator
    ) -> DepthFeatureWrapper:
        from depthbench.envs import make_task
        from depthbench.noise import build_noise

        overrides = copy.deepcopy(self.cfg["env"])
        if split is not None:
            overrides["split"] = split
        env = make_task(
            self.cfg["task"],
            num_envs=num_envs,
            seed=seed,
            device=self.cfg["device"],
            overrides=overrides,
            engine=self.cfg.get("engine"),
        )
        return DepthFeatureWrapper(
            env,
            noise=build_noise(noise_spec),
            generator=generator,
            frozen_encoder=self.frozen_encoder,
            encode_batch_size=self.cfg["encoder"]["encode_batch_size"],
            drop_depth=not self.needs_depth,
        )

    def runner(self, env: DepthFeatureWrapper, log_dir: str | None) -> OnPolicyRunner:
        runner_class = DistillationRunner if self.kind == "distillation" else OnPolicyRunner
        with contextlib.redirect_stdout(io.StringIO()):  # rsl-rl prints the full model; the manifest records it
            return runner_class(env, copy.deepcopy(self.train_cfg), log_dir=log_dir, device=self.cfg["device"])

    def frozen_encoder_state(self) -> dict[str, torch.Tensor] | None:
        """Random-init frozen weights are saved with the policy (they cannot be re-downloaded); pretrained ones are
        re-created from their source and checked against the recorded provenance."""
        if self.frozen_encoder is not None and self.encoder_info["weights_provenance"] == "random-init":
            return self.frozen_encoder.state_dict()
        return None


def saved_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every checkpoints/model_<iteration>.pt of a run, in iteration order."""
    found = [(int(p.stem.split("_")[1]), p) for p in (run_dir / CHECKPOINTS).glob("model_*.pt")]
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    saved = saved_checkpoints(run_dir)
    return saved[-1][1] if saved else None


def finished_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest of a finished train/distill run, or a one-line error (what the run lacks, what to do)."""
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise DepthbenchError(f"no {MANIFEST} in {run_dir}: pass a run directory from `depthbench train/distill`")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("status") != "finished":
        raise DepthbenchError(f"run {run_dir} is not finished (status {manifest.get('status')}); finish it first")
    return manifest


def without_optimizer_moments(data: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint minus the optimizer's moment estimates (2/3 of a PPO checkpoint): param_groups stay, so rsl-rl's
    strict `alg.load` (which eval, export and distill --teacher call) still loads it; it can no longer resume."""
    optimizer = data.get("optimizer_state_dict")
    if optimizer is None:
        return dict(data)
    return {**data, "optimizer_state_dict": {"state": {}, "param_groups": optimizer["param_groups"]}}


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a policy checkpoint with torch's weights-only unpickler: tensors, containers and plain types only, so a
    file that would run code when unpickled is refused before anything in it runs. `reference:TASK/ROLE` names a
    shipped reference policy (depthbench.agents.references)."""
    from depthbench.agents.references import resolve_checkpoint

    path = resolve_checkpoint(path)
    if not path.is_file():
        raise DepthbenchError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported content"
        raise DepthbenchError(
            f"checkpoint {path} was refused: it holds objects other than tensors and plain types, which could run "
            f"code when loaded ({reason[:160]}); only load checkpoints written by depthbench"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any read failure means the same thing to the user
        reason = " ".join(str(exc).split())[:200]
        raise DepthbenchError(f"checkpoint {path} could not be read ({type(exc).__name__}: {reason})") from None
    if not isinstance(data, dict) or "depthbench" not in data:
        raise DepthbenchError(f"{path} is not a depthbench checkpoint (no 'depthbench' section)")
    return data


# the trained weights of each kind of checkpoint; a distilled student's frozen teacher is the same in all of them
ACTOR_CRITIC = ("actor_state_dict", "critic_state_dict")
AVERAGED_STATE = {"ppo": ACTOR_CRITIC, "teacher": ACTOR_CRITIC, "distillation": ("student_state_dict",)}


def average_checkpoints(
    run_dir: str | Path, first_iteration: int, out_dir: str | Path, *, command: str | None = None
) -> Path:
    """Stochastic weight averaging (Izmailov et al. 2018) of a finished run's saved iterates: the equal-weight mean of
    the policy weights of every checkpoint from `first_iteration` on, written as a run folder of its own
    (OUT_DIR/checkpoints/model_<last>.pt and a manifest naming the iterates), so that eval, export and `references
    add` take it like any run and its evaluations land in OUT_DIR/eval, not beside the last iterate's.

    Why: a constant-rate run ends at an arbitrary point of its last iterates' spread, and which point varies by seed;
    their mean sits nearer the centre. torch.optim.swa_utils.AveragedModel keeps such a mean of a live module while
    training; here the iterates are already on disk, so their state dicts are averaged directly (the same mean).
    Normalizer statistics (running estimates over all data seen) and integer buffers come from the last iterate;
    optimizer moments are dropped (the average cannot resume training). A fine-tuned encoder's BatchNorm running
    statistics are averaged like weights, where SWA proper recomputes them with a pass over data (scratch-cnn has no
    BatchNorm; a frozen encoder is not in the policy's state and stays as it is)."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    manifest = finished_manifest(run_dir)
    paths = [path for iteration, path in saved_checkpoints(run_dir) if iteration >= first_iteration]
    if len(paths) < 2:
        raise DepthbenchError(
            f"{run_dir / CHECKPOINTS} has {len(paths)} checkpoint(s) from iteration {first_iteration} on; averaging "
            "needs at least two: pass an earlier --from-iteration"
        )
    if out_dir.resolve() == run_dir.resolve() or (out_dir / CHECKPOINTS).exists():
        raise DepthbenchError(f"{out_dir} is a run folder already; pass a new --out folder for the averaged policy")
    iterates = [load_checkpoint(p) for p in paths]
    last = iterates[-1]
    keys = AVERAGED_STATE.get(last["depthbench"]["kind"])
    if keys is None:
        raise DepthbenchError(f"{paths[-1]} is a '{last['depthbench']['kind']}' checkpoint, which cannot be averaged")
    averaged = without_optimizer_moments(last)
    for key in keys:
        state = {}
        for name, value in last[key].items():
            if "normalizer" in name or not torch.is_floating_point(value):
                state[name] = value
            else:
                state[name] = torch.stack([it[key][name] for it in iterates]).mean(0)
        averaged[key] = state
    iterations = [int(it["iter"]) for it in iterates]
    average = {"iterations": iterations, "source_run_dir": str(run_dir), "method": "swa (equal-weight mean)"}
    if command:
        average["command"] = command
    averaged["depthbench"] = {**last["depthbench"], "weights_average": average}
    checkpoint = out_dir / CHECKPOINTS / paths[-1].name
    torch_save_atomic(averaged, checkpoint)
    write_json_atomic(out_dir / MANIFEST, {**manifest, "checkpoint": str(checkpoint), "weights_average": average})
    return checkpoint


def train(
    cfg: dict[str, Any],
    run_dir: str | Path,
    *,
    kind: str = "ppo",
    resume: bool = False,
    teacher_checkpoint: str | Path | None = None,
    command: str = "",
    show_progress: bool = True,
    iterations: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) one run into `run_dir`; returns the final manifest. With `resume`, `iterations` sets a new
    total (e.g. to extend a finished run)."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    start_ckpt = None
    if resume:
        if not manifest_path.is_file():
            raise DepthbenchError(f"--resume: no {MANIFEST} in {run_dir}; start the run without --resume")
        saved = json.loads(manifest_path.read_text())
        cfg, kind = saved["config"], saved["kind"]
        if iterations is not None:  # extend (or finish early): chunks are seeded by iteration, so results equal a
            if iterations < saved["iterations_done"]:  # run started with this many iterations
                raise DepthbenchError(
                    f"--iterations {iterations} is below the {saved['iterations_done']} iterations this run has done"
                )
            cfg = {**cfg, "iterations": iterations}
        teacher_checkpoint = saved.get("teacher_checkpoint")
        start_ckpt = latest_checkpoint(run_dir)
    rank, _, world = torchrun_ranks()
    primary = rank == 0  # under torchrun only rank 0 writes the run directory; the other ranks train their share
    if world > 1:
        cfg = {**cfg, "device": multi_gpu_device(cfg["device"])}
    if not resume and primary and manifest_path.is_file():
        raise DepthbenchError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")

    scripted = kind == "distillation" and scripted_teachers.is_scripted(teacher_checkpoint)
    teacher_data = load_checkpoint(teacher_checkpoint) if kind == "distillation" and not scripted else None
    teacher_cfg = teacher_data["depthbench"]["config"] if teacher_data else None
    if scripted:
        teacher_cfg = scripted_teachers.teacher_config(str(teacher_checkpoint), cfg)
    elif teacher_cfg is not None and not resume:  # a resumed run's saved config already holds the env it trained in
        cfg = {**cfg, "env": agent_config.student_env(cfg["task"], cfg["env"], teacher_cfg["env"])}
    seed = int(cfg["seed"])
    rank_seed = seed + 100_003 * rank  # other ranks collect other experience (rank 0 = the single-GPU run)
    seed_everything(rank_seed)
    noise_generator = torch.Generator(device=cfg["device"]).manual_seed(rank_seed)
    setup = PolicySetup(cfg, kind=kind, teacher_cfg=teacher_cfg)

    total = int(cfg["iterations"])
    env = setup.make_env(
        seed=chunk_env_seed(rank_seed, 0),
        noise_spec=cfg["train_noise"],
        split=None,
        num_envs=cfg["num_envs"],
        generator=noise_generator,
    )
    log_dir = str(run_dir / "tensorboard") if primary else None
    runner = setup.runner(env, log_dir=log_dir)
    setup.describe_encoder(runner)
    if teacher_data is not None:
        try:
            runner.alg.load(teacher_data, {"teacher": True}, strict=True)
        except RuntimeError as err:  # shapes: the student's env changes what the teacher observes
            first = str(err).strip().splitlines()[-1].strip()
            raise DepthbenchError(
                f"teacher {teacher_checkpoint} does not fit this env's observations ({first}); drop the --set/preset "
                "changes to what the teacher observes"
            ) from None

        runner.alg.teacher_loaded = True
    elif scripted:  # a scripted teacher has no weights to load
        runner.alg.teacher_loaded = True

    manifest: dict[str, Any] = {
        "schema": "depthbench.run/1",
        "kind": kind,
        "task": cfg["task"],
        "seed": seed,
        "config": cfg,
        "rsl_rl_train_cfg": setup.train_cfg,
        "encoder": setup.encoder_info,
        "train_noise": cfg["train_noise"],
        "teacher_checkpoint": str(teacher_checkpoint) if teacher_checkpoint else None,
        "versions": agent_config.versions(),
        "command": command,
        "status": "running",
        "iterations_done": 0,
        "checkpoint": None,
    }
    done = 0
    bar = tqdm(
        total=total,
        desc=f"{kind} {cfg['task']} [{setup.encoder_info['label']}]",
        unit="it",
        disable=not show_progress or not primary,
        dynamic_ncols=True,
    )
    logger = _ProgressLogger(
        log_dir=log_dir,
        cfg=runner.cfg,
        env_cfg=env.cfg,
        num_envs=env.num_envs,
        is_distributed=world > 1,
        gpu_world_size=world,
        gpu_global_rank=rank,
        device=cfg["device"],
        progress_path=run_dir / PROGRESS if primary else None,
        bar=bar,
    )
    runner.logger = logger
    if start_ckpt is not None:
        data = load_checkpoint(start_ckpt)
        if "optimizer_state_dict" not in data:
            raise DepthbenchError(f"{start_ckpt} has no optimizer state (an evaluation-only copy); it cannot resume")
        runner.alg.load(data, None, strict=True)
        done = int(data["iter"])
        set_rng_state(data["depthbench"]["rng"], noise_generator)
        if not primary:  # checkpoints hold rank 0's RNG state: the others draw their own again
            seed_everything(rank_seed + done)
            noise_generator.manual_seed(rank_seed + done)
        logger.load_state(data["depthbench"]["logger"])
        curriculum = data["depthbench"].get("curriculum")
        logger.tot_timesteps = done * runner.cfg["num_steps_per_env"] * env.num_envs
        bar.update(done)
        manifest = json.loads(manifest_path.read_text())
        manifest["config"] = cfg  # the new total when --iterations extended the run
    if primary:
        _truncate_progress(run_dir / PROGRESS, done)
        manifest["status"] = "running"
        write_json_atomic(manifest_path, manifest)

    if start_ckpt is None:
        curriculum = curriculum_state(env)
    started = time.perf_counter()
    while done < total:
        if (done > 0 or start_ckpt is not None) and cfg.get("engine") == "isaaclab":
            # Isaac Lab allows one simulation per process: the chunk's env is the same one re-seeded with the seed
            # a rebuilt env would get, so a resumed run (a fresh process, built with that seed) sees the same
            # episode stream as an uninterrupted one (docs/isaaclab.md, "Resume").
            if done > 0:
                env.env.reset(seed=chunk_env_seed(rank_seed, done))
            if start_ckpt is not None and done == int(data["iter"]):
                load_curriculum_state(env, curriculum)
        elif done > 0 or start_ckpt is not None:
            env = setup.make_env(
                seed=chunk_env_seed(rank_seed, done),
                noise_spec=cfg["train_noise"],
                split=None,
                num_envs=cfg["num_envs"],
                generator=noise_generator,
            )
            load_curriculum_state(env, curriculum)  # the levels the previous chunk (or the checkpoint) ended with
            runner.env = env
        _reset_chunk_state(runner, logger)
        chunk = min(int(cfg["save_interval"]), total - done)
        runner.current_learning_iteration = done
        with contextlib.redirect_stdout(io.StringIO()):
            runner.learn(num_learning_iterations=chunk)
        done += chunk
        curriculum = curriculum_state(env)
        path = run_dir / CHECKPOINTS / f"model_{done}.pt"
        manifest.update(iterations_done=done, checkpoint=str(path))
        if primary:
            _save(runner, path, done, setup, noise_generator, logger)
            write_json_atomic(manifest_path, manifest)
    bar.close()
    if logger.writer is not None:
        logger.writer.flush()
    if not primary:
        return manifest
    manifest["status"] = "finished"
    manifest["train_wall_time_s_this_session"] = time.perf_counter() - started
    manifest["throughput"] = _throughput(run_dir / PROGRESS)
    write_json_atomic(manifest_path, manifest)
    return manifest


def _reset_chunk_state(runner: OnPolicyRunner, logger: _ProgressLogger) -> None:
    """A chunk starts with fresh envs: zero recurrent states and the logger's per-episode running sums."""
    alg = runner.alg
    for model in (
        getattr(alg, "actor", None),
        getattr(alg, "critic", None),
        getattr(alg, "student", None),
        getattr(alg, "teacher", None),
    ):
        if model is not None:
            model.reset()
    if hasattr(alg, "last_hidden_states"):
        alg.last_hidden_states = (None, None)
    # rsl-rl's storage skips saving a None hidden state, so step 0 of the next rollout would replay the previous
    # chunk's stored state; zero it so the chunk starts exactly as a resumed run does (from zeros)
    with torch.inference_mode():  # the storage was filled inside the runner's inference-mode rollout
        for saved in (alg.storage.saved_hidden_state_a, alg.storage.saved_hidden_state_c):
            for tensor in saved or ():
                tensor.zero_()
    logger.cur_reward_sum.zero_()
    logger.cur_episode_length.zero_()
    logger.finished = []


def _save(
    runner: OnPolicyRunner,
    path: Path,
    done: int,
    setup: PolicySetup,
    noise_generator: torch.Generator,
    logger: _ProgressLogger,
) -> None:
    data = runner.alg.save()
    data["iter"] = done
    data["infos"] = None
    data["depthbench"] = {
        "kind": setup.kind,
        "config": setup.cfg,
        "train_cfg": setup.train_cfg,
        "encoder": setup.encoder_info,
        "frozen_encoder_state": setup.frozen_encoder_state(),
        "rng": rng_state(noise_generator),
        "logger": logger.state(),
        "curriculum": curriculum_state(runner.env),
    }
    torch_save_atomic(data, path)


def _throughput(progress_path: Path) -> dict[str, float]:
    """End-to-end training speed (rollout incl. noise and encoder, plus PPO update) from the iteration timings."""
    rows = [json.loads(line) for line in progress_path.read_text().splitlines() if line.strip()]
    steps = rows[-1]["env_steps"]  # progress.jsonl always starts at iteration 1 (resumed runs keep earlier rows)
    seconds = sum(r["iteration_time_s"] for r in rows)
    return {"env_steps": float(steps), "seconds": seconds, "env_steps_per_s": steps / seconds if seconds else 0.0}


def _truncate_progress(path: Path, iterations: int) -> None:
    """Drop learning-curve rows past the checkpoint a resumed run restarts from (they are recomputed)."""
    if not path.is_file():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line)["iteration"] <= iterations]
    write_text_atomic(path, "".join(line + "\n" for line in kept))
