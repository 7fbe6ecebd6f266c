#!/usr/bin/env bash
# CPython's own tests for the filesystem-heavy modules, run twice with the same CPython 3.11 build:
#   host: plain CPython on host WASI, stdlib + tests mapped from a host folder, scratch dir at /tmp
#   box:  a `vfs-box python --with-tests` box, no host directory at all
#   native (with NATIVE=1): this machine's own python3.11, same runner and options
# and a per-module markdown table (run / pass / fail / error / skip) of each.
# Usage: [NATIVE=1] scripts/cpython-tests.sh [MODULE...|--c-modules]
#   (logs in $OUT, default $CARGO_TARGET_DIR/cpython-tests)
#   --c-modules: the C modules' suites (issue #12): test_zlib test_gzip test_bz2 test_lzma test_sqlite3
set -euo pipefail
cd "$(dirname "$0")/.."
MODULES=("$@")
if [ "${MODULES[*]:-}" = "--c-modules" ]; then
    MODULES=(test_zlib test_gzip test_bz2 test_lzma test_sqlite3)
fi
if [ ${#MODULES[@]} -eq 0 ]; then
    MODULES=(test_os test_fileio test_io test_posixpath test_genericpath test_shutil test_tempfile
             test_glob test_stat test_import test_zipimport test_linecache test_fnmatch test_py_compile)
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasm-vfs-target}"
cargo build --quiet -p vfs-box
OUT="${OUT:-$CARGO_TARGET_DIR/cpython-tests}"
mkdir -p "$OUT"
# A link (cargo writes a new file on the next build): the target directory may be shared with other checkouts, whose builds replace the binary.
ln -f "$CARGO_TARGET_DIR/debug/vfs-box" "$OUT/vfs-box" 2>/dev/null || cp "$CARGO_TARGET_DIR/debug/vfs-box" "$OUT/vfs-box"
VB="$OUT/vfs-box"
PREFIX=/usr/local/lib/python3.11

"$VB" python --with-tests -o "$OUT/python-tests.wasm" >&2
mapfile -t STAGES < <("$VB" python --with-tests --host-stdlib -o "$OUT/python-host.wasm")
# One host folder holding stdlib + tests (hard links keep the mtimes the .pyc files record):
# a nested --dir for test/ is not enough, because the import system lists the stdlib folder.
HOSTLIB="$OUT/host-stdlib"
rm -rf "$HOSTLIB"
cp -al "${STAGES[0]}" "$HOSTLIB"
cp -al "${STAGES[1]}/." "$HOSTLIB/"

SIDES="host box"
for m in "${MODULES[@]}"; do
    if [ "${NATIVE:-0}" = 1 ]; then
        SIDES="native host box"
        scratch="$(mktemp -d)"
        echo "== $m (native)" >&2
        (cd "$scratch" && timeout 900 python3.11 -m test --tempdir "$scratch/regrtest" -v "$m") >"$OUT/native-$m.log" 2>&1 || true
        rm -rf "$scratch"
    fi
    scratch="$(mktemp -d)"
    echo "== $m (host)" >&2
    timeout 900 "$VB" run "$OUT/python-host.wasm" --dir "$HOSTLIB::$PREFIX" --dir "$scratch::/tmp" -- -m test --tempdir /tmp/regrtest -v "$m" >"$OUT/host-$m.log" 2>&1 || true
    rm -rf "$scratch"
    echo "== $m (box)" >&2
    timeout 900 "$VB" run "$OUT/python-tests.wasm" -- -m test --tempdir /tmp/regrtest -v "$m" \
        >"$OUT/box-$m.log" 2>&1 || true
done

python3 - "$OUT" "$SIDES" "${MODULES[@]}" <<'PY'
import re, sys
out, sides, mods = sys.argv[1], sys.argv[2].split(), sys.argv[3:]

def parse(path):
    """Counts from unittest's summary: 'Ran N tests' then 'OK (...)' or 'FAILED (...)'."""
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return None
    ran = re.search(r"^Ran (\d+) tests?", text, re.M)
    if not ran:
        return None
    run = int(ran.group(1))
    tail = text[ran.end():]
    status = re.search(r"^(OK|FAILED)\b(?: \((.*)\))?", tail, re.M)
    counts = dict(failures=0, errors=0, skipped=0)
    if status and status.group(2):
        for k, v in re.findall(r"(\w[\w ]*)=(\d+)", status.group(2)):
            counts[k.strip()] = int(v)
    f, e, s = counts["failures"], counts["errors"], counts["skipped"]
    return run, run - f - e - s, f, e, s

tot = {side: [0] * 5 for side in sides}
print("| module | " + " | ".join(f"{side}: run / pass / fail / error / skip" for side in sides) + " |")
print("|---" * (len(sides) + 1) + "|")
for m in mods:
    cells = []
    for side in sides:
        r = parse(f"{out}/{side}-{m}.log")
        if r is None:
            cells.append("did not finish (see log)")
        else:
            tot[side] = [a + b for a, b in zip(tot[side], r)]
            cells.append(" / ".join(map(str, r)))
    print(f"| {m} | " + " | ".join(cells) + " |")
print("| **total** | " + " | ".join(f"**{' / '.join(map(str, tot[side]))}**" for side in sides) + " |")
PY
