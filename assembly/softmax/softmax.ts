// f32_softmax_rows and f32_logsumexp_rows: row-wise softmax and log-sum-exp
// of a rows×cols row-major matrix x (sizes in elements, cols >= 1).
//   softmax:   out[i][j] = exp(x[i][j] - m_i) / Σ_l exp(x[i][l] - m_i),  m_i = max_l x[i][l]
//   logsumexp: out[i]    = m_i + log Σ_l exp(x[i][l] - m_i)
// Subtracting the row maximum keeps every exponent <= 0, so no finite input
// overflows: the largest term is exp(0) = 1, the sum lies in [1, cols], and
// terms that underflow are below 2^-149 of the largest one.
//
// Rows that are not all finite:
//   - any NaN:                    softmax row all NaN, logsumexp NaN;
//   - any +Infinity (no NaN):     softmax row all NaN (Infinity - Infinity has
//                                 no value, and an infinite logit usually means
//                                 an overflow upstream), logsumexp +Infinity;
//   - every entry -Infinity:      softmax row all 0 (no entry has weight, so a
//                                 fully masked attention row adds nothing),
//                                 logsumexp -Infinity;
//   - some entries -Infinity:     those entries get weight exactly 0.
//
// Aliasing: softmax may run in place (out == x); partial overlap is not
// allowed. logsumexp's out (rows values) must not overlap x.
// Every binary sums in the same order (four interleaved partial sums, then
// the leftover cols mod 4 entries), and exp is bit-identical across binaries,
// so all three builds return the same bits.

import { HAS_SIMD } from "../isa";
import { expF32, expF32x4 } from "../math/exp";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

/** Returns the maximum of n floats at x, or NaN when any of them is NaN. */
function rowMax(n: i32, x: usize): f32 {
  let m: f32 = -Infinity;
  let i = 0;
  if (HAS_SIMD) {
    if (n >= 4) {
      // f32x4.max returns NaN when either operand is NaN, like f32.max.
      let lanes = f32x4.splat(-Infinity);
      for (; i + 4 <= n; i += 4) lanes = f32x4.max(lanes, v128.load(x + <usize>i * F32_BYTES));
      m = max<f32>(
        max<f32>(f32x4.extract_lane(lanes, 0), f32x4.extract_lane(lanes, 1)),
        max<f32>(f32x4.extract_lane(lanes, 2), f32x4.extract_lane(lanes, 3)),
      );
    }
  }
  for (; i < n; i++) m = max<f32>(m, load<f32>(x + <usize>i * F32_BYTES));
  return m;
}

/**
 * Returns Σ exp(x[j] - shift) for j < n, and stores each term to out[j] when
 * `keepTerms` is true. Term j of the first n - n mod 4 terms goes to the
 * partial sum s(j mod 4). The four sums are combined as (s0 + s2) + (s1 + s3),
 * and the remaining terms are added one by one.
 */
// @ts-ignore: decorator
@inline function sumExpShifted(n: i32, x: usize, shift: f32, out: usize, keepTerms: bool): f32 {
  let sum: f32 = 0;
  let i = 0;
  if (HAS_SIMD) {
    const shiftLanes = f32x4.splat(shift);
    let lanes = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const offset = <usize>i * F32_BYTES;
      const terms = expF32x4(f32x4.sub(v128.load(x + offset), shiftLanes));
      if (keepTerms) v128.store(out + offset, terms);
      lanes = f32x4.add(lanes, terms);
    }
    // [s0 + s2, s1 + s3, ...], then lane 0 + lane 1.
    const folded = f32x4.add(lanes, v128.shuffle<f32>(lanes, lanes, 2, 3, 0, 1));
    sum = f32x4.extract_lane(folded, 0) + f32x4.extract_lane(folded, 1);
  } else {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (; i + 4 <= n; i += 4) {
      const base = x + <usize>i * F32_BYTES;
      const t0 = expF32(load<f32>(base) - shift);
      const t1 = expF32(load<f32>(base, 4) - shift);
      const t2 = expF32(load<f32>(base, 8) - shift);
      const t3 = expF32(load<f32>(base, 12) - shift);
      if (keepTerms) {
        const target = out + <usize>i * F32_BYTES;
        store<f32>(target, t0);
        store<f32>(target, t1, 4);
        store<f32>(target, t2, 8);
        store<f32>(target, t3, 12);
      }
      s0 += t0;
      s1 += t1;
      s2 += t2;
      s3 += t3;
    }
    sum = (s0 + s2) + (s1 + s3);
  }
  for (; i < n; i++) {
    const term = expF32(load<f32>(x + <usize>i * F32_BYTES) - shift);
    if (keepTerms) store<f32>(out + <usize>i * F32_BYTES, term);
    sum += term;
  }
  return sum;
}

/** Stores `value` to n floats at out. */
function fillRow(n: i32, out: usize, value: f32): void {
  for (let i = 0; i < n; i++) store<f32>(out + <usize>i * F32_BYTES, value);
}

/** Divides n floats at out by `divisor` in place. */
function divideRow(n: i32, out: usize, divisor: f32): void {
  let i = 0;
  if (HAS_SIMD) {
    const lanes = f32x4.splat(divisor);
    for (; i + 4 <= n; i += 4) {
      const ptr = out + <usize>i * F32_BYTES;
      v128.store(ptr, f32x4.div(v128.load(ptr), lanes));
    }
  }
  for (; i < n; i++) {
    const ptr = out + <usize>i * F32_BYTES;
    store<f32>(ptr, load<f32>(ptr) / divisor);
  }
}

export function f32_softmax_rows(rows: i32, cols: i32, x: usize, out: usize): void {
  const rowBytes = <usize>cols * F32_BYTES;
  for (let row = 0; row < rows; row++) {
    const xRow = x + <usize>row * rowBytes;
    const outRow = out + <usize>row * rowBytes;
    const m = rowMax(cols, xRow);
    if (m == -Infinity) {
      fillRow(cols, outRow, 0);
    } else if (isNaN(m) || m == Infinity) {
      fillRow(cols, outRow, NaN);
    } else {
      // The sum is at least exp(0) = 1 from the maximum entry.
      const sum = sumExpShifted(cols, xRow, m, outRow, true);
      divideRow(cols, outRow, sum);
    }
  }
}

export function f32_logsumexp_rows(rows: i32, cols: i32, x: usize, out: usize): void {
  const rowBytes = <usize>cols * F32_BYTES;
  for (let row = 0; row < rows; row++) {
    const xRow = x + <usize>row * rowBytes;
    const m = rowMax(cols, xRow);
    let result: f32;
    if (!isFinite(m)) {
      // NaN, +Infinity and -Infinity (every entry -Infinity) are the result already.
      result = m;
    } else {
      const sum = sumExpShifted(cols, xRow, m, 0, false);
      // sum lies in [1, cols], so log(sum) is in [0, log(cols)]. The addition
      // runs in float64, which leaves the final float32 rounding as the main error.
      result = <f32>(<f64>m + Math.log(<f64>sum));
    }
    store<f32>(out + <usize>row * F32_BYTES, result);
  }
}
