"""`depthbench pretrain`: DeFM's recipe (DINOv2-style self-distillation) on a depth dataset.

DeFM (Patel et al. 2026) trains a ViT on depth with DINOv2's objective (Oquab et al. 2023): a student and an EMA
teacher see global and local crops; the DINO loss matches the student's CLS distribution on every crop to the
teacher's on the other global crops, the iBOT loss matches masked patch tokens of the student's global crops to the
teacher's unmasked ones, and KoLeo spreads the student's CLS embeddings within a batch. Inputs use DeFM's metric-aware
3-channel log normalization (the encoder's own `preprocess`), applied after cropping.

Losses, heads, masks and schedules are lightly's (`DINOLoss`, `IBOTPatchLoss`, `KoLeoLoss`, `DINOProjectionHead`,
`random_block_mask`, `update_momentum`, `cosine_schedule`). Written here: the multi-crop of metric depth (batched,
nearest-neighbour so holes stay holes instead of blending into false depths, and seeded by one generator per step so a
resumed run draws exactly the crops an uninterrupted one does) and the training loop.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from depthbench.errors import DepthbenchError

RECIPE = "dino+ibot+koleo (DINOv2-style, DeFM normalization)"
CHECKPOINTS = "checkpoints"
ENCODER_FILE = "encoder.pth"  # the teacher backbone's state dict: loads with create(arch, weights=PATH) strictly
INITIAL_FILE = "encoder_init.pth"  # the same network before pretraining: the baseline that isolates its effect

# Presets: `cpu` takes about 50 min with vit-t14 and 64x64 frames (one thread, ~1.4 s/step on the 2-core dev box);
# `gpu` is DINOv2's ViT-S setting scaled to small depth images
# (DINOv2: batch 1024, 2 global 224 + 8 local 98 crops, 65,536 prototypes).
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "steps": 2000,
        "batch_size": 48,
        "global_size": 56,
        "local_size": 28,
        "local_crops": 4,
        "head_hidden_dim": 512,
        "head_bottleneck_dim": 128,
        "prototypes": 4096,
    },
    "gpu": {
        "steps": 50000,
        "batch_size": 512,
        "global_size": 126,
        "local_size": 56,
        "local_crops": 8,
        "head_hidden_dim": 2048,
        "head_bottleneck_dim": 256,
        "prototypes": 65536,
    },
}
# DINOv2's defaults (dinov2/configs/ssl_default_config.yaml) where they carry over to any scale.
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "lr": 5e-4,  # base lr for batch 1024 in DINOv2 (scaled by sqrt(batch / 1024) there); Adam at small batch
    "min_lr": 1e-6,
    "warmup_fraction": 0.1,
    "weight_decay": 0.04,
    "weight_decay_end": 0.2,
    "momentum_teacher": 0.992,
    "teacher_temp": 0.07,
    "warmup_teacher_temp": 0.04,
    "teacher_temp_warmup_fraction": 0.3,
    "student_temp": 0.1,
    "global_scale": [0.32, 1.0],
    "local_scale": [0.05, 0.32],
    "mask_probability": 0.5,  # fraction of global crops that get a block mask
    "mask_ratio": [0.1, 0.5],
    "ibot_weight": 1.0,
    "koleo_weight": 0.1,
    "clip_grad": 3.0,
    # DINO's guard against an early collapse to the uniform distribution: the prototypes (the head's last layer) do
    # not move in the first steps (DINOv2: `freeze_last_layer_epochs: 1`), so the head cannot learn to be
    # orthogonal to all of them while the young backbone still maps every image to about the same CLS token
    "freeze_last_layer_fraction": 0.01,
    # LayerScale init of the random-init student: CaiT's rule for its depth (Touvron et al. 2021: 0.1 up to 18
    # blocks, 1e-5 at 24, 1e-6 deeper). The official DeFM/DINOv2 layout's 1e-5 (fit for ViT-g from scratch) makes a
    # 12-block ViT map every image to the same CLS token to about 1e-4, so the centred teacher is uniform within 20
    # steps and the head learns to be orthogonal to every prototype: DINO's uniform collapse, a fixed point (measured:
    # DINO loss at ln(prototypes) for all 2000 steps of the cpu preset; docs/pretrain.md)
    "layerscale_init": 0.1,
    "save_every": 100,
    "noise": "clean",  # an optional depthbench.noise spec applied to every crop (sensor noise as augmentation)
}


def pretrain_config(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    if preset not in PRESETS:
        raise DepthbenchError(f"unknown pretrain preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = {**DEFAULTS, **PRESETS[preset], "preset": preset}
    for key, value in (overrides or {}).items():
        if key not in cfg:
            raise DepthbenchError(f"unknown pretrain setting {key!r}; known: {', '.join(sorted(cfg))}")
        cfg[key] = value
    return cfg


def random_crops(
    depth_m: torch.Tensor,
    count: int,
    size: int,
    scale: tuple[float, float],
    generator: torch.Generator,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """`count` random resized crops (area fraction in `scale`, aspect ratio in `ratio`, random horizontal flip) of
    every image of (N,1,H,W) metric depth -> (count*N, 1, size, size), crop-major. Nearest-neighbour sampling."""
    n = depth_m.shape[0]
    total = count * n
    area = torch.empty(total).uniform_(*scale, generator=generator)
    log_ratio = torch.empty(total).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = torch.exp(log_ratio)
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the image side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (torch.rand(total, generator=generator) * (1 - width) + width / 2) * 2 - 1  # normalized [-1, 1] coords
    cy = (torch.rand(total, generator=generator) * (1 - height) + height / 2) * 2 - 1
    flip = torch.where(torch.rand(total, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(total, 2, 3)
    theta[:, 0, 0] = width * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = height
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, [total, 1, size, size], align_corners=False)
    source = depth_m.repeat(count, 1, 1, 1)
    return F.grid_sample(source, grid, mode="nearest", padding_mode="zeros", align_corners=False)


class DinoStudentTeacher(nn.Module):
    """Student backbone + head, and their EMA copy (the teacher). The head is shared by DINO and iBOT, as DINOv2's
    default (`ibot.separate_head: false`)."""

    def __init__(self, backbone: nn.Module, cfg: dict[str, Any]) -> None:
        from lightly.models.modules.heads import DINOProjectionHead

        super().__init__()
        dim = backbone.global_dim
        self.student = backbone

        def head() -> nn.Module:
            return DINOProjectionHead(
                dim,
                cfg["head_hidden_dim"],
                cfg["head_bottleneck_dim"],
                cfg["prototypes"],
                batch_norm=False,
                freeze_last_layer=int(cfg.get("freeze_last_layer_fraction", 0.0) * int(cfg["steps"])),
            )

        self.student_head = head()
        self.teacher = copy.deepcopy(backbone)
        self.teacher_head = head()  # weight-normed layers cannot be deep-copied: a twin with the same weights
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        for param in [*self.teacher.parameters(), *self.teacher_head.parameters()]:
            param.requires_grad_(False)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        from lightly.models.utils import update_momentum

        update_momentum(self.student, self.teacher, momentum)
        update_momentum(self.student_head, self.teacher_head, momentum)


class DinoObjective(nn.Module):
    """DINO (CLS, all crops) + iBOT (masked patches of global crops) + KoLeo (student CLS of each global crop)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        from lightly.loss import DINOLoss, IBOTPatchLoss, KoLeoLoss

        super().__init__()
        self.cfg = cfg
        self.dino = DINOLoss(output_dim=cfg["prototypes"], student_temp=cfg["student_temp"])
        self.ibot = IBOTPatchLoss(output_dim=cfg["prototypes"], student_temp=cfg["student_temp"])
        self.koleo = KoLeoLoss()

    def forward(
        self,
        model: DinoStudentTeacher,
        global_x: torch.Tensor,
        local_x: torch.Tensor,
        mask: torch.Tensor,
        teacher_temp: float,
    ) -> dict[str, torch.Tensor]:
        """global_x (2B,3,h,w) crop-major, local_x (LB,3,h',w'), mask (2B, h/14, w/14) bool."""
        batch = global_x.shape[0] // 2
        with torch.no_grad():
            t_cls, (t_patches,) = model.teacher(global_x)
            t_cls_out = model.teacher_head(t_cls)
            t_patch_out = model.teacher_head(t_patches.flatten(2).transpose(1, 2)[mask.flatten(1)])
        s_cls, (s_patches,) = model.student(global_x, patch_mask=mask)
        s_local_cls, _ = model.student(local_x)
        s_out = model.student_head(torch.cat([s_cls, s_local_cls]))
        student_views = list(s_out.split(batch))  # the two global crops first: DINOLoss skips same-view pairs
        dino = self.dino(list(t_cls_out.split(batch)), student_views, teacher_temp=teacher_temp)
        if mask.any():
            s_patch_out = model.student_head(s_patches.flatten(2).transpose(1, 2)[mask.flatten(1)])
            ibot = self.ibot(t_patch_out, s_patch_out, mask, teacher_temp=teacher_temp)
        else:
            ibot = s_cls.sum() * 0.0
        koleo = sum(self.koleo(part) for part in s_cls.split(batch)) / 2
        total = dino + self.cfg["ibot_weight"] * ibot + self.cfg["koleo_weight"] * koleo
        return {"loss": total, "dino": dino, "ibot": ibot, "koleo": koleo, **self.collapse(t_cls_out, teacher_temp)}

    @torch.no_grad()
    def collapse(self, teacher_out: torch.Tensor, teacher_temp: float) -> dict[str, torch.Tensor]:
        """Teacher entropies that tell DINO's two collapses apart (Caron et al. 2021, Sec. 5.3): per image near
        ln(prototypes) is the uniform collapse, the batch-mean distribution near per image is one prototype for all."""
        probs = torch.softmax((teacher_out - self.dino.center.reshape(1, -1)) / teacher_temp, dim=-1)
        per_image = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()
        mean = probs.mean(0)
        return {"teacher_entropy": per_image, "teacher_batch_entropy": -(mean * mean.clamp_min(1e-12).log()).sum()}


def schedules(cfg: dict[str, Any], step: int) -> dict[str, float]:
    """Learning rate (linear warmup, then cosine), weight decay, teacher momentum (cosine) and teacher temperature
    (linear warmup) at `step`, as DINOv2 schedules them per iteration."""
    from lightly.utils.scheduler import cosine_schedule

    steps = int(cfg["steps"])
    warmup = max(1, int(cfg["warmup_fraction"] * steps))
    if step < warmup:
        lr = cfg["lr"] * (step + 1) / warmup
    else:
        lr = cosine_schedule(step - warmup, max(1, steps - warmup), cfg["lr"], cfg["min_lr"])
    temp_warmup = max(1, int(cfg["teacher_temp_warmup_fraction"] * steps))
    fraction = min(1.0, step / temp_warmup)
    teacher_temp = cfg["warmup_teacher_temp"] + fraction * (cfg["teacher_temp"] - cfg["warmup_teacher_temp"])
    return {
        "lr": float(lr),
        "weight_decay": float(cosine_schedule(step, steps, cfg["weight_decay"], cfg["weight_decay_end"])),
        "momentum": float(cosine_schedule(step, steps, cfg["momentum_teacher"], 1.0)),
        "teacher_temp": float(teacher_temp),
    }


def block_masks(cfg: dict[str, Any], count: int, grid: int, generator: torch.Generator) -> torch.Tensor:
    """iBOT block masks (lightly's DINOv2 masking) for `count` global crops on a grid x grid patch grid."""
    from lightly.models.utils import random_block_mask

    state = random.getstate()  # lightly draws from Python's RNG: seed it from this step's generator, then restore
    random.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    low, high = cfg["mask_ratio"]
    low = max(low, 1.0 / grid**2)  # at least one patch per masked image (lightly refuses an empty block)
    try:
        return random_block_mask(
            (count, grid, grid),
            batch_mask_ratio=cfg["mask_probability"],
            min_image_mask_ratio=low,
            max_image_mask_ratio=max(high, low),
            min_num_masks_per_block=1,
        )
    finally:
        random.setstate(state)


def step_generator(seed: int, step: int) -> torch.Generator:
    """Every step's data, crops and masks come from its own generator: resuming at any step replays exactly."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def student_backbone(arch: str, cfg: dict[str, Any]) -> nn.Module:
    """A random-init, trainable `arch` (create() freezes by default) with the config's LayerScale init."""
    from depthbench.encoders import create
    from depthbench.encoders.defm_vit import LayerScale

    backbone = create(arch, mode="finetune").backbone
    if not hasattr(backbone, "patch_size") or not hasattr(backbone, "mask_token"):
        raise DepthbenchError(f"{arch} is not a ViT with a mask token; pretrain a DeFM-layout ViT (e.g. vit-t14)")
    for module in backbone.modules():
        if isinstance(module, LayerScale):
            module.gamma.data.fill_(float(cfg.get("layerscale_init", 1e-5)))  # runs made before the setting: 1e-5
    return backbone


def pretrain(
    cfg: dict[str, Any],
    *,
    arch: str,
    data: str | Path,
    out: str | Path,
    resume: bool = False,
    command: str = "",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Pretrain `arch` (a registered ViT) on the dataset `data`; resumable run directory `out`."""
    from depthbench.agents.training import write_json_atomic
    from depthbench.encoders import get_encoder_info
    from depthbench.noise import build_noise
    from depthbench.pretrain.dataset import DepthDataset

    if importlib.util.find_spec("lightly") is None:
        raise DepthbenchError("depthbench pretrain needs lightly (DINO/iBOT/KoLeo): pip install 'depthbench[pretrain]'")
    out = Path(out)
    manifest_path = out / "manifest.json"
    if resume:
        if not manifest_path.is_file():
            raise DepthbenchError(f"--resume: no manifest.json in {out}; start the run without --resume")
        saved = json.loads(manifest_path.read_text())
        cfg, arch, data = saved["config"], saved["arch"], saved["data"]
    elif manifest_path.is_file():
        raise DepthbenchError(f"{out} already holds a pretraining run; pass --resume or choose another --out")
    dataset = DepthDataset(data)
    torch.manual_seed(int(cfg["seed"]))  # the initial weights too: a run is a function of its config
    backbone = student_backbone(arch, cfg)
    if not resume:
        save_initial_encoder(out, arch, cfg, backbone)
    patch = backbone.patch_size
    for key in ("global_size", "local_size"):
        if cfg[key] % patch:
            raise DepthbenchError(f"{key} {cfg[key]} must be a multiple of {arch}'s patch size {patch}")
    model = DinoStudentTeacher(backbone, cfg)
    objective = DinoObjective(cfg)
    params = [p for m in (model.student, model.student_head) for p in m.parameters()]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]  # biases, norms, tokens: no weight decay, as in DINOv2
    optimizer = torch.optim.AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"])
    noise = build_noise(cfg["noise"])
    preprocess = backbone.preprocess
    start = 0
    checkpoint = _latest(out)
    if resume and checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        objective.load_state_dict(state["objective"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        _truncate(out / "progress.jsonl", start)
    manifest = {
        "schema": "depthbench.pretrain/1",
        "arch": arch,
        "data": str(Path(data)),
        "data_manifest": dataset.manifest,
        "recipe": RECIPE,
        "config": cfg,
        "command": command,
        "status": "running",
        "steps_done": start,
        "encoder_provenance": get_encoder_info(arch).summary,
    }
    if resume:
        manifest = {**json.loads(manifest_path.read_text()), "status": "running"}
    write_json_atomic(manifest_path, manifest)
    writer = _tensorboard(out)
    bar = tqdm(total=cfg["steps"], initial=start, desc=f"pretrain {arch}", unit="step", disable=not show_progress)
    started = time.perf_counter()
    model.train()
    for step in range(start, int(cfg["steps"])):
        sched = schedules(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = sched["lr"]
        optimizer.param_groups[0]["weight_decay"] = sched["weight_decay"]
        generator = step_generator(int(cfg["seed"]), step)
        indices = torch.randint(0, len(dataset), (cfg["batch_size"],), generator=generator).numpy()
        depth = torch.from_numpy(dataset.frames(indices))
        global_crops = random_crops(depth, 2, cfg["global_size"], tuple(cfg["global_scale"]), generator)
        local_crops = random_crops(depth, cfg["local_crops"], cfg["local_size"], tuple(cfg["local_scale"]), generator)
        if cfg["noise"] != "clean":
            global_crops, local_crops = noise(global_crops, generator), noise(local_crops, generator)
        grid = cfg["global_size"] // patch
        mask = block_masks(cfg, global_crops.shape[0], grid, generator)
        losses = objective(model, preprocess(global_crops), preprocess(local_crops), mask, sched["teacher_temp"])
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        model.student_head.cancel_last_layer_gradients(step)  # lightly counts "epochs": here steps
        grad_norm = nn.utils.clip_grad_norm_(params, cfg["clip_grad"])
        optimizer.step()
        model.update_teacher(sched["momentum"])
        row = {"step": step + 1, **{k: v.item() for k, v in losses.items()}, **sched, "grad_norm": grad_norm.item()}
        with (out / "progress.jsonl").open("a") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
        for key in ("loss", "dino", "ibot", "koleo", "teacher_entropy", "teacher_batch_entropy"):
            writer.add_scalar(f"pretrain/{key}", row[key], step + 1)
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.3f}")
        done = step + 1
        if done % int(cfg["save_every"]) == 0 or done == int(cfg["steps"]):
            _save(out, model, objective, optimizer, done, arch, manifest)
            manifest["steps_done"] = done
            write_json_atomic(manifest_path, manifest)
    bar.close()
    writer.close()
    manifest["status"] = "finished"
    manifest["wall_time_s_this_session"] = time.perf_counter() - started
    write_json_atomic(manifest_path, manifest)
    return manifest


def save_initial_encoder(out: str | Path, arch: str, cfg: dict[str, Any], backbone: nn.Module | None = None) -> Path:
    """Write the run's student at step 0 (`backbone`, or rebuilt from the config's seed) as OUT/encoder_init.pth,
    labelled random init: probing it beside encoder.pth measures what pretraining changed in one network."""
    from depthbench.agents.training import torch_save_atomic

    if backbone is None:
        torch.manual_seed(int(cfg["seed"]))
        backbone = student_backbone(arch, cfg)
    provenance = (
        f"random init (seed {cfg['seed']}, LayerScale init {cfg.get('layerscale_init', 1e-5):g}) of the depthbench "
        f"pretrain student in {out}: its step 0, before any pretraining; not official DeFM weights"
    )
    path = Path(out) / INITIAL_FILE
    torch_save_atomic({"model": backbone.state_dict(), "provenance": provenance, "arch": arch}, path)
    return path


def encoder_provenance(manifest: dict[str, Any], steps: int) -> str:
    """What a pretrained file says it is: recipe, data and steps; never 'DeFM' (those are the official weights)."""
    data = manifest["data_manifest"]
    origin = data["provenance"].get("task") or data["provenance"].get("folder", "?")
    return (
        f"depthbench pretrain {manifest['arch']} ({manifest['recipe']}), {steps} steps on {data['frames']} frames "
        f"from {origin} ({manifest['data']}), not official DeFM weights"
    )


def _save(
    out: Path,
    model: DinoStudentTeacher,
    objective: DinoObjective,
    optimizer: torch.optim.Optimizer,
    step: int,
    arch: str,
    manifest: dict[str, Any],
) -> None:
    from depthbench.agents.training import torch_save_atomic

    state = {
        "model": model.state_dict(),
        "objective": objective.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
    }
    torch_save_atomic(state, out / CHECKPOINTS / f"pretrain_{step}.pt")
    for old in (out / CHECKPOINTS).glob("pretrain_*.pt"):  # the latest is all --resume needs (60 MB each for ViT-T)
        if old.name != f"pretrain_{step}.pt":
            old.unlink()
    # the teacher is DINO's output model (it is the better of the two, Caron et al. 2021)
    encoder = {"model": model.teacher.state_dict(), "provenance": encoder_provenance(manifest, step), "arch": arch}
    torch_save_atomic(encoder, out / ENCODER_FILE)


def _latest(out: Path) -> Path | None:
    paths = sorted((out / CHECKPOINTS).glob("pretrain_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    return paths[-1] if paths else None


def _truncate(path: Path, steps: int) -> None:
    if path.is_file():
        rows = [line for line in path.read_text().splitlines() if line.strip()]
        path.write_text("".join(line + "\n" for line in rows if json.loads(line)["step"] <= steps))


def _tensorboard(out: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(out / "tensorboard"), flush_secs=10)


def loss_curve(out: str | Path) -> np.ndarray:
    """The run's total loss per step (progress.jsonl)."""
    rows = [json.loads(line) for line in (Path(out) / "progress.jsonl").read_text().splitlines() if line.strip()]
    return np.array([row["loss"] for row in rows])
