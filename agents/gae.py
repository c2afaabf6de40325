"""Generalised advantage estimation with separate extrinsic and intrinsic streams.

The extrinsic stream is episodic: a terminated episode contributes no value after its last
step, and a truncated one (time limit) bootstraps with the value of its final observation.
The intrinsic stream is non-episodic: novelty does not end with an episode, so its returns
run on across episode ends into the next episode's first observation, as in Burda et al.
(2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StreamTargets:
    """Advantages and value targets of one stream, each ``[T, N]``."""

    advantages: torch.Tensor
    returns: torch.Tensor


def episodic_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_value: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    final_values: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> StreamTargets:
    """Compute GAE for an episodic stream over a rollout of ``T`` steps in ``N`` environments.

    Args:
        rewards: ``[T, N]`` rewards of each step.
        values: ``[T, N]`` values of the observations the steps started from.
        next_value: ``[N]`` value of the observation after the last step.
        terminated: ``[T, N]`` true where the step ended the episode in a terminal state.
        truncated: ``[T, N]`` true where the step ended the episode by a time limit.
        final_values: ``[T, N]`` value of the final observation of a truncated episode
            (read only where ``truncated``).
        gamma: discount factor.
        gae_lambda: GAE lambda.
    """
    _check_layout(rewards, values, next_value, terminated, truncated, final_values)
    done = (terminated | truncated).to(values.dtype)
    bootstrap = torch.where(truncated, final_values, torch.zeros_like(final_values))
    advantages = torch.zeros_like(values)
    running = torch.zeros_like(next_value)
    for step in reversed(range(rewards.shape[0])):
        following = next_value if step == rewards.shape[0] - 1 else values[step + 1]
        target = rewards[step] + gamma * (bootstrap[step] + (1.0 - done[step]) * following)
        delta = target - values[step]
        running = delta + gamma * gae_lambda * (1.0 - done[step]) * running
        advantages[step] = running
    return StreamTargets(advantages=advantages, returns=advantages + values)


def continuing_gae(
    rewards: torch.Tensor, values: torch.Tensor, next_value: torch.Tensor, gamma: float, gae_lambda: float
) -> StreamTargets:
    """Compute GAE for a non-episodic stream, ignoring episode ends (shapes as in ``episodic_gae``)."""
    never = torch.zeros_like(rewards, dtype=torch.bool)
    return episodic_gae(rewards, values, next_value, never, never, torch.zeros_like(values), gamma, gae_lambda)


def _check_layout(rewards, values, next_value, terminated, truncated, final_values) -> None:
    expected = tuple(rewards.shape)
    if len(expected) != 2:
        raise ValueError(f"rewards must be time-major [T, N], got shape {expected}.")
    for name, tensor in (("values", values), ("terminated", terminated), ("truncated", truncated),
                         ("final_values", final_values)):
        if tuple(tensor.shape) != expected:
            raise ValueError(f"{name} must have the rewards' shape [T, N] = {list(expected)}, got {tuple(tensor.shape)}.")
    if tuple(next_value.shape) != (expected[1],):
        raise ValueError(f"next_value must have shape [N] = [{expected[1]}], got {tuple(next_value.shape)}.")
