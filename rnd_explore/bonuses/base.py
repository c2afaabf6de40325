"""The interface every novelty bonus implements, and the configuration they share."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rnd_explore._checks import (
    check_choice,
    check_discount,
    check_non_negative_float,
    check_positive_float,
    check_positive_int,
    check_unit_interval,
)
from rnd_explore.batched_layers import PARAMETERIZATIONS
from rnd_explore.device import resolve_device
from rnd_explore.member_networks import ACTIVATIONS, BatchedCNN, BatchedMLP
from rnd_explore.normalization import IntrinsicRewardNormalizer, ObservationNormalizer
from rnd_explore.observation_encoding import ObservationEncoder


ENSEMBLE_LABELS = ("zero", "random")
FUNCTION_SETTINGS = ("parameterization", "weight_std", "bias_std", "activation", "ensemble_labels", "exploration")
"""Settings that change a bonus's function without changing parameter shapes. A saved state
must match them, because loading it under other values would silently change the scores."""
EXPLORATION_MODES = ("variance", "thompson")


@dataclass
class BonusConfig:
    """Hyperparameters of a novelty bonus; every field is checked by ``validate``."""

    num_members: int = 1
    """K, the number of member networks in the batched predictor and target (1 = classic RND)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the member MLPs (and of the head after the convolutions)."""
    output_dim: int = 64
    """Width of the random feature vector the predictor regresses on."""
    conv_layers: tuple[tuple[int, int, int], ...] | None = None
    """(out_channels, kernel, stride) per convolution for image observations; None picks
    the Nature-DQN stack for images of at least 36 pixels a side and 2x2 kernels below."""
    activation: str = "relu"
    """Hidden activation: relu, leaky_relu, tanh or elu."""
    parameterization: str = "standard"
    """Weight parameterisation of the members: standard or ntk."""
    weight_std: float = math.sqrt(2.0)
    """s_w: weights have variance s_w**2 / fan_in."""
    bias_std: float = 0.0
    """s_b: standard deviation of the initial biases."""
    learning_rate: float = 1e-3
    """Adam learning rate of the predictor."""
    update_proportion: float = 0.25
    """Fraction of each batch the predictor is trained on (random subset, per epoch)."""
    update_epochs: int = 4
    """Passes over the batch per predictor update."""
    minibatch_size: int = 128
    """Samples per predictor gradient step."""
    obs_clip: float = 5.0
    """Normalised observations are clipped to [-obs_clip, obs_clip]."""
    gamma_int: float = 0.99
    """Discount of the intrinsic return whose running std normalises the bonus."""
    seed: int = 0
    """Seed of the network initialisation and of the update sampling."""
    ensemble_labels: str = "zero"
    """Labels of the ensemble bonus: zero, or the outputs of one shared frozen random network."""
    exploration: str = "variance"
    """Bayesian-RND reward: variance (squared error, the posterior variance) or thompson
    (one posterior sample per environment, redrawn at every episode start)."""

    def validate(self) -> "BonusConfig":
        """Check every field and return ``self``; raises ValueError or TypeError naming the field."""
        check_positive_int("num_members", self.num_members)
        for width in self.hidden_sizes:
            check_positive_int("hidden_sizes entry", width)
        check_positive_int("output_dim", self.output_dim)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        check_positive_float("weight_std", self.weight_std)
        check_non_negative_float("bias_std", self.bias_std)
        check_positive_float("bonus learning_rate", self.learning_rate)
        check_unit_interval("update_proportion", self.update_proportion)
        check_positive_int("update_epochs", self.update_epochs)
        check_positive_int("minibatch_size", self.minibatch_size)
        check_positive_float("obs_clip", self.obs_clip)
        check_discount("gamma_int", self.gamma_int)
        check_choice("ensemble_labels", self.ensemble_labels, ENSEMBLE_LABELS)
        check_choice("exploration", self.exploration, EXPLORATION_MODES)
        return self


def default_conv_layers(image_shape: tuple[int, int, int]) -> tuple[tuple[int, int, int], ...]:
    """Convolutions for ``(C, H, W)`` images: Nature-DQN for large frames, 2x2 kernels for small grids."""
    if min(image_shape[1:]) >= 36:
        return ((32, 8, 4), (64, 4, 2), (64, 3, 1))
    return ((16, 2, 1), (32, 2, 1), (64, 2, 1))


def build_member_network(
    encoder: ObservationEncoder, config: BonusConfig, generator: torch.Generator
) -> nn.Module:
    """Build K members (``BatchedMLP`` or ``BatchedCNN``) for the encoder's features."""
    common = dict(
        activation=config.activation,
        parameterization=config.parameterization,
        weight_std=config.weight_std,
        bias_std=config.bias_std,
        generator=generator,
    )
    if encoder.is_image:
        conv_layers = config.conv_layers or default_conv_layers(encoder.feature_shape)
        return BatchedCNN(
            config.num_members, encoder.feature_shape, conv_layers, config.hidden_sizes, config.output_dim, **common
        )
    return BatchedMLP(config.num_members, encoder.feature_shape[0], config.hidden_sizes, config.output_dim, **common)


class NoveltyBonus(nn.Module):
    """A novelty bonus: scores observations, learns from them, and normalises its rewards.

    Subclasses implement ``build_networks``, ``trainable_parameters``, ``raw_score`` and
    ``predictor_loss``. This class owns what all bonuses share: the observation encoder and
    normaliser, the intrinsic reward normaliser, the optimiser and the update loop. ``state_dict()`` contains the networks, every running
    statistic, the filter state, the optimiser state and the sampling generator, so one
    ``load_state_dict`` restores a bonus exactly.

    Args:
        observation_space: space of the raw observations it scores.
        num_envs: number of parallel environments feeding ``normalize_reward``.
        config: hyperparameters (validated here).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
    """

    name = "base"
    min_members = 1

    def __init__(
        self,
        observation_space: spaces.Space,
        num_envs: int,
        config: BonusConfig | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        self.config = (config or BonusConfig()).validate()
        if self.config.num_members < self.min_members:
            raise ValueError(
                f"The {self.name} bonus needs num_members >= {self.min_members}, got {self.config.num_members}. "
                f"Pass num_members={max(self.min_members, 8)} (--num-members on the command line)."
            )
        self.num_envs = check_positive_int("num_envs", num_envs)
        self.device = resolve_device(device)
        self.observation_space = observation_space
        self.encoder = ObservationEncoder(observation_space)
        self.obs_normalizer = ObservationNormalizer(self.encoder.feature_shape, clip=self.config.obs_clip)
        self.reward_normalizer = IntrinsicRewardNormalizer(self.num_envs, self.config.gamma_int)
        self._init_generator = torch.Generator().manual_seed(self.config.seed)
        self._sample_generator = torch.Generator(device=self.device).manual_seed(self.config.seed + 1)
        self.build_networks(self._init_generator)
        self.to(self.device)
        self.optimizer = torch.optim.Adam(self.trainable_parameters(), lr=self.config.learning_rate)

    # Subclass hooks --------------------------------------------------------------------
    def build_networks(self, generator: torch.Generator) -> None:
        """Create the networks; called once before the optimiser exists."""
        raise NotImplementedError

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser updates."""
        raise NotImplementedError

    def raw_score(self, features: torch.Tensor) -> torch.Tensor:
        """Bonus ``[B]`` of normalised features ``[B, *feature_shape]`` (no gradient needed)."""
        raise NotImplementedError

    def predictor_loss(self, features: torch.Tensor) -> torch.Tensor:
        """Scalar training loss on normalised features ``[B, *feature_shape]``."""
        raise NotImplementedError

    # Shared behaviour ------------------------------------------------------------------
    def features(self, observations: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Encode and normalise raw observations ``[B, *obs_shape]`` -> ``[B, *feature_shape]``."""
        return self.obs_normalizer(self.encoder.encode(observations, self.device))

    @torch.no_grad()
    def score(self, observations: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Raw bonus ``[B]`` (float32, on ``self.device``) of raw observations ``[B, *obs_shape]``."""
        return self.raw_score(self.features(observations))

    @torch.no_grad()
    def step_scores(self, next_observations: np.ndarray | torch.Tensor, dones: np.ndarray) -> torch.Tensor:
        """Raw bonus ``[num_envs]`` of one vectorised step.

        ``next_observations`` is ``[num_envs, *obs_shape]``, the observation each transition
        led to, and ``dones`` ``[num_envs]`` marks the envs whose episode ended with it.
        The default is ``score``; bonuses with per-episode state (Thompson sampling) use
        ``dones`` to start a new episode.
        """
        return self.score(next_observations)

    @torch.no_grad()
    def update_observation_statistics(self, observations: np.ndarray | torch.Tensor) -> None:
        """Add raw observations ``[B, *obs_shape]`` to the observation normaliser."""
        self.obs_normalizer.update(self.encoder.encode(observations, self.device))

    @torch.no_grad()
    def normalize_reward(self, raw_bonus: torch.Tensor) -> torch.Tensor:
        """Normalise one step of raw bonuses ``[num_envs]`` by the intrinsic return's running std."""
        return self.reward_normalizer.normalize_step(raw_bonus)

    def update(self, observations: np.ndarray | torch.Tensor) -> dict[str, float]:
        """Train on raw observations ``[N, *obs_shape]``.

        Each of ``update_epochs`` passes keeps a random ``update_proportion`` of the samples
        and takes one Adam step per minibatch of them.

        Returns:
            ``{"predictor_loss": mean loss over the steps, "trained_samples": samples used}``.
        """
        features = self.features(observations).detach()
        total_samples = features.shape[0]
        losses = []
        trained = 0
        for _ in range(self.config.update_epochs):
            keep = torch.rand(total_samples, generator=self._sample_generator, device=self.device)
            selected = torch.nonzero(keep < self.config.update_proportion).squeeze(1)
            order = torch.randperm(selected.numel(), generator=self._sample_generator, device=self.device)
            selected = selected[order]
            for start in range(0, selected.numel(), self.config.minibatch_size):
                batch = features[selected[start : start + self.config.minibatch_size]]
                loss = self.predictor_loss(batch)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                losses.append(loss.detach())
                trained += batch.shape[0]
        mean_loss = float(torch.stack(losses).mean()) if losses else float("nan")
        return {"predictor_loss": mean_loss, "trained_samples": float(trained)}

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "sample_generator": self._sample_generator.get_state(),
            "bonus": self.name,
            "settings": {name: getattr(self.config, name) for name in FUNCTION_SETTINGS},
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        saved_name = state.get("bonus", self.name)
        if saved_name != self.name:
            raise ValueError(f"The state belongs to a {saved_name!r} bonus, not {self.name!r}. Build a {saved_name} bonus.")
        for name, saved in state.get("settings", {}).items():
            current = getattr(self.config, name)
            if saved != current:
                raise ValueError(
                    f"The state was saved with {name}={saved!r} but this bonus has {name}={current!r}. "
                    f"Build the bonus with {name}={saved!r} to load it."
                )
        # Optimizer.load_state_dict keeps the given moment tensors, so copy them: otherwise
        # two bonuses loaded from one in-memory state would share Adam's moments.
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self._sample_generator.set_state(state["sample_generator"])
