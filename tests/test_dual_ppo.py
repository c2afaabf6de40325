"""PPO with two value heads: stream targets inside the agent, checkpoints and exact resumption."""

import json
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from rnd_explore import BonusConfig, NoveltyBonus
from rnd_explore.agents.dual_ppo import DualValuePPO
from rnd_explore.config import TrainConfig
from rnd_explore.training import load_episodes, train

EPISODE_LENGTH = 3


class ThreeStepEnv(gym.Env):
    """Reward 1 on the third step of every episode; terminates there, or truncates if asked."""

    observation_space = spaces.Box(0.0, 3.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, truncate=False):
        self.truncate = truncate

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t == EPISODE_LENGTH
        return np.array([float(self.t)], np.float32), float(end), end and not self.truncate, end and self.truncate, {}


class ConstantBonus(NoveltyBonus):
    """Raw bonus 1 for every observation."""

    def build_networks(self, generator):
        self.unused = nn.Parameter(torch.zeros(1))

    def trainable_parameters(self):
        return [self.unused]

    def raw_score(self, features):
        return torch.ones(features.shape[0])

    def predictor_loss(self, features):
        return self.unused.sum()


def three_step_agent(truncate):
    config = TrainConfig(agent="ppo-dual", env_id="CartPole-v1", num_envs=1, n_steps=6, batch_size=6,
                         gamma=0.5, gamma_int=0.99, gae_lambda=1.0, warmup_steps=0, device="cpu")
    venv = make_vec_env(lambda: ThreeStepEnv(truncate), n_envs=1, seed=0, vec_env_cls=DummyVecEnv)
    bonus = ConstantBonus(venv.observation_space, 1, BonusConfig(), "cpu")
    agent = DualValuePPO(config, venv, bonus)
    with torch.no_grad():
        for head in (agent.policy.extrinsic_value, agent.policy.intrinsic_value):
            head.weight.zero_()
            head.bias.zero_()
        agent.policy.extrinsic_value.bias.fill_(5.0)  # V_ext = 5 everywhere, V_int = 0
    return agent


@pytest.mark.parametrize("truncate", [False, True])
def test_stream_targets_in_three_step_episodes(truncate):
    agent = three_step_agent(truncate)

    rollout = agent.collect_rollout()
    extrinsic, intrinsic = agent.compute_targets(rollout)

    # Intrinsic: constant normalised reward c, V_int = 0, lambda 1: the target at step t is
    # c * sum_{k=0}^{5-t} 0.99^k, growing across the episode end at step 2.
    c = rollout.intrinsic_rewards[0, 0].item()
    expected_intrinsic = [c * sum(0.99 ** k for k in range(6 - t)) for t in range(6)]
    torch.testing.assert_close(intrinsic.returns[:, 0], torch.tensor(expected_intrinsic))
    assert intrinsic.returns[0, 0] > intrinsic.returns[3, 0]
    # Extrinsic: gamma 0.5, reward 1 at the end of each episode. A terminated episode ends
    # there; a truncated one bootstraps with gamma * V_ext(final observation) = 0.5 * 5.
    end_value = 1.0 + (0.5 * 5.0 if truncate else 0.0)
    episode = [0.25 * end_value, 0.5 * end_value, end_value]
    torch.testing.assert_close(extrinsic.returns[:, 0], torch.tensor(episode + episode))


def small_config(tmp_path, **overrides):
    settings = dict(agent="ppo-dual", env_kwargs={"size": 6}, total_steps=4 * 4 * 32, num_envs=4, n_steps=32,
                    batch_size=64, warmup_steps=4, bonus_minibatch_size=64, log_dir=str(tmp_path), device="cpu",
                    checkpoint_every=1)
    settings.update(overrides)
    return TrainConfig(**settings)


def test_resumed_run_matches_uninterrupted(tmp_path):
    train(small_config(tmp_path, run_name="whole"))
    train(small_config(tmp_path, run_name="split", total_steps=2 * 4 * 32))
    resumed = train(small_config(tmp_path, run_name="split", resume=True))

    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    split = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert resumed.total_steps == 4 * 4 * 32
    assert split["num_timesteps"] == whole["num_timesteps"]
    for name, value in whole["policy"].items():
        torch.testing.assert_close(split["policy"][name], value, rtol=0, atol=0)
    for name, value in whole["bonus"].items():
        if torch.is_tensor(value):
            torch.testing.assert_close(split["bonus"][name], value, rtol=0, atol=0)
    np.testing.assert_array_equal(load_episodes(tmp_path / "split")["extrinsic_return"],
                                  load_episodes(tmp_path / "whole")["extrinsic_return"])


def test_checkpoint_round_trip_in_fresh_process(tmp_path):
    config = small_config(tmp_path, run_name="saved", total_steps=2 * 4 * 32)
    train(config)
    batch = np.eye(36, dtype=np.float32).reshape(36, 6, 6)[:8]
    np.save(tmp_path / "batch.npy", batch)
    script = textwrap.dedent(f"""
        import json, numpy as np, torch
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import DummyVecEnv
        from rnd_explore.agents.dual_ppo import DualValuePPO
        from rnd_explore.agents.sb3_ppo import make_env
        from rnd_explore.bonuses import make_bonus
        from rnd_explore.config import TrainConfig
        state = torch.load({str(tmp_path / 'saved' / 'checkpoint.pt')!r}, weights_only=False)
        config = TrainConfig(**state["config"])
        venv = make_vec_env(lambda: make_env(config.env_id, config.resolved_env_kwargs()), n_envs=config.num_envs,
                            seed=config.seed, vec_env_cls=DummyVecEnv)
        bonus = make_bonus(config.bonus, venv.observation_space, config.num_envs, config.bonus_config(), "cpu")
        agent = DualValuePPO(config, venv, bonus)
        agent.load_state_dict(state)
        batch = np.load({str(tmp_path / 'batch.npy')!r})
        logits, extrinsic, intrinsic = agent.policy(batch)
        actions = agent.act(batch)[0]
        print(json.dumps({{"logits": logits.tolist(), "extrinsic": extrinsic.tolist(), "intrinsic": intrinsic.tolist(),
                          "actions": actions.tolist(), "bonus": agent.bonus.score(batch).tolist()}}))
    """)
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    fresh = json.loads(output.strip().splitlines()[-1])

    state = torch.load(tmp_path / "saved" / "checkpoint.pt", weights_only=False)
    venv = make_vec_env(lambda: gym.make("rnd_explore/DeepSea-v0", size=6), n_envs=4, seed=0, vec_env_cls=DummyVecEnv)
    from rnd_explore.bonuses import make_bonus

    restored_config = TrainConfig(**state["config"])
    bonus = make_bonus("rnd", venv.observation_space, 4, restored_config.bonus_config(), "cpu")
    agent = DualValuePPO(restored_config, venv, bonus)
    agent.load_state_dict(state)
    logits, extrinsic, intrinsic = agent.policy(batch)
    np.testing.assert_array_equal(np.array(fresh["logits"], np.float32), logits.detach().numpy())
    np.testing.assert_array_equal(np.array(fresh["extrinsic"], np.float32), extrinsic.detach().numpy())
    np.testing.assert_array_equal(np.array(fresh["intrinsic"], np.float32), intrinsic.detach().numpy())
    np.testing.assert_array_equal(np.array(fresh["actions"]), agent.act(batch)[0].numpy())
    np.testing.assert_array_equal(np.array(fresh["bonus"], np.float32), agent.bonus.score(batch).numpy())


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="Cannot resume: .*checkpoint.pt does not exist"):
        train(small_config(tmp_path, run_name="missing", resume=True))
    with pytest.raises(ValueError, match="resume needs --agent ppo-dual and a --run-name"):
        TrainConfig(resume=True).validate()
