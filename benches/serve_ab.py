#!/usr/bin/env python3
"""Two `vfs-box serve` servers side by side, one client alternating requests between them.

On a shared machine whose speed drifts by a quarter within minutes, two servers measured one
after the other differ by the drift as much as by the change. Here both run at once, each with
one instance thread, and one client sends request i to A then B (B then A on odd i), so both
see the same moments of the machine; each server's access log times its instances. Prints the
medians and 90th percentiles of instantiate, run and restore (and the time to the response) for
each side, and B/A.

    benches/serve_ab.py [--requests N] [--path /hello/box] [--not-cgi] A B

A and B are each `[ENV=VALUE,...@][BINARY:]BOX.wasm`: the box to serve, optionally the
`vfs-box` binary serving it (default: the one `cargo build --release -p vfs-box` makes) and
environment variables for that server. Examples:
    benches/serve_ab.py old/flask.wasm new/flask.wasm                   # two guests
    benches/serve_ab.py /tmp/vfs-box-old:flask.wasm flask.wasm         # two servers
"""

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get(
    "CARGO_TARGET_DIR", os.path.join(os.path.expanduser("~"), ".cache", "wasm-vfs-target")
)
# One access-log line with an instance: "... 942us (instantiate 24 + run 844 us; then restore 140 us)".
LINE = re.compile(r"\s(\d+)us \(instantiate (\d+) \+ run (\d+) us; then restore (\d+) us\)")
PARTS = ("response", "instantiate", "run", "restore")


def parse_side(spec):
    """`[ENV=VALUE,...@][BINARY:]BOX` as (env, binary, box)."""
    env = {}
    if "@" in spec:
        pairs, spec = spec.split("@", 1)
        for pair in filter(None, pairs.split(",")):
            key, sep, value = pair.partition("=")
            if not sep:
                sys.exit(f"serve_ab.py: {pair!r} is not ENV=VALUE")
            env[key] = value
    binary, sep, box = spec.rpartition(":")
    if not sep:
        binary = os.path.join(TARGET, "release", "vfs-box")
    for path, what in ((binary, "vfs-box binary"), (box, "box")):
        if not os.path.isfile(path):
            sys.exit(f"serve_ab.py: no {what} at {path}")
    return env, binary, box


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(side, log):
    """Starts one server with one instance thread; returns (process, port) once it answers."""
    env, binary, box = side
    port = free_port()
    proc = subprocess.Popen(
        [binary, "serve", box, "--listen", f"127.0.0.1:{port}", "--concurrency", "1"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "CARGO_MANIFEST_DIR": os.path.join(ROOT, "vfs-box"), **env},
    )
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"serve_ab.py: {binary} serve {box} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"serve_ab.py: {binary} serve {box} did not listen within 10 minutes")


def get(conn, path, expect_502):
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    # A box that is not a CGI app (`python -c pass`) writes no response: the server answers
    # 502, but still runs, times and logs the instance like any other.
    if r.status >= 500 and not (expect_502 and r.status == 502):
        sys.exit(f"serve_ab.py: GET {path} answered {r.status}")


def timings(log_path):
    """The access log's instance lines, the first fifth (warm-up) left out."""
    with open(log_path) as f:
        rows = [tuple(map(int, m.groups())) for m in map(LINE.search, f) if m]
    return rows[len(rows) // 5 :]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="side A: [ENV=VALUE,...@][BINARY:]BOX.wasm")
    p.add_argument("b", help="side B, the same form")
    p.add_argument("--requests", type=int, default=4000, help="requests per side (default 4000)")
    p.add_argument("--path", default="/", help="the request's path and query (default /)")
    p.add_argument(
        "--not-cgi",
        action="store_true",
        help="the boxes write no CGI response (a `-c pass` box): accept the server's 502",
    )
    args = p.parse_args()
    sides = [parse_side(args.a), parse_side(args.b)]

    with tempfile.TemporaryDirectory() as tmp:
        logs = [os.path.join(tmp, f"{name}.log") for name in "ab"]
        procs = []
        try:
            conns = []
            for side, log_path in zip(sides, logs):
                with open(log_path, "w") as log:
                    proc, port = start(side, log)
                procs.append(proc)
                conns.append(http.client.HTTPConnection("127.0.0.1", port, timeout=60))
            t0 = time.time()
            for i in range(args.requests):
                if i % 500 == 0:
                    print(f"\r{i}/{args.requests} requests per side", end="", file=sys.stderr, flush=True)
                for conn in conns if i % 2 == 0 else conns[::-1]:
                    get(conn, args.path, args.not_cgi)
            print(f"\r{args.requests} requests per side in {time.time() - t0:.1f} s", file=sys.stderr)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait()
        rows = [timings(log_path) for log_path in logs]

    for side, r in zip("AB", rows):
        if not r:
            sys.exit(f"serve_ab.py: side {side}'s log has no instance lines (was --no-access-log given?)")
    print(f"GET {args.path}, {args.requests} requests per side, alternated (µs; first fifth left out)")
    print(f"A: {args.a}\nB: {args.b}\n")
    print("| part | A p50 | B p50 | B/A | A p90 | B p90 |")
    print("|---|---:|---:|---:|---:|---:|")
    for k, name in enumerate(PARTS):
        a = [row[k] for row in rows[0]]
        b = [row[k] for row in rows[1]]
        ma, mb = statistics.median(a), statistics.median(b)
        pa, pb = (statistics.quantiles(v, n=10)[-1] for v in (a, b))
        print(f"| {name} | {ma:.0f} | {mb:.0f} | {mb / ma:.3f} | {pa:.0f} | {pb:.0f} |")


if __name__ == "__main__":
    main()
