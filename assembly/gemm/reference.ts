// f32_gemm_reference: the slow, obvious GEMM that every fast GEMM path is
// tested against. For each of `batch` matrices:
//   C = alpha·op(A)·op(B) + beta·C
//
// Layout: row-major. op(A) is m×k, op(B) is k×n, C is m×n. Leading
// dimensions (lda, ldb, ldc) and batch strides (strideA, strideB, strideC)
// are in elements. A stride of 0 reuses the same matrix for every batch
// item. With transA the stored A is k×m, so element (i, p) of op(A) is
// a[p·lda + i]; likewise transB stores B as n×k. C must not alias A or B.
// Accumulates in f32 in index order. When beta is 0 the old contents of C
// are ignored, so NaN in an uninitialized C does not propagate (the BLAS
// convention).

export function f32_gemm_reference(
  batch: i32, m: i32, n: i32, k: i32, alpha: f32,
  a: usize, lda: i32, strideA: i32, transA: bool,
  b: usize, ldb: i32, strideB: i32, transB: bool,
  beta: f32, c: usize, ldc: i32, strideC: i32,
): void {
  for (let item = 0; item < batch; item++) {
    const aBase = a + (<usize>item * <usize>strideA << 2);
    const bBase = b + (<usize>item * <usize>strideB << 2);
    const cBase = c + (<usize>item * <usize>strideC << 2);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum: f32 = 0;
        for (let p = 0; p < k; p++) {
          const aIndex = transA ? p * lda + i : i * lda + p;
          const bIndex = transB ? j * ldb + p : p * ldb + j;
          sum += load<f32>(aBase + (<usize>aIndex << 2)) * load<f32>(bBase + (<usize>bIndex << 2));
        }
        const cPtr = cBase + (<usize>(i * ldc + j) << 2);
        const old: f32 = beta == 0 ? 0 : beta * load<f32>(cPtr);
        store<f32>(cPtr, alpha * sum + old);
      }
    }
  }
}
