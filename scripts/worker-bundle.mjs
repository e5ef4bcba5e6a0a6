// Bundles a Cloudflare Worker that imports favor-wasm the way wrangler
// does (esbuild with the conditions "workerd", "worker", "browser"), and
// loads the bundle into workerd through miniflare. The package's .wasm
// imports stay separate modules of type CompiledWasm, because workerd only
// accepts WebAssembly that was compiled before the Worker starts. Used by
// examples/worker/dev.mjs and tests/runtimes/workerd.mjs.

import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";

/** The compatibility date the tests and the example run with. */
export const COMPATIBILITY_DATE = "2025-07-01";

/**
 * Bundles `entry` into `outdir`/worker.js and copies every imported .wasm
 * file next to it. Resolves to the list of modules for miniflare.
 */
export async function bundleWorker(entry, outdir) {
  mkdirSync(outdir, { recursive: true });
  const wasmFiles = new Map();
  const keepWasmSeparate = {
    name: "wasm-modules",
    setup(build) {
      build.onResolve({ filter: /\.wasm$/ }, async (args) => {
        // The nested build.resolve below comes back through this hook; let esbuild resolve it.
        if (args.pluginData?.wasm) return undefined;
        const resolved = args.path.startsWith(".")
          ? { path: resolve(args.resolveDir, args.path) }
          : await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: { wasm: true } });
        if (resolved.errors?.length) return { errors: resolved.errors };
        const name = basename(resolved.path);
        wasmFiles.set(name, resolved.path);
        return { path: `./${name}`, external: true };
      });
    },
  };
  await esbuild.build({
    entryPoints: [entry],
    outfile: join(outdir, "worker.js"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    plugins: [keepWasmSeparate],
    logLevel: "error",
  });
  const modules = [{ type: "ESModule", path: join(outdir, "worker.js") }];
  for (const [name, source] of wasmFiles) {
    copyFileSync(source, join(outdir, name));
    modules.push({ type: "CompiledWasm", path: join(outdir, name) });
  }
  return modules;
}

/**
 * Starts workerd with the bundled modules on 127.0.0.1:`port` (0 picks a
 * free port), with no network access beyond the Worker itself.
 */
export async function startWorker(modules, { port = 0 } = {}) {
  const root = dirname(modules[0].path);
  const miniflare = new Miniflare({
    modules: modules.map((module) => ({ ...module, contents: readFileSync(module.path) })),
    modulesRoot: root,
    compatibilityDate: COMPATIBILITY_DATE,
    cf: false,
    host: "127.0.0.1",
    port,
  });
  const url = await miniflare.ready;
  return { miniflare, url };
}
