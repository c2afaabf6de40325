"""SB3 callbacks: episode records, bonus training at rollout end, progress reporting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from rnd_explore.wrappers import BonusVecEnvWrapper


@dataclass
class EpisodeRecord:
    """One finished episode. ``step`` counts environment steps (all envs) at its end."""

    step: int
    episode: int
    extrinsic_return: float
    length: int
    success: bool
    intrinsic_return: float


@dataclass
class EpisodeLog:
    """Every finished episode of a run, in the order they ended."""

    records: list[EpisodeRecord] = field(default_factory=list)

    def first_success_episode(self) -> int | None:
        """1-based index of the first successful episode, or None."""
        return next((record.episode for record in self.records if record.success), None)


class EpisodeRecorder:
    """Records finished episodes from VecEnv ``infos`` and logs them under ``charts/``.

    Needs SB3's ``Monitor`` inside the VecEnv (``info["episode"]``). Success is the
    environment's ``info["is_success"]`` when it sets one, else an extrinsic return > 0.
    For environments that report ``info["position"] = (row, column)`` a visitation count is
    kept and logged as a heatmap image under ``charts/visitation`` every ``heatmap_every``
    rollouts.
    """

    def __init__(self, writer=None, heatmap_every: int = 10) -> None:
        self.writer = writer
        self.log = EpisodeLog()
        self.heatmap_every = heatmap_every
        self.visits: np.ndarray | None = None
        self.rollouts = 0

    def record_step(self, infos: list[dict], num_timesteps: int) -> None:
        """Count visits and record the episodes that ended in this step (``num_timesteps`` after it)."""
        for info in infos:
            position = info.get("position")
            if position is not None:
                self._count_visit(position)
            episode = info.get("episode")
            if episode is None:
                continue
            success = bool(info.get("is_success", episode["r"] > 0))
            record = EpisodeRecord(
                step=num_timesteps,
                episode=len(self.log.records) + 1,
                extrinsic_return=float(episode["r"]),
                length=int(episode["l"]),
                success=success,
                intrinsic_return=float(info.get("episode_intrinsic_return", 0.0)),
            )
            self.log.records.append(record)
            if self.writer is not None:
                self.writer.add_scalar("charts/episodic_return", record.extrinsic_return, record.step)
                self.writer.add_scalar("charts/episodic_length", record.length, record.step)
                self.writer.add_scalar("charts/success", float(record.success), record.step)
                if "episode_intrinsic_return" in info:
                    self.writer.add_scalar("intrinsic/episodic_return", record.intrinsic_return, record.step)

    def _count_visit(self, position) -> None:
        row, column = int(position[0]), int(position[1])
        if self.visits is None:
            self.visits = np.zeros((1, 1), dtype=np.int64)
        if row >= self.visits.shape[0] or column >= self.visits.shape[1]:
            grown = np.zeros((max(row + 1, self.visits.shape[0]), max(column + 1, self.visits.shape[1])), dtype=np.int64)
            grown[: self.visits.shape[0], : self.visits.shape[1]] = self.visits
            self.visits = grown
        self.visits[row, column] += 1

    def end_rollout(self, num_timesteps: int) -> None:
        """Count a finished rollout and log the visitation heatmap when it is due."""
        self.rollouts += 1
        if self.writer is None or self.visits is None or self.rollouts % self.heatmap_every:
            return
        image = np.log1p(self.visits.astype(np.float64))
        image = image / max(float(image.max()), 1e-12)
        self.writer.add_image("charts/visitation", image[None], num_timesteps, dataformats="CHW")


class EpisodeStatsCallback(BaseCallback):
    """SB3 callback around an ``EpisodeRecorder``; ``.log`` contains the finished episodes."""

    def __init__(self, writer=None, heatmap_every: int = 10) -> None:
        super().__init__()
        self.recorder = EpisodeRecorder(writer, heatmap_every)
        self.log = self.recorder.log

    def _on_step(self) -> bool:
        self.recorder.record_step(self.locals["infos"], int(self.num_timesteps))
        return True

    def _on_rollout_end(self) -> None:
        self.recorder.end_rollout(int(self.num_timesteps))


class BonusUpdateCallback(BaseCallback):
    """Trains the bonus when a rollout ends and logs its statistics under ``intrinsic/``.

    The bonus rewards of the rollout were added at step time, before SB3 computed returns
    and advantages. Training the predictor here therefore changes only later rollouts' rewards.
    """

    def __init__(self, wrapper: BonusVecEnvWrapper) -> None:
        super().__init__()
        self.wrapper = wrapper
        self._raw: list[np.ndarray] = []
        self._normalized: list[np.ndarray] = []

    def _on_step(self) -> bool:
        self._raw.append(self.wrapper.last_raw_bonus)
        self._normalized.append(self.wrapper.last_intrinsic_reward)
        return True

    def _on_rollout_end(self) -> None:
        stats = self.wrapper.update_bonus()
        if self._raw:
            raw = np.concatenate(self._raw)
            normalized = np.concatenate(self._normalized)
            self.logger.record("intrinsic/raw_bonus_mean", float(raw.mean()))
            self.logger.record("intrinsic/raw_bonus_std", float(raw.std()))
            self.logger.record("intrinsic/normalized_bonus_mean", float(normalized.mean()))
            self.logger.record("intrinsic/normalized_bonus_std", float(normalized.std()))
        self._raw, self._normalized = [], []
        bonus = self.wrapper.bonus
        for key, value in stats.items():
            if key != "trained_samples":
                self.logger.record(f"intrinsic/{key}", value)
        self.logger.record("intrinsic/return_std", float(bonus.reward_normalizer.return_stats.std))
        self.logger.record("intrinsic/obs_mean_avg", float(bonus.obs_normalizer.stats.mean.mean()))
        self.logger.record("intrinsic/obs_std_avg", float(bonus.obs_normalizer.stats.std.mean()))


class ProgressCallback(BaseCallback):
    """Calls ``report(num_timesteps)`` after every step (cheap; for progress bars)."""

    def __init__(self, report: Callable[[int], None]) -> None:
        super().__init__()
        self.report = report

    def _on_step(self) -> bool:
        self.report(int(self.num_timesteps))
        return True
