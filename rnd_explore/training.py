"""One training run: environments, bonus, SB3 PPO, TensorBoard, and the run's result files.

Run folder layout (``<log_dir>/<run_name>/``)::

    events.out.tfevents.*   TensorBoard (charts/, losses/, intrinsic/, hyperparameters)
    episodes.csv            one row per finished episode
    summary.json            the run's summary (``RunSummary``) and its config
    model.zip, bonus.pt     trained policy and bonus state (with save_model)

Every file is written atomically, so an interrupted run never leaves a partial result.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnd_explore.atomic_io import atomic_torch_save, atomic_write, atomic_write_text
from rnd_explore.config import BONUS_SPECIFIC_OPTIONS, TrainConfig

logger = logging.getLogger(__name__)

FINAL_FRACTION = 0.1
"""The final return averages the episodes that end in this last fraction of the step budget."""


@dataclass
class RunSummary:
    """Outcome of one run. Steps count environment transitions summed over all envs."""

    run_name: str
    env_id: str
    bonus: str
    seed: int
    total_steps: int
    episodes: int
    successes: int
    first_success_episode: int | None
    first_success_step: int | None
    final_mean_return: float
    wall_seconds: float
    steps_per_second: float
    device: str
    members: int = 0
    """K of the bonus (0 without a bonus)."""
    bonus_options: str = ""
    """Bonus-specific settings that differ from their defaults, for example ``exploration=thompson``."""

    @property
    def reached_goal(self) -> bool:
        """True when at least one episode succeeded."""
        return self.first_success_episode is not None


def final_mean_return(steps: np.ndarray, returns: np.ndarray, total_steps: int) -> float:
    """Mean return of episodes ending in the last ``FINAL_FRACTION`` of the budget (NaN if none)."""
    if len(returns) == 0:
        return float("nan")
    late = steps > (1.0 - FINAL_FRACTION) * total_steps
    if not late.any():
        late = steps == steps.max()
    return float(np.mean(returns[late]))


def train(config: TrainConfig, progress: Callable[[int], None] | None = None) -> RunSummary:
    """Train one agent and write its run folder; return the run's summary.

    Args:
        config: the run configuration (validated here).
        progress: called with the number of environment steps taken so far (after every step
            for ``sb3-ppo``, after every rollout for ``ppo-dual``).
    """
    from rnd_explore.device import resolve_device

    config.validate()
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    run_dir = Path(config.log_dir) / config.resolved_run_name()
    if config.resume:
        if not (run_dir / "checkpoint.pt").exists():
            raise ValueError(f"Cannot resume: {run_dir / 'checkpoint.pt'} does not exist. Check --log-dir and --run-name.")
    else:
        check_run_folder_free(run_dir)
    resolved = TrainConfig(**{**asdict(config), "device": str(device)})
    logger.info("run %s on %s, writing to %s", config.resolved_run_name(), device, run_dir)

    learn = _learn_dual if resolved.agent == "ppo-dual" else _learn_sb3
    start = time.perf_counter()
    records, steps_taken = learn(resolved, run_dir, progress)
    wall_seconds = time.perf_counter() - start

    summary = summarise(resolved, records, wall_seconds, steps_taken)
    write_run_files(run_dir, resolved, summary, records)
    return summary


def _open_writer(run_dir: Path, config: TrainConfig, purge_step: int | None = None):
    """Open a SummaryWriter in the run folder; a resumed run drops events logged after ``purge_step``."""
    from torch.utils.tensorboard import SummaryWriter

    from rnd_explore.tensorboard_logging import log_hyperparameters

    run_dir.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
    if purge_step is None:
        log_hyperparameters(writer, config.to_dict())
    return writer


def _learn_sb3(config: TrainConfig, run_dir: Path, progress) -> tuple[list, int]:
    from stable_baselines3.common.logger import Logger

    from rnd_explore.agents.callbacks import BonusUpdateCallback, EpisodeStatsCallback, ProgressCallback
    from rnd_explore.agents.sb3_ppo import build_ppo, make_training_env
    from rnd_explore.tensorboard_logging import NamespacedTensorBoardFormat

    env, bonus_wrapper = make_training_env(config)
    writer = _open_writer(run_dir, config)
    model = build_ppo(config, env)
    model.set_logger(Logger(folder=str(run_dir), output_formats=[NamespacedTensorBoardFormat(writer)]))
    episode_callback = EpisodeStatsCallback(writer)
    callbacks = [episode_callback]
    if bonus_wrapper is not None:
        bonus_wrapper.warmup(config.warmup_steps)
        callbacks.append(BonusUpdateCallback(bonus_wrapper))
    if progress is not None:
        callbacks.append(ProgressCallback(progress))
    try:
        model.learn(total_timesteps=config.total_steps, callback=callbacks)
    finally:
        writer.flush()
    if config.save_model:
        atomic_write(run_dir / "model.zip", model.save)
        if bonus_wrapper is not None:
            atomic_torch_save(bonus_wrapper.bonus.state_dict(), run_dir / "bonus.pt")
    writer.close()
    env.close()
    return episode_callback.log.records, int(model.num_timesteps)


def _learn_dual(config: TrainConfig, run_dir: Path, progress) -> tuple[list, int]:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    from rnd_explore.agents.dual_ppo import DualValuePPO
    from rnd_explore.agents.sb3_ppo import make_env
    from rnd_explore.bonuses import make_bonus

    env_kwargs = config.resolved_env_kwargs()
    make_env(config.env_id, env_kwargs, config.minigrid_observation).close()
    venv = make_vec_env(
        lambda: make_env(config.env_id, env_kwargs, config.minigrid_observation),
        n_envs=config.num_envs, seed=config.seed, vec_env_cls=DummyVecEnv,
    )
    bonus = make_bonus(config.bonus, venv.observation_space, config.num_envs, config.bonus_config(), config.device)
    agent = DualValuePPO(config, venv, bonus)
    checkpoint_path = run_dir / "checkpoint.pt"
    purge_step = None
    if config.resume:
        # The checkpoint is this toolkit's own file. It contains pickled environments, so it
        # is loaded with weights_only=False.
        agent.load_state_dict(torch.load(checkpoint_path, map_location=config.device, weights_only=False))
        purge_step = agent.num_timesteps
        logger.info("resuming %s at step %d", run_dir, agent.num_timesteps)
    writer = _open_writer(run_dir, config, purge_step)
    agent.writer = writer
    agent.recorder.writer = writer

    def save(trained: DualValuePPO) -> None:
        atomic_torch_save(trained.state_dict(), checkpoint_path)
        if trained.bonus is not None:
            atomic_torch_save(trained.bonus.state_dict(), run_dir / "bonus.pt")

    saving = config.save_model or config.checkpoint_every > 0
    try:
        agent.learn(config.total_steps, progress, checkpoint=save if saving else None,
                    checkpoint_every=config.checkpoint_every)
    finally:
        writer.flush()
    writer.close()
    venv.close()
    return agent.recorder.log.records, agent.num_timesteps


def check_run_folder_free(run_dir: Path, hint: str = "Pass another --run-name or --log-dir") -> None:
    """Raise ValueError if ``run_dir`` already contains files of a finished or interrupted run.

    Writing into such a folder would mix two runs' TensorBoard event files into one curve.
    """
    if run_dir.is_dir() and any(run_dir.iterdir()):
        state = "a finished run" if (run_dir / "summary.json").exists() else "files of an interrupted run"
        raise ValueError(f"The run folder {run_dir} already contains {state}. {hint}, or delete that folder.")


def summarise(config: TrainConfig, records: list, wall_seconds: float, steps_taken: int) -> RunSummary:
    """Build the ``RunSummary`` of a finished run from its episode records."""
    steps = np.array([record.step for record in records], dtype=np.int64)
    returns = np.array([record.extrinsic_return for record in records], dtype=np.float64)
    first = next((record for record in records if record.success), None)
    return RunSummary(
        run_name=config.resolved_run_name(),
        env_id=config.env_id,
        bonus=config.bonus,
        seed=config.seed,
        total_steps=steps_taken,
        episodes=len(records),
        successes=sum(record.success for record in records),
        first_success_episode=None if first is None else first.episode,
        first_success_step=None if first is None else first.step,
        final_mean_return=final_mean_return(steps, returns, steps_taken),
        wall_seconds=wall_seconds,
        steps_per_second=steps_taken / max(wall_seconds, 1e-9),
        device=config.device,
        members=0 if config.bonus == "none" else config.resolved_num_members(),
        bonus_options=", ".join(
            f"{name}={getattr(config, name)}"
            for name, _, default in BONUS_SPECIFIC_OPTIONS
            if getattr(config, name) != default
        ),
    )


def write_run_files(run_dir: Path, config: TrainConfig, summary: RunSummary, records: list) -> None:
    """Write ``episodes.csv`` and ``summary.json`` atomically."""
    buffer = io.StringIO()
    columns = ["step", "episode", "extrinsic_return", "length", "success", "intrinsic_return"]
    table = csv.DictWriter(buffer, fieldnames=columns)
    table.writeheader()
    for record in records:
        table.writerow(asdict(record))
    atomic_write_text(run_dir / "episodes.csv", buffer.getvalue())
    payload: dict[str, Any] = {"summary": asdict(summary), "config": config.to_dict()}
    atomic_write_text(run_dir / "summary.json", json.dumps(payload, indent=2, allow_nan=True))


def load_summary(run_dir: str | Path) -> RunSummary:
    """Read ``summary.json`` of a finished run."""
    payload = json.loads((Path(run_dir) / "summary.json").read_text())
    return RunSummary(**payload["summary"])


def load_bonus(run_dir: str | Path, device: str = "cpu"):
    """Rebuild the trained bonus of a finished run from its ``summary.json`` and ``bonus.pt``.

    The environment is created once to read its observation space. Raises ValueError for a
    run without a bonus or without a saved bonus state.
    """
    from rnd_explore.agents.sb3_ppo import make_env
    from rnd_explore.bonuses import make_bonus

    run_dir = Path(run_dir)
    payload = json.loads((run_dir / "summary.json").read_text())
    config = TrainConfig(**{**payload["config"], "device": device})
    state_path = run_dir / "bonus.pt"
    if config.bonus == "none" or not state_path.exists():
        raise ValueError(f"The run in {run_dir} has no saved bonus (bonus={config.bonus!r}, save_model={config.save_model}).")
    env = make_env(config.env_id, config.resolved_env_kwargs(), config.minigrid_observation)
    space = env.observation_space
    env.close()
    bonus = make_bonus(config.bonus, space, config.num_envs, config.bonus_config(), device)
    bonus.load_state_dict(torch.load(state_path, map_location=device))
    return bonus


def load_episodes(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Read ``episodes.csv`` as columns: step, episode, extrinsic_return, length, success, intrinsic_return."""
    with open(Path(run_dir) / "episodes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, np.ndarray] = {}
    for name, dtype in (("step", np.int64), ("episode", np.int64), ("extrinsic_return", np.float64),
                        ("length", np.int64), ("intrinsic_return", np.float64)):
        columns[name] = np.array([row[name] for row in rows], dtype=dtype)
    columns["success"] = np.array([row["success"] == "True" for row in rows], dtype=bool)
    return columns
