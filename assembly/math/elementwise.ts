// f32_exp, f32_exp_fast, f32_sin, f32_cos: y[i] = f(x[i]) for i < n. x and out point to n
// float32 values each and may be the same pointer (in place); partial overlap
// is not allowed. The SIMD binaries process four lanes at a time and finish
// the last n mod 4 values with the scalar twin, which returns the same bits,
// so every binary gives the same output for the same input.
// Accuracy and accepted ranges: see exp.ts, exp-fast.ts and sincos.ts.

import { HAS_SIMD } from "../isa";
import { expF32, expF32x4 } from "./exp";
import { expFastF32, expFastF32x4 } from "./exp-fast";
import { cosF32, cosF32x4, sinF32, sinF32x4 } from "./sincos";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

export function f32_exp(n: i32, x: usize, out: usize): void {
  let i = 0;
  if (HAS_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const offset = <usize>i * F32_BYTES;
      v128.store(out + offset, expF32x4(v128.load(x + offset)));
    }
  }
  for (; i < n; i++) {
    const offset = <usize>i * F32_BYTES;
    store<f32>(out + offset, expF32(load<f32>(x + offset)));
  }
}

export function f32_exp_fast(n: i32, x: usize, out: usize): void {
  let i = 0;
  if (HAS_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const offset = <usize>i * F32_BYTES;
      v128.store(out + offset, expFastF32x4(v128.load(x + offset)));
    }
  }
  for (; i < n; i++) {
    const offset = <usize>i * F32_BYTES;
    store<f32>(out + offset, expFastF32(load<f32>(x + offset)));
  }
}

export function f32_sin(n: i32, x: usize, out: usize): void {
  let i = 0;
  if (HAS_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const offset = <usize>i * F32_BYTES;
      v128.store(out + offset, sinF32x4(v128.load(x + offset)));
    }
  }
  for (; i < n; i++) {
    const offset = <usize>i * F32_BYTES;
    store<f32>(out + offset, sinF32(load<f32>(x + offset)));
  }
}

export function f32_cos(n: i32, x: usize, out: usize): void {
  let i = 0;
  if (HAS_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const offset = <usize>i * F32_BYTES;
      v128.store(out + offset, cosF32x4(v128.load(x + offset)));
    }
  }
  for (; i < n; i++) {
    const offset = <usize>i * F32_BYTES;
    store<f32>(out + offset, cosF32(load<f32>(x + offset)));
  }
}
