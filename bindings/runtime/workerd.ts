// The Cloudflare Workers entry ("workerd" export condition). workerd
// refuses to compile WebAssembly at run time (WebAssembly.compile fails
// with "Wasm code generation disallowed by embedder") and has no
// import.meta.url, so the three binaries are imported as modules: workerd,
// wrangler and miniflare compile .wasm imports ahead of time and hand over
// a WebAssembly.Module. A `wasm` option must therefore hold modules too.

import relaxed from "../../build/favor.relaxed.wasm";
import scalar from "../../build/favor.scalar.wasm";
import simd from "../../build/favor.simd.wasm";
import { createFavorWith, type CreateFavorOptions, type Favor } from "../favor.js";
import type { WasmBuild } from "../backends/wasm/features.js";
import type { WasmLoader } from "../backends/wasm/source.js";

export * from "../index.js";

const PACKAGED: Record<WasmBuild, WebAssembly.Module> = { relaxed, simd, scalar };

function noCompiler(what: string): never {
  throw new TypeError(
    `createFavor: workerd cannot compile WebAssembly at run time, so ${what} cannot be used; pass a ` +
      "WebAssembly.Module instead, imported from a .wasm file (import simd from \"favor-wasm/wasm/simd.wasm\")",
  );
}

const workerdLoader: WasmLoader = {
  runtime: "workerd",
  packagedBinary: (build) => PACKAGED[build],
  resolveUrl: (source) => noCompiler(`the string source ${JSON.stringify(source)}`),
  read: (url) => noCompiler(`the URL ${url.href}`),
  compile: () => noCompiler("bytes"),
  compileResponse: () => noCompiler("a Response"),
};

/** Loads the library on Cloudflare Workers: picks and instantiates a WASM build and returns the op table. */
export function createFavor(options?: CreateFavorOptions): Promise<Favor> {
  return createFavorWith(workerdLoader, options);
}
