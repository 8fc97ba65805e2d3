#!/usr/bin/env bash
# The main job: set up, build in release mode, run the demo.
# Until the trainer lands this is the autograd demo: a small convnet fitted on generated
# images, printing its loss as it falls, then its held-out accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
swift build -c release --product train "${release_flags[@]}"
mkdir -p output
.build/release/train demo --save output/demo_weights.h5 "$@"
