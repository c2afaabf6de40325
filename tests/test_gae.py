"""Two-stream GAE against hand-computed values."""

import pytest
import torch

from rnd_explore.agents.gae import continuing_gae, episodic_gae

GAMMA_INT = 0.99


def episodes_of_three(steps=6):
    """One env, episodes of length 3: steps 2 and 5 end an episode."""
    terminated = torch.zeros(steps, 1, dtype=torch.bool)
    terminated[2::3] = True
    return terminated


def test_intrinsic_returns_run_across_episode_ends():
    rewards = torch.ones(6, 1)
    zeros = torch.zeros(6, 1)

    targets = continuing_gae(rewards, zeros, torch.zeros(1), GAMMA_INT, gae_lambda=1.0)

    # With zero values and lambda 1 the target is the discounted sum to the rollout's end:
    # sum_{k=t}^{5} 0.99^(k - t), which keeps growing past the episode end at step 2.
    expected = [sum(GAMMA_INT ** k for k in range(6 - t)) for t in range(6)]
    torch.testing.assert_close(targets.returns[:, 0], torch.tensor(expected))
    assert targets.returns[0, 0] > targets.returns[3, 0] > 1.0


def test_extrinsic_returns_reset_at_termination():
    rewards = torch.tensor([[0.0], [0.0], [1.0], [0.0], [0.0], [1.0]])
    zeros = torch.zeros(6, 1)
    terminated = episodes_of_three()

    targets = episodic_gae(rewards, zeros, torch.tensor([7.0]), terminated, torch.zeros_like(terminated),
                           zeros, gamma=0.5, gae_lambda=1.0)

    # Each episode gets only its own reward: 0.25, 0.5, 1 per episode, and next_value 7 is cut
    # off because the last step terminated.
    torch.testing.assert_close(targets.returns[:, 0], torch.tensor([0.25, 0.5, 1.0, 0.25, 0.5, 1.0]))


def test_extrinsic_returns_bootstrap_on_truncation():
    rewards = torch.zeros(3, 1)
    zeros = torch.zeros(3, 1)
    truncated = torch.tensor([[False], [False], [True]])
    final_values = torch.tensor([[0.0], [0.0], [4.0]])

    targets = episodic_gae(rewards, zeros, torch.tensor([100.0]), torch.zeros_like(truncated), truncated,
                           final_values, gamma=0.5, gae_lambda=1.0)

    # The truncated step bootstraps with gamma * V(final observation) = 0.5 * 4, not with
    # next_value 100, and earlier steps discount that: 2, 1, 0.5.
    torch.testing.assert_close(targets.returns[:, 0], torch.tensor([0.5, 1.0, 2.0]))


def test_hand_computed_gae_with_values():
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    values = torch.tensor([[0.5], [1.0], [0.2]])
    gamma, lam = 0.9, 0.8
    never = torch.zeros(3, 1, dtype=torch.bool)

    targets = episodic_gae(rewards, values, torch.tensor([0.4]), never, never, torch.zeros(3, 1), gamma, lam)

    delta2 = 2.0 + gamma * 0.4 - 0.2
    delta1 = 0.0 + gamma * 0.2 - 1.0
    delta0 = 1.0 + gamma * 1.0 - 0.5
    advantage2 = delta2
    advantage1 = delta1 + gamma * lam * advantage2
    advantage0 = delta0 + gamma * lam * advantage1
    torch.testing.assert_close(targets.advantages[:, 0], torch.tensor([advantage0, advantage1, advantage2]))
    torch.testing.assert_close(targets.returns, targets.advantages + values)


def test_streams_are_independent_per_environment():
    rewards = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    zeros = torch.zeros(2, 2)

    targets = continuing_gae(rewards, zeros, torch.zeros(2), 0.5, 1.0)

    torch.testing.assert_close(targets.returns, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


def test_gae_rejects_wrong_layout():
    with pytest.raises(ValueError, match=r"values must have the rewards' shape \[T, N\] = \[3, 2\], got \(2, 3\)"):
        continuing_gae(torch.zeros(3, 2), torch.zeros(2, 3), torch.zeros(2), 0.9, 0.9)
    with pytest.raises(ValueError, match=r"next_value must have shape \[N\] = \[2\]"):
        continuing_gae(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3), 0.9, 0.9)
