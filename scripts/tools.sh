#!/usr/bin/env bash
# What the demo and the test suite need besides Rust, installed once into the cache:
#  - the wasmtime CLI (48.0.8, the wasmtime the project builds on), to show a box runs under the
#    plain `wasmtime run` with no arguments and no --dir;
#  - a host CPython 3.11 with pip, which `vfs-box build` uses to fetch `RUN pip install`
#    requirements (the box itself has no network);
#  - Debian's skopeo, an independent reader of the OCI images `vfs-box oci` writes;
#  - Debian's Chromium, the real browser `vfs-box/tests/browser.rs` drives with playwright-core.
# Sourced by scripts/demo.sh and scripts/test.sh; exports WASMTIME and CHROMIUM.
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wasm-vfs"
WASMTIME_VERSION=48.0.8
export WASMTIME="$CACHE/tools/bin/wasmtime"
if ! "$WASMTIME" --version 2>/dev/null | grep -q "wasmtime $WASMTIME_VERSION"; then
    echo "tools: building the wasmtime $WASMTIME_VERSION CLI into $CACHE/tools (once: 8 min on an idle 2-core machine)" >&2
    # Only what `wasmtime run` of a preview 1 module needs: a quarter of the default build.
    env -u CARGO_TARGET_DIR cargo install wasmtime-cli --version "=$WASMTIME_VERSION" --locked \
        --no-default-features --features run,cranelift,parallel-compilation,cache,config,clap/default \
        --root "$CACHE/tools" --target-dir "$CACHE/tools/target"
fi
if ! python3.11 -c 'import pip' 2>/dev/null; then
    echo "tools: installing CPython 3.11 and pip for vfs-box build's RUN pip install" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3.11 python3-pip
fi
# Debian packages the tests need, installed in one apt run when any is missing:
# skopeo (vfs-box/tests/oci.rs reads `vfs-box oci`'s images with it) and chromium (the browser
# test; playwright-core drives it, as Playwright's own browser downloads are not reachable).
missing=()
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    echo "tools: installing ${missing[*]} (apt)" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}"
fi
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
