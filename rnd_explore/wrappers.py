"""Wrappers that add a novelty bonus to the reward at step time.

``BonusVecEnvWrapper`` wraps an SB3 ``VecEnv``; ``BonusRewardWrapper`` is the same logic for one
gymnasium environment. On the same transitions both return the same rewards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from rnd_explore._checks import check_non_negative_float, check_non_negative_int
from rnd_explore.bonuses.base import NoveltyBonus

if TYPE_CHECKING:
    from rnd_explore.diagnostics import EquivalenceProbe


class BonusVecEnvWrapper(VecEnvWrapper):
    """Adds ``extrinsic_coef * r_ext + intrinsic_coef * normalised bonus`` to every step's reward.

    The bonus of a transition is the novelty of the observation it leads to (the
    ``terminal_observation`` for an environment that just finished an episode). Because the
    mixed reward is what ``step_wait`` returns, SB3 stores it in its rollout buffer and the
    returns and advantages it computes include the bonus.

    The wrapper also keeps every observation of the current rollout. ``update_bonus()``,
    which ``BonusUpdateCallback`` calls when a rollout ends, updates the observation
    normaliser with them, trains the predictor and clears the store. Each step's ``infos``
    gain ``"extrinsic_reward"``, ``"intrinsic_reward"`` (normalised) and ``"raw_bonus"``;
    at the end of an episode ``"episode_intrinsic_return"`` contains the undiscounted sum of
    the normalised bonus over that episode.

    Args:
        venv: the vectorised environments; their observation space must match the bonus.
        bonus: the novelty bonus; ``bonus.num_envs`` must equal ``venv.num_envs``.
        intrinsic_coef: ``c_int`` >= 0.
        extrinsic_coef: ``c_ext`` >= 0.
        probe: optional ``EquivalenceProbe`` trained on the same rollouts; its statistics
            join those ``update_bonus`` returns.
    """

    def __init__(
        self,
        venv: VecEnv,
        bonus: NoveltyBonus,
        intrinsic_coef: float = 1.0,
        extrinsic_coef: float = 1.0,
        probe: "EquivalenceProbe | None" = None,
    ) -> None:
        super().__init__(venv)
        self.probe = probe
        if bonus.num_envs != venv.num_envs:
            raise ValueError(
                f"The bonus was built for num_envs={bonus.num_envs} but the VecEnv has {venv.num_envs} "
                "environments. Build the bonus with the VecEnv's num_envs."
            )
        _check_observation_shape(bonus, venv.observation_space, "the VecEnv", "venv")
        self.bonus = bonus
        self.intrinsic_coef = check_non_negative_float("intrinsic_coef", intrinsic_coef)
        self.extrinsic_coef = check_non_negative_float("extrinsic_coef", extrinsic_coef)
        self._rollout_observations: list[np.ndarray] = []
        self._episode_intrinsic = np.zeros(self.num_envs, dtype=np.float64)
        self.last_raw_bonus = np.zeros(self.num_envs, dtype=np.float32)
        self.last_intrinsic_reward = np.zeros(self.num_envs, dtype=np.float32)

    def reset(self) -> np.ndarray:
        self._episode_intrinsic[:] = 0.0
        return self.venv.reset()

    def step_wait(self):
        observations, rewards, dones, infos = self.venv.step_wait()
        next_observations = replace_terminal_observations(observations, dones, infos)
        raw = self.bonus.step_scores(next_observations, np.asarray(dones, dtype=bool))
        intrinsic = self.bonus.normalize_reward(raw)
        raw_np = raw.cpu().numpy()
        intrinsic_np = intrinsic.cpu().numpy().astype(np.float32)
        self._rollout_observations.append(next_observations)
        self.last_raw_bonus = raw_np
        self.last_intrinsic_reward = intrinsic_np
        self._episode_intrinsic += intrinsic_np
        for index, info in enumerate(infos):
            info["extrinsic_reward"] = float(rewards[index])
            info["intrinsic_reward"] = float(intrinsic_np[index])
            info["raw_bonus"] = float(raw_np[index])
            if dones[index]:
                info["episode_intrinsic_return"] = float(self._episode_intrinsic[index])
                self._episode_intrinsic[index] = 0.0
        mixed = self.extrinsic_coef * rewards + self.intrinsic_coef * intrinsic_np
        return observations, mixed.astype(np.float32), dones, infos

    def warmup(self, steps_per_env: int) -> None:
        """Initialise the bonus's statistics with ``steps_per_env`` random-action steps per env.

        The observations update the observation normaliser. Then their raw bonuses, in time
        order, initialise the intrinsic return statistics, so that the first training steps
        are not divided by a near-zero std. The environments are reset afterwards.
        """
        steps_per_env = check_non_negative_int("warmup steps", steps_per_env)
        if steps_per_env == 0:
            return
        if not isinstance(self.action_space, spaces.Discrete):
            raise ValueError(f"Random-action warm-up needs a Discrete action space, got {self.action_space}.")
        self.venv.reset()
        collected = []
        for _ in range(steps_per_env):
            actions = np.array([self.action_space.sample() for _ in range(self.num_envs)])
            observations, _, dones, infos = self.venv.step(actions)
            collected.append((replace_terminal_observations(observations, dones, infos), np.asarray(dones, dtype=bool)))
        _initialise_statistics(self.bonus, collected)
        self.reset()

    def update_bonus(self) -> dict[str, float]:
        """Update the observation statistics and train the bonus on the stored rollout.

        Returns the statistics of ``NoveltyBonus.update``, or an empty dict when no step was
        taken since the last call.
        """
        if not self._rollout_observations:
            return {}
        stacked = np.stack(self._rollout_observations)
        self._rollout_observations = []
        observations = stacked.reshape(-1, *stacked.shape[2:])
        stats = _train_bonus(self.bonus, observations)
        if self.probe is not None:
            stats.update(self.probe.update(observations))
        return stats


def _check_observation_shape(bonus: NoveltyBonus, space: spaces.Space, source: str, variable: str) -> None:
    if bonus.observation_space.shape != space.shape:
        raise ValueError(
            f"The bonus expects observations of shape {bonus.observation_space.shape} but {source} "
            f"produces {space.shape}. Build the bonus from {variable}.observation_space."
        )


def _initialise_statistics(bonus: NoveltyBonus, collected: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Feed warm-up steps ``(next observations [num_envs, ...], dones [num_envs])`` to the normalisers."""
    stacked = np.stack([step_observations for step_observations, _ in collected])
    bonus.update_observation_statistics(stacked.reshape(-1, *stacked.shape[2:]))
    for step_observations, step_dones in collected:
        bonus.normalize_reward(bonus.step_scores(step_observations, step_dones))


def _train_bonus(bonus: NoveltyBonus, observations: np.ndarray) -> dict[str, float]:
    """Add ``observations`` to the bonus's observation statistics, then train on them."""
    bonus.update_observation_statistics(observations)
    return bonus.update(observations)


def replace_terminal_observations(observations: np.ndarray, dones: np.ndarray, infos: list[dict]) -> np.ndarray:
    """Return a copy of a VecEnv step's observations ``[N, ...]`` in which every env that just
    finished an episode shows its ``terminal_observation`` instead of the reset observation."""
    if not np.any(dones):
        return np.array(observations, copy=True)
    result = np.array(observations, copy=True)
    for index in np.flatnonzero(dones):
        terminal = infos[index].get("terminal_observation")
        if terminal is not None:
            result[index] = terminal
    return result



class BonusRewardWrapper(gym.Wrapper):
    """Gymnasium wrapper: ``reward = extrinsic_coef * r + intrinsic_coef * normalised bonus``.

    The single-environment counterpart of ``BonusVecEnvWrapper`` for custom training loops.
    The bonus must be built with ``num_envs=1``. ``info`` gains ``"extrinsic_reward"``,
    ``"intrinsic_reward"`` and ``"raw_bonus"``. Observations are stored until
    ``update_bonus()`` trains the bonus on them.
    """

    def __init__(self, env: gym.Env, bonus: NoveltyBonus, intrinsic_coef: float = 1.0, extrinsic_coef: float = 1.0) -> None:
        super().__init__(env)
        if bonus.num_envs != 1:
            raise ValueError(
                f"BonusRewardWrapper wraps one environment, so the bonus needs num_envs=1, got {bonus.num_envs}. "
                "Use BonusVecEnvWrapper for vectorised environments."
            )
        _check_observation_shape(bonus, env.observation_space, "the environment", "env")
        self.bonus = bonus
        self.intrinsic_coef = check_non_negative_float("intrinsic_coef", intrinsic_coef)
        self.extrinsic_coef = check_non_negative_float("extrinsic_coef", extrinsic_coef)
        self._observations: list[np.ndarray] = []

    def warmup(self, steps: int, seed: int | None = None) -> None:
        """Initialise the bonus's statistics with ``steps`` random-action steps.

        Works as ``BonusVecEnvWrapper.warmup`` for one environment. The environment is
        left mid-episode, so call ``reset()`` before training.
        """
        steps = check_non_negative_int("warmup steps", steps)
        if steps == 0:
            return
        self.env.reset(seed=seed)
        collected = []
        for _ in range(steps):
            observation, _, terminated, truncated, _ = self.env.step(self.env.action_space.sample())
            done = terminated or truncated
            collected.append((np.asarray(observation)[None], np.array([done])))
            if done:
                self.env.reset()
        _initialise_statistics(self.bonus, collected)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        batch = np.asarray(observation)[None]
        raw = self.bonus.step_scores(batch, np.array([terminated or truncated]))
        intrinsic = float(self.bonus.normalize_reward(raw)[0])
        self._observations.append(batch[0])
        info = {**info, "extrinsic_reward": float(reward), "intrinsic_reward": intrinsic, "raw_bonus": float(raw[0])}
        mixed = self.extrinsic_coef * float(reward) + self.intrinsic_coef * intrinsic
        return observation, mixed, terminated, truncated, info

    def update_bonus(self) -> dict[str, float]:
        """Update the observation statistics and train the bonus on the stored observations."""
        if not self._observations:
            return {}
        observations = np.stack(self._observations)
        self._observations = []
        return _train_bonus(self.bonus, observations)
