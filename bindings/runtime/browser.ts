// The browser entry ("browser" export condition, also used by bundlers
// that target browsers). Binaries are fetched and compiled while they
// download when the server sends Content-Type application/wasm. Relative
// string sources resolve against the page (document.baseURI) or, in a
// Web Worker, the worker script's location.
//
// Without a `wasm` option the binaries are fetched from build/ next to the
// package, found through import.meta.url. That works when the package's
// files are served as they are (an import map or a CDN). Bundlers move the
// code away from the .wasm files, so bundled apps pass `wasm` (see
// docs/RUNTIMES.md).

import { createFavorWith, type CreateFavorOptions, type Favor } from "../favor.js";
import type { WasmLoader } from "../backends/wasm/source.js";
import { webThreadHost } from "../backends/wasm/threads/web-host.js";
import { compileBytes, compileResponseStreaming, packagedBinaryUrl } from "./common.js";

export * from "../index.js";

function baseUrl(): string | undefined {
  const scope = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
  return scope.document?.baseURI ?? scope.location?.href;
}

const browserLoader: WasmLoader = {
  runtime: "browser",
  packagedBinary: (build) => packagedBinaryUrl(import.meta.url, build, "browser"),
  packagedThreadedBinary: (build) => packagedBinaryUrl(import.meta.url, build, "browser"),
  threadHost: webThreadHost(),
  resolveUrl: (source) => new URL(source, baseUrl()),
  read: (url) => fetch(url),
  compile: compileBytes,
  compileResponse: compileResponseStreaming,
};

/** Loads the library in a browser: picks and instantiates a WASM build and returns the op table. */
export function createFavor(options?: CreateFavorOptions): Promise<Favor> {
  return createFavorWith(browserLoader, options);
}
