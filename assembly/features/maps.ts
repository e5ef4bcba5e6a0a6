// Random-feature maps applied in place to z = X·Wᵀ, the rows×m product that
// the bindings compute with f32_gemm into the output buffer (row stride ldz,
// in elements). Notation: z_il = ω_l·x_i, h_i = ‖x_i‖²/2, scale is the
// normalization (m^{-1/2} or (2m)^{-1/2}), ε the additive constant.
//
//   f32_features_exp        positive:   out_il = scale·(exp(z_il − h_i − s_i) + ε),        l < m
//                           hyperbolic: also out_i,m+l = scale·(exp(−z_il − h_i − s_i) + ε)
//                           exp:        as positive without h_i
//   f32_features_trig       out_il = scale·(exp(h_i − s_i)·sin(z_il) + ε),
//                           out_i,m+l = scale·(exp(h_i − s_i)·cos(z_il) + ε)
//   f32_features_pointwise  out_il = scale·(f(z_il) + ε) for relu, elu+1, abs, identity
//
// Stabilizer s_i, chosen by `mode`:
//   SHIFT_NONE (0):    s_i = 0, the exact map (can overflow);
//   SHIFT_PER_ROW (1): s_i = the largest exponent of row i (queries), so the
//                      row's largest term is exp(0) = 1;
//   SHIFT_MAX (2):     s_i = the largest exponent of the whole call (keys);
//   SHIFT_GIVEN (3):   s_i = givenShift for every row (keys, fixed by the caller).
// "Exponent" means z_il − h_i (positive), ±z_il − h_i (hyperbolic), z_il
// (exp) and h_i (trig). With SHIFT_PER_ROW and SHIFT_MAX every exponent
// after the shift is <= 0 up to one rounding, so no finite input overflows.
// A per-row constant (queries) or one constant for all rows (keys) cancels in
// the row normalization D⁻¹·Q′·K′ᵀ of attention, up to the ε term.
//
// Row scalars: `rowScalars` holds h_i on input (ignored by the exp kind and
// by f32_features_pointwise) and receives s_i on output.
// Rounding, all builds alike: the exponent is computed as z_il − c_i with
// c_i = z-maximum of row i (SHIFT_PER_ROW, so the largest term is exactly 1)
// or c_i = h_i + s (SHIFT_MAX, SHIFT_GIVEN) or c_i = h_i (SHIFT_NONE). exp
// (the faster one of exp-fast.ts in the exponential maps), sin and cos are
// the bit-identical kernels of assembly/math, and every loop
// runs the same operations on the vector and scalar paths, so the three
// binaries return the same bits for the same z and h.
// Return value of the exponential kernels: the largest exponent of the call
// before shifting (−Infinity for an empty call, NaN if any input is NaN).
// NaN inputs give NaN outputs in their row (every row for keys).
//
// f32_half_squared_norms(rows, dim, x, ldx, out): out[i] = ‖x_i‖²/2, summed
// in four interleaved partial sums, then the dim mod 4 leftover entries, in
// the same order on every build.

import { HAS_SIMD } from "../isa";
import { expF32, expF32x4 } from "../math/exp";
import { FAST_LIMIT, expFastF32, expFastF32x4, expFastInRangeF32x4 } from "../math/exp-fast";
import { cosF32, cosOfSinCosF32x4, sinCosF32x4, sinF32 } from "../math/sincos";

export const SHIFT_NONE: i32 = 0;
export const SHIFT_PER_ROW: i32 = 1;
export const SHIFT_MAX: i32 = 2;
export const SHIFT_GIVEN: i32 = 3;

export const POINTWISE_RELU: i32 = 0;
export const POINTWISE_ELU_PLUS_ONE: i32 = 1;
export const POINTWISE_ABS: i32 = 2;
export const POINTWISE_IDENTITY: i32 = 3;

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

/** Writes ‖x_i‖²/2 for each row (see the file header for the summation order). */
export function f32_half_squared_norms(rows: i32, dim: i32, x: usize, ldx: i32, out: usize): void {
  const groups = dim & ~3;
  for (let i = 0; i < rows; i++) {
    const row = x + <usize>i * <usize>ldx * F32_BYTES;
    let sum: f32 = 0;
    if (HAS_SIMD) {
      let lanes = f32x4.splat(0);
      for (let j = 0; j < groups; j += 4) {
        const v = v128.load(row + <usize>j * F32_BYTES);
        lanes = f32x4.add(lanes, f32x4.mul(v, v));
      }
      sum = (f32x4.extract_lane(lanes, 0) + f32x4.extract_lane(lanes, 1)) +
        (f32x4.extract_lane(lanes, 2) + f32x4.extract_lane(lanes, 3));
    } else {
      let s0: f32 = 0;
      let s1: f32 = 0;
      let s2: f32 = 0;
      let s3: f32 = 0;
      for (let j = 0; j < groups; j += 4) {
        const p = row + <usize>j * F32_BYTES;
        const x0 = load<f32>(p);
        const x1 = load<f32>(p, 4);
        const x2 = load<f32>(p, 8);
        const x3 = load<f32>(p, 12);
        s0 = s0 + x0 * x0;
        s1 = s1 + x1 * x1;
        s2 = s2 + x2 * x2;
        s3 = s3 + x3 * x3;
      }
      sum = (s0 + s1) + (s2 + s3);
    }
    for (let j = groups; j < dim; j++) {
      const v = load<f32>(row + <usize>j * F32_BYTES);
      sum = sum + v * v;
    }
    store<f32>(out + <usize>i * F32_BYTES, sum * 0.5);
  }
}

// The smallest value seen by the last rowMax call (the smallest |z_l| when
// `absolute`); meaningful only when that call's maximum is not NaN.
let rowMinimum: f32 = Infinity;

/**
 * Returns max_l z_l of n values, or max_l |z_l| when `absolute`; NaN when
 * any is NaN, −Infinity when n is 0. A zero maximum is returned as +0 on
 * every build. Leaves the minimum in rowMinimum.
 */
function rowMax(n: i32, z: usize, absolute: bool): f32 {
  let m: f32 = -Infinity;
  let low: f32 = Infinity;
  let l = 0;
  if (HAS_SIMD) {
    if (n >= 4) {
      // f32x4.pmax is one instruction on x64 where f32x4.max needs about
      // eight (its NaN and ±0 rules), and two accumulators halve the
      // loop-carried chain. pmax skips NaN lanes, so NaN is tracked apart,
      // and the ±0 it may pick is made +0 below.
      let even = f32x4.splat(-Infinity);
      let odd = even;
      let evenLow = f32x4.splat(Infinity);
      let oddLow = evenLow;
      let nan = i32x4.splat(0);
      for (; l + 8 <= n; l += 8) {
        const p = z + <usize>l * F32_BYTES;
        const first = absolute ? f32x4.abs(v128.load(p)) : v128.load(p);
        const second = absolute ? f32x4.abs(v128.load(p, 16)) : v128.load(p, 16);
        even = f32x4.pmax(even, first);
        odd = f32x4.pmax(odd, second);
        evenLow = f32x4.pmin(evenLow, first);
        oddLow = f32x4.pmin(oddLow, second);
        nan = v128.or(nan, v128.or(f32x4.ne(first, first), f32x4.ne(second, second)));
      }
      if (l + 4 <= n) {
        const loaded = v128.load(z + <usize>l * F32_BYTES);
        const v = absolute ? f32x4.abs(loaded) : loaded;
        even = f32x4.pmax(even, v);
        evenLow = f32x4.pmin(evenLow, v);
        nan = v128.or(nan, f32x4.ne(v, v));
        l += 4;
      }
      const lanes = f32x4.pmax(even, odd);
      const lowLanes = f32x4.pmin(evenLow, oddLow);
      m = max<f32>(
        max<f32>(f32x4.extract_lane(lanes, 0), f32x4.extract_lane(lanes, 1)),
        max<f32>(f32x4.extract_lane(lanes, 2), f32x4.extract_lane(lanes, 3)),
      );
      low = min<f32>(
        min<f32>(f32x4.extract_lane(lowLanes, 0), f32x4.extract_lane(lowLanes, 1)),
        min<f32>(f32x4.extract_lane(lowLanes, 2), f32x4.extract_lane(lowLanes, 3)),
      );
      if (v128.any_true(nan)) m = NaN;
    }
  }
  for (; l < n; l++) {
    const v = load<f32>(z + <usize>l * F32_BYTES);
    m = max<f32>(m, absolute ? abs<f32>(v) : v);
    low = min<f32>(low, absolute ? abs<f32>(v) : v);
  }
  rowMinimum = low;
  // −0 + 0 = +0; every other value (NaN and −Infinity included) is unchanged.
  return m + 0;
}

/**
 * Writes scale·(exp(z_l − c) + ε) over z_l for l < n and, when `mirrored`,
 * scale·(exp(−z_l − c) + ε) at z + n·4 bytes onward. `inRange` promises that
 * every exponent is within ±FAST_LIMIT, so the vectors skip expFastF32x4's
 * range check; the results are the same bits either way.
 */
// @ts-ignore: decorator
@inline function expRow(n: i32, z: usize, c: f32, mirrored: bool, scale: f32, epsilon: f32, inRange: bool): void {
  let l = 0;
  if (HAS_SIMD) {
    const cv = f32x4.splat(c);
    const sv = f32x4.splat(scale);
    const ev = f32x4.splat(epsilon);
    // Two loops, so that the one-sided map does not test `mirrored` per vector.
    if (mirrored) {
      for (; l + 4 <= n; l += 4) {
        const p = z + <usize>l * F32_BYTES;
        const v = v128.load(p);
        const e = f32x4.sub(v, cv);
        const eMirror = f32x4.sub(f32x4.neg(v), cv);
        v128.store(p, f32x4.mul(f32x4.add(inRange ? expFastInRangeF32x4(e) : expFastF32x4(e), ev), sv));
        const q = p + <usize>n * F32_BYTES;
        v128.store(q, f32x4.mul(f32x4.add(inRange ? expFastInRangeF32x4(eMirror) : expFastF32x4(eMirror), ev), sv));
      }
    } else {
      for (; l + 4 <= n; l += 4) {
        const p = z + <usize>l * F32_BYTES;
        const e = f32x4.sub(v128.load(p), cv);
        v128.store(p, f32x4.mul(f32x4.add(inRange ? expFastInRangeF32x4(e) : expFastF32x4(e), ev), sv));
      }
    }
  }
  for (; l < n; l++) {
    const p = z + <usize>l * F32_BYTES;
    const v = load<f32>(p);
    store<f32>(p, (expFastF32(v - c) + epsilon) * scale);
    if (mirrored) store<f32>(p + <usize>n * F32_BYTES, (expFastF32(-v - c) + epsilon) * scale);
  }
}

// expRow for rows whose exponents are all within ±FAST_LIMIT, and for any
// row. Separate functions, each called from two places, so that the
// optimizer keeps two loops instead of testing `inRange` per vector.
function expRowInRange(n: i32, z: usize, c: f32, mirrored: bool, scale: f32, epsilon: f32): void {
  expRow(n, z, c, mirrored, scale, epsilon, true);
}

function expRowAnyRange(n: i32, z: usize, c: f32, mirrored: bool, scale: f32, epsilon: f32): void {
  expRow(n, z, c, mirrored, scale, epsilon, false);
}

/**
 * Maps one row with the shift c, given the row's largest z (|z| when
 * mirrored) `top` and smallest `bottom`. The exponents lie in
 * [bottom − c, top − c], or in [−top − c, top − c] when mirrored. Rounding
 * is monotonic, so the rounded exponents do too. A NaN bound fails the test.
 */
// @ts-ignore: decorator
@inline function expRowStabilized(
  n: i32, z: usize, c: f32, mirrored: bool, scale: f32, epsilon: f32, top: f32, bottom: f32,
): void {
  const low = mirrored ? -top : bottom;
  if (top - c <= FAST_LIMIT && low - c >= -FAST_LIMIT) {
    expRowInRange(n, z, c, mirrored, scale, epsilon);
  } else {
    expRowAnyRange(n, z, c, mirrored, scale, epsilon);
  }
}

/**
 * Returns the largest exponent max_l(z_il) − h_i (max_l |z_il| − h_i when
 * mirrored) of rows [first, end), without changing them.
 */
export function largestExponentOfRows(
  first: i32, end: i32, m: i32, z: usize, ldz: i32, rowScalars: usize, subtractNorms: bool, mirrored: bool,
): f32 {
  const rowBytes = <usize>ldz * F32_BYTES;
  let largest: f32 = -Infinity;
  for (let i = first; i < end; i++) {
    const h: f32 = subtractNorms ? load<f32>(rowScalars + <usize>i * F32_BYTES) : 0;
    largest = max<f32>(largest, rowMax(m, z + <usize>i * rowBytes, mirrored) - h);
  }
  return largest;
}

/**
 * Applies the exp map to rows [first, end) in place and stores each row's
 * shift in rowScalars. SHIFT_PER_ROW uses the row's own maximum; the other
 * modes use c_i = h_i + shift (shift 0 for SHIFT_NONE, the call's largest
 * exponent for SHIFT_MAX, the given one for SHIFT_GIVEN). Returns the
 * largest exponent of the rows before shifting.
 */
export function expMapRows(
  first: i32, end: i32, m: i32, z: usize, ldz: i32, rowScalars: usize,
  subtractNorms: bool, mirrored: bool, scale: f32, epsilon: f32, mode: i32, shift: f32,
): f32 {
  const rowBytes = <usize>ldz * F32_BYTES;
  let largest: f32 = -Infinity;
  for (let i = first; i < end; i++) {
    const row = z + <usize>i * rowBytes;
    const scalar = rowScalars + <usize>i * F32_BYTES;
    const h: f32 = subtractNorms ? load<f32>(scalar) : 0;
    const top = rowMax(m, row, mirrored);
    largest = max<f32>(largest, top - h);
    if (mode == SHIFT_PER_ROW) {
      expRowStabilized(m, row, top, mirrored, scale, epsilon, top, rowMinimum);
      store<f32>(scalar, top - h);
    } else {
      expRowStabilized(m, row, h + shift, mirrored, scale, epsilon, top, rowMinimum);
      store<f32>(scalar, shift);
    }
  }
  return largest;
}

/**
 * Applies the positive (subtractNorms, not mirrored), hyperbolic
 * (subtractNorms, mirrored) or exp (neither) map in place; see the file
 * header. Returns the largest exponent before the shift.
 */
export function f32_features_exp(
  rows: i32, m: i32, z: usize, ldz: i32, rowScalars: usize,
  subtractNorms: bool, mirrored: bool, scale: f32, epsilon: f32, mode: i32, givenShift: f32,
): f32 {
  if (mode != SHIFT_MAX) {
    const shift: f32 = mode == SHIFT_GIVEN ? givenShift : 0;
    return expMapRows(0, rows, m, z, ldz, rowScalars, subtractNorms, mirrored, scale, epsilon, mode, shift);
  }
  // SHIFT_MAX needs the largest exponent of the call before the first exp.
  const largest = largestExponentOfRows(0, rows, m, z, ldz, rowScalars, subtractNorms, mirrored);
  expMapRows(0, rows, m, z, ldz, rowScalars, subtractNorms, mirrored, scale, epsilon, mode, largest);
  return largest;
}

/** Returns max_i h_i over `rows` row scalars (−Infinity for none, NaN if any is NaN). */
export function largestHalfNorm(rows: i32, rowScalars: usize): f32 {
  let largest: f32 = -Infinity;
  for (let i = 0; i < rows; i++) largest = max<f32>(largest, load<f32>(rowScalars + <usize>i * F32_BYTES));
  return largest;
}

/**
 * Applies the trigonometric map to rows [first, end) in place (see the file
 * header); `largest` is max_i h_i over the whole call, the SHIFT_MAX shift.
 */
export function trigMapRows(
  first: i32, end: i32, m: i32, z: usize, ldz: i32, rowScalars: usize,
  scale: f32, epsilon: f32, mode: i32, givenShift: f32, largest: f32,
): void {
  const rowBytes = <usize>ldz * F32_BYTES;
  for (let i = first; i < end; i++) {
    const scalar = rowScalars + <usize>i * F32_BYTES;
    const h = load<f32>(scalar);
    let shift: f32 = 0;
    if (mode == SHIFT_PER_ROW) shift = h;
    else if (mode == SHIFT_MAX) shift = largest;
    else if (mode == SHIFT_GIVEN) shift = givenShift;
    const factor = expF32(h - shift);
    const row = z + <usize>i * rowBytes;
    let l = 0;
    if (HAS_SIMD) {
      const fv = f32x4.splat(factor);
      const sv = f32x4.splat(scale);
      const ev = f32x4.splat(epsilon);
      for (; l + 4 <= m; l += 4) {
        const p = row + <usize>l * F32_BYTES;
        const v = v128.load(p);
        const sine = sinCosF32x4(v);
        const cosine = cosOfSinCosF32x4();
        v128.store(p, f32x4.mul(f32x4.add(f32x4.mul(fv, sine), ev), sv));
        v128.store(p + <usize>m * F32_BYTES, f32x4.mul(f32x4.add(f32x4.mul(fv, cosine), ev), sv));
      }
    }
    for (; l < m; l++) {
      const p = row + <usize>l * F32_BYTES;
      const v = load<f32>(p);
      store<f32>(p, (factor * sinF32(v) + epsilon) * scale);
      store<f32>(p + <usize>m * F32_BYTES, (factor * cosF32(v) + epsilon) * scale);
    }
    store<f32>(scalar, shift);
  }
}

/** Applies the trigonometric map in place (see the file header); returns max_i h_i. */
export function f32_features_trig(
  rows: i32, m: i32, z: usize, ldz: i32, rowScalars: usize,
  scale: f32, epsilon: f32, mode: i32, givenShift: f32,
): f32 {
  const largest = largestHalfNorm(rows, rowScalars);
  trigMapRows(0, rows, m, z, ldz, rowScalars, scale, epsilon, mode, givenShift, largest);
  return largest;
}

/** Returns elu(v) + 1: v + 1 for v > 0 and exp(v) otherwise (no cancellation near 0). */
// @ts-ignore: decorator
@inline function eluPlusOne(v: f32): f32 {
  return v > 0 ? v + 1 : expF32(v);
}

/** Applies relu, elu+1, abs or identity (the POINTWISE_* codes) in place to rows×r values. */
export function f32_features_pointwise(kind: i32, rows: i32, r: i32, z: usize, ldz: i32, scale: f32, epsilon: f32): void {
  const rowBytes = <usize>ldz * F32_BYTES;
  for (let i = 0; i < rows; i++) {
    const row = z + <usize>i * rowBytes;
    let l = 0;
    if (HAS_SIMD) {
      const sv = f32x4.splat(scale);
      const ev = f32x4.splat(epsilon);
      const zero = f32x4.splat(0);
      const one = f32x4.splat(1);
      for (; l + 4 <= r; l += 4) {
        const p = row + <usize>l * F32_BYTES;
        const v = v128.load(p);
        let f = v;
        if (kind == POINTWISE_RELU) {
          // max(v, 0) that keeps NaN: select v where v > 0 or v is NaN.
          f = v128.bitselect(zero, v, f32x4.le(v, zero));
        } else if (kind == POINTWISE_ELU_PLUS_ONE) {
          f = v128.bitselect(f32x4.add(v, one), expF32x4(f32x4.min(v, zero)), f32x4.gt(v, zero));
        } else if (kind == POINTWISE_ABS) {
          f = f32x4.abs(v);
        }
        v128.store(p, f32x4.mul(f32x4.add(f, ev), sv));
      }
    }
    for (; l < r; l++) {
      const p = row + <usize>l * F32_BYTES;
      const v = load<f32>(p);
      let f = v;
      if (kind == POINTWISE_RELU) f = v <= 0 ? <f32>0 : v;
      else if (kind == POINTWISE_ELU_PLUS_ONE) f = eluPlusOne(v);
      else if (kind == POINTWISE_ABS) f = abs<f32>(v);
      store<f32>(p, (f + epsilon) * scale);
    }
  }
}
