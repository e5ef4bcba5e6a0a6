// Makes every WebAssembly buffer an op allocates start out as NaN, so a
// kernel that skips an output element leaves NaN behind in its scratch
// buffer (instead of stale numbers from an earlier call) and the comparison
// with the reference fails.

import { backendOf } from "../../dist/internal.js";

const patched = new WeakSet();

/** Wraps the backend's allocator of `favor` so that each new buffer is filled with NaN bits (0xffffffff); idempotent. */
export function fillNewBuffersWithNaN(favor) {
  const backend = backendOf(favor);
  if (patched.has(backend)) return;
  patched.add(backend);
  const allocBytes = backend.allocBytes.bind(backend);
  backend.allocBytes = (op, bytes) => {
    const ptr = allocBytes(op, bytes);
    backend.u8(ptr, bytes).fill(0xff);
    return ptr;
  };
}

/**
 * Returns the bytes that `body` requested from the WASM allocator of
 * `favor`. This sum bounds the peak from above, and equals it for an op
 * that frees its buffers only when it ends.
 */
export function allocatedBytes(favor, body) {
  const backend = backendOf(favor);
  const hadOwn = Object.hasOwn(backend, "allocBytes");
  const alloc = backend.allocBytes;
  let bytes = 0;
  backend.allocBytes = (op, count) => {
    bytes += count;
    return alloc.call(backend, op, count);
  };
  try {
    body();
  } finally {
    // Put back a wrapper installed earlier (fillNewBuffersWithNaN), or uncover the prototype's method.
    if (hadOwn) backend.allocBytes = alloc;
    else delete backend.allocBytes;
  }
  return bytes;
}
