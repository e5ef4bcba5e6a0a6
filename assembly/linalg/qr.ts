// Householder QR of a row-major m×n matrix, in the layout of LAPACK's
// xGEQRF and xORGQR but row-major:
//
//   f32_geqrf(m, n, a, lda, tau, work) overwrites A with R on and above the
//   diagonal and the Householder vectors below it, and writes the k = min(m, n)
//   scalars tau. Then A = H_0·H_1·…·H_{k−1}·R with H_j = I − tau_j·v_j·v_jᵀ,
//   where v_j is 0 above row j, 1 at row j, and a[i, j] below (i > j).
//
//   f32_orgqr(m, qcols, k, a, lda, tau, q, ldq, work) writes the first qcols
//   columns of H_0·…·H_{k−1} into the m×qcols matrix Q (k ≤ qcols ≤ m):
//   qcols = k gives the thin Q, qcols = m the full one.
//
// Sizes and strides are in elements, and `work` must have room for 5·m + 16
// float32 values. A, tau, Q and work must not overlap. No argument is
// checked.
//
// Blocking: on SIMD builds both kernels apply the reflections in blocks of
// BLOCK_SIZE (4) through the compact WY form I − V·T·Vᵀ (see
// householder.ts), which reads the trailing matrix twice per block instead
// of twice per reflection. The scalar build applies one at a time.
//
// Row stride: both kernels walk strips of a few columns down all rows, twice
// per block. With lda or ldq within a few floats of a multiple of 1 KiB, the
// rows of a strip share a few cache sets and the second pass misses the
// caches. The qr op pads such strides to an odd number of 64-byte lines
// (paddedStride in bindings/backends/wasm/ops/linalg.ts). At n = 1024 that
// took QR from about 14 to 18 GFLOP/s (relaxed build, CPU time, on the
// 2-core AMD EPYC development machine under Node 20).
//
// Sign of diag(R), as in LAPACK's xLARFG: reflection j maps the column
// (alpha, x) below and on the diagonal to (beta, 0) with
// beta = −sign(alpha)·‖(alpha, x)‖₂ and sign(±0) = +1, so R[j][j] < 0 when
// alpha ≥ 0 and R[j][j] > 0 when alpha < 0. When x is exactly zero (a zero
// column, a column that earlier steps reduced exactly, or the last row of a
// matrix with m ≤ n), tau_j = 0, H_j = I and R[j][j] = alpha keeps its sign,
// possibly 0. This keeps zero columns free of NaN. A rank-deficient column
// usually leaves rounding-level entries in x instead, which the scaled norm
// reflects like any other column.
//
// Scaling: the norm is computed from entries divided by the largest |entry|
// of the column, so the sum of squares lies in [1, m] and cannot overflow or
// underflow. The result is accurate while the column norm itself is a normal
// float32 (about 1.2e-38 to 3.4e38). Accumulation is in float32 in row
// order. NaN or infinite entries propagate NaN.

import { applyBlockReflectorLeft, applyReflectorLeft, BLOCK_SIZE, formBlockReflector } from "./householder";

/** Factors the m×n row-major A in place into R and Householder vectors (see the file header). */
export function f32_geqrf(m: i32, n: i32, a: usize, lda: i32, tau: usize, work: usize): void {
  const k = min(m, n);
  const v = work + (<usize>m << 2);
  const t = v + (<usize>m << 4);
  let j = 0;
  // Blocked steps: reflect BLOCK_SIZE columns one at a time, updating only
  // those columns, then update the columns to their right in one pass.
  for (; BLOCK_SIZE > 0 && j + BLOCK_SIZE <= k && j + BLOCK_SIZE < n; j += BLOCK_SIZE) {
    for (let panel = j; panel < j + BLOCK_SIZE; panel++) {
      reflectColumn(m, panel, a, lda, tau, work, j + BLOCK_SIZE - panel - 1);
    }
    const diagonal = a + ((<usize>j * <usize>lda + <usize>j) << 2);
    formBlockReflector(m - j, diagonal, lda, tau + (<usize>j << 2), v, t);
    applyBlockReflectorLeft(m - j, n - j - BLOCK_SIZE, diagonal + (<usize>BLOCK_SIZE << 2), lda, v, t, true);
  }
  for (; j < k; j++) reflectColumn(m, j, a, lda, tau, work, n - j - 1);
}

/**
 * Forms reflection j from column j on and below the diagonal (see the file
 * header), stores it in A and tau, and applies it to the `update` columns
 * right of the diagonal. Leaves the vector in `work` with work[0] = 1.
 */
function reflectColumn(m: i32, j: i32, a: usize, lda: i32, tau: usize, work: usize, update: i32): void {
  const rowBytes = <usize>lda << 2;
  const diagonal = a + ((<usize>j * <usize>lda + <usize>j) << 2);
  const below = m - j - 1;

  let scale: f32 = 0;
  let p = diagonal;
  for (let i = 0; i < below; i++) {
    p += rowBytes;
    scale = max(scale, abs(load<f32>(p)));
  }
  // scale is 0 only when every entry below the diagonal is ±0, and then
  // H_j = I and R[j][j] stays alpha. A NaN fails the test and propagates.
  if (scale == 0) {
    store<f32>(tau + (<usize>j << 2), 0);
    return;
  }

  const alpha = load<f32>(diagonal);
  const s = max(scale, abs(alpha));
  const alphaScaled = alpha / s;
  let sumOfSquares: f32 = alphaScaled * alphaScaled;
  p = diagonal;
  for (let i = 0; i < below; i++) {
    p += rowBytes;
    const x = load<f32>(p) / s;
    sumOfSquares += x * x;
  }
  const norm = s * sqrt<f32>(sumOfSquares);
  const beta: f32 = alpha >= 0 ? -norm : norm;
  // |alpha − beta| = |alpha| + norm ≥ every |x_i|, so |v_i| ≤ 1.
  const pivot = alpha - beta;

  store<f32>(work, 1);
  p = diagonal;
  for (let i = 1; i <= below; i++) {
    p += rowBytes;
    const vi = load<f32>(p) / pivot;
    store<f32>(p, vi);
    store<f32>(work + (<usize>i << 2), vi);
  }
  const tauj = (beta - alpha) / beta;
  store<f32>(diagonal, beta);
  store<f32>(tau + (<usize>j << 2), tauj);

  applyReflectorLeft(m - j, update, diagonal + 4, lda, work, tauj);
}

/** Writes the first qcols columns of Q = H_0·…·H_{k−1} from f32_geqrf's output (see the file header). */
export function f32_orgqr(
  m: i32, qcols: i32, k: i32, a: usize, lda: i32, tau: usize, q: usize, ldq: i32, work: usize,
): void {
  for (let i = 0; i < m; i++) {
    const row = q + ((<usize>i * <usize>ldq) << 2);
    memory.fill(row, 0, <usize>qcols << 2);
    if (i < qcols) store<f32>(row + (<usize>i << 2), 1);
  }
  // Backward accumulation: Q ← H_j·Q for j = k−1 … 0. Before step j the
  // columns c < j of Q are still e_c, zero in rows ≥ j, so H_j only changes
  // the block of rows ≥ j and columns ≥ j. The reflections past the last
  // full block go one at a time, then whole blocks from the last one down.
  const rowBytes = <usize>lda << 2;
  const blocked = BLOCK_SIZE > 0 ? k - k % BLOCK_SIZE : 0;
  for (let j = k - 1; j >= blocked; j--) {
    const tauj = load<f32>(tau + (<usize>j << 2));
    if (tauj == 0) continue;
    store<f32>(work, 1);
    let p = a + ((<usize>j * <usize>lda + <usize>j) << 2);
    for (let i = 1; i < m - j; i++) {
      p += rowBytes;
      store<f32>(work + (<usize>i << 2), load<f32>(p));
    }
    applyReflectorLeft(m - j, qcols - j, q + ((<usize>j * <usize>ldq + <usize>j) << 2), ldq, work, tauj);
  }
  const v = work + (<usize>m << 2);
  const t = v + (<usize>m << 4);
  for (let j = blocked - BLOCK_SIZE; BLOCK_SIZE > 0 && j >= 0; j -= BLOCK_SIZE) {
    const diagonal = a + ((<usize>j * <usize>lda + <usize>j) << 2);
    formBlockReflector(m - j, diagonal, lda, tau + (<usize>j << 2), v, t);
    applyBlockReflectorLeft(m - j, qcols - j, q + ((<usize>j * <usize>ldq + <usize>j) << 2), ldq, v, t, false);
  }
}
