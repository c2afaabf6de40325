"""Input checks shared across the package.

Every check raises an exception (never ``assert``) whose message names the parameter,
the allowed range, the value received and what to change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int after checking that it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r} of type {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}. Pass a positive value.")
    return int(value)


def check_non_negative_int(name: str, value: object) -> int:
    """Return ``value`` as an int after checking that it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= 0, got {value!r} of type {type(value).__name__}.")
    if value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value}. Pass 0 or a positive value.")
    return int(value)


def check_positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float after checking that it is finite and > 0."""
    number = _as_float(name, value, "a finite number > 0")
    if not number > 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}. Pass a positive value.")
    return number


def check_non_negative_float(name: str, value: object) -> float:
    """Return ``value`` as a float after checking that it is finite and >= 0."""
    number = _as_float(name, value, "a finite number >= 0")
    if number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}. Pass 0 or a positive value.")
    return number


def check_unit_interval(name: str, value: object, *, include_zero: bool = False) -> float:
    """Return ``value`` as a float after checking that it lies in (0, 1] (or [0, 1])."""
    number = _as_float(name, value, "a number in [0, 1]" if include_zero else "a number in (0, 1]")
    low_ok = number >= 0 if include_zero else number > 0
    if not (low_ok and number <= 1):
        interval = "[0, 1]" if include_zero else "(0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {value}. Pass a value in that interval.")
    return number


def check_discount(name: str, value: object) -> float:
    """Return a discount factor after checking that it lies in [0, 1)."""
    number = _as_float(name, value, "a number in [0, 1)")
    if not 0 <= number < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value}. Typical values are 0.99 to 0.999.")
    return number


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` after checking that it is one of ``choices``."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}. Choose one of: {', '.join(allowed)}.")
    return str(value)


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise ValueError if ``tensor`` contains NaN or infinity."""
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s). Check the environment's observations "
            "or clip them before they reach the bonus."
        )


def _as_float(name: str, value: object, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {expected}, got {value!r} of type {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {expected}, got {value}.")
    return number
