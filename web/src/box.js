// Running a box with @bjorn3/browser_wasi_shim: one compiled module, a fresh instance per
// command, and a /tmp that outlives the instances.
//
// Why a fresh instance per command: the box is a WASI command (CPython's `main` runs once and
// blocks on stdin reads), and a page cannot feed a blocking read from a single-threaded guest,
// so each command is one `python -c CODE` run. Why /tmp survives: it is not the box's own /tmp
// but a directory of browser_wasi_shim's in-memory filesystem, preopened as "/tmp" for every
// run (the box forwards paths under a host preopen to the host, exactly as with `--dir` on the
// command line; wasi-libc resolves /tmp/... to the longest matching preopen). The Directory
// object lives as long as this Box, so files written in one command are there in the next.
// See web/README.md for the alternative (carrying the box's upper layer) and why not.
//
// Imported by the Web Worker (src/worker.js) and usable from Node.js as well: nothing here is
// browser-only.

import { WASI, File, OpenFile, ConsoleStdout, PreopenDirectory } from "../vendor/browser_wasi_shim/index.js";

export class Box {
  /** `module`: a compiled box (`WebAssembly.Module`); `name`: its argv[0]. */
  constructor(module, name = "python") {
    this.module = module;
    this.name = name;
    // One preopen object for every run: its Directory holds the files of /tmp.
    this.tmp = new PreopenDirectory("/tmp", new Map());
  }

  /**
   * Runs `python -c code` in a fresh instance. `onOutput(stream, text)` gets stdout ("stdout")
   * and stderr ("stderr") as they are written. Resolves to the exit status (0 when `_start`
   * returns, the `proc_exit` code otherwise).
   */
  async run(code, onOutput, env = []) {
    // A streaming decoder per stream, so a UTF-8 character split over two writes stays whole.
    const stream = (name) => {
      const dec = new TextDecoder("utf-8");
      return new ConsoleStdout((bytes) => {
        const text = dec.decode(bytes, { stream: true });
        if (text) onOutput(name, text);
      });
    };
    const fds = [new OpenFile(new File(new Uint8Array())), stream("stdout"), stream("stderr"), this.tmp];
    // `debug: false` because the shim logs every call when the option is left out.
    const wasi = new WASI([this.name, "-c", code], ["HOME=/root", ...env], fds, { debug: false });
    // Asynchronous: Chromium refuses `new WebAssembly.Instance` of a module over 8 MB on a
    // page's main thread (a worker may, but one code path serves both).
    const instance = await WebAssembly.instantiate(this.module, { wasi_snapshot_preview1: wasi.wasiImport });
    return wasi.start(instance);
  }

  /** The names in /tmp (for the page's file list), sorted. */
  tmpNames() {
    return [...this.tmp.dir.contents.keys()].sort();
  }
}
