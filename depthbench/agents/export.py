"""ONNX export of a trained policy for deployment: metric depth in, action out, noise-free.

The exported graph holds the encoder's own preprocessing (metric depth -> normalized input), the encoder (frozen ones
included, with their 3x3-grid features), the observation normalizer, the GRU/LSTM step (hidden state in and out, as in
rsl-rl's ONNX export) and the MLP. No noise model: the robot's sensor supplies the noise. Parity with the PyTorch
policy is checked with onnxruntime on random inputs before the file is reported as written.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from depthbench.agents.config import FEATURE_GROUP
from depthbench.agents.evaluation import _restore_frozen_encoder, _teacher_cfg, with_device
from depthbench.agents.models import DepthModel, frozen_features, trainable_features
from depthbench.agents.training import PolicySetup, load_checkpoint, write_json_atomic
from depthbench.errors import DepthbenchError


def traceable_encode(encoder: nn.Module, depth_m: torch.Tensor, select: Any) -> torch.Tensor:
    """encode_cameras for the exported graph: the encoder's own preprocessing and forward, minus the input checks of
    `as_metric_depth` (data-dependent raises cannot be exported); NaN, inf and negative depth map to 0 = invalid."""
    cameras, height, width = depth_m.shape[-3:]
    flat = torch.nan_to_num(depth_m.reshape(-1, 1, height, width), nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0.0)
    features = select(encoder(encoder.backbone.preprocess(flat)))
    return features.reshape(depth_m.shape[0], cameras * features.shape[-1])


class ExportablePolicy(nn.Module):
    """One deterministic policy step: (proprio (1, D), depth_m (1, C, H, W)[, h_in[, c_in]]) -> actions, logits..."""

    def __init__(
        self, model: DepthModel, frozen_encoder: nn.Module | None, vector_groups: list[str], vector_dims: list[int]
    ) -> None:
        super().__init__()
        self.model = model
        self.frozen_encoder = frozen_encoder
        self.vector_groups = vector_groups  # the model's 1D groups in order; FEATURE_GROUP is computed from depth
        self.vector_dims = vector_dims
        rnn = model.rnn.rnn if model.is_recurrent else None
        self.rnn_kind = None if rnn is None else ("lstm" if isinstance(rnn, nn.LSTM) else "gru")

    def forward(
        self, vector_obs: torch.Tensor, depth_m: torch.Tensor, *state: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        parts, offset = [], 0
        for group, dim in zip(self.vector_groups, self.vector_dims, strict=True):
            if group == FEATURE_GROUP:
                parts.append(traceable_encode(self.frozen_encoder, depth_m, frozen_features))
            else:
                parts.append(vector_obs[:, offset : offset + dim])
                offset += dim
        latent = [self.model.obs_normalizer(torch.cat(parts, dim=-1))] if parts else []
        if self.model.image_groups:
            latent.append(traceable_encode(self.model.encoder, depth_m, trainable_features))
        x = torch.cat(latent, dim=-1)
        new_state: tuple[torch.Tensor, ...] = ()
        if self.rnn_kind == "gru":
            out, h = self.model.rnn.rnn(x.unsqueeze(0), state[0])
            x, new_state = out.squeeze(0), (h,)
        elif self.rnn_kind == "lstm":
            out, (h, c) = self.model.rnn.rnn(x.unsqueeze(0), (state[0], state[1]))
            x, new_state = out.squeeze(0), (h, c)
        raw = self.model.mlp(x)
        actions = self.model.distribution.as_deterministic_output_module()(raw)
        return (actions, raw, *new_state)


def _policy_from_checkpoint(checkpoint: str | Path) -> tuple[ExportablePolicy, dict[str, Any], tuple[int, ...]]:
    data = load_checkpoint(checkpoint)
    meta = data["depthbench"]
    if meta["kind"] == "teacher":
        raise DepthbenchError("a privileged teacher needs simulator state; export a depth policy or distilled student")
    cfg = with_device(meta["config"], "cpu")  # the exported graph is device-neutral; trace it on the CPU
    setup = PolicySetup(cfg, kind=meta["kind"], teacher_cfg=_teacher_cfg(meta))
    _restore_frozen_encoder(setup, meta)
    env = setup.make_env(seed=0, noise_spec="clean", split=None, num_envs=1, generator=torch.Generator())
    runner = setup.runner(env, log_dir=None)
    runner.alg.load(data, None, strict=True)
    model = runner.get_inference_policy()
    obs = env.get_observations()
    vector_dims = [obs[g].shape[-1] for g in model.obs_groups]
    policy = ExportablePolicy(model, setup.frozen_encoder, list(model.obs_groups), vector_dims).eval()
    depth_shape = tuple(env.env.get_observations()["depth"].shape[1:])  # the clean camera images, before encoding
    return policy, meta, depth_shape


def export_onnx(checkpoint: str | Path, out: str | Path, *, parity_samples: int = 8, seed: int = 0) -> dict[str, Any]:
    """Export and parity-check; writes OUT.onnx and OUT.json (input layout, provenance, parity numbers)."""
    import onnxruntime

    policy, meta, depth_shape = _policy_from_checkpoint(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    vector_dim = sum(d for g, d in zip(policy.vector_groups, policy.vector_dims, strict=True) if g != FEATURE_GROUP)
    generator = torch.Generator().manual_seed(seed)
    state_shape = []
    if policy.rnn_kind is not None:
        rnn = policy.model.rnn.rnn
        state_shape = [(rnn.num_layers, 1, rnn.hidden_size)] * (2 if policy.rnn_kind == "lstm" else 1)

    def sample() -> tuple[torch.Tensor, ...]:
        vector = torch.randn(1, vector_dim, generator=generator)
        depth = 0.3 + 5.0 * torch.rand(1, *depth_shape, generator=generator)
        depth[torch.rand(depth.shape, generator=generator) < 0.05] = 0.0  # invalid returns
        states = [0.1 * torch.randn(*s, generator=generator) for s in state_shape]
        return (vector, depth, *states)

    input_names = ["vector_obs", "depth_m"] + (["h_in", "c_in"][: len(state_shape)])
    output_names = ["actions", "raw_output"] + (["h_out", "c_out"][: len(state_shape)])
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates every pass
        torch.onnx.export(
            policy,
            sample(),
            str(out),
            input_names=input_names,
            output_names=output_names,
            opset_version=18,
            dynamo=True,
        )
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    max_abs, actions_equal = 0.0, True
    for _ in range(parity_samples):
        inputs = sample()
        with torch.no_grad():
            expected = [t.numpy() for t in policy(*inputs)]
        got = session.run(None, {name: t.numpy() for name, t in zip(input_names, inputs, strict=True)})
        for e, g in zip(expected[1:], got[1:], strict=True):
            max_abs = max(max_abs, float(np.abs(e - g).max()))
        actions_equal &= bool(np.array_equal(expected[0], got[0]))
    info = {
        "onnx": str(out),
        "checkpoint": str(checkpoint),
        "encoder": meta["encoder"],
        "inputs": {
            "vector_obs": [1, vector_dim],
            "depth_m": [1, *depth_shape],
            **{n: list(s) for n, s in zip(input_names[2:], state_shape, strict=True)},
        },
        "vector_obs_groups": [g for g in policy.vector_groups if g != FEATURE_GROUP],
        "outputs": output_names,
        "parity": {"samples": parity_samples, "max_abs_diff": max_abs, "actions_equal": actions_equal},
    }
    write_json_atomic(out.with_suffix(".json"), info)
    if max_abs > 1e-4 or not actions_equal:
        raise DepthbenchError(f"ONNX parity check failed: max |torch - onnxruntime| = {max_abs:.2e}")
    return info
