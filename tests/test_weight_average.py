"""`depthbench average`: stochastic weight averaging of a run's saved iterates. The average is the exact mean of the
policy weights, keeps the last iterate's normalizer, records which iterates it holds, evaluates like any checkpoint
and is a leaderboard row of its own; bad input is one line."""

import json

import pytest
import torch
from test_agents_pipeline import TASK, tiny_cfg

from depthbench.agents import leaderboard, training
from depthbench.benchmarks.cli import main


@pytest.fixture(scope="module")
def student_run(tmp_path_factory):
    """A tiny distilled student with checkpoints at iterations 1, 2 and 3, its last iterate evaluated."""
    root = tmp_path_factory.mktemp("avg")
    training.train(tiny_cfg(), root / "teacher", kind="teacher", show_progress=False)
    cfg = tiny_cfg(iterations=3, save_interval=1, **{"encoder.name": "scratch-cnn"})
    training.train(
        cfg,
        root / "student",
        kind="distillation",
        teacher_checkpoint=root / "teacher/checkpoints/model_2.pt",
        show_progress=False,
    )
    assert main(["eval", TASK, "--checkpoint", str(root / "student"), "--episodes", "4", "--no-progress"]) == 0
    return root


def test_average_is_the_mean_of_the_iterates_and_keeps_the_last_normalizer(student_run):
    out = student_run / "student-avg"
    assert main(["average", str(student_run / "student"), "--from-iteration", "2", "--out", str(out)]) == 0
    averaged = training.load_checkpoint(out / "checkpoints/model_3.pt")  # weights-only readable
    two, three = (training.load_checkpoint(student_run / f"student/checkpoints/model_{i}.pt") for i in (2, 3))
    assert averaged["iter"] == 3 and averaged["depthbench"]["weights_average"]["iterations"] == [2, 3]
    assert averaged["optimizer_state_dict"]["state"] == {}  # moments dropped: an average cannot resume training
    changed = 0
    for name, value in averaged["student_state_dict"].items():
        if "normalizer" in name or not torch.is_floating_point(value):
            assert torch.equal(value, three["student_state_dict"][name]), name  # running statistics: the last
        else:
            expected = (two["student_state_dict"][name] + three["student_state_dict"][name]) / 2
            # one float32 addition and one halving, summed in whichever order torch.mean picks: at most 1 ulp apart
            assert torch.allclose(value, expected, rtol=1e-6, atol=1e-7), name
            changed += not torch.equal(value, three["student_state_dict"][name])
    assert changed > 0  # the iterates differ, so the average is not the last iterate
    for name, value in three["teacher_state_dict"].items():  # the frozen teacher rides along unchanged
        assert torch.equal(averaged["teacher_state_dict"][name], value)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["weights_average"]["iterations"] == [2, 3]
        and manifest["seed"] == three["depthbench"]["config"]["seed"]
    )


def test_average_evaluates_and_is_a_leaderboard_row_of_its_own(student_run):
    out = student_run / "student-avg-eval"
    assert main(["average", str(student_run / "student"), "--from-iteration", "1", "--out", str(out)]) == 0
    assert main(["eval", TASK, "--checkpoint", str(out), "--episodes", "4", "--no-progress"]) == 0
    (path,) = (out / "eval").glob("*test.json")
    assert json.loads(path.read_text())["weights_average"]["iterations"] == [1, 2, 3]
    metrics = leaderboard.gather([student_run / "student" / "eval", out / "eval"])
    built = leaderboard.build_rows(metrics)
    rows = leaderboard.table_rows(built)
    assert sorted(str(r["iters"]) for r in rows) == ["3", "mean 1-3"]  # two rows, not one pooled over two "seeds"
    assert len({r["recipe"] for r in rows}) == 2
    labels = sorted(leaderboard.method_label(r) for r in built)  # and two methods in the aggregate over tasks
    assert labels[1] == labels[0] + " · mean 1-3"


def test_average_errors_are_one_line(student_run, capsys):
    run = str(student_run / "student")
    cases = [
        (["average", run, "--from-iteration", "3", "--out", str(student_run / "x")], "at least two"),
        (["average", run, "--from-iteration", "1", "--out", run], "pass a new --out folder"),
        (
            ["average", str(student_run / "nothing"), "--from-iteration", "1", "--out", str(student_run / "y")],
            "no manifest.json",
        ),
    ]
    for argv, expected in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert expected in err and err.count("\n") == 0, err
    assert not (student_run / "x").exists() and not (student_run / "y").exists()
