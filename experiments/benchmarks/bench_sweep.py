"""Wall-clock of one comparison sweep on the local backend and on the Ray backend.

Runs the default comparison (DeepSea 16x16, bonuses none/rnd/ensemble/bayes-rnd, seeds 0-2,
60k steps per run) with two workers on each backend, each into a fresh folder, and checks
that both give identical per-trial numbers. The Ray backend starts and stops its private
instance inside the timed call, as the command line does. Run on an idle machine:

    python experiments/benchmarks/bench_sweep.py --out experiments/benchmarks/sweep_cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from rnd_explore.cli import DEFAULT_COMPARE_BONUSES, DEFAULT_COMPARE_SEEDS
from rnd_explore.compare import run_comparison
from rnd_explore.config import TrainConfig

COMPARED = ("total_steps", "episodes", "successes", "first_success_episode", "first_success_step", "final_mean_return")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--workers", type=int, default=2, help="trials at the same time on both backends")
    parser.add_argument("--total-steps", type=int, default=TrainConfig().total_steps)
    arguments = parser.parse_args()

    base = TrainConfig(device="cpu", save_model=False, total_steps=arguments.total_steps)
    timings, summaries = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for backend in ("local", "ray"):
            start = time.perf_counter()
            result = run_comparison(base, DEFAULT_COMPARE_BONUSES, DEFAULT_COMPARE_SEEDS, Path(folder) / backend,
                                    workers=arguments.workers, backend=backend, show_progress=False)
            timings[backend] = time.perf_counter() - start
            summaries[backend] = [{name: asdict(run)[name] for name in COMPARED} for run in result.runs]
            print(f"{backend}: {timings[backend]:.1f} s for {len(result.runs)} trials", flush=True)

    identical = summaries["local"] == summaries["ray"]
    payload = {
        "meta": {"torch": torch.__version__, "python": platform.python_version(), "workers": arguments.workers,
                 "trials": len(summaries["local"]), "total_steps": base.planned_steps},
        "seconds": timings,
        "ray_over_local": timings["ray"] / timings["local"],
        "identical_per_trial_numbers": identical,
    }
    arguments.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    if not identical:
        raise SystemExit("The backends gave different per-trial numbers.")


if __name__ == "__main__":
    main()
