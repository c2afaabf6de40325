"""Device selection shared by the library and the command line."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device for ``device``.

    ``"auto"`` picks CUDA when it is available and the CPU otherwise; the choice is logged so
    that a silent fallback cannot go unnoticed. An explicit ``"cuda"`` without a GPU raises.

    NOTE: every module takes this device, but the code has only been run on the CPU so far.
    The CUDA path has not been tested on a GPU.
    """
    if str(device) == "auto":
        chosen = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        logger.info("device 'auto' resolved to %s", chosen)
        return chosen
    try:
        chosen = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"Invalid device {device!r}: {error}. Use 'auto', 'cpu', 'cuda' or 'cuda:N'.") from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available. Use --device cpu or auto.")
    return chosen
