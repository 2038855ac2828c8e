"""Reference policies: `references add` into a store, `reference:TASK/ROLE` wherever a checkpoint is accepted, exact
reproduction of the stored evaluation, safe loading, one-line errors; and a CI-sized check of the shipped store."""

import json
import math

import pytest
import torch
from test_agents_pipeline import TASK, TINY, tiny_cfg

from depthbench.agents import references, training
from depthbench.agents.evaluation import evaluate_checkpoint
from depthbench.benchmarks.cli import main

Z999 = 3.2905267314919255  # standard normal 99.95% quantile: two-sided 99.9% interval


def wilson(successes, n, z):
    """Wilson score interval (Wilson 1927), written out here independently of depthbench.agents.stats."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def one_line_error(capsys, argv):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, argv
    assert err.count("\n") == 0, err
    return err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny privileged teacher and a student distilled from it, each evaluated on 4 test episodes."""
    root = tmp_path_factory.mktemp("runs")
    training.train(tiny_cfg(), root / "teacher", kind="teacher", show_progress=False)
    teacher_ckpt = root / "teacher/checkpoints/model_2.pt"
    cfg = tiny_cfg(**{"encoder.name": "scratch-cnn"})
    training.train(cfg, root / "student", kind="distillation", teacher_checkpoint=teacher_ckpt, show_progress=False)
    for name in ("teacher", "student"):
        assert main(["eval", TASK, "--checkpoint", str(root / name), "--episodes", "4", "--no-progress"]) == 0
    return root


@pytest.fixture(scope="module")
def store(runs, tmp_path_factory):
    """A private store (DEPTHBENCH_REFERENCES_DIR) holding pointnav/teacher and pointnav/student."""
    root = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(references.ENV_VAR, str(root))
        assert main(["references", "add", str(runs / "teacher"), "--task", TASK, "--role", "teacher"]) == 0
        assert main(["references", "add", str(runs / "student"), "--task", TASK, "--role", "student"]) == 0
        yield root


@pytest.fixture
def in_store(store, monkeypatch, tmp_path):
    monkeypatch.setenv(references.ENV_VAR, str(store))
    monkeypatch.chdir(tmp_path)  # default outputs (runs/references/...) land here, never in the store
    return store


def test_stored_entry_is_safe_small_and_names_its_teacher(in_store, runs):
    student = in_store / TASK / "student"
    assert sorted(p.name for p in student.iterdir()) == ["eval", "manifest.json", "model.pt"]
    assert sorted(p.name for p in (student / "eval").iterdir()) == ["clean-test.episodes.json", "clean-test.json"]
    for role in ("teacher", "student"):
        stored = torch.load(in_store / TASK / role / "model.pt", weights_only=True)  # weights-only: no code can run
        original = torch.load(runs / role / "checkpoints/model_2.pt", weights_only=True)
        assert stored["optimizer_state_dict"]["state"] == {}  # Adam moments stripped...
        assert stored["optimizer_state_dict"]["param_groups"] == original["optimizer_state_dict"]["param_groups"]
        weights = "actor_state_dict" if role == "teacher" else "student_state_dict"
        for name, tensor in original[weights].items():  # ...and the policy weights kept exactly
            assert torch.equal(stored[weights][name], tensor), name
        assert (in_store / TASK / role / "model.pt").stat().st_size < (
            runs / role / "checkpoints/model_2.pt"
        ).stat().st_size
    manifest = json.loads((student / "manifest.json").read_text())
    provenance = manifest["reference"]
    assert manifest["teacher_checkpoint"] == "reference:pointnav/teacher"  # the store's teacher, not a trainer path
    assert provenance["teacher_checkpoint_source"] == str(runs / "teacher/checkpoints/model_2.pt")
    assert provenance["source_run_dir"] == str((runs / "student").resolve())
    assert provenance["iterations"] == 2 and provenance["evaluations"] == ["clean-test.json"]
    assert provenance["git_commit"] == manifest["versions"]["git_commit"]
    assert provenance["training_time_s"] > 0 and provenance["machine"]["cpu"]
    assert provenance["load_average_during_training"] == "not recorded"


def test_eval_of_a_reference_reproduces_its_stored_evaluation(in_store, tmp_path):
    stored_dir = in_store / TASK / "student" / "eval"
    stored = json.loads((stored_dir / "clean-test.json").read_text())
    stored_records = json.loads((stored_dir / "clean-test.episodes.json").read_text())
    argv = ["eval", TASK, "--checkpoint", "reference:pointnav/student", "--episodes", "4", "--no-progress"]
    assert main(argv) == 0
    out = tmp_path / "runs/references/pointnav/student/eval/clean-test.json"
    result = json.loads(out.read_text())
    records = json.loads(out.with_name("clean-test.episodes.json").read_text())
    assert result["checkpoint"] == "reference:pointnav/student"
    # same checkpoint weights, episodes, seed and machine: the records are identical by construction (stripping the
    # optimizer moments changed nothing the policy computes)
    assert records == stored_records
    sr = result["metrics"]["success_rate"]["mean"]
    low, high = stored["metrics"]["success_rate"]["ci95"]
    assert low <= sr <= high and sr == stored["metrics"]["success_rate"]["mean"]
    # the distilled student's embedded teacher is the stored reference teacher, evaluated on the same episodes
    assert result["teacher"] == stored["teacher"]
    assert result["normalized_to_teacher"] == stored["normalized_to_teacher"]


def test_list_shows_stored_sr_with_ci(in_store, capsys):
    capsys.readouterr()
    assert main(["references", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listing["references"]] == ["reference:pointnav/student", "reference:pointnav/teacher"]
    student = listing["references"][0]
    stored = json.loads((in_store / TASK / "student/eval/clean-test.json").read_text())
    assert student["stored"]["success_rate"] == stored["metrics"]["success_rate"]
    assert student["kind"] == "distillation" and student["teacher"] == "reference:pointnav/teacher"
    total = sum(p.stat().st_size for p in (in_store / TASK / "student").rglob("*") if p.is_file())
    assert student["size_bytes"] == total
    assert main(["references", "list"]) == 0
    assert "reference:pointnav/teacher" in capsys.readouterr().out


def test_a_reference_teacher_teaches_and_normalizes(in_store, tmp_path):
    student_dir = tmp_path / "distilled"
    argv = ["distill", TASK, "--teacher", "reference:pointnav/teacher", "--encoder", "scratch-cnn"]
    argv += ["--iterations", "1", "--set=save_interval=1", "--out", str(student_dir), "--no-progress"]
    assert main([*argv, *[f"--set={o}" for o in TINY]]) == 0
    assert json.loads((student_dir / "manifest.json").read_text())["teacher_checkpoint"] == "reference:pointnav/teacher"
    student = torch.load(student_dir / "checkpoints/model_1.pt", weights_only=True)
    teacher = torch.load(in_store / TASK / "teacher/model.pt", weights_only=True)
    for name, tensor in teacher["actor_state_dict"].items():
        assert torch.equal(student["teacher_state_dict"][name], tensor), name
    # --teacher-metrics reference:...: the stored teacher evaluation with the same split and action mode (sampled)
    out = tmp_path / "sampled.json"
    evaluate = ["eval", TASK, "--checkpoint", "reference:pointnav/student", "--episodes", "4", "--no-deterministic"]
    assert main([*evaluate, "--teacher-metrics", "reference:pointnav/teacher", "--out", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    teacher_eval = in_store / TASK / "teacher/eval/clean-test.json"
    assert result["teacher"]["source"] == "reference:pointnav/teacher eval/clean-test.json"  # no machine path
    teacher_sr = json.loads(teacher_eval.read_text())["metrics"]["success_rate"]["mean"]
    if teacher_sr > 0:
        assert result["normalized_to_teacher"]["mean"] == pytest.approx(
            result["metrics"]["success_rate"]["mean"] / teacher_sr
        )


def test_export_of_a_reference_writes_outside_the_store(in_store, tmp_path):
    pytest.importorskip("onnxruntime")
    before = sorted(p.relative_to(in_store) for p in in_store.rglob("*"))
    assert main(["export", "reference:pointnav/student"]) == 0
    info = json.loads((tmp_path / "runs/references/pointnav/student/policy.json").read_text())
    assert info["parity"]["actions_equal"] and info["checkpoint"] == "reference:pointnav/student"
    assert sorted(p.relative_to(in_store) for p in in_store.rglob("*")) == before


def test_unknown_reference_is_one_line_listing_the_store(in_store, tmp_path, capsys):
    for argv in (
        ["eval", TASK, "--checkpoint", "reference:pointnav/nobody", "--no-progress"],
        ["export", "reference:pointnav/nobody"],
        ["distill", TASK, "--teacher", "reference:pointnav/nobody", "--out", str(tmp_path / "d"), "--no-progress"],
    ):
        err = one_line_error(capsys, argv)
        assert "unknown reference policy 'reference:pointnav/nobody'" in err
        assert "reference:pointnav/student, reference:pointnav/teacher" in err


def test_add_refuses_overwrite_oversize_and_a_student_without_its_teacher(
    in_store, runs, tmp_path, monkeypatch, capsys
):
    add_teacher = ["references", "add", str(runs / "teacher"), "--task", TASK, "--role", "teacher"]
    assert "already exists" in one_line_error(capsys, add_teacher)
    before = (in_store / TASK / "teacher/model.pt").read_bytes()
    assert main([*add_teacher, "--force"]) == 0  # replaced by an identical entry: the model bytes equal
    assert torch.equal(
        torch.load(in_store / TASK / "teacher/model.pt", weights_only=True)["actor_state_dict"]["mlp.0.weight"],
        torch.load(runs / "teacher/checkpoints/model_2.pt", weights_only=True)["actor_state_dict"]["mlp.0.weight"],
    )
    assert len(before) > 0
    # the stored student names reference:pointnav/teacher: another policy cannot replace it under that name
    err = one_line_error(
        capsys, ["references", "add", str(runs / "student"), "--task", TASK, "--role", "teacher", "--force"]
    )
    assert "is the teacher of reference:pointnav/student" in err
    # the size limit counts the whole store: a copy of the teacher under another role would exceed a 1-byte budget
    monkeypatch.setattr(references, "MAX_STORE_BYTES", 1)
    err = one_line_error(capsys, ["references", "add", str(runs / "teacher"), "--task", TASK, "--role", "copy"])
    assert "over its" in err and not (in_store / TASK / "copy").exists()
    assert not any(p.name.startswith(".") for p in (in_store / TASK).iterdir())  # no staging folder left behind
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty-store"
    monkeypatch.setenv(references.ENV_VAR, str(empty))
    err = one_line_error(capsys, ["references", "add", str(runs / "student"), "--task", TASK, "--role", "student"])
    assert "teacher is not in the store" in err
    err = one_line_error(capsys, ["references", "add", str(runs / "teacher"), "--task", "grasp", "--role", "t"])
    assert "trained on 'pointnav'" in err
    err = one_line_error(capsys, ["references", "add", str(runs / "teacher"), "--task", TASK, "--role", "Bad/Role"])
    assert "not a valid name" in err
    err = one_line_error(
        capsys, ["references", "add", str(runs / "teacher"), "--task", TASK, "--role", "t", "--eval-dir", str(empty)]
    )
    assert "evaluation folder not found" in err


SHIPPED = references.entries(references.PACKAGE_STORE)
CI_EPISODES = 24


@pytest.mark.parametrize("entry", SHIPPED, ids=[e.name for e in SHIPPED])
def test_shipped_reference_reproduces_its_stored_sr(entry, monkeypatch):
    """A CI-sized evaluation (24 episodes) of each shipped reference against its stored evaluation.

    Same seed, split, noise, action mode and env count as the stored run: env i's first k episodes are the first k of
    the stored run (fixed quota per env, lockstep stepping, seeded RNGs), so on one machine the small run reproduces
    that subset of the stored records exactly. Across CPUs float differences can flip a few episodes, so the checks
    allow it: (1) at most max(2, 10%) of the subset's outcomes differ, and (2) the small run's 99.9% Wilson interval
    overlaps the stored 95% CI, a check that fails by chance well under 0.1% of the time if the policy is unchanged.
    Deterministic for a fixed machine (fixed seeds), so it is not flaky.
    """
    monkeypatch.delenv(references.ENV_VAR, raising=False)
    path, stored = references.primary_evaluation(entry)
    stored_records = json.loads((path.parent / stored["episode_records_file"]).read_text())
    num_envs = max(r["env_id"] for r in stored_records) + 1
    episodes = min(CI_EPISODES, stored["episodes"])
    result = evaluate_checkpoint(
        entry.name,
        eval_noise=stored["eval_noise"],
        episodes=episodes,
        split=stored["split"],
        seed=stored["eval_seed"],
        num_envs=num_envs,
        deterministic=stored["deterministic"],
        show_progress=False,
        run_teacher=False,  # the entry's own outcomes are checked; a student's teacher is an entry of its own
    )
    quota = [episodes // num_envs + (1 if i < episodes % num_envs else 0) for i in range(num_envs)]
    expected = {i: [r["success"] for r in stored_records if r["env_id"] == i][: quota[i]] for i in range(num_envs)}
    got = {i: [r["success"] for r in result["episode_records"] if r["env_id"] == i] for i in range(num_envs)}
    differing = sum(a != b for i in range(num_envs) for a, b in zip(expected[i], got[i], strict=True))
    assert differing <= max(2, episodes // 10), (expected, got)
    sr = result["metrics"]["success_rate"]["mean"]
    low, high = wilson(sr * episodes, episodes, Z999)
    stored_low, stored_high = stored["metrics"]["success_rate"]["ci95"]
    assert low <= stored_high and stored_low <= high, (sr, stored["metrics"]["success_rate"])


def test_shipped_store_fits_its_budget_and_every_entry_loads_safely():
    total = sum(p.stat().st_size for p in references.PACKAGE_STORE.rglob("*") if p.is_file())
    assert total <= references.MAX_STORE_BYTES
    for entry in SHIPPED:
        data = torch.load(entry.checkpoint, weights_only=True)
        manifest = json.loads((entry.path / "manifest.json").read_text())
        assert data["depthbench"]["config"]["task"] == entry.task == manifest["task"]
        assert manifest["reference"]["name"] == entry.name
        assert references.primary_evaluation(entry) is not None
        if manifest["kind"] == "distillation":
            assert references.is_reference(manifest["teacher_checkpoint"])
            references.lookup(manifest["teacher_checkpoint"], references.PACKAGE_STORE)
