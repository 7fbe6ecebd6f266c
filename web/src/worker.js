// The Web Worker that runs the box, so a command that computes for seconds does not freeze the
// page. It compiles the box once and keeps one Box (and so one /tmp) for the page's life.
//
// Messages from the page: {type: "load", url} once, then {type: "run", id, code}.
// Messages to the page: {type: "ready", url, bytes, ms}, {type: "output", id, stream, text},
// {type: "done", id, status, ms, tmp}, {type: "error", id?, message}.

import { Box } from "./box.js";

let box = null;

async function load(url) {
  const t0 = performance.now();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = Number(response.headers.get("content-length")) || 0;
  // Streaming compilation overlaps download and compilation; it needs the server to say
  // `application/wasm`. Any other server still works through the byte-array path.
  let module;
  if (response.headers.get("content-type") === "application/wasm") {
    module = await WebAssembly.compileStreaming(response);
  } else {
    module = await WebAssembly.compile(await response.arrayBuffer());
  }
  box = new Box(module);
  postMessage({ type: "ready", url, bytes, ms: performance.now() - t0 });
}

async function run(id, code) {
  const t0 = performance.now();
  const status = await box.run(code, (stream, text) => postMessage({ type: "output", id, stream, text }));
  postMessage({ type: "done", id, status, ms: performance.now() - t0, tmp: box.tmpNames() });
}

async function handle(data) {
  try {
    if (data.type === "load") await load(data.url);
    else if (data.type === "run") {
      if (!box) throw new Error("the box is not loaded yet");
      await run(data.id, data.code);
    }
  } catch (e) {
    // A trap (or a bug in a host call) ends only this command: the next run is a fresh instance.
    postMessage({ type: "error", id: data.id, message: String(e?.stack ?? e) });
  }
}

// One message at a time: a run awaits its instantiation, and a command sent meanwhile must not
// start before it (both see the same /tmp, in the order they were typed).
let queue = Promise.resolve();
onmessage = ({ data }) => {
  queue = queue.then(() => handle(data));
};
