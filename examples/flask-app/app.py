"""A Flask app served from a box, one fresh instance per request (`vfs-box serve`), or natively
(`gunicorn app:app`). Flask, Werkzeug, Jinja2 and MarkupSafe are pure Python in the box
(MarkupSafe without its C speedups)."""

import markupsafe
from flask import Flask, jsonify, redirect, render_template_string, request, url_for

app = Flask(__name__)

PAGE = """<!doctype html>
<title>{{ title }}</title>
<h1>{{ title }}</h1>
<p>Hello, {{ name }}!</p>
<ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>
"""


@app.route("/")
def index():
    return "Hello, World!\n"


@app.route("/hello/<name>")
def hello(name):
    # Jinja2 escapes `name` with MarkupSafe.
    return render_template_string(
        PAGE, title="Flask in a box", name=name, items=["one", "two", "three"]
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
