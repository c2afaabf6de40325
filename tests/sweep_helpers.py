"""Training functions for sweep tests. They live in a module of their own so that spawned
worker processes and Ray workers (given this folder on PYTHONPATH) can import them."""

from pathlib import Path

from rnd_explore.training import train

FAILING_SEED = 2


def train_failing_on_one_seed(config, progress=None):
    """Train normally, except that seed ``FAILING_SEED`` writes a file and then raises."""
    if config.seed == FAILING_SEED:
        run_dir = Path(config.log_dir) / config.resolved_run_name()
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "partial.txt").write_text("this attempt started and then failed\n")
        raise RuntimeError(f"injected failure for seed {config.seed}")
    return train(config, progress=progress)


def train_recording_time(config, progress=None):
    """Train normally, reporting progress while it waits a second, and record when it ran.

    The start and end times go to ``<comparison folder>/timeline/<run name>.json``.
    """
    import json
    import time

    start = time.time()
    for steps in range(0, 1000, 100):
        if progress is not None:
            progress(steps)
        time.sleep(0.1)
    summary = train(config, progress=progress)
    timeline = Path(config.log_dir).parent / "timeline"
    timeline.mkdir(exist_ok=True)
    (timeline / f"{config.resolved_run_name()}.json").write_text(json.dumps([start, time.time()]))
    return summary
