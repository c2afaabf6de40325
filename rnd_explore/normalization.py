"""Running statistics for observations and intrinsic rewards, kept as module buffers.

All statistics are ``float64`` buffers, so they travel with ``state_dict()`` and ``.to(device)``
together with the networks that use them.
"""

from __future__ import annotations

import torch
from torch import nn

from rnd_explore._checks import check_discount, check_positive_float, check_positive_int


class RunningMeanStd(nn.Module):
    """Mean and population variance of a stream of batches, per feature.

    The update is the pairwise combination of Chan et al. (1979): after any sequence of
    batches, ``mean`` and ``var`` equal ``np.mean`` and ``np.var`` (ddof 0) of the
    concatenated stream up to float64 rounding. The count starts at 0, so the first batch
    sets the statistics directly and a batch of one sample gives variance 0, never NaN.

    Args:
        shape: shape of one sample (``()`` for scalars).
    """

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.register_buffer("mean", torch.zeros(self.shape, dtype=torch.float64))
        self.register_buffer("var", torch.zeros(self.shape, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Add a batch ``[N, *shape]`` (N >= 1) to the statistics."""
        if tuple(batch.shape[1:]) != self.shape or batch.shape[0] < 1:
            raise ValueError(
                f"RunningMeanStd expects a batch of shape [N, {', '.join(map(str, self.shape))}] with N >= 1, "
                f"got {tuple(batch.shape)}."
            )
        values = batch.to(device=self.mean.device, dtype=torch.float64)
        batch_count = values.shape[0]
        batch_mean = values.mean(dim=0)
        batch_var = values.var(dim=0, unbiased=False)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        sum_of_squares = self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total
        self.mean.add_(delta * batch_count / total)
        self.var.copy_(sum_of_squares / total)
        self.count.copy_(total)

    @property
    def std(self) -> torch.Tensor:
        """Population standard deviation, ``sqrt(var)``."""
        return self.var.sqrt()


class ObservationNormalizer(nn.Module):
    """Whitens encoded observations with running statistics and clips the result.

    ``normalize(x) = clip((x - mean) / sqrt(var + epsilon), -clip, clip)``, per feature
    (per pixel for images). Used only for the bonus networks' inputs, never the policy's.

    Args:
        feature_shape: shape of one encoded observation.
        clip: symmetric clip bound, default 5.
        epsilon: added to the variance before the square root.
    """

    def __init__(self, feature_shape: tuple[int, ...], clip: float = 5.0, epsilon: float = 1e-8) -> None:
        super().__init__()
        self.clip = check_positive_float("obs_clip", clip)
        self.epsilon = check_positive_float("epsilon", epsilon)
        self.stats = RunningMeanStd(tuple(feature_shape))

    def update(self, features: torch.Tensor) -> None:
        """Add encoded observations ``[N, *feature_shape]`` to the statistics."""
        self.stats.update(features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Normalise ``[N, *feature_shape]`` features; the result has the input's dtype.

        Before the first ``update`` the statistics are empty and the features pass through
        unchanged (clipped only), instead of being divided by a zero variance.
        """
        seen = self.stats.count > 0
        mean = torch.where(seen, self.stats.mean, torch.zeros_like(self.stats.mean)).to(features.dtype)
        scale = torch.where(seen, (self.stats.var + self.epsilon).rsqrt(), torch.ones_like(self.stats.var))
        return ((features - mean) * scale.to(features.dtype)).clamp(-self.clip, self.clip)


class RewardForwardFilter(nn.Module):
    """Discounted running sum of rewards per environment: ``R_t = gamma * R_{t-1} + r_t``.

    One value per environment, accumulated over time and never reset at episode ends (the
    intrinsic return is non-episodic). Environments never mix.

    Args:
        num_envs: number of parallel environments.
        gamma: discount factor in [0, 1).
    """

    def __init__(self, num_envs: int, gamma: float) -> None:
        super().__init__()
        self.num_envs = check_positive_int("num_envs", num_envs)
        self.gamma = check_discount("gamma_int", gamma)
        self.register_buffer("returns", torch.zeros(self.num_envs, dtype=torch.float64))

    @torch.no_grad()
    def step(self, rewards: torch.Tensor) -> torch.Tensor:
        """Advance by one step with rewards ``[num_envs]``; return ``R_t`` ``[num_envs]`` (float64)."""
        if tuple(rewards.shape) != (self.num_envs,):
            raise ValueError(
                f"rewards for one step must have shape [num_envs] = [{self.num_envs}], got {tuple(rewards.shape)}."
            )
        self.returns.mul_(self.gamma).add_(rewards.to(self.returns.device, torch.float64))
        return self.returns.clone()

    @torch.no_grad()
    def filter_rollout(self, rewards: torch.Tensor) -> torch.Tensor:
        """Filter a time-major rollout ``[T, num_envs]``; return ``R`` ``[T, num_envs]`` (float64)."""
        if rewards.dim() != 2 or rewards.shape[1] != self.num_envs:
            raise ValueError(
                f"rewards must be time-major with shape [T, num_envs] = [T, {self.num_envs}], got "
                f"{tuple(rewards.shape)}. Transpose an env-major [num_envs, T] array first."
            )
        return torch.stack([self.step(step_rewards) for step_rewards in rewards])


class IntrinsicRewardNormalizer(nn.Module):
    """Divides intrinsic rewards by the running std of the discounted intrinsic return.

    ``r_normalised = r / sqrt(Var[R] + epsilon)`` where ``R`` is the forward-filtered return
    of every environment and step seen so far. No mean is subtracted, so the sign of the
    bonus is kept; an all-zero bonus stays zero and a constant one stays finite.

    Args:
        num_envs: number of parallel environments.
        gamma: discount of the intrinsic return (``gamma_int``).
        epsilon: added to the variance before the square root.
    """

    def __init__(self, num_envs: int, gamma: float, epsilon: float = 1e-8) -> None:
        super().__init__()
        self.filter = RewardForwardFilter(num_envs, gamma)
        self.return_stats = RunningMeanStd(())
        self.epsilon = check_positive_float("epsilon", epsilon)

    @torch.no_grad()
    def normalize_step(self, rewards: torch.Tensor) -> torch.Tensor:
        """Update with one step ``[num_envs]`` and return the normalised rewards ``[num_envs]``."""
        returns = self.filter.step(rewards)
        self.return_stats.update(returns)
        return self._scale(rewards)

    @torch.no_grad()
    def normalize_rollout(self, rewards: torch.Tensor) -> torch.Tensor:
        """Update with a time-major rollout ``[T, num_envs]`` and return it normalised."""
        returns = self.filter.filter_rollout(rewards)
        self.return_stats.update(returns.reshape(-1))
        return self._scale(rewards)

    def _scale(self, rewards: torch.Tensor) -> torch.Tensor:
        scale = (self.return_stats.var + self.epsilon).rsqrt()
        return (rewards.to(torch.float64) * scale.to(rewards.device)).to(rewards.dtype)
