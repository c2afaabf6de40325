"""Live check of the RND / deep-ensemble equivalence during a real run.

At infinite width and with gradient-flow training, half the expected squared RND error
equals the predictive variance of a deep ensemble (Zanger et al., 2026). ``EquivalenceProbe``
trains a K-pair RND and a K-member ensemble side by side on the run's observations, with the
run's bonus hyperparameters. It compares the two on a fixed probe batch, which shows how far
finite networks trained with Adam on a moving data set are from that limit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from gymnasium import spaces

from rnd_explore._checks import check_positive_int
from rnd_explore.bonuses.base import BonusConfig
from rnd_explore.bonuses.ensemble import EnsembleVarianceBonus
from rnd_explore.bonuses.rnd import RNDBonus


class EquivalenceProbe:
    """Side-car RND and ensemble compared on a fixed probe batch.

    Args:
        observation_space: the run's observation space.
        config: the run's bonus hyperparameters; ``num_members`` is replaced by ``members``.
        probe_size: observations in the probe batch, drawn from the first update's batch.
        members: K for both side-car models (the ensemble needs at least 2).
        device: torch device.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        config: BonusConfig,
        probe_size: int = 256,
        members: int = 4,
        device: str | torch.device = "cpu",
    ) -> None:
        self.probe_size = check_positive_int("probe_size", probe_size)
        members = check_positive_int("probe members", members)
        self.rnd = RNDBonus(observation_space, 1, dataclasses.replace(config, num_members=members), device)
        ensemble_config = dataclasses.replace(config, num_members=members, seed=config.seed + 1000)
        self.ensemble = EnsembleVarianceBonus(observation_space, 1, ensemble_config, device)
        self.probe: np.ndarray | None = None
        self._rng = np.random.default_rng(config.seed)

    def update(self, observations: np.ndarray) -> dict[str, float]:
        """Train both side-car models on raw observations ``[N, *obs_shape]`` and measure the probe.

        Returns ``probe_rnd_half_mse`` (mean over the probe of 1/2 the RND squared error),
        ``probe_ensemble_variance`` (mean ensemble variance) and ``probe_ratio`` (their
        quotient, 1 in the infinite-width limit).
        """
        if self.probe is None:
            count = min(self.probe_size, len(observations))
            self.probe = observations[self._rng.choice(len(observations), size=count, replace=False)]
        for model in (self.rnd, self.ensemble):
            model.update_observation_statistics(observations)
            model.update(observations)
        return self.measure()

    @torch.no_grad()
    def measure(self) -> dict[str, float]:
        """Current probe statistics (see ``update``); empty before the first update."""
        if self.probe is None:
            return {}
        rnd_half_mse = float(self.rnd.score(self.probe).mean())
        ensemble_variance = float(self.ensemble.score(self.probe).mean())
        return {
            "probe_rnd_half_mse": rnd_half_mse,
            "probe_ensemble_variance": ensemble_variance,
            "probe_ratio": rnd_half_mse / max(ensemble_variance, 1e-12),
        }
