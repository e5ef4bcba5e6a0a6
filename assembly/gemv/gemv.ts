// f32_gemv: y = alpha·op(A)·x + beta·y, with A an m×n row-major matrix
// (sizes in elements, row stride n).
//   trans = false: op(A) = A, x has n entries, y has m entries;
//   trans = true:  op(A) = Aᵀ, x has m entries, y has n entries.
// y must not overlap A or x. When beta is 0 the old contents of y are
// ignored, so NaN in an uninitialized y does not propagate (the BLAS
// convention). Sums accumulate in float32; the relaxed binary may fuse the
// multiply-adds, so its last bits can differ from the simd binary's.
//
// SIMD strategy: without trans each y[i] is a dot product along a
// contiguous row, computed four rows at a time (one x load feeds four
// rows). With trans each y[j] sums down a column, so sixteen adjacent
// columns are accumulated at once from contiguous pieces of each row.

import { HAS_SIMD, madd } from "../isa";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

/** Returns alpha·sum + beta·old, skipping old when beta is 0. */
// @ts-ignore: decorator
@inline function scaleResult(alpha: f32, sum: f32, beta: f32, old: f32): f32 {
  return beta == 0 ? alpha * sum : alpha * sum + beta * old;
}

/** Returns the sum of the four lanes of v as (v0 + v2) + (v1 + v3). */
// @ts-ignore: decorator
@inline function sumLanes(v: v128): f32 {
  const folded = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(folded, 0) + f32x4.extract_lane(folded, 1);
}

/** y = alpha·A·x + beta·y. */
function gemvRows(m: i32, n: i32, alpha: f32, a: usize, x: usize, beta: f32, y: usize): void {
  const rowBytes = <usize>n * F32_BYTES;
  let i = 0;
  if (HAS_SIMD) {
    const n4 = n & ~3;
    for (; i + 4 <= m; i += 4) {
      const row0 = a + <usize>i * rowBytes;
      const row1 = row0 + rowBytes;
      const row2 = row1 + rowBytes;
      const row3 = row2 + rowBytes;
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
      for (let j = 0; j < n4; j += 4) {
        const offset = <usize>j * F32_BYTES;
        const xs = v128.load(x + offset);
        acc0 = madd(v128.load(row0 + offset), xs, acc0);
        acc1 = madd(v128.load(row1 + offset), xs, acc1);
        acc2 = madd(v128.load(row2 + offset), xs, acc2);
        acc3 = madd(v128.load(row3 + offset), xs, acc3);
      }
      let sum0 = sumLanes(acc0), sum1 = sumLanes(acc1), sum2 = sumLanes(acc2), sum3 = sumLanes(acc3);
      for (let j = n4; j < n; j++) {
        const offset = <usize>j * F32_BYTES;
        const xj = load<f32>(x + offset);
        sum0 += load<f32>(row0 + offset) * xj;
        sum1 += load<f32>(row1 + offset) * xj;
        sum2 += load<f32>(row2 + offset) * xj;
        sum3 += load<f32>(row3 + offset) * xj;
      }
      const target = y + <usize>i * F32_BYTES;
      store<f32>(target, scaleResult(alpha, sum0, beta, load<f32>(target)));
      store<f32>(target, scaleResult(alpha, sum1, beta, load<f32>(target, 4)), 4);
      store<f32>(target, scaleResult(alpha, sum2, beta, load<f32>(target, 8)), 8);
      store<f32>(target, scaleResult(alpha, sum3, beta, load<f32>(target, 12)), 12);
    }
  }
  // Remaining rows (all rows in the scalar binary), one dot product each.
  for (; i < m; i++) {
    const row = a + <usize>i * rowBytes;
    let sum: f32 = 0;
    for (let j = 0; j < n; j++) {
      const offset = <usize>j * F32_BYTES;
      sum += load<f32>(row + offset) * load<f32>(x + offset);
    }
    const target = y + <usize>i * F32_BYTES;
    store<f32>(target, scaleResult(alpha, sum, beta, load<f32>(target)));
  }
}

/** y = alpha·Aᵀ·x + beta·y. */
function gemvColumns(m: i32, n: i32, alpha: f32, a: usize, x: usize, beta: f32, y: usize): void {
  const rowBytes = <usize>n * F32_BYTES;
  let j = 0;
  if (HAS_SIMD) {
    // Sixteen columns (four vectors) per pass down the rows, then four.
    for (; j + 16 <= n; j += 16) {
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
      let source = a + <usize>j * F32_BYTES;
      for (let i = 0; i < m; i++) {
        const xi = f32x4.splat(load<f32>(x + <usize>i * F32_BYTES));
        acc0 = madd(v128.load(source), xi, acc0);
        acc1 = madd(v128.load(source, 16), xi, acc1);
        acc2 = madd(v128.load(source, 32), xi, acc2);
        acc3 = madd(v128.load(source, 48), xi, acc3);
        source += rowBytes;
      }
      const target = y + <usize>j * F32_BYTES;
      v128.store(target, scaleVector(alpha, acc0, beta, target));
      v128.store(target + 16, scaleVector(alpha, acc1, beta, target + 16));
      v128.store(target + 32, scaleVector(alpha, acc2, beta, target + 32));
      v128.store(target + 48, scaleVector(alpha, acc3, beta, target + 48));
    }
    for (; j + 4 <= n; j += 4) {
      let acc = f32x4.splat(0);
      let source = a + <usize>j * F32_BYTES;
      for (let i = 0; i < m; i++) {
        acc = madd(v128.load(source), f32x4.splat(load<f32>(x + <usize>i * F32_BYTES)), acc);
        source += rowBytes;
      }
      const target = y + <usize>j * F32_BYTES;
      v128.store(target, scaleVector(alpha, acc, beta, target));
    }
  }
  // Remaining columns (all columns in the scalar binary), four at a time
  // with one accumulator each, then one at a time.
  for (; j + 4 <= n; j += 4) {
    let sum0: f32 = 0, sum1: f32 = 0, sum2: f32 = 0, sum3: f32 = 0;
    let source = a + <usize>j * F32_BYTES;
    for (let i = 0; i < m; i++) {
      const xi = load<f32>(x + <usize>i * F32_BYTES);
      sum0 += load<f32>(source) * xi;
      sum1 += load<f32>(source, 4) * xi;
      sum2 += load<f32>(source, 8) * xi;
      sum3 += load<f32>(source, 12) * xi;
      source += rowBytes;
    }
    const target = y + <usize>j * F32_BYTES;
    store<f32>(target, scaleResult(alpha, sum0, beta, load<f32>(target)));
    store<f32>(target, scaleResult(alpha, sum1, beta, load<f32>(target, 4)), 4);
    store<f32>(target, scaleResult(alpha, sum2, beta, load<f32>(target, 8)), 8);
    store<f32>(target, scaleResult(alpha, sum3, beta, load<f32>(target, 12)), 12);
  }
  for (; j < n; j++) {
    let sum: f32 = 0;
    let source = a + <usize>j * F32_BYTES;
    for (let i = 0; i < m; i++) {
      sum += load<f32>(source) * load<f32>(x + <usize>i * F32_BYTES);
      source += rowBytes;
    }
    const target = y + <usize>j * F32_BYTES;
    store<f32>(target, scaleResult(alpha, sum, beta, load<f32>(target)));
  }
}

/** Returns alpha·sum + beta·(four floats at old), skipping old when beta is 0. */
// @ts-ignore: decorator
@inline function scaleVector(alpha: f32, sum: v128, beta: f32, old: usize): v128 {
  const scaled = f32x4.mul(f32x4.splat(alpha), sum);
  if (beta == 0) return scaled;
  return f32x4.add(scaled, f32x4.mul(f32x4.splat(beta), v128.load(old)));
}

export function f32_gemv(m: i32, n: i32, alpha: f32, a: usize, trans: bool, x: usize, beta: f32, y: usize): void {
  if (trans) {
    gemvColumns(m, n, alpha, a, x, beta, y);
  } else {
    gemvRows(m, n, alpha, a, x, beta, y);
  }
}
