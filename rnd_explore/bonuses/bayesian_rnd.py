"""Bayesian random network distillation: a target whose RND error is a posterior sample."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jvp

from rnd_explore._checks import check_positive_int
from rnd_explore.bonuses.base import NoveltyBonus, build_member_network


@dataclass
class PosteriorSamples:
    """Draws of the posterior predictive at a batch of B observations.

    Attributes:
        samples: ``[S, B]``, ``mean + errors``: S whole-function draws evaluated at the batch.
        mean: ``[B]``, the posterior mean estimate (zero for the bonus's zero labels).
        errors: ``[S, B]``, the centred draws ``eps_b`` of the chosen heads.
        heads: ``[S]``, flat head indices ``member * output_dim + output``.
    """

    samples: torch.Tensor
    mean: torch.Tensor
    errors: torch.Tensor
    heads: torch.Tensor


class BayesianRNDBonus(NoveltyBonus):
    """RND with the Bayesian target of Zanger et al. (2026).

    The target is a Jacobian-vector product of the predictor at its own initialisation
    ``theta_0`` (kept as a frozen copy) along a fixed random parameter direction ``psi``:

        g(x) = J_theta u(x; theta_0) . psi,   psi ~ N(0, I) except the last layer's weight
                                               and bias entries, which are 0

    It depends on ``theta_0`` and ``psi`` only and is never trained. In the NTK
    parameterisation its prior kernel is ``Theta - kappa`` (NTK minus NNGP kernel), so the
    initial error ``u_0 - g`` has kernel ``Theta``. After training the predictor on ``g`` to
    convergence with gradient flow, the error ``eps = u - g`` of each head is distributed as
    the centred NTK-GP posterior ``N(0, Theta** - Theta*X Theta_XX^-1 Theta_X*)``, and the
    heads (K members x D outputs) are independent draws at infinite width. The bonus is the
    mean squared error (the posterior variance, without RND's 1/2).

    ``psi`` is drawn in the NTK coordinates of every parameter and scaled by the parameter's
    initial standard deviation, so the target has the same distribution in the standard
    parameterisation. Cost: the target is recomputed by forward-mode differentiation
    (``torch.func.jvp``) on every call, about two to three forward passes of the predictor.

    With ``exploration="thompson"`` the per-step reward is one posterior sample
    ``mean + eps_i(x)``, with head ``i`` drawn per environment at every episode start. The
    reward is signed and its average over heads is the posterior mean.

    NOTE: a policy that is not given the active head index learns from the average over heads, which
    is zero unless ``fit_mean`` was called. With SB3 PPO on DeepSea-16 this mode did not reach
    the goal in 7 of 7 runs, while the variance mode did in every run; conditioning the policy
    on the head is not implemented.
    """

    name = "bayes-rnd"

    def build_networks(self, generator: torch.Generator) -> None:
        self.predictor = build_member_network(self.encoder, self.config, generator)
        self.initial = copy.deepcopy(self.predictor).requires_grad_(False)
        output_parameters = {id(parameter) for parameter in self.initial.output_layer.parameters()}
        self._tangent_names = []
        for module_name, module in self.initial.named_modules():
            if not hasattr(module, "init_std"):
                continue
            for parameter_name, std in module.init_std.items():
                parameter = getattr(module, parameter_name)
                direction = torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * std
                if id(parameter) in output_parameters:
                    direction.zero_()
                full_name = f"{module_name}.{parameter_name}" if module_name else parameter_name
                buffer_name = "tangent_" + full_name.replace(".", "_")
                self.register_buffer(buffer_name, direction.to(parameter.dtype))
                self._tangent_names.append((full_name, buffer_name))
        heads = self.config.num_members * self.config.output_dim
        self.register_buffer("active_heads", torch.randint(heads, (self.num_envs,), generator=generator))
        mean_config = dataclasses.replace(self.config, num_members=1, output_dim=1)
        mean_generator = torch.Generator().manual_seed(self.config.seed + 2)
        self.mean_network = build_member_network(self.encoder, mean_config, mean_generator)
        self.mean_initial = copy.deepcopy(self.mean_network).requires_grad_(False)
        self.register_buffer("mean_fitted", torch.zeros((), dtype=torch.bool))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.predictor.parameters())

    def tangent(self) -> dict[str, torch.Tensor]:
        """Return the direction ``psi`` by parameter name of ``self.initial`` (last layer all zero)."""
        return {name: getattr(self, buffer_name) for name, buffer_name in self._tangent_names}

    def target(self, features: torch.Tensor) -> torch.Tensor:
        """Bayesian-RND target ``J u(x; theta_0) . psi``, ``[K, B, D]``."""
        primals = dict(self.initial.named_parameters())
        tangents = self.tangent()

        def initial_function(parameters):
            return functional_call(self.initial, parameters, (features,))

        with torch.no_grad():
            _, directional = jvp(initial_function, (primals,), (tangents,))
        return directional

    def prediction_error(self, features: torch.Tensor) -> torch.Tensor:
        """Error ``u(x) - g(x)`` of every head, ``[K, B, D]``."""
        return self.predictor(features) - self.target(features)

    def raw_score(self, features: torch.Tensor) -> torch.Tensor:
        """Posterior variance estimate ``mean_heads eps^2`` ``[B]``, in both exploration modes."""
        return self.prediction_error(features).square().mean(dim=(0, 2))

    def predictor_loss(self, features: torch.Tensor) -> torch.Tensor:
        return self.prediction_error(features).square().mean()

    @torch.no_grad()
    def step_scores(self, next_observations, dones: np.ndarray) -> torch.Tensor:
        if self.config.exploration == "variance":
            return self.score(next_observations)
        errors = self.prediction_error(self.features(next_observations))
        flat = errors.permute(1, 0, 2).reshape(errors.shape[1], -1)
        rewards = flat.gather(1, self.active_heads[:, None]).squeeze(1) + self.posterior_mean(next_observations)
        finished = torch.as_tensor(np.flatnonzero(dones), device=self.device, dtype=torch.long)
        if finished.numel():
            fresh = torch.randint(flat.shape[1], (finished.numel(),), generator=self._sample_generator, device=self.device)
            self.active_heads[finished] = fresh
        return rewards

    @torch.no_grad()
    def posterior_mean(self, observations) -> torch.Tensor:
        """Posterior mean estimate ``[B]``: zero for the bonus's zero labels (see ``fit_mean``)."""
        features = self.features(observations)
        if not bool(self.mean_fitted):
            return features.new_zeros(features.shape[0])
        return self._centred_mean(features)

    @torch.no_grad()
    def sample_posterior(self, observations, num_samples: int, generator: torch.Generator | None = None) -> PosteriorSamples:
        """Draw ``num_samples`` i.i.d. posterior functions at ``observations`` ``[B, *obs_shape]``.

        Each draw is ``mean + eps_i`` for a distinct head ``i`` chosen uniformly without
        replacement, so at most ``num_members * output_dim`` draws are available. The draws
        are independent only in the infinite-width limit.
        """
        heads_available = self.config.num_members * self.config.output_dim
        num_samples = check_positive_int("num_samples", num_samples)
        if num_samples > heads_available:
            raise ValueError(
                f"num_samples={num_samples} exceeds the {heads_available} heads (num_members x output_dim). "
                "Raise num_members or output_dim, or draw fewer samples."
            )
        features = self.features(observations)
        errors = self.prediction_error(features)
        flat = errors.permute(0, 2, 1).reshape(heads_available, features.shape[0])
        heads = torch.randperm(heads_available, generator=generator or self._sample_generator, device=self.device)
        heads = heads[:num_samples]
        mean = self.posterior_mean(observations)
        chosen = flat[heads]
        return PosteriorSamples(samples=chosen + mean, mean=mean, errors=chosen, heads=heads)

    def fit_mean(self, observations, labels: torch.Tensor, steps: int = 100, learning_rate: float = 1e-3) -> float:
        """Train the posterior-mean network on scalar ``labels`` ``[B]``; return the final loss.

        The mean estimate is the centred network ``f(x; theta_t) - f(x; theta_0)`` (one
        member, one output, the predictor's architecture). Under gradient flow it converges to
        the posterior mean ``Theta_*X Theta_XX^-1 Y``, whereas a plain network trained on ``Y``
        keeps its initial function's fluctuation.
        """
        features = self.features(observations).detach()
        labels = torch.as_tensor(labels, device=self.device, dtype=features.dtype).reshape(-1)
        if labels.shape[0] != features.shape[0]:
            raise ValueError(f"labels must have shape [B] = [{features.shape[0]}], got {tuple(labels.shape)}.")
        self.mean_fitted.fill_(True)
        optimizer = torch.optim.Adam(self.mean_network.parameters(), lr=learning_rate)
        loss = torch.tensor(float("nan"))
        for _ in range(check_positive_int("steps", steps)):
            loss = (self._centred_mean(features) - labels).square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    def _centred_mean(self, features: torch.Tensor) -> torch.Tensor:
        return (self.mean_network(features) - self.mean_initial(features))[0, :, 0]
