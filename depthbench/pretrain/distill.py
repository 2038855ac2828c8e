"""`depthbench distill-encoder`: DeFM's ViT -> CNN distillation on a depth dataset.

DeFM (Patel et al. 2026) distils its ViT into ResNet / EfficientNet / RegNet trunks with a BiFPN head: the teacher's
CLS token supervises the CNN's pooled global feature and the teacher's patch tokens supervise the BiFPN dense maps.
Here each target is matched through a linear projection of the student (dropped afterwards) with a cosine loss, the
patch map resized to each BiFPN level. Both networks see the same metric depth through their own DeFM preprocessing
(the ViT resized to /14, the CNN padded to /32). The output holds only the CNN's own keys, so it loads strictly into
its registered encoder, e.g. `create("defm-resnet18", weights=PATH)`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from depthbench.errors import DepthbenchError

ENCODER_FILE = "encoder.pth"
DEFAULTS: dict[str, Any] = {
    "steps": 1000,
    "batch_size": 32,
    "lr": 1e-3,
    "weight_decay": 0.05,
    "dense_weight": 1.0,
    "seed": 0,
    "save_every": 100,
}


class Projections(nn.Module):
    """Student -> teacher width: one linear map for the global feature, one 1x1 conv per dense level."""

    def __init__(self, global_dim: int, dense_channels: list[int], teacher_dim: int) -> None:
        super().__init__()
        self.global_proj = nn.Linear(global_dim, teacher_dim)
        self.dense_proj = nn.ModuleList(nn.Conv2d(c, teacher_dim, 1) for c in dense_channels)


def distillation_loss(
    student_global: torch.Tensor,
    student_dense: list[torch.Tensor],
    teacher_cls: torch.Tensor,
    teacher_patches: torch.Tensor,
    projections: Projections,
    dense_weight: float,
) -> dict[str, torch.Tensor]:
    """1 - cos between projected student features and teacher targets: global vs CLS, each level vs the patch map
    resized (bilinear) to that level; the dense term averages over levels and positions."""
    global_loss = 1 - F.cosine_similarity(projections.global_proj(student_global), teacher_cls, dim=-1).mean()
    dense_terms = []
    for proj, level in zip(projections.dense_proj, student_dense, strict=True):
        target = F.interpolate(teacher_patches, size=level.shape[-2:], mode="bilinear", align_corners=False)
        dense_terms.append(1 - F.cosine_similarity(proj(level), target, dim=1).mean())
    dense_loss = torch.stack(dense_terms).mean()
    return {"loss": global_loss + dense_weight * dense_loss, "global": global_loss, "dense": dense_loss}


def distill_encoder(
    *,
    teacher: str,
    teacher_weights: str | Path,
    student: str,
    data: str | Path,
    out: str | Path,
    overrides: dict[str, Any] | None = None,
    command: str = "",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Distil the ViT `teacher` (a registered name with `teacher_weights`) into the CNN `student` (a registered name,
    random init) on dataset `data`; writes `out/encoder.pth` and `out/manifest.json`."""
    from depthbench.agents.training import torch_save_atomic, write_json_atomic
    from depthbench.encoders import create
    from depthbench.pretrain.dataset import DepthDataset

    cfg = {**DEFAULTS}
    for key, value in (overrides or {}).items():
        if key not in cfg:
            raise DepthbenchError(f"unknown distill-encoder setting {key!r}; known: {', '.join(sorted(cfg))}")
        cfg[key] = value
    out = Path(out)
    if (out / "manifest.json").is_file():
        raise DepthbenchError(f"{out} already holds a distilled encoder; choose another --out")
    dataset = DepthDataset(data)
    torch.manual_seed(int(cfg["seed"]))
    teacher_encoder = create(teacher, weights=str(teacher_weights))
    teacher_net = teacher_encoder.backbone.eval()
    if len(teacher_net.dense_channels) != 1:
        raise DepthbenchError(f"--teacher {teacher} must be a ViT (one patch-token map), not a CNN")
    student_net = create(student, mode="finetune").backbone  # create() freezes by default
    if len(student_net.dense_channels) < 2:
        raise DepthbenchError(f"--student {student} must be a DeFM CNN with a BiFPN (e.g. defm-resnet18)")
    projections = Projections(student_net.global_dim, list(student_net.dense_channels), teacher_net.global_dim)
    params = [*student_net.parameters(), *projections.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    total = int(cfg["steps"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    out.mkdir(parents=True, exist_ok=True)
    provenance = (
        f"depthbench pretrain: {student} distilled from {teacher} ({teacher_encoder.weights_provenance}), "
        f"{total} steps on {len(dataset)} frames ({Path(data)}), not official DeFM weights"
    )
    manifest = {
        "schema": "depthbench.distill-encoder/1",
        "teacher": teacher,
        "teacher_weights": str(teacher_weights),
        "teacher_provenance": teacher_encoder.weights_provenance,
        "student": student,
        "data": str(data),
        "data_manifest": dataset.manifest,
        "config": cfg,
        "command": command,
        "status": "running",
    }
    write_json_atomic(out / "manifest.json", manifest)
    started = time.perf_counter()
    student_net.train()
    with tqdm(total=total, desc=f"distill {teacher} -> {student}", unit="step", disable=not show_progress) as bar:
        for step in range(total):
            generator = torch.Generator().manual_seed(int(cfg["seed"]) * 1_000_003 + step)
            indices = torch.randint(0, len(dataset), (cfg["batch_size"],), generator=generator).numpy()
            depth = torch.from_numpy(dataset.frames(indices))
            if torch.rand(1, generator=generator) < 0.5:
                depth = depth.flip(-1)
            with torch.no_grad():
                t_cls, (t_patches,) = teacher_net(teacher_net.preprocess(depth))
            s_global, s_dense = student_net(student_net.preprocess(depth))
            losses = distillation_loss(s_global, s_dense, t_cls, t_patches, projections, cfg["dense_weight"])
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            scheduler.step()
            with (out / "progress.jsonl").open("a") as handle:
                handle.write(json.dumps({"step": step + 1, **{k: v.item() for k, v in losses.items()}}) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{float(losses['loss']):.3f}")
            if (step + 1) % int(cfg["save_every"]) == 0 or step + 1 == total:
                state = {"model": student_net.state_dict(), "provenance": provenance, "arch": student}
                torch_save_atomic(state, out / ENCODER_FILE)
    manifest.update(status="finished", wall_time_s=time.perf_counter() - started, provenance=provenance)
    write_json_atomic(out / "manifest.json", manifest)
    return manifest
