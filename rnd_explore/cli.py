"""The ``rnd-explore`` command line: ``train`` one agent, ``compare`` bonuses over seeds,
``verify-ntk`` the equivalences behind the bonuses."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rnd_explore.bonuses import BONUS_NAMES
from rnd_explore.cli_verify import add_verify_parser, run_verify
from rnd_explore.compare import BACKENDS
from rnd_explore.config import add_config_arguments, config_from_arguments
from rnd_explore.ray_backend import RayNotInstalledError

DEFAULT_COMPARE_BONUSES = ("none", "rnd", "ensemble", "bayes-rnd")
DEFAULT_COMPARE_SEEDS = (0, 1, 2)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with its ``train`` and ``compare`` subcommands."""
    parser = argparse.ArgumentParser(
        prog="rnd-explore",
        description="Exploration bonuses (random network distillation) for PPO on sparse-reward tasks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train_parser = commands.add_parser(
        "train",
        help="train one PPO agent with or without a bonus",
        description="Train one PPO agent (SB3) with or without a novelty bonus and log to TensorBoard.",
    )
    add_config_arguments(train_parser)

    compare_parser = commands.add_parser(
        "compare",
        help="compare bonuses over several seeds (table, CSV/JSON and plot)",
        description=(
            "Train every bonus with every seed, then write results.csv, results.json and returns.png "
            "to the output folder. The defaults compare PPO without a bonus and with each of rnd, ensemble "
            "and bayes-rnd on DeepSea 16x16, seeds 0-2. Bonus-specific options apply only to their bonus. "
            "Rerunning a command with the same --out-dir reuses its complete trials and runs the rest."
        ),
    )
    compare_parser.add_argument(
        "--bonuses", nargs="+", default=list(DEFAULT_COMPARE_BONUSES), metavar="NAME",
        help=f"bonuses to compare, from {', '.join(BONUS_NAMES)} (default: %(default)s)",
    )
    compare_parser.add_argument(
        "--seeds", nargs="+", type=int, default=list(DEFAULT_COMPARE_SEEDS), metavar="S",
        help="seeds, each run with every bonus (default: %(default)s)",
    )
    compare_parser.add_argument(
        "--out-dir", default=None,
        help="comparison folder; pass the folder of an earlier sweep to continue it "
        "(default: runs/compare-<env>-<date>-<time>)",
    )
    compare_parser.add_argument(
        "--workers", type=int, default=2,
        help="runs trained at the same time, one process each; with --backend ray and no --address, "
        "the CPUs of the Ray instance started on this machine (default: %(default)s)",
    )
    compare_parser.add_argument(
        "--backend", choices=BACKENDS, default="local",
        help="local: processes on this machine; ray: one Ray task per trial, on this machine or on the "
        'cluster at --address (needs pip install "rnd-explore[ray]") (default: %(default)s)',
    )
    compare_parser.add_argument(
        "--address", default=None,
        help="ray backend: address of a running Ray cluster, for example auto or HOST:6379 "
        "(default: start a private Ray instance on 127.0.0.1)",
    )
    compare_parser.add_argument(
        "--cpus-per-trial", type=float, default=1.0,
        help="ray backend: CPUs reserved per trial (default: %(default)s)",
    )
    compare_parser.add_argument(
        "--gpus-per-trial", type=float, default=0.0,
        help="ray backend: GPUs reserved per trial; a fraction shares one GPU (default: %(default)s)",
    )
    compare_parser.add_argument(
        "--shared-storage", action=argparse.BooleanOptionalAction, default=None,
        help="ray backend: workers write into --out-dir directly, so every Ray node must reach it at the same "
        "path (a shared file system) and TensorBoard shows live curves; with --no-shared-storage they train in a "
        "temporary folder and send each finished trial back (default: shared without --address, not with it)",
    )
    compare_parser.add_argument(
        "--retries", type=int, default=1,
        help="attempts after a failed one, per trial; a trial failing every attempt is reported and the "
        "others go on (default: %(default)s)",
    )
    add_config_arguments(compare_parser, exclude=("bonus", "seed", "log_dir", "run_name", "resume"))
    add_verify_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnd-explore`` console script; returns the exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    _configure_logging(arguments.verbose)
    try:
        if arguments.command == "train":
            return _train(arguments)
        if arguments.command == "verify-ntk":
            return run_verify(arguments)
        return _compare(arguments)
    except (ValueError, TypeError, RayNotInstalledError) as error:
        parser.exit(2, f"rnd-explore {arguments.command}: error: {_name_the_flag(str(error))}\n")
    except KeyboardInterrupt:
        print("Interrupted; finished runs keep their files.", file=sys.stderr)
        return 130


def _name_the_flag(message: str) -> str:
    """Prefix a message that starts with a config field's name with the matching command-line flag."""
    import dataclasses

    from rnd_explore.config import TrainConfig

    names = [config_field.name for config_field in dataclasses.fields(TrainConfig)]
    names += ["members", "heads", "depth", "width", "train_points", "test_points", "dimension", "max_steps"]
    names += ["workers", "retries", "cpus_per_trial", "gpus_per_trial"]
    flags = {"width": "widths"}
    for name in sorted(names, key=len, reverse=True):
        if message.startswith((f"{name} ", f"{name}=")):
            return f"--{flags.get(name, name).replace('_', '-')}: {message}"
    return message


def _configure_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(show_path=False)],
    )


def _train(arguments: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from rnd_explore.agents.sb3_ppo import make_env
    from rnd_explore.training import train

    config = config_from_arguments(arguments)
    make_env(config.env_id, config.resolved_env_kwargs(), config.minigrid_observation).close()
    if config.run_name is None:
        config.run_name = f"{config.resolved_run_name()}__{time.strftime('%Y%m%d-%H%M%S')}"
    console = Console()
    with Progress(console=console) as progress:
        task = progress.add_task(config.resolved_run_name(), total=config.planned_steps)
        summary = train(config, progress=lambda steps: progress.update(task, completed=steps))
    run_dir = Path(config.log_dir) / config.resolved_run_name()
    first = "" if summary.first_success_episode is None else f" (first at episode {summary.first_success_episode})"
    console.print(
        f"[bold]{summary.run_name}[/]: {summary.episodes} episodes, {summary.successes} successful"
        f"{first}, final mean return {summary.final_mean_return:.3f}, "
        f"{summary.steps_per_second:.0f} steps/s on {summary.device}.\n"
        f"Files in {run_dir}; view with: tensorboard --logdir {config.log_dir}"
    )
    return 0


def _compare(arguments: argparse.Namespace) -> int:
    from rich.console import Console

    from rnd_explore.compare import RayOptions, run_comparison

    base = config_from_arguments(arguments, bonus=_base_bonus(arguments), seed=arguments.seeds[0])
    ray_only = (arguments.address is not None, arguments.cpus_per_trial != 1.0, arguments.gpus_per_trial != 0.0,
                arguments.shared_storage is not None)
    if arguments.backend == "local" and any(ray_only):
        raise ValueError(
            "--address, --cpus-per-trial, --gpus-per-trial and --shared-storage apply to --backend ray only. "
            "Add --backend ray."
        )
    out_dir = arguments.out_dir
    if out_dir is None:
        short_id = base.env_id.split("/")[-1]
        out_dir = Path("runs") / f"compare-{short_id}-{time.strftime('%Y%m%d-%H%M%S')}"
    ray_options = RayOptions(arguments.address, arguments.cpus_per_trial, arguments.gpus_per_trial,
                             arguments.shared_storage)
    console = Console()
    try:
        result = run_comparison(
            base, arguments.bonuses, arguments.seeds, out_dir, workers=arguments.workers,
            backend=arguments.backend, retries=arguments.retries, ray_options=ray_options,
        )
    except KeyboardInterrupt:
        results = Path(out_dir) / "results.csv"
        if results.exists():
            console.print(
                f"Interrupted. The complete trials are in {Path(out_dir) / 'runs'} and their table in {results} "
                f"(results.json lists the missing trials). To finish the sweep, rerun the same command with "
                f"--out-dir {out_dir}"
            )
        else:
            console.print(f"Interrupted before any trial completed. Rerun the same command with --out-dir {out_dir}")
        return 130
    if result.reused:
        console.print(f"Reused {result.reused} complete trials from {result.out_dir}.")
    console.print(results_table(result.table, base))
    seed_count = max((row.seeds for row in result.table), default=0)
    seeds = f"{seed_count} seed{'s' if seed_count != 1 else ''}"
    console.print(
        f"Confidence intervals: percentile bootstrap over {seeds}. With fewer than 5 seeds "
        "they are close to the range of the seeds' values and only indicative."
    )
    for failure in result.failures:
        console.print(f"[red]Failed[/] {failure.run_name} after {failure.attempts} attempts: {failure.error}")
    if result.failures:
        console.print(
            f"Tracebacks: {result.out_dir / 'failures'}. Rerunning the same command with --out-dir {result.out_dir} "
            "retries the failed trials only."
        )
    plot = f"; plot: {result.plot}" if result.plot is not None else ""
    console.print(f"Table: {result.out_dir / 'results.csv'} and results.json{plot}")
    if result.runs:
        console.print(f"TensorBoard: tensorboard --logdir {result.out_dir / 'runs'}")
    return 1 if result.failures else 0


def _base_bonus(arguments: argparse.Namespace) -> str:
    """Pick the bonus the shared settings are validated with: one that every given option applies to."""
    from rnd_explore.config import BONUS_SPECIFIC_OPTIONS

    for name, owner, default in BONUS_SPECIFIC_OPTIONS:
        if getattr(arguments, name) != default:
            if owner not in arguments.bonuses:
                raise ValueError(
                    f"--{name.replace('_', '-')} applies only to the {owner} bonus, which is not among --bonuses "
                    f"{' '.join(arguments.bonuses)}. Add {owner} or remove the option."
                )
            return owner
    with_bonus = [bonus for bonus in arguments.bonuses if bonus != "none"]
    return with_bonus[0] if with_bonus else arguments.bonuses[0]


def results_table(rows, base):
    """Build a rich table of the comparison rows."""
    from rich.table import Table

    from rnd_explore.results import format_first_success

    table = Table(title=f"{base.env_description()}, agent {base.agent}, {base.planned_steps} steps per run")
    table.add_column("bonus", no_wrap=True)
    table.add_column("reached goal", no_wrap=True)
    table.add_column("median episodes to first success")
    table.add_column("final mean return [95% CI]", no_wrap=True)
    any_failed = any(row.seeds_failed for row in rows)
    if any_failed:
        table.add_column("failed trials")
    for row in rows:
        interval = f"[{_number(row.final_return_ci_low)}, {_number(row.final_return_ci_high)}]"
        cells = [
            row.label,
            f"{row.seeds_reached_goal}/{row.seeds} seeds",
            format_first_success(row.median_episodes_to_first_success),
            f"{_number(row.final_mean_return)} {interval}",
        ]
        table.add_row(*cells, *([str(row.seeds_failed)] if any_failed else []))
    return table


def _number(value: float) -> str:
    """Three decimals, without a minus sign on values that round to zero."""
    return f"{round(value, 3) + 0.0:.3f}"


if __name__ == "__main__":
    sys.exit(main())
