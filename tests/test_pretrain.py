"""Encoder pretraining: dataset format, DINO / iBOT / KoLeo against hand computations, EMA, crops and masks,
a few steps lowering the loss, exact resume, ViT -> CNN distillation loading strictly, probes, one-line errors."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from depthbench.agents.config import encoder_label
from depthbench.benchmarks.cli import main
from depthbench.encoders import create
from depthbench.errors import DepthbenchError
from depthbench.pretrain import probe, ssl
from depthbench.pretrain.dataset import DepthDataset, DepthDatasetWriter, import_folder

TINY = {
    "steps": 4,
    "batch_size": 4,
    "local_crops": 2,
    "head_hidden_dim": 32,
    "head_bottleneck_dim": 16,
    "prototypes": 64,
    "save_every": 2,
}


def synthetic_frames(n, size=32, seed=0):
    """Rooms seen from inside: a wall at a random distance, a box nearer in a random column band, some holes."""
    rng = np.random.default_rng(seed)
    depth = np.repeat(rng.uniform(2.0, 8.0, (n, 1, 1)), size, 1).repeat(size, 2)
    for i in range(n):
        left = rng.integers(0, size - 8)
        depth[i, 8:24, left : left + 8] = rng.uniform(0.5, 1.8)
        depth[i][rng.random((size, size)) < 0.02] = 0.0
    return depth


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "frames"
    writer = DepthDatasetWriter(out, {"source": "test"})
    writer.add(synthetic_frames(40))
    writer.close()
    return out


def test_dataset_round_trip_is_millimetre_exact(tmp_path):
    depth = synthetic_frames(5, size=16)
    depth[0, 0, 0] = 70.0  # beyond uint16 millimetres: stored as no return
    writer = DepthDatasetWriter(tmp_path / "d", {"source": "test"})
    writer.add(depth)
    manifest = writer.close()
    assert manifest["frames"] == 5 and (manifest["height"], manifest["width"]) == (16, 16)
    frames = DepthDataset(tmp_path / "d").frames(np.array([4, 0, 2]))
    expected = np.where(depth[[4, 0, 2]] > 65.535, 0, np.rint(depth[[4, 0, 2]] * 1000) / 1000)
    np.testing.assert_allclose(frames[:, 0], expected, atol=1e-6)  # float32 of a millimetre value: < 1 ulp at 65 m


def test_import_folder_reads_metres_and_millimetre_pngs_and_names_bad_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "a.npy", np.full((8, 8), 1.5, np.float32))
    Image.fromarray(np.full((8, 8), 2500, np.uint16)).save(src / "b.png")
    import_folder(src, tmp_path / "out", png_scale=1000.0)
    frames = DepthDataset(tmp_path / "out").frames(np.arange(2))
    np.testing.assert_allclose(frames[:, 0, 0, 0], [1.5, 2.5])
    with pytest.raises(DepthbenchError, match="png-scale"):
        import_folder(src, tmp_path / "out2", png_scale=None)
    (src / "c.npy").write_bytes(b"not a numpy file")
    with pytest.raises(DepthbenchError, match="c.npy"):
        import_folder(src, tmp_path / "out3", png_scale=1000.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "info", "/nonexistent/ds"], "not a depth dataset"),
        (["data", "collect", "pointnav", "--frames", "4", "--set", "split=test"], "held out for evaluation"),
        (["data", "collect"], "needs a TASK"),
        (["pretrain", "--data", "/nonexistent/ds"], "not a depth dataset"),
        (["pretrain", "--arch", "defm-resnet18", "--data", "DATA"], "not a ViT"),
        (["pretrain", "--set", "bogus=1", "--data", "DATA"], "unknown pretrain setting 'bogus'"),
        (["distill-encoder", "--teacher", "/nonexistent", "--data", "DATA"], "no encoder.pth"),
    ],
)
def test_bad_input_is_one_line(argv, message, dataset_dir, tmp_path, capsys):
    argv = [str(dataset_dir) if a == "DATA" else a for a in argv]
    if argv[0] in ("pretrain", "distill-encoder") or argv[:2] == ["data", "collect"]:
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err


def test_corrupt_shard_is_one_line(dataset_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps(manifest))
    (broken / manifest["shards"][0]).write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DepthbenchError, match="frames_00000.npy"):
        DepthDataset(broken)


def test_dino_loss_equals_the_cross_entropy_over_different_views():
    from lightly.loss import DINOLoss

    g = torch.Generator().manual_seed(0)
    teacher = [torch.randn(3, 5, generator=g) for _ in range(2)]
    student = [torch.randn(3, 5, generator=g) for _ in range(3)]
    loss = DINOLoss(output_dim=5, teacher_temp=0.04, student_temp=0.1)(teacher, student, teacher_temp=0.04)
    # by hand: center 0 at the start; mean over (t, s) pairs with t != s and over the batch of -sum p_t log q_s
    terms = []
    for t in range(2):
        p = np.exp(teacher[t].numpy() / 0.04)
        p /= p.sum(1, keepdims=True)
        for s in range(3):
            if s == t:
                continue
            logits = student[s].numpy() / 0.1
            log_q = logits - np.log(np.exp(logits).sum(1, keepdims=True))
            terms.append(-(p * log_q).sum(1).mean())
    assert float(loss) == pytest.approx(np.mean(terms), rel=1e-5)


def test_ibot_loss_weights_each_image_by_its_masked_patches():
    from lightly.loss import IBOTPatchLoss

    mask = torch.tensor([[[True, False], [False, False]], [[True, True], [True, False]]])  # 1 and 3 masked
    g = torch.Generator().manual_seed(1)
    teacher, student = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    loss = IBOTPatchLoss(output_dim=6, teacher_temp=0.05, student_temp=0.1)(teacher, student, mask, teacher_temp=0.05)
    p = torch.softmax(teacher / 0.05, -1)
    ce = -(p * torch.log_softmax(student / 0.1, -1)).sum(-1)
    expected = (ce[0] / 1 + ce[1:].sum() / 3) / 2  # per image: mean over its masked patches; then over images
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_koleo_is_minus_mean_log_nearest_neighbour_distance():
    from lightly.loss import KoLeoLoss

    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # normalized: (1,0), (0,1), (0.707,0.707); nearest neighbours: 0->2, 1->2, 2->0 (tie with 1)
    d02 = math.dist([1, 0], [math.sqrt(0.5), math.sqrt(0.5)])
    expected = -(math.log(d02) * 3) / 3
    assert float(KoLeoLoss()(x)) == pytest.approx(expected, rel=1e-4)


def test_ema_update_moves_the_teacher_by_one_minus_momentum():
    cfg = ssl.pretrain_config("cpu", TINY)
    model = ssl.DinoStudentTeacher(create("vit-t14").backbone, cfg)
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.teacher.parameters()]
    model.update_teacher(0.9)
    for t_before, t, s in zip(before, model.teacher.parameters(), model.student.parameters(), strict=True):
        torch.testing.assert_close(t, 0.9 * t_before + 0.1 * s)


def test_crops_and_masks_have_the_configured_shapes_and_keep_holes():
    depth = torch.from_numpy(synthetic_frames(3)).float()[:, None]
    g = torch.Generator().manual_seed(0)
    crops = ssl.random_crops(depth, 2, 28, (0.3, 1.0), g)
    assert crops.shape == (6, 1, 28, 28)
    # nearest-neighbour sampling: every crop value is a value of the source image (no blended false depths)
    source_values = set(np.round(depth.numpy().ravel(), 6))
    assert set(np.round(crops.numpy().ravel(), 6)) <= source_values
    full = ssl.random_crops(depth, 1, 32, (1.0, 1.0), torch.Generator().manual_seed(0), ratio=(1.0, 1.0))
    assert all(torch.equal(full[i], depth[i]) or torch.equal(full[i], depth[i].flip(-1)) for i in range(3))
    cfg = ssl.pretrain_config("cpu", {"mask_probability": 1.0, "mask_ratio": [0.25, 0.5]})
    mask = ssl.block_masks(cfg, 8, 4, torch.Generator().manual_seed(0))
    assert mask.shape == (8, 4, 4) and mask.dtype == torch.bool
    assert (mask.sum((1, 2)) >= 1).all() and (mask.sum((1, 2)) <= 8).all()


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    cfg = ssl.pretrain_config("cpu", {**TINY, "koleo_weight": 0.0})
    torch.manual_seed(0)
    backbone = create("vit-t14").backbone
    model, objective = ssl.DinoStudentTeacher(backbone, cfg), ssl.DinoObjective(cfg)
    # fixed targets: the teacher does not move (no EMA step) and the centers stay at zero, so the student's
    # cross-entropy to them must fall if the gradients flow through crops, masks, heads and backbone
    objective.dino.center_momentum = 1.0
    objective.ibot.center.momentum = 1.0
    optimizer = torch.optim.AdamW([*model.student.parameters(), *model.student_head.parameters()], lr=1e-3)
    depth = torch.from_numpy(synthetic_frames(4)).float()[:, None]
    g = torch.Generator().manual_seed(0)
    global_x = backbone.preprocess(ssl.random_crops(depth, 2, 28, (0.5, 1.0), g))
    local_x = backbone.preprocess(ssl.random_crops(depth, 2, 14, (0.1, 0.3), g))
    mask = torch.zeros(8, 2, 2, dtype=torch.bool)
    mask[:, 0, 0] = True
    losses = []
    for _ in range(10):
        loss = objective(model, global_x, local_x, mask, teacher_temp=0.04)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.05, losses


def test_teacher_entropies_tell_a_uniform_teacher_from_an_informative_one():
    objective = ssl.DinoObjective(ssl.pretrain_config("cpu", TINY))  # 64 prototypes, center still zero
    same = objective.collapse(torch.zeros(8, 64), teacher_temp=0.04)
    assert float(same["teacher_entropy"]) == pytest.approx(math.log(64), rel=1e-6)
    assert float(same["teacher_batch_entropy"]) == pytest.approx(math.log(64), rel=1e-6)
    # image i puts all its mass on prototype i: no uncertainty per image, the batch spread over 8 prototypes
    distinct = objective.collapse(torch.eye(8, 64), teacher_temp=0.01)  # logit gap 100: exp(-100) ~ 0
    assert float(distinct["teacher_entropy"]) == pytest.approx(0.0, abs=1e-6)
    assert float(distinct["teacher_batch_entropy"]) == pytest.approx(math.log(8), rel=1e-6)


def test_the_default_layerscale_init_lets_a_random_vit_tell_images_apart():
    """The cause of the uniform collapse measured at LayerScale 1e-5 (ssl.DEFAULTS): every image's CLS token is
    the same to ~3e-5 (normalized), so the centred teacher carries no information. Orders of magnitude apart, so
    the thresholds hold on any CPU."""
    depth = torch.from_numpy(synthetic_frames(16, size=28)).float()[:, None]

    def nearest_neighbour_distance(cfg):
        torch.manual_seed(0)
        backbone = ssl.student_backbone("vit-t14", cfg)
        with torch.no_grad():
            cls = torch.nn.functional.normalize(backbone(backbone.preprocess(depth))[0], dim=1)
        return float((torch.cdist(cls, cls) + 9 * torch.eye(16)).min(dim=1).values.median())

    assert nearest_neighbour_distance(ssl.pretrain_config("cpu", {"layerscale_init": 1e-5})) < 1e-3
    assert nearest_neighbour_distance(ssl.pretrain_config("cpu")) > 0.05


@pytest.mark.parametrize("fraction, prototypes_move", [(1.0, False), (0.0, True)])
def test_prototypes_stay_put_while_the_last_layer_is_frozen(dataset_dir, tmp_path, fraction, prototypes_move):
    settings = {**TINY, "steps": 2, "global_size": 28, "local_size": 14, "freeze_last_layer_fraction": fraction}
    overrides = [f"--set={k}={v}" for k, v in settings.items()]
    assert main(["pretrain", "--data", str(dataset_dir), "--out", str(tmp_path), "--no-progress", *overrides]) == 0
    state = torch.load(tmp_path / "checkpoints" / "pretrain_2.pt", weights_only=True)["model"]
    cfg = ssl.pretrain_config("cpu", settings)
    torch.manual_seed(0)  # the run's initial weights, built as pretrain() builds them
    initial = ssl.DinoStudentTeacher(ssl.student_backbone("vit-t14", cfg), cfg).state_dict()
    key = "student_head.last_layer.weight_v"
    assert torch.equal(state[key], initial[key]) is not prototypes_move
    assert not torch.equal(state["student_head.layers.0.weight"], initial["student_head.layers.0.weight"])


def test_pretrain_resumes_exactly_and_its_encoder_loads_strictly(dataset_dir, tmp_path, monkeypatch):
    overrides = [f"--set={k}={v}" for k, v in {**TINY, "global_size": 28, "local_size": 14}.items()]
    base = ["pretrain", "--data", str(dataset_dir), "--no-progress", *overrides]
    assert main([*base, "--out", str(tmp_path / "full")]) == 0
    calls = {"n": 0}
    masks = ssl.block_masks

    def killed_in_step_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # after the checkpoint at step 2
            raise KeyboardInterrupt
        return masks(*args, **kwargs)

    monkeypatch.setattr(ssl, "block_masks", killed_in_step_3)
    assert main([*base, "--out", str(tmp_path / "half")]) == 130
    monkeypatch.setattr(ssl, "block_masks", masks)
    assert main(["pretrain", "--resume", "--out", str(tmp_path / "half"), "--no-progress"]) == 0
    full = [json.loads(line) for line in (tmp_path / "full" / "progress.jsonl").read_text().splitlines()]
    resumed = [json.loads(line) for line in (tmp_path / "half" / "progress.jsonl").read_text().splitlines()]
    # same process, same machine: the resumed run's losses equal the uninterrupted run's exactly
    assert [r["loss"] for r in resumed] == [r["loss"] for r in full] and len(full) == 4
    encoder = create("vit-t14", weights=str(tmp_path / "full" / "encoder.pth"))
    assert "[depthbench pretrain vit-t14" in encoder.weights_provenance
    assert "not official DeFM" in encoder.weights_provenance
    state = torch.load(tmp_path / "full" / "checkpoints" / "pretrain_4.pt", weights_only=True)["model"]
    torch.manual_seed(0)  # the run's initial weights: seed 0, then the student backbone, as pretrain() builds them
    initial = dict(ssl.student_backbone("vit-t14", ssl.pretrain_config("cpu")).named_parameters())
    # encoder_init.pth is that network before any step, labelled random init wherever it is shown
    saved = create("vit-t14", weights=str(tmp_path / "full" / ssl.INITIAL_FILE))
    assert encoder_label("vit-t14", saved.weights_provenance) == "vit-t14 (RANDOM INIT, saved)"
    for name, tensor in saved.backbone.named_parameters():
        assert torch.equal(tensor, initial[name]), name
    moved = [name for name, p in initial.items() if not torch.equal(state[f"student.{name}"], p)]
    # the backbone itself trains, not only the heads (create() returns frozen encoders: a student built with it
    # once left every backbone weight at its initial value while the loss still fell through the heads)
    assert len(moved) == len(initial), sorted(set(initial) - set(moved))[:5]


def test_distilled_cnn_loads_strictly_into_its_registered_encoder(dataset_dir, tmp_path):
    overrides = [f"--set={k}={v}" for k, v in {**TINY, "steps": 1, "global_size": 28, "local_size": 14}.items()]
    assert (
        main(["pretrain", "--data", str(dataset_dir), "--out", str(tmp_path / "vit"), "--no-progress", *overrides]) == 0
    )
    assert (
        main(
            [
                "distill-encoder",
                "--teacher",
                str(tmp_path / "vit"),
                "--student",
                "defm-efficientnet-b0",
                "--data",
                str(dataset_dir),
                "--out",
                str(tmp_path / "cnn"),
                "--set=steps=2",
                "--set=batch_size=2",
                "--no-progress",
            ]
        )
        == 0
    )
    encoder = create("defm-efficientnet-b0", weights=str(tmp_path / "cnn" / "encoder.pth"))
    assert "distilled from vit-t14" in encoder.weights_provenance
    torch.manual_seed(0)  # distill_encoder's initial student: seed 0, the teacher built first, then the student
    create("vit-t14", weights=str(tmp_path / "vit" / "encoder.pth"))
    initial = dict(create("defm-efficientnet-b0").backbone.named_parameters())
    trained = dict(encoder.backbone.named_parameters())
    moved = [name for name, p in initial.items() if not torch.equal(trained[name], p)]
    assert len(moved) > 0.9 * len(initial)  # the student CNN trains (not only the projections)
    rows = [json.loads(line) for line in (tmp_path / "cnn" / "progress.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(0 <= r["global"] <= 2 and 0 <= r["dense"] <= 2 for r in rows)  # 1 - cos


def test_distillation_loss_is_one_minus_cosine():
    from depthbench.pretrain.distill import Projections, distillation_loss

    proj = Projections(2, [2], 2)
    with torch.no_grad():
        proj.global_proj.weight.copy_(torch.eye(2))
        proj.global_proj.bias.zero_()
        proj.dense_proj[0].weight.copy_(torch.eye(2)[:, :, None, None])
        proj.dense_proj[0].bias.zero_()
    student_global = torch.tensor([[1.0, 0.0]])
    teacher_cls = torch.tensor([[1.0, 1.0]])
    dense = torch.tensor([[1.0, 0.0]])[:, :, None, None]
    teacher_patches = torch.tensor([[0.0, 1.0]])[:, :, None, None]
    losses = distillation_loss(student_global, [dense], teacher_cls, teacher_patches, proj, dense_weight=2.0)
    assert float(losses["global"]) == pytest.approx(1 - 1 / math.sqrt(2))
    assert float(losses["dense"]) == pytest.approx(1.0)  # orthogonal
    assert float(losses["loss"]) == pytest.approx(1 - 1 / math.sqrt(2) + 2.0)


def test_probe_sector_grid_and_free_direction_by_hand():
    depth = np.full((2, 1, 4, 4), 9.0)
    depth[0, 0] = [
        [1.0, 3.0, 0.0, 20.0],
        [2.0, 4.0, np.nan, 5.0],
        [6.0, 6.0, 7.0, 8.0],
        [6.0, 0.5, 8.0, 8.0],
    ]
    targets = probe.sector_targets(depth, rows=2, cols=2, max_range_m=10.0)
    # row-major cells: top-left min(1,3,2,4)=1, top-right min(hole->10, 20->10, hole->10, 5)=5, bottom-left 0.5,
    # bottom-right 7; frame 2 is a flat 9 m wall everywhere
    np.testing.assert_allclose(targets, np.log1p([[1.0, 5.0, 0.5, 7.0], [9.0, 9.0, 9.0, 9.0]]))
    # column means (clipped, holes at 10 m): frame 1: (1+2+6+6)/4=3.75, (3+4+6+.5)/4=3.375, (10+10+7+8)/4=8.75,
    # (10+5+8+8)/4=7.75 -> column 2; frame 2 ties everywhere -> the first column
    np.testing.assert_array_equal(probe.free_direction(depth, cols=4, max_range_m=10.0), [2, 0])


def test_probe_stream_groups_follow_the_collection_order():
    manifest = {"provenance": {"source": "task", "frames_per_step": 3}}
    np.testing.assert_array_equal(probe.stream_groups(manifest, 7), [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(probe.stream_groups({"provenance": {"source": "folder"}}, 3), [0, 1, 2])
    with pytest.raises(DepthbenchError, match="frames_per_step"):
        probe.stream_groups({"provenance": {"source": "task"}}, 3)


def test_probe_ridge_matches_the_normal_equations():
    rng = np.random.default_rng(0)
    for n, d in ((40, 5), (6, 30)):  # more frames than features (primal form) and fewer (kernel form)
        x, y, x_eval = rng.normal(2.0, 3.0, (n, d)), rng.normal(size=(n, 2)), rng.normal(size=(6, d))
        mean, std = x.mean(0), x.std(0) + 1e-8
        z = (x - mean) / std
        for ridge, got in zip((0.1, 10.0), probe.ridge_predictions(x, y, x_eval, (0.1, 10.0)), strict=True):
            w = np.linalg.solve(z.T @ z + ridge * n * np.eye(d), z.T @ (y - y.mean(0)))
            # eigh vs solve take different float paths: agreement to 1e-8 is exact up to rounding
            np.testing.assert_allclose(got, (x_eval - mean) / std @ w + y.mean(0), atol=1e-8)


def test_probe_cv_recovers_the_known_r2_and_accuracy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 3))
    groups = np.arange(4000) % 40
    # signal variance 1 + 1 + 1 = 3, noise variance 1: the best linear probe's R^2 is 3 / 4
    y = x @ np.array([[1.0], [1.0], [-1.0]]) + rng.normal(size=(4000, 1))
    labels = (x[:, 0] > 0).astype(int)
    coin = rng.integers(0, 2, 4000)  # labels independent of x: chance, whatever direction the fit picks
    targets = {
        "linear": ("r2", y[:3000], y[3000:]),
        "sign": ("accuracy", labels[:3000], labels[3000:]),
        "coin": ("accuracy", coin[:3000], coin[3000:]),
    }
    result = probe.linear_probes(x[:3000], groups[:3000], x[3000:], targets)
    assert result["linear"]["score"] == pytest.approx(0.75, abs=0.03)  # sampling error of R^2, 1000 frames ~0.01
    assert result["linear"]["ridge"] <= 1e-2  # 3 features, 3000 frames: CV needs no shrinkage
    assert result["sign"]["score"] > 0.97  # a linearly separable label
    assert abs(result["coin"]["score"] - 0.5) < 0.06  # chance; 1000 test frames: sd 0.016
    # pure noise on 300 features from 600 frames: least squares would score R^2 ~ -300/300 on new frames; CV must
    # shrink to (nearly) the training mean, R^2 ~ 0
    wide = rng.normal(size=(800, 300))
    noise = probe.linear_probes(
        wide[:600], groups[:600], wide[600:], {"noise": ("r2", rng.normal(size=(600, 1)), rng.normal(size=(200, 1)))}
    )["noise"]
    assert noise["ridge"] >= 1.0 and -0.05 < noise["score"] < 0.02
    # each target is probed as if alone: sharing the eigendecomposition changes nothing
    alone = probe.linear_probes(x[:3000], groups[:3000], x[3000:], {"sign": targets["sign"]})
    assert alone["sign"]["score"] == result["sign"]["score"]


def test_probe_cluster_bootstrap_resamples_whole_trajectories():
    # 50 trajectories of 10 frames, each entirely right or wrong: the accuracy's standard error is that of 50
    # clusters, sqrt(.5 * .5 / 50) = 0.071, not the 0.022 of 500 independent frames
    groups = np.repeat(np.arange(50), 10)
    correct = np.repeat(np.arange(50) % 2, 10).astype(float)
    parts = np.stack([correct, np.ones(500)])
    samples = probe.cluster_bootstrap([parts, parts], ["accuracy", "accuracy"], groups, seed=0, resamples=4000)
    assert samples[0].std() == pytest.approx(0.0707, rel=0.1)  # bootstrap sd of 4000 resamples: within ~3%
    np.testing.assert_array_equal(samples[0], samples[1])  # paired: the same draws for every probe
    low, high = probe.interval(samples[0])
    assert low < 0.5 < high
    # R^2 = 1 - sum(err) / sum(base): with err = base / 2 in every frame it is 0.5 in every resample
    r2_parts = np.stack([np.full(500, 1.0), np.full(500, 2.0)])
    np.testing.assert_allclose(probe.cluster_bootstrap([r2_parts], ["r2"], groups, resamples=50), 0.5)


def test_probe_cli_writes_json_and_the_same_numbers_as_markdown(tmp_path):
    for name, seed in (("fit", 0), ("score", 1)):
        writer = DepthDatasetWriter(tmp_path / name, {"source": "folder"})  # independent frames: one group each
        writer.add(synthetic_frames(24, seed=seed))
        writer.close()
    out, md = tmp_path / "probe.json", tmp_path / "probe.md"
    argv = ["probe", "--train", str(tmp_path / "fit"), "--test", str(tmp_path / "score"), "--folds", "2"]
    argv += ["--encoder", "pixels", "--encoder", "vit-t14", "--out", str(out), "--markdown", str(md), "--no-progress"]
    assert main(argv) == 0
    results = json.loads(out.read_text())["results"]
    lines = md.read_text().splitlines()[2:]
    assert len(lines) == 4  # 2 encoders x 2 targets, target-major
    for line, (target, row) in zip(
        lines, [(t, r) for t in ("sectors", "free-direction") for r in results], strict=True
    ):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == row["label"] and cells[3] == target
        assert cells[4].startswith(f"{row[target]['score']:.3f} [")
    assert lines[0].endswith("| +0.000 [+0.000, +0.000] |")  # the first encoder against itself
    assert "vit-t14 (RANDOM INIT)" in md.read_text()
