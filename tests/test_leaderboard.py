"""`depthbench leaderboard` on a hand-made fixture of evaluation JSONs: every number against a hand computation from the
raw successes (formulas written out here, not depthbench's code), rliable's bootstrap CIs deterministic and around
their point estimates, the files and README section as expected."""

import csv
import math

import pytest

from depthbench.agents import leaderboard
from depthbench.agents.evaluation import write_metrics
from depthbench.benchmarks.cli import main

Z95 = 1.959963984540054
N = 20  # episodes per evaluation
TEACHER = {"name": "none", "label": "privileged teacher (no depth)", "weights_provenance": "n/a"}
SCRATCH = {"name": "scratch-cnn", "label": "scratch-cnn", "weights_provenance": "random-init"}
RANDOM_DEFM = {"name": "defm-resnet18", "label": "defm-resnet18 (RANDOM INIT)", "weights_provenance": "random-init"}
NOISY = "dropout(p=0.3)"
TEACHER_WINS = {"pointnav": 16, "embodied-nav": 10}
# successes out of N for scratch-cnn PPO: (task, train seed, eval noise) -> wins
SCRATCH_WINS = {
    ("pointnav", 0, "clean"): 12,
    ("pointnav", 1, "clean"): 8,
    ("pointnav", 0, NOISY): 6,
    ("pointnav", 1, NOISY): 4,
    ("embodied-nav", 0, "clean"): 5,
    ("embodied-nav", 1, "clean"): 7,
    ("embodied-nav", 0, NOISY): 3,
    ("embodied-nav", 1, NOISY): 2,
}


def wilson(k, n):
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    return centre - half, centre + half


def newcombe(k1, n1, k2, n2):
    """Newcombe (1998) method 10 for p1 - p2, from the two Wilson intervals."""
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def iqm(values):
    """25% trimmed mean of the pooled scores (Agarwal et al. 2021), for 4k values: drop k at each end."""
    values = sorted(values)
    cut = len(values) // 4
    kept = values[cut : len(values) - cut]
    return sum(kept) / len(kept)


def write_eval(
    path,
    *,
    task,
    kind,
    encoder,
    seed,
    noise,
    wins,
    n=N,
    deterministic=False,
    teacher=None,
    spl=True,
    config=None,
    split="test",
):
    records = [
        {"env_id": i % 2, "success": i < wins, **({"spl": 0.5 if i < wins else 0.0} if spl else {})} for i in range(n)
    ]
    doc = {
        "schema": "depthbench.metrics/1",
        "task": task,
        "kind": kind,
        "checkpoint": f"{path.parent}/model_100.pt",
        "iterations": 100,
        "split": split,
        "eval_noise": noise,
        "train_noise": "clean",
        "train_seed": seed,
        "eval_seed": 0,
        "episodes": n,
        "deterministic": deterministic,
        "encoder": encoder,
        "metrics": {"success_rate": {"mean": wins / n, "ci95": list(wilson(wins, n)), "n": n, "method": "wilson"}},
        "groups": [],
        "config": config or {},
        "versions": {},
        "episode_records": records,
    }
    if teacher is not None:
        doc["teacher"] = {
            "metrics": {"success_rate": {"mean": teacher / n, "ci95": [0, 1], "n": n, "method": "wilson"}}
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_metrics(doc, path)


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    for task, wins in TEACHER_WINS.items():
        write_eval(
            root / task / "teacher/clean.json",
            task=task,
            kind="teacher",
            encoder=TEACHER,
            seed=0,
            noise="clean",
            wins=wins,
            spl=False,
        )
    for (task, seed, noise), wins in SCRATCH_WINS.items():
        name = "clean" if noise == "clean" else "dropout"
        ppo = dict(task=task, kind="ppo", encoder=SCRATCH, seed=seed, noise=noise, wins=wins)
        write_eval(root / task / f"scratch_s{seed}/{name}.json", **ppo)
    pointnav = dict(task="pointnav", seed=0, noise="clean")
    # a second, smaller evaluation of the same seed: one evaluation per seed is used (the one with most episodes)
    write_eval(root / "pointnav/scratch_s0/small/clean.json", kind="ppo", encoder=SCRATCH, wins=10, n=10, **pointnav)
    write_eval(root / "pointnav/defm_s0/clean.json", kind="ppo", encoder=RANDOM_DEFM, wins=9, **pointnav)
    # a distilled student: greedy, with its teacher evaluated on the same episodes (15 / 20) inside its JSON
    student = dict(kind="distillation", encoder=SCRATCH, wins=11, deterministic=True, teacher=15)
    write_eval(root / "pointnav/student/clean.json", **student, **pointnav)
    return root


def find(rows, **fields):
    (match,) = [r for r in rows if all(r[k] == v for k, v in fields.items())]
    return match


def test_rows_equal_a_hand_computation(results):
    rows = leaderboard.build_rows(leaderboard.gather([results]))
    assert len(rows) == 2 + 4 + 1 + 1  # 2 teachers, scratch x 2 tasks x 2 noises, random DeFM, student
    for task in TEACHER_WINS:
        teacher_sr = TEACHER_WINS[task] / N
        for noise in ("clean", NOISY):
            k = sum(SCRATCH_WINS[(task, s, noise)] for s in (0, 1))
            row = find(rows, task=task, encoder="scratch-cnn", kind="ppo", eval_noise=noise)
            assert row["seeds"] == [0, 1] and row["episodes"] == 2 * N  # the 10-episode duplicate is not pooled
            assert row["sr"]["mean"] == pytest.approx(k / (2 * N), abs=1e-12)
            assert row["sr"]["ci95"] == pytest.approx(wilson(k, 2 * N), abs=1e-12)
            assert row["spl"]["mean"] == pytest.approx(0.5 * k / (2 * N), abs=1e-12)
            assert row["normalized"]["mean"] == pytest.approx(k / (2 * N) / teacher_sr, abs=1e-12)
            low, high = row["normalized"]["ci95"]
            assert low <= row["normalized"]["mean"] <= high
            assert row["per_seed_sr"] == {s: SCRATCH_WINS[(task, s, noise)] / N for s in (0, 1)}
        k_clean = sum(SCRATCH_WINS[(task, s, "clean")] for s in (0, 1))
        k_noisy = sum(SCRATCH_WINS[(task, s, NOISY)] for s in (0, 1))
        noisy = find(rows, task=task, encoder="scratch-cnn", kind="ppo", eval_noise=NOISY)
        assert noisy["drop"]["mean"] == pytest.approx((k_clean - k_noisy) / (2 * N), abs=1e-12)
        assert noisy["drop"]["ci95"] == pytest.approx(newcombe(k_clean, 2 * N, k_noisy, 2 * N), abs=1e-9)
        assert noisy["relative_drop"]["mean"] == pytest.approx((k_clean - k_noisy) / k_clean, abs=1e-12)
        assert "drop" not in find(rows, task=task, encoder="scratch-cnn", kind="ppo", eval_noise="clean")
    student = find(rows, kind="distillation")
    assert student["actions"] == "greedy"
    assert student["teacher_sr"] == 15 / N  # its own same-episode teacher, not the sampled teacher evaluation
    assert student["normalized"]["mean"] == pytest.approx(11 / 15, abs=1e-12)
    # greedy student vs sampled teacher row: no cross-mode normalization; the teacher row normalizes nothing
    assert "normalized" not in find(rows, kind="teacher", task="pointnav")


def test_aggregate_iqm_and_mean_equal_a_hand_computation_and_bootstrap_is_deterministic(results):
    rows = leaderboard.build_rows(leaderboard.gather([results]))
    aggregates = {a["method"]: a for a in leaderboard.aggregate(rows, reps=500)}
    clean = aggregates["scratch-cnn · ppo · train clean · eval clean · sampled"]
    assert clean["tasks"] == ["embodied-nav", "pointnav"] and clean["runs"] == 2
    raw = [SCRATCH_WINS[(t, s, "clean")] / N for t in TEACHER_WINS for s in (0, 1)]
    normalized = [SCRATCH_WINS[(t, s, "clean")] / TEACHER_WINS[t] for t in TEACHER_WINS for s in (0, 1)]
    assert clean["iqm"]["mean"] == pytest.approx(iqm(raw), abs=1e-12)  # (0.35 + 0.4) / 2
    assert clean["mean"]["mean"] == pytest.approx(sum(raw) / 4, abs=1e-12)
    assert clean["iqm_normalized"]["mean"] == pytest.approx(iqm(normalized), abs=1e-12)  # (0.5 + 0.7) / 2
    assert clean["mean_normalized"]["mean"] == pytest.approx(sum(normalized) / 4, abs=1e-12)
    for name in ("iqm", "mean", "iqm_normalized", "mean_normalized"):
        low, high = clean[name]["ci95"]
        assert low <= clean[name]["mean"] <= high and high > low  # two runs per task: a real interval
    # each run's score lies in [min, max] of the runs, so does every bootstrap statistic
    assert min(raw) <= clean["mean"]["ci95"][0] and clean["mean"]["ci95"][1] <= max(raw)
    again = {a["method"]: a for a in leaderboard.aggregate(rows, reps=500)}
    assert again[clean["method"]]["iqm"] == clean["iqm"]  # fixed bootstrap seed: identical intervals
    # a method evaluated on one seed has a single run: its interval is the point
    defm = aggregates["defm-resnet18 (RANDOM INIT) · ppo · train clean · eval clean · sampled"]
    assert defm["runs"] == 1 and defm["mean"]["ci95"] == [9 / N, 9 / N]


def test_files_markdown_csv_png_and_readme_section(results, tmp_path, capsys):
    out = tmp_path / "board"
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n## Results\n\n<!-- results:start -->\nold\n<!-- results:end -->\n\n## After\n")
    argv = ["leaderboard", str(results), "--out", str(out), "--readme", str(readme), "--bootstrap-reps", "200"]
    assert main(argv) == 0
    text = (out / "leaderboard.md").read_text()
    command = f"depthbench leaderboard {results} --out {out} --readme {readme} --bootstrap-reps 200"
    assert f"<!-- generated by `{command}`" in text
    assert "defm-resnet18 (RANDOM INIT)" in text
    table_lines = [line for line in text.splitlines() if line.startswith("| pointnav") or line.startswith("| embodied")]
    assert len(table_lines) == 8
    sr = wilson(20, 40)
    assert f"0.500 [{sr[0]:.3f}, {sr[1]:.3f}]" in text
    with (out / "leaderboard.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8
    row = next(r for r in rows if (r["task"], r["encoder"], r["eval_noise"]) == ("pointnav", "scratch-cnn", NOISY))
    assert float(row["sr"]) == pytest.approx(10 / 40) and row["seeds"] == "0 1" and row["episodes"] == "40"
    assert float(row["drop"]) == pytest.approx(10 / 40) and float(row["normalized"]) == pytest.approx(0.25 / 0.8)
    with (out / "leaderboard_aggregate.csv").open() as f:
        aggregate_rows = list(csv.DictReader(f))
    assert len(aggregate_rows) == 5  # scratch clean, scratch noisy, random DeFM, student, teacher
    assert (out / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    updated = readme.read_text()
    assert updated.startswith("# title\n\n## Results\n\n<!-- results:start -->\n<!-- generated by")
    assert updated.endswith("<!-- results:end -->\n\n## After\n") and "old" not in updated
    assert "![leaderboard: per-task SR" in updated and "(board/leaderboard.png)" in updated
    first = (out / "leaderboard.csv").read_text()
    assert main(argv) == 0  # regenerating gives the same files and README
    assert (out / "leaderboard.csv").read_text() == first and readme.read_text() == updated


def test_bad_input_is_one_line(results, tmp_path, capsys):
    (results / "pointnav/defm_s0/clean.episodes.json").unlink()
    cases = [
        (["leaderboard", str(tmp_path / "none")], "results directory not found"),
        (["leaderboard"], "needs RESULTS_DIR"),
        (["leaderboard", str(results), "--out", str(tmp_path / "o")], "has no episode records"),
    ]
    (tmp_path / "empty").mkdir()
    cases.append((["leaderboard", str(tmp_path / "empty")], "no evaluation JSONs"))
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, err
    (results / "pointnav/defm_s0/clean.json").unlink()
    readme = tmp_path / "R.md"
    readme.write_text("no markers\n")
    capsys.readouterr()
    assert main(["leaderboard", str(results), "--out", str(tmp_path / "o"), "--readme", str(readme)]) == 2
    assert "needs exactly one" in capsys.readouterr().err


def test_two_recipes_are_two_rows_and_seeds_of_one_recipe_pool(tmp_path):
    """Teachers trained with another reward share every visible field (task, kind, iterations, ...) but are two
    recipes: two rows. Seeds of one recipe pool into one row even when one config predates a key (missing = unset)
    and they ran on other engines."""
    root = tmp_path / "results"
    base = {"seed": 0, "env": {"reward": {"success": 2.5}}, "num_envs": 32}
    other = {"seed": 0, "env": {"reward": {"success": 2.5, "action_rate": -0.05}}, "num_envs": 32}
    seed1 = {"seed": 1, "engine": "embree", "env": {"reward": {"success": 2.5, "action_rate": None}}, "num_envs": 32}
    common = dict(task="embodied-nav", kind="teacher", encoder=TEACHER, noise="clean", spl=False)
    write_eval(root / "a/clean.json", seed=0, wins=10, config=base, **common)
    write_eval(root / "b/clean.json", seed=0, wins=16, config=other, **common)
    write_eval(root / "c/clean.json", seed=1, wins=12, config=seed1, **common)
    rows = leaderboard.build_rows(leaderboard.gather([root]))
    assert len(rows) == 2
    by_seeds = sorted(rows, key=lambda r: len(r["seeds"]))
    assert by_seeds[0]["seeds"] == [0] and by_seeds[0]["sr"]["mean"] == pytest.approx(16 / N)
    assert by_seeds[1]["seeds"] == [0, 1] and by_seeds[1]["sr"]["mean"] == pytest.approx(22 / (2 * N))
    assert by_seeds[0]["recipe"] != by_seeds[1]["recipe"]
    # In the aggregate, one method trained equally long under two recipes: the row with more seeds stands for it,
    # whichever recipe hash sorts first.
    (matrix,) = leaderboard.score_matrices(rows, normalized=False).values()
    assert matrix["runs"] == 2 and sorted(matrix["scores"][:, 0]) == pytest.approx([10 / N, 12 / N])
    # A validation evaluation of the same recipe with as many seeds and more episodes does not stand in for the test
    # split.
    write_eval(root / "d/clean-val.json", seed=0, wins=30, n=2 * N, config=base, split="val", **common)
    write_eval(root / "e/clean-val.json", seed=1, wins=30, n=2 * N, config=seed1, split="val", **common)
    rows = leaderboard.build_rows(leaderboard.gather([root]))
    assert len(rows) == 3 and max(r["episodes"] for r in rows if r["split"] == "val") == 4 * N
    (matrix,) = leaderboard.score_matrices(rows, normalized=False).values()
    assert sorted(matrix["scores"][:, 0]) == pytest.approx([10 / N, 12 / N])
