// Loader pieces that use only web-standard APIs (WebAssembly, URL, fetch's
// Response) and are shared by several runtime entries.

import type { WasmBuild } from "../backends/wasm/features.js";
import type { ThreadedBuild } from "../backends/wasm/threads/binary.js";

/**
 * Returns true when `source` starts with a URL scheme such as "https:" or
 * "file:". A one-letter scheme is taken for a Windows drive ("C:\x.wasm").
 */
export function hasUrlScheme(source: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(source);
}

/** Compiles bytes with the engine's compiler. */
export function compileBytes(bytes: ArrayBuffer | ArrayBufferView): Promise<WebAssembly.Module> {
  return WebAssembly.compile(bytes as BufferSource);
}

/** Compiles a Response after reading its whole body. */
export async function compileResponseBody(response: Response): Promise<WebAssembly.Module> {
  return WebAssembly.compile(await response.arrayBuffer());
}

/**
 * Compiles a Response while it downloads when the engine can. The streaming
 * compiler rejects any Content-Type but application/wasm, so other
 * responses (file servers that do not know .wasm) are read whole first.
 */
export function compileResponseStreaming(response: Response): Promise<WebAssembly.Module> {
  const type = response.headers.get("content-type") ?? "";
  if (typeof WebAssembly.compileStreaming === "function" && /^application\/wasm\b/i.test(type)) {
    return WebAssembly.compileStreaming(response);
  }
  return compileResponseBody(response);
}

/**
 * Returns the URL of the package's own binary for `build`, given the URL of
 * an entry module in dist/runtime/. The binaries are in build/ at the
 * package root. `moduleUrl` is undefined where the runtime has no
 * import.meta.url, or where a bundler removed it.
 */
export function packagedBinaryUrl(moduleUrl: string | undefined, build: WasmBuild | ThreadedBuild, runtime: string): URL {
  if (typeof moduleUrl !== "string" || moduleUrl === "") {
    throw new TypeError(
      `createFavor: cannot locate the package's favor.${build}.wasm on ${runtime} because import.meta.url is not ` +
        "available here (a bundle in a non-module format, or a runtime without it); pass the binaries with the wasm " +
        "option, for example { wasm: { relaxed, simd, scalar } } with the URLs or modules of favor-wasm/wasm/*.wasm",
    );
  }
  return new URL(`../../build/favor.${build}.wasm`, moduleUrl);
}
