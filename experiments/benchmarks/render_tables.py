"""Print the benchmark JSON files as markdown tables for the results page.

Usage::

    python experiments/benchmarks/render_tables.py experiments/benchmarks/bonus_cpu.json experiments/benchmarks/ppo_cpu.json
"""

from __future__ import annotations

import json
import sys


def bonus_table(payload: dict) -> str:
    meta = payload["meta"]
    lines = [
        f"Networks: {meta['obs_dim']} inputs, hidden {meta['hidden']}, {meta['output_dim']} outputs; "
        f"device {meta['device']}, {meta['threads']} thread(s), torch {meta['torch']}; "
        f"plain 2048x2048 matmul {meta['matmul_gflops']:.1f} GFLOP/s.",
        "",
        "| bonus | phase | K | batch | batched (ms) | loop (ms) | loop / batched | batched GFLOP/s | of matmul |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in payload["rows"]:
        gflops = f"{row['batched_gflops']:.1f}" if "batched_gflops" in row else "-"
        fraction = f"{row['fraction_of_matmul']:.0%}" if "fraction_of_matmul" in row else "-"
        lines.append(
            f"| {row['bonus']} | {row['phase']} | {row['members']} | {row['batch']} | {row['batched_ms']:.3f} | "
            f"{row['loop_ms']:.3f} | {row['speedup']:.2f} | {gflops} | {fraction} |"
        )
    return "\n".join(lines)


def relative_cost_table(payload: dict) -> str:
    times = {(row["bonus"], row["phase"], row["members"], row["batch"]): row["batched_ms"] for row in payload["rows"]}
    lines = ["| phase | K | batch | ensemble / rnd | bayes-rnd / rnd |", "|---|---|---|---|---|"]
    for (bonus, phase, members, batch), rnd_time in times.items():
        if bonus != "rnd":
            continue
        ensemble = times.get(("ensemble", phase, members, batch))
        bayes = times.get(("bayes-rnd", phase, members, batch))
        ensemble_text = f"{ensemble / rnd_time:.2f}" if ensemble else "-"
        bayes_text = f"{bayes / rnd_time:.2f}" if bayes else "-"
        lines.append(f"| {phase} | {members} | {batch} | {ensemble_text} | {bayes_text} |")
    return "\n".join(lines)


def ppo_table(payload: dict) -> str:
    bonuses = [key[: -len("_steps_per_s")] for key in payload["rows"][0] if key.endswith("_steps_per_s")]
    header = "| environment | " + " | ".join(f"{bonus} steps/s" for bonus in bonuses) + " |"
    lines = [header, "|---" * (len(bonuses) + 1) + "|"]
    for row in payload["rows"]:
        cells = [f"{row[f'{bonus}_steps_per_s']:.0f} ({row[f'{bonus}_ratio']:.2f})" for bonus in bonuses]
        lines.append(f"| {row['environment']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    for path in paths:
        with open(path) as handle:
            payload = json.load(handle)
        print(f"<!-- {path} -->")
        if "meta" in payload:
            print(bonus_table(payload))
            print()
            print(relative_cost_table(payload))
        else:
            print(ppo_table(payload))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
