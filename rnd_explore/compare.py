"""Run several bonuses over several seeds and compare them, locally or on Ray.

Layout of a comparison folder::

    <out_dir>/
      runs/<env>__<bonus>__seed<S>/   one run folder per complete trial (TensorBoard, episodes.csv, ...)
      failures/<run name>.json        trials that raised on every attempt, with the error
      incomplete/                     files of interrupted or failed attempts, kept for inspection
      results.csv, results.json       the comparison table (see ``rnd_explore.results``)
      returns.png                     return against environment steps per bonus

``tensorboard --logdir <out_dir>/runs`` shows every run side by side. Running the same
comparison again into the same folder skips complete trials and runs the others (see
``rnd_explore.trials``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rnd_explore._checks import (
    check_choice,
    check_non_negative_float,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
)
from rnd_explore.bonuses import BONUS_NAMES
from rnd_explore.config import BONUS_SPECIFIC_OPTIONS, TrainConfig
from rnd_explore.local_backend import run_in_processes
from rnd_explore.results import BonusResult, aggregate, plot_returns, write_tables
from rnd_explore.training import RunSummary, train
from rnd_explore.trials import (
    TrialOutcome,
    load_complete_trial,
    read_complete_trial,
    run_trial,
    set_aside_incomplete,
    other_sweep_message,
    settings_differences,
    trial_settings,
)

logger = logging.getLogger(__name__)

BACKENDS = ("local", "ray")


@dataclass
class RayOptions:
    """Settings of the ray backend (see ``rnd_explore.ray_backend.run_on_ray``)."""

    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    shared_storage: bool | None = None
    """Whether Ray workers write into the comparison folder directly. None: yes for the
    private instance, no with an address (workers then send finished trials back)."""

    @property
    def uses_shared_storage(self) -> bool:
        """``shared_storage`` with its default resolved."""
        return self.address is None if self.shared_storage is None else self.shared_storage

    def validate(self) -> RayOptions:
        """Raise ValueError for a non-positive CPU count or a negative GPU share."""
        self.cpus_per_trial = check_positive_float("cpus_per_trial", self.cpus_per_trial)
        self.gpus_per_trial = check_non_negative_float("gpus_per_trial", self.gpus_per_trial)
        return self


@dataclass
class ComparisonResult:
    """Outputs of ``run_comparison``.

    Attributes:
        out_dir: the comparison folder.
        table: one row per bonus with at least one complete or failed trial.
        runs: summaries of the complete trials: the requested ones in grid order, then the
            folder's other trials of the same sweep.
        failures: trials that failed on every attempt.
        reused: complete trials found on disk and not run again, including trials of the
            same sweep that this call did not request.
        plot: the returns plot, or None when no trial completed.
    """

    out_dir: Path
    table: list[BonusResult]
    runs: list[RunSummary]
    failures: list[TrialOutcome]
    reused: int
    plot: Path | None


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


def run_comparison(
    base: TrainConfig,
    bonuses: Sequence[str],
    seeds: Sequence[int],
    out_dir: str | Path,
    workers: int = 1,
    show_progress: bool = True,
    backend: str = "local",
    retries: int = 0,
    ray_options: RayOptions | None = None,
    trainer: Callable[..., RunSummary] = train,
) -> ComparisonResult:
    """Train every (bonus, seed) trial that is not complete yet, then write the table and the plot.

    Args:
        base: settings shared by all runs (its bonus, seed, log_dir and run_name are replaced).
        bonuses: bonus names, in table order.
        seeds: seeds, the same for every bonus.
        out_dir: comparison folder (created). Complete trials already in it are reused
            when their settings match, and an error is raised when they do not.
        workers: local backend: trials trained at the same time, each in its own process
            with ``base.torch_threads`` threads. Ray backend without an address: CPUs of the
            Ray instance started on this machine.
        show_progress: draw a rich progress bar per trial.
        backend: "local" (this machine's processes) or "ray" (one Ray task per trial).
        retries: attempts after a failed one, per trial. A trial that fails every attempt
            is reported in the table and in ``failures/``; the other trials go on.
        ray_options: cluster address and resources per trial of the ray backend.
        trainer: the training function, ``train`` unless a test replaces it.

    KeyboardInterrupt stops the sweep: the table of the trials complete so far is written,
    then the interrupt is re-raised. Rerunning the same comparison finishes the rest.
    """
    workers = check_positive_int("workers", workers)
    retries = check_non_negative_int("retries", retries)
    check_choice("backend", backend, BACKENDS)
    ray_options = (ray_options or RayOptions()).validate()
    if backend == "ray":
        from rnd_explore.ray_backend import import_ray

        import_ray()
        if base.torch_threads > ray_options.cpus_per_trial:
            logger.warning("torch_threads %d exceeds cpus_per_trial %g: trials will compete for CPUs. "
                           "Pass --torch-threads at most --cpus-per-trial.", base.torch_threads, ray_options.cpus_per_trial)
    # Ray workers may run in another working directory, so they get an absolute path.
    out_dir = Path(out_dir).absolute()
    configs = comparison_configs(base, bonuses, seeds, out_dir)
    others = _other_complete_trials(base, configs, out_dir)

    complete: dict[str, RunSummary] = {}
    for config in configs:
        summary = load_complete_trial(out_dir / "runs" / config.resolved_run_name(), config)
        if summary is not None:
            complete[summary.run_name] = summary
    to_run = [config for config in configs if config.resolved_run_name() not in complete]
    if complete:
        logger.info("%s: %d of %d trials are complete and are reused; running %d.",
                    out_dir, len(complete), len(configs), len(to_run))

    failures: list[TrialOutcome] = []

    def record(outcome: TrialOutcome) -> None:
        if outcome.complete:
            complete[outcome.run_name] = outcome.summary
        else:
            failures.append(outcome)
            logger.error("trial %s failed after %d attempts: %s", outcome.run_name, outcome.attempts, outcome.error)

    start = time.perf_counter()
    ray_started = False
    if backend == "ray" and to_run:
        from rnd_explore.ray_backend import connect

        ray_started = connect(ray_options.address, workers, ray_options.cpus_per_trial, ray_options.gpus_per_trial)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for config in to_run:
            set_aside_incomplete(out_dir / "runs" / config.resolved_run_name(), out_dir)
        _run_trials(to_run, out_dir, backend, workers, retries, ray_options, trainer, record, show_progress)
    except KeyboardInterrupt:
        _stop_ray(backend, ray_started)
        # The workers have stopped, so the folders of unfinished trials can leave runs/.
        for config in to_run:
            set_aside_incomplete(out_dir / "runs" / config.resolved_run_name(), out_dir)
        if complete or others:
            _write_outputs(base, bonuses, configs, others, out_dir, complete, failures)
        elif out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    finally:
        _stop_ray(backend, ray_started)
    logger.info("%d trials took %.1f s", len(to_run), time.perf_counter() - start)
    reused = len(configs) - len(to_run) + len(others)
    return _write_outputs(base, bonuses, configs, others, out_dir, complete, failures, reused=reused)


def _stop_ray(backend: str, started_here: bool) -> None:
    if backend == "ray":
        from rnd_explore.ray_backend import disconnect

        disconnect(started_here)


def _other_complete_trials(base: TrainConfig, configs: Sequence[TrainConfig], out_dir: Path) -> list[RunSummary]:
    """Return the complete trials in ``out_dir`` that this command does not request.

    They belong to the same sweep when this command's settings would have built them, for
    example a seed left out now, and then join the table.

    Raises:
        ValueError: when one of them was run with other settings.
    """
    requested = {config.resolved_run_name() for config in configs}
    runs = out_dir / "runs"
    others = []
    for run_dir in sorted(runs.iterdir()) if runs.is_dir() else []:
        payload = read_complete_trial(run_dir) if run_dir.name not in requested else None
        if payload is None:
            continue
        stored = payload["settings"]
        differences = [f"--bonus: {stored.get('bonus')!r} is unknown"]
        if stored.get("bonus") in BONUS_NAMES:
            (expected,) = comparison_configs(base, [stored["bonus"]], [stored["seed"]], out_dir)
            differences = settings_differences(stored, trial_settings(expected))
        if differences:
            raise ValueError(other_sweep_message(run_dir, differences))
        others.append(RunSummary(**payload["summary"]))
    return others


def _write_outputs(
    base: TrainConfig,
    bonuses: Sequence[str],
    configs: Sequence[TrainConfig],
    others: Sequence[RunSummary],
    out_dir: Path,
    complete: dict[str, RunSummary],
    failures: Sequence[TrialOutcome],
    reused: int = 0,
) -> ComparisonResult:
    """Write the table (complete and failed trials) and the plot (complete trials).

    The requested trials come first, then the folder's other complete trials of the same
    sweep. Requested trials that are neither complete nor failed, after an interruption,
    are listed in results.json under "missing_trials".
    """
    names = [config.resolved_run_name() for config in configs]
    summaries = [complete[name] for name in names if name in complete] + list(others)
    bonus_order = list(bonuses) + [name for name in BONUS_NAMES if name not in bonuses and
                                   any(summary.bonus == name for summary in others)]
    bonus_of = {config.resolved_run_name(): config.bonus for config in configs}
    failed_names = {failure.run_name for failure in failures}
    missing = [name for name in names if name not in complete and name not in failed_names]

    table = aggregate(summaries, bonus_order, failed=[bonus_of[failure.run_name] for failure in failures])
    write_tables(out_dir, table, summaries, failures=[dataclasses.asdict(failure) for failure in failures],
                 missing=missing)
    labels = {row.bonus: row.label for row in table}
    run_dirs = {
        labels[bonus]: [out_dir / "runs" / summary.run_name for summary in summaries if summary.bonus == bonus]
        for bonus in bonus_order
        if any(summary.bonus == bonus for summary in summaries)
    }
    plot = None
    if run_dirs:
        title = f"{base.env_description()}, agent {base.agent}"
        plot = plot_returns(out_dir, run_dirs, base.planned_steps, title)
    return ComparisonResult(out_dir=out_dir, table=table, runs=summaries, failures=list(failures),
                            reused=reused, plot=plot)


def _run_trials(configs, out_dir, backend, workers, retries, ray_options, trainer, record, show_progress) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not show_progress) as progress:
        tasks = {
            config.resolved_run_name(): progress.add_task(config.resolved_run_name(), total=config.planned_steps)
            for config in configs
        }

        def update(name: str, steps: int) -> None:
            progress.update(tasks[name], completed=steps)

        def finished(outcome: TrialOutcome) -> None:
            if outcome.complete:
                update(outcome.run_name, outcome.summary.total_steps)
            else:
                progress.update(tasks[outcome.run_name], description=f"{outcome.run_name} [red]failed[/]")
            record(outcome)

        if not configs:
            return
        if backend == "ray":
            from rnd_explore.ray_backend import run_on_ray

            run_on_ray(configs, out_dir, retries, finished, update, cpus_per_trial=ray_options.cpus_per_trial,
                       gpus_per_trial=ray_options.gpus_per_trial, shared_storage=ray_options.uses_shared_storage,
                       trainer=trainer)
        elif workers == 1:
            for config in configs:
                name = config.resolved_run_name()
                finished(run_trial(config, out_dir, retries, lambda steps, name=name: update(name, steps), trainer))
        else:
            run_in_processes(configs, out_dir, workers, retries, trainer, finished, update)
