// Float64 reference GEMM: the readable specification the WASM kernels are
// tested against. Same argument meaning as matmul (row-major, element strides).

/**
 * Returns C = alpha·op(A)·op(B) + beta·C in float64, together with
 * magnitude[i] = alpha·Σ_p |op(A)_ip·op(B)_pj| + |beta·C_ij|, which bounds the
 * rounding error of any f32 summation order.
 */
export function gemmReference(a, b, { m, n, k, transA = false, transB = false, alpha = 1, beta = 0, c, batch = 1 }) {
  const out = new Float64Array(batch * m * n);
  const magnitude = new Float64Array(batch * m * n);
  for (let item = 0; item < batch; item++) {
    const aBase = item * m * k;
    const bBase = item * k * n;
    const cBase = item * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        let absSum = 0;
        for (let p = 0; p < k; p++) {
          const x = transA ? a[aBase + p * m + i] : a[aBase + i * k + p];
          const y = transB ? b[bBase + j * k + p] : b[bBase + p * n + j];
          sum += x * y;
          absSum += Math.abs(x * y);
        }
        const old = beta === 0 ? 0 : beta * c[cBase + i * n + j];
        out[cBase + i * n + j] = alpha * sum + old;
        magnitude[cBase + i * n + j] = Math.abs(alpha) * absSum + Math.abs(old);
      }
    }
  }
  return { out, magnitude };
}
