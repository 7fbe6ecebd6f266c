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
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
# CPython's glue for the guest's C modules (zlib, bz2, lzma, sqlite3; issue #12) comes from
# Debian's python3.11 source package (`apt-get source`, checked by apt against the signed
# Sources index), which needs a deb-src entry.
apt_updated=""
if ! apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'; then
    echo "tools: adding a deb-src entry so apt-get source can fetch the C modules' sources" >&2
    printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm bookworm-updates' \
        'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
        'Types: deb-src' 'URIs: http://deb.debian.org/debian-security' 'Suites: bookworm-security' \
        'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
        | $SUDO tee /etc/apt/sources.list.d/wasm-vfs-deb-src.sources >/dev/null
    $SUDO apt-get update -qq
    apt_updated=1
fi
# Debian packages, installed in one apt run when any is missing:
#  - the C toolchain for the C modules: clang 16 compiles objects for wasm32-wasi against Debian's
#    wasi-libc headers (/usr/include/wasm32-wasi), llvm-ar-16 archives them (with the symbol
#    index rust-lld needs), and Rust's rust-lld links them with the guest, so no wasm-ld or
#    compiler-rt is needed. Their C sources come with their -sys crates (checksummed by
#    guests/python/Cargo.lock); how the compiler is called lives in vfs-box/src/cmods/toolchain.rs;
#  - binaryen: vfs-box runs its wasm-opt -O2 over the Python guest's code once per guest build
#    (vfs-box/src/wasm_opt.rs: the Flask example's requests 4-5 % shorter, the code 0.5 MB smaller);
#  - skopeo: vfs-box/tests/oci.rs reads `vfs-box oci`'s images with it;
#  - chromium: the browser test; playwright-core drives it, as Playwright's own browser
#    downloads are not reachable.
missing=()
command -v clang-16 >/dev/null 2>&1 || missing+=(clang-16)
command -v llvm-ar-16 >/dev/null 2>&1 || missing+=(llvm-16)
[ -f /usr/include/wasm32-wasi/stdio.h ] || missing+=(wasi-libc)
command -v wasm-opt >/dev/null 2>&1 || missing+=(binaryen)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    echo "tools: installing ${missing[*]} (apt)" >&2
    [ -n "$apt_updated" ] || $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${missing[@]}"
fi
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
