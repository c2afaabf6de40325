"""Tests for the MiniGrid observation adapters."""

import numpy as np
import torch
import pytest
from minigrid.core.actions import Actions

from rnd_explore.envs import is_minigrid_id, make_minigrid_env

EMPTY_ID = "MiniGrid-Empty-5x5-v0"

# In Empty-5x5 the agent starts at (1, 1) facing right (east) and the goal is at (3, 3).
GOAL_ACTIONS = [Actions.forward, Actions.forward, Actions.right, Actions.forward, Actions.forward]


def test_flat_observation_shape_and_dtype():
    env = make_minigrid_env(EMPTY_ID, observation="flat")
    observation, _ = env.reset(seed=0)

    assert env.observation_space.shape == (147,)
    assert env.observation_space.dtype == np.uint8
    assert observation.shape == (147,)
    assert observation.dtype == np.uint8
    assert env.observation_space.contains(observation)


def test_image_observation_shape_and_dtype():
    env = make_minigrid_env(EMPTY_ID, observation="image")
    observation, _ = env.reset(seed=0)

    assert env.observation_space.shape == (7, 7, 3)
    assert observation.shape == (7, 7, 3)
    assert observation.dtype == np.uint8


def test_flat_is_flattened_image():
    flat_env = make_minigrid_env(EMPTY_ID, observation="flat")
    image_env = make_minigrid_env(EMPTY_ID, observation="image")

    flat, _ = flat_env.reset(seed=3)
    image, _ = image_env.reset(seed=3)

    np.testing.assert_array_equal(flat, image.reshape(-1))


def test_view_size_sets_flat_length():
    env = make_minigrid_env(EMPTY_ID, observation="flat", agent_view_size=5)
    observation, _ = env.reset(seed=0)

    assert observation.shape == (5 * 5 * 3,)


def test_scripted_rollout_reaches_goal():
    env = make_minigrid_env(EMPTY_ID, observation="flat")
    env.reset(seed=0)
    max_steps = env.unwrapped.max_steps

    for action in GOAL_ACTIONS[:-1]:
        _, reward, terminated, truncated, info = env.step(action)
        assert reward == 0
        assert not terminated
        assert not truncated
        assert "is_success" not in info

    _, reward, terminated, truncated, info = env.step(GOAL_ACTIONS[-1])

    # MiniGrid pays 1 - 0.9 * step_count / max_steps on reaching the goal.
    assert reward == pytest.approx(1 - 0.9 * len(GOAL_ACTIONS) / max_steps)
    assert terminated
    assert not truncated
    assert info["is_success"] is True
    assert tuple(env.unwrapped.agent_pos) == (3, 3)


def test_timeout_is_not_success():
    env = make_minigrid_env(EMPTY_ID, observation="image", max_steps=3)
    env.reset(seed=0)

    for _ in range(2):
        _, _, terminated, truncated, info = env.step(Actions.left)
        assert not terminated
        assert not truncated
        assert "is_success" not in info
    _, reward, terminated, truncated, info = env.step(Actions.left)

    assert reward == 0
    assert not terminated
    assert truncated
    assert info["is_success"] is False


def test_unknown_observation_mode_raises():
    with pytest.raises(ValueError, match=r"one of \('flat', 'image', 'onehot'\), got 'pixels'"):
        make_minigrid_env(EMPTY_ID, observation="pixels")


def test_non_minigrid_id_raises():
    with pytest.raises(ValueError, match="'CartPole-v1'.*no \"image\" entry"):
        make_minigrid_env("CartPole-v1")


@pytest.mark.parametrize(
    ("env_id", "expected"),
    [
        ("MiniGrid-Empty-5x5-v0", True),
        ("MiniGrid-DoorKey-8x8-v0", True),
        ("BabyAI-GoToRedBall-v0", False),
        ("rnd_explore/DeepSea-v0", False),
        ("CartPole-v1", False),
        ("minigrid-Empty-5x5-v0", False),
    ],
)
def test_is_minigrid_id(env_id, expected):
    assert is_minigrid_id(env_id) is expected


def test_onehot_observation_encodes_every_index():
    from stable_baselines3.common.preprocessing import preprocess_obs

    from rnd_explore.observation_encoding import ObservationEncoder

    onehot_env = make_minigrid_env("MiniGrid-DoorKey-5x5-v0", observation="onehot")
    image_env = make_minigrid_env("MiniGrid-DoorKey-5x5-v0", observation="image")
    observation, _ = onehot_env.reset(seed=4)
    image, _ = image_env.reset(seed=4)

    np.testing.assert_array_equal(observation, image.reshape(-1).astype(np.int64))
    assert onehot_env.observation_space.nvec.tolist() == [11, 6, 3] * 49
    features = ObservationEncoder(onehot_env.observation_space).encode(observation[None], "cpu")[0]
    assert features.shape == (980,)
    # One active feature per index; cell c's object type k sits at position 20 * c + k.
    assert features.sum().item() == 147
    assert all(features[20 * cell + int(image.reshape(-1, 3)[cell, 0])] == 1 for cell in range(49))
    sb3_features = preprocess_obs(torch.as_tensor(observation[None]), onehot_env.observation_space)[0]
    assert torch.equal(sb3_features, features)
