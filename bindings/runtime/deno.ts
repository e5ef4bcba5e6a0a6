// The Deno entry ("deno" export condition, which Deno's npm resolver
// matches before "node"). Local binaries are read with Deno.readFile, so
// the program needs --allow-read for the package folder; remote ones are
// fetched (--allow-net). String sources without a URL scheme are paths
// relative to Deno.cwd().

import { createFavorWith, type CreateFavorOptions, type Favor } from "../favor.js";
import type { WasmLoader } from "../backends/wasm/source.js";
import { webThreadHost, withDefaultThreads } from "../backends/wasm/threads/web-host.js";
import { compileBytes, compileResponseStreaming, hasUrlScheme, packagedBinaryUrl } from "./common.js";

export * from "../index.js";

interface DenoApi {
  readFile(path: URL): Promise<Uint8Array>;
  cwd(): string;
}

function deno(): DenoApi {
  const api = (globalThis as { Deno?: DenoApi }).Deno;
  if (api === undefined) {
    throw new TypeError("createFavor: the deno entry of favor-wasm was loaded outside Deno; import the package by name so the runtime picks its own entry");
  }
  return api;
}

/** Converts an absolute path (POSIX, or Windows with a drive letter) into a file: URL. */
function fileUrl(path: string): URL {
  const slashed = path.replace(/\\/g, "/");
  const rooted = slashed.startsWith("/") ? slashed : `/${slashed}`;
  return new URL(`file://${rooted.split("/").map(encodeURIComponent).join("/").replace(/^\/([a-zA-Z])%3A/, "/$1:")}`);
}

const denoLoader: WasmLoader = {
  runtime: "deno",
  packagedBinary: (build) => packagedBinaryUrl(import.meta.url, build, "deno"),
  packagedThreadedBinary: (build) => packagedBinaryUrl(import.meta.url, build, "deno"),
  // A Web Worker keeps a Deno process running until it ends, and Deno's
  // Worker has no unref, so Deno starts workers only when createFavor gets
  // a threads option (and the script calls favor.dispose() when done).
  threadHost: withDefaultThreads(webThreadHost(), 1),
  resolveUrl: (source) => (hasUrlScheme(source) ? new URL(source) : new URL(source, fileUrl(`${deno().cwd()}/`))),
  read: (url) => (url.protocol === "file:" ? deno().readFile(url) : fetch(url)),
  compile: compileBytes,
  compileResponse: compileResponseStreaming,
};

/** Loads the library on Deno: picks and instantiates a WASM build and returns the op table. */
export function createFavor(options?: CreateFavorOptions): Promise<Favor> {
  return createFavorWith(denoLoader, options);
}
