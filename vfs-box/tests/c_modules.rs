//! The C modules every box carries (issue #12): `zlib`, `bz2` (`_bz2`), `lzma` (`_lzma`) and
//! `sqlite3` (`_sqlite3` with its bundled SQLite), each round-tripping data through files in the
//! box's own `/tmp`, with no host directory.

use std::process::Output;

mod common;

use common::{hello_box, run_box, stdout_of_success};

fn run(code: &str) -> Output {
    run_box(hello_box(), &[], &["-c", code], None)
}

fn ok(code: &str) -> String {
    stdout_of_success(&["-c", code], run(code))
}

#[test]
fn the_modules_are_built_in() {
    let out = ok("import sys\n\
         for name in ('zlib', '_bz2', '_lzma', '_sqlite3'):\n\
         \x20   print(name, name in sys.builtin_module_names)\n\
         import zlib, sqlite3\n\
         print(zlib.ZLIB_VERSION == zlib.ZLIB_RUNTIME_VERSION, sqlite3.sqlite_version_info >= (3, 40))");
    assert_eq!(
        out,
        "zlib True\n_bz2 True\n_lzma True\n_sqlite3 True\nTrue True\n"
    );
}

#[test]
fn zlib_compresses_checksums_and_writes_gzip_files() {
    let out = ok(r#"
import binascii, gzip, os, zlib
data = b"".join(b"line %d of a repetitive text\n" % i for i in range(20000))
c = zlib.compress(data, 9)
assert len(c) < len(data) // 10, len(c)
assert zlib.decompress(c) == data
# crc32 and adler32 agree with the pure definitions (binascii's crc32 is CPython's own code).
assert zlib.crc32(data) == binascii.crc32(data), (zlib.crc32(data), binascii.crc32(data))
assert zlib.crc32(b"123456789") == 0xCBF43926
assert zlib.adler32(b"Wikipedia") == 0x11E60398
# Streaming, with copy() (needs deflateCopy) and raw deflate.
co = zlib.compressobj(6, zlib.DEFLATED, -15)
head = co.compress(data[:1000])
fork = co.copy()
whole = head + co.compress(data[1000:]) + co.flush()
assert zlib.decompress(whole, -15) == data
assert zlib.decompress(head + fork.flush(), -15) == data[:1000]
do = zlib.decompressobj()
out = b"".join(do.decompress(c[i:i + 100]) for i in range(0, len(c), 100)) + do.flush()
assert out == data and do.eof
try:
    zlib.decompress(c[:-5] + b"xxxxx")
except zlib.error as e:
    print("corrupt:", "incorrect data check" in str(e) or str(e))
# A gzip file in the box's /tmp, read back through gzip and through zlib with a gzip header.
with gzip.open("/tmp/data.txt.gz", "wb") as f:
    f.write(data)
raw = open("/tmp/data.txt.gz", "rb").read()
assert raw[:2] == b"\x1f\x8b", raw[:2]
with gzip.open("/tmp/data.txt.gz", "rb") as f:
    assert f.read() == data
assert zlib.decompress(raw, 16 + zlib.MAX_WBITS) == data
print("gzip", os.path.getsize("/tmp/data.txt.gz") == len(raw), len(raw) < len(data) // 10)
"#);
    assert_eq!(out, "corrupt: True\ngzip True True\n");
}

#[test]
fn bz2_and_lzma_round_trip_through_files() {
    let out = ok(r#"
import bz2, lzma, os
data = os.urandom(50000) + b"abc" * 100000
for name, mod in (("bz2", bz2), ("lzma", lzma)):
    c = mod.compress(data)
    assert mod.decompress(c) == data
    path = "/tmp/data." + name
    with mod.open(path, "wb") as f:
        f.write(data)
    with mod.open(path, "rb") as f:
        assert f.read() == data
    assert mod.decompress(open(path, "rb").read()) == data
    print(name, len(c) < len(data) // 2)
# lzma's formats and filters: raw LZMA2 with a delta and an x86 filter, and .lzma (alone).
filters = [{"id": lzma.FILTER_DELTA, "dist": 4}, {"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 6}]
c = lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)
assert lzma.decompress(c, format=lzma.FORMAT_RAW, filters=filters) == data
c = lzma.compress(data, format=lzma.FORMAT_ALONE)
assert lzma.decompress(c) == data
assert lzma.is_check_supported(lzma.CHECK_SHA256)
c = lzma.compress(data, check=lzma.CHECK_SHA256)
try:
    lzma.decompress(c[:-20] + bytes(20))
except lzma.LZMAError as e:
    print("corrupt xz:", type(e).__name__)
# A BCJ filter's empty properties decode to no options (CPython 3.11.8's behaviour; the 3.11.2
# glue read them through a NULL pointer).
print(lzma._decode_filter_properties(lzma.FILTER_X86, b""))
try:
    bz2.decompress(b"BZh9" + bytes(50))
except OSError as e:
    print("corrupt bz2:", type(e).__name__)
"#);
    assert_eq!(
        out,
        "bz2 True\nlzma True\ncorrupt xz: LZMAError\n{'id': 4}\ncorrupt bz2: OSError\n"
    );
}

#[test]
fn sqlite3_keeps_a_database_in_a_file() {
    let out = ok(r#"
import os, sqlite3
path = "/tmp/db/app.sqlite"
os.makedirs("/tmp/db")
con = sqlite3.connect(path)
con.execute("create table item (id integer primary key, name text not null, price real)")
con.executemany("insert into item (name, price) values (?, ?)", [("pen", 1.5), ("book", 12.0), ("cup", 4.25)])
con.commit()
con.execute("insert into item (name, price) values ('uncommitted', 0)")
con.rollback()
con.close()
assert os.path.getsize(path) > 0
# Reopened: what was committed is there, the rolled-back row is not.
con = sqlite3.connect(path)
rows = con.execute("select name, price from item order by price").fetchall()
print(rows)
print(con.execute("select count(*), sum(price) from item").fetchone())
print(con.execute("pragma integrity_check").fetchone()[0])
# Functions, JSON and a blob through the C module.
con.create_function("twice", 1, lambda x: 2 * x)
print(con.execute("select twice(price) from item where name = 'book'").fetchone()[0])
print(con.execute("""select json_extract('{"a": [1, 2]}', '$.a[1]')""").fetchone()[0])
con.execute("create table b (data blob)")
con.execute("insert into b values (?)", (bytes(range(256)),))
assert con.execute("select data from b").fetchone()[0] == bytes(range(256))
# Incremental blob I/O, at a row id past 2**32 (SQLite's row ids are 64-bit).
con.execute("insert into b (rowid, data) values (?, zeroblob(8))", (2**32 + 5,))
with con.blobopen("b", "data", 2**32 + 5) as blob:
    blob.write(b"box-blob")
print(con.execute("select data from b where rowid = ?", (2**32 + 5,)).fetchone()[0])
con.commit()
# A second connection waits for the first one's write: SQLite's own lock table arbitrates
# inside the process.
other = sqlite3.connect(path, timeout=0)
con.execute("begin immediate")
con.execute("insert into item (name) values ('locked')")
try:
    other.execute("insert into item (name) values ('second')")
except sqlite3.OperationalError as e:
    print("second writer:", e)
con.commit()
other.execute("insert into item (name) values ('second')")
other.commit()
print(con.execute("select count(*) from item").fetchone()[0])
# The database file is an ordinary file to Python too.
print(open(path, "rb").read(16))
print(sqlite3.connect(":memory:").execute("select sqlite_version()").fetchone()[0] == sqlite3.sqlite_version)
"#);
    assert_eq!(
        out,
        "[('pen', 1.5), ('cup', 4.25), ('book', 12.0)]\n\
         (3, 17.75)\n\
         ok\n\
         24.0\n\
         2\n\
         b'box-blob'\n\
         second writer: database is locked\n\
         5\n\
         b'SQLite format 3\\x00'\n\
         True\n"
    );
}

/// An undefined C symbol does not fail a wasm32-wasip1 link: it becomes an import from `env`,
/// and the box would fail only when instantiated. Every import must be a WASI one.
#[test]
fn the_box_imports_nothing_but_wasi() {
    let bytes = std::fs::read(hello_box()).expect("reading the box");
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::ImportSection(section) = payload.expect("a valid module") {
            for import in section.into_imports() {
                let import = import.expect("a valid import");
                imports.push(format!("{}::{}", import.module, import.name));
            }
        }
    }
    assert!(imports.len() > 20, "{imports:?}");
    let foreign: Vec<&String> = imports
        .iter()
        .filter(|i| !i.starts_with("wasi_snapshot_preview1::"))
        .collect();
    assert!(foreign.is_empty(), "imports outside WASI: {foreign:?}");
}
