// A tiny static file server for web/ (the page needs http://, not file://: module workers and
// fetch of the box are refused on file URLs). `node web/test/serve.mjs [PORT]` serves web/ by
// hand; the test and the benchmark import `serve`.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  // Streaming compilation (compileStreaming) accepts only this type.
  ".wasm": "application/wasm",
  ".zip": "application/zip",
  ".tar": "application/x-tar",
  ".whl": "application/zip",
};

export const WEB_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Serves `root` on 127.0.0.1 (`port` 0: any free one). Resolves to {url, close()}. With
 * `cacheable`, responses may be kept by the browser for an hour (the benchmark's cached case).
 */
export function serve(root = WEB_ROOT, port = 0, { cacheable = false } = {}) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = normalize(join(root, path.endsWith("/") ? path + "index.html" : path));
    // Nothing outside root, whatever `..` the request holds.
    if (!file.startsWith(normalize(root + sep))) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": body.length,
        // By default every load is a real fetch: the test and the cold figures are about
        // start-up, not about the browser's caches.
        "cache-control": cacheable ? "max-age=3600" : "no-store",
      });
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end(`${path}: not found\n`);
    }
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await serve(WEB_ROOT, Number(process.argv[2] ?? 8000));
  console.log(`serving ${WEB_ROOT} at ${url}`);
}
