"""Classic RND: score formula, frozen target, training, state round trip, input errors."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rnd_explore import BonusConfig, RNDBonus, make_bonus

VECTOR_SPACE = spaces.Box(-1.0, 1.0, (6,), np.float32)


def make_rnd(num_members=1, **overrides):
    settings = {"hidden_sizes": (32, 32), "output_dim": 8, **overrides}
    config = BonusConfig(num_members=num_members, **settings)
    return RNDBonus(VECTOR_SPACE, num_envs=2, config=config, device="cpu")


def sample_observations(count, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(count, 6)).astype(np.float32)


@pytest.mark.parametrize("num_members", [1, 3])
def test_score_is_half_mean_squared_error_of_members(num_members):
    bonus = make_rnd(num_members)
    observations = sample_observations(64)
    bonus.update_observation_statistics(observations)

    score = bonus.score(observations[:5])

    features = bonus.features(observations[:5])
    errors = [
        bonus.predictor.member_module(k)(features) - bonus.target.member_module(k)(features)
        for k in range(num_members)
    ]
    reference = 0.5 * torch.stack(errors).square().mean(dim=(0, 2))
    torch.testing.assert_close(score, reference.detach(), rtol=1e-5, atol=1e-6)


def test_target_is_frozen_and_predictor_learns():
    bonus = make_rnd()
    target_before = {name: value.clone() for name, value in bonus.target.state_dict().items()}
    predictor_before = {name: value.clone() for name, value in bonus.predictor.state_dict().items()}
    optimised = {id(parameter) for group in bonus.optimizer.param_groups for parameter in group["params"]}
    observations = sample_observations(512)
    bonus.update_observation_statistics(observations)

    for _ in range(5):
        bonus.update(observations)

    assert not any(id(parameter) in optimised for parameter in bonus.target.parameters())
    assert all(not parameter.requires_grad for parameter in bonus.target.parameters())
    for name, value in bonus.target.state_dict().items():
        assert torch.equal(value, target_before[name]), name
    changed = [not torch.equal(value, predictor_before[name]) for name, value in bonus.predictor.state_dict().items()]
    assert all(changed)


def test_bonus_decays_on_a_constant_observation():
    bonus = make_rnd(update_proportion=1.0, learning_rate=1e-3)
    constant = np.full((256, 6), 0.3, dtype=np.float32)
    bonus.update_observation_statistics(np.concatenate([constant, sample_observations(256)]))
    initial = bonus.score(constant[:1]).item()

    for _ in range(60):
        bonus.update(constant)

    final = bonus.score(constant[:1]).item()
    assert final < 0.01 * initial


def test_novel_observation_scores_higher_than_trained_one():
    bonus = make_rnd(update_proportion=1.0)
    familiar = sample_observations(256, seed=1) * 0.1
    bonus.update_observation_statistics(sample_observations(1024, seed=2))
    for _ in range(40):
        bonus.update(familiar)

    novel = np.full((1, 6), 1.0, dtype=np.float32)

    assert bonus.score(novel).item() > 5 * bonus.score(familiar).mean().item()


def test_state_dict_round_trip_restores_scores_and_training():
    bonus = make_rnd(num_members=2)
    observations = sample_observations(300)
    bonus.update_observation_statistics(observations)
    bonus.update(observations)
    bonus.normalize_reward(torch.tensor([0.5, 1.0]))
    state = bonus.state_dict()

    restored = make_rnd(num_members=2, seed=123)
    restored.load_state_dict(state)

    torch.testing.assert_close(restored.score(observations[:10]), bonus.score(observations[:10]), rtol=0, atol=0)
    torch.testing.assert_close(restored.reward_normalizer.filter.returns, bonus.reward_normalizer.filter.returns)
    # Optimiser and sampling generator travel too: one more update gives identical weights.
    bonus.update(observations)
    restored.update(observations)
    for name, value in bonus.predictor.state_dict().items():
        torch.testing.assert_close(restored.predictor.state_dict()[name], value, rtol=0, atol=0)


def test_update_proportion_sets_trained_samples():
    bonus = make_rnd(update_proportion=0.25, update_epochs=4)
    observations = sample_observations(4000)

    stats = bonus.update(observations)

    # 4 epochs x Binomial(4000, 0.25): mean 4000, std 4 * sqrt(4000 * 0.25 * 0.75) / 2 ~ 55; 5 sigma bound.
    assert abs(stats["trained_samples"] - 4000) < 5 * 2 * np.sqrt(4000 * 0.25 * 0.75)


def test_image_observations_use_the_batched_cnn():
    image_space = spaces.Box(0, 255, (7, 7, 3), np.uint8)
    bonus = make_bonus("rnd", image_space, 1, BonusConfig(hidden_sizes=(16,), output_dim=4))
    images = np.random.default_rng(0).integers(0, 255, size=(5, 7, 7, 3), dtype=np.uint8)
    bonus.update_observation_statistics(images)

    score = bonus.score(images)

    features = bonus.features(images)
    reference = 0.5 * (bonus.predictor.member_module(0)(features) - bonus.target.member_module(0)(features)).square().mean(dim=1)
    torch.testing.assert_close(score, reference.detach(), rtol=1e-5, atol=1e-6)


def test_discrete_observations_are_one_hot():
    bonus = make_bonus("rnd", spaces.Discrete(5), 1, BonusConfig(hidden_sizes=(8,), output_dim=2))

    features = bonus.encoder.encode(np.array([0, 3]), "cpu")

    torch.testing.assert_close(features, torch.tensor([[1.0, 0, 0, 0, 0], [0, 0, 0, 1.0, 0]]))


def test_bad_inputs_raise_clear_errors():
    bonus = make_rnd()
    bad = sample_observations(3)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="observations contains 1 NaN or infinite"):
        bonus.score(bad)
    with pytest.raises(ValueError, match=r"observations must have shape \[B, 6\].*got \(3, 5\)"):
        bonus.score(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="cannot encode the observation space Dict"):
        make_bonus("rnd", spaces.Dict({"a": VECTOR_SPACE}), 1)
    with pytest.raises(ValueError, match="Unknown bonus 'count'. Choose one of: none, rnd, ensemble, bayes-rnd"):
        make_bonus("count", VECTOR_SPACE, 1)
    with pytest.raises(ValueError, match="output_dim must be an integer >= 1, got 0"):
        make_rnd(output_dim=0)
    with pytest.raises(ValueError, match="update_proportion must lie in \\(0, 1\\], got 0.0"):
        make_rnd(update_proportion=0.0)
    with pytest.raises(ValueError, match="bonus learning_rate must be a finite number > 0, got -1"):
        make_rnd(learning_rate=-1)


def test_none_bonus_is_none():
    assert make_bonus("none", VECTOR_SPACE, 1) is None
