"""A Flask app served from a box, one fresh instance per request (`vfs-box serve`), or natively
(`gunicorn app:app`). Flask, Werkzeug, Jinja2 and MarkupSafe are pure Python in the box
(MarkupSafe without its C speedups)."""

import io

import markupsafe
from flask import Flask, jsonify, redirect, render_template, request, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello, World!\n"


@app.route("/hello/<name>")
def hello(name):
    # Jinja2 escapes `name` with MarkupSafe.
    return render_template(
        "hello.html", title="Flask in a box", name=name, items=["one", "two", "three"]
    )


@app.route("/api/echo", methods=["POST"])
def echo():
    return jsonify(
        method=request.method,
        json=request.get_json(silent=True),
        args=request.args,
        # "markupsafe._native" in a box (no C speedups), "markupsafe._speedups" natively.
        escape=markupsafe._escape_inner.__module__,
    )


@app.route("/old")
def old():
    return redirect(url_for("index"))


def warm():
    """Answers one request per route through the same adapter a box uses (`wagi`, built into
    the box), output discarded. Meant for the box's pre-initialization
    (`vfs-box build --preinit "import app; app.warm()"`): Flask builds its URL matcher, Jinja
    its environment and template cache, on a first request; done before the snapshot, every
    request's fresh instance starts with them built."""
    import wagi

    for method, path, body in [
        ("GET", "/", b""),
        ("GET", "/hello/warm", b""),
        ("GET", "/old", b""),
        ("GET", "/nope", b""),
        ("POST", "/api/echo", b'{"a": 1}'),
    ]:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "x=1",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
        }
        wagi.run(app, environ, io.BytesIO(body), io.BytesIO(), io.StringIO())
