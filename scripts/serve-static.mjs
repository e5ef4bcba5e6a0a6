// A minimal static file server for the browser example and the Chromium
// conformance runner. It serves one folder on 127.0.0.1 only, sends .wasm
// as application/wasm (so browsers can compile while downloading), and
// rejects paths that leave the folder.

import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";

const CONTENT_TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
};

/**
 * Serves the files under `folder` on 127.0.0.1:`port` (0 picks a free port),
 * adding `headers` to every file response (for example the two headers of
 * cross-origin isolation). Resolves to { url, close } once listening; `url`
 * ends with a slash.
 */
export function serveStatic(folder, { port = 0, headers = {} } = {}) {
  const base = resolve(folder);
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://127.0.0.1").pathname);
    let file = resolve(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      response.writeHead(403).end("forbidden");
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      statSync(file);
    } catch {
      response.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}`);
      return;
    }
    response.writeHead(200, {
      "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
      "cache-control": "no-store",
      ...headers,
    });
    createReadStream(file).pipe(response);
  });
  return new Promise((resolveListening, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const { port: actual } = server.address();
      resolveListening({
        url: `http://127.0.0.1:${actual}/`,
        // Browsers keep idle keep-alive connections open, and server.close()
        // would wait for them, so they are closed first.
        close: () => new Promise((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
