"""A Flask app served from a box, one fresh instance per request (`vfs-box serve`), or natively
(`gunicorn app:app`). Flask, Werkzeug, Jinja2 and MarkupSafe are pure Python in the box
(MarkupSafe without its C speedups)."""

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
    """Answers each route's request ten times through the box's adapter (`wagi.warm`), output
    discarded. Meant for the box's pre-initialization
    (`vfs-box build --preinit "import app; app.warm()"`): Flask builds its URL matcher, Jinja
    its environment and template cache, on a first request, and CPython quickens and
    specializes code it has run a few times; done before the snapshot, every request's fresh
    instance starts with all of it."""
    import wagi

    wagi.warm(
        app,
        [
            ("GET", "/?x=1", b""),
            ("GET", "/hello/warm", b""),
            ("GET", "/old", b""),
            ("GET", "/nope", b""),
            ("POST", "/api/echo", b'{"a": 1}', {"CONTENT_TYPE": "application/json"}),
        ],
    )
