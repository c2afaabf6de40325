"""The SB3 path: the bonus is added at step time, so it enters SB3's GAE."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from rnd_explore import BonusConfig, BonusVecEnvWrapper, NoveltyBonus, make_bonus

EPISODE_LENGTH = 10
BONUS_STEP = 5  # the transition from observation 5 to 6 earns the bonus


class CounterEnv(gym.Env):
    """Observation = step index within the episode; reward always 0; terminates after 10 steps."""

    observation_space = spaces.Box(0.0, EPISODE_LENGTH, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)], np.float32), 0.0, self.t == EPISODE_LENGTH, False, {}


class IndicatorBonus(NoveltyBonus):
    """Raw bonus 1 on the observation BONUS_STEP + 1 and 0 elsewhere."""

    def build_networks(self, generator):
        self.unused = nn.Parameter(torch.zeros(1))

    def trainable_parameters(self):
        return [self.unused]

    def score(self, observations):
        return torch.as_tensor((np.asarray(observations)[:, 0] == BONUS_STEP + 1).astype(np.float32))

    def predictor_loss(self, features):
        return self.unused.sum()


class CaptureBuffer(BaseCallback):
    def _on_step(self):
        return True

    def _on_rollout_end(self):
        self.advantages = self.model.rollout_buffer.advantages.copy()
        self.rewards = self.model.rollout_buffer.rewards.copy()


def first_rollout(intrinsic_coef, gamma=0.9, gae_lambda=0.8):
    venv = make_vec_env(CounterEnv, n_envs=1, seed=0, vec_env_cls=DummyVecEnv)
    bonus = IndicatorBonus(venv.observation_space, 1, BonusConfig(), "cpu")
    env = BonusVecEnvWrapper(venv, bonus, intrinsic_coef=intrinsic_coef)
    model = PPO("MlpPolicy", env, n_steps=EPISODE_LENGTH, batch_size=EPISODE_LENGTH, n_epochs=1,
                gamma=gamma, gae_lambda=gae_lambda, seed=0, device="cpu")
    capture = CaptureBuffer()
    model.learn(total_timesteps=EPISODE_LENGTH, callback=capture)
    return capture.rewards[:, 0], capture.advantages[:, 0]


def test_bonus_reaches_advantages_through_gae():
    gamma, gae_lambda = 0.9, 0.8
    rewards_with, advantages_with = first_rollout(intrinsic_coef=1.0, gamma=gamma, gae_lambda=gae_lambda)
    rewards_without, advantages_without = first_rollout(intrinsic_coef=0.0, gamma=gamma, gae_lambda=gae_lambda)

    assert np.all(rewards_without == 0.0)
    bonus_reward = rewards_with[BONUS_STEP]
    assert bonus_reward > 0
    assert np.count_nonzero(rewards_with) == 1

    # Same seed, same policy and values: the advantages differ only by the bonus's GAE term,
    # (gamma * lambda)^(t - s) * r_int for steps s <= t and 0 after t.
    difference = advantages_with - advantages_without
    steps = np.arange(EPISODE_LENGTH)
    expected = np.where(steps <= BONUS_STEP, (gamma * gae_lambda) ** (BONUS_STEP - steps) * bonus_reward, 0.0)
    np.testing.assert_allclose(difference, expected, rtol=1e-5, atol=1e-6)
    assert np.all(difference[:BONUS_STEP] > 0)


def test_terminal_observation_is_scored():
    venv = make_vec_env(CounterEnv, n_envs=2, seed=0, vec_env_cls=DummyVecEnv)
    bonus = IndicatorBonus(venv.observation_space, 2, BonusConfig(), "cpu")
    env = BonusVecEnvWrapper(venv, bonus, intrinsic_coef=2.0)
    env.reset()

    for _ in range(EPISODE_LENGTH - 1):
        env.step(np.zeros(2, dtype=np.int64))
    observations, rewards, dones, infos = env.step(np.zeros(2, dtype=np.int64))

    assert dones.all()
    assert observations[0, 0] == 0.0  # auto-reset observation
    assert infos[0]["terminal_observation"][0] == EPISODE_LENGTH
    assert infos[0]["extrinsic_reward"] == 0.0
    assert infos[0]["raw_bonus"] == 0.0
    assert infos[0]["episode_intrinsic_return"] > 0.0
    np.testing.assert_allclose(rewards, [2.0 * info["intrinsic_reward"] for info in infos])


def test_wrapper_rejects_mismatched_bonus():
    venv = make_vec_env(CounterEnv, n_envs=2, seed=0, vec_env_cls=DummyVecEnv)
    with pytest.raises(ValueError, match="num_envs=3 but the VecEnv has 2"):
        BonusVecEnvWrapper(venv, IndicatorBonus(venv.observation_space, 3, BonusConfig(), "cpu"))
    other_space = spaces.Box(0.0, 1.0, (4,), np.float32)
    with pytest.raises(ValueError, match=r"shape \(4,\) but the VecEnv produces \(1,\)"):
        BonusVecEnvWrapper(venv, make_bonus("rnd", other_space, 2))
    with pytest.raises(ValueError, match="intrinsic_coef must be a finite number >= 0, got -1"):
        BonusVecEnvWrapper(venv, IndicatorBonus(venv.observation_space, 2, BonusConfig(), "cpu"), intrinsic_coef=-1)


def test_warmup_initialises_observation_statistics():
    venv = make_vec_env(CounterEnv, n_envs=2, seed=0, vec_env_cls=DummyVecEnv)
    bonus = make_bonus("rnd", venv.observation_space, 2, BonusConfig(hidden_sizes=(8,), output_dim=2))
    env = BonusVecEnvWrapper(venv, bonus)

    env.warmup(EPISODE_LENGTH)

    # Next observations of 10 steps in 2 envs are 1..10 twice: mean 5.5, variance 8.25.
    assert bonus.obs_normalizer.stats.count.item() == 20
    assert bonus.obs_normalizer.stats.mean.item() == pytest.approx(5.5)
    assert bonus.obs_normalizer.stats.var.item() == pytest.approx(8.25)
    assert bonus.reward_normalizer.return_stats.count.item() == 20


def test_gymnasium_wrapper_matches_vec_wrapper():
    from rnd_explore import BonusRewardWrapper
    from rnd_explore.envs import DeepSeaEnv

    config = BonusConfig(hidden_sizes=(16,), output_dim=4)
    venv = DummyVecEnv([lambda: DeepSeaEnv(size=5)])
    vec_wrapper = BonusVecEnvWrapper(venv, make_bonus("rnd", venv.observation_space, 1, config), intrinsic_coef=2.0)
    single = DeepSeaEnv(size=5)
    gym_wrapper = BonusRewardWrapper(single, make_bonus("rnd", single.observation_space, 1, config), intrinsic_coef=2.0)
    actions = np.random.default_rng(0).integers(0, 2, size=15)

    vec_wrapper.reset()
    gym_wrapper.reset(seed=0)
    vec_rewards, gym_rewards = [], []
    for action in actions:
        _, reward, _, _ = vec_wrapper.step(np.array([action]))
        vec_rewards.append(float(reward[0]))
        _, single_reward, terminated, truncated, _ = gym_wrapper.step(int(action))
        gym_rewards.append(single_reward)
        if terminated or truncated:
            gym_wrapper.reset()

    np.testing.assert_allclose(vec_rewards, gym_rewards, rtol=1e-5, atol=1e-7)
    assert max(gym_rewards) > 0
    vec_stats = vec_wrapper.update_bonus()
    gym_stats = gym_wrapper.update_bonus()
    assert vec_stats["trained_samples"] == gym_stats["trained_samples"]
    assert vec_stats["predictor_loss"] == pytest.approx(gym_stats["predictor_loss"], rel=1e-5)


def test_gymnasium_wrapper_warmup_bounds_first_rewards():
    from rnd_explore import BonusRewardWrapper
    from rnd_explore.envs import DeepSeaEnv

    env = DeepSeaEnv(size=6)
    bonus = make_bonus("rnd", env.observation_space, 1, BonusConfig(hidden_sizes=(16,), output_dim=4))
    wrapper = BonusRewardWrapper(env, bonus, intrinsic_coef=1.0)
    env.action_space.seed(0)

    wrapper.warmup(60, seed=0)

    # 60 steps = 10 episodes of 6: 60 observations and 60 filtered returns in the statistics.
    assert bonus.obs_normalizer.stats.count.item() == 60
    assert bonus.reward_normalizer.return_stats.count.item() == 60
    wrapper.reset(seed=1)
    _, reward, _, _, info = wrapper.step(0)
    # Normalised by the std of the discounted return, the first reward is of order 1, not 1e4.
    assert 0 < info["intrinsic_reward"] < 10
