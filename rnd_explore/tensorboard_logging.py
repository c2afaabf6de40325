"""TensorBoard output in the toolkit's fixed namespaces: ``charts/``, ``losses/``, ``intrinsic/``.

SB3 records its own keys (``rollout/``, ``train/``, ``time/``). ``NamespacedTensorBoardFormat``
plugs into SB3's logger and renames them, so SB3's metrics and the toolkit's share one
event file and one naming scheme.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.logger import KVWriter

SB3_KEY_NAMES = {
    "rollout/ep_rew_mean": "charts/episodic_return_mean",
    "rollout/ep_len_mean": "charts/episodic_length_mean",
    "time/fps": "charts/sps",
    "train/learning_rate": "charts/learning_rate",
    "train/clip_range": "charts/clip_range",
    "train/policy_gradient_loss": "losses/policy_loss",
    "train/value_loss": "losses/value_loss",
    "train/entropy_loss": "losses/entropy_loss",
    "train/approx_kl": "losses/approx_kl",
    "train/clip_fraction": "losses/clip_fraction",
    "train/explained_variance": "losses/explained_variance",
    "train/loss": "losses/total_loss",
}
"""SB3 key -> toolkit key. SB3 keys not listed here and not already namespaced are dropped."""

NAMESPACES = ("charts/", "losses/", "intrinsic/")


def namespaced_key(key: str) -> str | None:
    """Return the toolkit's name for a logged key, or None to drop it."""
    if key in SB3_KEY_NAMES:
        return SB3_KEY_NAMES[key]
    if key.startswith(NAMESPACES):
        return key
    return None


class NamespacedTensorBoardFormat(KVWriter):
    """SB3 ``KVWriter`` that writes scalars to a ``SummaryWriter`` under the toolkit's names."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        for key, value in key_values.items():
            name = namespaced_key(key)
            excluded = key_excluded.get(key) or ()
            if name is None or "tensorboard" in excluded:
                continue
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                self.writer.add_scalar(name, float(value), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()


def log_hyperparameters(writer: Any, hyperparameters: dict[str, Any]) -> None:
    """Log hyperparameters once: a markdown table under ``hyperparameters`` and the HPARAMS tab."""
    from torch.utils.tensorboard.summary import hparams

    rows = "\n".join(f"|{key}|{value}|" for key, value in sorted(hyperparameters.items()))
    writer.add_text("hyperparameters", f"|parameter|value|\n|-|-|\n{rows}")
    scalar_like = {
        key: value if isinstance(value, (int, float, str, bool)) else str(value)
        for key, value in hyperparameters.items()
    }
    experiment, session_start, session_end = hparams(scalar_like, {"charts/episodic_return_mean": 0.0})
    for summary in (experiment, session_start, session_end):
        writer.file_writer.add_summary(summary)
