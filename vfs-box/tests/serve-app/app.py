"""The WSGI app `vfs-box/tests/serve.rs` runs under `vfs-box serve`: one route per part of the
contract the tests check."""

import json
import os
import sys

# Incremented by every request: in a fresh instance per request it always reads 1.
COUNTER = 0

MARKER = "/tmp/written-by-a-request"


def respond(start_response, status, body, content_type="text/plain", extra=()):
    if isinstance(body, str):
        body = body.encode()
    start_response(status, [("Content-Type", content_type), *extra])
    return [body]


def app(environ, start_response):
    global COUNTER
    COUNTER += 1
    path = environ.get("PATH_INFO", "")
    if path == "/counter":
        return respond(start_response, "200 OK", str(COUNTER))
    if path == "/env":
        cgi = {
            k: v
            for k, v in environ.items()
            if isinstance(v, str) and (k.isupper() or k.startswith("HTTP_"))
        }
        return respond(start_response, "200 OK", json.dumps(cgi), "application/json")
    if path == "/echo":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
        kind = environ.get("CONTENT_TYPE") or "application/octet-stream"
        return respond(start_response, "200 OK", body, kind)
    if path == "/headers":
        return respond(
            start_response,
            "201 Created",
            "made",
            extra=[
                ("X-Echo", environ.get("HTTP_X_REQUEST_THING", "")),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
            ],
        )
    if path == "/redirect":
        start_response("302 Found", [("Location", "/counter")])
        return [b""]
    if path == "/teapot":
        return respond(start_response, "418 I'm a teapot", "short and stout")
    if path == "/file":
        # A file left by an earlier request would be found here.
        existed = os.path.exists(MARKER)
        with open(MARKER, "w") as f:
            f.write("x")
        return respond(start_response, "200 OK", f"existed={existed}")
    if path == "/big":
        n = int(environ.get("QUERY_STRING", "n=0").partition("=")[2] or 0)
        return respond(start_response, "200 OK", b"x" * n, "application/octet-stream")
    if path == "/sleep":
        import time

        time.sleep(int(environ.get("QUERY_STRING", "ms=0").partition("=")[2] or 0) / 1000)
        return respond(start_response, "200 OK", "slept")
    if path == "/hog":
        # Far past the server's --max-memory: MemoryError, which wsgiref answers with 500.
        hog = bytearray(512 << 20)
        return respond(start_response, "200 OK", str(len(hog)))
    if path == "/loop":
        while True:
            pass
    if path == "/trap":
        os.abort()
    if path == "/malformed":
        sys.stdout.buffer.write(b"this is not a CGI response")
        sys.stdout.flush()
        os._exit(0)
    if path == "/stderr":
        print("a line on stderr from the app", file=sys.stderr)
        raise RuntimeError("the app failed on purpose")
    return respond(start_response, "404 Not Found", f"no page {path}")
