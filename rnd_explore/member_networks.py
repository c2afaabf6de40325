"""Ensembles of K member networks built from the batched layers.

``BatchedMLP`` encodes vector observations and ``BatchedCNN`` image observations; both map
a batch shared by all members to ``[K, B, out_features]``. ``member_module(k)`` exports one
member as an ordinary ``nn.Sequential`` with the same function, which the tests use as the
slow reference and users can use to inspect or deploy a single member.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from rnd_explore._checks import check_choice, check_positive_int
from rnd_explore.batched_layers import BatchedConv2d, BatchedLinear

ACTIVATIONS = {
    "relu": (F.relu, nn.ReLU),
    "leaky_relu": (F.leaky_relu, nn.LeakyReLU),
    "tanh": (torch.tanh, nn.Tanh),
    "elu": (F.elu, nn.ELU),
}


class BatchedMLP(nn.Module):
    """K fully connected networks with identical architecture and independent weights.

    Args:
        num_members: K.
        in_features: input width.
        hidden_sizes: width of each hidden layer (may be empty for a linear model).
        out_features: output width (number of heads).
        activation: one of ``relu``, ``leaky_relu``, ``tanh``, ``elu``.
        parameterization, weight_std, bias_std: passed to every ``BatchedLinear``.
        generator: CPU generator for the initial weights.

    Shapes:
        input ``[B, in]`` or ``[K, B, in]``; output ``[K, B, out]``.
    """

    def __init__(
        self,
        num_members: int,
        in_features: int,
        hidden_sizes: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        parameterization: str = "standard",
        weight_std: float = math.sqrt(2.0),
        bias_std: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        sizes = [check_positive_int("in_features", in_features)]
        sizes += [check_positive_int("hidden size", width) for width in hidden_sizes]
        sizes.append(check_positive_int("out_features", out_features))
        self.num_members = check_positive_int("num_members", num_members)
        self.in_features = sizes[0]
        self.out_features = sizes[-1]
        self.layers = nn.ModuleList(
            BatchedLinear(
                num_members,
                fan_in,
                fan_out,
                parameterization=parameterization,
                weight_std=weight_std,
                bias_std=bias_std,
                generator=generator,
            )
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Apply all members: ``[B, in]`` or ``[K, B, in]`` -> ``[K, B, out]``."""
        activation = ACTIVATIONS[self.activation][0]
        hidden = inputs
        for position, layer in enumerate(self.layers):
            hidden = layer(hidden)
            if position < len(self.layers) - 1:
                hidden = activation(hidden)
        return hidden

    @property
    def output_layer(self) -> BatchedLinear:
        """The last layer, whose outputs are the heads."""
        return self.layers[-1]

    def member_module(self, index: int) -> nn.Sequential:
        """Return member ``index`` as an ``nn.Sequential`` of ``nn.Linear`` layers."""
        modules: list[nn.Module] = []
        for position, layer in enumerate(self.layers):
            modules.append(layer.member_module(index))
            if position < len(self.layers) - 1:
                modules.append(ACTIVATIONS[self.activation][1]())
        return nn.Sequential(*modules)


class BatchedCNN(nn.Module):
    """K convolutional networks (conv stack, flatten, MLP head) evaluated together.

    Args:
        num_members: K.
        image_shape: ``(C, H, W)`` of the channel-first input images.
        conv_layers: ``(out_channels, kernel_size, stride)`` per convolution.
        hidden_sizes, out_features, activation, parameterization, weight_std, bias_std,
        generator: as for ``BatchedMLP``; the head's input is the flattened conv output.

    Shapes:
        input ``[B, C, H, W]`` float; output ``[K, B, out]``.
    """

    def __init__(
        self,
        num_members: int,
        image_shape: Sequence[int],
        conv_layers: Sequence[tuple[int, int, int]],
        hidden_sizes: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        parameterization: str = "standard",
        weight_std: float = math.sqrt(2.0),
        bias_std: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (C, H, W), got {tuple(image_shape)}.")
        self.num_members = check_positive_int("num_members", num_members)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.image_shape = tuple(int(size) for size in image_shape)

        if not conv_layers:
            raise ValueError("conv_layers must contain at least one (out_channels, kernel_size, stride) entry.")
        channels, height, width = self.image_shape
        convs = []
        for out_channels, kernel_size, stride in conv_layers:
            convs.append(
                BatchedConv2d(
                    num_members,
                    channels,
                    out_channels,
                    kernel_size,
                    stride,
                    parameterization=parameterization,
                    weight_std=weight_std,
                    bias_std=bias_std,
                    generator=generator,
                )
            )
            height = (height - kernel_size) // stride + 1
            width = (width - kernel_size) // stride + 1
            if height < 1 or width < 1:
                raise ValueError(
                    f"conv_layers {list(conv_layers)} shrink the image {self.image_shape} below 1 pixel; "
                    "use smaller kernels or strides."
                )
            channels = out_channels
        self.convs = nn.ModuleList(convs)

        self.flat_features = channels * height * width
        self.head = BatchedMLP(
            num_members,
            self.flat_features,
            hidden_sizes,
            out_features,
            activation=activation,
            parameterization=parameterization,
            weight_std=weight_std,
            bias_std=bias_std,
            generator=generator,
        )
        self.out_features = self.head.out_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Apply all members: ``[B, C, H, W]`` -> ``[K, B, out]``."""
        activation = ACTIVATIONS[self.activation][0]
        hidden = images
        for conv in self.convs:
            hidden = activation(conv(hidden))
        batch = hidden.shape[0]
        features = hidden.reshape(batch, self.num_members, self.flat_features).transpose(0, 1)
        return self.head(features)

    @property
    def output_layer(self) -> BatchedLinear:
        """The last layer of the head, whose outputs are the heads."""
        return self.head.output_layer

    def member_module(self, index: int) -> nn.Sequential:
        """Return member ``index`` as an ``nn.Sequential`` of standard torch layers."""
        modules: list[nn.Module] = []
        for conv in self.convs:
            modules += [conv.member_module(index), ACTIVATIONS[self.activation][1]()]
        modules.append(nn.Flatten())
        modules += list(self.head.member_module(index))
        return nn.Sequential(*modules)
