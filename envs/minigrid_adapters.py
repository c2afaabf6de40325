"""Observation adapters that turn MiniGrid environments into array-observation envs.

MiniGrid (the ``minigrid`` package, 3.x) returns a dict observation with the keys
"image", "direction" and "mission". The agents in this library take a single array, so
the adapters keep only the egocentric image, using MiniGrid's and Gymnasium's own
wrappers, and add the ``"is_success"`` info key that DeepSea also reports.

The image holds category indices (object type, color, state), not intensities. The
"onehot" mode declares them as a ``MultiDiscrete`` space, so the bonus encoder and SB3's
preprocessing both turn every index into a one-hot vector; "flat" and "image" pass the
indices on as numbers.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import FlattenObservation

MINIGRID_ID_PREFIX = "MiniGrid-"
MINIGRID_OBSERVATION_MODES = ("flat", "image", "onehot")


def is_minigrid_id(env_id: str) -> bool:
    """Return whether ``env_id`` names a MiniGrid environment (starts with "MiniGrid-").

    ``BabyAI-*`` ids, which the ``minigrid`` package also registers, do not match.
    """
    return env_id.startswith(MINIGRID_ID_PREFIX)


class CategoricalViewObservation(gym.ObservationWrapper):
    """Declare MiniGrid's ``(V, V, 3)`` index image as a flat ``MultiDiscrete`` vector.

    The observation becomes an int64 vector of length ``V * V * 3`` in row-major order of
    the image (cell by cell, three indices per cell). Its space has
    ``nvec = [n_objects, n_colors, n_states] * V * V``, taken from
    ``minigrid.core.constants``: 11, 6 and 3 in minigrid 3.2. Encoders one-hot each entry,
    so one observation becomes ``20 * V * V`` binary features (980 for V = 7).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

        shape = env.observation_space.shape
        if shape is None or len(shape) != 3 or shape[2] != 3:
            raise ValueError(
                f"CategoricalViewObservation needs a (V, V, 3) MiniGrid image, got shape {shape}. "
                "Wrap the environment in minigrid.wrappers.ImgObsWrapper first."
            )
        sizes = np.array([len(OBJECT_TO_IDX), len(COLOR_TO_IDX), len(STATE_TO_IDX)], dtype=np.int64)
        self.observation_space = spaces.MultiDiscrete(np.tile(sizes, shape[0] * shape[1]))

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Return the image ``[V, V, 3]`` as an int64 vector ``[V * V * 3]``."""
        return np.asarray(observation, dtype=np.int64).reshape(-1)


class EpisodeSuccessInfo(gym.Wrapper):
    """Add ``info["is_success"]`` at the end of every episode.

    The value is ``terminated and reward > 0``. In minigrid 3.2 every task pays
    ``1 - 0.9 * step_count / max_steps`` (at least 0.1) for completing the mission, and 0
    or -1 when the episode ends any other way, for example in lava. A truncated episode
    reports False, so success rates over all finished episodes count time-outs as failures.
    Steps that do not end the episode get no ``"is_success"`` key.
    """

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the wrapped environment and add ``"is_success"`` when the episode ends."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            info = dict(info)
            info["is_success"] = bool(terminated and float(reward) > 0)
        return observation, reward, terminated, truncated, info


def make_minigrid_env(env_id: str, observation: str = "flat", **kwargs: Any) -> gym.Env:
    """Create a MiniGrid environment whose observation is the agent's view as an array.

    Args:
        env_id: A registered MiniGrid id such as "MiniGrid-Empty-5x5-v0".
        observation: "flat" for a uint8 vector of length V * V * 3, "image" for a
            uint8 array of shape (V, V, 3), or "onehot" for the same V * V * 3 indices as
            an int64 ``MultiDiscrete`` vector (see ``CategoricalViewObservation``); the
            encoders one-hot it, which policies and bonuses learn from much more easily
            than from raw indices. V is the view size, ``agent_view_size``,
            which is 7 unless ``kwargs`` sets it. The three channels are MiniGrid's
            object type, color and state indices.
        **kwargs: Passed to ``gymnasium.make``, for example ``render_mode`` or
            ``max_steps``.

    Returns:
        The environment from ``gymnasium.make`` wrapped in ``minigrid.wrappers.ImgObsWrapper``,
        then ``gymnasium.wrappers.FlattenObservation`` for "flat", then
        ``EpisodeSuccessInfo``.

    Raises:
        ValueError: If ``observation`` is not one of ``MINIGRID_OBSERVATION_MODES``, or if
            the environment has no "image" observation.
    """
    if observation not in MINIGRID_OBSERVATION_MODES:
        raise ValueError(
            f"observation must be one of {MINIGRID_OBSERVATION_MODES}, got {observation!r}."
        )

    # Imported here because importing minigrid registers its ids with Gymnasium and also
    # loads pygame, which DeepSea users do not need.
    import minigrid  # noqa: F401
    from minigrid.wrappers import ImgObsWrapper

    env = gym.make(env_id, **kwargs)
    observation_space = env.observation_space
    if not isinstance(observation_space, spaces.Dict) or "image" not in observation_space.spaces:
        env.close()
        raise ValueError(
            f"env_id {env_id!r} has observation space {observation_space}, which has no "
            '"image" entry. Pass a MiniGrid id such as "MiniGrid-Empty-5x5-v0".'
        )

    env = ImgObsWrapper(env)
    if observation == "flat":
        env = FlattenObservation(env)
    elif observation == "onehot":
        env = CategoricalViewObservation(env)
    return EpisodeSuccessInfo(env)
