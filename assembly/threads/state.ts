// f32_state_add_scaled: y[i] += alpha·x[i] for n floats, for the
// chunk-parallel causal attention of the threaded builds
// (bindings/backends/wasm/threads/causal.ts), which adds one chunk state of
// r·(dv + 1) floats per chunk. x and y may not overlap; no alignment is
// assumed. A multiply and then an add in every build, never a fused
// multiply-add, so the result is the same on every build and machine.

import { HAS_SIMD } from "../isa";

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
