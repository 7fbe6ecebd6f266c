#!/usr/bin/env bash
# Issue #15's start-up comparison: the pre-initialized box against Pyodide on the same Node.js
# and the same headless Chromium (time to the first output of print(1), medians, ratios), and
# the same box on the wasmtime CLI, `vfs-box run`, wasmtime-py and Node.js.
#   benches/universal.sh [--reps N] [--only node|chromium|chromium-cached|hosts]
# Builds web/ first (web/build.sh: pinned npm packages, both boxes); installs the PyPI
# `wasmtime` package into a venv in the cache once.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wasm-vfs"
WASMTIME_PY_VERSION=50.0.1
VENV="$CACHE/py-wasmtime"
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('wasmtime') != '$WASMTIME_PY_VERSION')" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "wasmtime==$WASMTIME_PY_VERSION"
fi
# Release, as benches/preinit.sh: `vfs-box run`'s own start is one of the figures.
cargo build -q --release -p vfs-box
export VFS_BOX="$CARGO_TARGET_DIR/release/vfs-box" WASMTIME_PY="$VENV/bin/python"
web/build.sh
node web/bench/universal.mjs "$@"
