"""Comparison statistics: bootstrap interval, median episode of first success, aggregation."""

import math

import numpy as np
import pytest

from rnd_explore.results import aggregate, bootstrap_mean_ci, median_first_success
from rnd_explore.training import RunSummary, final_mean_return


def summary(bonus, seed, first_episode, final):
    return RunSummary(
        run_name=f"{bonus}{seed}", env_id="x", bonus=bonus, seed=seed, total_steps=100, episodes=10,
        successes=0 if first_episode is None else 1, first_success_episode=first_episode,
        first_success_step=None, final_mean_return=final, wall_seconds=1.0, steps_per_second=100.0, device="cpu",
    )


def test_bootstrap_interval_width():
    rng = np.random.default_rng(0)
    small = rng.normal(1.0, 1.0, 5)
    large = rng.normal(1.0, 1.0, 500)

    small_low, small_high = bootstrap_mean_ci(small)
    large_low, large_high = bootstrap_mean_ci(large)

    assert small_low < small.mean() < small_high
    assert large_low < large.mean() < large_high
    # Width of a 95% interval of a mean is about 2 * 1.96 * sigma / sqrt(n) = 0.175 at n = 500.
    assert large_high - large_low == pytest.approx(2 * 1.96 / math.sqrt(500), rel=0.15)
    assert large_high - large_low < small_high - small_low


def test_bootstrap_interval_of_one_value_collapses():
    assert bootstrap_mean_ci([0.7]) == (pytest.approx(0.7), pytest.approx(0.7))


def test_labels_and_median_format():
    from rnd_explore.results import BonusResult, format_first_success

    row = BonusResult("bayes-rnd", 3, 3, 620.5, 0.9, 0.8, 1.0, members=1, bonus_options="exploration=thompson")

    assert row.label == "bayes-rnd (K=1, exploration=thompson)"
    assert BonusResult("none", 3, 0, None, 0.0, 0.0, 0.0).label == "none"
    assert format_first_success(620.5) == "620.5"
    assert format_first_success(576.0) == "576"


def test_median_first_success_counts_failures_as_infinite():
    assert median_first_success([10, 30, None]) == 30.0
    assert median_first_success([10, None, None]) is None
    assert median_first_success([10, 20, 30, 40]) == 25.0


def test_aggregate_rows_per_bonus():
    runs = [summary("none", 0, None, 0.0), summary("none", 1, None, 0.0),
            summary("rnd", 0, 100, 0.9), summary("rnd", 1, 300, 1.0)]

    rows = aggregate(runs, ["none", "rnd"])

    assert [row.bonus for row in rows] == ["none", "rnd"]
    assert (rows[0].seeds_reached_goal, rows[1].seeds_reached_goal) == (0, 2)
    assert rows[0].median_episodes_to_first_success is None
    assert rows[1].median_episodes_to_first_success == 200.0
    assert rows[1].final_mean_return == pytest.approx(0.95)
    assert rows[1].final_return_ci_low >= 0.9
    assert rows[1].final_return_ci_high <= 1.0


def test_final_mean_return_last_tenth():
    steps = np.array([10, 50, 91, 95, 100])
    returns = np.array([0.0, 0.0, 1.0, 0.5, 0.0])

    assert final_mean_return(steps, returns, total_steps=100) == pytest.approx(0.5)
    assert math.isnan(final_mean_return(np.array([]), np.array([]), 100))
