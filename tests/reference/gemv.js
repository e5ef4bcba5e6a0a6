// Float64 reference gemv: the readable specification f32_gemv is tested
// against. Same argument meaning as gemv (A row-major m×n).

/**
 * Returns y = alpha·op(A)·x + beta·y in float64, together with
 * magnitude[i] = |alpha|·Σ_p |op(A)_ip·x_p| + |beta·y_i|, which bounds the
 * rounding error of any float32 summation order.
 */
export function gemvReference(a, x, { m, n, trans = false, alpha = 1, beta = 0, y }) {
  const outLength = trans ? n : m;
  const inLength = trans ? m : n;
  const out = new Float64Array(outLength);
  const magnitude = new Float64Array(outLength);
  for (let i = 0; i < outLength; i++) {
    let sum = 0;
    let absSum = 0;
    for (let p = 0; p < inLength; p++) {
      const element = trans ? a[p * n + i] : a[i * n + p];
      sum += element * x[p];
      absSum += Math.abs(element * x[p]);
    }
    const old = beta === 0 ? 0 : beta * y[i];
    out[i] = alpha * sum + old;
    magnitude[i] = Math.abs(alpha) * absSum + Math.abs(old);
  }
  return { out, magnitude };
}
