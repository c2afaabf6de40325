"""Novelty bonuses, selected by name."""

from __future__ import annotations

import torch
from gymnasium import spaces

from rnd_explore._checks import check_choice
from rnd_explore.bonuses.base import BonusConfig, NoveltyBonus
from rnd_explore.bonuses.bayesian_rnd import BayesianRNDBonus, PosteriorSamples
from rnd_explore.bonuses.ensemble import EnsembleVarianceBonus
from rnd_explore.bonuses.rnd import RNDBonus

BONUS_CLASSES: dict[str, type[NoveltyBonus]] = {
    "rnd": RNDBonus,
    "ensemble": EnsembleVarianceBonus,
    "bayes-rnd": BayesianRNDBonus,
}
BONUS_NAMES: tuple[str, ...] = ("none", *BONUS_CLASSES)
"""Every name ``make_bonus`` accepts; ``"none"`` means no bonus."""


def make_bonus(
    name: str,
    observation_space: spaces.Space,
    num_envs: int,
    config: BonusConfig | None = None,
    device: str | torch.device = "cpu",
) -> NoveltyBonus | None:
    """Create the bonus called ``name`` (one of ``BONUS_NAMES``); ``"none"`` returns None."""
    check_choice("bonus", name, BONUS_NAMES)
    if name == "none":
        return None
    return BONUS_CLASSES[name](observation_space, num_envs, config, device)


__all__ = [
    "BONUS_NAMES",
    "BayesianRNDBonus",
    "BonusConfig",
    "EnsembleVarianceBonus",
    "NoveltyBonus",
    "PosteriorSamples",
    "RNDBonus",
    "make_bonus",
]
