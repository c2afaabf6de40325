"""Throughput of the batched bonus core against a Python loop over K separate modules.

Measures, for K = 1, 4, 8, 16 members:

* scoring (forward only, no gradient) at per-step batch sizes (one observation per env);
* updating (forward, backward and an Adam step) at training batch sizes;

for the batched ``RNDBonus`` networks and for K independent ``nn.Sequential`` predictor/target
pairs exported from them (``member_module``), which compute the same function. Times come
from ``torch.utils.benchmark`` with a fixed thread count. The results page reports
batched/loop ratios measured in the same process, because absolute times on a shared
machine are noise.

Usage::

    python experiments/benchmarks/bench_bonus.py --out experiments/benchmarks/bonus.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np
import torch
from gymnasium import spaces
from torch.utils import benchmark

from rnd_explore import BonusConfig, RNDBonus

HIDDEN = (256, 256)
OUTPUT_DIM = 64


def build(num_members: int, obs_dim: int, device: str) -> tuple[RNDBonus, list, list]:
    space = spaces.Box(-1.0, 1.0, (obs_dim,), np.float32)
    config = BonusConfig(num_members=num_members, hidden_sizes=HIDDEN, output_dim=OUTPUT_DIM)
    bonus = RNDBonus(space, 1, config, device)
    predictors = [bonus.predictor.member_module(k) for k in range(num_members)]
    targets = [bonus.target.member_module(k).requires_grad_(False) for k in range(num_members)]
    return bonus, predictors, targets


def loop_score(predictors, targets, features):
    with torch.no_grad():
        errors = [(predictor(features) - target(features)).square().mean(dim=1) for predictor, target in zip(predictors, targets)]
        return 0.5 * torch.stack(errors).mean(dim=0)


def loop_step(predictors, targets, optimizer, features):
    loss = sum((predictor(features) - target(features)).square().mean() for predictor, target in zip(predictors, targets))
    optimizer.zero_grad(set_to_none=True)
    (loss / len(predictors)).backward()
    optimizer.step()


def batched_step(bonus, features):
    loss = bonus.predictor_loss(features)
    bonus.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    bonus.optimizer.step()


def network_flops_per_sample(obs_dim: int, hidden: tuple[int, ...], output_dim: int) -> int:
    """Multiply-add FLOPs (2 per weight) of one forward pass of one member for one sample."""
    sizes = [obs_dim, *hidden, output_dim]
    return sum(2 * fan_in * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def matmul_gflops(device: str, threads: int, size: int = 2048) -> float:
    """FLOP rate of one large square float32 matmul, the machine's practical peak."""
    left = torch.randn(size, size, device=device)
    right = torch.randn(size, size, device=device)
    seconds = measure("left @ right", dict(left=left, right=right), threads, 1.0)
    return 2 * size**3 / seconds / 1e9


def measure(stmt: str, env: dict, threads: int, min_run_time: float) -> float:
    timer = benchmark.Timer(stmt=stmt, globals=env, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def run(members: list[int], score_batches: list[int], update_batches: list[int], obs_dim: int,
        device: str, threads: int, min_run_time: float) -> list[dict]:
    rows = []
    peak = matmul_gflops(device, threads)
    print(f"plain 2048x2048 matmul: {peak:.1f} GFLOP/s", flush=True)
    forward = network_flops_per_sample(obs_dim, HIDDEN, OUTPUT_DIM)
    for num_members in members:
        bonus, predictors, targets = build(num_members, obs_dim, device)
        loop_optimizer = torch.optim.Adam([p for module in predictors for p in module.parameters()], lr=1e-3)
        for phase, batches in (("score", score_batches), ("update", update_batches)):
            for batch in batches:
                features = torch.randn(batch, obs_dim, device=device)
                env = dict(bonus=bonus, predictors=predictors, targets=targets, optimizer=loop_optimizer,
                           features=features, loop_score=loop_score, loop_step=loop_step,
                           batched_step=batched_step, torch=torch)
                if phase == "score":
                    batched = measure("with torch.no_grad(): bonus.raw_score(features)", env, threads, min_run_time)
                    loop = measure("loop_score(predictors, targets, features)", env, threads, min_run_time)
                else:
                    batched = measure("batched_step(bonus, features)", env, threads, min_run_time)
                    loop = measure("loop_step(predictors, targets, optimizer, features)", env, threads, min_run_time)
                # Scoring runs predictor and target forward; an update adds the predictor's
                # backward pass, about twice its forward cost.
                flops = num_members * batch * forward * (2 if phase == "score" else 4)
                row = dict(phase=phase, members=num_members, batch=batch, batched_ms=batched * 1e3,
                           loop_ms=loop * 1e3, speedup=loop / batched,
                           batched_samples_per_s=batch / batched, batched_gflops=flops / batched / 1e9,
                           fraction_of_matmul=flops / batched / 1e9 / peak, matmul_gflops=peak)
                rows.append(row)
                print(f"{phase:6s} K={num_members:2d} B={batch:5d} batched {batched * 1e3:8.3f} ms  "
                      f"loop {loop * 1e3:8.3f} ms  loop/batched {loop / batched:5.2f}  "
                      f"{row['batched_gflops']:6.1f} GFLOP/s ({row['fraction_of_matmul']:.0%} of matmul)", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--score-batches", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--update-batches", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--obs-dim", type=int, default=256, help="observation width (DeepSea-16 is 256)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--min-run-time", type=float, default=0.3, help="seconds per measurement")
    parser.add_argument("--out", default=None, help="JSON file for the rows")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    rows = run(arguments.members, arguments.score_batches, arguments.update_batches, arguments.obs_dim,
               arguments.device, arguments.threads, arguments.min_run_time)
    meta = dict(device=arguments.device, threads=arguments.threads, torch=torch.__version__,
                python=sys.version.split()[0], machine=platform.machine(), processor=platform.processor())
    if arguments.out:
        with open(arguments.out, "w") as handle:
            json.dump({"meta": meta, "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
