#!/usr/bin/env bash
# Seeds the image fuzz targets' corpora with valid images, raw and compressed (zstd, lz4), so
# that mutations start from structures the decoders accept and reach deep into them.
# Usage: fuzz/seed-images.sh   (writes fuzz/corpus/image_read and fuzz/corpus/image_overlay)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"
cargo build -q -p vfs-image --bin vfs-image
V="$CARGO_TARGET_DIR/debug/vfs-image"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
mkdir -p fuzz/corpus/image_read fuzz/corpus/image_overlay
# Three small trees: text that compresses, links, an empty file; the third a file over one
# 128 KiB chunk.
for t in 1 2 3; do
    d="$W/tree$t"
    mkdir -p "$d/pkg/sub"
    python3 -c "import sys; sys.stdout.write(('def f(x):\n    return x * %d\n' % $t) * (40 * $t))" > "$d/pkg/mod.py"
    # Only the third tree has a file of several chunks (overlay inputs must stay under 64 KiB).
    if [ "$t" = 3 ]; then
        python3 -c "import sys; sys.stdout.write('abc%d ' * 30000 % tuple(range(30000)))" > "$d/pkg/sub/big.txt"
    fi
    printf 'x' > "$d/tiny"; : > "$d/empty"; ln -s pkg/mod.py "$d/link"
    for c in none zstd:3 lz4:9; do
        "$V" pack "$d" -o "$W/t$t-${c%%:*}.vfs" --compress "$c" --mtime 0 2>/dev/null
        cp "$W/t$t-${c%%:*}.vfs" fuzz/corpus/image_read/
    done
done
# Overlay inputs: 2-byte little-endian split, then lower and upper image.
for c in none zstd lz4; do
    lo="$W/t1-$c.vfs"; up="$W/t2-$c.vfs"
    python3 - "$lo" "$up" "fuzz/corpus/image_overlay/pair-$c" <<'PY'
import sys, struct
lo = open(sys.argv[1], 'rb').read(); up = open(sys.argv[2], 'rb').read()
open(sys.argv[3], 'wb').write(struct.pack('<H', min(len(lo), 65535)) + lo + up)
PY
done
ls fuzz/corpus/image_read fuzz/corpus/image_overlay | wc -l
