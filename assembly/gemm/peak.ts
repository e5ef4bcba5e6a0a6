// f32_peak_madd: a throughput probe, not a kernel. It runs CHAINS
// multiply-add chains for `iterations` steps and returns the sum of their
// lanes, so the engine cannot drop the work. The benchmark divides
// f32_peak_madd_flops(iterations) by the time to estimate the engine's
// multiply-add ceiling, the number the GEMM is measured against.
//
// Step t+1 computes s_i ← x·s_{i+1} + s_i for 12 chains (indices mod 12),
// all from step t's values. The multiplicand changes every step, so the
// engine cannot hoist the multiply out of the loop or merge the 12 products
// into one, which a constant multiplicand would allow. Each step's critical
// path is one multiply and one add (or one fused multiply-add), and 12
// chains cover it on cores with two SIMD floating-point pipes of 3-4 cycle
// latency. Twelve accumulators and x use 13 of the 15 vector registers V8
// allocates on x64, so nothing spills.
//
// Measured on the 2-core AMD EPYC development machine (Node 20.20) against
// throwaway variants of this function: this form ran at 41.7 GFLOP/s in the
// simd build and 58.6 in the relaxed build; acc = acc·x + y chains ran at
// 37.7 and 58.6, and 12 chains adding one loop-invariant product at 33.3
// and 48.7.

import { madd } from "../isa";

/** Independent multiply-add chains per step. */
const CHAINS: i32 = 12;

/** Floating-point operations (multiplies plus adds) that f32_peak_madd(iterations) performs. */
export function f32_peak_madd_flops(iterations: i32): f64 {
  const lanes = ASC_FEATURE_SIMD ? 4 : 1;
  return <f64>iterations * <f64>(CHAINS * lanes * 2);
}

/** Runs `iterations` steps of CHAINS coupled multiply-add chains; returns the sum of all lanes. */
export function f32_peak_madd(iterations: i32): f32 {
  // x = 2^-30 makes every product smaller than half an ulp of the chain it is
  // added to, so the chains keep their start values (no overflow, no
  // subnormals) while every multiply and add still executes.
  const seed = <f32>(iterations & 7);
  if (ASC_FEATURE_SIMD) {
    const x = f32x4.splat(9.313225746154785e-10);
    let s0 = f32x4.splat(seed + 1), s1 = f32x4.splat(seed + 2), s2 = f32x4.splat(seed + 3);
    let s3 = f32x4.splat(seed + 4), s4 = f32x4.splat(seed + 5), s5 = f32x4.splat(seed + 6);
    let s6 = f32x4.splat(seed + 7), s7 = f32x4.splat(seed + 8), s8 = f32x4.splat(seed + 9);
    let s9 = f32x4.splat(seed + 10), s10 = f32x4.splat(seed + 11), s11 = f32x4.splat(seed + 12);
    for (let i = 0; i < iterations; i++) {
      const t0 = madd(x, s1, s0), t1 = madd(x, s2, s1), t2 = madd(x, s3, s2);
      const t3 = madd(x, s4, s3), t4 = madd(x, s5, s4), t5 = madd(x, s6, s5);
      const t6 = madd(x, s7, s6), t7 = madd(x, s8, s7), t8 = madd(x, s9, s8);
      const t9 = madd(x, s10, s9), t10 = madd(x, s11, s10), t11 = madd(x, s0, s11);
      s0 = t0; s1 = t1; s2 = t2; s3 = t3; s4 = t4; s5 = t5;
      s6 = t6; s7 = t7; s8 = t8; s9 = t9; s10 = t10; s11 = t11;
    }
    const sum = f32x4.add(
      f32x4.add(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)), f32x4.add(f32x4.add(s4, s5), f32x4.add(s6, s7))),
      f32x4.add(f32x4.add(s8, s9), f32x4.add(s10, s11)),
    );
    return f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1) + f32x4.extract_lane(sum, 2) + f32x4.extract_lane(sum, 3);
  } else {
    const x: f32 = 9.313225746154785e-10;
    let s0 = seed + 1, s1 = seed + 2, s2 = seed + 3, s3 = seed + 4, s4 = seed + 5, s5 = seed + 6;
    let s6 = seed + 7, s7 = seed + 8, s8 = seed + 9, s9 = seed + 10, s10 = seed + 11, s11 = seed + 12;
    for (let i = 0; i < iterations; i++) {
      const t0 = x * s1 + s0, t1 = x * s2 + s1, t2 = x * s3 + s2, t3 = x * s4 + s3;
      const t4 = x * s5 + s4, t5 = x * s6 + s5, t6 = x * s7 + s6, t7 = x * s8 + s7;
      const t8 = x * s9 + s8, t9 = x * s10 + s9, t10 = x * s11 + s10, t11 = x * s0 + s11;
      s0 = t0; s1 = t1; s2 = t2; s3 = t3; s4 = t4; s5 = t5;
      s6 = t6; s7 = t7; s8 = t8; s9 = t9; s10 = t10; s11 = t11;
    }
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) + ((s8 + s9) + (s10 + s11));
  }
}
