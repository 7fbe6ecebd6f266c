#!/usr/bin/env bash
# One of the WSGI examples as a wasi:http/proxy component built by componentize-py, for the third
# row of benches/serve.sh (issue #14): the same app under `wasmtime serve`, which also runs a
# fresh instance per request, but of a component whose Python is componentize-py's own and whose
# request comes through wasi:http instead of the CGI contract.
#
# Usage: benches/componentize.sh hello-wsgi|flask-app OUT.wasm
#        benches/componentize.sh --wasmtime   (prints the path of a wasmtime CLI with `serve`)
#
# Installed once into the cache (${XDG_CACHE_HOME:-~/.cache}/wasm-vfs):
#  - componentize-py, pinned, from PyPI, in componentize-venv/ (it bundles its own CPython);
#  - the wasmtime CLI with its `serve` subcommand in tools-serve/ (scripts/tools.sh's CLI in
#    tools/ has `run` only), built by cargo from crates.io: no registry ships the CLI;
#  - the wasi:http WIT files the component is built against, from the wasmtime-wasi-http crate
#    of that same wasmtime, so the world is exactly the one the server implements;
#  - the app's dependencies, pinned, pure Python, in componentize-deps/.
# Progress goes to stderr. Needs a host CPython 3.11 with pip and venv, and cargo.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
WASMTIME_VERSION=48.0.8
# wasmtime-wasi-http 48.0.8 ships the WIT of wasi:http 0.2.12 (wit/deps/http.wit). componentize-py
# 0.25.1 ships no WASI WIT at all, so the world comes from there; wasmtime serves any 0.2.x.
WASI_HTTP_VERSION=0.2.12
# Flask 3.1.3 (examples/flask-app/requirements.txt) and what pip resolved for it, pinned so a
# later release cannot change what is measured. All are pure Python except MarkupSafe, whose
# C speedups are not built (below).
FLASK_DEPS=(flask==3.1.3 blinker==1.9.0 click==8.5.1 itsdangerous==2.2.0 jinja2==3.1.6
    markupsafe==3.0.4 werkzeug==3.1.9)

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wasm-vfs"
VENV="$CACHE/componentize-venv"
TOOLS="$CACHE/tools-serve"
WASMTIME="$TOOLS/bin/wasmtime"
WIT="$TOOLS/wasi-http-wit"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

log() { echo "componentize: $*" >&2; }

usage() {
    echo "usage: $0 hello-wsgi|flask-app OUT.wasm" >&2
    echo "       $0 --wasmtime" >&2
    exit 2
}

# The wasmtime CLI with `serve`. The feature set is scripts/tools.sh's plus
#  - `serve`, which needs `run` (it is built on `wasmtime run`'s options);
#  - `component-model-async`: wasmtime-cli 48.0.8's serve.rs does not compile without it (it
#    names `futures` and the WASIp3 handler unconditionally); a WASIp2 component is served the
#    same either way;
#  - `pooling-allocator`, which `wasmtime serve` uses by default when the machine has the
#    address space for it: the server as it ships, not a slower variant.
ensure_wasmtime() {
    if "$WASMTIME" --version 2>/dev/null | grep -q "wasmtime $WASMTIME_VERSION" &&
        "$WASMTIME" serve --help >/dev/null 2>&1; then
        return
    fi
    log "building the wasmtime $WASMTIME_VERSION CLI with \`serve\` into $TOOLS (once: 24 min here on a shared 2-core machine)"
    local start=$SECONDS
    env -u CARGO_TARGET_DIR cargo install wasmtime-cli --version "=$WASMTIME_VERSION" --locked \
        --no-default-features \
        --features run,serve,component-model-async,cranelift,parallel-compilation,pooling-allocator,cache,config,clap/default \
        --root "$TOOLS" --target-dir "$TOOLS/target" >&2
    log "wasmtime built in $((SECONDS - start)) s"
}

# The WIT of the wasi:http wasmtime implements, copied from the wasmtime-wasi-http crate's
# sources (which cargo unpacked to build the CLI) into the cache.
ensure_wit() {
    [ -f "$WIT/deps/http.wit" ] && return
    local registry="${CARGO_HOME:-$HOME/.cargo}/registry/src" src="" dir
    for dir in "$registry"/*/"wasmtime-wasi-http-$WASMTIME_VERSION/wit"; do
        [ -f "$dir/deps/http.wit" ] && src="$dir"
    done
    if [ -z "$src" ]; then
        # The sources were cleaned away since the build: have cargo fetch the crate again.
        log "fetching the wasmtime-wasi-http $WASMTIME_VERSION crate for its WIT files"
        local tmp
        tmp="$(mktemp -d)"
        mkdir "$tmp/src"
        : >"$tmp/src/lib.rs"
        printf '%s\n' '[package]' 'name = "wit-fetch"' 'version = "0.0.0"' 'edition = "2021"' \
            '[dependencies]' \
            "wasmtime-wasi-http = { version = \"=$WASMTIME_VERSION\", default-features = false }" \
            >"$tmp/Cargo.toml"
        cargo fetch -q --manifest-path "$tmp/Cargo.toml" >&2
        rm -rf "$tmp"
        for dir in "$registry"/*/"wasmtime-wasi-http-$WASMTIME_VERSION/wit"; do
            [ -f "$dir/deps/http.wit" ] && src="$dir"
        done
        [ -n "$src" ] || { log "no wasmtime-wasi-http-$WASMTIME_VERSION/wit under $registry"; exit 1; }
    fi
    grep -q "^package wasi:http@$WASI_HTTP_VERSION;" "$src/deps/http.wit" ||
        { log "$src is not wasi:http@$WASI_HTTP_VERSION"; exit 1; }
    rm -rf "$WIT.tmp"
    cp -r "$src" "$WIT.tmp"
    mv "$WIT.tmp" "$WIT"
}

ensure_componentize_py() {
    if "$VENV/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
        return
    fi
    log "installing componentize-py $COMPONENTIZE_PY_VERSION into $VENV"
    rm -rf "$VENV"
    python3.11 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION" >&2
}

# The dependencies of flask-app in a directory of their own, keyed by the pins. MarkupSafe is
# built from its sdist with the C compiler hidden (CC=false): its setup.py then falls back to
# the pure-Python package (markupsafe._native), as it does on any platform without a compiler.
# The wheel cache is not used, so a wheel with the speedups built earlier cannot come back.
# A component cannot load a host .so, so any left is an error.
vendor_flask_deps() {
    local key dir
    key="$(printf '%s\n' "${FLASK_DEPS[@]}" | sha256sum | cut -c1-16)"
    dir="$CACHE/componentize-deps/flask-app-$key"
    if [ ! -f "$dir/.complete" ]; then
        log "installing ${FLASK_DEPS[*]} (pure Python) into $dir"
        rm -rf "$dir"
        CC=false "$VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir \
            --no-deps --no-binary markupsafe --target "$dir" "${FLASK_DEPS[@]}" >&2
        rm -rf "${dir:?}/bin"  # console scripts (`flask`), for the host only
        if find "$dir" -name '*.so' | grep -q .; then
            log "native code among the dependencies:"; find "$dir" -name '*.so' >&2; exit 1
        fi
        "$VENV/bin/python" -I -c '
import sys
sys.path.insert(0, sys.argv[1])
import markupsafe
assert markupsafe._escape_inner.__module__ == "markupsafe._native", markupsafe._escape_inner
' "$dir"
        touch "$dir/.complete"
    fi
    DEPS_DIR="$dir"
}

[ $# -ge 1 ] || usage
if [ "$1" = --wasmtime ]; then
    [ $# -eq 1 ] || usage
    ensure_wasmtime
    echo "$WASMTIME"
    exit 0
fi
[ $# -eq 2 ] || usage
APP="$1"
OUT="$2"
case "$APP" in hello-wsgi | flask-app) ;; *) usage ;; esac
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

ensure_componentize_py
ensure_wasmtime
ensure_wit
DEPS_DIR=""
[ "$APP" = flask-app ] && vendor_flask_deps

# componentize-py writes __pycache__ into the directories it is given, so it gets copies.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/bridge"
cp "$ROOT/benches/wsgi_http.py" "$WORK/bridge/"
# The box's WSGI adapter, whose `warm` the bridge calls before the snapshot (see `_warm`).
cp "$ROOT/guests/python/src/modules/wagi.py" "$WORK/bridge/"
cp -r "$ROOT/examples/$APP" "$WORK/app"
find "$WORK/app" -name __pycache__ -prune -exec rm -rf {} +
PATHS=(-p "$WORK/bridge" -p "$WORK/app")
if [ -n "$DEPS_DIR" ]; then
    cp -r "$DEPS_DIR" "$WORK/deps"
    PATHS+=(-p "$WORK/deps")
fi

log "building $APP as a wasi:http/proxy@$WASI_HTTP_VERSION component (componentize-py $COMPONENTIZE_PY_VERSION; the app imported and warmed before the snapshot)"
start=$SECONDS
# componentize-py appends the site-packages of $VIRTUAL_ENV, else of the host's Python, to the
# path; its own venv holds no app packages, whereas the host's may hold Flask with MarkupSafe's
# host-compiled speedups.
(cd "$WORK" && VIRTUAL_ENV="$VENV" "$VENV/bin/componentize-py" \
    -d "$WIT" -w "wasi:http/proxy@$WASI_HTTP_VERSION" \
    componentize wsgi_http "${PATHS[@]}" -o "$OUT") >&2
log "built $OUT ($(($(stat -c %s "$OUT") / 1024)) KiB) in $((SECONDS - start)) s"
