"""PPO environment steps per second without a bonus and with each bonus (SB3 path, DummyVecEnv).

Each (environment, bonus) pair trains once for ``--steps`` environment steps with the
default ``TrainConfig`` settings. The results page reports steps/s and the with/without
ratio against no bonus, all measured one after another in one process. The bonuses use their
default member counts (rnd 1, ensemble 8, bayes-rnd 1).

Usage::

    python experiments/benchmarks/bench_ppo.py --out experiments/benchmarks/ppo.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

import torch

from rnd_explore.config import TrainConfig
from rnd_explore.training import train

BONUSES = ("none", "rnd", "ensemble", "bayes-rnd")
ENVIRONMENTS = {
    "DeepSea-16": dict(env_id="rnd_explore/DeepSea-v0", env_kwargs={"size": 16}),
    "MiniGrid-DoorKey-5x5 (flat)": dict(env_id="MiniGrid-DoorKey-5x5-v0", env_kwargs={}),
    "MiniGrid-DoorKey-5x5 (image, CNN bonus)": dict(
        env_id="MiniGrid-DoorKey-5x5-v0", env_kwargs={}, minigrid_observation="image"
    ),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16_384, help="environment steps per measurement")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="JSON file for the rows")
    arguments = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as log_dir:
        for label, env_settings in ENVIRONMENTS.items():
            rates = {}
            for bonus in BONUSES:
                config = TrainConfig(
                    bonus=bonus, total_steps=arguments.steps, device=arguments.device, torch_threads=arguments.threads,
                    log_dir=log_dir, run_name=f"{label}-{bonus}".replace(" ", "_"), save_model=False, **env_settings,
                )
                rates[bonus] = train(config).steps_per_second
                print(f"{label:40s} {bonus:5s} {rates[bonus]:8.0f} steps/s", flush=True)
            row = dict(environment=label)
            for bonus in BONUSES:
                row[f"{bonus}_steps_per_s"] = rates[bonus]
                row[f"{bonus}_ratio"] = rates[bonus] / rates["none"]
            rows.append(row)
    if arguments.out:
        with open(arguments.out, "w") as handle:
            json.dump({"device": arguments.device, "threads": arguments.threads, "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
