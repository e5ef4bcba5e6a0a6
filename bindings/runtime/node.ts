// The Node.js entry ("node" export condition). The package's binaries are
// read from disk next to this file. String sources without a URL scheme
// are file paths relative to the current directory, as in any Node API.

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createFavorWith, type CreateFavorOptions, type Favor } from "../favor.js";
import type { WasmLoader } from "../backends/wasm/source.js";
import { nodeThreadHost } from "../backends/wasm/threads/node-host.js";
import { compileBytes, compileResponseStreaming, hasUrlScheme, packagedBinaryUrl } from "./common.js";

export * from "../index.js";

const nodeLoader: WasmLoader = {
  runtime: "node",
  packagedBinary: (build) => packagedBinaryUrl(import.meta.url, build, "node"),
  packagedThreadedBinary: (build) => packagedBinaryUrl(import.meta.url, build, "node"),
  threadHost: nodeThreadHost,
  resolveUrl: (source) => (hasUrlScheme(source) ? new URL(source) : pathToFileURL(resolve(source))),
  read: (url) => (url.protocol === "file:" ? readFile(url) : fetch(url)),
  compile: compileBytes,
  compileResponse: compileResponseStreaming,
};

/** Loads the library on Node.js: picks and instantiates a WASM build and returns the op table. */
export function createFavor(options?: CreateFavorOptions): Promise<Favor> {
  return createFavorWith(nodeLoader, options);
}
