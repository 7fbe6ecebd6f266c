"""The smallest WSGI app: the same file runs under gunicorn (`gunicorn app:app`) and, built into
a box, under `vfs-box serve` or Spin, through the box's CGI adapter `wagi` (the CMD)."""


def app(environ, start_response):
    body = b"Hello, World!\n"
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
