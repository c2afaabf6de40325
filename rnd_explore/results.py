"""Aggregate finished runs into the comparison table and plot.

Per bonus, over its seeds:

* ``seeds_reached_goal``: seeds with at least one successful episode.
* ``median_episodes_to_first_success``: median over all seeds of the episode index of the
  first success, where a seed that never succeeded counts as infinitely many episodes. It
  is therefore ``None`` ("never") when at most half of the seeds succeeded.
* ``final_mean_return``: mean over seeds of each seed's final return (the mean extrinsic
  return of episodes ending in the last 10% of its steps), with a 95% percentile bootstrap
  confidence interval over seeds.
* ``seeds_failed``: trials of the bonus that raised on every attempt. They are not counted
  in ``seeds`` or in any statistic above.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnd_explore.atomic_io import atomic_write_text
from rnd_explore.plotting import pyplot, save_figure
from rnd_explore.training import RunSummary, load_episodes

BOOTSTRAP_RESAMPLES = 10_000


@dataclass
class BonusResult:
    """One row of the comparison table."""

    bonus: str
    seeds: int
    seeds_reached_goal: int
    median_episodes_to_first_success: float | None
    final_mean_return: float
    final_return_ci_low: float
    final_return_ci_high: float
    members: int = 0
    bonus_options: str = ""
    seeds_failed: int = 0

    @property
    def label(self) -> str:
        """The bonus name with its member count and non-default options, for tables and plots."""
        details = [f"K={self.members}"] if self.members else []
        details += [self.bonus_options] if self.bonus_options else []
        return f"{self.bonus} ({', '.join(details)})" if details else self.bonus


def bootstrap_mean_ci(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values``.

    With one value the interval collapses to that value; NaN values are ignored.
    """
    data = np.asarray([value for value in values if not math.isnan(value)], dtype=np.float64)
    if data.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    resampled = rng.choice(data, size=(BOOTSTRAP_RESAMPLES, data.size), replace=True).mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    return float(low), float(high)


def median_first_success(first_episodes: Sequence[int | None]) -> float | None:
    """Median episode of first success with failures as infinity; None when that median is infinite."""
    values = np.array([math.inf if episode is None else float(episode) for episode in first_episodes])
    if values.size == 0:
        return None
    median = float(np.median(values))
    return None if math.isinf(median) else median


def aggregate(
    summaries: Sequence[RunSummary], bonus_order: Sequence[str], failed: Sequence[str] = ()
) -> list[BonusResult]:
    """Group run summaries by bonus (in ``bonus_order``) into table rows.

    ``failed`` names the bonus of every failed trial; a bonus whose trials all failed gets a
    row with ``seeds`` 0 and NaN statistics.
    """
    rows = []
    for bonus in bonus_order:
        runs = [summary for summary in summaries if summary.bonus == bonus]
        failures = sum(name == bonus for name in failed)
        if not runs and not failures:
            continue
        finals = [run.final_mean_return for run in runs]
        low, high = bootstrap_mean_ci(finals)
        finite = [value for value in finals if not math.isnan(value)]
        rows.append(
            BonusResult(
                bonus=bonus,
                seeds=len(runs),
                seeds_reached_goal=sum(run.reached_goal for run in runs),
                median_episodes_to_first_success=median_first_success([run.first_success_episode for run in runs]),
                final_mean_return=float(np.mean(finite)) if finite else float("nan"),
                final_return_ci_low=low,
                final_return_ci_high=high,
                members=runs[0].members if runs else 0,
                bonus_options=runs[0].bonus_options if runs else "",
                seeds_failed=failures,
            )
        )
    return rows


def write_tables(
    out_dir: Path,
    rows: Sequence[BonusResult],
    summaries: Sequence[RunSummary],
    failures: Sequence[dict] = (),
    missing: Sequence[str] = (),
) -> None:
    """Write ``results.csv`` and ``results.json`` atomically.

    results.json contains the table, every run's summary, the failed trials and the names of
    requested trials that have no result yet (after an interruption).
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(BonusResult.__dataclass_fields__))
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    atomic_write_text(out_dir / "results.csv", buffer.getvalue())
    payload = {
        "table": [asdict(row) for row in rows],
        "runs": [asdict(summary) for summary in summaries],
        "failures": [dict(failure) for failure in failures],
        "missing_trials": list(missing),
    }
    atomic_write_text(out_dir / "results.json", json.dumps(payload, indent=2))


def learning_curve(run_dir: Path, grid: np.ndarray) -> np.ndarray:
    """Mean extrinsic return of the episodes ending in each interval of ``grid`` (carried forward when empty)."""
    episodes = load_episodes(run_dir)
    curve = np.full(len(grid) - 1, np.nan)
    bins = np.digitize(episodes["step"], grid) - 1
    for index in range(len(curve)):
        selected = episodes["extrinsic_return"][bins == index]
        if selected.size:
            curve[index] = selected.mean()
        elif index > 0:
            curve[index] = curve[index - 1]
    return curve


def plot_returns(out_dir: Path, run_dirs: dict[str, list[Path]], total_steps: int, title: str) -> Path:
    """Plot return against environment steps: per label the mean over seeds and a min-max band."""
    plt = pyplot()

    grid = np.linspace(0, total_steps, 51)
    centres = 0.5 * (grid[1:] + grid[:-1])
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for bonus, directories in run_dirs.items():
        curves = np.array([learning_curve(directory, grid) for directory in directories])
        with warnings.catch_warnings():
            # Intervals before a seed's first finished episode are NaN; such columns stay blank.
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(curves, axis=0)
            low, high = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
        axes.plot(centres, mean, label=f"{bonus} ({len(directories)} seeds)")
        axes.fill_between(centres, low, high, alpha=0.2)
    axes.set_xlabel("environment steps")
    axes.set_ylabel("episodic extrinsic return")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    return save_figure(figure, out_dir / "returns.png", dpi=120)


def format_first_success(value: float | None) -> str:
    """Table text for the median episode of first success (a median of two may end in .5)."""
    if value is None:
        return "never"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
