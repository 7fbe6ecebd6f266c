// The console UI: a code box, a Run button (or Ctrl+Enter), the output of each command, and
// what /tmp holds. `?box=plain` loads the box without pre-initialization.

import { BoxConsole } from "./console.js";

const params = new URLSearchParams(location.search);
const boxUrl = params.get("box") === "plain" ? "dist/python.wasm" : "dist/python-pre.wasm";

const $ = (id) => document.getElementById(id);
const output = $("output");
const code = $("code");
const runButton = $("run");
const status = $("status");

function append(text, cls) {
  const span = document.createElement("span");
  span.className = cls;
  span.textContent = text;
  output.append(span);
  output.scrollTop = output.scrollHeight;
}

const pyconsole = new BoxConsole(boxUrl);
// For the test and for poking at it from devtools.
window.pyconsole = pyconsole;
pyconsole.onOutput = (stream, text) => append(text, stream);

status.textContent = `loading ${boxUrl}…`;
pyconsole.ready.then(
  (r) => {
    status.textContent = `${boxUrl} (${(r.bytes / 1e6).toFixed(1)} MB) compiled in ${r.ms.toFixed(0)} ms; ready`;
    runButton.disabled = false;
    document.body.dataset.state = "ready";
  },
  (e) => {
    status.textContent = `could not load ${boxUrl}: ${e.message}`;
    document.body.dataset.state = "failed";
  },
);

async function submit() {
  const src = code.value;
  if (!src.trim()) return;
  runButton.disabled = true;
  append(src.replace(/^/gm, ">>> ").replace(/^>>> (\s)/gm, "... $1") + "\n", "input");
  try {
    const r = await pyconsole.run(src);
    if (r.status !== 0) append(`[exit status ${r.status}]\n`, "meta");
    status.textContent = `ran in ${r.ms.toFixed(1)} ms; /tmp: ${r.tmp.join(", ") || "(empty)"}`;
    $("tmp").textContent = r.tmp.join("\n");
  } catch (e) {
    append(`${e.message}\n`, "stderr");
  } finally {
    runButton.disabled = false;
    document.body.dataset.commands = String(Number(document.body.dataset.commands ?? 0) + 1);
  }
}

runButton.addEventListener("click", submit);
code.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    submit();
  }
});
