"""Unit behaviour of the agents area: confidence intervals, the categorical distribution, LR-multiplier groups."""

import math

import pytest
import torch

from depthbench.agents import stats
from depthbench.agents.ablation import robustness_drop
from depthbench.agents.algorithms import (
    EncoderDistillation,
    ScaledLrGroup,
    _kl_teacher_to_student,
    gaussian_kl_teacher_to_student,
    wrap_scaled_groups,
)
from depthbench.agents.distributions import CategoricalDistribution
from depthbench.agents.evaluation import group_episodes, summarize_episodes
from depthbench.errors import DepthbenchError


def test_wilson_interval_matches_hand_computation():
    # p = 0.8, n = 10, z = 1.96: centre (0.8 + z^2/20) / (1 + z^2/10), half-width z*sqrt(p(1-p)/n + z^2/400) / (...)
    lo, hi = stats.wilson_interval(8, 10)
    assert lo == pytest.approx(0.49016, abs=1e-4)
    assert hi == pytest.approx(0.94332, abs=1e-4)
    # zero successes still gets a non-degenerate upper bound: z^2 / (n + z^2)
    lo0, hi0 = stats.wilson_interval(0, 8)
    assert lo0 == 0.0
    assert hi0 == pytest.approx(1.959964**2 / (8 + 1.959964**2), abs=1e-6)


def test_t_interval_matches_formula():
    lo, hi = stats.t_interval([1.0, 2.0, 3.0])
    half = 4.302653 * 1.0 / math.sqrt(3)  # t_{0.975, 2} * sd / sqrt(n)
    assert (lo, hi) == pytest.approx((2 - half, 2 + half), abs=1e-5)


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean():
    values = [0.0, 0.2, 0.4, 0.9, 1.0, 0.3, 0.5]
    a = stats.bootstrap_mean_interval(values, seed=3)
    assert a == stats.bootstrap_mean_interval(values, seed=3)
    assert a[0] < sum(values) / len(values) < a[1]
    assert stats.bootstrap_mean_interval([0.0, 0.0, 0.0]) == (0.0, 0.0)


def test_summaries_use_wilson_for_indicators_and_bootstrap_for_spl():
    records = [
        {"env_id": i % 2, "success": float(i < 3), "spl": 0.0, "family": "a" if i < 2 else "b"} for i in range(4)
    ]
    summary = summarize_episodes(records)
    assert "env_id" not in summary
    assert summary["success_rate"]["method"] == "wilson"
    assert summary["success_rate"]["mean"] == 0.75
    assert summary["success_rate"]["ci95"] == pytest.approx(list(stats.wilson_interval(3, 4)))
    assert summary["spl"]["method"] == "bootstrap"  # all zeros is still a mean, not a proportion
    groups = group_episodes(records, ["family"])
    assert [g["key"] for g in groups] == [{"family": "a"}, {"family": "b"}]
    assert [g["metrics"]["success_rate"]["mean"] for g in groups] == [1.0, 0.5]


def test_robustness_drop_formula():
    clean = [1.0] * 8 + [0.0] * 2  # SR 0.8
    noisy = [1.0] * 4 + [0.0] * 6  # SR 0.4
    drop = robustness_drop(clean, noisy)
    assert drop["mean"] == pytest.approx((0.8 - 0.4) / 0.8)
    assert drop["ci95"][0] <= drop["mean"] <= drop["ci95"][1]
    assert math.isnan(robustness_drop([0.0, 0.0], [0.0])["mean"])


def test_categorical_distribution_matches_torch_categorical():
    dist = CategoricalDistribution(output_dim=1, num_categories=4)
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    dist.update(logits)
    actions = torch.tensor([[0.0], [3.0]])
    expected = torch.log_softmax(logits, -1)[torch.arange(2), actions.squeeze(-1).long()]
    assert torch.allclose(dist.log_prob(actions), expected)
    assert dist.entropy[1] == pytest.approx(math.log(4))
    assert torch.equal(dist.deterministic_output(logits), torch.tensor([[0.0], [0.0]]))
    probs = torch.softmax(logits, -1)
    index = torch.arange(4.0)
    mean = (probs * index).sum(-1, keepdim=True)
    assert torch.allclose(dist.mean, mean)
    assert torch.allclose(dist.std, ((probs * index**2).sum(-1, keepdim=True) - mean**2).sqrt())
    assert torch.allclose(dist.kl_divergence(dist.params, dist.params), torch.zeros(2), atol=1e-7)
    torch.manual_seed(0)
    dist.update(logits[:1].expand(4000, 4))
    samples = dist.sample()
    assert samples.shape == (4000, 1)
    frequencies = torch.bincount(samples.squeeze(-1).long(), minlength=4) / 4000
    assert torch.allclose(frequencies, probs[0], atol=0.03)


def test_categorical_distribution_rejects_vector_actions():
    with pytest.raises(ValueError, match="num_actions == 1"):
        CategoricalDistribution(output_dim=2, num_categories=4)


def test_scaled_lr_group_survives_ppo_adaptive_schedule_and_reload():
    head, backbone = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(
        [{"params": head.parameters()}, {"params": backbone.parameters(), "lr_multiplier": 0.1}], lr=1e-3
    )
    wrap_scaled_groups(optimizer)
    assert isinstance(optimizer.param_groups[1], ScaledLrGroup)
    for group in optimizer.param_groups:  # what rsl-rl's adaptive KL schedule does inside PPO.update
        group["lr"] = 5e-4
    assert optimizer.param_groups[0]["lr"] == 5e-4
    assert optimizer.param_groups[1]["lr"] == pytest.approx(5e-5)
    state = optimizer.state_dict()
    fresh = torch.optim.Adam(
        [{"params": head.parameters()}, {"params": backbone.parameters(), "lr_multiplier": 0.1}], lr=1e-3
    )
    fresh.load_state_dict(state)
    wrap_scaled_groups(fresh)
    for group in fresh.param_groups:
        group["lr"] = 2e-4
    assert fresh.param_groups[1]["lr"] == pytest.approx(2e-5)


def _write_eval(path, seed, successes, deterministic=False):
    from depthbench.agents.evaluation import write_metrics

    records = [{"env_id": 0, "success": s, "spl": 0.5 * s} for s in successes]
    write_metrics(
        {
            "schema": "depthbench.metrics/1",
            "task": "pointnav",
            "kind": "ppo",
            "checkpoint": "c.pt",
            "iterations": 1,
            "split": "test",
            "eval_noise": "clean",
            "train_noise": "clean",
            "train_seed": seed,
            "eval_seed": 0,
            "episodes": len(records),
            "deterministic": deterministic,
            "encoder": {
                "name": "defm-resnet18",
                "label": "defm-resnet18 (RANDOM INIT)",
                "weights_provenance": "random-init",
            },
            "metrics": summarize_episodes(records),
            "groups": [],
            "config": {},
            "versions": {},
            "episode_records": records,
        },
        path,
    )


def test_report_pools_evaluations_over_training_seeds(tmp_path):
    from depthbench.agents.report import build_report

    _write_eval(tmp_path / "s0" / "clean.json", 0, [1.0, 1.0, 0.0, 0.0])  # SR 0.5
    _write_eval(tmp_path / "s1" / "clean.json", 1, [1.0, 1.0, 1.0, 0.0])  # SR 0.75
    _write_eval(tmp_path / "s1" / "short.json", 1, [0.0, 0.0])  # same seed again: the larger evaluation counts
    _write_eval(tmp_path / "s0" / "greedy.json", 0, [0.0] * 4, deterministic=True)  # other action mode: not pooled
    report = build_report(tmp_path)
    lines = (report["out"] / "seeds.csv").read_text().splitlines()
    assert len(lines) == 2
    row = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert row["encoder"] == "defm-resnet18 (RANDOM INIT)" and row["actions"] == "sampled"
    assert (row["seeds"], row["episodes"], float(row["success_rate"])) == ("2", "8", 0.625)
    lo, hi = stats.wilson_interval(5, 8)
    assert row["success_rate_ci95"] == f"{lo:.4f}..{hi:.4f}"
    seed_lo, seed_hi = stats.t_interval([0.5, 0.75])
    assert row["seed_sr_ci95"] == f"{seed_lo:.4f}..{seed_hi:.4f}"
    markdown = (report["out"] / "report.md").read_text()
    assert "defm-resnet18 (RANDOM INIT)" in markdown and "| defm-resnet18 |" not in markdown


def test_rolling_mean_weights_iterations_by_their_episodes():
    from depthbench.agents.report import rolling_mean

    values = [1.0, float("nan"), 0.0, 0.5]
    episodes = [1, 5, 3, 2]
    out = rolling_mean(values, episodes, window=2)
    assert out[0] == 1.0 and out[1] == 1.0  # the NaN iteration carries no weight
    assert out[2] == 0.0  # (nan * 5 + 0 * 3) / 3
    assert out[3] == pytest.approx((0.0 * 3 + 0.5 * 2) / 5)
    assert rolling_mean([float("nan")], [4], window=3)[0] != rolling_mean([float("nan")], [4], window=3)[0]  # NaN


def test_kl_distillation_loss_is_kl_teacher_to_student():
    teacher_log_probs = torch.log(torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]]))
    student_logits = torch.log(torch.tensor([[0.4, 0.2, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25]]))
    # by hand: row 1 = 0.7 ln(0.7/0.4) + 3 * 0.1 ln(0.1/0.2); row 2 = 0
    expected = (0.7 * math.log(0.7 / 0.4) + 0.3 * math.log(0.5)) / 2
    assert _kl_teacher_to_student(student_logits, teacher_log_probs).item() == pytest.approx(expected, rel=1e-5)
    assert _kl_teacher_to_student(teacher_log_probs + 3.0, teacher_log_probs).item() == pytest.approx(0.0, abs=1e-6)


def test_gaussian_kl_distillation_loss_matches_the_closed_form_by_hand():
    # teacher N(0.5, 0.2) and N(-1, 1) per sample-dimension; student N(0.3, 0.4) and N(-1, 1)
    teacher = torch.tensor([[0.5, -1.0, 0.2, 1.0]])  # [means | stds]
    student_mean = torch.tensor([[0.3, -1.0]])
    student_std = torch.tensor([0.4, 1.0])
    # dim 0 by hand: ln(0.4/0.2) + (0.04 + 0.04) / (2 * 0.16) - 0.5 = ln 2 + 0.25 - 0.5; dim 1: 0
    expected = math.log(2.0) - 0.25
    assert gaussian_kl_teacher_to_student(teacher, student_mean, student_std).item() == pytest.approx(expected, 1e-6)
    # the mean over samples: a second sample equal to its teacher adds 0 and halves the mean
    two = gaussian_kl_teacher_to_student(
        torch.cat([teacher, torch.tensor([[0.0, 0.0, 0.4, 1.0]])]), torch.tensor([[0.3, -1.0], [0.0, 0.0]]), student_std
    )
    assert two.item() == pytest.approx(expected / 2, rel=1e-6)


def _gaussian_distillation(num_envs, loss_type, dagger_beta_decay, action_bounds=None):
    from rsl_rl.storage import RolloutStorage
    from tensordict import TensorDict

    from depthbench.agents.models import DepthModel

    torch.manual_seed(0)
    obs = TensorDict({"policy": torch.randn(num_envs, 3)}, batch_size=[num_envs])
    groups = {"student": ["policy"], "teacher": ["policy"]}
    gaussian = {"class_name": "GaussianDistribution", "init_std": 0.3}
    student = DepthModel(obs, groups, "student", 2, hidden_dims=[8], distribution_cfg=gaussian)
    teacher = DepthModel(obs, groups, "teacher", 2, hidden_dims=[8], distribution_cfg=gaussian | {"init_std": 0.2})
    storage = RolloutStorage("distillation", num_envs, 4, obs, [2], "cpu")
    alg = EncoderDistillation(
        student,
        teacher,
        storage,
        loss_type=loss_type,
        dagger_beta_decay=dagger_beta_decay,
        action_bounds=action_bounds,
        gradient_length=4,
    )
    return alg, obs


@pytest.mark.parametrize("loss_type", ["kl", "mse"])
def test_dagger_executes_the_continuous_teachers_mean_with_probability_beta(loss_type):
    alg, obs = _gaussian_distillation(4000, loss_type, dagger_beta_decay=0.5)
    with torch.inference_mode():
        teacher_mean = alg.teacher(obs)
        alg.num_updates = 1  # beta = 0.5^1
        actions = alg.act(obs)
    is_teacher = (actions == teacher_mean).all(-1).float()
    # Binomial(4000, 0.5): standard deviation 0.0079, so 0.5 +- 0.04 is a 5-sigma band
    assert is_teacher.mean().item() == pytest.approx(0.5, abs=0.04)
    # the other rows are the student's samples: Gaussian noise never equals the teacher's mean exactly
    student_rows = actions[is_teacher == 0]
    assert len(student_rows) and not (student_rows == teacher_mean[is_teacher == 0]).any()
    label = alg.transition.privileged_actions
    if loss_type == "kl":  # the stored label is the teacher's Gaussian, [mean | std]
        assert label.shape == (4000, 4)
        assert torch.equal(label[:, :2], teacher_mean) and torch.allclose(label[:, 2:], torch.full((4000, 2), 0.2))
    else:
        assert torch.equal(label, teacher_mean)
    alg.num_updates = 0
    with torch.inference_mode():
        assert torch.equal(alg.act(obs), alg.teacher(obs))  # beta_1 = 1: the teacher drives


def test_gaussian_kl_distillation_update_moves_the_student_to_the_teacher():
    alg, obs = _gaussian_distillation(64, "kl", dagger_beta_decay=0.0)
    alg.learning_rate = 1e-2
    for group in alg.optimizer.param_groups:
        group["lr"] = 1e-2
    losses = []
    for _ in range(60):
        with torch.inference_mode():
            for _ in range(4):
                alg.act(obs)
                alg.process_env_step(obs, torch.zeros(64), torch.zeros(64, dtype=torch.bool), {})
        losses.append(alg.update()["behavior"])
    assert losses[-1] < 0.05 * losses[0]  # KL(teacher || student) falls as the student fits mean and spread
    # KL's optimum for the spread is sqrt(teacher std^2 + mean error^2) -> 0.2 as the means match (0.009 off after
    # 60 Adam steps here; 0.03 leaves room for other CPUs' rounding)
    std = alg.student.distribution.std_param.detach()
    assert (std - 0.2).abs().max().item() < 0.03


def test_continuous_teacher_labels_are_clipped_to_the_action_bounds():
    """The env clips actions, so the label (and the executed teacher action) is the clipped mean."""
    alg, obs = _gaussian_distillation(256, "kl", dagger_beta_decay=0.5, action_bounds=(-0.05, 0.05))
    with torch.inference_mode():
        raw = alg.teacher(obs)
        actions = alg.act(obs)  # num_updates 0: beta 1, the teacher acts
    assert (raw.abs() > 0.05).any()  # the bounds matter for this teacher
    assert torch.equal(actions, raw.clamp(-0.05, 0.05))
    assert torch.equal(alg.transition.privileged_actions[:, :2], raw.clamp(-0.05, 0.05))


def test_per_dimension_action_bounds_clip_each_action_dimension_to_its_own_range():
    """embodied-nav executes vx in [0, 1] (forward only) and wz in [-1, 1]: labels follow per dimension."""
    alg, obs = _gaussian_distillation(256, "mse", dagger_beta_decay=0.5, action_bounds=[[0.0, -0.05], [0.02, 0.05]])
    with torch.inference_mode():
        raw = alg.teacher(obs)
        alg.act(obs)
    label = alg.transition.privileged_actions
    assert (raw[:, 0] < 0).any() and (raw[:, 0] > 0.02).any()  # both of vx's bounds matter for this teacher
    assert torch.equal(label[:, 0], raw[:, 0].clamp(0.0, 0.02))
    assert torch.equal(label[:, 1], raw[:, 1].clamp(-0.05, 0.05))


@pytest.mark.parametrize("bounds", [[-1.0], [[0.0, 1.0], [-1.0, -1.0]], [1.0, -1.0]])
def test_malformed_action_bounds_are_one_clear_error(bounds):
    from depthbench.agents.algorithms import label_bounds

    with pytest.raises(DepthbenchError, match="action_bounds"):
        label_bounds(bounds)


def _auxiliary_distillation(auxiliary, num_envs=64, aux_output_dim=2):
    """A Gaussian MSE student over 'policy' (3-d) whose auxiliary target is read from a 'privileged' group."""
    from rsl_rl.storage import RolloutStorage
    from tensordict import TensorDict

    from depthbench.agents.models import DepthModel

    torch.manual_seed(0)
    policy = torch.randn(num_envs, 3)
    # privileged columns 1 and 3 are linear in the policy observation, so a linear head on the latent can fit them
    privileged = torch.stack([torch.randn(num_envs), 0.1 * policy[:, 0], torch.randn(num_envs), -0.2 * policy[:, 2]], 1)
    obs = TensorDict({"policy": policy, "privileged": privileged}, batch_size=[num_envs])
    groups = {"student": ["policy"], "teacher": ["policy"]}
    gaussian = {"class_name": "GaussianDistribution", "init_std": 0.3}
    student = DepthModel(
        obs, groups, "student", 2, hidden_dims=[8], distribution_cfg=gaussian, aux_output_dim=aux_output_dim
    )
    teacher = DepthModel(obs, groups, "teacher", 2, hidden_dims=[8], distribution_cfg=gaussian)
    storage = RolloutStorage("distillation", num_envs, 4, obs, [2], "cpu")
    alg = EncoderDistillation(student, teacher, storage, loss_type="mse", auxiliary=auxiliary, gradient_length=4)
    return alg, obs


def _rollout_and_update(alg, obs, steps=4):
    with torch.inference_mode():
        for _ in range(steps):
            alg.act(obs)
            alg.process_env_step(obs, torch.zeros(obs.batch_size[0]), torch.zeros(obs.batch_size[0], dtype=bool), {})
    return alg.update()


def test_auxiliary_loss_is_the_mse_of_the_scaled_target_and_is_reported_apart_from_the_behaviour_loss():
    spec = {"group": "privileged", "indices": [1, 3], "scale": 0.5, "coef": 2.0}
    alg, obs = _auxiliary_distillation(spec)
    with torch.inference_mode():
        alg.act(obs)
    label = alg.transition.privileged_actions
    # the stored label is [teacher action (2) | privileged columns 1 and 3, unscaled]
    assert label.shape == (64, 4)
    assert torch.equal(label[:, 2:], obs["privileged"][:, [1, 3]])
    # by hand: the student's mean against the teacher's, plus 2 x MSE(head(latent), target / 0.5)
    with torch.no_grad():
        student_mean = alg.student(obs)
        latent = alg.student.obs_normalizer(obs["policy"])
        expected_aux = ((alg.student.aux_head(latent) - obs["privileged"][:, [1, 3]] / 0.5) ** 2).mean()
        expected_behaviour = ((student_mean - label[:, :2]) ** 2).mean()
        total = alg.loss_fn(student_mean, label)
    assert total.item() == pytest.approx(expected_behaviour.item() + 2.0 * expected_aux.item(), rel=1e-6)
    alg.storage.clear()
    losses = _rollout_and_update(alg, obs, steps=4)
    # one epoch of 4 identical steps accumulates into one Adam step at its end (gradient_length 4), so every batch saw
    # the initial weights: the reported parts are the hand values, each on its own
    assert losses["behavior"] == pytest.approx(expected_behaviour.item(), rel=1e-5)
    assert losses["auxiliary"] == pytest.approx(expected_aux.item(), rel=1e-5)


def test_auxiliary_head_learns_privileged_state_that_is_linear_in_what_the_student_sees():
    # scale 0.2: the head must reach weights 0.5 and -1 (targets 0.1 x0 / 0.2, -0.2 x2 / 0.2); Adam at 3e-2 moves each
    # weight about 0.03 per step, so 150 steps are several times what it needs
    alg, obs = _auxiliary_distillation({"group": "privileged", "indices": [1, 3], "scale": 0.2, "coef": 1.0})
    for group in alg.optimizer.param_groups:
        group["lr"] = 3e-2
    first = _rollout_and_update(alg, obs)["auxiliary"]
    for _ in range(150):
        last = _rollout_and_update(alg, obs)["auxiliary"]
    assert last < 1e-3 * first  # an exactly linear target: measured 6e-8 of the first loss after 150 steps


def test_without_auxiliary_the_student_has_no_head_and_labels_are_the_teachers_alone():
    alg, obs = _gaussian_distillation(16, "mse", dagger_beta_decay=0.0)
    assert alg.student.aux_head is None
    with torch.inference_mode():
        alg.act(obs)
    assert alg.transition.privileged_actions.shape == (16, 2)
    assert set(_rollout_and_update(alg, obs, steps=3)) == {"behavior"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"group": "privileged", "indices": []}, "non-empty list"),
        ({"group": "privileged", "indices": [0], "scale": 0}, "scale > 0"),
        ({"group": "privileged", "indices": [0], "weight": 1}, "must be"),
        ({"group": "missing", "indices": [0]}, "not an observation group"),
        ({"group": "privileged", "indices": [4]}, "columns of the 4-wide"),
    ],
)
def test_malformed_auxiliary_targets_are_one_clear_error(spec, message):
    with pytest.raises(DepthbenchError, match=message):
        _auxiliary_distillation(spec, aux_output_dim=len(spec["indices"]) or 1)


def test_distillation_config_gives_the_student_an_auxiliary_head_of_the_targets_width():
    from depthbench.agents.config import distillation_train_cfg, resolve_config

    cfg = resolve_config(
        "kuka-allegro-grasp",
        overrides=["distillation.algorithm.auxiliary={group: privileged, indices: [0, 1, 2, 23, 24, 25], scale: 0.05}"],
    )
    teacher_cfg = resolve_config("kuka-allegro-grasp")
    train_cfg = distillation_train_cfg(cfg, teacher_cfg)
    assert train_cfg["student"]["aux_output_dim"] == 6
    assert train_cfg["algorithm"]["auxiliary"]["indices"] == [0, 1, 2, 23, 24, 25]
    assert "aux_output_dim" not in distillation_train_cfg(teacher_cfg, teacher_cfg)["student"]


def test_aggregated_dataset_is_a_ring_of_the_last_rollouts_and_draws_only_stored_steps():
    from tensordict import TensorDict

    from depthbench.agents.algorithms import AggregatedDataset

    data = AggregatedDataset(rollouts=2, batches=3, batch_size=64)
    for value in (1.0, 2.0):
        data.add(TensorDict({"x": torch.full((8, 2), value)}, batch_size=[8]), torch.full((8, 1), value))
        if value == 1.0:  # half full: every draw is from rollout 1, never the unwritten zeros
            assert all(bool((labels == 1.0).all()) for _, labels in data.minibatches())
    data.add(TensorDict({"x": torch.full((8, 2), 3.0)}, batch_size=[8]), torch.full((8, 1), 3.0))
    # capacity 2 rollouts x 8 steps: rollout 1 was overwritten by rollout 3
    assert sorted(set(data.labels.flatten().tolist())) == [2.0, 3.0]
    drawn = torch.cat([labels for _, labels in data.minibatches()])
    assert drawn.shape == (3 * 64, 1) and set(drawn.flatten().tolist()) == {2.0, 3.0}
    observations, labels = next(data.minibatches())
    assert torch.equal(observations["x"][:, 0:1], labels)  # observations and labels stay paired


def _shifted_distillation(aggregation):
    """An MLP student of a fixed teacher over 2-d inputs; returns (alg, obs_a, obs_b), two disjoint input regions."""
    from rsl_rl.storage import RolloutStorage
    from tensordict import TensorDict

    from depthbench.agents.models import DepthModel

    torch.manual_seed(0)
    num_envs = 64
    obs_a = TensorDict({"policy": torch.randn(num_envs, 2) + 3.0}, batch_size=[num_envs])
    obs_b = TensorDict({"policy": torch.randn(num_envs, 2) - 3.0}, batch_size=[num_envs])
    groups = {"student": ["policy"], "teacher": ["policy"]}
    gaussian = {"class_name": "GaussianDistribution", "init_std": 0.3}
    student = DepthModel(obs_a, groups, "student", 1, hidden_dims=[32, 32], distribution_cfg=gaussian)
    teacher = DepthModel(obs_a, groups, "teacher", 1, hidden_dims=[32], distribution_cfg=gaussian)
    with torch.no_grad():  # a teacher that acts +1 on region A and -1 on region B, whatever its random init
        teacher.mlp[-1].bias.zero_()
        teacher.mlp[-1].weight.zero_()
        teacher.mlp[0].weight.zero_()
        teacher.mlp[0].weight[:, 0] = 1.0
        teacher.mlp[-1].weight[0, :] = 1.0 / 32
    storage = RolloutStorage("distillation", num_envs, 4, obs_a, [1], "cpu")
    alg = EncoderDistillation(student, teacher, storage, loss_type="mse", aggregation=aggregation, gradient_length=4)
    for group in alg.optimizer.param_groups:
        group["lr"] = 1e-2
    return alg, obs_a, obs_b


def test_aggregation_keeps_what_an_early_rollout_taught_while_later_rollouts_visit_other_states():
    """DAgger's point (Ross et al. 2011): states of early rollouts stay in the training set. Without aggregation the
    student trains on the latest rollout only and forgets the first region; with it, the first region stays fitted."""
    errors = {}
    for name, aggregation in (("latest only", None), ("aggregated", {"rollouts": 50, "batches": 4, "batch_size": 64})):
        alg, obs_a, obs_b = _shifted_distillation(aggregation)
        for _ in range(20):
            losses = _rollout_and_update(alg, obs_a)
        for _ in range(40):
            losses = _rollout_and_update(alg, obs_b)
        assert ("aggregated" in losses) == (aggregation is not None)
        with torch.no_grad():
            errors[name] = ((alg.student(obs_a) - alg.teacher(obs_a)) ** 2).mean().item()
    assert errors["aggregated"] < 0.2 * errors["latest only"], errors  # measured 0.004 against 0.68


@pytest.mark.parametrize(
    "spec", [{"rollouts": 0, "batches": 1, "batch_size": 8}, {"rollouts": 2, "batches": 1}, [2, 1, 8]]
)
def test_malformed_aggregation_is_one_clear_error(spec):
    with pytest.raises(DepthbenchError, match="aggregation must be"):
        _shifted_distillation(spec)


def test_aggregation_refuses_a_recurrent_student():
    from rsl_rl.storage import RolloutStorage
    from tensordict import TensorDict

    from depthbench.agents.models import DepthModel

    obs = TensorDict({"policy": torch.randn(4, 2)}, batch_size=[4])
    groups = {"student": ["policy"], "teacher": ["policy"]}
    student = DepthModel(obs, groups, "student", 1, hidden_dims=[8], rnn_type="gru", rnn_hidden_dim=8)
    teacher = DepthModel(obs, groups, "teacher", 1, hidden_dims=[8])
    storage = RolloutStorage("distillation", 4, 4, obs, [1], "cpu")
    with pytest.raises(DepthbenchError, match="recurrent student"):
        EncoderDistillation(
            student, teacher, storage, gradient_length=4, aggregation={"rollouts": 2, "batches": 1, "batch_size": 4}
        )


def test_obs_exclude_hides_columns_from_the_student_and_its_normalizer():
    from tensordict import TensorDict

    from depthbench.agents.models import DepthModel

    torch.manual_seed(0)
    obs = TensorDict({"policy": torch.randn(32, 3), "extra": torch.randn(32, 2)}, batch_size=[32])
    groups = {"student": ["policy", "extra"]}
    model = DepthModel(obs, groups, "student", 1, hidden_dims=[8], obs_normalization=True, obs_exclude={"policy": [1]})
    assert model.obs_dim == 4 and model.obs_normalizer._mean.shape[-1] == 4
    model.update_normalization(obs)  # statistics of the columns it reads: policy 0 and 2, then extra
    read = torch.cat([obs["policy"][:, [0, 2]], obs["extra"]], dim=1)
    assert torch.allclose(model.obs_normalizer._mean.flatten(), read.mean(0), atol=1e-6)
    changed = obs.clone()
    changed["policy"][:, 1] += 100.0  # the hidden column: no effect
    assert torch.equal(model(obs), model(changed))
    changed["policy"][:, 0] += 1.0  # a read column: an effect
    assert not torch.allclose(model(obs), model(changed))


@pytest.mark.parametrize(("exclude", "message"), [({"policy": [3]}, "3-wide"), ({"missing": [0]}, "missing")])
def test_malformed_obs_exclude_is_one_clear_error(exclude, message):
    from tensordict import TensorDict

    from depthbench.agents.models import DepthModel

    obs = TensorDict({"policy": torch.randn(4, 3)}, batch_size=[4])
    with pytest.raises(DepthbenchError, match=message):
        DepthModel(obs, {"student": ["policy"]}, "student", 1, hidden_dims=[8], obs_exclude=exclude)
