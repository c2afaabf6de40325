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
DEFAULT_MEMBERS = {"rnd": 1, "ensemble": 8, "bayes-rnd": 1}
"""Member count per bonus when no configuration is given (the ensemble needs at least 2)."""


def make_bonus(
    name: str,
    observation_space: spaces.Space,
    num_envs: int,
    config: BonusConfig | None = None,
    device: str | torch.device = "cpu",
) -> NoveltyBonus | None:
    """Create the bonus called ``name`` (one of ``BONUS_NAMES``); ``"none"`` returns None.

    Without ``config`` the defaults of ``BonusConfig`` apply, with ``DEFAULT_MEMBERS[name]`` members.
    """
    check_choice("bonus", name, BONUS_NAMES)
    if name == "none":
        return None
    if config is None:
        config = BonusConfig(num_members=DEFAULT_MEMBERS[name])
    return BONUS_CLASSES[name](observation_space, num_envs, config, device)


__all__ = [
    "BONUS_NAMES",
    "DEFAULT_MEMBERS",
    "BayesianRNDBonus",
    "BonusConfig",
    "EnsembleVarianceBonus",
    "NoveltyBonus",
    "PosteriorSamples",
    "RNDBonus",
    "make_bonus",
]
