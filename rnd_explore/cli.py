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
from rnd_explore.config import add_config_arguments, config_from_arguments

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
            "and bayes-rnd on DeepSea 16x16, seeds 0-2. Bonus-specific options apply only to their bonus."
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
        help="comparison folder (default: runs/compare-<env>-<date>-<time>)",
    )
    compare_parser.add_argument(
        "--workers", type=int, default=2,
        help="runs trained at the same time, one process each (default: %(default)s)",
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
    except (ValueError, TypeError) as error:
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

    from rnd_explore.compare import run_comparison

    base = config_from_arguments(arguments, bonus=_base_bonus(arguments), seed=arguments.seeds[0])
    out_dir = arguments.out_dir
    if out_dir is None:
        short_id = base.env_id.split("/")[-1]
        out_dir = Path("runs") / f"compare-{short_id}-{time.strftime('%Y%m%d-%H%M%S')}"
    result = run_comparison(base, arguments.bonuses, arguments.seeds, out_dir, workers=arguments.workers)
    console = Console()
    console.print(results_table(result.table, base))
    console.print(
        f"Confidence intervals: percentile bootstrap over {len(arguments.seeds)} seeds; with fewer than 5 seeds "
        "they are close to the range of the seeds' values and only indicative."
    )
    console.print(
        f"Table: {result.out_dir / 'results.csv'} and results.json; plot: {result.plot}\n"
        f"TensorBoard: tensorboard --logdir {result.out_dir / 'runs'}"
    )
    return 0


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
    for row in rows:
        interval = f"[{_number(row.final_return_ci_low)}, {_number(row.final_return_ci_high)}]"
        table.add_row(
            row.label,
            f"{row.seeds_reached_goal}/{row.seeds} seeds",
            format_first_success(row.median_episodes_to_first_success),
            f"{_number(row.final_mean_return)} {interval}",
        )
    return table


def _number(value: float) -> str:
    """Three decimals, without a minus sign on values that round to zero."""
    return f"{round(value, 3) + 0.0:.3f}"


if __name__ == "__main__":
    sys.exit(main())
