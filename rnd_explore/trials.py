"""One trial of a sweep: train a run, retry it on errors, and record on disk whether it finished.

A trial is one (environment, agent, bonus, seed) run of a comparison. Its state lives in the
comparison folder, so a sweep can be stopped at any point and rerun with the same command:

    <out_dir>/runs/<run name>/trial_complete.json   written last: the trial is complete
    <out_dir>/failures/<run name>.json                the trial raised on every attempt
    <out_dir>/incomplete/<run name>.<time>/           files of an attempt that did not finish

A run folder without ``trial_complete.json`` contains a run that was interrupted or raised. It
is moved to ``incomplete/`` (never deleted) before the trial runs again, so TensorBoard on
``<out_dir>/runs`` shows finished runs only.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnd_explore.atomic_io import atomic_write_text
from rnd_explore.config import TrainConfig
from rnd_explore.training import RunSummary, train

logger = logging.getLogger(__name__)

COMPLETE_MARKER = "trial_complete.json"

SETTINGS_IGNORED_ON_RESUME = ("log_dir", "run_name", "torch_threads")
"""Config fields that may change between a sweep and its rerun: they move files or change
speed, not the numbers a trial produces."""


@dataclass
class TrialOutcome:
    """Result of one trial in a sweep: its summary, or the error of its last attempt.

    Attributes:
        run_name: the trial's run folder name.
        summary: the run's summary when it completed, else None.
        error: the last error as ``"Type: message"`` when every attempt failed, else None.
        attempts: attempts made in this sweep (0 when a complete result was found on disk).
    """

    run_name: str
    summary: RunSummary | None
    error: str | None = None
    attempts: int = 0

    @property
    def complete(self) -> bool:
        """True when the trial has a summary."""
        return self.summary is not None


BONUS_ONLY_SETTINGS = (
    "num_members", "parameterization", "bias_std", "ensemble_labels", "exploration", "bonus_hidden",
    "bonus_output_dim", "bonus_learning_rate", "update_proportion", "bonus_epochs", "bonus_minibatch_size",
    "gamma_int", "equivalence_probe", "intrinsic_coef", "warmup_steps",
)
"""Config fields that a run without a bonus never reads."""


def trial_settings(config: TrainConfig) -> dict[str, Any]:
    """Return the config fields that define a trial's result (all but ``SETTINGS_IGNORED_ON_RESUME``)."""
    settings = config.to_dict()
    for name in SETTINGS_IGNORED_ON_RESUME:
        settings.pop(name, None)
    return settings


def _relevant(settings: dict[str, Any]) -> dict[str, Any]:
    if settings.get("bonus") != "none":
        return settings
    return {name: value for name, value in settings.items() if name not in BONUS_ONLY_SETTINGS}


def settings_differences(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Describe the options where two trial settings differ, as ``"--name: A there, B now"``.

    Options that the trial's bonus does not use (all bonus options for a run without a
    bonus) are not compared.
    """
    stored, expected = _relevant(stored), _relevant(expected)
    names = sorted(name for name in set(stored) | set(expected) if stored.get(name) != expected.get(name))
    return [f"--{name.replace('_', '-')}: {stored.get(name)!r} there, {expected.get(name)!r} now" for name in names]


def read_complete_trial(run_dir: Path) -> dict[str, Any] | None:
    """Return the contents of ``run_dir``'s complete marker (summary and settings), or None."""
    marker = run_dir / COMPLETE_MARKER
    if not marker.is_file():
        return None
    return json.loads(marker.read_text())


def load_complete_trial(run_dir: Path, config: TrainConfig) -> RunSummary | None:
    """Return the summary of a complete trial in ``run_dir``, or None when it is not complete.

    Raises:
        ValueError: when ``run_dir`` contains a complete trial that was run with other settings,
            naming the first differing fields, so a rerun never mixes two experiments.
    """
    payload = read_complete_trial(run_dir)
    if payload is None:
        return None
    differences = settings_differences(payload["settings"], trial_settings(config))
    if differences:
        raise ValueError(other_sweep_message(run_dir, differences))
    return RunSummary(**payload["summary"])


def other_sweep_message(run_dir: Path, differences: list[str]) -> str:
    """Build the error text for a comparison folder that contains a complete trial of another sweep."""
    return (
        f"{run_dir.parent.parent} contains the complete trial {run_dir.name} of a sweep with other settings "
        f"({'; '.join(differences[:4])}). A comparison folder contains one sweep: rerun with that sweep's "
        "settings to continue it, or pass another --out-dir."
    )


def mark_complete(run_dir: Path, config: TrainConfig, summary: RunSummary) -> None:
    """Write ``trial_complete.json`` (the summary and the trial's settings), atomically."""
    payload = {"summary": asdict(summary), "settings": trial_settings(config)}
    atomic_write_text(run_dir / COMPLETE_MARKER, json.dumps(payload, indent=2, allow_nan=True))


def set_aside_incomplete(run_dir: Path, root: Path) -> Path | None:
    """Move a run folder without a complete marker to ``root/incomplete/``; return its new path.

    Returns None when ``run_dir`` is absent or empty (an empty folder is removed).
    """
    if not run_dir.is_dir() or (run_dir / COMPLETE_MARKER).exists():
        return None
    if not any(run_dir.iterdir()):
        run_dir.rmdir()
        return None
    stem = f"{run_dir.name}.{time.strftime('%Y%m%d-%H%M%S')}"
    target = root / "incomplete" / stem
    copy = 1
    while target.exists():
        copy += 1
        target = root / "incomplete" / f"{stem}-{copy}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run_dir), str(target))
    logger.info("moved the incomplete run %s to %s", run_dir, target)
    return target


def failure_path(root: Path, run_name: str) -> Path:
    """Return the path of a trial's failure record."""
    return root / "failures" / f"{run_name}.json"


def run_trial(
    config: TrainConfig,
    root: Path,
    retries: int = 0,
    progress: Callable[[int], None] | None = None,
    trainer: Callable[..., RunSummary] = train,
) -> TrialOutcome:
    """Train one trial into ``root/runs/<run name>``, retrying up to ``retries`` times on errors.

    Before each attempt an incomplete run folder is moved to ``root/incomplete/``. After a
    successful attempt the complete marker is written and an old failure record is removed.
    After the last failed attempt the failure and its traceback are recorded in
    ``root/failures/<run name>.json``. ``KeyboardInterrupt`` is not caught.

    Args:
        config: the trial's config; its ``log_dir`` is replaced by ``root/runs``.
        root: the comparison folder (or a worker's stand-in for it).
        retries: extra attempts after a failed one.
        progress: forwarded to ``trainer``.
        trainer: the training function, ``train`` unless a test replaces it.
    """
    config = TrainConfig(**{**config.to_dict(), "log_dir": str(root / "runs")})
    name = config.resolved_run_name()
    run_dir = root / "runs" / name
    error = None
    for attempt in range(1, retries + 2):
        set_aside_incomplete(run_dir, root)
        try:
            summary = trainer(config, progress=progress)
        except Exception as raised:  # noqa: BLE001 - any error of a trial is recorded, not fatal
            error = f"{type(raised).__name__}: {raised}"
            logger.warning("trial %s failed on attempt %d of %d: %s", name, attempt, retries + 1, error)
            details = traceback.format_exc()
            continue
        run_dir.mkdir(parents=True, exist_ok=True)
        mark_complete(run_dir, config, summary)
        failure_path(root, name).unlink(missing_ok=True)
        return TrialOutcome(run_name=name, summary=summary, attempts=attempt)

    set_aside_incomplete(run_dir, root)
    record = {"run_name": name, "error": error, "attempts": retries + 1, "traceback": details}
    atomic_write_text(failure_path(root, name), json.dumps(record, indent=2))
    return TrialOutcome(run_name=name, summary=None, error=error, attempts=retries + 1)
