"""Analytic ReLU kernels: closed forms at special points and agreement with the empirical NTK."""

import math

import pytest
import torch

from rnd_explore.member_networks import BatchedMLP
from rnd_explore.ntk import ReluKernelSpec, empirical_ntk, relu_kernels


def test_identical_inputs_follow_the_diagonal_recursion():
    spec = ReluKernelSpec(depth=3, weight_variance=2.0, bias_variance=0.5)
    x = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=torch.float64)

    kappa, theta = relu_kernels(x, x, spec)

    # On the diagonal rho = 1, t = 0: K^l = s_b^2 + s_w^2 K^{l-1} / 2 and Kdot^l = s_w^2 / 2.
    k1 = 2.0 * x.square().sum().item() / 4 + 0.5
    k2 = 0.5 + 2.0 * k1 / 2
    k3 = 0.5 + 2.0 * k2 / 2
    theta3 = k3 + (k2 + k1 * 1.0) * 1.0
    assert kappa.item() == pytest.approx(k3, rel=1e-12)
    assert theta.item() == pytest.approx(theta3, rel=1e-12)


def test_orthogonal_inputs_without_bias():
    spec = ReluKernelSpec(depth=2, weight_variance=2.0, bias_variance=0.0)
    x1 = torch.tensor([[3.0, 0.0]], dtype=torch.float64)
    x2 = torch.tensor([[0.0, 2.0]], dtype=torch.float64)

    kappa, theta = relu_kernels(x1, x2, spec)

    # rho = 0, t = pi / 2: K^2 = s_w^2 sqrt(K11 K22) / (2 pi), and Theta^1 = 0 off the diagonal.
    k11, k22 = 2.0 * 9.0 / 2, 2.0 * 4.0 / 2
    expected = 2.0 * math.sqrt(k11 * k22) / (2 * math.pi)
    assert kappa.item() == pytest.approx(expected, rel=1e-12)
    assert theta.item() == pytest.approx(expected, rel=1e-12)


def test_kernels_are_symmetric_positive_definite():
    x = torch.randn(10, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    kappa, theta = relu_kernels(x, x, ReluKernelSpec(depth=3))

    torch.testing.assert_close(kappa, kappa.T)
    torch.testing.assert_close(theta, theta.T)
    assert torch.linalg.eigvalsh(kappa).min().item() > 0
    assert torch.linalg.eigvalsh(theta - kappa).min().item() > -1e-10


@pytest.mark.parametrize("depth, width, tolerance", [(2, 4096, 0.04), (3, 1024, 0.1)])
def test_empirical_ntk_matches_analytic(depth, width, tolerance):
    # The empirical NTK of one member fluctuates around Theta with relative std of order
    # 1 / sqrt(width), and each extra hidden layer adds its own fluctuation. Measured at
    # these seeds: 1.7% (one hidden layer, width 4096) and 5.0% (two, width 1024); the
    # tolerances allow about twice that.
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(6, 8, generator=generator, dtype=torch.float64)
    network = BatchedMLP(4, 8, (width,) * (depth - 1), 4, parameterization="ntk", weight_std=math.sqrt(2.0),
                         bias_std=math.sqrt(0.5), generator=generator).double()

    empirical = empirical_ntk(network, inputs, inputs)
    _, analytic = relu_kernels(inputs, inputs, ReluKernelSpec(depth=depth))

    error = (torch.linalg.norm(empirical - analytic) / torch.linalg.norm(analytic)).item()
    assert error < tolerance


def test_empirical_ntk_error_shrinks_with_width():
    generator = torch.Generator().manual_seed(2)
    inputs = torch.randn(5, 8, generator=generator, dtype=torch.float64)
    _, analytic = relu_kernels(inputs, inputs, ReluKernelSpec(depth=2))
    errors = []
    for width in (16, 4096):
        network = BatchedMLP(4, 8, (width,), 2, parameterization="ntk", weight_std=math.sqrt(2.0),
                             bias_std=math.sqrt(0.5), generator=generator).double()
        empirical = empirical_ntk(network, inputs, inputs)
        errors.append((torch.linalg.norm(empirical - analytic) / torch.linalg.norm(analytic)).item())

    assert errors[1] < errors[0] / 4


def test_kernel_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="depth must be an integer >= 1, got 0"):
        ReluKernelSpec(depth=0)
    with pytest.raises(ValueError, match=r"same d"):
        relu_kernels(torch.zeros(2, 3), torch.zeros(2, 4), ReluKernelSpec())
