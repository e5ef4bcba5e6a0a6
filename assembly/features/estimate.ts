// Kernels behind favor.kernel.softmax and favor.kernel.gaussian: the exact
// kernel matrices, and the last step of the random-feature estimates, which
// turns feature dot products computed on shifted features back into
// estimates. All matrices are row-major with row strides in elements.
//
// Notation: SM(x, y) = exp(xᵀy) (softmax kernel) and
// K(x, y) = exp(−‖x − y‖²/2) (Gaussian kernel) = e^{−‖x‖²/2}·SM(x, y)·e^{−‖y‖²/2}.
//
// f32_kernel_exact(rowsX, rowsY, dim, x, ldx, y, ldy, gaussian, out, ldo):
//   out_ij = SM(x_i, y_j), or K(x_i, y_j) when `gaussian`. The sum over dim
//   and exp run in float64 (float32 products are exact in float64), and the
//   result is rounded once to float32, so it is within about one float32 ULP
//   of the true value: exp(xᵀy) > 3.4e38 (xᵀy above about 88.72) gives
//   +Infinity, and values below 2^-149 give 0.
//
// f32_scale_by_exp(rows, cols, c, ldc, sx, sy, hx, hy, gaussian):
//   c_ij ← c_ij·exp(sx_i + sy_j − g_ij) with g_ij = hx_i + hy_j when
//   `gaussian` and 0 otherwise, in float64, rounded once. sx, sy are the row
//   shifts that the feature maps subtracted (so c_ij is the dot product of
//   shifted features), hx, hy the half squared norms ‖x_i‖²/2, ‖y_j‖²/2.
//   A zero c_ij stays zero even when the exponential overflows float64, so
//   only a NaN shift or NaN c_ij gives NaN.
//
// f32_hybrid_combine(rows, cols, out, ldo, d1, ld1, s1x, s1y, d2, ld2, s2x, s2y,
//                    lam, ldl, a, b, divisor, hx, hy, gaussian):
//   With S1 = d1_ij scaled as in f32_scale_by_exp by shifts s1x, s1y (S2 alike)
//   and λ̂ = a + b·(lam_ij / divisor):  out_ij = (1 − λ̂)·S1 + λ̂·S2, in float64.
//   Dividing (rather than multiplying by 1/divisor) keeps λ̂ exact when lam_ij
//   is an integer count: the angular weight ½ − count/(2m) is exactly 0 or 1
//   when all m signs agree or all differ.
//   A weight that is exactly 0 drops its term, so an infinite estimate with
//   zero weight does not turn the result into NaN. out may be d1 itself
//   (same stride); each element is read before it is written.
//
// Pointers are byte addresses; sx, sy, hx, hy, s1x, ... hold one float32 per
// row (or column). No SIMD: the work per element is one float64 exp, and
// every build runs the same float64 operations, so all builds return the
// same bits for the same inputs.

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): f64 {
  return <f64>load<f32>(base + <usize>index * F32_BYTES);
}

/** Returns c·exp(e), keeping c when it is zero (unless e is NaN). */
// @ts-ignore: decorator
@inline function scaleByExp(c: f64, e: f64): f64 {
  if (c == 0 && e == e) return c;
  return c * Math.exp(e);
}

/** Writes the exact softmax or Gaussian kernel matrix (see the file header). */
export function f32_kernel_exact(
  rowsX: i32, rowsY: i32, dim: i32, x: usize, ldx: i32, y: usize, ldy: i32, gaussian: bool, out: usize, ldo: i32,
): void {
  for (let i = 0; i < rowsX; i++) {
    const xi = x + <usize>i * <usize>ldx * F32_BYTES;
    const outRow = out + <usize>i * <usize>ldo * F32_BYTES;
    for (let j = 0; j < rowsY; j++) {
      const yj = y + <usize>j * <usize>ldy * F32_BYTES;
      let sum: f64 = 0;
      if (gaussian) {
        for (let k = 0; k < dim; k++) {
          const difference = at(xi, k) - at(yj, k);
          sum += difference * difference;
        }
        sum = -0.5 * sum;
      } else {
        for (let k = 0; k < dim; k++) sum += at(xi, k) * at(yj, k);
      }
      store<f32>(outRow + <usize>j * F32_BYTES, <f32>Math.exp(sum));
    }
  }
}

/** Multiplies each c_ij by exp(sx_i + sy_j − g_ij) in float64 (see the file header). */
export function f32_scale_by_exp(
  rows: i32, cols: i32, c: usize, ldc: i32, sx: usize, sy: usize, hx: usize, hy: usize, gaussian: bool,
): void {
  for (let i = 0; i < rows; i++) {
    const row = c + <usize>i * <usize>ldc * F32_BYTES;
    let rowExponent = at(sx, i);
    if (gaussian) rowExponent -= at(hx, i);
    for (let j = 0; j < cols; j++) {
      let e = rowExponent + at(sy, j);
      if (gaussian) e -= at(hy, j);
      const p = row + <usize>j * F32_BYTES;
      store<f32>(p, <f32>scaleByExp(<f64>load<f32>(p), e));
    }
  }
}

/** Writes the hybrid estimate (1 − λ̂)·S1 + λ̂·S2 for every pair (see the file header). */
export function f32_hybrid_combine(
  rows: i32, cols: i32, out: usize, ldo: i32,
  d1: usize, ld1: i32, s1x: usize, s1y: usize,
  d2: usize, ld2: i32, s2x: usize, s2y: usize,
  lam: usize, ldl: i32, a: f64, b: f64, divisor: f64,
  hx: usize, hy: usize, gaussian: bool,
): void {
  for (let i = 0; i < rows; i++) {
    let row1 = at(s1x, i);
    let row2 = at(s2x, i);
    if (gaussian) {
      row1 -= at(hx, i);
      row2 -= at(hx, i);
    }
    const d1Row = d1 + <usize>i * <usize>ld1 * F32_BYTES;
    const d2Row = d2 + <usize>i * <usize>ld2 * F32_BYTES;
    const lamRow = lam + <usize>i * <usize>ldl * F32_BYTES;
    const outRow = out + <usize>i * <usize>ldo * F32_BYTES;
    for (let j = 0; j < cols; j++) {
      const column = gaussian ? at(hy, j) : 0;
      const weight2 = a + b * (at(lamRow, j) / divisor);
      const weight1 = 1 - weight2;
      let value: f64 = 0;
      if (weight1 != 0) value += weight1 * scaleByExp(at(d1Row, j), row1 + at(s1y, j) - column);
      if (weight2 != 0) value += weight2 * scaleByExp(at(d2Row, j), row2 + at(s2y, j) - column);
      store<f32>(outRow + <usize>j * F32_BYTES, <f32>value);
    }
  }
}
