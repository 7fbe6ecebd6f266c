# Compiles every `.py` under ROOT (argv[1]) to timestamp-checked bytecode, run by vfs-box inside
# the box's own CPython (`-c`, see `compile` in bytecode.rs beside this file): MODE (argv[2]) is `pyc` (`X.pyc`
# beside `X.py`, for a sourceless stdlib) or `both` (`__pycache__/X.cpython-311.pyc`).
import os, sys, importlib.util
from importlib._bootstrap_external import _code_to_timestamp_pyc
root, mode = sys.argv[1], sys.argv[2]
ok = bad = 0
for d, dirs, files in os.walk(root):
    dirs.sort()
    for f in sorted(files):
        if not f.endswith('.py'):
            continue
        p = os.path.join(d, f)
        with open(p, 'rb') as fh:
            src = fh.read()
        try:
            code = compile(src, p, 'exec', dont_inherit=True)
        except (SyntaxError, ValueError):
            bad += 1  # test data with deliberate syntax errors: kept as source only
            continue
        st = os.stat(p)
        data = _code_to_timestamp_pyc(code, st.st_mtime, st.st_size)
        if mode == 'pyc':
            cfile = p + 'c'
        else:
            cfile = importlib.util.cache_from_source(p)
            try:
                os.mkdir(os.path.dirname(cfile))
            except FileExistsError:
                pass
        with open(cfile, 'wb') as fh:
            fh.write(data)
        ok += 1
print(f"compiled {ok} modules, {bad} left as source", file=sys.stderr)
