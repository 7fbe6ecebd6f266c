"""The cost of one fresh instance of a box, measured in a harness that is not ours: the
`wasmtime` package from PyPI (issue #14, acceptance 3).

Each run creates a fresh Store and WASI configuration, instantiates the module (deserialized
once from a file compiled by this same wasmtime, so compilation is excluded) and calls
`_start`; instantiate and run are timed apart, and the page faults of the whole run (store
creation to drop) counted with `getrusage`: in this harness every page of the fresh
copy-on-write memory a run touches is one. An empty command module is measured the same
way, as the floor of the harness itself.

Usage: python benches/instance_cost.py BOX.wasm [RUNS] [ARGS...]   (default ARGS: python -c pass: a box's run-time arguments replace its CMD)
"""

import os
import resource
import statistics
import sys
import tempfile
import time

import wasmtime

EMPTY = '(module (memory (export "memory") 1) (func (export "_start")))'


def load(engine, wasm_bytes, work, name):
    """The module compiled once, serialized to a file, and deserialized from it."""
    path = os.path.join(work, name + ".cwasm")
    with open(path, "wb") as f:
        f.write(wasmtime.Module(engine, wasm_bytes).serialize())
    return wasmtime.Module.deserialize_file(engine, path)


def minor_faults():
    """Page faults this process has taken so far that needed no disk read."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_runs(engine, linker, module, argv, runs):
    inst, run, total, faults = [], [], [], []
    for i in range(runs + 1):
        f0 = minor_faults()
        t0 = time.perf_counter()
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = argv
        store.set_wasi(wasi)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        t1 = time.perf_counter()
        try:
            start(store)
        except wasmtime.ExitTrap as e:
            if e.code != 0:
                raise SystemExit(f"{argv} exited with {e.code}")
        t2 = time.perf_counter()
        del instance, start, store
        f1 = minor_faults()
        if i > 0:  # the first run warms caches
            inst.append(t1 - t0)
            run.append(t2 - t1)
            total.append(t2 - t0)
            faults.append(f1 - f0)
    times = [statistics.median(x) * 1e3 for x in (inst, run, total)]
    return times, min(total) * 1e3, statistics.median(faults)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    box = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    args = sys.argv[3:] or ["python", "-c", "pass"]
    config = wasmtime.Config()
    engine = wasmtime.Engine(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    with tempfile.TemporaryDirectory() as work:
        with open(box, "rb") as f:
            box_module = load(engine, f.read(), work, "box")
        empty_module = load(engine, wasmtime.wat2wasm(EMPTY), work, "empty")
        print(
            f"wasmtime-py {wasmtime.__version__ if hasattr(wasmtime, '__version__') else ''}, "
            f"{runs} runs each, ms (median; min of instantiate + run)"
        )
        print("| module | instantiate | run | instantiate + run | min | page faults |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, module, argv in [
            ("empty command module", empty_module, ["empty"]),
            (f"{os.path.basename(box)} `{' '.join(args)}`", box_module, ["box", *args]),
        ]:
            (i, r, t), lo, pf = time_runs(engine, linker, module, argv, runs)
            print(f"| {name} | {i:.3f} | {r:.3f} | **{t:.3f}** | {lo:.3f} | {pf:g} |")


if __name__ == "__main__":
    main()
