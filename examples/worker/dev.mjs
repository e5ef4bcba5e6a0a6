#!/usr/bin/env node
// Runs examples/worker/worker.js locally in workerd (through miniflare),
// bundled the way wrangler bundles it. Usage:
//   node examples/worker/dev.mjs [--port=8787]
// Then open http://127.0.0.1:8787/?n=128. Stop with Ctrl-C.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleWorker, startWorker } from "../../scripts/worker-bundle.mjs";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Bundles the example Worker into a temporary folder and starts it;
 * resolves to { url, close }. `close` stops workerd and deletes the folder.
 */
export async function startExampleWorker({ port = 0 } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), "favor-worker-"));
  try {
    const { miniflare, url } = await startWorker(await bundleWorker(join(here, "worker.js"), outdir), { port });
    return {
      url,
      close: async () => {
        await miniflare.dispose();
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
  const port = portArg ? Number(portArg.slice("--port=".length)) : 8787;
  const { url, close } = await startExampleWorker({ port });
  console.log(`favor-wasm worker example on ${url} (try ${url}?n=128); Ctrl-C stops it`);
  process.once("SIGINT", () => close().then(() => process.exit(0)));
}
