#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs what it needs, then
# format check, clippy, and every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
# One target dir outside the clone, so CI and later runs rebuild incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"
rustup target add wasm32-wasip1 >/dev/null
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
export VFS_BOX_WASMTIME="$WASMTIME"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
