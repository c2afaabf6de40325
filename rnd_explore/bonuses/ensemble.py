"""Ensemble-variance bonus: disagreement of K independently initialised members."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from rnd_explore.bonuses.base import NoveltyBonus, build_member_network


class EnsembleVarianceBonus(NoveltyBonus):
    """Predictive variance of a deep ensemble trained on one shared label function.

    K members with independent initial weights regress the same labels ``y(x)`` on the
    visited observations (zero by default, or the outputs of one shared frozen random
    network with ``ensemble_labels="random"``). The bonus is the unbiased variance across
    members, averaged over the D output dimensions:

        b(x) = 1/D * sum_j 1/(K - 1) * sum_k (f_k(x)_j - mean_k f_k(x)_j)^2

    In the infinite-width limit with gradient-flow training, the ensemble's variance does not
    depend on the labels, and it equals half the expected squared RND error (Lee et al., 2019;
    Zanger et al., 2026). That is why ``RNDBonus`` reports half its mean squared error: the
    two bonuses then share one scale. Needs ``num_members >= 2``.
    """

    name = "ensemble"
    min_members = 2

    def build_networks(self, generator: torch.Generator) -> None:
        self.members = build_member_network(self.encoder, self.config, generator)
        self.label_network: nn.Module | None = None
        if self.config.ensemble_labels == "random":
            label_config = dataclasses.replace(self.config, num_members=1)
            self.label_network = build_member_network(self.encoder, label_config, generator)
            self.label_network.requires_grad_(False)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.members.parameters())

    def labels(self, features: torch.Tensor) -> torch.Tensor:
        """Shared regression labels ``[1, B, D]`` (zeros unless ``ensemble_labels="random"``)."""
        if self.label_network is None:
            return features.new_zeros(1, features.shape[0], self.members.out_features)
        with torch.no_grad():
            return self.label_network(features)

    def raw_score(self, features: torch.Tensor) -> torch.Tensor:
        return self.members(features).var(dim=0, unbiased=True).mean(dim=1)

    def predictor_loss(self, features: torch.Tensor) -> torch.Tensor:
        return (self.members(features) - self.labels(features)).square().mean()
