"""Sparse-reward environments for exploration experiments, installed as rnd_explore.envs.

Importing this package registers ``rnd_explore/DeepSea-v0`` with Gymnasium, so
``gymnasium.make("rnd_explore/DeepSea-v0", size=12, mapping_seed=3)`` works afterwards.
MiniGrid environments are created with ``make_minigrid_env``.
"""

import gymnasium as gym

from rnd_explore.envs.deep_sea import DEEP_SEA_ID, DeepSeaEnv
from rnd_explore.envs.minigrid_adapters import (
    MINIGRID_OBSERVATION_MODES,
    CategoricalViewObservation,
    EpisodeSuccessInfo,
    is_minigrid_id,
    make_minigrid_env,
)

__all__ = [
    "DEEP_SEA_ID",
    "DeepSeaEnv",
    "CategoricalViewObservation",
    "EpisodeSuccessInfo",
    "MINIGRID_OBSERVATION_MODES",
    "is_minigrid_id",
    "make_minigrid_env",
]

# Gymnasium warns when an id is registered twice, for example after importlib.reload.
if DEEP_SEA_ID not in gym.registry:
    gym.register(id=DEEP_SEA_ID, entry_point="rnd_explore.envs.deep_sea:DeepSeaEnv")
