// The start-up comparison of issue #15: time to the first output of `print(1)`, the
// pre-initialized box against Pyodide, on the same Node.js and the same Chromium, side by side
// in one run (repetitions interleaved, so a slow phase of the machine hits both), medians and
// ratios; plus the same box on the other hosts for the README's table. Run by
// benches/universal.sh after web/build.sh.
//
//   node web/bench/universal.mjs [--reps N] [--only node|chromium|chromium-cached|hosts]
//
// Environment: WASMTIME (the wasmtime CLI), VFS_BOX (vfs-box), WASMTIME_PY (a python with the
// PyPI `wasmtime` package); a host whose tool is missing is reported as not measured.
import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { serve, WEB_ROOT } from "../test/serve.mjs";
import { launch, launchPersistent } from "../test/chromium.mjs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const PRE = join(WEB_ROOT, "dist/python-pre.wasm");
const PLAIN = join(WEB_ROOT, "dist/python.wasm");
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const REPS = Number(opt("--reps", 7));
const ONLY = opt("--only", "");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x) => (x === undefined || Number.isNaN(x) ? "—" : x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** Spawns `cmd args`; resolves to {first, exit} ms after spawn (first stdout byte, exit), stdout. */
function timeProcess(cmd, argv, env = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first;
    let out = "";
    let err = "";
    const p = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    p.stdout.on("data", (d) => {
      first ??= performance.now() - t0;
      out += d;
    });
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("close", (code) => {
      const exit = performance.now() - t0;
      if (code !== 0 || out !== "1\n") reject(new Error(`${cmd} ${argv.join(" ")}: status ${code}, stdout ${JSON.stringify(out)}\n${err}`));
      else resolve({ first, exit });
    });
  });
}

/** Runs each of `cases` (name → async () => {metric: ms}) REPS times, interleaved. */
async function interleaved(cases) {
  const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < REPS; i++) {
    for (const [name, f] of Object.entries(cases)) results[name].push(await f());
  }
  const medians = {};
  for (const [name, rs] of Object.entries(results)) {
    medians[name] = {};
    for (const key of Object.keys(rs[0])) medians[name][key] = median(rs.map((r) => r[key]));
  }
  return medians;
}

function table(title, header, rows) {
  console.log(`\n${title}\n`);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map((_, i) => (i ? "---:" : "---")).join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

const ratio = (a, b) => (a && b ? `${(a / b).toFixed(1)}×` : "—");

async function nodeSection() {
  const node = process.execPath;
  const runMjs = join(REPO, "runners/node/run.mjs");
  const pyodideCli = join(WEB_ROOT, "bench/pyodide-print.mjs");
  const cli = await interleaved({
    node: () => timeProcess(node, ["-e", "process.stdout.write('1\\n')"]),
    boxPre: () => timeProcess(node, [runMjs, PRE, "-c", "print(1)"]),
    boxPlain: () => timeProcess(node, [runMjs, PLAIN, "-c", "print(1)"]),
    pyodide: () => timeProcess(node, [pyodideCli]),
  });
  const inproc = await interleaved({
    box: async () => {
      const r = JSON.parse(execFileSync(node, [join(WEB_ROOT, "bench/box-node.mjs"), PRE, "6"], { encoding: "utf8" }));
      const run1 = r.runs[0].instantiate + r.runs[0].run;
      const warm = median(r.runs.slice(1).map((x) => x.instantiate + x.run));
      const inst = median(r.runs.slice(1).map((x) => x.instantiate));
      return { compile: r.compile, first: r.compile + run1, warm, inst };
    },
    pyodide: async () => {
      const t = JSON.parse(execFileSync(node, [pyodideCli, "--in-process", "3"], { encoding: "utf8" }));
      return { first: t[0], again: median(t.slice(1)) };
    },
  });
  const v = process.version;
  table(`Node.js ${v}, a process per run: spawn to the first byte of stdout (and to exit), median of ${REPS}`, ["what", "first output ms", "exit ms", "Pyodide ÷ this"], [
    ["`node -e` writing 1 (Node's own start)", ms(cli.node.first), ms(cli.node.exit), ""],
    ["box, pre-initialized (`runners/node/run.mjs`)", ms(cli.boxPre.first), ms(cli.boxPre.exit), ratio(cli.pyodide.first, cli.boxPre.first)],
    ["box, plain", ms(cli.boxPlain.first), ms(cli.boxPlain.exit), ratio(cli.pyodide.first, cli.boxPlain.first)],
    [`Pyodide (\`loadPyodide\` + \`runPython\`)`, ms(cli.pyodide.first), ms(cli.pyodide.exit), "1.0×"],
  ]);
  table(`Node.js ${v}, in one process (to the end of print(1)), median of ${REPS} processes`, ["what", "ms", "Pyodide first ÷ this"], [
    ["box: `WebAssembly.compile` of 12 MB", ms(inproc.box.compile), ""],
    ["box: compile + instantiate + run (the first print(1) of a process)", ms(inproc.box.first), ratio(inproc.pyodide.first, inproc.box.first)],
    ["box: instantiate + run, module already compiled (median of 5)", ms(inproc.box.warm), ratio(inproc.pyodide.first, inproc.box.warm)],
    ["… of which instantiate", ms(inproc.box.inst), ""],
    ["Pyodide: `loadPyodide` + print(1), first in the process", ms(inproc.pyodide.first), "1.0×"],
    ["Pyodide: `loadPyodide` + print(1), again in the same process", ms(inproc.pyodide.again), ratio(inproc.pyodide.first, inproc.pyodide.again)],
  ]);
  return { cli, inproc };
}

async function chromiumSection() {
  const server = await serve();
  const browser = await launch();
  const once = async (what) => {
    // A fresh context per load: no HTTP cache, no compiled-code cache carried over.
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${server.url}bench/startup.html?what=${what}`);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 120_000 });
    const r = await page.evaluate(() => window.result);
    await ctx.close();
    if (r.error || r.out !== "1\n") throw new Error(`${what}: ${JSON.stringify(r)}`);
    return { first: r.first, again: r.again, ...(r.compiled !== undefined ? { compiled: r.compiled } : {}) };
  };
  let m;
  try {
    m = await interleaved({ worker: () => once("box-worker"), main: () => once("box-main"), pyodide: () => once("pyodide") });
  } finally {
    await browser.close();
    await server.close();
  }
  table(`Chromium ${browser.version()} headless, a fresh page and context per run: page script start to the first output of print(1), median of ${REPS}`, ["what", "first output ms", "Pyodide ÷ this", "a second print(1) ms"], [
    [`box in the console's Web Worker (fetch + compile in the worker: ${ms(m.worker.compiled)} ms)`, ms(m.worker.first), ratio(m.pyodide.first, m.worker.first), `${ms(m.worker.again)} (fresh instance)`],
    [`box on the page's thread (fetch + compile: ${ms(m.main.compiled)} ms)`, ms(m.main.first), ratio(m.pyodide.first, m.main.first), `${ms(m.main.again)} (fresh instance)`],
    ["Pyodide on the page's thread", ms(m.pyodide.first), "1.0×", `${ms(m.pyodide.again)} (same interpreter)`],
  ]);
  return m;
}

/**
 * What Chromium's own caches do: the server lets the browser keep responses, and N loads run in
 * one context. V8 caches the code of a module compiled by `compileStreaming` from a cacheable
 * response (its "wasm code cache", keyed by the response); Pyodide's loader uses the same
 * streaming path. Also asks whether a WebAssembly.Module can go into IndexedDB.
 */
async function chromiumCachedSection() {
  const server = await serve(WEB_ROOT, 0, { cacheable: true });
  const rows = [];
  let probe;
  let version;
  try {
    for (const what of ["box-worker", "pyodide", "idb-probe"]) {
      // A profile on disk per case (an off-the-record context would keep no code cache).
      const dir = mkdtempSync(join(tmpdir(), "chromium-profile-"));
      const ctx = await launchPersistent(dir);
      version = ctx.browser()?.version() ?? version;
      const loads = [];
      for (let i = 0; i < (what === "idb-probe" ? 1 : REPS); i++) {
        const page = await ctx.newPage();
        await page.goto(`${server.url}bench/startup.html?what=${what}`);
        await page.waitForFunction(() => window.result !== undefined, null, { timeout: 120_000 });
        const r = await page.evaluate(() => window.result);
        if (r.error || r.out !== "1\n") throw new Error(`${what}: ${JSON.stringify(r)}`);
        loads.push(r.first);
        if (what === "idb-probe") probe = r;
        await page.close();
      }
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
      if (what !== "idb-probe") rows.push({ what, first: loads[0], later: median(loads.slice(1)), loads });
    }
  } finally {
    await server.close();
  }
  const [box, py] = rows;
  table(`Chromium with its caches: ${REPS} loads in one profile on disk, cacheable responses (HTTP cache, V8's wasm code cache)`, ["what", "first load ms", "later loads, median ms", "Pyodide ÷ box"], [
    ["box in the Web Worker", ms(box.first), ms(box.later), ratio(py.later, box.later)],
    ["Pyodide", ms(py.first), ms(py.later), ""],
  ]);
  console.log(`\nA WebAssembly.Module into IndexedDB: ${probe.stored ? "stored" : `refused (${probe.refused})`}`);
  return { rows, probe };
}

async function hostsSection() {
  const rows = [];
  const cases = {};
  const wasmtime = process.env.WASMTIME;
  const vfsBox = process.env.VFS_BOX;
  const py = process.env.WASMTIME_PY;
  if (wasmtime && existsSync(wasmtime)) {
    // The CLI's compiled-module cache is on by default; `-C cache=n` compiles on every run.
    cases["`wasmtime run` (CLI 48.0.8, its compiled-module cache, warm)"] = () => timeProcess(wasmtime, ["run", PRE, "-c", "print(1)"]);
    cases["`wasmtime run -C cache=n` (compiles the 12 MB module each run)"] = () => timeProcess(wasmtime, ["run", "-C", "cache=n", PRE, "-c", "print(1)"]);
  }
  if (vfsBox && existsSync(vfsBox)) cases["`vfs-box run` (wasmtime 48, its compiled-module cache)"] = () => timeProcess(vfsBox, ["run", PRE, "--", "-c", "print(1)"]);
  if (py) {
    const cwasm = join(WEB_ROOT, "dist/python-pre.wasmtime-py.cwasm");
    execFileSync(py, [join(WEB_ROOT, "bench/wasmtime_py_print.py"), "--compile", PRE, cwasm]);
    // Python's own start and `import wasmtime`, which every wasmtime-py run pays first.
    cases["… host CPython + `import wasmtime`, printing 1 itself (the floor of the row below)"] = () => timeProcess(py, ["-c", "import wasmtime; print(1)"]);
    cases["wasmtime-py (PyPI `wasmtime`), module compiled before (`.cwasm`)"] = () => timeProcess(py, [join(WEB_ROOT, "bench/wasmtime_py_print.py"), cwasm]);
  }
  cases["… `node -e` printing 1 (the floor of the row below)"] = () => timeProcess(process.execPath, ["-e", "process.stdout.write('1\\n')"]);
  cases["Node.js `runners/node/run.mjs`"] = () => timeProcess(process.execPath, [join(REPO, "runners/node/run.mjs"), PRE, "-c", "print(1)"]);
  // A warm-up run of each (fills the caches that the warm figures are about).
  for (const f of Object.values(cases)) await f();
  const m = await interleaved(cases);
  for (const [name, r] of Object.entries(m)) rows.push([name, name.startsWith("…") ? "" : "yes", ms(r.first), ms(r.exit)]);
  table(`The pre-initialized box on each host, process start to the first output of print(1), median of ${REPS}`, ["host", "works", "first output ms", "exit ms"], rows);
  return m;
}

const all = {};
if (!ONLY || ONLY === "node") all.node = await nodeSection();
if (!ONLY || ONLY === "chromium") all.chromium = await chromiumSection();
if (!ONLY || ONLY === "chromium-cached") all.chromiumCached = await chromiumCachedSection();
if (!ONLY || ONLY === "hosts") all.hosts = await hostsSection();
console.log(`\nraw medians: ${JSON.stringify(all)}`);
