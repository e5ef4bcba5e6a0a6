#!/usr/bin/env node
// Bundles the browser example with esbuild and serves it on 127.0.0.1.
// Usage:
//   node examples/browser/serve.mjs [--port=8080]
// Then open the printed URL. Stop with Ctrl-C.

import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { serveStatic } from "../../scripts/serve-static.mjs";

const here = dirname(fileURLToPath(import.meta.url));

/** Bundles the page into `outdir` (main.js, the .wasm files, index.html). */
export async function bundleExample(outdir) {
  await esbuild.build({
    entryPoints: [join(here, "main.js")],
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    loader: { ".wasm": "file" },
    logLevel: "error",
  });
  copyFileSync(join(here, "index.html"), join(outdir, "index.html"));
}

/**
 * Bundles the example into a temporary folder and serves it; resolves to
 * { url, close }. `close` stops the server and deletes the folder.
 */
export async function startExample({ port = 0 } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), "favor-browser-example-"));
  try {
    await bundleExample(outdir);
    const server = await serveStatic(outdir, { port });
    return {
      url: server.url,
      close: async () => {
        await server.close();
        rmSync(outdir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const portArg = process.argv.find((arg) => arg.startsWith("--port="));
  const port = portArg ? Number(portArg.slice("--port=".length)) : 8080;
  const { url } = await startExample({ port });
  console.log(`favor-wasm browser example on ${url}; Ctrl-C stops it`);
}
