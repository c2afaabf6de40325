"""Run several bonuses over several seeds and compare them.

Layout of a comparison folder::

    <out_dir>/
      runs/<env>__<bonus>__seed<S>/   one run folder each (TensorBoard, episodes.csv, ...)
      results.csv, results.json       the comparison table (see ``rnd_explore.results``)
      returns.png                     return against environment steps per bonus

``tensorboard --logdir <out_dir>/runs`` shows every run side by side.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import queue
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from rnd_explore._checks import check_choice, check_positive_int
from rnd_explore.bonuses import BONUS_NAMES
from rnd_explore.config import BONUS_SPECIFIC_OPTIONS, TrainConfig
from rnd_explore.results import BonusResult, aggregate, plot_returns, write_tables
from rnd_explore.training import RunSummary, check_run_folder_free, train

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1_000
"""Workers report progress every this many environment steps."""


@dataclass
class ComparisonResult:
    """Outputs of ``run_comparison``."""

    out_dir: Path
    table: list[BonusResult]
    runs: list[RunSummary]
    plot: Path


def comparison_configs(base: TrainConfig, bonuses: Sequence[str], seeds: Sequence[int], out_dir: Path) -> list[TrainConfig]:
    """Build one validated config per (bonus, seed), each logging to ``out_dir/runs/<run name>``."""
    if not bonuses:
        raise ValueError("bonuses must name at least one bonus, for example: none rnd.")
    if not seeds:
        raise ValueError("seeds must contain at least one seed.")
    for bonus in bonuses:
        check_choice("bonus", bonus, BONUS_NAMES)
    if len(set(bonuses)) != len(bonuses) or len(set(seeds)) != len(seeds):
        raise ValueError(f"bonuses {list(bonuses)} and seeds {list(seeds)} must not repeat entries.")
    configs = []
    for bonus in bonuses:
        specific = {name: default for name, owner, default in BONUS_SPECIFIC_OPTIONS if owner != bonus}
        if bonus == "none":
            specific["equivalence_probe"] = 0
        for seed in seeds:
            config = dataclasses.replace(
                base, bonus=bonus, seed=seed, log_dir=str(out_dir / "runs"), run_name=None, **specific
            )
            configs.append(config.validate())
    return configs


def _train_in_worker(config: TrainConfig, progress_queue) -> RunSummary:
    logging.basicConfig(level=logging.WARNING)
    name = config.resolved_run_name()
    last = [0]

    def report(steps: int) -> None:
        if steps - last[0] >= PROGRESS_EVERY or steps >= config.total_steps:
            progress_queue.put((name, steps))
            last[0] = steps

    return train(config, progress=report)


def run_comparison(
    base: TrainConfig,
    bonuses: Sequence[str],
    seeds: Sequence[int],
    out_dir: str | Path,
    workers: int = 1,
    show_progress: bool = True,
) -> ComparisonResult:
    """Train every (bonus, seed) pair, then write the table and the plot.

    Args:
        base: settings shared by all runs (its bonus, seed, log_dir and run_name are replaced).
        bonuses: bonus names, in table order.
        seeds: seeds, the same for every bonus.
        out_dir: comparison folder (created).
        workers: runs trained at the same time, each in its own process with
            ``base.torch_threads`` threads.
        show_progress: draw a rich progress bar per run.
    """
    workers = check_positive_int("workers", workers)
    out_dir = Path(out_dir)
    configs = comparison_configs(base, bonuses, seeds, out_dir)
    for config in configs:
        check_run_folder_free(out_dir / "runs" / config.resolved_run_name(), hint="Pass another --out-dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summaries = _run_all(configs, workers, show_progress)
    logger.info("comparison of %d runs took %.1f s", len(configs), time.perf_counter() - start)

    order = {config.resolved_run_name(): index for index, config in enumerate(configs)}
    summaries.sort(key=lambda summary: order[summary.run_name])
    table = aggregate(summaries, bonuses)
    write_tables(out_dir, table, summaries)
    labels = {row.bonus: row.label for row in table}
    run_dirs = {
        labels[bonus]: [out_dir / "runs" / config.resolved_run_name() for config in configs if config.bonus == bonus]
        for bonus in bonuses
    }
    title = f"{base.env_description()}, agent {base.agent}"
    plot = plot_returns(out_dir, run_dirs, base.planned_steps, title)
    return ComparisonResult(out_dir=out_dir, table=table, runs=summaries, plot=plot)


def _run_all(configs: list[TrainConfig], workers: int, show_progress: bool) -> list[RunSummary]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not show_progress) as progress:
        tasks = {
            config.resolved_run_name(): progress.add_task(config.resolved_run_name(), total=config.planned_steps)
            for config in configs
        }
        if workers == 1:
            summaries = []
            for config in configs:
                task = tasks[config.resolved_run_name()]
                summaries.append(train(config, progress=lambda steps, task=task: progress.update(task, completed=steps)))
            return summaries
        return _run_in_processes(configs, workers, progress, tasks)


def _run_in_processes(configs, workers, progress, tasks) -> list[RunSummary]:
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    progress_queue = manager.Queue()
    summaries = []
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending: set[Future] = {pool.submit(_train_in_worker, config, progress_queue) for config in configs}
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(progress_queue, progress, tasks)
                for future in done:
                    summary = future.result()
                    progress.update(tasks[summary.run_name], completed=summary.total_steps)
                    summaries.append(summary)
    finally:
        manager.shutdown()
    return summaries


def _drain(progress_queue, progress, tasks) -> None:
    while True:
        try:
            name, steps = progress_queue.get_nowait()
        except queue.Empty:
            return
        progress.update(tasks[name], completed=steps)
