"""Throughput of the batched bonus core against a Python loop over K separate modules.

For each bonus (rnd, ensemble, bayes-rnd) and K = 1, 4, 8, 16 members, times:

* scoring (no gradient) at per-step batch sizes (one observation per env);
* updating (forward, backward and an Adam step) at training batch sizes;

for the batched networks and for K independent ``nn.Sequential`` modules exported from them
(``member_module``) that compute the same function in a Python loop. Times come from
``torch.utils.benchmark`` with a fixed thread count. Achieved FLOP/s are reported as a
fraction of one large plain matmul measured in the same run, because absolute times on a
shared machine are noise.

Usage::

    python experiments/benchmarks/bench_bonus.py --out experiments/benchmarks/bonus_cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np
import torch
from gymnasium import spaces
from torch.func import functional_call, jvp
from torch.utils import benchmark

from rnd_explore import BonusConfig, make_bonus

FORWARD_PASSES = {
    # Forward-pass equivalents per sample and member: a backward pass costs about two.
    ("rnd", "score"): 2,  # predictor + target
    ("rnd", "update"): 4,  # predictor + target forward, predictor backward
    ("ensemble", "score"): 1,
    ("ensemble", "update"): 3,
}


def network_flops_per_sample(obs_dim: int, hidden: tuple[int, ...], output_dim: int) -> int:
    """FLOPs (2 per weight) of one forward pass of one member for one sample."""
    sizes = [obs_dim, *hidden, output_dim]
    return sum(2 * fan_in * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def measure(stmt: str, env: dict, threads: int, min_run_time: float) -> float:
    timer = benchmark.Timer(stmt=stmt, globals=env, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def matmul_gflops(device: str, threads: int, size: int = 2048) -> float:
    """FLOP rate of one large square float32 matmul, the machine's practical peak."""
    left = torch.randn(size, size, device=device)
    right = torch.randn(size, size, device=device)
    seconds = measure("left @ right", dict(left=left, right=right), threads, 1.0)
    return 2 * size**3 / seconds / 1e9


class LoopReference:
    """The same bonus computed by K separate modules in a Python loop."""

    def __init__(self, bonus) -> None:
        self.bonus = bonus
        self.name = bonus.name
        members = bonus.config.num_members
        if self.name == "ensemble":
            self.trained = [bonus.members.member_module(k) for k in range(members)]
            self.frozen = []
        else:
            self.trained = [bonus.predictor.member_module(k) for k in range(members)]
            source = bonus.target if self.name == "rnd" else bonus.initial
            self.frozen = [source.member_module(k).requires_grad_(False) for k in range(members)]
        if self.name == "bayes-rnd":
            self.tangents = [self._member_tangent(k) for k in range(members)]
        parameters = [parameter for module in self.trained for parameter in module.parameters()]
        self.optimizer = torch.optim.Adam(parameters, lr=1e-3)

    def _member_tangent(self, k: int) -> dict[str, torch.Tensor]:
        tangent = self.bonus.tangent()
        directions = {}
        for position, layer in enumerate(self.bonus.initial.layers):
            directions[f"{2 * position}.weight"] = tangent[f"layers.{position}.weight"][k].T * layer.weight_scale
            directions[f"{2 * position}.bias"] = tangent[f"layers.{position}.bias"][k, 0] * layer.bias_scale
        return directions

    def _targets(self, features: torch.Tensor) -> list[torch.Tensor]:
        if self.name == "ensemble":
            return [features.new_zeros(features.shape[0], self.trained[0][-1].out_features)] * len(self.trained)
        if self.name == "rnd":
            with torch.no_grad():
                return [module(features) for module in self.frozen]
        outputs = []
        for module, tangent in zip(self.frozen, self.tangents):
            params = dict(module.named_parameters())
            with torch.no_grad():
                _, directional = jvp(lambda p, m=module: functional_call(m, p, (features,)), (params,), (tangent,))
            outputs.append(directional)
        return outputs

    def score(self, features: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            outputs = [module(features) for module in self.trained]
            if self.name == "ensemble":
                return torch.stack(outputs).var(dim=0, unbiased=True).mean(dim=1)
            errors = [output - target for output, target in zip(outputs, self._targets(features))]
            return torch.stack(errors).square().mean(dim=(0, 2))

    def step(self, features: torch.Tensor) -> None:
        targets = self._targets(features)
        loss = sum((module(features) - target).square().mean() for module, target in zip(self.trained, targets))
        self.optimizer.zero_grad(set_to_none=True)
        (loss / len(self.trained)).backward()
        self.optimizer.step()


def batched_step(bonus, features):
    loss = bonus.predictor_loss(features)
    bonus.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    bonus.optimizer.step()


def run(arguments) -> list[dict]:
    rows = []
    peak = matmul_gflops(arguments.device, arguments.threads)
    print(f"plain 2048x2048 matmul: {peak:.1f} GFLOP/s", flush=True)
    hidden = tuple(arguments.hidden)
    forward = network_flops_per_sample(arguments.obs_dim, hidden, arguments.output_dim)
    space = spaces.Box(-1.0, 1.0, (arguments.obs_dim,), np.float32)
    for name in arguments.bonuses:
        for num_members in arguments.members:
            if name == "ensemble" and num_members < 2:
                continue
            config = BonusConfig(num_members=num_members, hidden_sizes=hidden, output_dim=arguments.output_dim)
            bonus = make_bonus(name, space, 1, config, arguments.device)
            loop = LoopReference(bonus)
            for phase, batches in (("score", arguments.score_batches), ("update", arguments.update_batches)):
                for batch in batches:
                    features = torch.randn(batch, arguments.obs_dim, device=arguments.device)
                    env = dict(bonus=bonus, loop=loop, features=features, batched_step=batched_step, torch=torch)
                    if phase == "score":
                        batched_time = measure("with torch.no_grad(): bonus.raw_score(features)", env,
                                               arguments.threads, arguments.min_run_time)
                        loop_time = measure("loop.score(features)", env, arguments.threads, arguments.min_run_time)
                    else:
                        batched_time = measure("batched_step(bonus, features)", env, arguments.threads,
                                               arguments.min_run_time)
                        loop_time = measure("loop.step(features)", env, arguments.threads, arguments.min_run_time)
                    row = dict(bonus=name, phase=phase, members=num_members, batch=batch,
                               batched_ms=batched_time * 1e3, loop_ms=loop_time * 1e3,
                               speedup=loop_time / batched_time)
                    passes = FORWARD_PASSES.get((name, phase))
                    if passes is not None:
                        gflops = num_members * batch * forward * passes / batched_time / 1e9
                        row.update(batched_gflops=gflops, fraction_of_matmul=gflops / peak)
                    rows.append(row)
                    fraction = f"{row['fraction_of_matmul']:4.0%} of matmul" if passes else ""
                    print(f"{name:9s} {phase:6s} K={num_members:2d} B={batch:5d} batched {batched_time * 1e3:8.3f} ms"
                          f"  loop {loop_time * 1e3:8.3f} ms  loop/batched {loop_time / batched_time:5.2f}  {fraction}",
                          flush=True)
    return rows, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bonuses", nargs="+", default=["rnd", "ensemble", "bayes-rnd"])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--score-batches", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--update-batches", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--obs-dim", type=int, default=256, help="observation width (DeepSea-16 is 256)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256], help="hidden layer widths")
    parser.add_argument("--output-dim", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--min-run-time", type=float, default=0.3, help="seconds per measurement")
    parser.add_argument("--out", default=None, help="JSON file for the rows")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    rows, peak = run(arguments)
    meta = dict(device=arguments.device, threads=arguments.threads, torch=torch.__version__,
                python=sys.version.split()[0], machine=platform.machine(), matmul_gflops=peak,
                hidden=arguments.hidden, obs_dim=arguments.obs_dim, output_dim=arguments.output_dim)
    if arguments.out:
        with open(arguments.out, "w") as handle:
            json.dump({"meta": meta, "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
