"""`depthbench ablate --launcher ray`: every (encoder, train noise, seed) cell is one Ray task.

Ray does the scheduling (CPU/GPU reservations, placement across nodes, retrying a task whose worker died); depthbench
only submits cells and watches the results directory. The bookkeeping is that of `depthbench.agents.ablation` and the
same on every launcher: a task is `ablation.run_cell` (the cell's lock, train or resume from the last checkpoint,
evaluate what is missing), so a retried task on another node continues where the dead one stopped, and a cell another
driver holds comes back "busy" and is submitted again later. The results directory must be one path every node sees
(docs/ray.md: NFS).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from depthbench.agents.ablation import (
    CLAIM_FILE,
    Cell,
    cell_config,
    cell_dir,
    cell_is_complete,
    cell_iteration,
    cells,
    run_cell,
)
from depthbench.errors import DepthbenchError

DEFAULTS = {"address": None, "gpus_per_cell": 0.0, "cpus_per_cell": 1.0, "max_retries": 3}
# Without --address depthbench starts a private single-machine Ray instance; Ray's own switch for a machine that
# is not part of a cluster (its default on macOS and Windows) makes every Ray process listen on 127.0.0.1 only.
LOCAL_ONLY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
ADDRESS = re.compile(r"^(?:ray://)?(?P<host>[A-Za-z0-9.\-_]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Launcher flags with defaults filled in; a bad value is one line naming the flag."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise DepthbenchError(f"unknown Ray launcher option(s): {', '.join(sorted(unknown))}")
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    address = opts["address"]
    if address is not None and address != "auto" and not ADDRESS.match(address):
        raise DepthbenchError(f"--address must be auto, HOST:PORT or ray://HOST:PORT, got '{address}'")
    if not 0 <= opts["gpus_per_cell"] <= 1:
        raise DepthbenchError(
            f"--gpus-per-cell must be in [0, 1] (a cell trains on one GPU, fractions share one), got "
            f"{opts['gpus_per_cell']:g}; several GPUs for one run: torchrun (docs/ray.md)"
        )
    if not opts["cpus_per_cell"] > 0:
        raise DepthbenchError(f"--cpus-per-cell must be > 0, got {opts['cpus_per_cell']}")
    if not isinstance(opts["max_retries"], int) or opts["max_retries"] < 0:
        raise DepthbenchError(f"--max-retries must be an integer >= 0, got {opts['max_retries']}")
    return opts


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DepthbenchError(
            "--launcher ray needs Ray: pip install 'depthbench[ray]' (on the driver and every node)"
        ) from None
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Ray waits about a minute for an absent cluster before it gives up; a plain TCP connect says it in seconds."""
    match = ADDRESS.match(address)
    assert match is not None  # checked by check_options
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DepthbenchError(
            f"no Ray cluster reachable at {address} ({reason}); start one there with `ray start --head "
            f"--port {port}` or check --address"
        ) from None


@contextlib.contextmanager
def connect(address: str | None) -> Iterator[Any]:
    """Ray, connected: to `address` (auto: the cluster on this machine, RAY_ADDRESS), or, without one, to a private
    local instance that is stopped at the end. A caller that already ran ray.init (a test, a notebook) keeps its own."""
    if address is None and "ray" not in sys.modules:
        for key, value in LOCAL_ONLY_ENV.items():  # read by Ray at import time
            os.environ.setdefault(key, value)
    ray = _import_ray()
    if address not in (None, "auto"):
        _check_reachable(address)
    if ray.is_initialized():
        yield ray
        return
    try:
        if address is None:
            ray.init(include_dashboard=False)
        else:
            ray.init(address=address)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = address or "a new local instance"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DepthbenchError(f"could not connect to Ray at {where}: {message}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _cell_task(out: str, spec: dict[str, Any], cell: list[Any], cpus_per_cell: float) -> dict[str, Any]:
    """One Ray task: the cell, with one torch thread per reserved CPU (whatever the node's OMP_NUM_THREADS)."""
    import torch

    torch.set_num_threads(max(1, int(cpus_per_cell)))
    return run_cell(Path(out), spec, (cell[0], cell[1], int(cell[2])), show_progress=False, log=lambda *_: None)


def _check_device(device: str, gpus_per_cell: float) -> None:
    """Ray hides the GPUs a task did not reserve: a cuda cell without --gpus-per-cell would find none."""
    if device.startswith("cuda") and gpus_per_cell == 0:
        raise DepthbenchError("the cells train on cuda but --gpus-per-cell is 0; pass --gpus-per-cell 1 (or 0.5)")
    if device == "cpu" and gpus_per_cell > 0:
        raise DepthbenchError(
            f"--gpus-per-cell {gpus_per_cell:g} reserves GPUs but the cells train on cpu; add --set device=cuda"
        )
    if re.fullmatch(r"cuda:\d+", device):
        raise DepthbenchError(f"device '{device}' pins a GPU; use --set device=cuda, Ray assigns each cell its GPU")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[-1] if text else ''}".rstrip(": ")


def run_cells(
    out: Path,
    spec: dict[str, Any],
    options: dict[str, Any],
    *,
    show_progress: bool = True,
    log: Callable[[str], Any] = print,
    busy_poll_s: float = 30.0,
    poll_s: float = 1.0,
) -> None:
    """Submit every unfinished cell as a Ray task and watch them to the end; raises one line naming failed cells."""
    all_cells = cells(spec)
    todo = [c for c in all_cells if not cell_is_complete(out, spec, c)]
    cfg = cell_config(spec, all_cells[0])  # cells differ in encoder, noise and seed only
    _check_device(str(cfg["device"]), options["gpus_per_cell"])
    failed: dict[Cell, str] = {}
    with connect(options["address"]) as ray:
        remote = ray.remote(_cell_task)

        def submit(cell: Cell) -> Any:
            return remote.options(
                num_cpus=options["cpus_per_cell"],
                num_gpus=options["gpus_per_cell"],
                max_retries=options["max_retries"],
                retry_exceptions=False,  # a Python error in a cell fails again; only lost workers are retried
                name=f"depthbench-cell {cell_dir(out, *cell).name}",
            ).remote(str(out), spec, list(cell), options["cpus_per_cell"])

        pending = {submit(c): c for c in todo}
        later: dict[Cell, float] = {}  # held by another driver: submit again at this time
        bar = tqdm(
            total=len(all_cells),
            initial=len(all_cells) - len(todo),
            desc=f"ablation on Ray ({options['address'] or 'local'})",
            unit="cell",
            disable=not show_progress,
            dynamic_ncols=True,
        )
        say = bar.write if show_progress else log
        while pending or later:
            ready = ray.wait(list(pending), num_returns=1, timeout=poll_s)[0] if pending else []
            for ref in ready:
                cell = pending.pop(ref)
                name = cell_dir(out, *cell).name
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the cell raised: the same error on any node
                    failed[cell] = _one_line(exc.cause if exc.cause is not None else exc)
                    say(f"cell {name}: FAILED ({failed[cell]})")
                except ray.exceptions.RayError as exc:  # its worker or node died more than --max-retries times
                    failed[cell] = _one_line(exc)
                    say(f"cell {name}: FAILED after {options['max_retries']} retries ({failed[cell]})")
                else:
                    if result["status"] == "busy":
                        holder = result["holder"] or {}
                        say(f"cell {name}: held by {holder.get('host')}:{holder.get('pid')} (another driver), later")
                        later[cell] = time.monotonic() + busy_poll_s
                    else:
                        bar.update(1)
                        say(f"cell {name}: done ({'trained' if result['trained'] else 'evaluated'})")
            for cell, when in list(later.items()):
                if when <= time.monotonic():
                    del later[cell]
                    pending[submit(cell)] = cell
            if not pending and later:
                time.sleep(min(poll_s, max(0.0, min(later.values()) - time.monotonic())))
            bar.set_postfix_str(_status(out, list(pending.values()), later, failed, cfg["iterations"]), refresh=True)
        bar.close()
    if failed:
        names = "; ".join(f"{cell_dir(out, *c).name}: {why}" for c, why in failed.items())
        raise DepthbenchError(
            f"{len(failed)} of {len(all_cells)} cells failed ({names}); the other cells are kept, fix the cause and "
            "run the same command again to retry the failed ones"
        )


def _status(out: Path, pending: list[Cell], later: dict[Cell, float], failed: dict[Cell, str], iterations: int) -> str:
    """'running 2 [scratch-cnn__train-clean__s0 3/4, ...] | queued 1 | other driver 0 | failed 0'."""
    running = [c for c in pending if (cell_dir(out, *c) / CLAIM_FILE).is_file()]
    shown = ", ".join(f"{cell_dir(out, *c).name} {cell_iteration(cell_dir(out, *c))}/{iterations}" for c in running)
    return (
        f"running {len(running)} [{shown}] | queued {len(pending) - len(running)} | other driver {len(later)} | "
        f"failed {len(failed)}"
    )
