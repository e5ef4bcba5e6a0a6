// exp for float32: one algorithm written twice, for one value (expF32) and
// for four lanes (expF32x4). Both run the same float32 operations in the same
// order and use no fused multiply-add, so the scalar, simd and relaxed
// binaries return bit-identical results (NaN payloads aside).
//
// Accepted range: every float32. Results below 2^-149 round to 0 and results
// above the largest float32 round to +Infinity, as correctly rounded exp
// would. exp(-Infinity) = 0, exp(+Infinity) = +Infinity, exp(NaN) = NaN.
// Maximum error: 0.7791 ULP against float64 Math.exp, measured on every
// float32 input in [-104, 89] by scripts/measure-math-ulp.mjs (all other
// inputs give exactly 0 or +Infinity). tests/unit/math.test.js asserts
// MAX_ULP.exp = 0.78 on every 1024th float32 and on every float32 whose
// result is subnormal or near the overflow threshold.
//
// Method: x = k·ln2 + r with k = nearest(x·log2(e)) and |r| <= ln2/2
// (Cody-Waite: k·LN2_HI is exact because LN2_HI has 16 significant bits and
// |k| <= 150). Then e^r ≈ 1 + r + r²·Q(r) with the degree-4 Q fitted by
// scripts/fit-math-polynomials.mjs, and e^x = e^r·2^k1·2^k2 with
// k1 = k >> 1 and k2 = k - k1. Each factor 2^k1, 2^k2 is a normal float32 for
// every clamped k, so the result is rounded once, also when it is subnormal.

// Inputs are clamped to [EXP_MIN_INPUT, EXP_MAX_INPUT] first:
// exp(-104) < 2^-150 rounds to 0 and exp(89) > 2^128 rounds to +Infinity.
// @ts-ignore: decorator
@inline const EXP_MIN_INPUT: f32 = -104;
// @ts-ignore: decorator
@inline const EXP_MAX_INPUT: f32 = 89;
// @ts-ignore: decorator
@inline const LOG2E: f32 = reinterpret<f32>(0x3FB8AA3B); // 1.44269502
// @ts-ignore: decorator
@inline const LN2_HI: f32 = reinterpret<f32>(0x3F317200); // 0.693145751953125
// @ts-ignore: decorator
@inline const LN2_LO: f32 = reinterpret<f32>(0x35BFBE8E); // 1.42860677e-6
// Q(r) = Q0 + Q1·r + Q2·r² + Q3·r³ + Q4·r⁴ ≈ (e^r - 1 - r)/r².
// @ts-ignore: decorator
@inline const Q0: f32 = reinterpret<f32>(0x3EFFFFFE); // 0.49999994
// @ts-ignore: decorator
@inline const Q1: f32 = reinterpret<f32>(0x3E2AAA45); // 0.16666515
// @ts-ignore: decorator
@inline const Q2: f32 = reinterpret<f32>(0x3D2AAC8B); // 0.041668456
// @ts-ignore: decorator
@inline const Q3: f32 = reinterpret<f32>(0x3C091FE3); // 0.0083694188
// @ts-ignore: decorator
@inline const Q4: f32 = reinterpret<f32>(0x3AB50D38); // 0.0013813144
// The exponent bias of float32.
// @ts-ignore: decorator
@inline const F32_BIAS: i32 = 127;

/** Returns e^x for one float32 (the scalar twin of expF32x4). */
// @ts-ignore: decorator
@inline export function expF32(x: f32): f32 {
  // min and max return NaN for a NaN input, so NaN flows through to the result.
  const clamped = min<f32>(max<f32>(x, EXP_MIN_INPUT), EXP_MAX_INPUT);
  const kf = nearest<f32>(clamped * LOG2E);
  const rHead = clamped - kf * LN2_HI;
  const rTailTerm = kf * LN2_LO;
  const r = rHead - rTailTerm;
  // (rHead - r) - rTailTerm is the rounding error of r, exactly when |rHead| >= |rTailTerm|.
  // Otherwise |r| < 2^-11, and its rounding error is negligible anyway.
  const rLow = (rHead - r) - rTailTerm;

  let q = Q4;
  q = q * r + Q3;
  q = q * r + Q2;
  q = q * r + Q1;
  q = q * r + Q0;
  // 1 + r is rounded to w, and (1 - w) + r, which is exact, adds back its rounding error.
  const w: f32 = 1 + r;
  const p = w + (((1 - w) + r) + (rLow + (r * r) * q));

  // Saturating conversion: a NaN kf gives k = 0, and p is already NaN.
  const k = <i32>kf;
  const k1 = k >> 1;
  const k2 = k - k1;
  const scale1 = reinterpret<f32>((k1 + F32_BIAS) << 23);
  const scale2 = reinterpret<f32>((k2 + F32_BIAS) << 23);
  return (p * scale1) * scale2;
}

/** Returns e^x for each of four float32 lanes (the vector twin of expF32). */
// @ts-ignore: decorator
@inline export function expF32x4(x: v128): v128 {
  const clamped = f32x4.min(f32x4.max(x, f32x4.splat(EXP_MIN_INPUT)), f32x4.splat(EXP_MAX_INPUT));
  const kf = f32x4.nearest(f32x4.mul(clamped, f32x4.splat(LOG2E)));
  const rHead = f32x4.sub(clamped, f32x4.mul(kf, f32x4.splat(LN2_HI)));
  const rTailTerm = f32x4.mul(kf, f32x4.splat(LN2_LO));
  const r = f32x4.sub(rHead, rTailTerm);
  const rLow = f32x4.sub(f32x4.sub(rHead, r), rTailTerm);

  let q = f32x4.splat(Q4);
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(Q3));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(Q2));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(Q1));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(Q0));
  const w = f32x4.add(f32x4.splat(1), r);
  const p = f32x4.add(w, f32x4.add(
    f32x4.add(f32x4.sub(f32x4.splat(1), w), r),
    f32x4.add(rLow, f32x4.mul(f32x4.mul(r, r), q)),
  ));

  const k = i32x4.trunc_sat_f32x4_s(kf);
  const k1 = i32x4.shr_s(k, 1);
  const k2 = i32x4.sub(k, k1);
  const scale1 = i32x4.shl(i32x4.add(k1, i32x4.splat(F32_BIAS)), 23);
  const scale2 = i32x4.shl(i32x4.add(k2, i32x4.splat(F32_BIAS)), 23);
  return f32x4.mul(f32x4.mul(p, scale1), scale2);
}
