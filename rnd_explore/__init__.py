"""rnd-explore: exploration bonuses for reinforcement learning.

The supported public names are re-exported here; submodules hold the details. Heavy
dependencies (TensorBoard, matplotlib) are imported only where they are used.
"""

from rnd_explore.batched_layers import BatchedConv2d, BatchedLinear
from rnd_explore.bonuses import (
    BONUS_NAMES,
    BayesianRNDBonus,
    BonusConfig,
    EnsembleVarianceBonus,
    NoveltyBonus,
    PosteriorSamples,
    RNDBonus,
    make_bonus,
)
from rnd_explore.config import TrainConfig
from rnd_explore.member_networks import BatchedCNN, BatchedMLP
from rnd_explore.normalization import (
    IntrinsicRewardNormalizer,
    ObservationNormalizer,
    RewardForwardFilter,
    RunningMeanStd,
)
from rnd_explore.observation_encoding import ObservationEncoder
from rnd_explore.wrappers import BonusRewardWrapper, BonusVecEnvWrapper

__version__ = "0.1.0"

__all__ = [
    "BONUS_NAMES",
    "BatchedCNN",
    "BatchedConv2d",
    "BatchedLinear",
    "BatchedMLP",
    "BayesianRNDBonus",
    "BonusConfig",
    "BonusRewardWrapper",
    "BonusVecEnvWrapper",
    "EnsembleVarianceBonus",
    "IntrinsicRewardNormalizer",
    "NoveltyBonus",
    "ObservationEncoder",
    "ObservationNormalizer",
    "PosteriorSamples",
    "RNDBonus",
    "RewardForwardFilter",
    "RunningMeanStd",
    "TrainConfig",
    "make_bonus",
]
