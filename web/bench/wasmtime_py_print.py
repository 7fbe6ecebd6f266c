"""`python -c print(1)` in a box on the PyPI `wasmtime` package, stdio inherited.

    wasmtime_py_print.py BOX.wasm          compile BOX.wasm, run it
    wasmtime_py_print.py BOX.cwasm         run a module this wasmtime compiled before
    wasmtime_py_print.py --compile BOX.wasm OUT.cwasm   compile and serialize once
"""

import sys

import wasmtime

engine = wasmtime.Engine()
if sys.argv[1] == "--compile":
    with open(sys.argv[3], "wb") as f:
        f.write(wasmtime.Module.from_file(engine, sys.argv[2]).serialize())
    sys.exit(0)
path = sys.argv[1]
if path.endswith(".cwasm"):
    module = wasmtime.Module.deserialize_file(engine, path)
else:
    module = wasmtime.Module.from_file(engine, path)
linker = wasmtime.Linker(engine)
linker.define_wasi()
store = wasmtime.Store(engine)
wasi = wasmtime.WasiConfig()
wasi.argv = ["python", "-c", "print(1)"]
wasi.inherit_stdout()
wasi.inherit_stderr()
store.set_wasi(wasi)
instance = linker.instantiate(store, module)
try:
    instance.exports(store)["_start"](store)
except wasmtime.ExitTrap as e:
    sys.exit(e.code)
