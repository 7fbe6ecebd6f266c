// `print(1)` in Pyodide on Node.js, the way a CLI user would start it: load, run, exit.
// With `--in-process N`: N loads in one process, each timed to the end of its print(1), printed
// as JSON milliseconds (the first includes what V8 and Node warm up once).
import { loadPyodide } from "pyodide";

const n = process.argv[2] === "--in-process" ? Number(process.argv[3]) : 0;
if (!n) {
  const py = await loadPyodide({ stdout: (line) => process.stdout.write(line + "\n") });
  py.runPython("print(1)");
} else {
  const times = [];
  for (let i = 0; i < n; i++) {
    let out = "";
    const t0 = performance.now();
    const py = await loadPyodide({ stdout: (line) => (out += line + "\n") });
    py.runPython("print(1)");
    times.push(performance.now() - t0);
    if (out !== "1\n") throw new Error(`pyodide printed ${JSON.stringify(out)}`);
  }
  console.log(JSON.stringify(times));
}
