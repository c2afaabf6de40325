"""The live RND / ensemble equivalence probe."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rnd_explore import BonusConfig
from rnd_explore.diagnostics import EquivalenceProbe

SPACE = spaces.Box(-1.0, 1.0, (4,), np.float32)


def test_probe_statistics_match_side_car_models():
    probe = EquivalenceProbe(SPACE, BonusConfig(hidden_sizes=(32,), output_dim=8, update_proportion=1.0), probe_size=64)
    data = np.random.default_rng(0).uniform(-1, 1, (400, 4)).astype(np.float32)

    first = probe.update(data)
    fixed_probe = probe.probe.copy()
    for _ in range(30):
        latest = probe.update(data)

    assert probe.probe.shape == (64, 4)
    np.testing.assert_array_equal(probe.probe, fixed_probe)
    features = probe.rnd.features(probe.probe)
    errors = torch.stack([
        probe.rnd.predictor.member_module(k)(features) - probe.rnd.target.member_module(k)(features) for k in range(4)
    ])
    assert latest["probe_rnd_half_mse"] == pytest.approx(0.5 * errors.square().mean().item(), rel=1e-5)
    assert latest["probe_ratio"] == pytest.approx(latest["probe_rnd_half_mse"] / latest["probe_ensemble_variance"])
    # Training on the probe's own observations shrinks both quantities.
    assert latest["probe_rnd_half_mse"] < 0.2 * first["probe_rnd_half_mse"]
    assert latest["probe_ensemble_variance"] < 0.2 * first["probe_ensemble_variance"]


def test_probe_is_empty_before_the_first_update():
    probe = EquivalenceProbe(SPACE, BonusConfig(hidden_sizes=(8,), output_dim=2))

    assert probe.measure() == {}
