// Householder vectors that map columns onto the positive coordinate axes,
// for turning an orthogonal matrix back into reflections and for sampling
// Haar-distributed orthogonal matrices.
//
//   f32_householder_reflect_to_axes(n, k, a, lda, v, work) -> i32:
//     Householder QR of the n×k matrix A in which reflection j maps the
//     trailing part x = A[j:, j] of column j (after reflections 0 … j−1)
//     to +‖x‖·e_j, so H(v_0)·…·H(v_{k−1})·R = A with diag(R) ≥ 0. For A with
//     orthonormal columns R = I_{n×k}, so H(v_0)·…·H(v_{k−1})·I_{n×k} = A.
//     When x is already a positive multiple of e_j, no reflection H(v) with
//     v ≠ 0 supported on rows ≥ j maps x to itself except those with v ⊥ x,
//     so the kernel takes v = e_{j+1}. Returns −1, or j when that happens in
//     the last row (j = n − 1), where no such v exists: then A is square
//     with det A = (−1)^(n−1)·|det A|, a product of n − 1 reflections.
//     A is overwritten by R (only its strict upper triangle and the rows
//     below are meaningful on return).
//   f32_householder_haar_vectors(d, g, v, work):
//     for j < d − 1, column j of V is the vector mapping x = G[j:, j] (the
//     lower triangle of the d×d matrix G, zeros above row j) to +‖x‖·e_j,
//     and column d − 1 is e_{d−1}. For G with independent N(0, 1) entries
//     the columns x are distributed like the trailing columns that
//     Householder QR of a Gaussian matrix meets, so the QR's reflections
//     are drawn without running the QR, and H(v_0)·…·H(v_{d−1}) is
//     Haar-distributed on {Q ∈ O(d): det Q = (−1)^d} (docs/householder.md
//     gives the argument).
//
// Layout: row-major with leading dimension = columns, except that a has row
// stride lda ≥ k. a, g and v are n×k (d×d), work has room for n (d) float32
// values, and no buffers overlap. The trailing updates walk column strips
// of a down all rows, so an lda near a multiple of 1 KiB (k = 512, 1024)
// slows them several times. householder.fromOrthogonal pads it (see
// paddedStride in bindings/backends/wasm/ops/linalg.ts). Every output column
// has unit norm and zeros above its diagonal entry. The vector formula is
// the stable one for a positive target (as in LAPACK's xLARFGP): with
// x = (x_0, x_rest) and σ = ‖x_rest‖², v_0 = x_0 − ‖x‖ when x_0 ≤ 0 and
// v_0 = −σ/(x_0 + ‖x‖) otherwise, which avoids cancellation. Columns are
// scaled by their largest |entry| before squaring, so no intermediate
// overflows or underflows to zero.

import { applyReflectorLeft } from "../linalg/householder";

/** formVector found a regular vector (including v = e_0 for x on the negative axis). */
const FORMED: i32 = 0;
/** formVector found x on the positive axis and wrote nothing. */
const ON_POSITIVE_AXIS: i32 = 1;

/**
 * Writes into `v` (len values, contiguous, unit norm) the vector with
 * H(v)·x = ‖x‖·e_0 for the column x of `len` entries `stride` bytes apart.
 */
function formVector(len: i32, x: usize, stride: usize, v: usize): i32 {
  let scale: f32 = 0;
  let restIsZero = true;
  for (let i = 0; i < len; i++) {
    const value = load<f32>(x + <usize>i * stride);
    scale = max(scale, abs(value));
    // A NaN entry is not 0, so it takes the general path and spreads NaN.
    if (i > 0 && value != 0) restIsZero = false;
  }
  if (restIsZero) {
    if (load<f32>(x) > 0) return ON_POSITIVE_AXIS;
    // x = −c·e_0 with c ≥ 0: H(e_0) maps it to c·e_0.
    memory.fill(v, 0, <usize>len << 2);
    store<f32>(v, 1);
    return FORMED;
  }

  const x0 = load<f32>(x) / scale;
  let sigma: f32 = 0;
  for (let i = 1; i < len; i++) {
    const value = load<f32>(x + <usize>i * stride) / scale;
    store<f32>(v + (<usize>i << 2), value);
    sigma += value * value;
  }
  const norm = sqrt<f32>(x0 * x0 + sigma);
  store<f32>(v, x0 <= 0 ? x0 - norm : -sigma / (x0 + norm));
  normalize(len, v);
  return FORMED;
}

/** Scales the len values at v to unit norm, dividing by the largest |entry| first. */
function normalize(len: i32, v: usize): void {
  let scale: f32 = 0;
  for (let i = 0; i < len; i++) scale = max(scale, abs(load<f32>(v + (<usize>i << 2))));
  let sumOfSquares: f32 = 0;
  for (let i = 0; i < len; i++) {
    const value = load<f32>(v + (<usize>i << 2)) / scale;
    sumOfSquares += value * value;
  }
  const root = sqrt<f32>(sumOfSquares);
  for (let i = 0; i < len; i++) {
    const p = v + (<usize>i << 2);
    store<f32>(p, load<f32>(p) / scale / root);
  }
}

/** Writes e_1 (len ≥ 2 values) into v. */
function secondAxis(len: i32, v: usize): void {
  memory.fill(v, 0, <usize>len << 2);
  store<f32>(v, 1, 4);
}

/** Stores the len values of `work` as column j of the n×k matrix v, below n − len zeros. */
function storeColumn(n: i32, k: i32, j: i32, len: i32, work: usize, v: usize): void {
  const top = n - len;
  for (let i = 0; i < n; i++) {
    const value: f32 = i < top ? 0 : load<f32>(work + (<usize>(i - top) << 2));
    store<f32>(v + ((<usize>i * <usize>k + <usize>j) << 2), value);
  }
}

/** Householder QR onto the positive axes (see the file header); returns −1 or the failing column. */
export function f32_householder_reflect_to_axes(n: i32, k: i32, a: usize, lda: i32, v: usize, work: usize): i32 {
  const stride = <usize>lda << 2;
  for (let j = 0; j < k; j++) {
    const len = n - j;
    const diagonal = a + ((<usize>j * <usize>lda + <usize>j) << 2);
    if (formVector(len, diagonal, stride, work) == ON_POSITIVE_AXIS) {
      if (len < 2) return j;
      secondAxis(len, work);
    }
    storeColumn(n, k, j, len, work, v);
    let ww: f32 = 0;
    for (let i = 0; i < len; i++) {
      const value = load<f32>(work + (<usize>i << 2));
      ww += value * value;
    }
    applyReflectorLeft(len, k - j - 1, diagonal + 4, lda, work, 2 / ww);
  }
  return -1;
}

/** Writes the positive-axis Householder vectors of the lower triangle of g into v (see the file header). */
export function f32_householder_haar_vectors(d: i32, g: usize, v: usize, work: usize): void {
  const stride = <usize>d << 2;
  for (let j = 0; j < d - 1; j++) {
    const len = d - j;
    if (formVector(len, g + ((<usize>j * <usize>d + <usize>j) << 2), stride, work) == ON_POSITIVE_AXIS) {
      secondAxis(len, work);
    }
    storeColumn(d, d, j, len, work, v);
  }
  store<f32>(work, 1);
  storeColumn(d, d, d - 1, 1, work, v);
}
