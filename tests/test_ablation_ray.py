"""`ablate --launcher ray` on a private 2-CPU Ray instance on 127.0.0.1: the same results as the sequential launcher,
a worker killed mid-cell is retried and resumes from its checkpoint, a cell another driver holds is not run twice,
and bad launcher flags are one line. Sizes are tiny: these check bookkeeping, not learning."""

import json
import os
import signal
import socket
import threading
import time

# Ray's switch for a machine outside any cluster: every Ray process listens on 127.0.0.1 only. Read at import time.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402
from filelock import FileLock  # noqa: E402
from test_agents_pipeline import TASK, TINY, read_rows  # noqa: E402

from depthbench.agents import ablation  # noqa: E402
from depthbench.agents.ablation import run_ablation  # noqa: E402
from depthbench.agents.training import write_json_atomic  # noqa: E402
from depthbench.benchmarks.cli import main  # noqa: E402
from depthbench.errors import DepthbenchError  # noqa: E402

ITERATIONS = 2
MATRIX = dict(
    encoders=["scratch-cnn", "defm-regnet-y-400mf"],  # in-model CNN and a frozen (random-init) pretrained-style one
    train_noises=["clean"],
    eval_noises=["dropout(p=0.3)"],
    seeds=2,
    weights="none",
    overrides=[*TINY, f"iterations={ITERATIONS}", "save_interval=1", "eval.episodes=2"],
    episodes=2,
    show_progress=False,
    log=lambda *_: None,
)


@pytest.fixture(scope="module")
def ray_cluster():
    from ray._private import ray_constants

    assert not ray_constants.ENABLE_RAY_CLUSTER, "ray was imported before this module set loopback-only mode"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The reference: the default local launcher. Ray cells run with one torch thread (--cpus-per-cell 1), so this
    one does too: the same machine and thread count give the same floating-point results, bit for bit."""
    out = tmp_path_factory.mktemp("sequential")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_ablation(TASK, **MATRIX, out=out)
    finally:
        torch.set_num_threads(threads)
    return out


def cell_dirs(out):
    return sorted((out / "cells").iterdir())


def attempts(run_dir):
    return [json.loads(line) for line in (run_dir / ablation.ATTEMPTS_FILE).read_text().splitlines()]


def assert_same_results(out, reference):
    """Same table, same learning curves, same evaluation episodes, cell by cell."""
    rows = json.loads((out / ablation.RESULTS_FILE).read_text())["rows"]
    assert rows == json.loads((reference / ablation.RESULTS_FILE).read_text())["rows"]
    assert len(rows) == 2 * 2  # 2 encoders x (clean + dropout), each pooled over 2 seeds
    assert {r["seeds"] for r in rows} == {2}
    assert [d.name for d in cell_dirs(out)] == [d.name for d in cell_dirs(reference)]
    for run_dir, ref_dir in zip(cell_dirs(out), cell_dirs(reference), strict=True):
        rows = read_rows(run_dir / "progress.jsonl")
        assert [r["iteration"] for r in rows] == list(range(1, ITERATIONS + 1))  # each iteration logged once
        assert rows == read_rows(ref_dir / "progress.jsonl")
        for name in ("clean.episodes.json", "dropout-p-0.3.episodes.json"):
            assert (run_dir / "eval" / name).read_text() == (ref_dir / "eval" / name).read_text()
        assert not (run_dir / ablation.CLAIM_FILE).exists()  # released at the end of the cell


def run_in_thread(**kwargs):
    box = {}

    def target():
        try:
            box["result"] = run_ablation(TASK, launcher="ray", **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_ray_matrix_equals_sequential_and_is_not_rerun(ray_cluster, sequential, tmp_path):
    out = tmp_path / "ray"
    run_ablation(TASK, **MATRIX, out=out, launcher="ray", ray_options={"max_retries": 1})
    assert_same_results(out, sequential)
    pids = set()
    for run_dir in cell_dirs(out):
        (attempt,) = attempts(run_dir)  # trained once, from scratch, in a Ray worker process
        assert attempt["from_iteration"] == 0 and attempt["pid"] != os.getpid()
        pids.add(attempt["pid"])
    assert len(pids) >= 2  # two workers shared the 4 cells
    before = {d.name: (d / "manifest.json").stat().st_mtime_ns for d in cell_dirs(out)}
    run_ablation(TASK, **MATRIX, out=out, launcher="ray")  # a finished matrix: nothing is submitted again
    assert {d.name: (d / "manifest.json").stat().st_mtime_ns for d in cell_dirs(out)} == before
    assert all(len(attempts(d)) == 1 for d in cell_dirs(out))
    assert_same_results(out, sequential)


def test_worker_killed_mid_cell_is_retried_from_its_checkpoint(ray_cluster, sequential, tmp_path):
    out = tmp_path / "killed"
    thread, box = run_in_thread(**MATRIX, out=out, ray_options={"max_retries": 2})
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        for run_dir in (out / "cells").glob("*") if (out / "cells").is_dir() else []:
            manifest = ablation.read_json(run_dir / "manifest.json")
            claim = ablation.read_json(run_dir / ablation.CLAIM_FILE)
            if not (claim and manifest and manifest["status"] == "running" and manifest["iterations_done"] >= 1):
                continue
            os.kill(claim["pid"], signal.SIGSTOP)  # freeze it, then look again: still training?
            manifest = ablation.read_json(run_dir / "manifest.json")
            if manifest["status"] == "running":
                os.kill(claim["pid"], signal.SIGKILL)
                killed = (run_dir, claim["pid"], manifest["iterations_done"])
                break
            os.kill(claim["pid"], signal.SIGCONT)
        time.sleep(0.005)
    thread.join(timeout=120)
    assert "error" not in box, box.get("error")
    assert killed is not None, "no cell was caught mid-training"
    assert_same_results(out, sequential)  # resumed training replays the uninterrupted run exactly
    run_dir, pid, iterations_done = killed
    first, second = attempts(run_dir)
    assert first["pid"] == pid and first["from_iteration"] == 0
    assert second["pid"] != pid and second["from_iteration"] == iterations_done >= 1  # its last checkpoint
    for other in cell_dirs(out):
        if other != run_dir:
            assert len(attempts(other)) == 1  # no other cell trained twice


def test_a_cell_held_by_another_driver_waits_for_it(ray_cluster, tmp_path):
    out = tmp_path / "shared"
    matrix = {**MATRIX, "encoders": ["scratch-cnn"], "seeds": 1}
    run_dir = ablation.cell_dir(out.resolve(), "scratch-cnn", "clean", 0)
    run_dir.mkdir(parents=True)
    other = FileLock(run_dir / ablation.LOCK_FILE, blocking=False)  # the other driver (here: this process)
    other.acquire()
    write_json_atomic(run_dir / ablation.CLAIM_FILE, {"host": "other-node", "pid": 12345, "since": 0})
    messages = []
    thread, box = run_in_thread(**{**matrix, "log": messages.append}, out=out, busy_poll_s=0.2)
    deadline = time.monotonic() + 60
    while not any("held by other-node:12345" in m for m in messages) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("held by other-node:12345" in m for m in messages)
    assert not (run_dir / "manifest.json").exists() and thread.is_alive()  # not touched while held
    (run_dir / ablation.CLAIM_FILE).unlink()
    other.release()
    thread.join(timeout=60)
    assert "error" not in box, box.get("error")
    (attempt,) = attempts(run_dir)
    assert attempt["pid"] != os.getpid()
    assert box["result"]["rows"][0]["episodes"] == 2


def test_run_cell_leaves_a_held_cell_alone(tmp_path):
    spec = ablation.prepare_ablation(
        TASK,
        encoders=["scratch-cnn"],
        train_noises=["clean"],
        eval_noises=[],
        seeds=1,
        out=tmp_path,
        overrides=MATRIX["overrides"],
    )
    cell = ablation.cells(spec)[0]
    run_dir = ablation.cell_dir(tmp_path, *cell)
    run_dir.mkdir(parents=True)
    claim = {"host": "node-7", "pid": 4242, "since": 1.0}
    write_json_atomic(run_dir / ablation.CLAIM_FILE, claim)
    with FileLock(run_dir / ablation.LOCK_FILE):
        result = ablation.run_cell(tmp_path, spec, cell, log=lambda *_: None)
    assert result == {"status": "busy", "holder": claim}
    assert sorted(p.name for p in run_dir.iterdir()) == [ablation.LOCK_FILE, ablation.CLAIM_FILE]


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--launcher", "slurm"], "--launcher must be one of local, ray, got 'slurm'"),
        (["--gpus-per-cell", "1"], "--gpus-per-cell only apply to --launcher ray"),
        (["--launcher", "ray", "--max-retries", "-1"], "--max-retries must be an integer >= 0, got -1"),
        (["--launcher", "ray", "--cpus-per-cell", "0"], "--cpus-per-cell must be > 0"),
        (["--launcher", "ray", "--address", "head node"], "--address must be auto, HOST:PORT or ray://HOST:PORT"),
        (["--launcher", "ray", "--address", "127.0.0.1:{port}"], "no Ray cluster reachable at 127.0.0.1:{port}"),
        (["--launcher", "ray", "--gpus-per-cell", "1"], "reserves GPUs but the cells train on cpu"),
    ],
)
def test_bad_launcher_flags_are_one_line(flags, message, tmp_path, capsys):
    port = str(closed_port())
    flags = [f.format(port=port) for f in flags]
    argv = ["ablate", TASK, "--encoders", "scratch-cnn", "--seeds", "1", "--out", str(tmp_path), "--no-progress"]
    assert main([*argv, *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert message.format(port=port) in err
    assert not (tmp_path / "cells").exists()  # nothing started


def test_a_failing_cell_is_reported_once_and_the_others_finish(ray_cluster, tmp_path):
    out = tmp_path / "failing"
    matrix = {**MATRIX, "seeds": 1, "weights": str(tmp_path / "missing.pt")}  # scratch-cnn takes no weights
    with pytest.raises(DepthbenchError) as info:
        run_ablation(TASK, **matrix, out=out, launcher="ray", ray_options={"max_retries": 2})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("1 of 2 cells failed (defm-regnet-y-400mf__train-clean__s0: DepthbenchError: ")
    assert "run the same command again" in message
    spec = json.loads((out / ablation.SPEC_FILE).read_text())
    assert ablation.cell_is_complete(out.resolve(), spec, ("scratch-cnn", "clean", 0))
    bad = ablation.cell_dir(out.resolve(), "defm-regnet-y-400mf", "clean", 0)
    assert len(attempts(bad)) == 1  # a Python error is not retried: it would fail the same way again
    assert not (out / ablation.RESULTS_FILE).exists()  # no table with a hole in it
