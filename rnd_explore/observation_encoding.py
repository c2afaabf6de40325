"""Turn raw observations of a gymnasium space into float tensors for the bonus networks.

Supported spaces and their encodings (``B`` is the batch size):

* ``Box`` with an image layout (3-D, uint8, bounds 0-255, see SB3's ``is_image_space``):
  ``[B, C, H, W]`` float32 scaled to [0, 1], channel-first (channel-last input is transposed).
* any other ``Box``: flattened to ``[B, prod(shape)]`` float32.
* ``Discrete(n)``: one-hot ``[B, n]``.
* ``MultiDiscrete`` (1-D): concatenated one-hot vectors ``[B, sum(nvec)]``.
* ``MultiBinary(n)``: ``[B, n]`` float32.

Other spaces (``Dict``, ``Tuple``, ``Text``, ``Graph``, ...) raise ``ValueError`` with a hint
to flatten them first.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from torch.nn import functional as F

from rnd_explore._checks import check_finite

SUPPORTED_SPACES = "Box, Discrete, MultiDiscrete (1-D) and MultiBinary (1-D)"


class ObservationEncoder:
    """Encoder for one observation space.

    Attributes:
        space: the gymnasium observation space.
        is_image: True when observations are encoded as channel-first images.
        feature_shape: shape of one encoded observation, ``(C, H, W)`` or ``(D,)``.
    """

    def __init__(self, space: spaces.Space) -> None:
        self.space = space
        self.is_image = False
        self._channels_first = True
        if isinstance(space, spaces.Box):
            if is_image_space(space, check_channels=False):
                self.is_image = True
                self._channels_first = is_image_space_channels_first(space)
                if self._channels_first:
                    self.feature_shape = tuple(space.shape)
                else:
                    height, width, channels = space.shape
                    self.feature_shape = (channels, height, width)
            else:
                self.feature_shape = (int(np.prod(space.shape)),)
        elif isinstance(space, spaces.Discrete):
            self.feature_shape = (int(space.n),)
        elif isinstance(space, spaces.MultiDiscrete) and len(space.nvec.shape) == 1:
            self.feature_shape = (int(space.nvec.sum()),)
        elif isinstance(space, spaces.MultiBinary) and isinstance(space.n, (int, np.integer)):
            self.feature_shape = (int(space.n),)
        else:
            raise ValueError(
                f"The bonus networks cannot encode the observation space {space}. Supported: "
                f"{SUPPORTED_SPACES}. Flatten other spaces first, for example with "
                "gymnasium.wrappers.FlattenObservation, or for MiniGrid use the flat adapter "
                "in rnd_explore.envs."
            )

    def encode(self, observations: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
        """Encode a batch of raw observations.

        Args:
            observations: ``[B, *space.shape]`` (``[B]`` for ``Discrete``), array or tensor.
            device: device of the returned tensor.

        Returns:
            float32 tensor ``[B, *feature_shape]``.

        Raises:
            ValueError: on a shape that does not match the space, or NaN/inf values.
        """
        tensor = torch.as_tensor(observations, device=device)
        expected = tuple(self.space.shape)
        if tensor.dim() != len(expected) + 1 or tuple(tensor.shape[1:]) != expected:
            raise ValueError(
                f"observations must have shape [B, {', '.join(map(str, expected))}] for space {self.space}, "
                f"got {tuple(tensor.shape)}. Pass a batch with a leading batch axis."
            )
        if isinstance(self.space, spaces.Discrete):
            indices = tensor.long() - int(self.space.start)
            return F.one_hot(indices, int(self.space.n)).float()
        if isinstance(self.space, spaces.MultiDiscrete):
            starts = np.asarray(getattr(self.space, "start", np.zeros_like(self.space.nvec)))
            columns = [
                F.one_hot(tensor[:, i].long() - int(starts[i]), int(n)) for i, n in enumerate(self.space.nvec)
            ]
            return torch.cat(columns, dim=1).float()
        values = tensor.float()
        check_finite("observations", values)
        if self.is_image:
            values = values / 255.0
            return values if self._channels_first else values.permute(0, 3, 1, 2)
        return values.reshape(values.shape[0], -1)
