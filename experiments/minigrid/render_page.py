"""Turn the MiniGrid comparison folders into the results page's table and figures.

Reads ``runs/<Env>__<agent>[-<variant>]/`` (one ``rnd-explore compare`` folder per
environment and agent setting, see ``run_all.sh``) and writes, next to this file:

* ``returns_<Env>.png``: return against environment steps, one panel per agent, one curve
  per bonus: the mean over seeds with a 95% percentile-bootstrap band over seeds.
* ``results/<folder>.csv`` and ``.json``: copies of each comparison's results files, and
  ``results/curves.csv``: every seed's return curve (the mean return per interval), from
  which the figures and the threshold column are computed.
* ``table.md``: per environment, agent and bonus, the seeds that reached the goal and the
  final return with its 95% bootstrap interval. Its last column gives the steps until a
  seed's return curve first reached the environment's threshold (``THRESHOLDS``), as the
  median over the seeds that reached it, with their count.

Usage: ``python render_page.py`` from this folder, after ``run_all.sh``.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np

from rnd_explore.plotting import pyplot, save_figure
from rnd_explore.results import bootstrap_mean_ci, learning_curve

HERE = Path(__file__).parent
BINS = 50
BONUSES = ("none", "rnd", "ensemble", "bayes-rnd")
AGENTS = ("sb3-ppo", "ppo-dual")
"""Panel order. A folder ``<Env>__<agent>-<variant>`` (other settings) follows its agent."""
THRESHOLDS = {"DoorKey-8x8": 0.9, "MultiRoom-N2-S4": 0.75, "MultiRoom-N4-S5": 0.5}
"""Return a seed's curve must reach. MultiRoom-N2-S4 pays 1 - 0.9 * steps / 40; a
breadth-first search over 300 layouts gives shortest paths of 3-11 steps (median 7), so an
optimal policy averages 0.841 and 0.9 is out of reach. Its threshold is 0.75, about 90% of
that optimum."""


def load_comparison(folder: Path) -> tuple[dict, int]:
    """Return the comparison's results.json and its planned steps per run."""
    results = json.loads((folder / "results.json").read_text())
    steps = max(run["total_steps"] for run in results["runs"])
    return results, steps


def curves_for(folder: Path, bonus: str, runs: list[dict], grid: np.ndarray) -> np.ndarray:
    """Per-seed return curves ``[seeds, BINS]`` of one bonus."""
    names = [run["run_name"] for run in runs if run["bonus"] == bonus]
    return np.array([learning_curve(folder / "runs" / name, grid) for name in names])


def steps_to_threshold(curve: np.ndarray, centres: np.ndarray, threshold: float) -> float:
    """First bin centre where the curve reaches ``threshold``; inf when it never does."""
    reached = np.nonzero(np.nan_to_num(curve, nan=-np.inf) >= threshold)[0]
    return float(centres[reached[0]]) if reached.size else math.inf


def band(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% bootstrap interval over seeds, per bin (NaN before any episode ended)."""
    mean, low, high = (np.full(curves.shape[1], np.nan) for _ in range(3))
    for column in range(curves.shape[1]):
        values = curves[:, column][~np.isnan(curves[:, column])]
        if values.size:
            mean[column] = values.mean()
            low[column], high[column] = bootstrap_mean_ci(values)
    return mean, low, high


def format_steps(per_seed: list[float]) -> str:
    """Median over the seeds that reached the threshold, and how many of all seeds did."""
    reached = [value for value in per_seed if math.isfinite(value)]
    if not reached:
        return f"never (0/{len(per_seed)})"
    return f"{float(np.median(reached)) / 1000:.0f}k ({len(reached)}/{len(per_seed)})"


def _agent_order(folder: Path) -> tuple[int, str]:
    label = folder.name.split("__", 1)[1]
    rank = next((index for index, agent in enumerate(AGENTS) if label.startswith(agent)), len(AGENTS))
    return rank, label


def main() -> None:
    plt = pyplot()
    (HERE / "results").mkdir(exist_ok=True)
    curve_rows = []
    lines = ["| environment | agent | bonus | seeds reaching the goal | final return [95% CI] | steps to threshold (seeds reaching it) |",
             "|---|---|---|---|---|---|"]
    environments = sorted({folder.name.split("__")[0] for folder in (HERE / "runs").iterdir() if folder.is_dir()})
    for environment in environments:
        threshold = THRESHOLDS[environment]
        folders = [
            (folder.name.split("__", 1)[1], folder)
            for folder in sorted((HERE / "runs").glob(f"{environment}__*"), key=_agent_order)
            if (folder / "results.json").exists()
        ]
        if not folders:
            continue
        figure, axes_row = plt.subplots(1, len(folders), figsize=(6.2 * len(folders), 4.0), squeeze=False)
        for axes, (agent, folder) in zip(axes_row[0], folders):
            for name in ("results.csv", "results.json"):
                shutil.copyfile(folder / name, HERE / "results" / f"{folder.name}.{name.split('.')[1]}")
            results, total = load_comparison(folder)
            grid = np.linspace(0, total, BINS + 1)
            centres = 0.5 * (grid[1:] + grid[:-1])
            rows = {row["bonus"]: row for row in results["table"]}
            for bonus in BONUSES:
                if bonus not in rows:
                    continue
                curves = curves_for(folder, bonus, results["runs"], grid)
                seeds = [run["seed"] for run in results["runs"] if run["bonus"] == bonus]
                for seed, curve in zip(seeds, curves):
                    curve_rows += [[environment, agent, bonus, seed, int(step), value] for step, value in zip(centres, curve)]
                mean, low, high = band(curves)
                axes.plot(centres, mean, label=f"{bonus} ({len(curves)} seeds)")
                axes.fill_between(centres, low, high, alpha=0.2)
                row = rows[bonus]
                interval = f"{row['final_mean_return']:.3f} [{row['final_return_ci_low']:.3f}, {row['final_return_ci_high']:.3f}]"
                per_seed = [steps_to_threshold(curve, centres, threshold) for curve in curves]
                lines.append(f"| {environment} | {agent} | {bonus} | {row['seeds_reached_goal']}/{row['seeds']} | "
                             f"{interval} | {format_steps(per_seed)} |")
            axes.axhline(threshold, color="grey", linestyle=":", linewidth=1)
            axes.set_title(f"{environment}, {agent}")
            axes.set_xlabel("environment steps")
            axes.set_ylabel("episodic return")
            axes.set_ylim(-0.02, 1.0)
            axes.grid(alpha=0.3)
            axes.legend(loc="upper left", fontsize=8)
        save_figure(figure, HERE / f"returns_{environment}.png", dpi=110)
    with open(HERE / "results" / "curves.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["environment", "agent", "bonus", "seed", "interval_centre_step", "mean_return"])
        writer.writerows(curve_rows)
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
