#!/usr/bin/env bash
# Start-up of pre-initialized Python boxes (issue #5), with the release build of vfs-box:
#   1. the same box with and without pre-initialization, side by side in one `vfs-box bench`
#      run: `-c pass` and a json one-liner, with fresh copy-on-write memory per instance
#      (on-demand) and with a pool of warm memory slots (what a server would use), runs
#      interleaved round-robin and grouped row by row;
#   2. start-up independence: pre-initialized boxes with a 1 MB and a 100 MB app layer;
#   3. the resident memory one running instance adds.
# Prints the Markdown tables the README quotes.
#
# Usage: benches/preinit.sh   (RUNS=200 by default; needs ~2 GB of disk in /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"
rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
cargo build --release -q -p vfs-box -p vfs-image
BOX="$CARGO_TARGET_DIR/release/vfs-box"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
IMPORTS="import json, re"
JSON="import json; print(json.dumps({'a': [1, 2.5, None]}))"

echo "== building boxes in $WORK" >&2
"$BOX" python -o "$WORK/python.wasm" 2>/dev/null
"$BOX" preinit "$WORK/python.wasm" --code "$IMPORTS" -o "$WORK/python-pre.wasm"
for size in 1 100; do
    mkdir -p "$WORK/app$size"
    head -c "$((size * 1024 * 1024))" /dev/urandom >"$WORK/app$size/blob.bin"
    printf 'print(len(open("/app/blob.bin", "rb").read(16)))\n' >"$WORK/app$size/main.py"
    "$BOX" python -o "$WORK/app$size.wasm" --app "$WORK/app$size" --preinit "$IMPORTS" 2>/dev/null
done
ls -l "$WORK"/*.wasm >&2

echo
echo "### 1. With and without pre-initialization (preinit: \`$IMPORTS\`)"
for alloc in on-demand pool; do for order in interleaved grouped; do
    echo
    "$BOX" bench -n "$RUNS" --allocation "$alloc" --order "$order" \
        --case "preinit=$WORK/python-pre.wasm" --case "plain=$WORK/python.wasm" \
        --py-c pass --py-c "$JSON"
done; done

echo
echo "### 2. Start-up with a 1 MB and a 100 MB app layer (pre-initialized)"
echo
"$BOX" bench -n "$RUNS" --case "app-1MB=$WORK/app1.wasm" --case "app-100MB=$WORK/app100.wasm" \
    --py-c pass

echo
echo "### 3. Resident memory per instance"
"$BOX" bench -n 5 --memory 50 --case "preinit=$WORK/python-pre.wasm" \
    --case "plain=$WORK/python.wasm" --py-c pass
