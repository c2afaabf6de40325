"""PPO with separate extrinsic and intrinsic value heads: the exploration recipe of RND.

Per rollout of ``n_steps`` steps in ``N`` environments:

1. act with the current policy and score every transition with the bonus (raw novelty of
   the observation it leads to);
2. add the rollout's observations to the bonus's observation statistics, and normalise the
   intrinsic rewards by the running std of their forward-filtered (non-episodic) return;
3. compute GAE per stream: extrinsic episodic (``gamma``, 0.999 by default, bootstrapped on
   truncation), intrinsic non-episodic (``gamma_int``, 0.99);
4. PPO epochs on ``c_ext * A_ext + c_int * A_int`` with one value loss per head, then train
   the bonus on the rollout's observations.

The agent is a component with hooks (``on_rollout_end`` callables receive the agent and the
rollout statistics) and a complete ``state_dict`` (policy, optimiser, bonus, step count,
random generators, environments and episode records) for exact resumption on the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv
from torch.nn import functional as F

from rnd_explore.agents.callbacks import EpisodeLog, EpisodeRecord, EpisodeRecorder
from rnd_explore.agents.dual_policy import DualValuePolicy
from rnd_explore.agents.gae import continuing_gae, episodic_gae
from rnd_explore.bonuses.base import NoveltyBonus
from rnd_explore.config import TrainConfig
from rnd_explore.wrappers import replace_terminal_observations

VALUE_COEF = 0.5
MAX_GRAD_NORM = 0.5


@dataclass
class Rollout:
    """One rollout, time-major: tensors ``[T, N]`` unless noted."""

    observations: np.ndarray  # [T, N, *obs_shape]
    next_observations: np.ndarray  # [T, N, *obs_shape], terminal observations at episode ends
    actions: torch.Tensor
    log_probs: torch.Tensor
    extrinsic_rewards: torch.Tensor
    raw_bonus: torch.Tensor
    extrinsic_values: torch.Tensor
    intrinsic_values: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    final_values: torch.Tensor
    next_extrinsic_value: torch.Tensor  # [N]
    next_intrinsic_value: torch.Tensor  # [N]
    intrinsic_rewards: torch.Tensor | None = None


@dataclass
class AgentHooks:
    """Callables run by ``DualValuePPO.learn``: each receives the agent and a statistics dict."""

    on_rollout_end: list[Callable[["DualValuePPO", dict[str, float]], None]] = field(default_factory=list)


class DualValuePPO:
    """PPO with two value heads on SB3 ``VecEnv`` environments and any ``NoveltyBonus``.

    Args:
        config: the run configuration (``agent`` should be ``"ppo-dual"``).
        env: vectorised environments with ``Monitor`` inside (``DummyVecEnv`` for exact resumption).
        bonus: the novelty bonus, or None for extrinsic rewards only.
        writer: optional TensorBoard ``SummaryWriter``.
    """

    def __init__(self, config: TrainConfig, env: DummyVecEnv, bonus: NoveltyBonus | None, writer=None) -> None:
        self.config = config.validate()
        self.env = env
        self.bonus = bonus
        self.device = torch.device(config.device)
        torch.manual_seed(config.seed)
        self.policy = DualValuePolicy(env.observation_space, env.action_space, config.policy_hidden).to(self.device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate, eps=1e-5)
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self.writer = writer
        self.recorder = EpisodeRecorder(writer)
        self.hooks = AgentHooks()
        self.num_timesteps = 0
        self.warmed_up = False
        self.last_observations: np.ndarray | None = None

    # Acting ------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, observations: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions ``[N]``; return them with log-probabilities and both values ``[N]``."""
        logits, extrinsic_value, intrinsic_value = self.policy(observations)
        probabilities = torch.softmax(logits, dim=-1)
        actions = torch.multinomial(probabilities, 1, generator=self.generator).squeeze(1)
        log_probs = torch.log_softmax(logits, dim=-1).gather(1, actions[:, None]).squeeze(1)
        return actions, log_probs, extrinsic_value, intrinsic_value

    def warmup(self) -> None:
        """Initialise the bonus's normalisers with ``warmup_steps`` random-action steps per env."""
        self.warmed_up = True
        if self.bonus is None or self.config.warmup_steps == 0:
            return
        rng = np.random.default_rng(self.config.seed)
        self.env.reset()
        next_batches, raw = [], []
        for _ in range(self.config.warmup_steps):
            actions = rng.integers(self.env.action_space.n, size=self.env.num_envs)
            observations, _, dones, infos = self.env.step(actions)
            next_batches.append(replace_terminal_observations(observations, dones, infos))
        stacked = np.stack(next_batches)
        self.bonus.update_observation_statistics(stacked.reshape(-1, *stacked.shape[2:]))
        for batch in next_batches:
            raw.append(self.bonus.score(batch))
        self.bonus.reward_normalizer.normalize_rollout(torch.stack(raw))
        self.last_observations = None

    def collect_rollout(self) -> Rollout:
        """Run ``n_steps`` steps in every env and return the rollout (intrinsic rewards not yet normalised)."""
        if self.last_observations is None:
            self.last_observations = self.env.reset()
        steps, envs = self.config.n_steps, self.env.num_envs
        columns: dict[str, list] = {name: [] for name in (
            "observations", "next_observations", "actions", "log_probs", "extrinsic_rewards", "raw_bonus",
            "extrinsic_values", "intrinsic_values", "terminated", "truncated", "final_values")}
        for _ in range(steps):
            observations = self.last_observations
            actions, log_probs, extrinsic_value, intrinsic_value = self.act(observations)
            next_observations, rewards, dones, infos = self.env.step(actions.cpu().numpy())
            self.num_timesteps += envs
            finals = replace_terminal_observations(next_observations, dones, infos)
            truncated = np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos]) & dones
            terminated = dones & ~truncated
            final_values = torch.zeros(envs, device=self.device)
            if truncated.any():
                with torch.no_grad():
                    final_values = self.policy(finals)[1] * torch.as_tensor(truncated, device=self.device)
            raw = self.bonus.step_scores(finals, dones) if self.bonus is not None else torch.zeros(envs)
            self.recorder.record_step(infos, self.num_timesteps)
            for name, value in (
                ("observations", observations), ("next_observations", finals), ("actions", actions),
                ("log_probs", log_probs), ("extrinsic_rewards", torch.as_tensor(rewards, dtype=torch.float32)),
                ("raw_bonus", raw.float().to(self.device)), ("extrinsic_values", extrinsic_value),
                ("intrinsic_values", intrinsic_value), ("terminated", torch.as_tensor(terminated)),
                ("truncated", torch.as_tensor(truncated)), ("final_values", final_values),
            ):
                columns[name].append(value)
            self.last_observations = next_observations
        with torch.no_grad():
            _, next_extrinsic, next_intrinsic = self.policy(self.last_observations)
        tensors = {name: torch.stack([torch.as_tensor(item, device=self.device) for item in values])
                   for name, values in columns.items() if name not in ("observations", "next_observations")}
        return Rollout(
            observations=np.stack(columns["observations"]),
            next_observations=np.stack(columns["next_observations"]),
            next_extrinsic_value=next_extrinsic,
            next_intrinsic_value=next_intrinsic,
            **tensors,
        )

    # Learning ----------------------------------------------------------------------------
    def compute_targets(self, rollout: Rollout):
        """Normalise the intrinsic rewards and return both streams' ``StreamTargets``."""
        extrinsic = episodic_gae(
            rollout.extrinsic_rewards, rollout.extrinsic_values, rollout.next_extrinsic_value,
            rollout.terminated, rollout.truncated, rollout.final_values, self.config.gamma, self.config.gae_lambda,
        )
        if self.bonus is None:
            rollout.intrinsic_rewards = torch.zeros_like(rollout.raw_bonus)
        else:
            flat = rollout.next_observations.reshape(-1, *rollout.next_observations.shape[2:])
            self.bonus.update_observation_statistics(flat)
            rollout.intrinsic_rewards = self.bonus.reward_normalizer.normalize_rollout(rollout.raw_bonus)
        intrinsic = continuing_gae(
            rollout.intrinsic_rewards, rollout.intrinsic_values, rollout.next_intrinsic_value,
            self.config.gamma_int, self.config.gae_lambda,
        )
        return extrinsic, intrinsic

    def update(self, rollout: Rollout) -> dict[str, float]:
        """PPO epochs on the rollout, then one bonus update; return the statistics."""
        extrinsic, intrinsic = self.compute_targets(rollout)
        count = rollout.actions.numel()
        observations = rollout.observations.reshape(count, *rollout.observations.shape[2:])
        flat = {
            "actions": rollout.actions.reshape(-1), "log_probs": rollout.log_probs.reshape(-1),
            "advantages": (self.config.extrinsic_coef * extrinsic.advantages
                           + self.config.intrinsic_coef * intrinsic.advantages).reshape(-1),
            "extrinsic_returns": extrinsic.returns.reshape(-1), "intrinsic_returns": intrinsic.returns.reshape(-1),
        }
        sums: dict[str, float] = {}
        batches = 0
        for _ in range(self.config.n_epochs):
            order = torch.randperm(count, generator=self.generator, device=self.device)
            for start in range(0, count, self.config.batch_size):
                index = order[start : start + self.config.batch_size]
                stats = self._minibatch_step(observations[index.cpu().numpy()], {k: v[index] for k, v in flat.items()})
                for key, value in stats.items():
                    sums[key] = sums.get(key, 0.0) + value
                batches += 1
        result = {key: value / batches for key, value in sums.items()}
        result["explained_variance_ext"] = _explained_variance(rollout.extrinsic_values, extrinsic.returns)
        result["explained_variance_int"] = _explained_variance(rollout.intrinsic_values, intrinsic.returns)
        if self.bonus is not None:
            flat_next = rollout.next_observations.reshape(-1, *rollout.next_observations.shape[2:])
            result.update({f"bonus_{key}": value for key, value in self.bonus.update(flat_next).items()})
            result["raw_bonus_mean"] = float(rollout.raw_bonus.mean())
            result["normalized_bonus_mean"] = float(rollout.intrinsic_rewards.mean())
        return result

    def _minibatch_step(self, observations: np.ndarray, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        logits, extrinsic_value, intrinsic_value = self.policy(observations)
        log_probs_all = torch.log_softmax(logits, dim=-1)
        log_probs = log_probs_all.gather(1, batch["actions"][:, None]).squeeze(1)
        ratio = torch.exp(log_probs - batch["log_probs"])
        advantages = batch["advantages"]
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        clip = self.config.clip_range
        policy_loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip)).mean()
        extrinsic_loss = 0.5 * F.mse_loss(extrinsic_value, batch["extrinsic_returns"])
        intrinsic_loss = 0.5 * F.mse_loss(intrinsic_value, batch["intrinsic_returns"])
        entropy = -(log_probs_all.exp() * log_probs_all).sum(dim=-1).mean()
        loss = policy_loss - self.config.ent_coef * entropy + VALUE_COEF * (extrinsic_loss + intrinsic_loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), MAX_GRAD_NORM)
        self.optimizer.step()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - torch.log(ratio)).mean()
            clip_fraction = ((ratio - 1).abs() > clip).float().mean()
        return {"policy_loss": float(policy_loss.detach()), "value_loss_ext": float(extrinsic_loss.detach()),
                "value_loss_int": float(intrinsic_loss.detach()), "entropy": float(entropy.detach()),
                "approx_kl": float(approx_kl), "clip_fraction": float(clip_fraction)}

    def learn(
        self,
        total_steps: int,
        progress: Callable[[int], None] | None = None,
        checkpoint: Callable[["DualValuePPO"], None] | None = None,
        checkpoint_every: int = 0,
    ) -> None:
        """Train until ``num_timesteps >= total_steps`` (whole rollouts), continuing a resumed count.

        ``checkpoint(agent)`` runs every ``checkpoint_every`` rollouts (0: never) and at the end.
        """
        if not self.warmed_up:
            self.warmup()
        rollouts = 0
        while self.num_timesteps < total_steps:
            start = time.perf_counter()
            rollout = self.collect_rollout()
            stats = self.update(rollout)
            stats["sps"] = rollout.actions.numel() / max(time.perf_counter() - start, 1e-9)
            self.recorder.end_rollout(self.num_timesteps)
            self._log(stats)
            for hook in self.hooks.on_rollout_end:
                hook(self, stats)
            if progress is not None:
                progress(self.num_timesteps)
            rollouts += 1
            if checkpoint is not None and checkpoint_every and rollouts % checkpoint_every == 0:
                checkpoint(self)
        if checkpoint is not None:
            checkpoint(self)

    def _log(self, stats: dict[str, float]) -> None:
        if self.writer is None:
            return
        for key, value in stats.items():
            if key == "sps":
                name = "charts/sps"
            elif key.startswith(("bonus_", "raw_bonus", "normalized_bonus")):
                name = "intrinsic/" + key.removeprefix("bonus_")
            else:
                name = "losses/" + key
            self.writer.add_scalar(name, value, self.num_timesteps)

    # Checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: networks, optimiser, bonus, counters, RNGs, envs."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "bonus": None if self.bonus is None else self.bonus.state_dict(),
            "num_timesteps": self.num_timesteps,
            "warmed_up": self.warmed_up,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "episodes": [vars(record) for record in self.recorder.log.records],
            "rollouts": self.recorder.rollouts,
            "visits": self.recorder.visits,
            "environments": cloudpickle.dumps((self.env.envs, self.last_observations)),
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` from an agent built with the same configuration."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.bonus is not None:
            self.bonus.load_state_dict(state["bonus"])
        self.num_timesteps = state["num_timesteps"]
        self.warmed_up = state["warmed_up"]
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.recorder.log = EpisodeLog([EpisodeRecord(**record) for record in state["episodes"]])
        self.recorder.rollouts = state["rollouts"]
        self.recorder.visits = state["visits"]
        envs, self.last_observations = cloudpickle.loads(state["environments"])
        self.env.envs = envs


def _explained_variance(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    variance = targets.var()
    if variance.item() == 0:
        return float("nan")
    return float(1 - (targets - predictions).var() / variance)
