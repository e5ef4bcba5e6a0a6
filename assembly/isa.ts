// Compile-time description of the instruction set this binary targets.
// One source builds three binaries (see asconfig.json): `scalar` has no
// SIMD, `simd` uses WebAssembly SIMD128, and `relaxed` adds relaxed SIMD
// (f32x4.relaxed_madd, a fused multiply-add where the hardware has one).
// The constants fold at compile time, so each binary keeps one code path.

/** True when the binary is built with SIMD128. */
export const HAS_SIMD: bool = ASC_FEATURE_SIMD;
/** True when the binary is built with relaxed SIMD. */
export const HAS_RELAXED_SIMD: bool = ASC_FEATURE_RELAXED_SIMD;

/** Returns a·b + c per lane: one fused instruction in the relaxed binary. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** Returns the binary's instruction-set name: "relaxed", "simd" or "scalar". */
export function isaName(): i32 {
  // 2, 1, 0 so the bindings can map the code without passing strings.
  if (ASC_FEATURE_RELAXED_SIMD) return 2;
  if (ASC_FEATURE_SIMD) return 1;
  return 0;
}
