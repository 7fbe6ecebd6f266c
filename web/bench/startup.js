// One start-up measurement per page load, from this script's start (performance.now()) to the
// first output of print(1); the result goes to window.result. `?what=`:
//   box-worker  the console's path: a Web Worker fetches and compiles the box, a fresh instance
//               runs `python -c print(1)`, its output is posted back to the page;
//   box-main    the same on the page's own thread (as Pyodide below);
//   pyodide     loadPyodide() from the vendored package, then runPython("print(1)").
// After the first output each also times a second print(1): for the box a new instance of the
// compiled module (what each console command costs), for Pyodide a call into the interpreter
// already running (no start-up at all: shown, not compared).
import { BoxConsole } from "../src/console.js";
import { Box } from "../src/box.js";

const t0 = performance.now();
const params = new URLSearchParams(location.search);
const what = params.get("what");
const boxUrl = new URL(`../dist/${params.get("box") ?? "python-pre.wasm"}`, location.href).href;

async function boxWorker() {
  const c = new BoxConsole(boxUrl);
  const ready = await c.ready;
  const r = await c.run("print(1)");
  const again = performance.now();
  const r2 = await c.run("print(1)");
  return { first: r.first - t0, compiled: ready.ms, out: r.stdout, again: r2.first - again };
}

async function boxMain() {
  const module = await WebAssembly.compileStreaming(fetch(boxUrl));
  const compiled = performance.now() - t0;
  const box = new Box(module);
  let first, out = "";
  await box.run("print(1)", (s, text) => { first ??= performance.now(); out += text; });
  const again = performance.now();
  let second;
  await box.run("print(1)", () => { second ??= performance.now(); });
  return { first: first - t0, compiled, out, again: second - again };
}

async function pyodide() {
  const { loadPyodide } = await import("../vendor/pyodide/pyodide.mjs");
  let first, out = "";
  const py = await loadPyodide({ indexURL: new URL("../vendor/pyodide/", location.href).href, stdout: (line) => { first ??= performance.now(); out += line + "\n"; } });
  py.runPython("print(1)");
  const [firstAt, outFirst] = [first, out];
  first = undefined;
  const again = performance.now();
  py.runPython("print(1)");
  return { first: firstAt - t0, out: outFirst, again: first - again };
}

// Whether a compiled module can be kept in IndexedDB (it once could, in Chrome; the spec's
// structured clone of a WebAssembly.Module is allowed only between agents, not into storage).
async function idbProbe() {
  const module = await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open("probe", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("m");
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  try {
    db.transaction("m", "readwrite").objectStore("m").put(module, "k");
    return { out: "1\n", stored: true };
  } catch (e) {
    return { out: "1\n", stored: false, refused: `${e.name}: ${e.message}` };
  }
}

const run = { "box-worker": boxWorker, "box-main": boxMain, pyodide, "idb-probe": idbProbe }[what];
run().then(
  (r) => (window.result = r),
  (e) => (window.result = { error: String(e?.stack ?? e) }),
);
