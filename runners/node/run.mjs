#!/usr/bin/env node
// Runs a box (any WASI preview 1 command module) on Node.js's own `node:wasi`, with what a box
// needs from its host: arguments, environment, stdio, the exit status, and host folders.
//
//   node runners/node/run.mjs [--dir HOST::GUEST]... [--env K=V]... BOX.wasm [ARGS]...
//
// As under `wasmtime run`, the guest gets no environment and no folder unless given, and its
// argv[0] is the box's path. `--dir DIR` maps DIR at the same path.
import { readFile } from "node:fs/promises";
import process from "node:process";

// Node 20 marks `node:wasi` experimental and says so on stderr, which is the guest's stream:
// that one warning is dropped, every other still shown.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  const text = String(warning?.message ?? warning);
  if (!text.startsWith("WASI is an experimental feature")) emitWarning.call(process, warning, ...rest);
};
const { WASI } = await import("node:wasi");

const USAGE = "usage: node runners/node/run.mjs [--dir HOST::GUEST]... [--env K=V]... BOX.wasm [ARGS]...";

function parse(argv) {
  const preopens = {};
  const env = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      console.log(USAGE);
      process.exit(0);
    }
    // `--dir X` or `--dir=X` (and the same for `--env`).
    const joined = a.startsWith("--dir=") || a.startsWith("--env=");
    const flag = joined ? a.slice(0, 5) : a;
    const inline = joined ? a.slice(6) : undefined;
    if (flag !== "--dir" && flag !== "--env") break;
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--dir") {
      const [host, guest] = value.includes("::") ? value.split("::", 2) : [value, value];
      if (!host || !guest) throw new Error(`--dir ${value}: expected HOST::GUEST or DIR`);
      preopens[guest] = host;
    } else {
      const eq = value.indexOf("=");
      if (eq <= 0) throw new Error(`--env ${value}: expected K=V`);
      env[value.slice(0, eq)] = value.slice(eq + 1);
    }
  }
  if (i >= argv.length) throw new Error(USAGE);
  return { box: argv[i], args: argv.slice(i + 1), preopens, env };
}

let opts;
try {
  opts = parse(process.argv.slice(2));
} catch (e) {
  console.error(`run.mjs: ${e.message}`);
  process.exit(2);
}
let bytes;
try {
  bytes = await readFile(opts.box);
} catch (e) {
  console.error(`run.mjs: ${opts.box}: ${e.message}`);
  process.exit(2);
}
const wasi = new WASI({
  version: "preview1",
  args: [opts.box, ...opts.args],
  env: opts.env,
  preopens: opts.preopens,
  returnOnExit: true,
});
const module = await WebAssembly.compile(bytes);
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
// `start` returns the status of `proc_exit` (or 0 when `_start` returns).
process.exitCode = wasi.start(instance);
