"""Ensemble-variance and Bayesian-RND bonuses against loop references and finite differences."""

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch.func import jvp

from rnd_explore import BonusConfig, make_bonus
from rnd_explore.bonuses import BayesianRNDBonus, EnsembleVarianceBonus

SPACE = spaces.Box(-1.0, 1.0, (5,), np.float32)


def build(name, num_members=3, num_envs=2, **overrides):
    settings = {"hidden_sizes": (16, 16), "output_dim": 4, "bias_std": 0.3, **overrides}
    return make_bonus(name, SPACE, num_envs, BonusConfig(num_members=num_members, **settings))


def observations(count, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(count, 5)).astype(np.float32)


@pytest.mark.parametrize("labels", ["zero", "random"])
def test_ensemble_score_and_loss_match_loop(labels):
    bonus = build("ensemble", num_members=4, ensemble_labels=labels)
    features = bonus.features(observations(6))

    members = [bonus.members.member_module(k) for k in range(4)]
    outputs = torch.stack([member(features) for member in members])
    target = bonus.labels(features)[0]
    reference_score = outputs.var(dim=0, unbiased=True).mean(dim=1)
    reference_loss = torch.stack([(output - target).square().mean() for output in outputs]).mean()

    torch.testing.assert_close(bonus.raw_score(features).detach(), reference_score.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bonus.predictor_loss(features).detach(), reference_loss.detach(), rtol=1e-5, atol=1e-6)
    if labels == "zero":
        assert bonus.labels(features).abs().max().item() == 0.0
    else:
        assert bonus.labels(features).abs().max().item() > 0.0


def test_ensemble_variance_is_the_unbiased_member_variance():
    bonus = build("ensemble", num_members=2)
    features = bonus.features(observations(3))

    outputs = bonus.members(features).detach()

    # With two members the unbiased variance is (a - b)^2 / 2.
    expected = (outputs[0] - outputs[1]).square().mean(dim=1) / 2
    torch.testing.assert_close(bonus.raw_score(features).detach(), expected, rtol=1e-5, atol=1e-7)


def test_ensemble_needs_two_members():
    with pytest.raises(ValueError, match="ensemble bonus needs num_members >= 2, got 1"):
        build("ensemble", num_members=1)


def member_tangent(bonus, k):
    """Tangent of member k in the coordinates of its exported nn.Sequential (weights transposed and scaled)."""
    tangent = bonus.tangent()
    directions = {}
    for position, layer in enumerate(bonus.initial.layers):
        directions[f"{2 * position}.weight"] = tangent[f"layers.{position}.weight"][k].T * layer.weight_scale
        directions[f"{2 * position}.bias"] = tangent[f"layers.{position}.bias"][k, 0] * layer.bias_scale
    return directions


@pytest.mark.parametrize("parameterization", ["standard", "ntk"])
def test_bayes_target_matches_per_member_jvp(parameterization):
    bonus = build("bayes-rnd", num_members=3, parameterization=parameterization)
    features = bonus.features(observations(7))

    batched = bonus.target(features)

    for k in range(3):
        member = bonus.initial.member_module(k)
        params = dict(member.named_parameters())

        def function(parameters, member=member):
            return torch.func.functional_call(member, parameters, (features,))

        _, reference = jvp(function, (params,), (member_tangent(bonus, k),))
        torch.testing.assert_close(batched[k], reference.detach(), rtol=1e-4, atol=1e-5)


def test_bayes_target_matches_finite_difference():
    bonus = build("bayes-rnd", num_members=2, parameterization="ntk").double()
    features = torch.as_tensor(observations(5), dtype=torch.float64)
    step = 1e-5

    def shifted_output(sign):
        shifted = {}
        for name, parameter in bonus.initial.named_parameters():
            shifted[name] = parameter + sign * step * bonus.tangent()[name]
        return torch.func.functional_call(bonus.initial, shifted, (features,))

    finite_difference = (shifted_output(+1) - shifted_output(-1)) / (2 * step)

    # Central differences have O(step^2) truncation error; ReLU kinks are not crossed at this step.
    torch.testing.assert_close(bonus.target(features), finite_difference, rtol=1e-6, atol=1e-8)


def test_bayes_direction_is_zero_on_last_layer_only():
    bonus = build("bayes-rnd", num_members=2)
    tangent = bonus.tangent()

    assert tangent["layers.2.weight"].abs().max().item() == 0.0
    assert tangent["layers.2.bias"].abs().max().item() == 0.0
    assert tangent["layers.0.weight"].abs().min().item() > 0.0
    assert tangent["layers.1.weight"].std().item() == pytest.approx(math.sqrt(2.0 / 16), rel=0.15)


def test_bayes_target_is_never_trained():
    bonus = build("bayes-rnd", num_members=2)
    features = bonus.features(observations(20))
    before = bonus.target(features).clone()
    initial_before = {name: value.clone() for name, value in bonus.initial.state_dict().items()}

    for _ in range(5):
        bonus.update(observations(200, seed=1))

    torch.testing.assert_close(bonus.target(features), before, rtol=0, atol=0)
    for name, value in bonus.initial.state_dict().items():
        assert torch.equal(value, initial_before[name]), name
    optimised = {id(p) for group in bonus.optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in bonus.initial.parameters())


def test_bayes_score_is_mean_squared_error():
    bonus = build("bayes-rnd", num_members=2)
    features = bonus.features(observations(4))

    errors = bonus.predictor(features) - bonus.target(features)

    torch.testing.assert_close(bonus.raw_score(features), errors.square().mean(dim=(0, 2)).detach())


def test_thompson_rewards_follow_the_active_head():
    bonus = build("bayes-rnd", num_members=2, num_envs=3, exploration="thompson")
    batch = observations(3)
    heads_before = bonus.active_heads.clone()

    rewards = bonus.step_scores(batch, np.array([True, False, False]))

    errors = bonus.prediction_error(bonus.features(batch))
    flat = errors.permute(1, 0, 2).reshape(3, -1)
    expected = flat[torch.arange(3), heads_before]
    torch.testing.assert_close(rewards, expected)
    assert torch.equal(bonus.active_heads[1:], heads_before[1:])
    # Env 0 drew a new head among 8; over many episode ends it must change at least once.
    changed = False
    for _ in range(20):
        bonus.step_scores(batch, np.array([True, False, False]))
        changed |= bool(bonus.active_heads[0] != heads_before[0])
    assert changed
    assert torch.equal(bonus.active_heads[1:], heads_before[1:])


def test_posterior_samples_shapes_and_heads():
    bonus = build("bayes-rnd", num_members=2)
    batch = observations(5)

    draws = bonus.sample_posterior(batch, 8, generator=torch.Generator().manual_seed(0))

    assert draws.samples.shape == (8, 5)
    assert sorted(draws.heads.tolist()) == list(range(8))
    flat = bonus.prediction_error(bonus.features(batch)).permute(0, 2, 1).reshape(8, 5)
    torch.testing.assert_close(draws.errors, flat[draws.heads])
    torch.testing.assert_close(draws.samples, draws.errors + draws.mean)
    assert draws.mean.abs().max().item() == 0.0
    with pytest.raises(ValueError, match="num_samples=9 exceeds the 8 heads"):
        bonus.sample_posterior(batch, 9)


def test_posterior_mean_is_centred_and_fits_labels():
    bonus = build("bayes-rnd", num_members=1)
    batch = observations(16)
    labels = torch.as_tensor(np.sin(3 * batch[:, 0]))
    bonus.update_observation_statistics(batch)

    final_loss = bonus.fit_mean(batch, labels, steps=400, learning_rate=1e-2)

    assert final_loss < 1e-3
    torch.testing.assert_close(bonus.posterior_mean(batch), labels.float(), rtol=0, atol=0.1)
    centred_at_init = bonus.mean_initial(bonus.features(batch)) - bonus.mean_initial(bonus.features(batch))
    assert centred_at_init.abs().max().item() == 0.0


@pytest.mark.parametrize("name", ["rnd", "ensemble", "bayes-rnd"])
@pytest.mark.parametrize("exploration", ["variance", "thompson"])
def test_state_dict_round_trip(name, exploration):
    bonus = build(name, exploration=exploration)
    data = observations(200)
    bonus.update_observation_statistics(data)
    bonus.update(data)
    if name == "bayes-rnd":
        bonus.fit_mean(data, torch.ones(200), steps=3)
    bonus.step_scores(data[:2], np.array([True, True]))

    restored = build(name, exploration=exploration, seed=99)
    restored.load_state_dict(bonus.state_dict())

    torch.testing.assert_close(restored.score(data[:10]), bonus.score(data[:10]), rtol=0, atol=0)
    dones = np.array([False, True])
    torch.testing.assert_close(restored.step_scores(data[:2], dones), bonus.step_scores(data[:2], dones), rtol=0, atol=0)


def test_state_from_other_settings_is_rejected():
    standard = build("bayes-rnd", parameterization="standard")

    with pytest.raises(ValueError, match="saved with parameterization='standard' but this bonus has parameterization='ntk'"):
        build("bayes-rnd", parameterization="ntk").load_state_dict(standard.state_dict())
    with pytest.raises(ValueError, match="belongs to a 'bayes-rnd' bonus, not 'rnd'"):
        build("rnd").load_state_dict(standard.state_dict(), strict=False)


@pytest.mark.parametrize("name", ["rnd", "ensemble", "bayes-rnd"])
def test_nan_observations_raise(name):
    bonus = build(name)
    data = observations(4)
    data[2, 0] = np.nan

    with pytest.raises(ValueError, match="observations contains 1 NaN"):
        bonus.score(data)


def test_bonus_classes_by_name():
    assert isinstance(build("ensemble"), EnsembleVarianceBonus)
    assert isinstance(build("bayes-rnd"), BayesianRNDBonus)
