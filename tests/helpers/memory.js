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
