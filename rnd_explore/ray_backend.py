"""Run the trials of a comparison as Ray tasks, on this machine or on a Ray cluster.

Each trial runs ``rnd_explore.trials.run_trial`` in a Ray worker. Where the comparison
folder is shared storage (every node reaches it at the same path, always true for the
private instance on this machine), the worker writes into it directly, as the local backend
does. Otherwise the worker trains in a temporary folder on its node and returns that folder
as a gzipped tar archive, which the driver unpacks into the comparison folder. A trial's
files then appear in ``<out_dir>/runs/`` once the trial has finished.

Ray is an optional dependency (``pip install "rnd-explore[ray]"``) and is imported only when
this backend runs. Ray's usage-statistics reporting is switched off before the import.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rnd_explore.atomic_io import atomic_write_text
from rnd_explore.config import TrainConfig
from rnd_explore.training import train
from rnd_explore.trials import TrialOutcome, failure_path, run_trial, set_aside_incomplete

logger = logging.getLogger(__name__)

RAY_INSTALL_HINT = 'The ray backend needs Ray. Install it with: pip install "rnd-explore[ray]"'

LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2
"""Object store size of a Ray instance started by the toolkit (run archives are small)."""

PROGRESS_INTERVAL_SECONDS = 1.0
"""A Ray worker reports its step count at most this often."""


class RayNotInstalledError(ImportError):
    """Raised when the ray backend is chosen but Ray cannot be imported."""


def import_ray() -> Any:
    """Import Ray with usage statistics disabled; raise ``RayNotInstalledError`` with the install hint."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        import ray
    except ImportError as error:
        raise RayNotInstalledError(f"{RAY_INSTALL_HINT} (import failed: {error}).") from error
    return ray


def connect(address: str | None, local_cpus: int, cpus_per_trial: float, gpus_per_trial: float) -> bool:
    """Start a private Ray instance or connect to a cluster; return whether this call started Ray.

    Without ``address`` the private instance gets ``local_cpus`` CPUs and every GPU that
    ``torch.cuda.device_count()`` reports. The per-trial resources are checked against the largest machine's, so a
    request that no machine can ever meet raises instead of waiting forever.

    Raises:
        ValueError: when the cluster at ``address`` cannot be reached, or when
            ``cpus_per_trial`` or ``gpus_per_trial`` exceeds what its largest machine has.
    """
    ray = import_ray()
    if ray.is_initialized():
        started_here = False
    else:
        _init(ray, address, local_cpus)
        started_here = True
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    for name, requested, key in (("cpus_per_trial", cpus_per_trial, "CPU"), ("gpus_per_trial", gpus_per_trial, "GPU")):
        largest = max((resources.get(key, 0.0) for resources in nodes), default=0.0)
        if requested > largest:
            disconnect(started_here)
            raise ValueError(_too_large_message(name, requested, key, largest, address))
    return started_here


def _too_large_message(name: str, requested: float, key: str, largest: float, address: str | None) -> str:
    flag = f"--{name.replace('_', '-')}"
    if address is None:
        fix = f"Lower {flag}" + (" or raise --workers." if key == "CPU" else ".")
        return (f"{name} is {requested:g}, but this machine's private Ray instance has {largest:g} {key}s, so no "
                f"trial could ever start. {fix}")
    return (f"{name} is {requested:g}, but the largest machine of the cluster at {address} has {largest:g} {key}s, "
            f"and one trial runs on one machine, so no trial could ever start. Lower {flag} or add a machine "
            f"with at least {requested:g} {key}s.")


def disconnect(started_here: bool) -> None:
    """Shut Ray down in this process if ``connect`` started it; otherwise leave it running."""
    ray = import_ray()
    if started_here and ray.is_initialized():
        ray.shutdown()


def run_on_ray(
    configs: Sequence[TrainConfig],
    out_dir: Path,
    retries: int,
    on_outcome: Callable[[TrialOutcome], None],
    on_progress: Callable[[str, int], None],
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    shared_storage: bool = True,
    trainer: Callable[..., Any] = train,
) -> None:
    """Run every config as one Ray task and hand each outcome to ``on_outcome`` as it arrives.

    Needs a Ray connection (``connect``).

    Args:
        configs: the trials to run (already checked; complete trials left out).
        out_dir: the comparison folder, an absolute path.
        retries: attempts after a failed one, inside the task. Ray also resubmits a task
            whose worker process died this many times.
        on_outcome: called in the driver with each finished or failed trial.
        on_progress: called in the driver with (run name, environment steps so far).
        cpus_per_trial: CPUs Ray reserves per task.
        gpus_per_trial: GPUs (or a fraction of one) Ray reserves per task.
        shared_storage: workers write into ``out_dir`` directly. When False they send
            their finished folders back to the driver.
        trainer: the training function each task calls (``train``; tests pass their own,
            which Ray workers must be able to import).

    On KeyboardInterrupt the running tasks are cancelled, and given ``CANCEL_GRACE_SECONDS``
    to stop before they are killed, then the interrupt is re-raised. Outcomes already handed
    over stay valid.
    """
    ray = import_ray()

    board = ray.remote(ProgressBoard).options(num_cpus=0).remote()
    task = ray.remote(_trial_task).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=retries)
    root = out_dir if shared_storage else None
    pending = {task.remote(config, root, retries, board, trainer): config for config in configs}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for name, steps in ray.get(board.read.remote()).items():
                on_progress(name, steps)
            for reference in ready:
                config = pending.pop(reference)
                on_outcome(_collect(ray, reference, config, out_dir, retries))
    except KeyboardInterrupt:
        _cancel(ray, list(pending))
        raise
    finally:
        ray.kill(board)


class ProgressBoard:
    """Ray actor body that keeps the latest step count of every running trial.

    Workers send reports without waiting for a reply. A task that waits on a Ray call
    gives its CPU back to the scheduler, which would let more trials run at once than the
    CPUs allow.
    """

    def __init__(self) -> None:
        self.steps: dict[str, int] = {}

    def report(self, name: str, steps: int) -> None:
        """Store ``steps`` as the latest step count of trial ``name``."""
        self.steps[name] = steps

    def read(self) -> dict[str, int]:
        """Return every trial's latest step count and forget them."""
        steps, self.steps = self.steps, {}
        return steps


CANCEL_GRACE_SECONDS = 10.0
"""After Ctrl-C, running tasks get this long to stop on their own before they are killed."""


def _cancel(ray: Any, references: list[Any]) -> None:
    # A plain cancel raises KeyboardInterrupt inside the task, so its temporary folder is
    # removed. Tasks still running after the grace period are killed.
    for reference in references:
        ray.cancel(reference)
    _, still_running = ray.wait(references, num_returns=len(references), timeout=CANCEL_GRACE_SECONDS)
    for reference in still_running:
        ray.cancel(reference, force=True)


def _init(ray: Any, address: str | None, local_cpus: int) -> None:
    if address is not None:
        _check_reachable(address)
        # NOTE: only private single-machine instances have been run; connecting to a
        # multi-machine cluster through --address follows Ray's documented API but is untested.
        try:
            ray.init(address=address)
        except ConnectionError as error:
            raise ValueError(
                f"Could not connect to a Ray cluster at address {address!r}: {error} Start one with "
                "'ray start --head', check --address, or leave --address out to use a private instance."
            ) from error
        return

    import torch

    # Ray replaces a loopback node address by the machine's network address unless its
    # cluster mode is off, which it is by default on macOS and Windows only. With it off,
    # the private instance's processes advertise and connect on 127.0.0.1.
    from ray._private import ray_constants

    cluster_mode = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",
            num_cpus=local_cpus,
            num_gpus=torch.cuda.device_count(),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            # Ray lowers its workers' priority by default. Here they are the sweep itself and
            # run at normal priority, like the local backend's processes.
            _system_config={"worker_niceness": 0},
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster_mode


CONNECT_TIMEOUT_SECONDS = 5.0
"""How long a plain HOST:PORT address may take to accept a TCP connection."""


def _check_reachable(address: str) -> None:
    """Raise ValueError when a plain ``HOST:PORT`` address refuses or times out a TCP connection.

    Ray retries an unreachable address for a long time without an error. Addresses such as
    "auto" and "ray://HOST:PORT" are left to Ray.
    """
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise ValueError(
            f"Could not connect to a Ray cluster at address {address!r}: {error}. Start one there with "
            "'ray start --head', check --address, or leave --address out to use a private instance."
        ) from error


def _trial_task(
    config: TrainConfig, root: Path | None, retries: int, board: Any, trainer: Callable[..., Any]
) -> tuple[TrialOutcome, bytes | None]:
    """Run one trial in a Ray worker: into ``root`` when given, else into a temporary folder returned packed."""
    logging.basicConfig(level=logging.WARNING)
    name = config.resolved_run_name()
    last_report = [0.0]

    def report(steps: int) -> None:
        now = time.monotonic()
        if now - last_report[0] >= PROGRESS_INTERVAL_SECONDS or steps >= config.total_steps:
            board.report.remote(name, steps)
            last_report[0] = now

    if root is not None:
        return run_trial(config, root, retries=retries, progress=report, trainer=trainer), None
    temporary = Path(tempfile.mkdtemp(prefix="rnd-explore-trial-"))
    try:
        outcome = run_trial(config, temporary, retries=retries, progress=report, trainer=trainer)
        return outcome, _pack(temporary)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _pack(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for entry in sorted(root.iterdir()):
            archive.add(entry, arcname=entry.name)
    return buffer.getvalue()


def _collect(ray: Any, reference: Any, config: TrainConfig, out_dir: Path, retries: int) -> TrialOutcome:
    """Fetch one task's result and unpack it; a task Ray could not run becomes a failed outcome."""
    name = config.resolved_run_name()
    try:
        outcome, archive = ray.get(reference)
    except ray.exceptions.RayError as error:
        lines = str(error).strip().splitlines()
        message = f"{type(error).__name__}: {lines[0] if lines else 'no message'}"
        logger.warning("Ray could not run trial %s: %s", name, message)
        record = {"run_name": name, "error": message, "attempts": retries + 1, "traceback": str(error)}
        atomic_write_text(failure_path(out_dir, name), json.dumps(record, indent=2))
        return TrialOutcome(run_name=name, summary=None, error=message, attempts=retries + 1)
    if archive is not None:
        unpack_trial(archive, out_dir, name)
    return outcome


def unpack_trial(archive: bytes, out_dir: Path, run_name: str) -> None:
    """Move a packed trial folder into ``out_dir``: its run folder, failure record and incomplete runs.

    The archive is extracted next to its destination first, so the run folder appears in
    ``out_dir/runs/`` by one rename, complete with its marker. The run's ``summary.json``
    is rewritten to name ``out_dir/runs`` as its log folder.
    """
    staging = out_dir / f".incoming-{run_name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as packed:
            packed.extractall(staging, filter="data")
        for incomplete in sorted((staging / "incomplete").glob("*")):
            target = out_dir / "incomplete" / incomplete.name
            if target.exists():
                target = target.with_name(f"{target.name}-{uuid.uuid4().hex[:4]}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(incomplete), str(target))
        failure = failure_path(staging, run_name)
        if failure.exists():
            failure_path(out_dir, run_name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(failure, failure_path(out_dir, run_name))
        run_dir = staging / "runs" / run_name
        if run_dir.is_dir():
            _point_log_dir(run_dir, out_dir / "runs")
            destination = out_dir / "runs" / run_name
            set_aside_incomplete(destination, out_dir)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(run_dir, destination)
            failure_path(out_dir, run_name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _point_log_dir(run_dir: Path, log_dir: Path) -> None:
    summary_file = run_dir / "summary.json"
    if not summary_file.exists():
        return
    payload = json.loads(summary_file.read_text())
    payload["config"]["log_dir"] = str(log_dir)
    atomic_write_text(summary_file, json.dumps(payload, indent=2, allow_nan=True))
