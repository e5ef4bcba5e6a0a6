// LU factorization with partial pivoting and the solve that uses it, in the
// layout of LAPACK's xGETRF and xGETRS but row-major:
//
//   f32_getrf(n, a, lda, pivots) overwrites the n×n matrix A with L (strictly
//   below the diagonal, unit diagonal not stored) and U (on and above it), so
//   that P·A = L·U. pivots[j] (i32) is the row that was swapped with row j at
//   step j, applied in order j = 0 … n−1. Returns 0, or j + 1 for the first
//   step j whose pivot is exactly zero (A is singular). Like xGETRF it then
//   goes on factoring the remaining columns without dividing by that zero.
//
//   f32_getrs(n, cols, a, lda, pivots, b, ldb) solves A·X = B for the n×cols
//   matrix B in place, from f32_getrf's output: it swaps the rows of B as the
//   pivots say, then solves L·Y = P·B and U·X = Y with f32_trsm. The factors
//   must be nonsingular (f32_getrf returned 0).
//
// Sizes and strides are in elements; A, pivots and B must not overlap. No
// argument is checked. The pivot is the first entry of largest magnitude in
// the column, so a NaN entry is never chosen while another is finite; NaN or
// infinite entries propagate NaN.
//
// Method: right-looking elimination, one column at a time. The update of the
// rows below the pivot runs along contiguous rows, four lanes at a time on
// SIMD builds (the relaxed build may fuse the multiply-add there, so its
// results can differ from the simd build in the last bits).

import { madd } from "../isa";
import { f32_trsm } from "./trsm";

/** Factors the n×n row-major A in place as P·A = L·U (see the file header); returns 0 or the first zero pivot's step + 1. */
export function f32_getrf(n: i32, a: usize, lda: i32, pivots: usize): i32 {
  const rowBytes = <usize>lda << 2;
  let info = 0;
  for (let j = 0; j < n; j++) {
    const column = a + (<usize>j << 2);

    // Pivot search down column j.
    let pivotRow = j;
    let largest: f32 = abs(load<f32>(column + <usize>j * rowBytes));
    for (let i = j + 1; i < n; i++) {
      const magnitude = abs(load<f32>(column + <usize>i * rowBytes));
      if (magnitude > largest) {
        largest = magnitude;
        pivotRow = i;
      }
    }
    store<i32>(pivots + (<usize>j << 2), pivotRow);
    if (pivotRow != j) swapRows(a + <usize>j * rowBytes, a + <usize>pivotRow * rowBytes, n);

    const rowJ = a + <usize>j * rowBytes;
    const pivot = load<f32>(rowJ + (<usize>j << 2));
    if (pivot == 0) {
      if (info == 0) info = j + 1;
      continue;
    }

    // Rows below: l = a[i][j] / pivot, then a[i][j+1:] −= l · a[j][j+1:].
    const tail = n - j - 1;
    const pivotTail = rowJ + (<usize>(j + 1) << 2);
    for (let i = j + 1; i < n; i++) {
      const rowI = a + <usize>i * rowBytes;
      const l = load<f32>(rowI + (<usize>j << 2)) / pivot;
      store<f32>(rowI + (<usize>j << 2), l);
      if (l != 0) subtractScaledRow(tail, l, pivotTail, rowI + (<usize>(j + 1) << 2));
    }
  }
  return info;
}

/** Solves A·X = B in place of B from f32_getrf's factors and pivots (see the file header). */
export function f32_getrs(n: i32, cols: i32, a: usize, lda: i32, pivots: usize, b: usize, ldb: i32): void {
  const rowBytesB = <usize>ldb << 2;
  for (let j = 0; j < n; j++) {
    const pivotRow = load<i32>(pivots + (<usize>j << 2));
    if (pivotRow != j) swapRows(b + <usize>j * rowBytesB, b + <usize>pivotRow * rowBytesB, cols);
  }
  f32_trsm(n, cols, a, lda, b, ldb, true, false, true);
  f32_trsm(n, cols, a, lda, b, ldb, false, false, false);
}

function swapRows(x: usize, y: usize, count: i32): void {
  for (let c = 0; c < count; c++) {
    const offset = <usize>c << 2;
    const t = load<f32>(x + offset);
    store<f32>(x + offset, load<f32>(y + offset));
    store<f32>(y + offset, t);
  }
}

/** y[c] −= l·x[c] for c < count. */
function subtractScaledRow(count: i32, l: f32, x: usize, y: usize): void {
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f32x4.splat(-l);
    for (; c + 4 <= count; c += 4) {
      const offset = <usize>c << 2;
      v128.store(y + offset, madd(s, v128.load(x + offset), v128.load(y + offset)));
    }
  }
  for (; c < count; c++) {
    const offset = <usize>c << 2;
    store<f32>(y + offset, load<f32>(y + offset) - l * load<f32>(x + offset));
  }
}
