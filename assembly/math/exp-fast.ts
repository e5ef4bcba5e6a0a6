// A faster exp for float32, for the random-feature maps: expFastF32 for one
// value and expFastF32x4 for four lanes. Like expF32 (exp.ts), both twins run
// the same float32 operations in the same order without fused multiply-add,
// so the scalar, simd and relaxed binaries return bit-identical results
// (NaN payloads aside).
//
// Accepted range: every float32. Inputs with |x| <= FAST_LIMIT (87.3) take
// the fast path below; every other input, NaN excepted, goes to expF32, so
// underflow to subnormals and 0, overflow to +Infinity and ±Infinity behave
// exactly as in exp.ts. NaN gives NaN.
// Maximum error: 0.9895 ULP against float64 Math.exp, measured on every
// float32 in [-87.3, 87.3] by scripts/measure-math-ulp.mjs --fn expFast.
// The rest of the range goes to expF32, whose maximum is 0.7791 ULP. tests/unit/math.test.js asserts
// MAX_ULP.expFast = 0.99 on the same inputs as for expF32.
//
// Method, compared with expF32: the same reduction x = k·ln2 + r and the same
// degree-4 Q(r) in e^r ≈ 1 + r + r²·Q(r), but
//   - k = nearest(x·log2(e)) comes from adding and subtracting 1.5·2^23
//     (exact round-to-nearest-even for |x·log2(e)| < 2^22), and the low bits
//     of that sum give k, so no float-to-integer conversion is needed;
//   - the rounding error of r and of 1 + r are not added back;
//   - Q(r) is evaluated in Estrin's scheme (shorter dependency chains);
//   - e^r·2^k is one multiplication by a normal 2^k (|k| <= 126 on the fast
//     path, where every result is normal);
//   - the vector constants are read with v128.load32_splat from a static
//     table. V8 (Node 20) rebuilds a v128.const from immediates with three
//     instructions at every use inside a loop, and a splat load is one.

import { expF32, expF32x4 } from "./exp";

// @ts-ignore: decorator
@inline export const FAST_LIMIT: f32 = 87.3;
// @ts-ignore: decorator
@inline const LOG2E: f32 = reinterpret<f32>(0x3FB8AA3B); // 1.44269502
// 1.5·2^23: adding it rounds a value below 2^22 in magnitude to an integer,
// which then sits in the low mantissa bits of the sum.
// @ts-ignore: decorator
@inline const ROUNDING_SHIFTER: f32 = 12582912;
// @ts-ignore: decorator
@inline const LN2_HI: f32 = reinterpret<f32>(0x3F317200); // 0.693145751953125
// @ts-ignore: decorator
@inline const LN2_LO: f32 = reinterpret<f32>(0x35BFBE8E); // 1.42860677e-6
// Q(r) of exp.ts: Q0 + Q1·r + Q2·r² + Q3·r³ + Q4·r⁴ ≈ (e^r - 1 - r)/r².
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
// The float32 exponent bias, in place: 2^k has the bits (k + 127) << 23.
// @ts-ignore: decorator
@inline const ONE_BITS: i32 = 127 << 23;

// The constants of expFastF32x4, one float32 each, in this order.
const TABLE: usize = memory.data<f32>([
  FAST_LIMIT, LOG2E, ROUNDING_SHIFTER, LN2_HI, LN2_LO, Q0, Q1, Q2, Q3, Q4, 1, reinterpret<f32>(ONE_BITS),
]);

/** Returns entry `index` of TABLE in all four lanes. */
// @ts-ignore: decorator
@inline function splatEntry(index: i32): v128 {
  return v128.load32_splat(TABLE + (<usize>index << 2));
}

/** Returns e^x for one float32 (the scalar twin of expFastF32x4). */
// @ts-ignore: decorator
@inline export function expFastF32(x: f32): f32 {
  // NaN fails the comparison and takes expF32, which returns NaN.
  if (!(abs<f32>(x) <= FAST_LIMIT)) return expF32(x);
  const shifted = x * LOG2E + ROUNDING_SHIFTER;
  const kf = shifted - ROUNDING_SHIFTER;
  const r = (x - kf * LN2_HI) - kf * LN2_LO;
  const r2 = r * r;
  const q = (Q0 + Q1 * r) + r2 * ((Q2 + Q3 * r) + r2 * Q4);
  const p: f32 = 1 + (r + r2 * q);
  // The low bits of `shifted` are k (two's complement), so shifting them to
  // the exponent field and adding the bias gives the bits of 2^k.
  const power = reinterpret<f32>((reinterpret<i32>(shifted) << 23) + ONE_BITS);
  return p * power;
}

/**
 * Returns e^x for each of four float32 lanes with |x| <= FAST_LIMIT or NaN:
 * expFastF32x4 without its range check, for callers that have checked the
 * range of a whole row. Other inputs give wrong results.
 */
// @ts-ignore: decorator
@inline export function expFastInRangeF32x4(x: v128): v128 {
  const shifted = f32x4.add(f32x4.mul(x, splatEntry(1)), splatEntry(2));
  const kf = f32x4.sub(shifted, splatEntry(2));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(kf, splatEntry(3))), f32x4.mul(kf, splatEntry(4)));
  const r2 = f32x4.mul(r, r);
  const low = f32x4.add(splatEntry(5), f32x4.mul(splatEntry(6), r));
  const high = f32x4.add(f32x4.add(splatEntry(7), f32x4.mul(splatEntry(8), r)), f32x4.mul(r2, splatEntry(9)));
  const q = f32x4.add(low, f32x4.mul(r2, high));
  const p = f32x4.add(splatEntry(10), f32x4.add(r, f32x4.mul(r2, q)));
  const power = i32x4.add(i32x4.shl(shifted, 23), splatEntry(11));
  return f32x4.mul(p, power);
}

/** Returns e^x for each of four float32 lanes (the vector twin of expFastF32). */
// @ts-ignore: decorator
@inline export function expFastF32x4(x: v128): v128 {
  const result = expFastInRangeF32x4(x);
  // Lanes outside the fast range (NaN is not among them; it gives NaN above)
  // take expF32x4, as the scalar twin does.
  const outside = f32x4.gt(f32x4.abs(x), splatEntry(0));
  if (v128.any_true(outside)) return replaceOutsideLanes(x, result, outside);
  return result;
}

/**
 * Returns `result` with the lanes selected by `outside` replaced by
 * expF32x4(x). A separate function, so that expF32x4's constants do not
 * occupy registers in the loops that inline expFastF32x4.
 */
function replaceOutsideLanes(x: v128, result: v128, outside: v128): v128 {
  return v128.bitselect(expF32x4(x), result, outside);
}
