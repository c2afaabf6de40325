"""Stable-Baselines3 PPO with a novelty bonus mixed into the reward at step time.

The bonus path is: ``DummyVecEnv`` of ``Monitor``-wrapped envs -> ``BonusVecEnvWrapper``
(adds ``c_int * normalised bonus``) -> PPO. SB3's rollout buffer therefore stores mixed
rewards, and its GAE includes the bonus. ``BonusUpdateCallback`` trains the predictor on each
rollout's observations once the rollout ends.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from rnd_explore.bonuses import make_bonus
from rnd_explore.config import TrainConfig
from rnd_explore.envs import is_minigrid_id, make_minigrid_env
from rnd_explore.wrappers import BonusVecEnvWrapper


def make_env(env_id: str, env_kwargs: dict[str, Any], minigrid_observation: str = "flat") -> gym.Env:
    """Create one environment; MiniGrid ids go through the observation adapter.

    Raises:
        ValueError: for an unknown id, or an action space that is not ``Discrete``.
    """
    import rnd_explore.envs  # noqa: F401  (registers rnd_explore/DeepSea-v0)

    try:
        if is_minigrid_id(env_id):
            env = make_minigrid_env(env_id, observation=minigrid_observation, **env_kwargs)
        else:
            env = gym.make(env_id, **env_kwargs)
    except gym.error.Error as error:
        raise ValueError(
            f"Unknown or invalid environment id {env_id!r}: {str(error).rstrip('.')}. Use an id registered with "
            "gymnasium, for example rnd_explore/DeepSea-v0 or MiniGrid-DoorKey-5x5-v0."
        ) from error
    except TypeError as error:
        raise ValueError(
            f"Invalid keyword arguments {env_kwargs} for environment {env_id!r}: {error}. "
            "Check --env-kwargs against the environment's constructor."
        ) from error
    if not isinstance(env.action_space, spaces.Discrete):
        env.close()
        raise ValueError(
            f"Environment {env_id!r} has action space {env.action_space}, but the exploration agents need a "
            "Discrete action space. Choose an environment with discrete actions."
        )
    return env


def make_training_env(config: TrainConfig) -> tuple[VecEnv, BonusVecEnvWrapper | None]:
    """Build the VecEnv for a run; with a bonus, return the wrapper as well (None without)."""
    env_kwargs = config.resolved_env_kwargs()
    make_env(config.env_id, env_kwargs, config.minigrid_observation).close()
    venv = make_vec_env(
        lambda: make_env(config.env_id, env_kwargs, config.minigrid_observation),
        n_envs=config.num_envs,
        seed=config.seed,
        vec_env_cls=DummyVecEnv,
    )
    bonus = make_bonus(config.bonus, venv.observation_space, config.num_envs, config.bonus_config(), config.device)
    if bonus is None:
        return venv, None
    probe = None
    if config.equivalence_probe > 0:
        from rnd_explore.diagnostics import EquivalenceProbe

        probe = EquivalenceProbe(venv.observation_space, config.bonus_config(), config.equivalence_probe, device=config.device)
    wrapper = BonusVecEnvWrapper(
        venv, bonus, intrinsic_coef=config.intrinsic_coef, extrinsic_coef=config.extrinsic_coef, probe=probe
    )
    return wrapper, wrapper


def build_ppo(config: TrainConfig, env: VecEnv) -> PPO:
    """SB3 PPO with the run's hyperparameters (MLP policy; image spaces are flattened)."""
    return PPO(
        "MlpPolicy",
        env,
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        policy_kwargs={"net_arch": list(config.policy_hidden)},
        seed=config.seed,
        device=config.device,
        verbose=0,
    )
