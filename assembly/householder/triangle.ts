// Small dense helpers of the CWY paths, each O(rows·cols):
//
//   f32_householder_p(k, a, lda): a ← 𝒫(a) = striu(a) + ½·diag(a) in place,
//   the map that turns the Gram matrix UᵀU into the CWY matrix S.
//   f32_householder_mirror_upper(k, a, lda): copies the strict upper
//   triangle onto the lower one, so a becomes striu(a) + striu(a)ᵀ + diag(a),
//   which is 𝒫(a) + 𝒫(a)ᵀ, the symmetric term of the CWY gradient.
//   f32_householder_subtract(rows, cols, a, lda, b, ldb): b ← b − a.
//   f32_householder_eye(rows, cols, a, lda): a ← the first cols columns of
//   the rows×rows identity (rows ≥ cols).
//
// Row-major, with sizes and leading dimensions in elements. The a and b of
// f32_householder_subtract must not overlap.

/** Overwrites the k×k matrix a with striu(a) + ½·diag(a). */
export function f32_householder_p(k: i32, a: usize, lda: i32): void {
  for (let i = 0; i < k; i++) {
    const row = a + ((<usize>i * <usize>lda) << 2);
    memory.fill(row, 0, <usize>i << 2);
    const diagonal = row + (<usize>i << 2);
    store<f32>(diagonal, load<f32>(diagonal) * 0.5);
  }
}

/** Copies the strict upper triangle of the k×k matrix a onto its lower triangle. */
export function f32_householder_mirror_upper(k: i32, a: usize, lda: i32): void {
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      store<f32>(a + ((<usize>j * <usize>lda + <usize>i) << 2), load<f32>(a + ((<usize>i * <usize>lda + <usize>j) << 2)));
    }
  }
}

/** Subtracts the rows×cols matrix a from b in place. */
export function f32_householder_subtract(rows: i32, cols: i32, a: usize, lda: i32, b: usize, ldb: i32): void {
  for (let i = 0; i < rows; i++) {
    const rowA = a + ((<usize>i * <usize>lda) << 2);
    const rowB = b + ((<usize>i * <usize>ldb) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= cols; j += 4) {
        const offset = <usize>j << 2;
        v128.store(rowB + offset, f32x4.sub(v128.load(rowB + offset), v128.load(rowA + offset)));
      }
    }
    for (; j < cols; j++) {
      const offset = <usize>j << 2;
      store<f32>(rowB + offset, load<f32>(rowB + offset) - load<f32>(rowA + offset));
    }
  }
}

/** Writes the first cols columns of the rows×rows identity into a. */
export function f32_householder_eye(rows: i32, cols: i32, a: usize, lda: i32): void {
  for (let i = 0; i < rows; i++) {
    const row = a + ((<usize>i * <usize>lda) << 2);
    memory.fill(row, 0, <usize>cols << 2);
    if (i < cols) store<f32>(row + (<usize>i << 2), 1);
  }
}
