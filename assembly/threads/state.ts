// Kernels of the threaded builds.
// f32_state_add_scaled: y[i] += alpha·x[i] for n floats, for the
// chunk-parallel causal attention of the threaded builds
// (bindings/backends/wasm/threads/causal.ts), which adds one chunk state of
// r·(dv + 1) floats per chunk. x and y may not overlap; no alignment is
// assumed. A multiply and then an add in every build, never a fused
// multiply-add, so the result is the same on every build and machine.

import { f32_gemm_use_buffers } from "../gemm/blocked";
import { HAS_SIMD } from "../isa";
import { useCosineSlot } from "../math/sincos";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

/** Adds alpha·x to y, elementwise over n floats. */
export function f32_state_add_scaled(n: i32, alpha: f32, x: usize, y: usize): void {
  let i = 0;
  if (HAS_SIMD) {
    const a = f32x4.splat(alpha);
    for (; i + 4 <= n; i += 4) {
      const at = <usize>i * F32_BYTES;
      v128.store(y + at, f32x4.add(v128.load(y + at), f32x4.mul(a, v128.load(x + at))));
    }
  }
  for (; i < n; i++) {
    const at = <usize>i * F32_BYTES;
    store<f32>(y + at, load<f32>(y + at) + alpha * load<f32>(x + at));
  }
}

/**
 * Points this instance's per-thread scratch at buffers the main thread
 * reserved: the GEMM packing buffers and scratch tile (see
 * f32_gemm_use_buffers) and the 16-byte slot of sinCosF32x4. A worker of the
 * threaded build calls it once before any kernel, because static scratch is
 * shared by every instance on one memory.
 */
export function f32_thread_use_scratch(packA: usize, packB: usize, gemmScratch: usize, cosines: usize): void {
  f32_gemm_use_buffers(packA, packB, gemmScratch);
  useCosineSlot(cosines);
}
