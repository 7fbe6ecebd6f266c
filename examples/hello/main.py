"""A small app for a Python box: it uses the stdlib, its own module, and the box's writable
filesystem (no host directory is mapped)."""

import json
import os
import sys

import greet

def main(argv):
    name = argv[1] if len(argv) > 1 else "box"
    print(greet.hello(name))
    # The box's filesystem is writable: /tmp and /app live in memory inside the module.
    os.makedirs("/tmp/demo", exist_ok=True)
    with open("/tmp/demo/notes.json", "w") as f:
        json.dump({"python": sys.version.split()[0], "platform": sys.platform}, f)
    os.rename("/tmp/demo/notes.json", "/tmp/demo/state.json")
    with open("/tmp/demo/state.json") as f:
        state = json.load(f)
    print("files in /tmp/demo:", os.listdir("/tmp/demo"))
    print("state:", state)
    print("app files:", sorted(n for n in os.listdir("/app") if not n.startswith("__")))
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
