"""`depthbench train` under torchrun (rsl-rl multi-GPU PPO over NCCL): on a CPU-only machine only the argument
handling can be checked; the multi-GPU run itself is documented in docs/ray.md."""

import pytest
from test_agents_pipeline import TASK

from depthbench.agents.training import multi_gpu_device, torchrun_ranks
from depthbench.benchmarks.cli import main


@pytest.fixture
def two_ranks(monkeypatch):
    """The environment torchrun --nproc-per-node 2 gives its second process."""
    for key, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)


def test_plain_run_is_rank_zero_of_one(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert torchrun_ranks() == (0, 0, 1)


def test_torchrun_ranks_pick_their_gpu(two_ranks, monkeypatch):
    assert torchrun_ranks() == (1, 1, 2)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    assert multi_gpu_device("cuda") == "cuda:1"


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cpu", "torchrun started 2 processes (WORLD_SIZE=2): multi-GPU training needs --device cuda, got 'cpu'"),
        ("cuda", "LOCAL_RANK=1 but torch sees 0 CUDA device(s)"),
    ],
)
def test_torchrun_without_gpus_is_one_line(device, message, two_ranks, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    assert main(["train", TASK, "--device", device, "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
    assert not (tmp_path / "run").exists()  # nothing written
