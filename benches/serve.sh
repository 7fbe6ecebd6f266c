#!/usr/bin/env bash
# `vfs-box serve` (a fresh pre-initialized instance per request) against the same WSGI app on
# native CPython under gunicorn (2 sync workers) and as a componentize-py component under
# `wasmtime serve` (also a fresh instance per request; built by benches/componentize.sh), on
# loopback with wrk, side by side in one run, for examples/hello-wsgi and examples/flask-app
# (issue #14, acceptance 2 and 4).
#
# Prints a Markdown table: requests/s, p50 and p99 latency, the server's CPU time per request
# and the share of the machine's CPU left idle during the load (all processes of the server;
# wrk runs on the same machine), and the resident memory of the server in the middle of each
# load.
#
# Usage: benches/serve.sh   (DURATION=10s CONNECTIONS=8 THREADS=1 SERVE_CONCURRENCY=CPUs)
# CONNECTIONS may list several counts ("1 2 4 8"): one table each, from the same boxes.
# Needs: wrk (apt-get install wrk), a host CPython 3.11 with pip; gunicorn and Flask are
# installed from PyPI into a virtual environment under the cache; benches/componentize.sh
# installs componentize-py and builds a wasmtime CLI with `serve` once (COMPONENTS=0 skips
# that row).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-8}"
THREADS="${THREADS:-1}"
# Instances in flight at once in vfs-box serve (its default: the CPUs).
SERVE_CONCURRENCY="${SERVE_CONCURRENCY:-$(nproc)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wasm-vfs"
command -v wrk >/dev/null || { echo "benches/serve.sh needs wrk: apt-get install -y wrk" >&2; exit 2; }
rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
cargo build --release -q -p vfs-box
BOX="$CARGO_TARGET_DIR/release/vfs-box"

VENV="$CACHE/bench-venv"
if [ ! -x "$VENV/bin/gunicorn" ]; then
    python3.11 -m venv "$VENV"
    "$VENV/bin/pip" install -q gunicorn==27.0.1 flask==3.1.3
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building boxes in $WORK" >&2
# What each box runs before its snapshot (the commands in the examples' Dockerfiles).
declare -A PREINIT=(
    [hello-wsgi]="import app, wagi; wagi.warm(app.app)"
    [flask-app]="import app; app.warm()"
)
for app in hello-wsgi flask-app; do
    "$BOX" build "examples/$app" -o "$WORK/$app.wasm" --preinit "${PREINIT[$app]}" >&2
done
COMPONENTS="${COMPONENTS:-1}"
if [ "$COMPONENTS" = 1 ]; then
    # The same apps as componentize-py components (wasi:http/proxy) for `wasmtime serve`.
    WASMTIME_SERVE="$(benches/componentize.sh --wasmtime)"
    for app in hello-wsgi flask-app; do
        benches/componentize.sh "$app" "$WORK/$app-component.wasm"
    done
fi

# The resident memory of a process and its children, in MiB.
rss_mib() {
    local total=0 p
    for p in $1 $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    echo "scale=1; $total / 1024" | bc
}

wait_port() {
    for _ in $(seq 1 600); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$1$2"; then return 0; fi
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2
    return 1
}

# CPU time (user + system, in clock ticks) used so far by a process and its children.
cpu_ticks() {
    local total=0 p
    for p in $1 $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# The machine's idle and total CPU time so far, in clock ticks ("idle total").
machine_ticks() {
    awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}

# wrk's summary as "req/s | p50 | p99 | errors"; sets REQUESTS (how many it completed).
load() {
    local url="$1" out
    out="$(wrk -t"$THREADS" -c"$CONN" -d"$DURATION" --latency "$url")"
    echo "$out" >&2
    local rps p50 p99 errs
    REQUESTS="$(awk '/requests in/ {print $1}' <<<"$out")"
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    errs="$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")"
    echo "$rps | $p50 | $p99 | ${errs:-none}"
}

# Starts a server (the command line given, listening on $port), waits until it answers $path,
# and stops it: a first start compiles the box or component into its cache, as a deployment's
# first start would; the measured server then starts from the cache, so its resident memory is
# not the compiler's leftover heap.
warm() {
    "$@" >/dev/null 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_port "$port" "$path"
    kill -TERM "$pid"; wait "$pid" || true
}

# Starts a server (the command line given after its log file, listening on $port), loads
# $path with wrk, stops it. Sets ROW (wrk's summary), IDLE and BUSY (its resident memory before
# the load and in the middle of it, with every instance slot busy), CPU (the server's CPU time
# per request, in µs, and the share of the machine's CPU time nobody used during the load:
# a server whose rate is bound by its CPU leaves none idle).
measure() {
    local log="$1"; shift
    "$@" >"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_port "$port" "$path"
    IDLE="$(rss_mib "$pid")"
    (sleep "$(( ${DURATION%s} / 2 ))"; rss_mib "$pid" >"$WORK/rss-load") &
    local cpu0 machine0 cpu1 machine1
    cpu0="$(cpu_ticks "$pid")"
    machine0="$(machine_ticks)"
    load "http://127.0.0.1:$port$path" >"$WORK/row"
    cpu1="$(cpu_ticks "$pid")"
    machine1="$(machine_ticks)"
    ROW="$(cat "$WORK/row")"
    BUSY="$(cat "$WORK/rss-load")"
    CPU="$(awk -v c="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" -v n="$REQUESTS" \
        -v m0="$machine0" -v m1="$machine1" 'BEGIN {
            split(m0, a, " "); split(m1, b, " ");
            printf "%.0f µs | %.0f %%", c * 1e6 / hz / n, 100 * (b[1] - a[1]) / (b[2] - a[2]) }')"
    kill -TERM "$pid"; wait "$pid" || true
}

port=18080
for CONN in $CONNECTIONS; do
    echo
    echo "wrk -t$THREADS -c$CONN -d$DURATION on loopback; $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| app | server | requests/s | p50 | p99 | errors | server CPU per request | CPU idle | resident memory under load |"
    echo "|---|---|---:|---:|---:|---|---:|---:|---:|"
    for app in hello-wsgi flask-app; do
        path=/
        [ "$app" = flask-app ] && path=/hello/box

        port=$((port + 1))
        warm "$BOX" serve "$WORK/$app.wasm" --listen "127.0.0.1:$port" --no-access-log
        port=$((port + 1))
        measure "$WORK/$app-serve.log" "$BOX" serve "$WORK/$app.wasm" \
            --listen "127.0.0.1:$port" --no-access-log --concurrency "$SERVE_CONCURRENCY"
        echo "| $app | vfs-box serve (fresh instance per request, up to $SERVE_CONCURRENCY at once) | $ROW | $CPU | $BUSY MiB (idle $IDLE; $(echo "scale=1; ($BUSY - $IDLE) / $SERVE_CONCURRENCY" | bc) MiB per instance in flight) |"

        port=$((port + 1))
        measure "$WORK/$app-gunicorn.log" "$VENV/bin/gunicorn" --chdir "examples/$app" -w 2 \
            -k sync -b "127.0.0.1:$port" --log-level warning app:app
        echo "| $app | gunicorn, 2 sync workers (native CPython $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')) | $ROW | $CPU | $BUSY MiB (idle $IDLE) |"

        [ "$COMPONENTS" = 1 ] || continue
        # -S cli: componentize-py's CPython imports wasi:cli and wasi:filesystem beyond the proxy
        # world.
        port=$((port + 1))
        warm "$WASMTIME_SERVE" serve --addr "127.0.0.1:$port" -S cli "$WORK/$app-component.wasm"
        port=$((port + 1))
        measure "$WORK/$app-wasmtime.log" "$WASMTIME_SERVE" serve --addr "127.0.0.1:$port" -S cli \
            "$WORK/$app-component.wasm"
        echo "| $app | wasmtime serve 48.0.8, componentize-py 0.25.1 component (fresh instance per request) | $ROW | $CPU | $BUSY MiB (idle $IDLE) |"
    done
done
