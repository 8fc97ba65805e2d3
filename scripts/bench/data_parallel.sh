#!/usr/bin/env bash
# Data-parallel training speed: seconds per iteration of the main job's config on the full
# synthetic world, one process (all cores) against `mpirun -np N` (cores shared), the same
# global batch, alternated ROUNDS times in one sitting. Median of the iterations after the 10th.
#   bash scripts/bench/data_parallel.sh [ITERATIONS=60] [ROUNDS=2] [PROCESSES=2]
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations=${1:-60} rounds=${2:-2} processes=${3:-2}
train=.build/release/train
[ -x "$train" ] && [ -d data/synth ] || { echo "needs $train and data/synth (bash scripts/main.sh makes both)" >&2; exit 1; }
out=$(mktemp -d)
settings=(--set "solver.max_iter=$iterations" --set solver.checkpoint_period=100000 --set solver.log_period=1 --set test.max_images=1)
median() {   # seconds per iteration after the 10th, from metrics.jsonl
    python3 -c 'import json,sys,statistics
t=[json.loads(l)["time"] for l in open(sys.argv[1]) if "total_loss" in l][10:]
print("%.3f" % statistics.median(t))' "$1/metrics.jsonl"
}
for r in $(seq 1 "$rounds"); do
    "$train" --config configs/synth-joint.yaml "${settings[@]}" --output "$out/one-$r" >/dev/null
    mpirun --allow-run-as-root --oversubscribe -np "$processes" "$train" --config configs/synth-joint.yaml "${settings[@]}" \
        --output "$out/many-$r" >/dev/null
    echo "round $r: 1 process $(median "$out/one-$r") s/it, $processes processes $(median "$out/many-$r") s/it"
done
rm -rf "$out"
