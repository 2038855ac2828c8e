"""End to end on the real PointNav task: train -> eval -> report, distill, exact resume, ablation bookkeeping, ONNX,
frozen-encoder wrapper, and one-line errors. Sizes are tiny: these check behaviour, not learning."""

import copy
import json

import pytest
import torch

from depthbench.agents import evaluation, training
from depthbench.agents.ablation import run_ablation
from depthbench.agents.algorithms import EncoderPPO
from depthbench.agents.config import resolve_config
from depthbench.agents.evaluation import evaluate_checkpoint, validate_metrics, write_metrics
from depthbench.benchmarks.cli import main
from depthbench.errors import DepthbenchError

TASK = "pointnav"
# 2 envs x 8 steps per iteration, one small procedural scene with few episodes: each env build takes well under 1 s
TINY = [
    "num_envs=2",
    "ppo.num_steps_per_env=8",
    "distillation.num_steps_per_env=8",
    "distillation.algorithm.gradient_length=8",
    "ppo.actor.rnn_hidden_dim=32",
    "ppo.actor.hidden_dims=[32]",
    "ppo.critic.hidden_dims=[32]",
    "distillation.student.rnn_hidden_dim=32",
    "distillation.student.hidden_dims=[32]",
    "env.scenes.num_scenes=1",
    "env.scenes.size_classes=[small]",
    "env.dataset.episodes_per_scene=6",
    "eval.num_envs=2",
    "eval.episodes=4",
]


def tiny_cfg(iterations=2, save_interval=2, **flags):
    flags = {"iterations": iterations, "save_interval": save_interval, **flags}
    return resolve_config(TASK, flags=flags, overrides=TINY)


@pytest.fixture(scope="module")
def scratch_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "scratch"
    training.train(tiny_cfg(**{"encoder.name": "scratch-cnn"}), run_dir, show_progress=False)
    return run_dir


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "teacher"
    training.train(tiny_cfg(), run_dir, kind="teacher", show_progress=False)
    return run_dir


def read_rows(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in training.TIMING_KEYS} for row in rows]


def test_train_writes_manifest_progress_and_checkpoints(scratch_run):
    manifest = json.loads((scratch_run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["iterations_done"] == 2
    assert manifest["seed"] == 0 and manifest["config"]["encoder"]["name"] == "scratch-cnn"
    assert manifest["encoder"]["weights_provenance"] == "random-init"
    assert manifest["encoder"]["label"] == "scratch-cnn"  # scratch-cnn is random init by design, not mislabelled
    assert {"torch", "rsl-rl-lib", "git_commit"} <= set(manifest["versions"])
    rows = read_rows(scratch_run / "progress.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2]
    assert [r["env_steps"] for r in rows] == [16, 32]  # 2 envs x 8 steps per iteration
    checkpoint = torch.load(scratch_run / "checkpoints/model_2.pt", weights_only=True)
    assert checkpoint["iter"] == 2
    # the in-model encoder trains: its weights are in the actor, with the GRU
    assert any(k.startswith("encoder.") for k in checkpoint["actor_state_dict"])
    assert any(k.startswith("rnn.") for k in checkpoint["actor_state_dict"])
    assert any(tb.name.startswith("events.out.tfevents") for tb in (scratch_run / "tensorboard").iterdir())


def test_eval_metrics_schema_and_report(scratch_run, capsys):
    code = main(["eval", TASK, "--checkpoint", str(scratch_run), "--episodes", "4", "--no-progress"])
    assert code == 0
    metrics_path = scratch_run / "eval" / "clean-test.json"
    metrics = json.loads(metrics_path.read_text())
    validate_metrics(metrics)
    assert metrics["episodes"] == 4 and metrics["split"] == "test"
    records = json.loads((scratch_run / "eval" / metrics["episode_records_file"]).read_text())
    assert len(records) == 4
    assert sorted(r["env_id"] for r in records) == [0, 0, 1, 1]  # a fixed quota per env, no short-episode bias
    successes = sum(r["success"] for r in records)
    assert metrics["metrics"]["success_rate"]["mean"] == successes / 4
    for name in ("spl", "soft_spl", "collisions"):
        assert metrics["metrics"][name]["n"] == 4
    broken = dict(metrics, metrics={"spl": metrics["metrics"]["spl"]})  # no success_rate
    with pytest.raises(DepthbenchError, match="success_rate"):
        validate_metrics(broken)

    assert main(["report", str(scratch_run.parent)]) == 0
    out = capsys.readouterr().out
    report_dir = scratch_run.parent / "report"
    assert "scratch-cnn" in out
    assert (report_dir / "learning_curves.png").stat().st_size > 0
    csv_text = (report_dir / "results.csv").read_text()
    assert csv_text.splitlines()[0].startswith("file,task,kind,encoder")
    assert f"{successes / 4}" in csv_text.splitlines()[1]


def test_resume_after_kill_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    cfg = tiny_cfg(iterations=3, save_interval=1)
    training.train(cfg, tmp_path / "full", show_progress=False)

    calls = {"n": 0}
    update = EncoderPPO.update

    def killed_update(self):
        calls["n"] += 1
        if calls["n"] == 3:  # in the third chunk, after model_2.pt
            raise KeyboardInterrupt
        return update(self)

    monkeypatch.setattr(EncoderPPO, "update", killed_update)
    with pytest.raises(KeyboardInterrupt):
        training.train(cfg, tmp_path / "killed", show_progress=False)
    assert json.loads((tmp_path / "killed/manifest.json").read_text())["status"] == "running"
    monkeypatch.setattr(EncoderPPO, "update", update)
    assert main(["train", TASK, "--resume", "--out", str(tmp_path / "killed"), "--no-progress"]) == 0

    # Bit-exact by construction: both runs are in this process on this machine, the same seeded operations in the
    # same order; a resume that restores any state (weights, optimizer, RNG, env) imperfectly shows up as a difference.
    full = torch.load(tmp_path / "full/checkpoints/model_3.pt", weights_only=True)
    resumed = torch.load(tmp_path / "killed/checkpoints/model_3.pt", weights_only=True)
    for key in ("actor_state_dict", "critic_state_dict"):
        for name, tensor in full[key].items():
            assert torch.equal(tensor, resumed[key][name]), name
    assert read_rows(tmp_path / "full/progress.jsonl") == read_rows(tmp_path / "killed/progress.jsonl")
    a = evaluate_checkpoint(tmp_path / "full/checkpoints/model_3.pt", episodes=2, num_envs=2, show_progress=False)
    b = evaluate_checkpoint(tmp_path / "killed/checkpoints/model_3.pt", episodes=2, num_envs=2, show_progress=False)
    assert a["episode_records"] == b["episode_records"] and a["metrics"] == b["metrics"]


def test_resume_with_more_iterations_extends_a_finished_run_exactly(tmp_path, capsys):
    training.train(tiny_cfg(iterations=3, save_interval=1), tmp_path / "full", show_progress=False)
    training.train(tiny_cfg(iterations=2, save_interval=1), tmp_path / "short", show_progress=False)
    short = ["train", TASK, "--resume", "--out", str(tmp_path / "short"), "--no-progress"]
    assert main([*short, "--iterations", "1"]) == 2
    assert "--iterations 1 is below the 2 iterations this run has done" in capsys.readouterr().err
    assert main([*short, "--iterations", "3"]) == 0
    full = torch.load(tmp_path / "full/checkpoints/model_3.pt", weights_only=True)
    extended = torch.load(tmp_path / "short/checkpoints/model_3.pt", weights_only=True)
    for name, tensor in full["actor_state_dict"].items():
        assert torch.equal(tensor, extended["actor_state_dict"][name]), name
    assert read_rows(tmp_path / "full/progress.jsonl") == read_rows(tmp_path / "short/progress.jsonl")
    assert json.loads((tmp_path / "short/manifest.json").read_text())["config"]["iterations"] == 3


def test_distill_student_from_privileged_teacher(teacher_run, tmp_path, monkeypatch):
    teacher_manifest = json.loads((teacher_run / "manifest.json").read_text())
    assert teacher_manifest["rsl_rl_train_cfg"]["obs_groups"]["actor"] == ["policy", "privileged"]
    teacher_ckpt = teacher_run / "checkpoints/model_2.pt"
    student_dir = tmp_path / "student"
    code = main(
        [
            "distill",
            TASK,
            "--teacher",
            str(teacher_ckpt),
            "--encoder",
            "scratch-cnn",
            "--iterations",
            "2",
            "--out",
            str(student_dir),
            "--no-progress",
            *[f"--set={o}" for o in TINY],
        ]
    )
    assert code == 0
    student = torch.load(student_dir / "checkpoints/model_2.pt", weights_only=True)
    # the logit layer keeps nn.Linear's default scale (std 1/sqrt(3 fan_in)), not PPO's x0.01 policy init
    weights = [v for k, v in student["student_state_dict"].items() if k.startswith("mlp.") and k.endswith("weight")]
    logits_w = weights[-1]
    assert logits_w.std().item() > 0.5 / (3 * logits_w.shape[1]) ** 0.5
    teacher = torch.load(teacher_ckpt, weights_only=True)
    for name, tensor in teacher["actor_state_dict"].items():  # the teacher is loaded and never trained
        assert torch.equal(student["teacher_state_dict"][name], tensor)
    rows = read_rows(student_dir / "progress.jsonl")
    assert all(r["loss_behavior"] > 0 for r in rows)  # KL(teacher || student), pointnav's default loss
    modes = []
    run_episodes = evaluation.run_episodes

    def recording_run_episodes(*args, **kwargs):
        modes.append(kwargs["deterministic"])
        return run_episodes(*args, **kwargs)

    monkeypatch.setattr(evaluation, "run_episodes", recording_run_episodes)
    checkpoint = student_dir / "checkpoints/model_2.pt"
    sampled = evaluate_checkpoint(checkpoint, episodes=2, num_envs=2, show_progress=False, deterministic=False)
    result = evaluate_checkpoint(checkpoint, episodes=2, num_envs=2, show_progress=False)
    # student then teacher, always in the same mode; a student's default is eval.student_deterministic (greedy)
    assert modes == [False, False, True, True]
    assert sampled["deterministic"] is False and result["deterministic"] is True
    assert result["kind"] == "distillation"
    norm = result["normalized_to_teacher"]
    teacher_sr = result["teacher"]["metrics"]["success_rate"]["mean"]
    student_sr = result["metrics"]["success_rate"]["mean"]
    if teacher_sr > 0:
        assert norm["mean"] == pytest.approx(student_sr / teacher_sr)
    write_metrics(result, tmp_path / "student.json")
    # a distillation run knows its teacher: --resume needs no --teacher, and --iterations extends it
    assert main(["distill", TASK, "--resume", "--iterations", "3", "--out", str(student_dir), "--no-progress"]) == 0
    assert json.loads((student_dir / "manifest.json").read_text())["iterations_done"] == 3


def distill_setup(teacher_run, **flags):
    teacher = training.load_checkpoint(teacher_run / "checkpoints/model_2.pt")
    cfg = tiny_cfg(**{"encoder.name": "scratch-cnn", **flags})
    setup = training.PolicySetup(cfg, kind="distillation", teacher_cfg=teacher["depthbench"]["config"])
    env = setup.make_env(seed=1, noise_spec="clean", split=None, num_envs=2, generator=torch.Generator())
    runner = setup.runner(env, log_dir=None)
    runner.alg.load(teacher, {"teacher": True}, strict=True)
    return runner.alg, env


def test_dagger_mixture_executes_the_teacher_and_kl_stores_its_distribution(teacher_run):
    alg, env = distill_setup(
        teacher_run, **{"distillation.algorithm.loss_type": "kl", "distillation.algorithm.dagger_beta_decay": 0.5}
    )
    assert alg.storage.privileged_actions.shape == (8, 2, 4)  # the teacher's log-probabilities, not its index
    obs = env.get_observations()
    teacher_copy = copy.deepcopy(alg.teacher)
    with torch.inference_mode():
        expected_action = teacher_copy(obs)
        teacher_copy.reset()
        teacher_copy.logits_output = True
        expected_log_probs = torch.log_softmax(teacher_copy(obs), dim=-1)
        assert alg.teacher_action_prob == 1.0  # iteration 0: DAgger's beta_1 = 1, the teacher drives
        actions = alg.act(obs)
    assert torch.equal(actions, expected_action)
    assert torch.allclose(alg.transition.privileged_actions, expected_log_probs)
    alg.num_updates = 3
    assert alg.teacher_action_prob == 0.5**3


def test_categorical_student_rejects_a_regression_loss(teacher_run):
    with pytest.raises(DepthbenchError, match="loss_type 'mse' does not fit a categorical student"):
        distill_setup(teacher_run, **{"distillation.algorithm.loss_type": "mse"})


def test_dagger_distillation_resumes_exactly(teacher_run, tmp_path):
    """DAgger's beta depends on the iteration: a resumed run must continue the schedule, not restart it at 1."""
    argv = ["distill", TASK, "--teacher", str(teacher_run / "checkpoints/model_2.pt"), "--encoder", "scratch-cnn"]
    flags = [
        *[f"--set={o}" for o in TINY],
        "--set=distillation.algorithm.dagger_beta_decay=0.5",
        "--set=save_interval=1",
    ]
    flags += ["--set=distillation.algorithm.loss_type=kl", "--no-progress"]
    assert main([*argv, "--iterations", "3", "--out", str(tmp_path / "full"), *flags]) == 0
    assert main([*argv, "--iterations", "2", "--out", str(tmp_path / "short"), *flags]) == 0
    assert (
        main(["distill", TASK, "--resume", "--iterations", "3", "--out", str(tmp_path / "short"), "--no-progress"]) == 0
    )
    full = torch.load(tmp_path / "full/checkpoints/model_3.pt", weights_only=True)
    resumed = torch.load(tmp_path / "short/checkpoints/model_3.pt", weights_only=True)
    for name, tensor in full["student_state_dict"].items():
        assert torch.equal(tensor, resumed["student_state_dict"][name]), name
    assert read_rows(tmp_path / "full/progress.jsonl") == read_rows(tmp_path / "short/progress.jsonl")


def test_onnx_export_matches_pytorch(scratch_run, tmp_path):
    pytest.importorskip("onnxruntime")
    from depthbench.agents.export import _policy_from_checkpoint, export_onnx

    info = export_onnx(scratch_run / "checkpoints/model_2.pt", tmp_path / "policy.onnx")
    assert info["parity"]["max_abs_diff"] < 1e-4 and info["parity"]["actions_equal"]
    assert info["encoder"]["name"] == "scratch-cnn"
    # the exported step equals the trained rsl-rl policy's greedy action on a real observation
    policy, meta, depth_shape = _policy_from_checkpoint(scratch_run / "checkpoints/model_2.pt")
    env = training.PolicySetup(meta["config"], kind="ppo").make_env(
        seed=5, noise_spec="clean", split="test", num_envs=1, generator=torch.Generator()
    )
    obs = env.get_observations()
    policy.model.reset()
    with torch.no_grad():
        expected = policy.model(obs)
        rnn = policy.model.rnn.rnn
        exported = policy(obs["policy"], obs["depth"], torch.zeros(rnn.num_layers, 1, rnn.hidden_size))
    assert torch.equal(expected, exported[0])


def test_frozen_encoder_runs_once_per_env_step_and_random_defm_is_labelled(tmp_path, monkeypatch):
    from depthbench.agents.wrappers import DepthFeatureWrapper

    calls = {"n": 0, "grad": False}
    encode = DepthFeatureWrapper.encode

    def counting_encode(self, depth_m):
        calls["n"] += 1
        calls["grad"] |= torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        return encode(self, depth_m)

    monkeypatch.setattr(DepthFeatureWrapper, "encode", counting_encode)
    cfg = tiny_cfg(iterations=1, save_interval=1, **{"encoder.name": "defm-efficientnet-b0", "encoder.weights": "none"})
    manifest = training.train(cfg, tmp_path / "frozen", show_progress=False)
    # construction + learn() each read the first observation, then one call per env step; PPO epochs add none
    assert calls["n"] == 2 + 8
    assert manifest["encoder"]["mode"] == "frozen"
    assert manifest["encoder"]["label"] == "defm-efficientnet-b0 (RANDOM INIT)"
    checkpoint = torch.load(tmp_path / "frozen/checkpoints/model_1.pt", weights_only=True)
    assert not any(k.startswith("encoder.") for k in checkpoint["actor_state_dict"])
    assert checkpoint["depthbench"]["frozen_encoder_state"] is not None  # random weights travel with the policy
    assert manifest["rsl_rl_train_cfg"]["obs_groups"]["actor"] == ["policy", "depth_features"]


def test_ablation_skips_finished_cells_and_continues(tmp_path, monkeypatch):
    from depthbench.agents import ablation

    kwargs = dict(
        encoders=["scratch-cnn"],
        train_noises=["clean"],
        eval_noises=["dropout(p=0.3)"],
        seeds=1,
        out=tmp_path,
        overrides=[*TINY, "iterations=1", "save_interval=1"],
        episodes=2,
        show_progress=False,
        log=lambda *_: None,
    )
    first = run_ablation(TASK, **kwargs)
    assert [r["eval_noise"] for r in first["rows"]] == ["clean", "dropout(p=0.3)"]  # clean added as the reference
    noisy = first["rows"][1]
    clean_sr = first["rows"][0]["metrics"]["success_rate"]["mean"]
    if clean_sr > 0:
        assert noisy["robustness_drop"]["mean"] == pytest.approx(
            (clean_sr - noisy["metrics"]["success_rate"]["mean"]) / clean_sr
        )

    def no_training(*args, **kw):
        raise AssertionError("a finished cell was retrained")

    monkeypatch.setattr(ablation, "train", no_training)
    evaluated = []
    monkeypatch.setattr(
        ablation,
        "evaluate_checkpoint",
        lambda *a, **kw: evaluated.append(kw["eval_noise"]) or evaluate_checkpoint(*a, **kw),
    )
    (ablation.eval_path(ablation.cell_dir(tmp_path, "scratch-cnn", "clean", 0), "dropout(p=0.3)")).unlink()
    second = run_ablation(TASK, **kwargs)
    assert evaluated == ["dropout(p=0.3)"]  # only the missing evaluation is recomputed
    assert second["rows"][0] == first["rows"][0]
    with pytest.raises(DepthbenchError, match="different ablation"):
        run_ablation(TASK, **{**kwargs, "seeds": 2})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", TASK, "--set", "ppo.algorithm.bogus=1"], "unknown config key 'ppo.algorithm.bogus'"),
        (["train", TASK, "--encoder", "no-such-encoder"], "no-such-encoder"),
        (["train", "no-such-task"], "unknown task 'no-such-task'"),
        (["train", TASK, "--train-noise", "no-such-noise"], "no-such-noise"),
        (["train", TASK, "--preset", "huge"], "unknown preset 'huge'"),
        (["eval", TASK, "--checkpoint", "/nonexistent/model_1.pt"], "checkpoint not found"),
        (["distill", TASK, "--teacher", "/nonexistent/t.pt", "--iterations", "1"], "checkpoint not found"),
        (["distill", TASK, "--iterations", "1"], "distill needs --teacher CHECKPOINT"),
    ],
)
def test_bad_input_is_a_one_line_error(argv, message, tmp_path, capsys):
    code = main([*argv, "--out", str(tmp_path / "run")] if argv[0] != "eval" else argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert message in err


def test_finetuned_encoder_trains_inside_the_actor_at_its_lr_multiplier(tmp_path):
    cfg = tiny_cfg(
        iterations=1,
        save_interval=1,
        **{"encoder.name": "defm-resnet18", "encoder.weights": "none", "encoder.mode": "finetune"},
    )
    manifest = training.train(cfg, tmp_path / "ft", show_progress=False)
    assert manifest["encoder"]["label"] == "defm-resnet18 (RANDOM INIT)"
    assert manifest["encoder"]["lr_multiplier"] == 0.1  # the encoders' fine-tuning default
    checkpoint = torch.load(tmp_path / "ft/checkpoints/model_1.pt", weights_only=True)
    groups = checkpoint["optimizer_state_dict"]["param_groups"]
    base_lr = groups[0]["lr"]
    backbone = [g for g in groups if g.get("lr_multiplier") == 0.1]
    assert len(backbone) == 1 and backbone[0]["lr"] == pytest.approx(0.1 * base_lr)
    from depthbench.encoders import create

    n_backbone = len(list(create("defm-resnet18", mode="finetune").backbone.parameters()))
    assert len(backbone[0]["params"]) == n_backbone  # every backbone parameter, nothing else, at the reduced rate


def test_recurrent_update_recomputes_rollout_log_probs_exactly(monkeypatch):
    """Before any gradient step, PPO's padded recurrent batches (encoder on valid steps only, GRU from the stored
    hidden states) must reproduce the rollout's log-probabilities and values: the importance ratio starts at 1."""
    setup = training.PolicySetup(tiny_cfg(**{"encoder.name": "scratch-cnn"}), kind="ppo")
    env = setup.make_env(seed=1, noise_spec="clean", split=None, num_envs=2, generator=torch.Generator())
    runner = setup.runner(env, log_dir=None)
    diffs = []

    @torch.no_grad()
    def check(self):
        for batch in self.storage.recurrent_mini_batch_generator(self.num_mini_batches, 1):
            self.actor(
                batch.observations, masks=batch.masks, hidden_state=batch.hidden_states[0], stochastic_output=True
            )
            log_prob = self.actor.get_output_log_prob(batch.actions)
            values = self.critic(batch.observations, masks=batch.masks, hidden_state=batch.hidden_states[1])
            diffs.append(float((log_prob - batch.old_actions_log_prob.squeeze(-1)).abs().max()))
            diffs.append(float((values - batch.values).abs().max()))
        self.storage.clear()
        return {"value": 0.0, "surrogate": 0.0, "entropy": 0.0}

    monkeypatch.setattr(EncoderPPO, "update", check)
    runner.learn(num_learning_iterations=2)
    assert len(diffs) == 2 * 2 * 2  # 2 iterations x 2 mini-batches x (log-prob, value)
    assert max(diffs) < 1e-5


def test_eval_normalizes_to_a_teacher_evaluation(scratch_run, teacher_run, tmp_path, capsys):
    teacher_json = tmp_path / "teacher.json"
    assert (
        main(
            [
                "eval",
                TASK,
                "--checkpoint",
                str(teacher_run),
                "--episodes",
                "4",
                "--no-progress",
                "--out",
                str(teacher_json),
            ]
        )
        == 0
    )
    teacher = json.loads(teacher_json.read_text())
    assert teacher["encoder"]["label"] == "privileged teacher (no depth)"
    student_json = tmp_path / "student.json"
    assert (
        main(
            [
                "eval",
                TASK,
                "--checkpoint",
                str(scratch_run),
                "--episodes",
                "4",
                "--no-progress",
                "--teacher-metrics",
                str(teacher_json),
                "--out",
                str(student_json),
            ]
        )
        == 0
    )
    student = json.loads(student_json.read_text())
    validate_metrics(student)
    teacher_sr = teacher["metrics"]["success_rate"]["mean"]
    norm = student["normalized_to_teacher"]["mean"]
    if teacher_sr > 0:
        assert norm == pytest.approx(student["metrics"]["success_rate"]["mean"] / teacher_sr)
    else:
        assert norm != norm  # NaN: undefined against a teacher that never succeeds
    assert (
        main(
            [
                "eval",
                TASK,
                "--checkpoint",
                str(scratch_run),
                "--teacher-metrics",
                str(tmp_path / "no.json"),
                "--episodes",
                "2",
                "--no-progress",
            ]
        )
        == 2
    )
    # SR / teacher SR only compares policies that chose actions the same way
    mismatched = ["eval", TASK, "--checkpoint", str(scratch_run), "--episodes", "4", "--deterministic"]
    assert main([*mismatched, "--teacher-metrics", str(teacher_json), "--no-progress"]) == 2
    assert "acted sampled, this evaluation greedy" in capsys.readouterr().err


def test_eval_deterministic_flag_overrides_the_config(scratch_run, tmp_path):
    ckpt = str(scratch_run / "checkpoints/model_2.pt")
    records = []
    for seed in ("0", "1"):
        out = tmp_path / f"greedy{seed}.json"
        args = ["eval", TASK, "--checkpoint", ckpt, "--episodes", "4", "--num-envs", "2", "--seed", seed]
        assert main([*args, "--deterministic", "--out", str(out), "--no-progress"]) == 0
        result = json.loads(out.read_text())
        assert result["deterministic"] is True
        records.append(json.loads(out.with_name(out.stem + ".episodes.json").read_text()))
    # the test split runs its episodes in order and greedy actions do not depend on the evaluation seed
    assert records[0] == records[1]


class _RunsCodeWhenUnpickled:
    """A pickle payload: unpickling calls Path.touch(marker), the shape of an attacker's `os.system` call."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused_everywhere(scratch_run, tmp_path, capsys):
    marker = tmp_path / "code-ran"
    good = torch.load(scratch_run / "checkpoints/model_2.pt", weights_only=True)  # our own format is weights-only
    evil = tmp_path / "evil.pt"
    torch.save({**good, "payload": _RunsCodeWhenUnpickled(marker)}, evil)
    run_dir = tmp_path / "evil-run"  # a run whose last checkpoint was swapped for the payload, as --resume finds it
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "manifest.json").write_text((scratch_run / "manifest.json").read_text())
    (run_dir / "checkpoints" / "model_2.pt").write_bytes(evil.read_bytes())
    commands = [
        ["eval", TASK, "--checkpoint", str(evil), "--episodes", "2", "--no-progress"],
        ["export", str(evil), "--out", str(tmp_path / "p.onnx")],
        ["distill", TASK, "--teacher", str(evil), "--iterations", "1", "--out", str(tmp_path / "d"), "--no-progress"],
        ["train", TASK, "--resume", "--iterations", "3", "--out", str(run_dir), "--no-progress"],
    ]
    for argv in commands:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "was refused" in err, (argv, err)
        assert not marker.exists(), f"{argv[0]} ran code from the checkpoint"
    # the file really carries the payload (a pickled call of Path.touch), so a loader that unpickled it would run it
    import pickletools
    import zipfile

    with zipfile.ZipFile(evil) as archive:
        pickle_bytes = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    globals_called = [arg for op, arg, _ in pickletools.genops(pickle_bytes) if op.name in ("GLOBAL", "STACK_GLOBAL")]
    assert "touch" in pickle_bytes.decode("latin-1") and globals_called


def test_student_trains_in_its_teachers_env_and_a_conflicting_change_is_one_line(tmp_path, capsys):
    """A teacher whose privileged state was changed (a 5x5 patch) distills without repeating that setting: the student
    takes the teacher's env, its own changes on top; a change to what the teacher observes is one clear line."""
    teacher_dir = tmp_path / "teacher"
    cfg = resolve_config(
        TASK, flags={"iterations": 1, "save_interval": 1}, overrides=[*TINY, "env.privileged.patch_cells=5"]
    )
    training.train(cfg, teacher_dir, kind="teacher", show_progress=False)
    args = ["distill", TASK, "--teacher", str(teacher_dir / "checkpoints/model_1.pt"), "--encoder", "scratch-cnn"]
    args += ["--iterations", "1", "--no-progress", *[f"--set={o}" for o in TINY]]
    assert main([*args, "--out", str(tmp_path / "student"), "--set=env.agent.max_episode_steps=77"]) == 0
    env = json.loads((tmp_path / "student/manifest.json").read_text())["config"]["env"]
    assert env["privileged"]["patch_cells"] == 5  # the teacher's
    assert env["agent"]["max_episode_steps"] == 77  # the student's own change
    capsys.readouterr()
    code = main([*args, "--out", str(tmp_path / "conflict"), "--set=env.privileged.patch_cells=7"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "does not fit this env's observations" in err[0]
