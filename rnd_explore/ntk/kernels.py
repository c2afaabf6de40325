"""Analytic NNGP and NTK kernels of fully connected ReLU networks (NTK parameterisation).

For a network with ``depth`` weight layers, a linear first layer
``z^1 = s_w / sqrt(d) W^1 x + s_b b^1`` and later layers
``z^l = s_w / sqrt(n_{l-1}) W^l relu(z^{l-1}) + s_b b^l``, with every parameter ``~ N(0, 1)``,
the infinite-width kernels follow the arc-cosine recursion (Cho and Saul,
2009; Jacot et al., 2018; Lee et al., 2019):

    K^1 = Theta^1 = s_w^2 x.x' / d + s_b^2
    for l = 2 .. depth, with rho = K12 / sqrt(K11 K22) and t = arccos(rho):
        K^l     = s_b^2 + s_w^2 sqrt(K11 K22) / (2 pi) * (sin t + (pi - t) rho)
        Kdot^l  = s_w^2 (pi - t) / (2 pi)
        Theta^l = K^l + Theta^{l-1} Kdot^l

``kappa = K^depth`` is the NNGP kernel and ``Theta = Theta^depth`` the NTK of one output.
All computations are float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnd_explore._checks import check_non_negative_float, check_positive_int


@dataclass(frozen=True)
class ReluKernelSpec:
    """Architecture of the fully connected ReLU network whose kernels are computed.

    Attributes:
        depth: number of weight layers (2 = one hidden layer).
        weight_variance: ``s_w^2``.
        bias_variance: ``s_b^2``.
    """

    depth: int = 2
    weight_variance: float = 2.0
    bias_variance: float = 0.5

    def __post_init__(self) -> None:
        check_positive_int("depth", self.depth)
        check_non_negative_float("weight_variance", self.weight_variance)
        check_non_negative_float("bias_variance", self.bias_variance)


def relu_kernels(x1: torch.Tensor, x2: torch.Tensor, spec: ReluKernelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the NNGP kernel ``kappa`` and the NTK ``Theta`` between two input sets.

    Args:
        x1: ``[n1, d]`` inputs.
        x2: ``[n2, d]`` inputs.
        spec: the architecture.

    Returns:
        ``(kappa, theta)``, each ``[n1, n2]`` float64.
    """
    if x1.dim() != 2 or x2.dim() != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must be [n, d] with the same d, got {tuple(x1.shape)} and {tuple(x2.shape)}.")
    x1 = x1.to(torch.float64)
    x2 = x2.to(torch.float64)
    dimension = x1.shape[1]
    s_w2, s_b2 = spec.weight_variance, spec.bias_variance

    cross = s_w2 * (x1 @ x2.T) / dimension + s_b2
    diagonal1 = s_w2 * x1.square().sum(dim=1) / dimension + s_b2
    diagonal2 = s_w2 * x2.square().sum(dim=1) / dimension + s_b2
    theta = cross.clone()

    for _ in range(2, spec.depth + 1):
        norms = torch.sqrt(diagonal1[:, None] * diagonal2[None, :])
        rho = (cross / norms).clamp(-1.0, 1.0)
        angle = torch.arccos(rho)
        cross = s_b2 + s_w2 * norms / (2 * math.pi) * (torch.sin(angle) + (math.pi - angle) * rho)
        derivative = s_w2 * (math.pi - angle) / (2 * math.pi)
        theta = cross + theta * derivative
        diagonal1 = s_b2 + s_w2 * diagonal1 / 2
        diagonal2 = s_b2 + s_w2 * diagonal2 / 2
    return cross, theta


def gp_posterior_covariance(kernel_test: torch.Tensor, kernel_cross: torch.Tensor, kernel_train: torch.Tensor) -> torch.Tensor:
    """Posterior covariance ``k** - k*X kXX^-1 kX*`` of a noise-free GP, ``[n*, n*]``."""
    return kernel_test - kernel_cross @ torch.linalg.solve(kernel_train, kernel_cross.T)


def ensemble_covariance(kappa_test, kappa_cross, kappa_train, theta_cross, theta_train) -> torch.Tensor:
    """Covariance of converged deep-ensemble members over random initialisations, ``[n*, n*]``.

    ``Sigma_f = kappa** + A kappa_XX A^T - A kappa_X* - kappa_*X A^T`` with
    ``A = Theta_*X Theta_XX^-1`` (Lee et al., 2019); it does not depend on the labels.
    """
    gain = torch.linalg.solve(theta_train, theta_cross.T).T
    return kappa_test + gain @ kappa_train @ gain.T - gain @ kappa_cross.T - kappa_cross @ gain.T


def posterior_mean(theta_cross: torch.Tensor, theta_train: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """NTK-GP posterior mean ``Theta_*X Theta_XX^-1 Y`` at the test points, ``[n*]``."""
    return theta_cross @ torch.linalg.solve(theta_train, labels.to(torch.float64))
