#!/usr/bin/env bash
# Reruns the MiniGrid comparisons behind experiments/minigrid/README.md (about 2.5 hours on
# 2 cores), then renders the page's table and figures. Every compare call is resumable:
# after an interruption, rerun this script and only the missing trials run.
set -euo pipefail
cd "$(dirname "$0")"
common=(--minigrid-observation onehot --workers 2)
all_bonuses=(--bonuses none rnd ensemble bayes-rnd)

# MultiRoom-N2-S4, 100k steps, 3 seeds: both agents with their defaults, the dual-head
# agent with the extrinsic discount of the SB3 path, and the SB3 path with a smaller c_int.
multiroom=(--env-id MiniGrid-MultiRoom-N2-S4-v0 --seeds 0 1 2 --total-steps 100000)
rnd-explore compare "${multiroom[@]}" --agent sb3-ppo --out-dir runs/MultiRoom-N2-S4__sb3-ppo "${common[@]}" "${all_bonuses[@]}"
rnd-explore compare "${multiroom[@]}" --agent ppo-dual --out-dir runs/MultiRoom-N2-S4__ppo-dual "${common[@]}" "${all_bonuses[@]}"
rnd-explore compare "${multiroom[@]}" --agent ppo-dual --gamma 0.99 --out-dir runs/MultiRoom-N2-S4__ppo-dual-gamma0.99 \
  "${common[@]}" "${all_bonuses[@]}"
rnd-explore compare "${multiroom[@]}" --agent sb3-ppo --intrinsic-coef 0.3 --out-dir runs/MultiRoom-N2-S4__sb3-ppo-cint0.3 \
  "${common[@]}" --bonuses rnd ensemble bayes-rnd

# DoorKey-8x8, 300k steps, 2 seeds.
doorkey=(--env-id MiniGrid-DoorKey-8x8-v0 --seeds 0 1 --total-steps 300000)
rnd-explore compare "${doorkey[@]}" --agent sb3-ppo --out-dir runs/DoorKey-8x8__sb3-ppo "${common[@]}" "${all_bonuses[@]}"
rnd-explore compare "${doorkey[@]}" --agent ppo-dual --gamma 0.99 --out-dir runs/DoorKey-8x8__ppo-dual-gamma0.99 \
  "${common[@]}" "${all_bonuses[@]}"
rnd-explore compare "${doorkey[@]}" --agent sb3-ppo --intrinsic-coef 0.3 --out-dir runs/DoorKey-8x8__sb3-ppo-cint0.3 \
  "${common[@]}" --bonuses rnd ensemble bayes-rnd

python render_page.py
