#!/usr/bin/env bash
# Builds what web/ serves, none of it in git:
#  - the npm packages (versions pinned in package-lock.json) into a cache outside the clone,
#    ~/.cache/wasm-vfs/web-npm, reinstalled only when the lock file changes; web/node_modules is
#    a link to it (for the test and the benchmark);
#  - web/vendor/: the files the page loads from those packages (browser_wasi_shim, and Pyodide
#    for the start-up comparison);
#  - web/dist/: the boxes, python.wasm (plain) and python-pre.wasm (pre-initialized with
#    `import json`), built by vfs-box ($VFS_BOX, default: cargo's debug build of this checkout).
set -euo pipefail
cd "$(dirname "$0")"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wasm-vfs"
NPM_DIR="$CACHE/web-npm"
mkdir -p "$NPM_DIR"
if ! cmp -s package-lock.json "$NPM_DIR/package-lock.json" || [ ! -d "$NPM_DIR/node_modules" ]; then
    echo "web: npm ci into $NPM_DIR" >&2
    cp package.json package-lock.json "$NPM_DIR/"
    (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
ln -sfn "$NPM_DIR/node_modules" node_modules

rm -rf vendor
mkdir -p vendor
cp -r node_modules/@bjorn3/browser_wasi_shim/dist vendor/browser_wasi_shim
# Pyodide (for the start-up comparison only): its loader fetches the module, the stdlib archive
# and the package index from its own folder.
cp -r node_modules/pyodide vendor/pyodide

if [ -z "${VFS_BOX:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"
    (cd .. && cargo build -q -p vfs-box)
    VFS_BOX="$CARGO_TARGET_DIR/debug/vfs-box"
fi
mkdir -p dist
"$VFS_BOX" python -o dist/python.wasm >/dev/null
"$VFS_BOX" python --preinit "import json" -o dist/python-pre.wasm >/dev/null
# vfs-box leaves the stdlib layer beside each box; the page needs only the boxes.
rm -f dist/*.vfs
ls -l dist/*.wasm >&2
