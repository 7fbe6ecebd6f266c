// The page's side of the worker: a promise per command. Used by the console UI (main.js), the
// Chromium test and the start-up benchmark, so all three exercise the same path.

export class BoxConsole {
  /** Starts a worker that fetches and compiles the box at `url`; await `ready` before `run`. */
  constructor(url) {
    this.worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    this.pending = new Map();
    this.nextId = 1;
    this.onOutput = () => {};
    this.ready = new Promise((resolve, reject) => {
      this.worker.onmessage = ({ data }) => {
        if (data.type === "ready") resolve(data);
        else if (data.type === "error" && data.id === undefined) reject(new Error(data.message));
        else this.#message(data);
      };
      this.worker.onerror = (e) => reject(new Error(e.message || "the worker failed to start"));
    });
    this.worker.postMessage({ type: "load", url: new URL(url, location.href).href });
  }

  #message(data) {
    const p = this.pending.get(data.id);
    if (!p) return;
    if (data.type === "output") {
      if (p.first === undefined) p.first = performance.now();
      p[data.stream] += data.text;
      this.onOutput(data.stream, data.text);
    } else {
      this.pending.delete(data.id);
      if (data.type === "done") {
        p.resolve({ status: data.status, stdout: p.stdout, stderr: p.stderr, ms: data.ms, tmp: data.tmp, first: p.first });
      } else p.reject(new Error(data.message));
    }
  }

  /**
   * Runs `code` as `python -c code` in a fresh instance of the box. Resolves to
   * {status, stdout, stderr, ms (in the worker), tmp (names in /tmp), first (performance.now()
   * of the first output on this page, or undefined)}.
   */
  run(code) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, stdout: "", stderr: "", first: undefined });
      this.worker.postMessage({ type: "run", id, code });
    });
  }
}
