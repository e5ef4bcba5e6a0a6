// Linear combinations and parts of matrices, the glue between GEMM, LU and
// the matrix functions (expm, cayley) that the bindings compose in one
// scope. Each kernel is a plain loop in a fixed order with no fused
// multiply-add, so all three builds return the same bits.
//
// Layout: row-major; sizes, leading dimensions and counts in elements.
// `count` kernels treat their arguments as flat arrays. Kernels that read a
// transpose (skew and symmetric parts, transposed block copies) need an
// output that does not overlap their input; the others allow out == x. A
// `beta` of 0 ignores the old output, NaN included (the BLAS convention).
// No argument is checked.

/** Returns max_j Σ_i |a[i][j]|, the 1-norm of the rows×cols matrix A, accumulated in float64. */
export function f32_matrix_norm1(rows: i32, cols: i32, a: usize, lda: i32): f64 {
  let largest: f64 = 0;
  for (let j = 0; j < cols; j++) {
    let sum: f64 = 0;
    let p = a + (<usize>j << 2);
    for (let i = 0; i < rows; i++) {
      sum += abs(<f64>load<f32>(p));
      p += <usize>lda << 2;
    }
    // A NaN column makes the norm NaN rather than being skipped by max.
    if (!(sum <= largest)) largest = sum;
  }
  return largest;
}

/** Returns Σ x[i]², accumulated in float64. */
export function f32_sum_squares(count: i32, x: usize): f64 {
  let sum: f64 = 0;
  for (let i = 0; i < count; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    sum += v * v;
  }
  return sum;
}

/** y = alpha·x + beta·y elementwise; y may be x. */
export function f32_axpby(count: i32, alpha: f32, x: usize, beta: f32, y: usize): void {
  for (let i = 0; i < count; i++) {
    const offset = <usize>i << 2;
    const scaled = alpha * load<f32>(x + offset);
    store<f32>(y + offset, beta == 0 ? scaled : scaled + beta * load<f32>(y + offset));
  }
}

/** out = value in every element. */
export function f32_fill(count: i32, value: f32, out: usize): void {
  for (let i = 0; i < count; i++) store<f32>(out + (<usize>i << 2), value);
}

/** sum = v + u and difference = v − u elementwise; the outputs may be v or u only if they are distinct from each other. */
export function f32_sum_difference(count: i32, v: usize, u: usize, sum: usize, difference: usize): void {
  for (let i = 0; i < count; i++) {
    const offset = <usize>i << 2;
    const vi = load<f32>(v + offset);
    const ui = load<f32>(u + offset);
    store<f32>(sum + offset, vi + ui);
    store<f32>(difference + offset, vi - ui);
  }
}

/** out = alpha·(X − Xᵀ) + beta·out for the n×n X (contiguous); out must not overlap X. */
export function f32_skew_part(n: i32, alpha: f32, x: usize, beta: f32, out: usize): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const value = alpha * (load<f32>(x + (<usize>(i * n + j) << 2)) - load<f32>(x + (<usize>(j * n + i) << 2)));
      const target = out + (<usize>(i * n + j) << 2);
      store<f32>(target, beta == 0 ? value : value + beta * load<f32>(target));
    }
  }
}

/** out = alpha·(X + Xᵀ) + beta·out for the n×n X (contiguous); out must not overlap X. */
export function f32_symmetric_part(n: i32, alpha: f32, x: usize, beta: f32, out: usize): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const value = alpha * (load<f32>(x + (<usize>(i * n + j) << 2)) + load<f32>(x + (<usize>(j * n + i) << 2)));
      const target = out + (<usize>(i * n + j) << 2);
      store<f32>(target, beta == 0 ? value : value + beta * load<f32>(target));
    }
  }
}

/** out = X + alpha·I for the n×n X (contiguous); out may be X. */
export function f32_add_identity(n: i32, alpha: f32, x: usize, out: usize): void {
  const count = n * n;
  if (out != x) memory.copy(out, x, <usize>count << 2);
  for (let i = 0; i < n; i++) {
    const p = out + (<usize>(i * n + i) << 2);
    store<f32>(p, load<f32>(p) + alpha);
  }
}

/**
 * Writes the rows×cols block dst = alpha·op(src), where op(src) is src or its
 * transpose: dst[i][j] = alpha·src[i][j], or alpha·src[j][i] with transpose.
 * dst must not overlap src when transposing.
 */
export function f32_copy_block(
  rows: i32, cols: i32, alpha: f32, src: usize, lds: i32, transpose: bool, dst: usize, ldd: i32,
): void {
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const index = transpose ? j * lds + i : i * lds + j;
      store<f32>(dst + (<usize>(i * ldd + j) << 2), alpha * load<f32>(src + (<usize>index << 2)));
    }
  }
}
