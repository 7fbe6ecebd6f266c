"""A local module beside app.py (copied by `COPY . .`)."""

import os


def greeting():
    return os.environ.get("APP_GREETING", "hello")
