// Turns whatever the caller has (a compiled module, bytes, a URL or a fetch
// Response) into a WebAssembly.Module, and finds the package's own .wasm
// files when the caller passes nothing.

import type { WasmBuild } from "./features.js";

/** Anything a WASM binary can be loaded from. */
export type WasmSource =
  | WebAssembly.Module
  | ArrayBuffer
  | ArrayBufferView
  | URL
  | string
  | Response
  | PromiseLike<Response>;

function isResponse(value: unknown): value is Response {
  return typeof Response !== "undefined" && value instanceof Response;
}

/** Compiles (or passes through) a WASM source. */
export async function compileSource(source: WasmSource, what: string): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    return WebAssembly.compile(source as BufferSource);
  }
  if (source instanceof URL || typeof source === "string") {
    const url = source instanceof URL ? source : new URL(source, defaultBase());
    return compileSource(await readUrl(url), what);
  }
  const response = isResponse(source) ? source : await (source as PromiseLike<Response>);
  if (!isResponse(response)) {
    throw new TypeError(`createFavor: ${what} must be a WebAssembly.Module, bytes, a URL or a Response`);
  }
  if (!response.ok) {
    throw new Error(`createFavor: fetching ${what} from ${response.url} failed with HTTP ${response.status}`);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

function defaultBase(): string {
  return typeof location !== "undefined" ? location.href : import.meta.url;
}

async function readUrl(url: URL): Promise<Uint8Array | Response> {
  if (url.protocol === "file:") {
    // Node and Deno read local files; fetch of file: URLs is not universal.
    const deno = (globalThis as { Deno?: { readFile(path: URL): Promise<Uint8Array> } }).Deno;
    if (deno) return deno.readFile(url);
    // A computed specifier keeps browser bundlers from resolving a Node module.
    const fsModule = "node:fs/promises";
    const fs = (await import(fsModule)) as { readFile(path: URL): Promise<Uint8Array> };
    return fs.readFile(url);
  }
  return fetch(url);
}

/** Returns the URL of one of the package's own binaries, relative to this file. */
export function packagedBinaryUrl(build: WasmBuild): URL {
  return new URL(`../../../build/favor.${build}.wasm`, import.meta.url);
}
