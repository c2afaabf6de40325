"""Tests for DeepSeaEnv and its Gymnasium registration."""

import math
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rnd_explore.envs import DEEP_SEA_ID, DeepSeaEnv

MOVE_COST = 0.01


def bsuite_optimal_return(size: int) -> float:
    """Return the optimal deterministic return from bsuite's definition.

    The +1 in the bottom-right cell needs N "right" moves, each costing 0.01 / N, so
    return* = 1 - N * (0.01 / N) = 0.99 for every N.
    """
    return 1.0 - size * (MOVE_COST / size)


def run_episode(env: DeepSeaEnv, choose_right, seed: int | None = None):
    """Run one episode and return (rewards, infos, observations, positions before each step).

    ``choose_right(row, column)`` returns True to take the action that means "right".
    """
    observation, info = env.reset(seed=seed)
    rewards, infos, observations, positions = [], [info], [observation], []
    terminated = False
    while not terminated:
        row, column = info["position"]
        positions.append((row, column))
        right_action = int(env.action_mapping[row, column])
        action = right_action if choose_right(row, column) else 1 - right_action
        observation, reward, terminated, truncated, info = env.step(action)
        assert truncated is False
        rewards.append(reward)
        infos.append(info)
        observations.append(observation)
    return rewards, infos, observations, positions


@pytest.mark.parametrize("size", [2, 5, 10, 17])
@pytest.mark.parametrize("mapping_seed", [0, 1, 42])
def test_optimal_policy_return(size, mapping_seed):
    env = DeepSeaEnv(size=size, mapping_seed=mapping_seed)

    rewards, infos, _, _ = run_episode(env, lambda row, column: True, seed=0)

    assert sum(rewards) == pytest.approx(bsuite_optimal_return(size), abs=1e-12)
    assert sum(rewards) == pytest.approx(0.99, abs=1e-12)
    assert infos[-1]["is_success"] is True
    assert infos[-1]["position"] == (size, size - 1)
    assert env.optimal_return == pytest.approx(bsuite_optimal_return(size), abs=1e-12)


def test_optimal_policy_step_rewards():
    size = 6
    env = DeepSeaEnv(size=size, mapping_seed=5)

    rewards, _, _, positions = run_episode(env, lambda row, column: True, seed=0)

    assert positions == [(row, row) for row in range(size)]
    for reward in rewards[:-1]:
        assert reward == pytest.approx(-MOVE_COST / size, abs=1e-15)
    assert rewards[-1] == pytest.approx(1.0 - MOVE_COST / size, abs=1e-15)


@pytest.mark.parametrize("size", [2, 7, 10])
@pytest.mark.parametrize("mapping_seed", [0, 3])
def test_all_left_policy_returns_zero(size, mapping_seed):
    env = DeepSeaEnv(size=size, mapping_seed=mapping_seed)

    rewards, infos, _, positions = run_episode(env, lambda row, column: False, seed=0)

    assert rewards == [0.0] * size
    assert infos[-1]["is_success"] is False
    assert [column for _, column in positions] == [0] * size


def test_constant_action_never_succeeds():
    size = 10
    env = DeepSeaEnv(size=size, mapping_seed=0)
    for action in (0, 1):
        env.reset(seed=0)
        total_reward = 0.0
        terminated = False
        while not terminated:
            _, reward, terminated, _, info = env.step(action)
            total_reward += reward
        assert info["is_success"] is False
        assert total_reward <= 0.0


@pytest.mark.parametrize("size", [4, 10])
def test_mapping_seed_fixes_layout(size):
    first = DeepSeaEnv(size=size, mapping_seed=3).action_mapping
    same = DeepSeaEnv(size=size, mapping_seed=3).action_mapping
    other = DeepSeaEnv(size=size, mapping_seed=4).action_mapping

    assert first.shape == (size, size)
    assert first.dtype == np.bool_
    np.testing.assert_array_equal(first, same)
    assert not np.array_equal(first, other)


def test_mapping_seed_through_make():
    first = gym.make(DEEP_SEA_ID, size=12, mapping_seed=3).unwrapped.action_mapping
    same = gym.make(DEEP_SEA_ID, size=12, mapping_seed=3).unwrapped.action_mapping
    default = gym.make(DEEP_SEA_ID, size=12).unwrapped.action_mapping

    np.testing.assert_array_equal(first, same)
    np.testing.assert_array_equal(default, DeepSeaEnv(size=12, mapping_seed=0).action_mapping)
    assert not np.array_equal(first, default)


def test_episode_seed_keeps_layout():
    env = DeepSeaEnv(size=8, mapping_seed=11)
    initial = env.action_mapping.copy()

    env.reset(seed=1)
    after_seed_1 = env.action_mapping.copy()
    env.reset(seed=2)
    after_seed_2 = env.action_mapping.copy()

    np.testing.assert_array_equal(after_seed_1, initial)
    np.testing.assert_array_equal(after_seed_2, initial)


def test_action_mapping_read_only():
    env = DeepSeaEnv(size=5)
    with pytest.raises(ValueError, match="read-only"):
        env.action_mapping[0, 0] = not env.action_mapping[0, 0]


def test_unrandomized_actions_map_one_to_right():
    size = 6
    env = DeepSeaEnv(size=size, randomize_actions=False, mapping_seed=9)

    assert env.action_mapping.all()

    env.reset(seed=0)
    total_reward = 0.0
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(1)
        total_reward += reward
    assert total_reward == pytest.approx(bsuite_optimal_return(size), abs=1e-12)
    assert info["is_success"] is True


@pytest.mark.parametrize("size", [2, 3, 9])
def test_episode_lasts_size_steps(size):
    env = DeepSeaEnv(size=size, mapping_seed=0)
    env.action_space.seed(0)
    env.reset(seed=0)

    terminated_flags = []
    for _ in range(size):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        terminated_flags.append(terminated)
        assert truncated is False

    assert terminated_flags == [False] * (size - 1) + [True]
    assert info["position"][0] == size
    with pytest.raises(RuntimeError, match="after the episode terminated"):
        env.step(0)


def test_observation_one_hot_then_zero():
    size = 5
    env = DeepSeaEnv(size=size, mapping_seed=2)
    # Zigzag so that the agent visits columns other than the diagonal.
    rewards, infos, observations, _ = run_episode(
        env, lambda row, column: row % 3 != 1, seed=0
    )

    for observation, info in zip(observations[:-1], infos[:-1]):
        assert observation.shape == (size, size)
        assert observation.dtype == np.float32
        assert observation.sum() == 1.0
        assert observation[info["position"]] == 1.0

    assert [info["position"] for info in infos] == [
        (0, 0), (1, 1), (2, 0), (3, 1), (4, 2), (5, 1)
    ]
    np.testing.assert_array_equal(observations[-1], np.zeros((size, size), np.float32))


def test_render_ansi_grid():
    env = DeepSeaEnv(size=3, mapping_seed=0, render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "A..\n...\n..*\n"

    env.step(int(env.action_mapping[0, 0]))
    assert env.render() == "...\n.A.\n..*\n"


def test_render_rgb_array_marks_agent_and_goal():
    env = DeepSeaEnv(size=3, mapping_seed=0, render_mode="rgb_array")
    env.reset(seed=0)

    frame = env.render()

    assert frame.shape == (24, 24, 3)
    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[4, 4], [255, 255, 255])  # agent cell (0, 0)
    np.testing.assert_array_equal(frame[20, 20], [230, 180, 30])  # goal cell (2, 2)
    np.testing.assert_array_equal(frame[4, 12], [20, 30, 70])


def test_sb3_make_vec_env_accepts_the_id():
    from stable_baselines3.common.env_util import make_vec_env

    # SB3 passes render_mode="rgb_array" when it builds envs from an id.
    venv = make_vec_env(DEEP_SEA_ID, n_envs=2, env_kwargs={"size": 4}, seed=0)

    assert venv.reset().shape == (2, 4, 4)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("deterministic", [True, False])
def test_env_checker_unwrapped(deterministic):
    env = gym.make(DEEP_SEA_ID, size=6, mapping_seed=1, deterministic=deterministic)
    check_env(env.unwrapped)


@pytest.mark.parametrize("deterministic", [True, False])
def test_env_checker_through_make(deterministic):
    env = gym.make(DEEP_SEA_ID, size=6, mapping_seed=1, deterministic=deterministic)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # check_env in gymnasium 1.4 warns whenever it receives a wrapper, not env.unwrapped.
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        check_env(env)


@pytest.mark.filterwarnings("error")
def test_reimport_registers_once():
    import importlib

    import rnd_explore.envs

    importlib.reload(rnd_explore.envs)
    assert gym.spec(DEEP_SEA_ID).entry_point == "rnd_explore.envs.deep_sea:DeepSeaEnv"


@pytest.mark.parametrize("size", [1, 0, -3, 2.5, "10", True, None])
def test_invalid_size_raises(size):
    expected = re.escape(f"size must be an integer >= 2, got {size!r}")
    with pytest.raises(ValueError, match=expected):
        DeepSeaEnv(size=size)


def test_invalid_size_through_make_raises():
    with pytest.raises(ValueError, match=r"got 1\."):
        gym.make(DEEP_SEA_ID, size=1)


@pytest.mark.parametrize("name", ["unscaled_move_cost", "reward_noise_std"])
@pytest.mark.parametrize("value", [-0.5, math.inf, math.nan, "0.01"])
def test_invalid_cost_or_noise_raises(name, value):
    expected = re.escape(f"{name} must be a finite number >= 0, got {value!r}")
    with pytest.raises(ValueError, match=expected):
        DeepSeaEnv(size=4, **{name: value})


def test_invalid_action_raises():
    env = DeepSeaEnv(size=4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be 0 or 1, got 2"):
        env.step(2)


def test_step_before_reset_raises():
    env = DeepSeaEnv(size=4)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)


def test_stochastic_right_fails_one_in_size():
    size = 10
    episodes = 400
    env = DeepSeaEnv(size=size, mapping_seed=0, deterministic=False)
    env.reset(seed=1234)

    attempts = 0
    failures = 0
    for _ in range(episodes):
        _, info = env.reset()
        terminated = False
        while not terminated:
            row, column = info["position"]
            observation, reward, terminated, _, info = env.step(int(env.action_mapping[row, column]))
            # In the last column a "right" move cannot change the column, so it is not counted.
            if column < size - 1:
                attempts += 1
                if info["position"][1] == column:
                    failures += 1
                    assert reward == pytest.approx(-MOVE_COST / size, abs=1e-15)

    # Each attempt fails independently with p = 1 / N, so the failure fraction is
    # binomial with standard error sqrt(p * (1 - p) / attempts), about 0.005 here.
    # Four standard errors give a false alarm rate below 1e-4 for a correct env.
    failure_probability = 1.0 / size
    standard_error = math.sqrt(failure_probability * (1 - failure_probability) / attempts)
    assert attempts > 3000
    assert abs(failures / attempts - failure_probability) < 4 * standard_error


@pytest.mark.parametrize("size", [2, 5, 10, 20])
def test_stochastic_optimal_return_closed_form(size):
    # The optimal policy tries "right" until a move fails, and then the +1 is out of reach,
    # so it goes left for free. With q = 1 - 1/N the +1 comes with probability q**(N-1),
    # and the number of paid "right" moves is k + 1 if the move on row k fails, else N.
    q = 1.0 - 1.0 / size
    expected_right_moves = sum(q**k * (1 - q) * (k + 1) for k in range(size - 1))
    expected_right_moves += q ** (size - 1) * size
    expected_return = q ** (size - 1) - (MOVE_COST / size) * expected_right_moves

    env = DeepSeaEnv(size=size, deterministic=False)

    assert env.optimal_return == pytest.approx(expected_return, abs=1e-12)
    assert env.optimal_return > q ** (size - 1) - MOVE_COST


def test_reward_noise_on_last_step_only():
    size = 4
    episodes = 2000
    env = DeepSeaEnv(size=size, mapping_seed=0, reward_noise_std=1.0)
    env.reset(seed=7)

    last_rewards = []
    for _ in range(episodes):
        rewards, _, _, _ = run_episode(env, lambda row, column: False)
        assert rewards[:-1] == [0.0] * (size - 1)
        last_rewards.append(rewards[-1])

    # Standard normal noise: the sample mean has standard error 1 / sqrt(2000), about
    # 0.022, and the sample standard deviation about 0.016. Both bounds are 4 errors wide.
    assert abs(np.mean(last_rewards)) < 0.09
    assert abs(np.std(last_rewards) - 1.0) < 0.064
