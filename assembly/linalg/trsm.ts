// f32_trsm: triangular solve op(A)·X = B from the left, X overwriting B.
//
// Layout: row-major. A is n×n with row stride lda. Only its lower triangle
// (lower) or upper triangle (!lower) is read, and with unitDiagonal the
// diagonal is not read either but taken as 1. op(A) is Aᵀ when transpose is
// set. B is n×cols with row stride ldb and is overwritten by X. Sizes and
// strides are in elements, and A and B must not overlap.
//
// Method: substitution, one row of X at a time, forward when op(A) is lower
// triangular (lower without transpose, or upper with it) and backward
// otherwise:
//   x_i = (b_i − Σ_p op(A)[i][p]·x_p) / op(A)[i][i]
// with p running in increasing order over the rows already solved. The
// columns of B go in strips (16 or 4 columns on SIMD builds, 4 or 1
// otherwise) whose row of x_i stays in registers while the sum runs. Every
// column gets the same operations in the same order, except that the
// relaxed build may fuse the multiply-add in vector strips but not in the
// remainder columns.
//
// The kernel assumes a nonzero, finite diagonal when unitDiagonal is false:
// the bindings check it, and a zero divisor here would give ±Infinity or NaN.

import { madd } from "../isa";

/** Solves op(A)·X = B for X in place of B (see the file header). */
export function f32_trsm(
  n: i32, cols: i32, a: usize, lda: i32, b: usize, ldb: i32,
  lower: bool, transpose: bool, unitDiagonal: bool,
): void {
  const forward = lower != transpose;
  // Byte steps that move op(A)[i][p] one step in i (down a row of op(A)) and in p.
  const stepI: usize = transpose ? 4 : <usize>lda << 2;
  const stepP: usize = transpose ? <usize>lda << 2 : 4;
  const rowBytesB = <usize>ldb << 2;

  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 16 <= cols; c += 16) {
      const strip = b + (<usize>c << 2);
      for (let step = 0; step < n; step++) {
        const i = forward ? step : n - 1 - step;
        const rowI = strip + <usize>i * rowBytesB;
        let x0 = v128.load(rowI);
        let x1 = v128.load(rowI, 16);
        let x2 = v128.load(rowI, 32);
        let x3 = v128.load(rowI, 48);
        const from = forward ? 0 : i + 1;
        const to = forward ? i : n;
        let coefficient = a + <usize>i * stepI + <usize>from * stepP;
        let rowP = strip + <usize>from * rowBytesB;
        for (let p = from; p < to; p++) {
          const s = f32x4.neg(v128.load32_splat(coefficient));
          x0 = madd(s, v128.load(rowP), x0);
          x1 = madd(s, v128.load(rowP, 16), x1);
          x2 = madd(s, v128.load(rowP, 32), x2);
          x3 = madd(s, v128.load(rowP, 48), x3);
          coefficient += stepP;
          rowP += rowBytesB;
        }
        if (!unitDiagonal) {
          const d = v128.load32_splat(a + <usize>i * (stepI + stepP));
          x0 = f32x4.div(x0, d);
          x1 = f32x4.div(x1, d);
          x2 = f32x4.div(x2, d);
          x3 = f32x4.div(x3, d);
        }
        v128.store(rowI, x0);
        v128.store(rowI, x1, 16);
        v128.store(rowI, x2, 32);
        v128.store(rowI, x3, 48);
      }
    }
    for (; c + 4 <= cols; c += 4) {
      const strip = b + (<usize>c << 2);
      for (let step = 0; step < n; step++) {
        const i = forward ? step : n - 1 - step;
        const rowI = strip + <usize>i * rowBytesB;
        let x0 = v128.load(rowI);
        const from = forward ? 0 : i + 1;
        const to = forward ? i : n;
        let coefficient = a + <usize>i * stepI + <usize>from * stepP;
        let rowP = strip + <usize>from * rowBytesB;
        for (let p = from; p < to; p++) {
          x0 = madd(f32x4.neg(v128.load32_splat(coefficient)), v128.load(rowP), x0);
          coefficient += stepP;
          rowP += rowBytesB;
        }
        if (!unitDiagonal) {
          x0 = f32x4.div(x0, v128.load32_splat(a + <usize>i * (stepI + stepP)));
        }
        v128.store(rowI, x0);
      }
    }
  } else {
    for (; c + 4 <= cols; c += 4) {
      const strip = b + (<usize>c << 2);
      for (let step = 0; step < n; step++) {
        const i = forward ? step : n - 1 - step;
        const rowI = strip + <usize>i * rowBytesB;
        let x0 = load<f32>(rowI);
        let x1 = load<f32>(rowI, 4);
        let x2 = load<f32>(rowI, 8);
        let x3 = load<f32>(rowI, 12);
        const from = forward ? 0 : i + 1;
        const to = forward ? i : n;
        let coefficient = a + <usize>i * stepI + <usize>from * stepP;
        let rowP = strip + <usize>from * rowBytesB;
        for (let p = from; p < to; p++) {
          const s = -load<f32>(coefficient);
          x0 += s * load<f32>(rowP);
          x1 += s * load<f32>(rowP, 4);
          x2 += s * load<f32>(rowP, 8);
          x3 += s * load<f32>(rowP, 12);
          coefficient += stepP;
          rowP += rowBytesB;
        }
        if (!unitDiagonal) {
          const d = load<f32>(a + <usize>i * (stepI + stepP));
          x0 /= d;
          x1 /= d;
          x2 /= d;
          x3 /= d;
        }
        store<f32>(rowI, x0);
        store<f32>(rowI, x1, 4);
        store<f32>(rowI, x2, 8);
        store<f32>(rowI, x3, 12);
      }
    }
  }
  for (; c < cols; c++) {
    const column = b + (<usize>c << 2);
    for (let step = 0; step < n; step++) {
      const i = forward ? step : n - 1 - step;
      const rowI = column + <usize>i * rowBytesB;
      let x = load<f32>(rowI);
      const from = forward ? 0 : i + 1;
      const to = forward ? i : n;
      let coefficient = a + <usize>i * stepI + <usize>from * stepP;
      let rowP = column + <usize>from * rowBytesB;
      for (let p = from; p < to; p++) {
        x += -load<f32>(coefficient) * load<f32>(rowP);
        coefficient += stepP;
        rowP += rowBytesB;
      }
      if (!unitDiagonal) x /= load<f32>(a + <usize>i * (stepI + stepP));
      store<f32>(rowI, x);
    }
  }
}
