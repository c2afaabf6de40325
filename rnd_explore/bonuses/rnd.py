"""Classic random network distillation (Burda et al., 2019) on the batched core."""

from __future__ import annotations

import torch
from torch import nn

from rnd_explore.bonuses.base import NoveltyBonus, build_member_network


class RNDBonus(NoveltyBonus):
    """Random network distillation with K predictor/target pairs.

    A frozen, randomly initialised target network ``g`` and a trained predictor ``u`` of the
    same architecture map normalised observations to ``output_dim`` features. The bonus is

        b(x) = 1/2 * mean_{k, j} (u_k(x)_j - g_k(x)_j)^2

    over the K members and the output dimensions. The factor 1/2 puts it on the scale of an
    ensemble's predictive variance: at infinite width, half the expected squared RND error
    equals the variance of a deep ensemble (Zanger et al., 2026). With K = 1 this is the
    classic RND bonus. The predictor is trained on the same squared error (without the 1/2);
    the target is in no optimiser and its parameters have ``requires_grad=False``.
    """

    name = "rnd"

    def build_networks(self, generator: torch.Generator) -> None:
        self.predictor = build_member_network(self.encoder, self.config, generator)
        self.target = build_member_network(self.encoder, self.config, generator)
        self.target.requires_grad_(False)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.predictor.parameters())

    def prediction_error(self, features: torch.Tensor) -> torch.Tensor:
        """Error ``u(x) - g(x)`` of every member, ``[K, B, output_dim]``."""
        with torch.no_grad():
            target = self.target(features)
        return self.predictor(features) - target

    def raw_score(self, features: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.prediction_error(features).square().mean(dim=(0, 2))

    def predictor_loss(self, features: torch.Tensor) -> torch.Tensor:
        return self.prediction_error(features).square().mean()
