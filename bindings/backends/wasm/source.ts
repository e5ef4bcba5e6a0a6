// Turns whatever the caller has (a compiled module, bytes, a URL, a string
// URL or a fetch Response) into a WebAssembly.Module. Reading files,
// fetching and compiling differ between runtimes, so they come from a
// `WasmLoader` that each entry in bindings/runtime supplies; nothing here
// touches a runtime-specific API.

import type { WasmBuild } from "./features.js";
import type { ThreadedBuild } from "./threads/binary.js";
import type { ThreadHost } from "./threads/pool.js";

/** Anything a WASM binary can be loaded from. */
export type WasmSource =
  | WebAssembly.Module
  | ArrayBuffer
  | ArrayBufferView
  | URL
  | string
  | Response
  | PromiseLike<Response>;

/** How one runtime finds, reads and compiles WASM binaries. */
export interface WasmLoader {
  /** Runtime name used in error messages, for example "node" or "workerd". */
  readonly runtime: string;
  /** The package's own binary for `build`, used when createFavor gets no `wasm` option. */
  packagedBinary(build: WasmBuild): WasmSource;
  /** Turns a string source into a URL; relative strings resolve against the runtime's base. */
  resolveUrl(source: string): URL;
  /** Reads the bytes behind a URL, or returns the fetch Response that carries them. */
  read(url: URL): Promise<ArrayBuffer | ArrayBufferView | Response>;
  /** Compiles bytes. */
  compile(bytes: ArrayBuffer | ArrayBufferView): Promise<WebAssembly.Module>;
  /** Compiles the body of a successful Response. */
  compileResponse(response: Response): Promise<WebAssembly.Module>;
  /** Starts worker threads; absent on runtimes that run one thread (workerd). */
  readonly threadHost?: ThreadHost;
  /** The package's own threaded binary; absent where threadHost is. */
  packagedThreadedBinary?(build: ThreadedBuild): WasmSource;
}

function isResponse(value: unknown): value is Response {
  return typeof Response !== "undefined" && value instanceof Response;
}

/** Compiles (or passes through) a WASM source with the runtime's loader. */
export async function compileSource(source: WasmSource, what: string, loader: WasmLoader): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    return loader.compile(source);
  }
  if (source instanceof URL || typeof source === "string") {
    const url = source instanceof URL ? source : loader.resolveUrl(source);
    return compileSource(await loader.read(url), `${what} (${url.href})`, loader);
  }
  const response = isResponse(source) ? source : await (source as PromiseLike<Response> | undefined);
  if (!isResponse(response)) {
    throw new TypeError(
      `createFavor: ${what} must be a WebAssembly.Module, an ArrayBuffer or typed array, a URL, a string URL, ` +
        "a Response or a Promise of a Response",
    );
  }
  if (!response.ok) {
    throw new Error(`createFavor: fetching ${what} from ${response.url || "a Response"} failed with HTTP ${response.status}`);
  }
  return loader.compileResponse(response);
}
