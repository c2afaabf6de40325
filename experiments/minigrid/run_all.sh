#!/usr/bin/env bash
# Reruns the MiniGrid comparison behind experiments/minigrid/README.md (about 75 minutes on
# 2 cores). Each compare call is resumable: rerun this script after an interruption.
set -euo pipefail
cd "$(dirname "$0")"
common=(--minigrid-observation onehot --workers 2 --bonuses none rnd ensemble bayes-rnd)
for agent in sb3-ppo ppo-dual; do
  rnd-explore compare --env-id MiniGrid-MultiRoom-N2-S4-v0 --agent "$agent" --seeds 0 1 2 \
    --total-steps 100000 --out-dir "runs/MultiRoom-N2-S4__$agent" "${common[@]}"
done
for agent in sb3-ppo ppo-dual; do
  rnd-explore compare --env-id MiniGrid-DoorKey-8x8-v0 --agent "$agent" --seeds 0 1 \
    --total-steps 300000 --out-dir "runs/DoorKey-8x8__$agent" "${common[@]}"
done
# The mixed-reward path with a smaller intrinsic weight on MultiRoom (see README.md).
rnd-explore compare --env-id MiniGrid-MultiRoom-N2-S4-v0 --agent sb3-ppo --intrinsic-coef 0.3 --seeds 0 1 2 \
  --total-steps 100000 --out-dir runs/MultiRoom-N2-S4__sb3-ppo-cint0.3 --minigrid-observation onehot \
  --workers 2 --bonuses rnd ensemble bayes-rnd
python render_page.py
