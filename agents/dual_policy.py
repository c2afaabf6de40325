"""Actor-critic network with one policy head and two value heads (extrinsic, intrinsic)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rnd_explore.bonuses.base import default_conv_layers
from rnd_explore.observation_encoding import ObservationEncoder


def _orthogonal(layer: nn.Module, gain: float) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class DualValuePolicy(nn.Module):
    """Shared torso, a categorical policy head and separate extrinsic and intrinsic value heads.

    Vector observations go through an MLP; image observations (see ``ObservationEncoder``)
    through convolutions first. Orthogonal initialisation, with gain 0.01 on the policy head
    so the initial policy is close to uniform.

    Args:
        observation_space: any space ``ObservationEncoder`` supports.
        action_space: ``Discrete``.
        hidden_sizes: torso MLP widths.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, hidden_sizes: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"DualValuePolicy needs a Discrete action space, got {action_space}.")
        self.encoder = ObservationEncoder(observation_space)
        layers: list[nn.Module] = []
        if self.encoder.is_image:
            channels = self.encoder.feature_shape[0]
            for out_channels, kernel, stride in default_conv_layers(self.encoder.feature_shape):
                layers += [_orthogonal(nn.Conv2d(channels, out_channels, kernel, stride), math.sqrt(2)), nn.ReLU()]
                channels = out_channels
            layers.append(nn.Flatten())
            with torch.no_grad():
                width = nn.Sequential(*layers)(torch.zeros(1, *self.encoder.feature_shape)).shape[1]
        else:
            width = int(np.prod(self.encoder.feature_shape))
        for size in hidden_sizes:
            layers += [_orthogonal(nn.Linear(width, size), math.sqrt(2)), nn.Tanh()]
            width = size
        self.torso = nn.Sequential(*layers)
        self.policy_head = _orthogonal(nn.Linear(width, int(action_space.n)), 0.01)
        self.extrinsic_value = _orthogonal(nn.Linear(width, 1), 1.0)
        self.intrinsic_value = _orthogonal(nn.Linear(width, 1), 1.0)

    def forward(self, observations: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return action logits ``[B, A]`` and both values ``[B]`` for raw observations ``[B, ...]``."""
        features = self.encoder.encode(observations, self.policy_head.weight.device)
        hidden = self.torso(features)
        return (
            self.policy_head(hidden),
            self.extrinsic_value(hidden).squeeze(-1),
            self.intrinsic_value(hidden).squeeze(-1),
        )
