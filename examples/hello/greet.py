"""A module of the example app, imported from /app (its bytecode is precompiled in the layer)."""

def hello(name):
    return f"Hello, {name}, from CPython inside one .wasm file!"
