"""The ``rnd-explore verify-ntk`` subcommand."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_verify_parser(commands) -> None:
    """Register ``verify-ntk`` and its options on the subcommand collection ``commands``."""
    from rnd_explore.ntk.claims import DATASETS, VerificationSettings

    defaults = VerificationSettings()
    parser = commands.add_parser(
        "verify-ntk",
        help="measure the RND / ensemble / Bayesian equivalences against analytic NTK kernels",
        description=(
            "Train wide networks by full-batch gradient descent and compare RND errors, ensemble variances "
            "and Bayesian-RND posterior samples with analytic NNGP/NTK predictions, for each width. Writes "
            "report.md, report.json, errors_vs_width.png and variances.png (and posterior_1d.png for "
            "--dataset sine1d) to the output folder."
        ),
    )
    parser.add_argument("--widths", type=int, nargs="+", default=list(defaults.widths), metavar="N",
                        help="hidden layer widths to measure (default: %(default)s)")
    parser.add_argument("--depth", type=int, default=defaults.depth,
                        help="weight layers, 2 = one hidden layer (default: %(default)s)")
    parser.add_argument("--members", type=int, default=defaults.members,
                        help="independent networks per model, M (default: %(default)s)")
    parser.add_argument("--heads", type=int, default=defaults.heads,
                        help="outputs per network, D; samples per test point are M x D (default: %(default)s)")
    parser.add_argument("--weight-variance", type=float, default=defaults.weight_variance,
                        help="s_w^2 (default: %(default)s)")
    parser.add_argument("--bias-variance", type=float, default=defaults.bias_variance,
                        help="s_b^2 (default: %(default)s)")
    parser.add_argument("--dataset", choices=DATASETS, default=defaults.dataset,
                        help="gaussian: points in R^dimension (well conditioned); sine1d: 1-D points, for "
                        "pictures only, since their ill-conditioned kernel amplifies finite-width error "
                        "(default: %(default)s)")
    parser.add_argument("--train-points", type=int, default=defaults.train_points,
                        help="training inputs (default: %(default)s)")
    parser.add_argument("--test-points", type=int, default=defaults.test_points,
                        help="held-out test inputs (default: %(default)s)")
    parser.add_argument("--dimension", type=int, default=defaults.dimension,
                        help="input dimension of the gaussian data set (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of data and networks (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=defaults.repeats,
                        help="independent sets of networks per width; the report gives mean +- standard error "
                        "over them (default: %(default)s)")
    parser.add_argument("--tolerance", type=float, default=defaults.tolerance,
                        help="training stops when every absolute residual is below it (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=defaults.max_steps,
                        help="gradient-descent steps at most per model (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda (default: %(default)s)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    parser.add_argument("--out-dir", default=None, help="report folder (default: runs/verify-ntk-<date>-<time>)")


def run_verify(arguments: argparse.Namespace) -> int:
    """Run the sweep described by ``arguments`` and print where the report went."""
    import torch
    from rich.console import Console
    from rich.progress import Progress

    from rnd_explore._checks import check_positive_int
    from rnd_explore.device import resolve_device
    from rnd_explore.ntk.claims import VerificationSettings
    from rnd_explore.ntk.report import check_out_dir, run_sweep, write_report

    torch.set_num_threads(check_positive_int("torch_threads", arguments.torch_threads))
    settings = VerificationSettings(
        widths=tuple(arguments.widths), depth=arguments.depth, members=arguments.members, heads=arguments.heads,
        weight_variance=arguments.weight_variance, bias_variance=arguments.bias_variance, dataset=arguments.dataset,
        train_points=arguments.train_points, test_points=arguments.test_points, dimension=arguments.dimension,
        seed=arguments.seed, tolerance=arguments.tolerance, max_steps=arguments.max_steps,
        repeats=arguments.repeats, device=str(resolve_device(arguments.device)),
    ).validate()
    out_dir = check_out_dir(arguments.out_dir or Path("runs") / f"verify-ntk-{time.strftime('%Y%m%d-%H%M%S')}")
    console = Console()
    with Progress(console=console) as progress:
        task = progress.add_task("widths", total=len(settings.widths))

        def report_width(width: int, seconds: float) -> None:
            progress.console.print(f"width {width}: {seconds:.1f} s")
            progress.advance(task)

        report = run_sweep(settings, progress=report_width)
    paths = write_report(report, out_dir)
    for measurement in report["measurements"]:
        aggregate = measurement["aggregate"]
        console.print(
            f"width {measurement['width']:>5}: claim1 ratio {aggregate['claim1']['variance_ratio']['mean']:.3f}  "
            f"ensemble ratio {aggregate['claim1']['ensemble_variance_ratio']['mean']:.3f}  "
            f"claim2 ratio {aggregate['claim2']['variance_ratio']['mean']:.3f}  "
            f"claim3 mean error {aggregate['claim3']['mean_relative_error']['mean']:.3f}"
            + ("" if measurement["converged"] else "  [red]NOT CONVERGED: raise --max-steps[/]")
        )
    plots = ", ".join(str(path) for key, path in paths.items() if key.endswith("plot"))
    console.print(f"Report: {paths['markdown']} (and report.json); plots: {plots}")
    return 0
