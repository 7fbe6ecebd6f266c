"""A pure-Python `zlib` for boxes, until the real one is linked in (issue #12).

The box's CPython has no `zlib` C module, and itsdangerous (Flask's session signing) imports it.
This module keeps zlib's interface and formats exactly: `decompress` is a full inflater (stored,
fixed and dynamic Huffman blocks, zlib/gzip/raw framing by `wbits`) and checks the Adler-32 or
CRC-32 trailer; `compress` writes valid zlib streams that any inflater reads, but in *stored*
(uncompressed) blocks, so its output is 11 bytes larger per 64 KiB than its input, never
smaller. (itsdangerous keeps a payload uncompressed when compressing does not shrink it, so
Flask's cookies are unaffected.) The Dockerfile copies it into the box's `site-packages`; it is
kept out of the app's folder so that the app run natively (gunicorn) uses the real zlib.
"""

import struct

MAX_WBITS = 15
DEFLATED = 8
DEF_MEM_LEVEL = 8
DEF_BUF_SIZE = 16384
Z_NO_COMPRESSION = 0
Z_BEST_SPEED = 1
Z_BEST_COMPRESSION = 9
Z_DEFAULT_COMPRESSION = -1
Z_DEFAULT_STRATEGY = 0
Z_NO_FLUSH = 0
Z_SYNC_FLUSH = 2
Z_FULL_FLUSH = 3
Z_FINISH = 4
ZLIB_VERSION = "1.3.1 (pure Python, stored blocks only)"
ZLIB_RUNTIME_VERSION = ZLIB_VERSION


class error(Exception):
    """zlib's error."""


def adler32(data, value=1):
    a, b = value & 0xFFFF, (value >> 16) & 0xFFFF
    view = memoryview(data).cast("B")
    for start in range(0, len(view), 5552):  # the largest run with no overflow in C
        for byte in view[start : start + 5552]:
            a += byte
            b += a
        a %= 65521
        b %= 65521
    return (b << 16) | a


_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0xEDB88320 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32(data, value=0):
    crc = value ^ 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in memoryview(data).cast("B"):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _stored_blocks(data, final=True):
    out = bytearray()
    view = memoryview(data)
    if not view:
        return bytes([1 if final else 0, 0, 0, 0xFF, 0xFF])
    for start in range(0, len(view), 65535):
        chunk = view[start : start + 65535]
        last = final and start + 65535 >= len(view)
        out += bytes([1 if last else 0]) + struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF)
        out += chunk
    return bytes(out)


def compress(data, /, level=-1, wbits=MAX_WBITS):
    """A zlib (or raw, or gzip, by `wbits`) stream of `data` in stored blocks."""
    data = bytes(data)
    body = _stored_blocks(data)
    if wbits < 0:
        return body
    if wbits > 15:
        return (
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
            + body
            + struct.pack("<II", crc32(data), len(data) & 0xFFFFFFFF)
        )
    return b"\x78\x01" + body + struct.pack(">I", adler32(data))


class _Bits:
    def __init__(self, data, pos):
        self.data, self.pos, self.bit = data, pos, 0

    def need(self, n):
        value = 0
        for i in range(n):
            if self.pos >= len(self.data):
                raise error("Error -5 while decompressing data: incomplete or truncated stream")
            value |= ((self.data[self.pos] >> self.bit) & 1) << i
            self.bit += 1
            if self.bit == 8:
                self.bit, self.pos = 0, self.pos + 1
        return value

    def align(self):
        if self.bit:
            self.bit, self.pos = 0, self.pos + 1


def _huffman(lengths):
    """A decoding table: {(length, code): symbol}, codes as read bit by bit (MSB first)."""
    counts = [0] * 16
    for n in lengths:
        counts[n] += 1
    counts[0] = 0
    code, first = 0, [0] * 16
    for bits in range(1, 16):
        code = (code + counts[bits - 1]) << 1
        first[bits] = code
    table = {}
    for symbol, n in enumerate(lengths):
        if n:
            table[(n, first[n])] = symbol
            first[n] += 1
    return table


def _decode(bits, table):
    code = length = 0
    while length < 16:
        code = (code << 1) | bits.need(1)
        length += 1
        symbol = table.get((length, code))
        if symbol is not None:
            return symbol
    raise error("Error -3 while decompressing data: invalid code")


_LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
             99, 115, 131, 163, 195, 227, 258]
_LEN_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
_DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
              1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
_DIST_EXTRA = [0, 0, 0, 0] + [n for n in range(1, 14) for _ in (0, 1)]
_FIXED = (
    _huffman([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8),
    _huffman([5] * 30),
)
_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]


def _inflate(data, pos):
    """Raw deflate from `data[pos:]`: (output, position after the last block)."""
    bits = _Bits(data, pos)
    out = bytearray()
    final = 0
    while not final:
        final = bits.need(1)
        kind = bits.need(2)
        if kind == 0:
            bits.align()
            p = bits.pos
            if p + 4 > len(data):
                raise error("Error -5 while decompressing data: incomplete or truncated stream")
            n, nn = struct.unpack_from("<HH", data, p)
            if n != nn ^ 0xFFFF:
                raise error("Error -3 while decompressing data: invalid stored block lengths")
            if p + 4 + n > len(data):
                raise error("Error -5 while decompressing data: incomplete or truncated stream")
            out += data[p + 4 : p + 4 + n]
            bits.pos = p + 4 + n
            continue
        if kind == 1:
            lit, dist = _FIXED
        elif kind == 2:
            hlit, hdist, hclen = bits.need(5) + 257, bits.need(5) + 1, bits.need(4) + 4
            cl = [0] * 19
            for i in range(hclen):
                cl[_ORDER[i]] = bits.need(3)
            cl_table = _huffman(cl)
            lengths = []
            while len(lengths) < hlit + hdist:
                sym = _decode(bits, cl_table)
                if sym < 16:
                    lengths.append(sym)
                elif sym == 16:
                    if not lengths:
                        raise error("Error -3 while decompressing data: invalid bit length repeat")
                    lengths += [lengths[-1]] * (3 + bits.need(2))
                elif sym == 17:
                    lengths += [0] * (3 + bits.need(3))
                else:
                    lengths += [0] * (11 + bits.need(7))
            lit, dist = _huffman(lengths[:hlit]), _huffman(lengths[hlit:])
        else:
            raise error("Error -3 while decompressing data: invalid block type")
        while True:
            sym = _decode(bits, lit)
            if sym < 256:
                out.append(sym)
            elif sym == 256:
                break
            else:
                i = sym - 257
                if i >= 29:
                    raise error("Error -3 while decompressing data: invalid literal/length code")
                length = _LEN_BASE[i] + bits.need(_LEN_EXTRA[i])
                d = _decode(bits, dist)
                if d >= 30:
                    raise error("Error -3 while decompressing data: invalid distance code")
                distance = _DIST_BASE[d] + bits.need(_DIST_EXTRA[d])
                if distance > len(out):
                    raise error("Error -3 while decompressing data: invalid distance too far back")
                start = len(out) - distance
                for k in range(length):
                    out.append(out[start + k])
    bits.align()
    return bytes(out), bits.pos


def decompress(data, /, wbits=MAX_WBITS, bufsize=DEF_BUF_SIZE):
    """Inflates a zlib (8..15), raw (-8..-15), gzip (16+) or either (32+) stream."""
    data = bytes(data)
    if wbits < 0:
        return _inflate(data, 0)[0]
    gzip = wbits >= 16 and (wbits < 32 or data[:2] == b"\x1f\x8b")
    if gzip:
        if len(data) < 18 or data[:3] != b"\x1f\x8b\x08":
            raise error("Error -3 while decompressing data: incorrect header check")
        flags, pos = data[3], 10
        if flags & 4:
            pos += 2 + struct.unpack_from("<H", data, pos)[0]
        for bit in (8, 16):
            if flags & bit:
                pos = data.index(b"\0", pos) + 1
        if flags & 2:
            pos += 2
        out, pos = _inflate(data, pos)
        if len(data) < pos + 8:
            raise error("Error -5 while decompressing data: incomplete or truncated stream")
        crc, size = struct.unpack_from("<II", data, pos)
        if crc != crc32(out) or size != len(out) & 0xFFFFFFFF:
            raise error("Error -3 while decompressing data: incorrect data check")
        return out
    if len(data) < 2 or (data[0] * 256 + data[1]) % 31 or data[0] & 0x0F != 8:
        raise error("Error -3 while decompressing data: incorrect header check")
    if data[1] & 0x20:
        raise error("Error -3 while decompressing data: need dictionary")
    out, pos = _inflate(data, 2)
    if len(data) < pos + 4:
        raise error("Error -5 while decompressing data: incomplete or truncated stream")
    if struct.unpack_from(">I", data, pos)[0] != adler32(out):
        raise error("Error -3 while decompressing data: incorrect data check")
    return out


class _Compress:
    def __init__(self, wbits):
        self.wbits, self.buffer = wbits, bytearray()

    def compress(self, data):
        self.buffer += data
        return b""

    def flush(self, mode=Z_FINISH):
        if mode != Z_FINISH:
            return b""
        data, self.buffer = bytes(self.buffer), bytearray()
        return compress(data, wbits=self.wbits)


def compressobj(level=-1, method=DEFLATED, wbits=MAX_WBITS, memLevel=DEF_MEM_LEVEL,
                strategy=Z_DEFAULT_STRATEGY, zdict=None):
    """A compressor that writes its whole input as one stream at `flush()`."""
    return _Compress(wbits)


class _Decompress:
    def __init__(self, wbits):
        self.wbits, self.buffer = wbits, bytearray()
        self.unused_data, self.unconsumed_tail, self.eof = b"", b"", False

    def decompress(self, data, max_length=0):
        self.buffer += data
        try:
            out = decompress(bytes(self.buffer), self.wbits)
        except error as e:
            if "incomplete" in str(e):
                return b""
            raise
        self.eof, self.buffer = True, bytearray()
        return out

    def flush(self, length=DEF_BUF_SIZE):
        return b""


def decompressobj(wbits=MAX_WBITS, zdict=b""):
    """A decompressor that returns the output once the whole stream has arrived."""
    return _Decompress(wbits)
