#!/usr/bin/env python3
"""Does a pre-initialized box carry decoded copies of its image files?

Usage: benches/snapshot_copies.py BOX.wasm STAGE_DIR

Rebuilds the box's initial linear memory from its active data segments, blanks the embedded
image layers (found through the shim's layer table, magic "wasm-vfs:layers1"), and looks for the
`.pyc` files of STAGE_DIR (the staged stdlib the layer was packed from) in what is left: 48-byte
probes every KiB of each file of 4 KiB or more, skipping probes that are mostly text (string
constants that code objects legitimately keep). Prints how many files have probes in memory.

Run it on the same box built with `--compress none` and `--compress lz4`/`zstd`: bytes found in
both come from CPython's own buffers (freed memory is not cleared); only an excess in the
compressed box would be copies the decoder left behind.
"""
import os
import struct
import sys


def leb(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def sleb(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            if x & 0x40:
                r -= 1 << s
            return r, i


def active_segments(wasm):
    """(address, bytes) of every active data segment with an i32.const offset."""
    i, segs = 8, []
    while i < len(wasm):
        sid = wasm[i]
        size, i = leb(wasm, i + 1)
        end = i + size
        if sid == 11:
            n, j = leb(wasm, i)
            for _ in range(n):
                flags, j = leb(wasm, j)
                if flags == 2:
                    _, j = leb(wasm, j)
                off = None
                if flags in (0, 2) and wasm[j] == 0x41:
                    off, j = sleb(wasm, j + 1)
                    j += 1  # end
                ln, j = leb(wasm, j)
                if off is not None:
                    segs.append((off, wasm[j:j + ln]))
                j += ln
        i = end
    return segs


def main():
    path, root = sys.argv[1], sys.argv[2]
    segs = active_segments(open(path, "rb").read())
    blob = b"".join(d for _, d in segs)
    k = blob.find(b"wasm-vfs:layers1")
    _, count = struct.unpack_from("<II", blob, k + 16)
    layers = [struct.unpack_from("<II", blob, k + 24 + 8 * s) for s in range(count)]
    parts = []
    for off, d in segs:
        pieces = [(off, off + len(d))]
        for la, ll in layers:
            cut = []
            for x, y in pieces:
                if ll == 0 or y <= la or x >= la + ll:
                    cut.append((x, y))
                    continue
                if x < la:
                    cut.append((x, la))
                if y > la + ll:
                    cut.append((la + ll, y))
            pieces = cut
        parts.extend(d[x - off:y - off] for x, y in pieces)
    mem = b"\0".join(parts)
    files = found = probes_found = 0
    for d, _, names in os.walk(root):
        for f in names:
            if not f.endswith(".pyc"):
                continue
            b = open(os.path.join(d, f), "rb").read()
            if len(b) < 4096:
                continue
            files += 1
            probes = [b[o:o + 48] for o in range(16, len(b) - 48, 1024)]
            probes = [p for p in probes if sum(32 <= c < 127 for c in p) < 24]
            n = sum(1 for p in probes if p in mem)
            if n:
                found += 1
                probes_found += n
    print(f"{path}: {count} layer(s) blanked, {len(mem)} bytes of memory outside them; "
          f"{found} of {files} .pyc files have binary probes there ({probes_found} probes)")


if __name__ == "__main__":
    main()
