"""Run a verification sweep over widths and write its report (markdown, JSON, PNG plots)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from rnd_explore.atomic_io import atomic_write_text
from rnd_explore.plotting import pyplot, save_figure
from rnd_explore.ntk.claims import VerificationSettings, analytic_reference, make_dataset, measure_width

CLAIMS = {
    "claim1": "RND: 1/2 E[eps^2] vs ensemble variance Sigma_f",
    "claim2": "Bayesian RND: Cov(eps_b) vs NTK-GP posterior",
    "claim3": "Posterior samples: mean + eps_b vs posterior predictive",
}


def log_log_slope(widths: list[int], errors: list[float]) -> float:
    """Least-squares slope of log(error) against log(width) (NaN with fewer than 2 points)."""
    if len(widths) < 2:
        return float("nan")
    values = np.log(np.maximum(np.asarray(errors, dtype=np.float64), 1e-12))
    return float(np.polyfit(np.log(np.asarray(widths, dtype=np.float64)), values, 1)[0])


def run_sweep(settings: VerificationSettings, progress: Callable[[int, float], None] | None = None) -> dict:
    """Measure every width of ``settings``; return the report as a JSON-serialisable dict.

    Each width is measured ``settings.repeats`` times with different network seeds. Its entry
    is the first repeat's full measurement plus ``repeats`` (every repeat's claim results) and
    ``aggregate`` (mean and standard error of each statistic). ``progress(width, seconds)``
    is called after each width.
    """
    settings.validate()
    data = make_dataset(settings)
    reference = analytic_reference(data, settings.spec)
    measurements = []
    for width in settings.widths:
        start = time.perf_counter()
        repeats = [
            measure_width(width, settings, data, reference, network_seed=settings.seed + 100 * index)
            for index in range(settings.repeats)
        ]
        measurement = dict(repeats[0])
        measurement["repeats"] = [{key: run[key] for key in (*CLAIMS, "converged", "training")} for run in repeats]
        measurement["aggregate"] = _aggregate(repeats)
        measurement["converged"] = all(run["converged"] for run in repeats)
        measurements.append(measurement)
        if progress is not None:
            progress(width, time.perf_counter() - start)
    widths = [measurement["width"] for measurement in measurements]
    slopes = {}
    for claim in CLAIMS:
        key = "mean_relative_error" if claim == "claim3" else "variance_ratio"
        values = [measurement["aggregate"][claim][key]["mean"] for measurement in measurements]
        bias = [abs(value - 1.0) if key == "variance_ratio" else value for value in values]
        frobenius = [measurement["aggregate"][claim]["relative_frobenius_error"]["mean"] for measurement in measurements]
        slopes[claim] = {"bias": log_log_slope(widths, bias), "relative_frobenius_error": log_log_slope(widths, frobenius)}
    return {
        "settings": {**asdict(settings), "widths": list(settings.widths)},
        "measurements": measurements,
        "slopes": slopes,
        "torch": torch.__version__,
    }


def _aggregate(repeats: list[dict]) -> dict:
    """Mean and standard error over repeats of every numeric statistic of every claim.

    With one repeat the standard error is the Monte-Carlo estimate (``ratio_noise``,
    ``frobenius_noise``, ``mean_noise``) where one exists, else NaN.
    """
    aggregate: dict = {}
    for claim in CLAIMS:
        entries: dict[str, list[float]] = {}
        for run in repeats:
            result = run[claim]
            for key in ("variance_ratio", "relative_frobenius_error", "ratio_noise", "frobenius_noise"):
                entries.setdefault(key, []).append(result[key])
            for key, value in result["extra"].items():
                entries.setdefault(key, []).append(value)
        single_run_noise = {"variance_ratio": "ratio_noise", "relative_frobenius_error": "frobenius_noise",
                            "mean_relative_error": "mean_noise"}
        aggregate[claim] = {}
        for key, values in entries.items():
            array = np.asarray(values, dtype=np.float64)
            if len(array) > 1:
                error = float(array.std(ddof=1) / math.sqrt(len(array)))
            elif key in single_run_noise and single_run_noise[key] in entries:
                error = float(entries[single_run_noise[key]][0])
            else:
                error = float("nan")
            aggregate[claim][key] = {"mean": float(array.mean()), "se": error}
    return aggregate


def markdown_report(report: dict) -> str:
    """Format a sweep report as a markdown page."""
    settings = report["settings"]
    repeats = settings["repeats"]
    spread = (f"mean +- standard error over {repeats} sets of networks" if repeats > 1
              else "one set of networks; +- is the expected Monte-Carlo std for Gaussian samples")
    lines = [
        "# NTK verification report",
        "",
        f"Networks: {settings['depth'] - 1} hidden ReLU layer(s), NTK parameterisation, s_w^2 = "
        f"{settings['weight_variance']}, s_b^2 = {settings['bias_variance']}, {settings['heads']} heads, "
        f"{settings['members']} members per model, float64, plain full-batch gradient descent until every "
        f"residual is below {settings['tolerance']:g} (at most {settings['max_steps']} steps). Data: "
        f"{settings['dataset']}, {settings['train_points']} training and {settings['test_points']} held-out "
        "test points" + (f" in R^{settings['dimension']}." if settings["dataset"] == "gaussian" else " in R.")
        + f" Values: {spread}.",
        "",
    ]

    unconverged = [m["width"] for m in report["measurements"] if not m["converged"]]
    if unconverged:
        lines += [f"**Warning: training did not converge at widths {unconverged}** (see `training` in "
                  "report.json); their statistics describe unconverged networks and are not evidence for "
                  "or against the claims. Raise --max-steps.", ""]

    lines += [
        "| width | claim 1: 1/2 E[eps^2] / Sigma_f | ensemble var / Sigma_f | claim 2: Bayes-RND var / NTK-GP posterior "
        "| claim 2 rel. Frobenius error | claim 3: mean error |",
        "|---|---|---|---|---|---|",
    ]
    for measurement in report["measurements"]:
        aggregate = measurement["aggregate"]
        lines.append(
            f"| {measurement['width']} | {_pm(aggregate['claim1']['variance_ratio'])} | "
            f"{_pm(aggregate['claim1']['ensemble_variance_ratio'])} | {_pm(aggregate['claim2']['variance_ratio'])} | "
            f"{_pm(aggregate['claim2']['relative_frobenius_error'])} | "
            f"{_pm(aggregate['claim3']['mean_relative_error'])} |"
        )

    lines += ["", "Shape tests and controls (mean over repeats):", "",
              "| width | chi2 KS (crit. 5%) | Gaussian KS (crit. 5%) | NNGP-posterior control error | "
              "NNGP var ratio | 2 Sigma_f control error | claim 1 rel. Frobenius error |",
              "|---|---|---|---|---|---|---|"]
    for measurement in report["measurements"]:
        one, two = measurement["aggregate"]["claim1"], measurement["aggregate"]["claim2"]
        lines.append(
            f"| {measurement['width']} | {one['chi2_ks_distance']['mean']:.3f} ({one['chi2_ks_critical_5pct']['mean']:.3f}) | "
            f"{two['gaussian_ks_distance']['mean']:.3f} ({two['gaussian_ks_critical_5pct']['mean']:.3f}) | "
            f"{two['control_nngp_posterior_error']['mean']:.2f} | {two['control_nngp_posterior_variance_ratio']['mean']:.2f} | "
            f"{two['control_two_sigma_f_error']['mean']:.2f} | {_pm(one['relative_frobenius_error'])} |"
        )

    lines += ["", "Log-log slope against width (claims 1 and 2: of |variance ratio - 1|; claim 3: of the mean error):",
              "", "| claim | bias slope | Frobenius slope |", "|---|---|---|"]
    for claim, slopes in report["slopes"].items():
        lines.append(f"| {claim}: {CLAIMS[claim]} | {slopes['bias']:.2f} | {slopes['relative_frobenius_error']:.2f} |")

    lines += [
        "",
        "Reading the tables: a variance ratio is 1 in the infinite-width limit; a deviation is resolved",
        "only when it exceeds about three times its +- value. The Frobenius errors of the covariances",
        "are dominated by Monte-Carlo noise at these sample sizes. Claim 3's draws are claim 2's errors",
        "shifted by the mean estimate, so its own test is the error of their mean against the analytic",
        "posterior mean. The controls compare the Bayesian-RND errors with the NNGP posterior and with",
        "2 Sigma_f and must stay far from zero. The KS columns give the largest distance over test points",
        "(one independent sample per member) against a Bonferroni-corrected 5% critical value; the scale",
        "is divided out, so they test the shape only.",
    ]
    return "\n".join(lines) + "\n"


def _pm(entry: dict) -> str:
    return f"{entry['mean']:.3f} +- {entry['se']:.3f}"


def plot_report(report: dict, out_dir: Path) -> list[Path]:
    """Write ``errors_vs_width.png`` and ``variances.png`` (and ``posterior_1d.png`` for 1-D data).

    Returns the paths written.
    """
    plt = pyplot()

    measurements = report["measurements"]
    widths = [measurement["width"] for measurement in measurements]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for axis, (claim, title) in zip(axes, CLAIMS.items()):
        aggregate = [measurement["aggregate"][claim] for measurement in measurements]
        if claim == "claim3":
            bias = [entry["mean_relative_error"]["mean"] for entry in aggregate]
            noise = [entry["mean_noise"]["mean"] for entry in aggregate]
            bias_label, noise_label = "mean error vs posterior mean", "its expected Monte-Carlo size"
        else:
            bias = [abs(entry["variance_ratio"]["mean"] - 1.0) for entry in aggregate]
            noise = [entry["variance_ratio"]["se"] for entry in aggregate]
            bias_label, noise_label = "|variance ratio - 1|", "its std (noise)"
        frobenius = [entry["relative_frobenius_error"]["mean"] for entry in aggregate]
        frobenius_noise = [entry["frobenius_noise"]["mean"] for entry in aggregate]
        axis.loglog(widths, frobenius, "o-", color="tab:blue", label="rel. Frobenius error")
        axis.loglog(widths, frobenius_noise, ":", color="tab:blue", label="its expected noise")
        axis.loglog(widths, np.maximum(bias, 1e-4), "s-", color="tab:orange", label=bias_label)
        axis.loglog(widths, noise, "--", color="tab:orange", label=noise_label)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("width")
        axis.set_xticks(widths, [str(width) for width in widths])
        axis.minorticks_off()
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    axes[0].set_ylabel("error")
    errors_path = save_figure(figure, out_dir / "errors_vs_width.png")

    largest = measurements[-1]["variances"]
    figure, axes = plt.subplots(1, 2, figsize=(9, 4))
    pairs = (
        ("ensemble_predicted", ("rnd_half_mean_square", "ensemble_empirical"), "claim 1: Sigma_f"),
        ("posterior_predicted", ("bayes_rnd_mean_square",), "claim 2: NTK-GP posterior variance"),
    )
    for axis, (predicted_key, empirical_keys, title) in zip(axes, pairs):
        predicted = np.asarray(largest[predicted_key])
        for key in empirical_keys:
            axis.plot(predicted, largest[key], "o", label=key.replace("_", " "))
        limit = [0, max(predicted.max(), max(max(largest[key]) for key in empirical_keys)) * 1.05]
        axis.plot(limit, limit, "k--", lw=1, label="y = x")
        axis.set_xlabel("analytic variance")
        axis.set_ylabel("empirical variance")
        axis.set_title(f"{title} (width {measurements[-1]['width']})", fontsize=9)
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    variances_path = save_figure(figure, out_dir / "variances.png")
    paths = [errors_path, variances_path]
    if report["settings"]["dataset"] == "sine1d":
        paths.append(_plot_posterior_1d(report, out_dir))
    return paths


def _plot_posterior_1d(report: dict, out_dir: Path) -> Path:
    """Posterior mean, a 2-sigma band and Bayesian-RND draws over the 1-D test grid (largest width)."""
    from rnd_explore.ntk.claims import VerificationSettings, analytic_reference, make_dataset

    settings = VerificationSettings(**{**report["settings"], "widths": tuple(report["settings"]["widths"])})
    data = make_dataset(settings)
    reference = analytic_reference(data, settings.spec)
    grid = data.test[:, 0].numpy()
    mean = reference.posterior_mean.numpy()
    band = 2 * np.sqrt(np.clip(reference.ntk_posterior.diagonal().numpy(), 0, None))
    largest = report["measurements"][-1]
    figure, axis = pyplot().subplots(figsize=(7, 4))
    axis.fill_between(grid, mean - band, mean + band, alpha=0.2, label="analytic mean +- 2 sd")
    axis.plot(grid, mean, "k-", label="analytic posterior mean")
    for index, draw in enumerate(largest["posterior_draws"]):
        axis.plot(grid, draw, lw=1, alpha=0.8, label="Bayesian-RND draws" if index == 0 else None)
    axis.plot(data.train[:, 0].numpy(), data.labels.numpy(), "ro", label="training points")
    axis.set_xlabel("x")
    axis.set_ylabel("f(x)")
    axis.set_title(f"Posterior samples at width {largest['width']}", fontsize=9)
    axis.legend(fontsize=8)
    return save_figure(figure, out_dir / "posterior_1d.png")


def check_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` (or accept an existing folder) before a sweep starts; raise ValueError otherwise."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out-dir {out_dir} exists and is not a folder. Pass a folder path.")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def write_report(report: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and the plots to ``out_dir``; return the paths."""
    out_dir = check_out_dir(out_dir)
    paths = {
        "markdown": atomic_write_text(out_dir / "report.md", markdown_report(report)),
        "json": atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2, allow_nan=True)),
    }
    plots = plot_report(report, out_dir)
    paths["errors_plot"], paths["variances_plot"] = plots[0], plots[1]
    if len(plots) > 2:
        paths["posterior_plot"] = plots[2]
    return paths


def is_finite_report(report: dict) -> bool:
    """True when every variance ratio in the report is a finite number."""
    return all(
        math.isfinite(measurement[claim]["variance_ratio"]) for measurement in report["measurements"] for claim in CLAIMS
    )
