"""A WSGI app as a wasi:http/proxy component: the bridge `benches/componentize.sh` builds with
componentize-py, so that `benches/serve.sh` can put `wasmtime serve` beside `vfs-box serve` and
gunicorn (issue #14).

componentize-py looks for a class named `IncomingHandler` in this module and exports it as
`wasi:http/incoming-handler`. Each request is turned into a PEP 3333 environ, the app is called,
and its status, headers and body go back through the request's `response-outparam`. Like
`vfs-box serve`, bodies are bounded, not streamed: the request body is read whole into
`wsgi.input` before the app runs, the response body is collected whole before it is sent, so the
response always has an exact `Content-Length` (the app's own framing headers are dropped).

The app is the module `app` and its attribute `app` (the examples' convention, as in
`gunicorn app:app`). componentize-py imports this module at build time and snapshots the result,
so everything below that runs at import time — importing the app, and warming it as the box's
pre-initialization does (`_warm`) — is in the component's memory image, and `wasmtime serve`'s fresh instance per
request starts from it.
"""

import io
import sys
import traceback
from urllib.parse import unquote

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import types
from wit_world.imports.streams import StreamError_Closed

import app as _app_module

application = _app_module.app

# At most this many request body bytes are read, as `vfs-box serve --max-body`'s default; a
# larger body is answered 413 without calling the app.
MAX_BODY = 16 << 20

# Headers wasmtime refuses from a guest (wasmtime-wasi-http's DEFAULT_FORBIDDEN_HEADERS: a
# `fields` holding one makes `from-list` fail), and the framing headers the bridge sets itself.
_DROPPED_RESPONSE_HEADERS = frozenset(
    [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "host",
        "http2-settings",
        "content-length",
    ]
)

_METHODS = {
    types.Method_Get: "GET",
    types.Method_Head: "HEAD",
    types.Method_Post: "POST",
    types.Method_Put: "PUT",
    types.Method_Delete: "DELETE",
    types.Method_Connect: "CONNECT",
    types.Method_Options: "OPTIONS",
    types.Method_Trace: "TRACE",
    types.Method_Patch: "PATCH",
}


class _BodyTooLarge(Exception):
    pass


def _method_name(method):
    if isinstance(method, types.Method_Other):
        return method.value
    return _METHODS[type(method)]


def _read_body(request):
    """The whole request body. Resources are dropped child first (stream, then body) as
    wasmtime requires."""
    body = request.consume()
    chunks = []
    size = 0
    try:
        with body.stream() as stream:
            while True:
                try:
                    chunk = stream.blocking_read(65536)
                except Err as e:
                    if isinstance(e.value, StreamError_Closed):
                        break
                    raise
                size += len(chunk)
                if size > MAX_BODY:
                    raise _BodyTooLarge()
                chunks.append(chunk)
    finally:
        # `finish` consumes the body (before the request that owns it is dropped) and hands
        # back the trailers' future, which is not needed.
        with types.IncomingBody.finish(body):
            pass
    return b"".join(chunks)


def _split_authority(authority, scheme):
    """SERVER_NAME and SERVER_PORT from `host[:port]` (`[v6]:port` too)."""
    default_port = "443" if scheme == "https" else "80"
    if not authority:
        return "localhost", default_port
    if authority.startswith("["):
        host, _, rest = authority.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = authority.partition(":")
    return host, port or default_port


def _environ(request, body):
    scheme_variant = request.scheme()
    if isinstance(scheme_variant, types.Scheme_Https):
        scheme = "https"
    elif isinstance(scheme_variant, types.Scheme_Other):
        scheme = scheme_variant.value
    else:
        scheme = "http"
    authority = request.authority() or ""
    raw = request.path_with_query() or "/"
    path, _, query = raw.partition("?")
    server_name, server_port = _split_authority(authority, scheme)
    environ = {
        "REQUEST_METHOD": _method_name(request.method()),
        "SCRIPT_NAME": "",
        # PEP 3333: the path decoded, its bytes as latin-1 characters (as wsgiref does).
        "PATH_INFO": unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "RAW_URI": raw,
        "REQUEST_URI": raw,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        # wasi:http does not say which HTTP version the request came in.
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        # `wasmtime serve` runs each request in a fresh instance of the component.
        "wsgi.multiprocess": True,
        "wsgi.run_once": True,
    }
    # Host is one of the fields wasmtime withholds from a guest; the authority is its value.
    if authority:
        environ["HTTP_HOST"] = authority
    with request.headers() as fields:
        entries = fields.entries()
    for name, value in entries:
        # Field values are bytes; WSGI wants them as latin-1 strings.
        text = value.decode("latin-1")
        if name == "content-type":
            environ["CONTENT_TYPE"] = text
            continue
        if name == "content-length":
            continue  # the body was read whole: CONTENT_LENGTH is its length
        key = "HTTP_" + name.upper().replace("-", "_")
        # A repeated field is one variable, the values joined (as vfs-box serve does).
        environ[key] = environ[key] + ", " + text if key in environ else text
    return environ


def _call_app(app, environ):
    """Runs a WSGI app; returns (status code, [(name, value)], body bytes)."""
    started = []
    written = []

    def start_response(status, headers, exc_info=None):
        if exc_info is not None:
            # Nothing has been sent yet (the response is buffered), so an error page may
            # always replace the headers given before.
            exc_info = None
        elif started:
            raise AssertionError("start_response called twice without exc_info")
        started[:] = [(status, headers)]
        return written.append  # PEP 3333's legacy write()

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                written.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise AssertionError("the app returned without calling start_response")
    status, headers = started[0]
    return int(status.split(None, 1)[0]), headers, b"".join(written)


def _response(code, headers, body, head_only):
    """The outgoing response (headers and status) and the body bytes to write."""
    entries = [
        (name.lower(), value.encode("latin-1"))
        for name, value in headers
        if name.lower() not in _DROPPED_RESPONSE_HEADERS
    ]
    # wasmtime checks the bytes written against a Content-Length, so it is only sent where
    # the body is: a HEAD response carries neither.
    if head_only:
        body = b""
    else:
        entries.append(("content-length", str(len(body)).encode("ascii")))
    response = types.OutgoingResponse(types.Fields.from_list(entries))
    response.set_status_code(code)
    return response, body


def _send(response_out, response, body):
    outgoing = response.body()
    types.ResponseOutparam.set(response_out, Ok(response))
    with outgoing.write() as stream:
        view = memoryview(body)
        try:
            while view:
                allowed = stream.check_write()
                if allowed == 0:
                    # Back-pressure: wait until the host takes more bytes.
                    with stream.subscribe() as ready:
                        ready.block()
                    continue
                stream.write(bytes(view[:allowed]))
                view = view[allowed:]
            stream.blocking_flush()
        except Err as e:
            # Closed: the client is gone, or (with the whole Content-Length written) the host
            # has already sent the response and closed the stream. Nothing is left to do.
            if not isinstance(e.value, StreamError_Closed):
                raise
    try:
        types.OutgoingBody.finish(outgoing, None)
    except Err as e:
        # Fewer bytes than the Content-Length got out (the client went away): logged only,
        # there is no one left to answer.
        print(f"wsgi_http: response cut short: {e.value!r}", file=sys.stderr)


def _plain(code, text):
    return code, [("Content-Type", "text/plain; charset=utf-8")], text.encode()


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request, response_out):
        head_only = False
        with request:
            try:
                body = _read_body(request)
                environ = _environ(request, body)
                head_only = environ["REQUEST_METHOD"] == "HEAD"
            except _BodyTooLarge:
                code, headers, payload = _plain(413, "request body too large\n")
                environ = None
            if environ is not None:
                try:
                    code, headers, payload = _call_app(application, environ)
                except Exception:
                    # The app's own failure: logged to stderr, answered 500, as gunicorn does.
                    traceback.print_exc()
                    code, headers, payload = _plain(500, "Internal Server Error\n")
        try:
            response, payload = _response(code, headers, payload, head_only)
        except (Err, UnicodeEncodeError, ValueError) as e:
            # A header wasmtime refuses (bad syntax, a value not latin-1) or an invalid status:
            # the app's fault, answered as a gateway would.
            print(f"wsgi_http: cannot send the app's response: {e!r}", file=sys.stderr)
            response, payload = _response(*_plain(502, "Bad Gateway\n"), head_only)
        _send(response_out, response, payload)


def _warm_run(app, environ=None, stdin=None, stdout=None, errors=None):
    """`wagi.run` for `app.warm()`: one request through this bridge's path, the body written
    to `stdout` when one is given."""
    environ = dict(environ or {})
    environ.update(
        {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": stdin if stdin is not None else io.BytesIO(),
            "wsgi.errors": errors if errors is not None else sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": True,
        }
    )
    try:
        _, _, body = _call_app(app, environ)
    except Exception:
        traceback.print_exc(file=environ["wsgi.errors"])
        return
    if stdout is not None:
        stdout.write(body)


def _warm():
    """Everything the box's pre-initialization does before its snapshot, done before this
    component's: the app's own `warm()` where it has one (examples/flask-app), else
    `wagi.warm(app)` (examples/hello-wsgi's `--preinit`). Both go through `wagi`, the box's
    WSGI adapter (`componentize.sh` copies it in), with its `run` pointed at this bridge's own
    path, so that path is the one warmed."""
    import wagi

    wagi.run = _warm_run
    warm = getattr(_app_module, "warm", None)
    if warm is not None:
        warm()
    else:
        wagi.warm(application)


_warm()
