"""Run the trials of a comparison in worker processes on this machine (the local backend)."""

from __future__ import annotations

import logging
import multiprocessing
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from rnd_explore.config import TrainConfig
from rnd_explore.trials import TrialOutcome, run_trial

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1_000
"""Worker processes report progress every this many environment steps."""


def _trial_in_worker(config: TrainConfig, out_dir: Path, retries: int, trainer, progress_queue) -> TrialOutcome:
    logging.basicConfig(level=logging.WARNING)
    name = config.resolved_run_name()
    last = [0]

    def report(steps: int) -> None:
        if steps - last[0] >= PROGRESS_EVERY or steps >= config.total_steps:
            progress_queue.put((name, steps))
            last[0] = steps

    return run_trial(config, out_dir, retries, report, trainer)


def run_in_processes(
    configs: Sequence[TrainConfig],
    out_dir: Path,
    workers: int,
    retries: int,
    trainer: Callable,
    finished: Callable[[TrialOutcome], None],
    update: Callable[[str, int], None],
) -> None:
    """Run every trial with ``run_trial`` in one of ``workers`` spawned processes.

    ``finished`` receives each outcome and ``update`` each progress report (run name,
    environment steps), both in this process. On KeyboardInterrupt the worker processes are
    terminated and the interrupt is re-raised.
    """
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    progress_queue = manager.Queue()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        pending: set[Future] = {
            pool.submit(_trial_in_worker, config, out_dir, retries, trainer, progress_queue) for config in configs
        }
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(progress_queue, update)
            for future in done:
                finished(future.result())
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the workers too, but a signal sent to this process
        # alone does not, so the running trials are stopped here.
        children = multiprocessing.active_children()
        logger.warning("interrupted: stopping %d worker processes", len(children))
        for child in children:
            child.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        try:
            manager.shutdown()
        except (OSError, EOFError):
            pass


def _drain(progress_queue, update) -> None:
    while True:
        try:
            name, steps = progress_queue.get_nowait()
        except queue.Empty:
            return
        update(name, steps)
