"""Observation adapters that turn MiniGrid environments into array-observation envs.

MiniGrid (the ``minigrid`` package, 3.x) returns a dict observation with the keys
"image", "direction" and "mission". The agents in this library take a single array, so
the adapters keep only the egocentric image, using MiniGrid's and Gymnasium's own
wrappers, and add the ``"is_success"`` info key that DeepSea also reports.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium import spaces
from gymnasium.wrappers import FlattenObservation

MINIGRID_ID_PREFIX = "MiniGrid-"
MINIGRID_OBSERVATION_MODES = ("flat", "image")


def is_minigrid_id(env_id: str) -> bool:
    """Return whether ``env_id`` names a MiniGrid environment (starts with "MiniGrid-").

    ``BabyAI-*`` ids, which the ``minigrid`` package also registers, do not match.
    """
    return env_id.startswith(MINIGRID_ID_PREFIX)


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
        observation: "flat" for a uint8 vector of length V * V * 3, or "image" for a
            uint8 array of shape (V, V, 3). V is the view size, ``agent_view_size``,
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
    return EpisodeSuccessInfo(env)
