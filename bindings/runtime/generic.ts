// The entry for runtimes without an export condition of their own (the
// "default" condition, and dist/index.js). It fetches http(s) URLs and
// reads file: URLs with Deno.readFile or Node's fs, whichever exists, and
// finds the package's binaries through import.meta.url when the runtime
// provides it.

import { createFavorWith, type CreateFavorOptions, type Favor } from "../favor.js";
import type { WasmLoader } from "../backends/wasm/source.js";
import { compileBytes, compileResponseStreaming, packagedBinaryUrl } from "./common.js";

function baseUrl(): string | undefined {
  const scope = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
  return scope.document?.baseURI ?? scope.location?.href ?? import.meta.url;
}

async function readFileUrl(url: URL): Promise<Uint8Array> {
  const deno = (globalThis as { Deno?: { readFile(path: URL): Promise<Uint8Array> } }).Deno;
  if (deno) return deno.readFile(url);
  // A computed specifier keeps bundlers from trying to resolve a Node module.
  const fsModule = "node:fs/promises";
  const fs = (await import(fsModule)) as { readFile(path: URL): Promise<Uint8Array> };
  return fs.readFile(url);
}

const genericLoader: WasmLoader = {
  runtime: "this runtime",
  packagedBinary: (build) => packagedBinaryUrl(import.meta.url, build, "this runtime"),
  resolveUrl: (source) => new URL(source, baseUrl()),
  read: (url) => (url.protocol === "file:" ? readFileUrl(url) : fetch(url)),
  compile: compileBytes,
  compileResponse: compileResponseStreaming,
};

/** Loads the library: picks and instantiates a WASM build and returns the op table. */
export function createFavor(options?: CreateFavorOptions): Promise<Favor> {
  return createFavorWith(genericLoader, options);
}
