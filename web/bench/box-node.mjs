// The box on Node.js's `node:wasi`, in one process: the module compiled once (timed), then N
// fresh instances each running `python -c print(1)` to its end (timed apart: instantiate, run).
// Prints JSON milliseconds. Its stdout goes to a file so the test can check what it printed.
import { readFileSync, openSync, closeSync, readFileSync as read, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const emitWarning = process.emitWarning;
// node:wasi's "experimental" warning is not a result.
process.emitWarning = (w, ...r) => (String(w?.message ?? w).startsWith("WASI is an experimental") ? undefined : emitWarning.call(process, w, ...r));
const { WASI } = await import("node:wasi");

const [box, n] = [process.argv[2], Number(process.argv[3] ?? 5)];
const t0 = performance.now();
const module = await WebAssembly.compile(readFileSync(box));
const compile = performance.now() - t0;
const dir = mkdtempSync(join(tmpdir(), "box-node-"));
const runs = [];
for (let i = 0; i < n; i++) {
  const outPath = join(dir, `out${i}`);
  const fd = openSync(outPath, "w");
  const t1 = performance.now();
  const wasi = new WASI({ version: "preview1", args: ["python", "-c", "print(1)"], env: {}, stdout: fd, returnOnExit: true });
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  const t2 = performance.now();
  const status = wasi.start(instance);
  const t3 = performance.now();
  closeSync(fd);
  const out = read(outPath, "utf8");
  if (status !== 0 || out !== "1\n") throw new Error(`run ${i}: status ${status}, stdout ${JSON.stringify(out)}`);
  runs.push({ instantiate: t2 - t1, run: t3 - t2 });
}
console.log(JSON.stringify({ compile, runs }));
