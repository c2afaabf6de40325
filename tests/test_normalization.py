"""Running statistics and the intrinsic reward filter against values computed by hand or by numpy."""

import numpy as np
import pytest
import torch

from rnd_explore import IntrinsicRewardNormalizer, ObservationNormalizer, RewardForwardFilter, RunningMeanStd


def test_forward_filter_hand_example():
    forward_filter = RewardForwardFilter(num_envs=2, gamma=0.5)
    rewards = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])  # [T=4, num_envs=2]

    returns = forward_filter.filter_rollout(rewards)

    np.testing.assert_allclose(returns[:, 0].numpy(), [1.0, 0.5, 0.25, 0.125])
    np.testing.assert_allclose(returns[:, 1].numpy(), [0.0, 0.0, 0.0, 0.0])


def test_forward_filter_permuting_envs_permutes_returns():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 1.0]])
    permutation = torch.tensor([2, 0, 1])

    returns = RewardForwardFilter(3, 0.5).filter_rollout(rewards)
    permuted = RewardForwardFilter(3, 0.5).filter_rollout(rewards[:, permutation])

    torch.testing.assert_close(permuted, returns[:, permutation])


def test_forward_filter_is_not_reset_between_calls():
    forward_filter = RewardForwardFilter(1, 0.5)
    forward_filter.step(torch.tensor([1.0]))

    second = forward_filter.step(torch.tensor([0.0]))

    assert second.item() == 0.5


def test_forward_filter_rejects_wrong_layout():
    forward_filter = RewardForwardFilter(num_envs=2, gamma=0.5)
    with pytest.raises(ValueError, match=r"time-major with shape \[T, num_envs\] = \[T, 2\], got \(2, 4\)"):
        forward_filter.filter_rollout(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\[num_envs\] = \[2\], got \(3,\)"):
        forward_filter.step(torch.zeros(3))
    with pytest.raises(ValueError, match="gamma_int must lie in \\[0, 1\\), got 1.5"):
        RewardForwardFilter(2, 1.5)


@pytest.mark.parametrize("batch_size", [1, 7, 128])
def test_running_mean_std_matches_numpy(batch_size):
    rng = np.random.default_rng(batch_size)
    batches = [rng.normal(3.0, 2.0, size=(batch_size, 4)) for _ in range(20)]
    stats = RunningMeanStd((4,))

    for batch in batches:
        stats.update(torch.as_tensor(batch))
        assert torch.isfinite(stats.var).all()

    stream = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean.numpy(), stream.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats.var.numpy(), stream.var(axis=0), rtol=1e-10)
    assert stats.count.item() == len(stream)


def test_running_mean_std_single_sample_has_zero_variance():
    stats = RunningMeanStd(())

    stats.update(torch.tensor([2.5]))

    assert stats.mean.item() == 2.5
    assert stats.var.item() == 0.0


@pytest.mark.parametrize("value", [0.0, 0.7])
def test_constant_bonus_normalises_to_finite_values(value):
    normalizer = IntrinsicRewardNormalizer(num_envs=3, gamma=0.99)

    outputs = [normalizer.normalize_step(torch.full((3,), value)) for _ in range(50)]

    stacked = torch.stack(outputs)
    assert torch.isfinite(stacked).all()
    if value == 0.0:
        assert stacked.abs().max().item() == 0.0


def test_intrinsic_normalizer_divides_by_return_std():
    normalizer = IntrinsicRewardNormalizer(num_envs=2, gamma=0.5)
    rewards = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [3.0, 0.0]])
    expected_returns = RewardForwardFilter(2, 0.5).filter_rollout(rewards).reshape(-1).numpy()

    normalized = normalizer.normalize_rollout(rewards)

    expected = rewards.numpy() / np.sqrt(expected_returns.var() + 1e-8)
    np.testing.assert_allclose(normalized.numpy(), expected, rtol=1e-6)


def test_observation_normalizer_is_identity_before_statistics():
    normalizer = ObservationNormalizer((3,), clip=5.0)

    output = normalizer(torch.tensor([[0.5, -2.0, 9.0]]))

    torch.testing.assert_close(output, torch.tensor([[0.5, -2.0, 5.0]]))


def test_observation_normalizer_whitens_and_clips():
    normalizer = ObservationNormalizer((2,), clip=5.0)
    data = torch.tensor([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0]])
    normalizer.update(data)

    output = normalizer(torch.tensor([[2.0, 10.0], [100.0, 10.0]]))

    assert output[0, 0].item() == pytest.approx(0.0, abs=1e-6)
    assert output[1, 0].item() == 5.0
    assert output[1, 1].item() == pytest.approx(0.0, abs=1e-6)
