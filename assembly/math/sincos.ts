// sin and cos for float32: one algorithm written for one value (sinF32,
// cosF32) and for four lanes (sinF32x4, cosF32x4). Both run the same
// operations in the same order without fused multiply-add, so the scalar,
// simd and relaxed binaries return bit-identical results (NaN payloads aside).
//
// Accepted range: every float32. sin(±Infinity), cos(±Infinity) and NaN
// inputs give NaN; sin(-0) = -0.
// Maximum error against float64 Math.sin and Math.cos: 0.9063 ULP for sin
// and 0.9150 ULP for cos over every float32 with |x| <= 2^20, and 0.5 ULP
// (plus the float64 error) above, where every 64th input was measured
// (scripts/measure-math-ulp.mjs). tests/unit/math.test.js asserts
// MAX_ULP.sin = 0.91 and MAX_ULP.cos = 0.92 on every 1024th float32, on the
// float32 values nearest to every multiple of π/2 up to 2^20, and at the
// inputs with the largest measured errors.
//
// Large |x|: the error in ULPs does not grow with |x|. Up to 2^20 the
// reduction below leaves r accurate to about 2^-64 absolute, and larger
// inputs go through the float64 Math.sin and Math.cos of the AssemblyScript
// standard library (full Payne-Hanek reduction), rounded to float32. Its
// float32 Mathf.sin and Mathf.cos are not used because they return wrong
// results for some inputs near 1e27 (AssemblyScript 0.27.37).
// What does grow with |x| is the sensitivity to the input. A float32
// argument near |x| carries a rounding error of up to |x|·2^-24 (6e-5 at
// |x| = 1e3), and sin and cos pass that error on unchanged as an absolute
// error. So for an argument computed in float32, such as a random-feature
// projection, expect about |x|·2^-24 absolute error in the result, however
// exact sin and cos are.
//
// Method: x = k·π/2 + r with k = nearest(x·2/π), computed in float64.
// PIO2_HI has 33 significant bits, so k·PIO2_HI and x - k·PIO2_HI are exact
// for |k| < 2^20, and PIO2_LO carries the next 53 bits of π/2. r is then
// split into a float32 pair rHigh + rLow, and the quadrant k mod 4 picks
// ±sin(|r|) or ±cos(|r|). Both are float32 polynomials fitted by
// scripts/fit-math-polynomials.mjs, with rLow and the rounding error of
// 1 - a²/2 added back as corrections:
//   sin a ≈ a + a³·S(a²),  cos a ≈ 1 - a²/2 + a⁴·C(a²),  0 <= a <= π/4.
// The polynomials run on |r| and the sign is applied afterwards, which keeps
// sin(-0) = -0.

// Inputs with |x| above REDUCTION_LIMIT take the standard library path.
// @ts-ignore: decorator
@inline const REDUCTION_LIMIT: f32 = 1048576; // 2^20
// @ts-ignore: decorator
@inline const TWO_OVER_PI: f64 = reinterpret<f64>(0x3FE45F306DC9C883); // 0.6366197723675814
// @ts-ignore: decorator
@inline const PIO2_HI: f64 = reinterpret<f64>(0x3FF921FB54400000); // 1.5707963267341256
// @ts-ignore: decorator
@inline const PIO2_LO: f64 = reinterpret<f64>(0x3DD0B4611A626331); // 6.077100506506192e-11
// S(z) = S0 + S1·z + S2·z² + S3·z³ ≈ (sin a - a)/a³ with z = a².
// @ts-ignore: decorator
@inline const S0: f32 = reinterpret<f32>(0xBE2AAAAB); // -0.16666667
// @ts-ignore: decorator
@inline const S1: f32 = reinterpret<f32>(0x3C088884); // 0.0083333291
// @ts-ignore: decorator
@inline const S2: f32 = reinterpret<f32>(0xB9500786); // -0.00019839228
// @ts-ignore: decorator
@inline const S3: f32 = reinterpret<f32>(0x36365B71); // 2.7173339e-6
// C(z) = C0 + C1·z + C2·z² + C3·z³ ≈ (cos a - 1 + a²/2)/a⁴ with z = a².
// @ts-ignore: decorator
@inline const C0: f32 = reinterpret<f32>(0x3D2AAAAB); // 0.041666668
// @ts-ignore: decorator
@inline const C1: f32 = reinterpret<f32>(0xBAB60B5B); // -0.0013888882
// @ts-ignore: decorator
@inline const C2: f32 = reinterpret<f32>(0x37D007CC); // 2.4799163e-5
// @ts-ignore: decorator
@inline const C3: f32 = reinterpret<f32>(0xB491F11C); // -2.7183785e-7
// @ts-ignore: decorator
@inline const SIGN_BIT: i32 = i32.MIN_VALUE; // 0x80000000

/**
 * Returns sin(x) when `quadrantShift` is 0 and cos(x) when it is 1, for one
 * float32 with |x| <= REDUCTION_LIMIT (cos(x) = sin(x + π/2) shifts the quadrant by one).
 */
// @ts-ignore: decorator
@inline function sinQuadrantF32(x: f32, quadrantShift: i32): f32 {
  const xd = <f64>x;
  const kd = nearest<f64>(xd * TWO_OVER_PI);
  const rd = (xd - kd * PIO2_HI) - kd * PIO2_LO;
  // r = rHigh + rLow to about 48 bits; rLow is the rounding error of rHigh.
  const rHigh = <f32>rd;
  const rLow = <f32>(rd - <f64>rHigh);
  const quadrant = <i32>kd + quadrantShift;

  // a + aLow = |r|. When k = 0, r = x exactly, and x gives the sign so that
  // sin(-0) = -0 (the subtraction above turns -0 into +0).
  const rSign = reinterpret<i32>(kd == 0 ? x : rHigh) & SIGN_BIT;
  const a = abs<f32>(rHigh);
  const aLow = reinterpret<f32>(reinterpret<i32>(rLow) ^ rSign);
  const z = a * a;
  let s = S3;
  s = s * z + S2;
  s = s * z + S1;
  s = s * z + S0;
  // sin(a + aLow) ≈ a + (aLow + a³·S(a²)).
  const sinA = a + (aLow + (a * z) * s);
  let c = C3;
  c = c * z + C2;
  c = c * z + C1;
  c = c * z + C0;
  // cos(a + aLow) ≈ 1 - a²/2 + (a⁴·C(a²) - a·aLow). 1 - a²/2 is rounded to w,
  // and (1 - w) - a²/2, which is exact, adds back the rounding error.
  const half: f32 = 0.5 * z;
  const w: f32 = 1 - half;
  const cosA = w + (((1 - w) - half) + ((z * z) * c - a * aLow));

  // Quadrants 0..3 give sin r, cos r, -sin r, -cos r; sin is odd, so its
  // branch also takes the sign of r.
  const odd = (quadrant & 1) != 0;
  const magnitude = odd ? cosA : sinA;
  let sign = (quadrant & 2) << 30;
  if (!odd) sign ^= rSign;
  return reinterpret<f32>(reinterpret<i32>(magnitude) ^ sign);
}

/** Returns sin(x) for one float32 (the scalar twin of sinF32x4). */
// @ts-ignore: decorator
@inline export function sinF32(x: f32): f32 {
  // NaN fails the comparison and goes through the fast path, which returns NaN.
  if (abs<f32>(x) > REDUCTION_LIMIT) return largeArgument(x, false);
  return sinQuadrantF32(x, 0);
}

/** Returns cos(x) for one float32 (the scalar twin of cosF32x4). */
// @ts-ignore: decorator
@inline export function cosF32(x: f32): f32 {
  if (abs<f32>(x) > REDUCTION_LIMIT) return largeArgument(x, true);
  return sinQuadrantF32(x, 1);
}

/** Returns sin(x) or cos(x) through the standard library's full range reduction. */
function largeArgument(x: f32, isCos: bool): f32 {
  return isCos ? <f32>Math.cos(<f64>x) : <f32>Math.sin(<f64>x);
}

/** Replaces the lanes of `result` whose input exceeds REDUCTION_LIMIT (lane indices must be constants). */
function patchLargeLanes(x: v128, result: v128, isCos: bool): v128 {
  const x0 = v128.extract_lane<f32>(x, 0);
  if (abs<f32>(x0) > REDUCTION_LIMIT) result = v128.replace_lane<f32>(result, 0, largeArgument(x0, isCos));
  const x1 = v128.extract_lane<f32>(x, 1);
  if (abs<f32>(x1) > REDUCTION_LIMIT) result = v128.replace_lane<f32>(result, 1, largeArgument(x1, isCos));
  const x2 = v128.extract_lane<f32>(x, 2);
  if (abs<f32>(x2) > REDUCTION_LIMIT) result = v128.replace_lane<f32>(result, 2, largeArgument(x2, isCos));
  const x3 = v128.extract_lane<f32>(x, 3);
  if (abs<f32>(x3) > REDUCTION_LIMIT) result = v128.replace_lane<f32>(result, 3, largeArgument(x3, isCos));
  return result;
}

// The vector twins: sinCosF32x4 computes sin and cos of four lanes from one
// range reduction, and sinF32x4 and cosF32x4 use it. Each lane runs the
// operations of sinQuadrantF32 on the same values, so it returns the same
// bits as the scalar twins, with these differences in how, not what:
//   - the float64 reduction runs on two lanes at a time;
//   - the reduction, the polynomials and the corrections run once for both
//     functions, and the quadrant picks the result for each;
//   - k = nearest(x·2/π) comes from adding and subtracting 1.5·2^52 in
//     float64 (exact round-to-nearest-even below 2^51, the same value), and
//     the low word of that sum gives k as an integer. A k of −0 becomes +0,
//     which changes no result: x − 0·PIO2_HI = x for x ≠ 0, and for k = 0
//     the sign comes from x;
//   - constants are read with load splats from a static table. V8 (Node 20)
//     rebuilds a v128.const from immediates with three instructions at every
//     use inside a loop, and a splat load is one.

// 1.5·2^52: adding it rounds a float64 below 2^51 in magnitude to an integer,
// which then sits in the low word of the sum.
// @ts-ignore: decorator
@inline const ROUNDING_SHIFTER_F64: f64 = 6755399441055744;

// Float64 constants of sinCosF32x4, in this order.
const TABLE_F64: usize = memory.data<f64>([TWO_OVER_PI, PIO2_HI, PIO2_LO, ROUNDING_SHIFTER_F64]);
// Float32 constants of sinCosF32x4, in this order.
const TABLE_F32: usize = memory.data<f32>([S0, S1, S2, S3, C0, C1, C2, C3, 0.5, 1, REDUCTION_LIMIT]);

/** Returns float64 entry `index` of TABLE_F64 in both lanes. */
// @ts-ignore: decorator
@inline function splatF64(index: i32): v128 {
  return v128.load64_splat(TABLE_F64 + (<usize>index << 3));
}

/** Returns float32 entry `index` of TABLE_F32 in all four lanes. */
// @ts-ignore: decorator
@inline function splatF32(index: i32): v128 {
  return v128.load32_splat(TABLE_F32 + (<usize>index << 2));
}

// The cosines of the last sinCosF32x4 call, 16 bytes. A static slot rather
// than a v128 global, which the scalar build cannot declare. A variable, so
// that each thread of a threaded build can keep its own slot
// (useCosineSlot), because static data is shared by every instance on one
// memory.
let LAST_COSINES: usize = memory.data(16, 16);

/** Makes this instance keep the cosines of sinCosF32x4 at `slot` (16 bytes, 16-byte aligned). */
export function useCosineSlot(slot: usize): void {
  LAST_COSINES = slot;
}

/**
 * Returns sin(x) for each of four float32 lanes and leaves cos(x) for
 * cosOfSinCosF32x4; the same bits as sinF32x4(x) and cosF32x4(x).
 */
// @ts-ignore: decorator
@inline export function sinCosF32x4(x: v128): v128 {
  // Float64 reduction, two lanes at a time.
  const xLow = f64x2.promote_low_f32x4(x);
  const xHigh = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3));
  const shiftedLow = f64x2.add(f64x2.mul(xLow, splatF64(0)), splatF64(3));
  const shiftedHigh = f64x2.add(f64x2.mul(xHigh, splatF64(0)), splatF64(3));
  const kLow = f64x2.sub(shiftedLow, splatF64(3));
  const kHigh = f64x2.sub(shiftedHigh, splatF64(3));
  const rLow = f64x2.sub(f64x2.sub(xLow, f64x2.mul(kLow, splatF64(1))), f64x2.mul(kLow, splatF64(2)));
  const rHigh = f64x2.sub(f64x2.sub(xHigh, f64x2.mul(kHigh, splatF64(1))), f64x2.mul(kHigh, splatF64(2)));
  const r = v128.shuffle<i64>(f32x4.demote_f64x2_zero(rLow), f32x4.demote_f64x2_zero(rHigh), 0, 2);
  const rTailLow = f64x2.sub(rLow, f64x2.promote_low_f32x4(r));
  const rTailHigh = f64x2.sub(rHigh, f64x2.promote_low_f32x4(v128.shuffle<f32>(r, r, 2, 3, 2, 3)));
  const rTail = v128.shuffle<i64>(f32x4.demote_f64x2_zero(rTailLow), f32x4.demote_f64x2_zero(rTailHigh), 0, 2);
  // The low words of the shifted sums are k (two's complement).
  const k = v128.shuffle<i32>(shiftedLow, shiftedHigh, 0, 2, 4, 6);

  const zero = i32x4.splat(0);
  const rSign = v128.and(v128.bitselect(x, r, i32x4.eq(k, zero)), i32x4.shl(i32x4.splat(1), 31));
  const a = f32x4.abs(r);
  const aLow = v128.xor(rTail, rSign);
  const z = f32x4.mul(a, a);
  let s = splatF32(3);
  s = f32x4.add(f32x4.mul(s, z), splatF32(2));
  s = f32x4.add(f32x4.mul(s, z), splatF32(1));
  s = f32x4.add(f32x4.mul(s, z), splatF32(0));
  const sinA = f32x4.add(a, f32x4.add(aLow, f32x4.mul(f32x4.mul(a, z), s)));
  let c = splatF32(7);
  c = f32x4.add(f32x4.mul(c, z), splatF32(6));
  c = f32x4.add(f32x4.mul(c, z), splatF32(5));
  c = f32x4.add(f32x4.mul(c, z), splatF32(4));
  const half = f32x4.mul(splatF32(8), z);
  const one = splatF32(9);
  const w = f32x4.sub(one, half);
  const cosA = f32x4.add(w, f32x4.add(
    f32x4.sub(f32x4.sub(one, w), half),
    f32x4.sub(f32x4.mul(f32x4.mul(z, z), c), f32x4.mul(a, aLow)),
  ));

  // sin x takes quadrant k and cos x quadrant k + 1 of the sinQuadrantF32
  // rule: an odd quadrant picks cos a, quadrant bit 1 flips the sign, and
  // the even one also takes the sign of r.
  const odd = i32x4.eq(v128.and(k, i32x4.splat(1)), i32x4.splat(1));
  const sinSign = v128.xor(i32x4.shl(v128.and(k, i32x4.splat(2)), 30), v128.andnot(rSign, odd));
  const kNext = i32x4.add(k, i32x4.splat(1));
  const cosSign = v128.xor(i32x4.shl(v128.and(kNext, i32x4.splat(2)), 30), v128.and(rSign, odd));
  let sine = v128.xor(v128.bitselect(cosA, sinA, odd), sinSign);
  let cosine = v128.xor(v128.bitselect(sinA, cosA, odd), cosSign);

  if (v128.any_true(f32x4.gt(f32x4.abs(x), splatF32(10)))) {
    sine = patchLargeLanes(x, sine, false);
    cosine = patchLargeLanes(x, cosine, true);
  }
  v128.store(LAST_COSINES, cosine);
  return sine;
}

/** Returns the cosines of the last sinCosF32x4 call. */
// @ts-ignore: decorator
@inline export function cosOfSinCosF32x4(): v128 {
  return v128.load(LAST_COSINES);
}

/** Returns sin(x) for each of four float32 lanes (the vector twin of sinF32). */
// @ts-ignore: decorator
@inline export function sinF32x4(x: v128): v128 {
  return sinCosF32x4(x);
}

/** Returns cos(x) for each of four float32 lanes (the vector twin of cosF32). */
// @ts-ignore: decorator
@inline export function cosF32x4(x: v128): v128 {
  sinCosF32x4(x);
  return cosOfSinCosF32x4();
}
