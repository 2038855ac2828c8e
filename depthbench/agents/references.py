"""Reference policies shipped with depthbench, loadable by name: `reference:TASK/ROLE` (`reference:pointnav/student`).

As habitat-baselines publishes pretrained models beside their evaluation numbers, each entry of the store is

    <store>/<task>/<role>/model.pt        the run's final checkpoint (optimizer moments stripped; weights-only safe)
    <store>/<task>/<role>/manifest.json   the run's manifest plus provenance under "reference" (source run, commit,
                                          library versions, training time, machine, load, dates)
    <store>/<task>/<role>/eval/*.json     its evaluation metrics, with their *.episodes.json records

The store is the package folder depthbench/references/ (shipped as package data), or $DEPTHBENCH_REFERENCES_DIR.
Every command that takes a checkpoint path also takes a reference name; `resolve_checkpoint` is the one place that
turns a name into a file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthbench.errors import DepthbenchError

PREFIX = "reference:"
ENV_VAR = "DEPTHBENCH_REFERENCES_DIR"
PACKAGE_STORE = Path(__file__).resolve().parents[1] / "references"
MAX_STORE_BYTES = 20_000_000  # issue #13: all reference policies together at most 20 MB (they ship in the wheel)
MODEL = "model.pt"
MANIFEST = "manifest.json"
EVAL_DIR = "eval"
OUTPUT_ROOT = Path("runs") / "references"  # where evaluating or exporting a reference writes (never into the store)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
STRIPPED = (
    "optimizer moments (Adam exp_avg, exp_avg_sq, step): the checkpoint evaluates, exports and teaches "
    "(distill --teacher) but cannot resume training"
)


@dataclass(frozen=True)
class Reference:
    task: str
    role: str
    path: Path  # the entry's folder

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.task}/{self.role}"

    @property
    def checkpoint(self) -> Path:
        return self.path / MODEL


def store_root() -> Path:
    """$DEPTHBENCH_REFERENCES_DIR if set (tests, a private store), else the shipped package folder."""
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else PACKAGE_STORE


def is_reference(spec: str | Path | None) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def entries(root: Path | None = None) -> list[Reference]:
    """All stored references, sorted by task then role."""
    root = store_root() if root is None else root
    if not root.is_dir():
        return []
    found = []
    for model in sorted(root.glob(f"*/*/{MODEL}")):
        role_dir = model.parent
        if not role_dir.name.startswith("."):  # .ROLE.tmp*: an add in progress
            found.append(Reference(role_dir.parent.name, role_dir.name, role_dir))
    return found


def lookup(spec: str, root: Path | None = None) -> Reference:
    """The stored entry `reference:TASK/ROLE` names; an unknown name is one line listing what exists."""
    root = store_root() if root is None else root
    body = spec[len(PREFIX) :] if spec.startswith(PREFIX) else spec
    task, _, role = body.partition("/")
    for entry in entries(root):
        if (entry.task, entry.role) == (task, role):
            return entry
    known = ", ".join(e.name for e in entries(root)) or "none"
    raise DepthbenchError(f"unknown reference policy '{spec}' (want reference:TASK/ROLE); stored in {root}: {known}")


def resolve_checkpoint(spec: str | Path) -> Path:
    """A checkpoint argument as a file path: `reference:TASK/ROLE` -> the store's model.pt, anything else unchanged."""
    return lookup(spec).checkpoint if is_reference(spec) else Path(spec)


def output_dir(spec: str) -> Path:
    """Where `eval` / `export` of a reference write by default: runs/references/TASK/ROLE (the store stays as
    published)."""
    entry = lookup(spec)
    return OUTPUT_ROOT / entry.task / entry.role


def evaluations(entry: Reference) -> list[tuple[Path, dict[str, Any]]]:
    """The entry's stored metrics documents (not their episode records), sorted by file name."""
    from depthbench.agents.report import collect

    folder = entry.path / EVAL_DIR
    return collect(folder)["metrics"] if folder.is_dir() else []


def primary_evaluation(entry: Reference) -> tuple[Path, dict[str, Any]] | None:
    """The evaluation `references list` shows: clean noise on the test split if stored, else the first file."""
    evals = evaluations(entry)
    preferred = [e for e in evals if (e[1]["eval_noise"], e[1]["split"]) == ("clean", "test")]
    return (preferred or evals or [None])[0]


def teacher_metrics_path(spec: str, result: dict[str, Any]) -> Path:
    """`eval --teacher-metrics reference:TASK/ROLE`: the entry's stored evaluation matching this one's split and action
    mode (and eval noise, except for a privileged teacher, which sees no depth and so no depth noise)."""
    if not is_reference(spec):
        return Path(spec)
    entry = lookup(spec)
    from depthbench.agents.report import actions

    evals = [
        (path, data)
        for path, data in evaluations(entry)
        if (data["split"], actions(data)) == (result["split"], actions(result))
    ]
    same_noise = [(p, d) for p, d in evals if d["eval_noise"] == result["eval_noise"]]
    candidates = same_noise or (evals if entry_kind(entry) == "teacher" else [])
    if not candidates:
        stored = ", ".join(f"{d['eval_noise']}/{d['split']}/{actions(d)}" for _, d in evaluations(entry)) or "none"
        raise DepthbenchError(
            f"{spec} has no stored evaluation on split {result['split']} with {actions(result)} actions and eval "
            f"noise {result['eval_noise']} (stored: {stored}); pass a teacher metrics JSON instead"
        )
    return candidates[0][0]


def entry_kind(entry: Reference) -> str:
    return json.loads((entry.path / MANIFEST).read_text())["kind"]


def describe(entry: Reference) -> dict[str, Any]:
    """One `references list` row: what the entry is and its stored success rate with 95% CI."""
    manifest = json.loads((entry.path / MANIFEST).read_text())
    primary = primary_evaluation(entry)
    row: dict[str, Any] = {
        "name": entry.name,
        "task": entry.task,
        "role": entry.role,
        "kind": manifest["kind"],
        "encoder": manifest["encoder"]["label"],
        "weights_provenance": manifest["encoder"]["weights_provenance"],
        "train_noise": manifest["train_noise"],
        "seed": manifest["seed"],
        "iterations": manifest["iterations_done"],
        "teacher": manifest["reference"].get("teacher"),
        "size_bytes": _tree_bytes(entry.path),
        "evaluations": [path.name for path, _ in evaluations(entry)],
    }
    if primary is not None:
        from depthbench.agents.report import actions

        path, data = primary
        row["stored"] = {
            "file": path.name,
            "eval_noise": data["eval_noise"],
            "split": data["split"],
            "actions": actions(data),
            "episodes": data["episodes"],
            "eval_seed": data["eval_seed"],
            "success_rate": data["metrics"]["success_rate"],
        }
    return row


def machine() -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo, else platform), core count and GPU of this machine."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform()}
    import torch

    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _tree_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _check_name(value: str, what: str) -> None:
    if not _NAME.match(value):
        raise DepthbenchError(f"--{what} '{value}' is not a valid name: use lower-case letters, digits, '-', '_', '.'")


def _stripped(data: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint without optimizer moments, marked as such."""
    from depthbench.agents.training import without_optimizer_moments

    return {**without_optimizer_moments(data), "depthbench": {**data["depthbench"], "stripped": STRIPPED}}


def _same_weights(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _find_teacher(data: dict[str, Any], task: str, root: Path) -> Reference:
    """The stored entry whose actor is the teacher inside a distilled student's checkpoint."""
    from depthbench.agents.training import load_checkpoint

    for entry in entries(root):
        if entry.task == task:
            actor = load_checkpoint(entry.checkpoint).get("actor_state_dict") or {}
            if _same_weights(actor, data["teacher_state_dict"]):
                return entry
    raise DepthbenchError(
        f"this distilled student's teacher is not in the store {root}: add the teacher run first "
        f"(depthbench references add TEACHER_RUN --task {task} --role teacher), so that the student names it"
    )


def _stored_evaluations(
    eval_dir: Path, *, task: str, kind: str, iterations: int, seed: int
) -> list[tuple[Path, dict[str, Any], Path]]:
    """The run's evaluations of this very checkpoint (metrics path, metrics, episode records path)."""
    from depthbench.agents.report import collect

    if not eval_dir.is_dir():
        raise DepthbenchError(f"evaluation folder not found: {eval_dir}; evaluate the run first (depthbench eval)")
    found = []
    for path, data in collect(eval_dir)["metrics"]:
        if path.parent != eval_dir:
            continue
        what = (data["task"], data["kind"], data.get("iterations"), data["train_seed"])
        if what != (task, kind, iterations, seed):
            raise DepthbenchError(
                f"{path} evaluates {what[0]}/{what[1]} iteration {what[2]} seed {what[3]}, not this run's final "
                f"checkpoint ({task}/{kind} iteration {iterations} seed {seed}); move it out of {eval_dir} or pass "
                "--eval-dir"
            )
        records = path.parent / data.get("episode_records_file", "")
        if not records.is_file():
            raise DepthbenchError(f"{path} has no episode records beside it ({records.name}); re-run the evaluation")
        found.append((path, data, records))
    if not found:
        raise DepthbenchError(
            f"no evaluation JSONs in {eval_dir}; evaluate the final checkpoint first (depthbench eval {task} "
            "--checkpoint RUN_DIR)"
        )
    return found


def add(
    run_dir: str | Path,
    *,
    task: str,
    role: str,
    eval_dir: str | Path | None = None,
    force: bool = False,
    root: Path | None = None,
) -> Reference:
    """Copy a finished run's final checkpoint (stripped), manifest and evaluations into the store, atomically: the
    entry is assembled in a hidden folder and renamed into place, so a killed add leaves the store as it was."""
    from depthbench.agents import config as agent_config
    from depthbench.agents import training

    root = store_root() if root is None else root
    run_dir = Path(run_dir)
    _check_name(task, "task")
    _check_name(role, "role")
    manifest = training.finished_manifest(run_dir)
    if manifest["task"] != task:
        raise DepthbenchError(f"run {run_dir} trained on '{manifest['task']}', not --task '{task}'")
    checkpoint = training.latest_checkpoint(run_dir)
    if checkpoint is None:
        raise DepthbenchError(f"no checkpoints in {run_dir / 'checkpoints'}")
    data = training.load_checkpoint(checkpoint)
    iterations = int(data["iter"])
    if iterations != manifest["iterations_done"]:
        raise DepthbenchError(f"{checkpoint} is iteration {iterations}, the run finished {manifest['iterations_done']}")
    target = root / task / role
    if target.exists() and not force:
        raise DepthbenchError(f"{PREFIX}{task}/{role} already exists in {root}; pass --force to replace it")
    evals = _stored_evaluations(
        Path(eval_dir) if eval_dir else run_dir / EVAL_DIR,
        task=task,
        kind=manifest["kind"],
        iterations=iterations,
        seed=int(manifest["seed"]),
    )
    from depthbench.agents.scripted_teachers import is_scripted

    # a scripted teacher (distill --teacher scripted:NAME) has no weights to store: the student names the controller
    scripted_teacher = manifest.get("teacher_checkpoint") if is_scripted(manifest.get("teacher_checkpoint")) else None
    distilled = manifest["kind"] == "distillation" and scripted_teacher is None
    teacher = _find_teacher(data, task, root) if distilled else None
    for student in entries(root):  # --force must not swap the teacher a stored student names for another one
        student_manifest = json.loads((student.path / MANIFEST).read_text())
        if student_manifest["reference"].get("teacher") == f"{PREFIX}{task}/{role}":
            embedded = training.load_checkpoint(student.checkpoint)["teacher_state_dict"]
            if not _same_weights(data.get("actor_state_dict") or {}, embedded):
                raise DepthbenchError(
                    f"{PREFIX}{task}/{role} is the teacher of {student.name}, distilled from other weights; "
                    f"re-add that student with its teacher, or store this policy under another --role"
                )

    provenance = {
        "name": f"{PREFIX}{task}/{role}",
        "source_run_dir": _portable(run_dir),
        "source_checkpoint": _portable(checkpoint),
        "iterations": iterations,
        "git_commit": manifest["versions"].get("git_commit", "unknown"),
        "versions": manifest["versions"],
        # summed iteration times over all sessions (progress.jsonl), and the wall time of the last session
        "training_time_s": manifest.get("throughput", {}).get("seconds"),
        "train_wall_time_s_last_session": manifest.get("train_wall_time_s_this_session"),
        "env_steps_per_s": manifest.get("throughput", {}).get("env_steps_per_s"),
        "machine": manifest.get("machine") or machine(),
        "machine_source": "training manifest" if manifest.get("machine") else "references add (assumed the trainer)",
        "load_average_during_training": manifest.get("load_average", "not recorded"),
        "trained_at": _iso(checkpoint.stat().st_mtime),
        "added_at": _iso(None),
        "added_with": agent_config.versions(),
        "stripped": STRIPPED,
        "evaluations": [path.name for path, _, _ in evals],
        "teacher": teacher.name if teacher else scripted_teacher,
    }
    stored_manifest = {**manifest, "checkpoint": MODEL, "reference": provenance}
    if teacher is not None:
        stored_manifest["teacher_checkpoint"] = teacher.name  # the store's teacher, not a path on the trainer's disk
        provenance["teacher_checkpoint_source"] = manifest.get("teacher_checkpoint")

    (root / task).mkdir(parents=True, exist_ok=True)
    staging = root / task / f".{role}.tmp{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        training.torch_save_atomic(_stripped(data), staging / MODEL)
        training.load_checkpoint(staging / MODEL)  # the stored file must load with the weights-only unpickler
        training.write_json_atomic(staging / MANIFEST, stored_manifest)
        for path, _, records in evals:
            (staging / EVAL_DIR).mkdir(exist_ok=True)
            shutil.copyfile(path, staging / EVAL_DIR / path.name)
            shutil.copyfile(records, staging / EVAL_DIR / records.name)
        total = _tree_bytes(root) - _tree_bytes(target)
        if total > MAX_STORE_BYTES:
            raise DepthbenchError(
                f"the reference store would hold {total / 1e6:.1f} MB, over its {MAX_STORE_BYTES / 1e6:.0f} MB "
                f"limit (this entry: {_tree_bytes(staging) / 1e6:.1f} MB); publish a smaller policy or remove one"
            )
        retired = root / task / f".{role}.old{os.getpid()}"
        if target.exists():
            os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Reference(task, role, target)


def _iso(timestamp: float | None) -> str:
    """UTC ISO-8601 time of a file modification timestamp, or now."""
    if timestamp is None:
        return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="seconds")


def _portable(path: Path) -> str:
    """A recorded source path relative to the working directory when it lies below it (runs/...), so an entry added
    from the repository root names no machine's absolute paths."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())
