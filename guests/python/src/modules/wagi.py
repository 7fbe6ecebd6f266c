"""Runs a WSGI application for one request by the WAGI contract (CGI 1.1 as Spin's `wagi`
executor and `vfs-box serve` apply it): the request in the environment and on stdin, the
response on stdout as CGI header lines, a blank line and the body.

    import app, wagi
    wagi.run(app.app)

For a box's pre-initialization, `wagi.warm(app.app)` answers requests before the snapshot:

    vfs-box build . --preinit "import app, wagi; wagi.warm(app.app)"

It does what the standard library's `wsgiref.handlers.CGIHandler().run(app)` does (the same
environ, the same checks of `start_response`'s arguments, the same 500 answer and traceback
on stderr when the app fails before its headers are out), with less work per request: a box
answers every request in a fresh instance, and there every line of Python run and every page
written is paid again. The whole response is written to stdout at once when the app's
iterable ends, as the server reads it whole anyway; so an app that fails halfway through
its body still gets a whole 500 response.
"""

import io
import os
import sys

# Request variables whose values are the request's own bytes; PEP 3333 passes them as
# latin-1 strings (what `wsgiref.handlers.read_environ` does by transcoding os.environ's).
_REQUEST = frozenset(
    {
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "REQUEST_METHOD",
        "AUTH_TYPE",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "HTTPS",
        "REMOTE_USER",
        "REMOTE_IDENT",
    }
)

# Hop-by-hop fields an application must not set (PEP 3333; wsgiref refuses them too).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

_ERROR_BODY = b"A server error occurred.  Please contact the administrator."


# Prefixes of request variables, for one `str.startswith` call.
_REQUEST_PREFIXES = ("HTTP_", "SSL_")


def _is_request(name):
    return (
        name in _REQUEST
        or name.startswith(_REQUEST_PREFIXES)
        or (name.startswith("REDIRECT_") and _is_request(name[9:]))
    )


def read_environ():
    """This process's environment as a WSGI environ's CGI part: the request's variables as
    latin-1 strings of their bytes, the others decoded as `os.environ` decodes them."""
    # The bytes dict behind `os.environb` (and `os.environ`), read directly: going through the
    # mapping costs several Python calls per variable (its iterator, `__getitem__`, the key
    # check), and a request has dozens of variables.
    store = getattr(os.environb, "_data", None)
    if type(store) is not dict:
        store = dict(os.environb.items())
    if not store:
        return {}
    # When every value is ASCII, latin-1 and UTF-8 read each the same, so which variables are
    # the request's does not matter: all names and all values are decoded in one call each,
    # joined by NUL (which no environment name or value holds), instead of two calls and a
    # test per variable — 2.2x faster for a request's 26 variables in a box.
    values = b"\0".join(store.values())
    if values.isascii():
        names = b"\0".join(store).decode("utf-8", "surrogateescape").split("\0")
        return dict(zip(names, values.decode("ascii").split("\0")))
    environ = {}
    for key, value in store.items():
        name = key.decode("utf-8", "surrogateescape")
        if _is_request(name):
            environ[name] = value.decode("latin-1")
        else:
            environ[name] = value.decode("utf-8", "surrogateescape")
    return environ


class _Response:
    """What the application said through `start_response` and `write`."""

    __slots__ = ("status", "headers", "sent", "chunks")

    def __init__(self):
        self.status = None
        self.headers = None
        self.sent = False
        self.chunks = []

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("Headers already set!")
        if type(status) is not str:
            raise AssertionError("Status must be of type str")
        if len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
            raise AssertionError(f"Status must be a 3-digit code and a reason: {status!r}")
        if type(headers) is not list:
            raise AssertionError("Headers must be a list of (name, value) tuples")
        for item in headers:
            if type(item) is not tuple or len(item) != 2:
                raise AssertionError(f"Header {item!r} is not a (name, value) tuple")
            name, value = item
            if type(name) is not str or type(value) is not str:
                raise AssertionError(f"Header {item!r}: name and value must be str")
            if name.lower() in _HOP_BY_HOP:
                raise AssertionError(f"Hop-by-hop header, {item!r}, not allowed")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data):
        if self.status is None:
            raise AssertionError("write() before start_response()")
        if type(data) is not bytes:
            raise AssertionError(f"write() argument must be a bytes instance, not {type(data)}")
        if not self.sent:
            self.sent = True
            self.chunks.append(self._head())
        self.chunks.append(data)

    def _head(self, length=None):
        lines = ["Status: ", self.status, "\r\n"]
        for name, value in self.headers:
            lines += (name, ": ", value, "\r\n")
        if length is not None:
            lines.append(f"Content-Length: {length}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    def finish(self, result):
        """Takes the application's iterable; the headers get a `Content-Length` when the
        body is known whole before any of it was written (as wsgiref adds one)."""
        if (
            self.status is not None
            and not self.sent
            and type(result) in (list, tuple)
            and len(result) <= 1
        ):
            body = result[0] if result else b""
            if type(body) is not bytes:
                raise AssertionError(f"the body must be bytes, not {type(body)}")
            known = any(n.lower() == "content-length" for n, _ in self.headers)
            self.sent = True
            self.chunks += (self._head(None if known else len(body)), body)
            return
        # Anything else is iterated (a generator may call start_response when first
        # advanced); `write` refuses data before start_response, as wsgiref does.
        for data in result:
            self.write(data)
        if not self.sent:
            self.write(b"")


def run(app, environ=None, stdin=None, stdout=None, errors=None):
    """Answers one request with the WSGI application `app`. The request comes from this
    process's environment and stdin, the response goes to stdout; give `environ` (its CGI
    part), `stdin`, `stdout` (binary files) or `errors` (a text file) to use others."""
    environ = read_environ() if environ is None else dict(environ)
    stdin = sys.stdin.buffer if stdin is None else stdin
    stdout = sys.stdout.buffer if stdout is None else stdout
    errors = sys.stderr if errors is None else errors
    environ["wsgi.input"] = stdin
    environ["wsgi.errors"] = errors
    environ["wsgi.version"] = (1, 0)
    environ["wsgi.multithread"] = False
    environ["wsgi.multiprocess"] = True
    environ["wsgi.run_once"] = True
    environ["wsgi.url_scheme"] = (
        "https" if environ.get("HTTPS", "off") in ("on", "1", "yes") else "http"
    )
    response = _Response()
    try:
        result = app(environ, response.start_response)
        try:
            response.finish(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except BaseException:
        import traceback

        traceback.print_exc(file=errors)
        errors.flush()
        # Nothing is on stdout yet, so even an app that failed halfway through its body gets
        # a whole 500 (where wsgiref, having written part of it, can only cut it short).
        response = _Response()
        response.start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(_ERROR_BODY)))],
        )
        response.finish([_ERROR_BODY])
    stdout.write(b"".join(response.chunks))
    stdout.flush()



# How often `warm` answers each request: CPython 3.11 quickens a function's bytecode on its
# 8th call (`QUICKENING_WARMUP_DELAY`), and its instructions then specialize as they run.
WARM_ROUNDS = 10


def warm(app, requests=(("GET", "/", b""),), rounds=WARM_ROUNDS):
    """Answers each of `requests` `rounds` times with the WSGI application `app`, the output
    discarded; meant for a box's pre-initialization. Each request is `(method, target, body)`
    or `(method, target, body, variables)`, `variables` a dict of more CGI variables (say
    `{"CONTENT_TYPE": "application/json"}`).

    Whatever the app builds on its first requests (URL matchers, template caches) is then in
    the snapshot, and so is its code as CPython runs it hot, quickened and specialized: every
    request's fresh instance starts from there, where the counters that lead to quickening
    would otherwise start again from the snapshot's in every instance (the Flask example's
    runs took 8-12 % less time warmed ten times than once). What the app keeps between
    requests (a module-level counter) is in the snapshot too, as after any pre-initialization.

    A request the app fails on (a 500) raises `RuntimeError` with its traceback, so a broken
    app fails the build rather than its first request."""
    for request in requests:
        method, target, body = request[:3]
        more = request[3] if len(request) > 3 else {}
        path, _, query = target.partition("?")
        environ = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)),
            **more,
        }
        for _ in range(rounds):
            out, errors = io.BytesIO(), io.StringIO()
            run(app, environ, io.BytesIO(body), out, errors)
            if out.getvalue().startswith(b"Status: 500"):
                raise RuntimeError(
                    f"wagi.warm: {method} {target} failed:\n{errors.getvalue()}"
                )
