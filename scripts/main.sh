#!/usr/bin/env bash
# The main job: set up and build, make the synthetic multi-dataset world, train m2f-tiny on all
# four of its datasets jointly (configs/synth-joint.yaml) for a CPU-affordable budget, then
# evaluate on every validation split (PQ, mIoU, box AP) and print the table.
# MAX_ITER (default 1500, the config's schedule: about 8 minutes on 2 cores) sets the budget.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
swift build -c release --product train "${release_flags[@]}"
.build/release/train synth --out data/synth --scale full --keep-current   # (re)made unless current
.build/release/train shards check data/synth
.build/release/train --config configs/synth-joint.yaml --set "solver.max_iter=${MAX_ITER:-1500}" \
    --output output/synth-joint --overwrite "$@"   # the main job starts over (--resume instead continues a run)
.build/release/train evaluate --config configs/synth-joint.yaml --checkpoint output/synth-joint/model_final.h5 \
    --json output/synth-joint/eval.json
echo "metrics: output/synth-joint/metrics.jsonl, curves: output/synth-joint/curves.svg, evaluation: output/synth-joint/eval.json"
