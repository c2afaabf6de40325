"""Layers that hold K independent members as stacked weights.

Every layer stores its parameters with a leading member axis ``[K, ...]`` and evaluates all
K members with one batched matmul (or one convolution), so an ensemble of K networks costs
one kernel launch per layer instead of K.

Two parameterisations are available:

* ``"standard"``: ``z = x W + b`` with ``W ~ N(0, weight_std**2 / fan_in)`` and
  ``b ~ N(0, bias_std**2)``.
* ``"ntk"``: ``z = weight_std / sqrt(fan_in) * x W + bias_std * b`` with every parameter
  ``~ N(0, 1)``. The functions at initialisation have the same distribution as in the
  standard case, but gradients scale differently with width. The neural tangent kernel
  results of Jacot et al. (2018) and Lee et al. (2019) hold in this parameterisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from rnd_explore._checks import check_choice, check_non_negative_float, check_positive_int

PARAMETERIZATIONS = ("standard", "ntk")


class _BatchedParameterized(nn.Module):
    """Shared initialisation logic for the batched layers."""

    def _init_scales(self, parameterization: str, fan_in: int, weight_std: float, bias_std: float) -> None:
        self.parameterization = check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        self.weight_std = check_non_negative_float("weight_std", weight_std)
        self.bias_std = check_non_negative_float("bias_std", bias_std)
        if self.parameterization == "ntk":
            self.weight_scale = self.weight_std / math.sqrt(fan_in)
            self.bias_scale = self.bias_std
            init_weight_std, init_bias_std = 1.0, 1.0
        else:
            self.weight_scale = 1.0
            self.bias_scale = 1.0
            init_weight_std, init_bias_std = self.weight_std / math.sqrt(fan_in), self.bias_std
        self._init_weight_std = init_weight_std
        self._init_bias_std = init_bias_std

    @property
    def init_std(self) -> dict[str, float]:
        """Standard deviation of each parameter's initial draw, by parameter name."""
        return {"weight": self._init_weight_std, "bias": self._init_bias_std}

    def _normal(self, shape: tuple[int, ...], std: float, generator: torch.Generator | None) -> nn.Parameter:
        values = torch.randn(shape, generator=generator, dtype=torch.float64) * std
        return nn.Parameter(values)


class BatchedLinear(_BatchedParameterized):
    """K independent affine maps evaluated together.

    Args:
        num_members: K, the number of members.
        in_features: input width.
        out_features: output width.
        parameterization: ``"standard"`` or ``"ntk"`` (see the module docstring).
        weight_std: ``s_w``, the standard deviation scale of the weights.
        bias_std: ``s_b``, the standard deviation of the biases (0 gives zero biases).
        generator: CPU generator used for the initial draw, for reproducible members.

    Shapes:
        input ``[B, in]`` (one batch shared by all members) or ``[K, B, in]`` (one batch per
        member); output ``[K, B, out]``. Parameters: ``weight [K, in, out]``, ``bias [K, 1, out]``.
    """

    def __init__(
        self,
        num_members: int,
        in_features: int,
        out_features: int,
        *,
        parameterization: str = "standard",
        weight_std: float = math.sqrt(2.0),
        bias_std: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_members = check_positive_int("num_members", num_members)
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        self._init_scales(parameterization, in_features, weight_std, bias_std)
        self.weight = self._normal((num_members, in_features, out_features), self._init_weight_std, generator)
        self.bias = self._normal((num_members, 1, out_features), self._init_bias_std, generator)
        self.float()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Apply every member: ``[B, in]`` or ``[K, B, in]`` -> ``[K, B, out]``."""
        weight = self.weight if self.weight_scale == 1.0 else self.weight * self.weight_scale
        bias = self.bias if self.bias_scale == 1.0 else self.bias * self.bias_scale
        if inputs.dim() == 2 and inputs.shape[1] == self.in_features:
            # A shared batch is broadcast without a copy (stride 0 over members). One
            # [B, in] x [in, K * out] matmul was measured slower, forward and backward.
            inputs = inputs.expand(self.num_members, *inputs.shape)
        if inputs.dim() != 3 or inputs.shape[0] != self.num_members or inputs.shape[2] != self.in_features:
            raise ValueError(
                f"BatchedLinear expects input of shape [B, {self.in_features}] or "
                f"[{self.num_members}, B, {self.in_features}], got {tuple(inputs.shape)}."
            )
        return torch.baddbmm(bias, inputs, weight)

    def member_module(self, index: int) -> nn.Linear:
        """Return member ``index`` as an independent ``nn.Linear`` computing the same map."""
        linear = nn.Linear(self.in_features, self.out_features, dtype=self.weight.dtype, device=self.weight.device)
        with torch.no_grad():
            linear.weight.copy_(self.weight[index].T * self.weight_scale)
            linear.bias.copy_(self.bias[index, 0] * self.bias_scale)
        return linear

    def extra_repr(self) -> str:
        return (
            f"num_members={self.num_members}, in_features={self.in_features}, "
            f"out_features={self.out_features}, parameterization={self.parameterization!r}"
        )


class BatchedConv2d(_BatchedParameterized):
    """K independent 2-D convolutions evaluated as one grouped convolution.

    Shapes:
        input ``[B, C_in, H, W]`` (shared by all members) or ``[B, K * C_in, H, W]`` (member k
        in channels ``k * C_in ... (k + 1) * C_in - 1``); output ``[B, K * C_out, H', W']``
        in the same member-major channel layout. Parameters: ``weight [K, C_out, C_in, kh, kw]``,
        ``bias [K, C_out]``.
    """

    def __init__(
        self,
        num_members: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        *,
        parameterization: str = "standard",
        weight_std: float = math.sqrt(2.0),
        bias_std: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_members = check_positive_int("num_members", num_members)
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.stride = check_positive_int("stride", stride)
        fan_in = in_channels * kernel_size * kernel_size
        self._init_scales(parameterization, fan_in, weight_std, bias_std)
        shape = (num_members, out_channels, in_channels, kernel_size, kernel_size)
        self.weight = self._normal(shape, self._init_weight_std, generator)
        self.bias = self._normal((num_members, out_channels), self._init_bias_std, generator)
        self.float()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Apply every member: ``[B, C_in or K * C_in, H, W]`` -> ``[B, K * C_out, H', W']``."""
        weight = self.weight.reshape(-1, self.in_channels, self.kernel_size, self.kernel_size) * self.weight_scale
        bias = self.bias.reshape(-1) * self.bias_scale
        channels = inputs.shape[1] if inputs.dim() == 4 else None
        if channels == self.in_channels:
            return F.conv2d(inputs, weight, bias, stride=self.stride)
        if channels == self.num_members * self.in_channels:
            return F.conv2d(inputs, weight, bias, stride=self.stride, groups=self.num_members)
        raise ValueError(
            f"BatchedConv2d expects input of shape [B, {self.in_channels}, H, W] or "
            f"[B, {self.num_members * self.in_channels}, H, W], got {tuple(inputs.shape)}."
        )

    def member_module(self, index: int) -> nn.Conv2d:
        """Return member ``index`` as an independent ``nn.Conv2d`` computing the same map."""
        conv = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            dtype=self.weight.dtype,
            device=self.weight.device,
        )
        with torch.no_grad():
            conv.weight.copy_(self.weight[index] * self.weight_scale)
            conv.bias.copy_(self.bias[index] * self.bias_scale)
        return conv
