#!/usr/bin/env bash
# What the demo and the test suite need besides Rust, installed once into the cache:
#  - the wasmtime CLI (48.0.8, the wasmtime the project builds on), to show a box runs under the
#    plain `wasmtime run` with no arguments and no --dir;
#  - a host CPython 3.11 with pip, which `vfs-box build` uses to fetch `RUN pip install`
#    requirements (the box itself has no network).
# Sourced by scripts/demo.sh and scripts/test.sh; exports WASMTIME.
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
# The C toolchain for the guest's C modules (zlib, bz2, lzma, sqlite3; issue #12): Debian's clang 16
# compiles objects for wasm32-wasi against Debian's wasi-libc headers (/usr/include/wasm32-wasi),
# llvm-ar-16 archives them (with the symbol index rust-lld needs); Rust's rust-lld links them with
# the rest of the guest, so no wasm-ld or compiler-rt is needed.
# The libraries' C sources come with their -sys crates (checksummed by guests/python/Cargo.lock);
# CPython's glue for them from Debian's python3.11 source package (`apt-get source`, checked by apt
# against the signed Sources index), which needs a deb-src entry. What the compiler is called
# with lives in one place: vfs-box/src/cmods/toolchain.rs.
if ! command -v clang-16 >/dev/null || ! command -v llvm-ar-16 >/dev/null \
    || [ ! -f /usr/include/wasm32-wasi/stdio.h ]; then
    echo "tools: installing clang-16, llvm-16 and wasi-libc (C modules for wasm32-wasi)" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends clang-16 llvm-16 wasi-libc
fi
if ! apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'; then
    echo "tools: adding a deb-src entry so apt-get source can fetch the C modules' sources" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm bookworm-updates' \
        'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
        'Types: deb-src' 'URIs: http://deb.debian.org/debian-security' 'Suites: bookworm-security' \
        'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
        | $SUDO tee /etc/apt/sources.list.d/wasm-vfs-deb-src.sources >/dev/null
    $SUDO apt-get update -qq
fi
