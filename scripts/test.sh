#!/usr/bin/env bash
# The tests: set up, build, run the whole XCTest suite, then check that a weights file the
# project writes reads back in h5py (in a virtualenv made here, when Python is available).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing 2>&1 | tee .build/test-output.txt
# XCTest's closing line: "Executed N tests, with [S tests skipped and ]F failures ..."
summary=$(grep -E "Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" .build/test-output.txt | tail -n 1)
executed=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
failed=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$summary")
skipped=0
grep -qE "with [0-9]+ tests? skipped" <<<"$summary" && skipped=$(sed -E 's/.*with ([0-9]+) tests? skipped.*/\1/' <<<"$summary")
[ -n "$executed" ] && [ "$executed" -gt 0 ] && [ "$failed" -eq 0 ] || { echo "tests: ${executed:-0} run, ${failed:-?} failed" >&2; exit 1; }

if command -v python3 >/dev/null 2>&1; then
    venv=.build/venv
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" && "$venv/bin/pip" install -q numpy h5py || { echo "test: could not make a virtualenv with h5py" >&2; exit 1; }
    fi
    swift build --product train
    .build/debug/train demo --iterations 3 --batch 4 --save .build/interop_weights.h5 >/dev/null
    "$venv/bin/python" tools/check_parameter_file.py .build/interop_weights.h5
    rm -rf .build/interop_synth
    .build/debug/train synth --out .build/interop_synth --scale small >/dev/null
    .build/debug/train shards check .build/interop_synth >/dev/null
    "$venv/bin/python" tools/check_shard.py .build/interop_synth/*/train-00000.h5
    "$venv/bin/python" tools/check_resume.py .build/debug/train .build/interop_synth .build/resume_check
fi
echo "tests: $((executed - skipped - failed)) passed, $failed failed, $skipped skipped"
