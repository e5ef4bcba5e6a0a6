// The threaded builds: detection, file names, shared memory, and the one
// data copy. A threaded binary (asconfig targets threads-simd and
// threads-relaxed) imports a shared memory of at most 4 GiB and keeps its
// static data in a "favor.data" custom section instead of active data
// segments (scripts/move-data-segments.mjs), so instantiating it writes
// nothing: the main thread copies the data once, and workers instantiate
// the same module on the same memory without touching it.

import type { WasmBuild } from "../features.js";

// A hand-assembled module with a one-page shared memory and one function
// that runs `i32.atomic.load` at address 0. It validates only where threads
// (shared memory and atomics) are supported.
const THREADS_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 10, 1, 8, 0, 65, 0, 254, 16,
  2, 0, 11,
]);

/** The binary file stem of a threaded build, for example "threads-relaxed". */
export type ThreadedBuild = "threads-relaxed" | "threads-simd";

/** The threaded build with the same instruction set as `build`, or null for scalar (no threaded scalar build). */
export function threadedBuildFor(build: WasmBuild): ThreadedBuild | null {
  if (build === "relaxed") return "threads-relaxed";
  if (build === "simd") return "threads-simd";
  return null;
}

/**
 * Returns null when this engine and context can run the threaded builds, or
 * the reason they cannot: no SharedArrayBuffer, no WebAssembly threads, or
 * a browser page that is not cross-origin isolated.
 */
export function threadsUnavailableReason(): string | null {
  const scope = globalThis as { crossOriginIsolated?: boolean };
  if (scope.crossOriginIsolated === false) {
    return "the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and " +
      "Cross-Origin-Embedder-Policy: require-corp), so SharedArrayBuffer is unavailable";
  }
  if (typeof SharedArrayBuffer === "undefined") return "this engine has no SharedArrayBuffer";
  if (!WebAssembly.validate(THREADS_PROBE)) return "this engine does not support WebAssembly threads (shared memory and atomics)";
  return null;
}

/** Bytes per WebAssembly page. */
export const PAGE_BYTES = 65536;

/** Default maximum of the shared memory: 1 GiB. */
export const DEFAULT_MAX_SHARED_MEMORY = 1024 * 1024 * 1024;

/** Largest shared memory a 32-bit WebAssembly memory can have: 4 GiB. */
export const LIMIT_SHARED_MEMORY = 4 * 1024 * 1024 * 1024;

/** Initial size of the shared memory in pages (4 MiB: the static data, the GEMM packing buffers, room for small ops). */
const INITIAL_PAGES = 64;

/** Creates the shared memory; rethrows the error of an engine that rejects the maximum. */
export function createSharedMemory(maxBytes: number): WebAssembly.Memory {
  const maximum = Math.floor(maxBytes / PAGE_BYTES);
  return new WebAssembly.Memory({ initial: Math.min(INITIAL_PAGES, maximum), maximum, shared: true });
}

function readU32(bytes: Uint8Array, at: { position: number }): number {
  let result = 0;
  let scale = 1;
  for (;;) {
    const byte = bytes[at.position++];
    result += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return result;
    scale *= 128;
  }
}

/**
 * Copies the static data of a threaded module into its memory. Throws when
 * the module has no "favor.data" section, which means it is not a threaded
 * build made by scripts/build.mjs.
 */
export function copyStaticData(module: WebAssembly.Module, memory: WebAssembly.Memory): void {
  const sections = WebAssembly.Module.customSections(module, "favor.data");
  if (sections.length !== 1) {
    throw new Error("createFavor: the threaded binary has no favor.data section; rebuild it with scripts/build.mjs");
  }
  const bytes = new Uint8Array(sections[0]);
  const at = { position: 0 };
  const count = readU32(bytes, at);
  const target = new Uint8Array(memory.buffer);
  for (let i = 0; i < count; i++) {
    const offset = readU32(bytes, at);
    const length = readU32(bytes, at);
    target.set(bytes.subarray(at.position, at.position + length), offset);
    at.position += length;
  }
}
