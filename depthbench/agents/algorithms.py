"""rsl-rl PPO and Distillation with the additions the benchmark needs and rsl-rl lacks.

1. In-model depth encoders train with their own learning-rate multiplier (an Adam parameter group). rsl-rl's adaptive
   KL schedule writes one learning rate into every group, so the encoder group scales whatever it is given.
2. Discrete students are distilled with cross-entropy or KL to the teacher (rsl-rl's Distillation regresses the
   action value with MSE, which is meaningless for an action index and has no gradient through argmax); Gaussian
   students may take the KL between the teacher's and their own Gaussians besides rsl-rl's MSE/Huber on the mean.
3. DAgger's teacher/student mixture for the rollouts (rsl-rl's student always acts).
4. Scripted teachers (depthbench.agents.scripted_teachers): no weights to load, episode memory kept out of the update.
5. DAgger's dataset aggregation (Ross et al. 2011: every iteration trains on all data so far; rsl-rl's Distillation
   trains on the latest rollout only and forgets what earlier states taught), for feedforward students: a ring buffer
   of past rollouts from which each update draws extra minibatches.
6. An auxiliary loss that makes the student's latent predict privileged state it must infer from depth (the object's
   position for a grasp), as DextrAH-G's depth student does (Lum et al. 2024, sec. IV-C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from rsl_rl.algorithms import PPO, Distillation
from tensordict import TensorDict

from depthbench.agents.distributions import CategoricalDistribution
from depthbench.agents.models import DepthModel
from depthbench.agents.scripted_teachers import ScriptedTeacher
from depthbench.errors import DepthbenchError

CATEGORICAL_LOSSES = ("cross_entropy", "kl")
CONTINUOUS_LOSSES = ("mse", "huber", "kl")


class ScaledLrGroup(dict):
    """An optimizer parameter group whose 'lr' is always base_lr * multiplier, however it is assigned."""

    def __init__(self, group: dict[str, Any], multiplier: float) -> None:
        super().__init__(group)
        self.multiplier = multiplier
        self["lr"] = group["lr"]

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value * self.multiplier if key == "lr" else value)


def build_param_groups(
    optimizer: torch.optim.Optimizer, models: list[torch.nn.Module], learning_rate: float
) -> torch.optim.Optimizer:
    """Rebuild `optimizer` (same class and defaults) with group 0 = everything but encoders, then one group per encoder.

    Group 0 stays the base group because rsl-rl's PPO.load reads the learning rate from param_groups[0].
    """
    encoder_params: list[tuple[torch.nn.Parameter, float]] = []
    seen: set[int] = set()
    for model in models:
        if isinstance(model, DepthModel):
            for params, multiplier in model.encoder_param_groups():
                for p in params:
                    if id(p) not in seen:
                        seen.add(id(p))
                        encoder_params.append((p, multiplier))
    base = []
    for model in models:
        for p in model.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                base.append(p)
    multipliers = sorted({m for _, m in encoder_params})
    groups = [{"params": base}] + [
        {"params": [p for p, mult in encoder_params if mult == m], "lr_multiplier": m} for m in multipliers if m != 1.0
    ]
    groups[0]["params"] += [p for p, mult in encoder_params if mult == 1.0]
    new = type(optimizer)(groups, lr=learning_rate)
    wrap_scaled_groups(new)
    return new


def wrap_scaled_groups(optimizer: torch.optim.Optimizer) -> None:
    """(Re)apply the multipliers after construction or after `load_state_dict`, which replaces the group dicts."""
    for index, group in enumerate(optimizer.param_groups):
        if "lr_multiplier" in group and not isinstance(group, ScaledLrGroup):
            base_lr = optimizer.param_groups[0]["lr"]
            scaled = ScaledLrGroup(group, group["lr_multiplier"])
            scaled["lr"] = base_lr
            optimizer.param_groups[index] = scaled


class EncoderPPO(PPO):
    """rsl-rl PPO whose optimizer gives in-model encoders their learning-rate multiplier."""

    def __init__(self, actor: DepthModel, critic: DepthModel, storage: Any, **kwargs: Any) -> None:
        super().__init__(actor, critic, storage, **kwargs)
        self.optimizer = build_param_groups(self.optimizer, [self.actor, self.critic], self.learning_rate)

    def load(self, loaded_dict: dict, load_cfg: dict | None, strict: bool) -> bool:
        result = super().load(loaded_dict, load_cfg, strict)
        wrap_scaled_groups(self.optimizer)
        return result


class EncoderDistillation(Distillation):
    """rsl-rl Distillation with encoder parameter groups, losses for categorical students, and DAgger's mixing.

    Categorical students take `loss_type` "cross_entropy" (to the teacher's greedy action) or "kl"
    (KL(teacher || student) over the teacher's whole action distribution: Hinton et al. 2015's soft targets; Czarnecki
    et al. 2019 show student-driven rollouts with this loss are a sound policy-distillation objective). Soft targets
    also carry the teacher's second choices, which in a corridor-or-door state the student cannot yet tell apart.
    Gaussian students take "mse"/"huber" (rsl-rl: the student's mean to the teacher's mean) or "kl": KL(teacher ||
    student) between the diagonal Gaussians, which fits the mean (weighted by the student's precision) and the spread.

    DAgger's mixture policy (Ross et al. 2011, sec. 3: beta_i = p^(i-1)): at iteration i (from 0) the teacher's
    greedy action is executed with probability `dagger_beta_decay`^i, per env and step, so early rollouts reach the
    goal (and teach STOP) while the student is still poor; the student acts alone as beta decays. 0 (rsl-rl's
    behaviour): the student always acts. Labels are the teacher's either way.
    """

    def __init__(
        self,
        student: DepthModel,
        teacher: DepthModel,
        storage: Any,
        loss_type: str = "mse",
        dagger_beta_decay: float = 0.0,
        action_bounds: tuple[float, float] | None = None,
        auxiliary: dict[str, Any] | None = None,
        aggregation: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.categorical = isinstance(student.distribution, CategoricalDistribution)
        allowed = CATEGORICAL_LOSSES if self.categorical else CONTINUOUS_LOSSES
        if loss_type not in allowed:
            kind = "categorical" if self.categorical else "continuous"
            raise DepthbenchError(
                f"distillation.algorithm.loss_type '{loss_type}' does not fit a {kind} student; use one of {allowed}"
            )
        if not 0.0 <= dagger_beta_decay < 1.0:
            raise DepthbenchError(
                f"distillation.algorithm.dagger_beta_decay must be in [0, 1), got {dagger_beta_decay}"
            )
        rsl_loss = loss_type if loss_type in ("mse", "huber") else "mse"
        super().__init__(student, teacher, storage, loss_type=rsl_loss, **kwargs)
        self.loss_type = loss_type
        self.dagger_beta_decay = dagger_beta_decay
        # continuous teachers: the env clips actions, so a mean of 3 acts like 1; labels are clipped to what executes
        self.action_bounds = None if action_bounds is None else label_bounds(action_bounds)
        if loss_type == "kl" and self.categorical:  # the label is the teacher's log-probabilities, not its index
            categories = student.distribution.num_categories
            storage.privileged_actions = storage.actions.new_zeros(*storage.actions.shape[:-1], categories)
            self.loss_fn = _kl_teacher_to_student
        elif loss_type == "kl":  # the label is the teacher's Gaussian: mean and std per action dimension
            storage.privileged_actions = storage.actions.new_zeros(
                *storage.actions.shape[:-1], 2 * storage.actions.shape[-1]
            )
            self.loss_fn = self._gaussian_kl_loss
        elif loss_type == "cross_entropy":
            self.loss_fn = _cross_entropy_to_teacher_index
        self.auxiliary = None if auxiliary is None else AuxiliaryTarget.from_config(auxiliary)
        if self.auxiliary is not None:
            self.auxiliary.check(storage.observations, student)
            # the targets ride in the label tensor after the teacher's label, so rsl-rl's storage and batches carry them
            storage.privileged_actions = torch.cat(
                [
                    storage.privileged_actions,
                    storage.privileged_actions.new_zeros(*storage.actions.shape[:-1], len(self.auxiliary.indices)),
                ],
                dim=-1,
            )
            self._behaviour_loss_fn = self.loss_fn
            self.loss_fn = self._loss_with_auxiliary
            self._loss_sums = {"behavior": 0.0, "auxiliary": 0.0}
        self.aggregation = None if aggregation is None else AggregatedDataset.from_config(aggregation)
        if self.aggregation is not None and student.is_recurrent:
            raise DepthbenchError(
                "distillation.algorithm.aggregation draws single steps from past rollouts, which a recurrent student "
                "cannot learn from (its memory needs the steps before); use a feedforward student or aggregation: null"
            )
        self.optimizer = build_param_groups(self.optimizer, [self.student], self.learning_rate)

    @property
    def teacher_action_prob(self) -> float:
        """DAgger's beta for the coming rollout (num_updates = iterations done, restored on resume)."""
        return self.dagger_beta_decay**self.num_updates if self.dagger_beta_decay > 0 else 0.0

    def act(self, obs: TensorDict) -> torch.Tensor:
        student_action = self.student(obs, stochastic_output=True).detach()
        if self.loss_type == "kl" and self.categorical:
            logits = self.teacher.logits(obs).detach()
            self.transition.privileged_actions = torch.log_softmax(logits, dim=-1)
            teacher_action = self.teacher.distribution.deterministic_output(logits)
        elif self.loss_type == "kl":
            teacher_action = self._bounded(self.teacher(obs).detach())  # the Gaussian's mean
            self.teacher.distribution.update(teacher_action)
            std = self.teacher.distribution.std.detach().expand_as(teacher_action)
            self.transition.privileged_actions = torch.cat([teacher_action, std], dim=-1)
        else:
            teacher_action = self._bounded(self.teacher(obs).detach())
            self.transition.privileged_actions = teacher_action
        if self.auxiliary is not None:
            self.transition.privileged_actions = torch.cat(
                [self.transition.privileged_actions, self.auxiliary.target(obs)], dim=-1
            )
        actions = student_action
        beta = self.teacher_action_prob
        if beta > 0:
            teacher_acts = torch.rand(actions.shape[0], 1, device=actions.device) < beta
            actions = torch.where(teacher_acts, teacher_action, student_action)
        self.transition.actions = actions
        self.transition.observations = obs
        return actions

    def _bounded(self, action: torch.Tensor) -> torch.Tensor:
        if self.action_bounds is None or self.categorical:
            return action
        low, high = (bound.to(action.device) for bound in self.action_bounds)
        return torch.clamp(action, low, high)

    def _gaussian_kl_loss(self, student_mean: torch.Tensor, teacher_params: torch.Tensor) -> torch.Tensor:
        self.student.distribution.update(student_mean)
        return gaussian_kl_teacher_to_student(teacher_params, student_mean, self.student.distribution.std)

    def _loss_with_auxiliary(self, student_output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The behaviour loss on the teacher's label plus coef x the auxiliary MSE on the trailing target columns,
        predicted from the latent of the student forward pass that produced `student_output`."""
        width = len(self.auxiliary.indices)
        behaviour = self._behaviour_loss_fn(student_output, labels[..., :-width])
        prediction = self.student.aux_head(self.student.last_latent)
        auxiliary = torch.nn.functional.mse_loss(prediction, labels[..., -width:] / self.auxiliary.scale)
        # detached sums, read once per update: no device sync per batch
        self._loss_sums["behavior"] += behaviour.detach()
        self._loss_sums["auxiliary"] += auxiliary.detach()
        return behaviour + self.auxiliary.coef * auxiliary

    def update(self) -> dict[str, float]:
        """rsl-rl's update on the latest rollout, then (with aggregation) minibatches from all stored rollouts."""
        if self.aggregation is not None:  # before rsl-rl's update clears the storage
            self.aggregation.add(self.storage.observations.flatten(0, 1), self.storage.privileged_actions.flatten(0, 1))
        if self.auxiliary is not None:
            self._loss_sums = dict.fromkeys(self._loss_sums, 0.0)
        losses = self._update()
        if self.auxiliary is not None:  # rsl-rl's "behavior" summed the combined loss: report the two parts apart
            batches = self.num_learning_epochs * self.storage.num_transitions_per_env
            losses.update({key: float(total) / batches for key, total in self._loss_sums.items()})
        if self.aggregation is not None:
            losses["aggregated"] = self._update_on_aggregate()
        return losses

    def _update_on_aggregate(self) -> float:
        """`batches` Adam steps on minibatches drawn uniformly from every stored step; returns their mean loss."""
        self.student.logits_output = self.categorical
        total = 0.0
        try:
            for observations, labels in self.aggregation.minibatches():
                loss = self.loss_fn(self.student(observations), labels)
                self.optimizer.zero_grad()
                loss.backward()
                if self.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(self.student.parameters(), self.max_grad_norm)
                self.optimizer.step()
                total += loss.item()
        finally:
            self.student.logits_output = False
        return total / self.aggregation.batches

    def _update(self) -> dict[str, float]:
        self.student.logits_output = self.categorical
        # rsl-rl's update replays the rollout's resets on the teacher; a scripted teacher's episode memory follows the
        # envs, which have moved on, so it must not see them
        scripted = isinstance(self.teacher, ScriptedTeacher)
        if scripted:
            self.teacher.ignore_resets = True
        try:
            return super().update()
        finally:
            self.student.logits_output = False
            if scripted:
                self.teacher.ignore_resets = False

    def load(self, loaded_dict: dict, load_cfg: dict | None, strict: bool) -> bool:
        if not self._raw_teacher.state_dict():  # a scripted teacher: no weights (rsl-rl reads {} as a missing teacher)
            load_cfg = {"student": True, "optimizer": True, "iteration": True} if load_cfg is None else load_cfg
            load_cfg = {**load_cfg, "teacher": False}
            self.teacher_loaded = True
        resumes_iteration = super().load(loaded_dict, load_cfg, strict)
        if resumes_iteration:  # DAgger's beta continues where the run stopped
            self.num_updates = int(loaded_dict["iter"])
        wrap_scaled_groups(self.optimizer)
        return resumes_iteration


@dataclass(frozen=True)
class AuxiliaryTarget:
    """`distillation.algorithm.auxiliary`: columns `indices` of observation group `group` (privileged state the
    student does not observe), predicted by a linear head on the student's latent with MSE on target / `scale`
    (the unit in which an error of 1 costs as much as the behaviour loss's scale), weighted by `coef`."""

    group: str
    indices: tuple[int, ...]
    scale: float = 1.0
    coef: float = 1.0

    @classmethod
    def from_config(cls, spec: Any) -> AuxiliaryTarget:
        usage = "{group: NAME, indices: [i, ...], scale: >0, coef: >=0}"
        if not isinstance(spec, dict) or set(spec) - {"group", "indices", "scale", "coef"} or "group" not in spec:
            raise DepthbenchError(f"distillation.algorithm.auxiliary must be {usage}, got {spec!r}")
        indices = spec.get("indices")
        if not isinstance(indices, list) or not indices or not all(isinstance(i, int) and i >= 0 for i in indices):
            raise DepthbenchError(
                f"distillation.algorithm.auxiliary.indices must be a non-empty list of column indices, got {indices!r}"
            )
        target = cls(str(spec["group"]), tuple(indices), float(spec.get("scale", 1.0)), float(spec.get("coef", 1.0)))
        if target.scale <= 0 or target.coef < 0:
            raise DepthbenchError(f"distillation.algorithm.auxiliary needs scale > 0 and coef >= 0, got {spec!r}")
        return target

    def check(self, observations: TensorDict, student: DepthModel) -> None:
        if self.group not in observations:
            raise DepthbenchError(
                f"distillation.algorithm.auxiliary.group '{self.group}' is not an observation group of this task; "
                f"groups: {', '.join(sorted(observations.keys()))}"
            )
        width = observations[self.group].shape[-1]
        if observations[self.group].dim() != 3 or max(self.indices) >= width:  # storage: (steps, envs, width)
            raise DepthbenchError(
                f"distillation.algorithm.auxiliary.indices {list(self.indices)} must be columns of the "
                f"{width}-wide vector group '{self.group}'"
            )
        if getattr(student, "aux_head", None) is None or student.aux_head.out_features != len(self.indices):
            raise DepthbenchError(
                "the student has no auxiliary head of the target's width (distillation_train_cfg "
                "sets student.aux_output_dim from distillation.algorithm.auxiliary)"
            )

    def target(self, obs: TensorDict) -> torch.Tensor:
        return obs[self.group][..., list(self.indices)]


class AggregatedDataset:
    """`distillation.algorithm.aggregation`: the last `rollouts` rollouts' steps (observations and labels) in a ring
    buffer, allocated at the first rollout; each update draws `batches` minibatches of `batch_size` steps from it.

    Memory: `rollouts` x envs x steps per env x the size of one step's observations (a 64x64 depth image is 16 KB)."""

    def __init__(self, rollouts: int, batches: int, batch_size: int, seed: int = 0) -> None:
        self.rollouts, self.batches, self.batch_size = rollouts, batches, batch_size
        self.observations: TensorDict | None = None
        self.labels: torch.Tensor | None = None
        self.filled = 0
        self.next = 0
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_config(cls, spec: Any) -> AggregatedDataset:
        keys = ("rollouts", "batches", "batch_size")
        if (
            not isinstance(spec, dict)
            or set(spec) != set(keys)
            or not all(isinstance(spec[k], int) and spec[k] > 0 for k in keys)
        ):
            raise DepthbenchError(
                f"distillation.algorithm.aggregation must be {{rollouts: N, batches: N, batch_size: N}} with positive "
                f"integers, got {spec!r}"
            )
        return cls(spec["rollouts"], spec["batches"], spec["batch_size"])

    def add(self, observations: TensorDict, labels: torch.Tensor) -> None:
        """Store one rollout's steps (flattened to (steps x envs, ...)), overwriting the oldest rollout when full."""
        steps = labels.shape[0]
        if self.observations is None:
            capacity = self.rollouts * steps
            self.observations = observations.apply(lambda x: x.new_zeros(capacity, *x.shape[1:]), batch_size=[capacity])
            self.labels = labels.new_zeros(capacity, *labels.shape[1:])
        start = self.next * steps
        self.observations[start : start + steps] = observations
        self.labels[start : start + steps] = labels
        self.next = (self.next + 1) % self.rollouts
        self.filled = min(self.filled + steps, self.labels.shape[0])

    def minibatches(self):  # noqa: ANN201 - a generator of (TensorDict, Tensor)
        for _ in range(self.batches):
            index = torch.randint(self.filled, (self.batch_size,), generator=self.generator)
            yield self.observations[index], self.labels[index]


def label_bounds(action_bounds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """`distillation.algorithm.action_bounds` [low, high] -> tensors; each bound is one number for every action
    dimension or a list with one per dimension (embodied-nav: vx executes in [0, 1], wz in [-1, 1])."""
    if not isinstance(action_bounds, (list, tuple)) or len(action_bounds) != 2:
        raise DepthbenchError(
            "distillation.algorithm.action_bounds must be [low, high] (numbers or per-dimension lists), "
            f"got {action_bounds!r}"
        )
    low, high = (torch.as_tensor(bound, dtype=torch.float32) for bound in action_bounds)
    if low.shape != high.shape or bool((low > high).any()):
        raise DepthbenchError(f"distillation.algorithm.action_bounds low must not exceed high, got {action_bounds!r}")
    return low, high


def _cross_entropy_to_teacher_index(logits: torch.Tensor, teacher_index: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits, teacher_index.squeeze(-1).round().long())


def _kl_teacher_to_student(logits: torch.Tensor, teacher_log_probs: torch.Tensor) -> torch.Tensor:
    """Mean KL(teacher || student) in nats (0 when the student matches the teacher's distribution)."""
    student_log_probs = torch.log_softmax(logits, dim=-1)
    return (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(-1).mean()


def gaussian_kl_teacher_to_student(
    teacher_params: torch.Tensor, student_mean: torch.Tensor, student_std: torch.Tensor
) -> torch.Tensor:
    """Mean over samples of KL(teacher || student) in nats, summed over action dimensions; `teacher_params` is the
    teacher's [mean, std] concatenated on the last axis. Per dimension:
    ln(s_s/s_t) + (s_t^2 + (m_t - m_s)^2) / (2 s_s^2) - 1/2 (torch.distributions' closed form for two Normals)."""
    teacher_mean, teacher_std = teacher_params.chunk(2, dim=-1)
    teacher = torch.distributions.Normal(teacher_mean, teacher_std)
    student = torch.distributions.Normal(student_mean, student_std.expand_as(student_mean))
    return torch.distributions.kl_divergence(teacher, student).sum(-1).mean()
