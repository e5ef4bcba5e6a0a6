// Float64 references for qr and triangularSolve, and the float64 residuals
// that the tests compare against their error bounds. Matrices are row-major
// arrays of any numeric type, with the same argument meaning as the public ops.

/**
 * Householder QR in float64 with LAPACK's sign convention (the one f32_geqrf
 * documents): step j maps (alpha, x) to beta = −sign(alpha)·‖(alpha, x)‖ with
 * sign(±0) = +1, and skips the step (H = I) when x is all zeros. Returns the
 * full Q (rows×rows) and R (rows×cols) as Float64Arrays.
 */
export function qrReference(a, rows, cols) {
  const r = Float64Array.from(a);
  const q = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) q[i * rows + i] = 1;
  const k = Math.min(rows, cols);
  for (let j = 0; j < k; j++) {
    let below = 0;
    for (let i = j + 1; i < rows; i++) below = Math.max(below, Math.abs(r[i * cols + j]));
    if (below === 0) continue;
    const alpha = r[j * cols + j];
    let sum = 0;
    for (let i = j; i < rows; i++) sum += r[i * cols + j] ** 2;
    const beta = alpha >= 0 ? -Math.sqrt(sum) : Math.sqrt(sum);
    // H = I − 2·u·uᵀ/(uᵀu) with u = (alpha − beta, x).
    const u = new Float64Array(rows);
    u[j] = alpha - beta;
    for (let i = j + 1; i < rows; i++) u[i] = r[i * cols + j];
    let uu = 0;
    for (let i = j; i < rows; i++) uu += u[i] * u[i];
    for (let c = j; c < cols; c++) {
      let dot = 0;
      for (let i = j; i < rows; i++) dot += u[i] * r[i * cols + c];
      const f = (2 * dot) / uu;
      for (let i = j; i < rows; i++) r[i * cols + c] -= f * u[i];
    }
    for (let i = j + 1; i < rows; i++) r[i * cols + j] = 0;
    // Q ← Q·H, so Q = H_0·…·H_j.
    for (let row = 0; row < rows; row++) {
      let dot = 0;
      for (let i = j; i < rows; i++) dot += q[row * rows + i] * u[i];
      const f = (2 * dot) / uu;
      for (let i = j; i < rows; i++) q[row * rows + i] -= f * u[i];
    }
  }
  return { q, r };
}

/** Frobenius norm of a row-major matrix (any length). */
export function frobenius(values) {
  let scale = 0;
  for (const v of values) scale = Math.max(scale, Math.abs(v));
  if (scale === 0) return 0;
  let sum = 0;
  for (const v of values) sum += (v / scale) ** 2;
  return scale * Math.sqrt(sum);
}

/**
 * Residuals of a computed factorization a ≈ q·r, in float64: the
 * reconstruction error ‖q·r − a‖_F and the loss of orthogonality
 * ‖qᵀq − I‖_F, with q rows×qCols and r qCols×cols.
 */
export function qrResiduals(a, q, r, rows, cols, qCols) {
  const difference = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      for (let p = 0; p < qCols; p++) sum += q[i * qCols + p] * r[p * cols + c];
      difference[i * cols + c] = sum - a[i * cols + c];
    }
  }
  const gram = new Float64Array(qCols * qCols);
  for (let x = 0; x < qCols; x++) {
    for (let y = 0; y < qCols; y++) {
      let sum = 0;
      for (let i = 0; i < rows; i++) sum += q[i * qCols + x] * q[i * qCols + y];
      gram[x * qCols + y] = sum - (x === y ? 1 : 0);
    }
  }
  return { reconstruction: frobenius(difference), orthogonality: frobenius(gram) };
}

/** Element (i, p) of op(A) for an n×n row-major A, reading only the named triangle. */
function opElement(a, n, i, p, { lower, transpose, unitDiagonal }) {
  const row = transpose ? p : i;
  const col = transpose ? i : p;
  if (row === col) return unitDiagonal ? 1 : a[row * n + col];
  const inTriangle = lower ? col < row : col > row;
  return inTriangle ? a[row * n + col] : 0;
}

/** Returns the dense op(A) in float64 (n×n), zero outside the named triangle. */
export function triangularOperator(a, options) {
  const { n } = options;
  const dense = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let p = 0; p < n; p++) dense[i * n + p] = opElement(a, n, i, p, options);
  return dense;
}

/** Solves op(A)·X = B in float64 by substitution on the dense op(A); returns X (n×cols). */
export function triangularSolveReference(a, b, options) {
  const { n, cols } = options;
  const t = triangularOperator(a, options);
  const isLower = options.lower !== Boolean(options.transpose);
  const x = Float64Array.from(b);
  for (let step = 0; step < n; step++) {
    const i = isLower ? step : n - 1 - step;
    for (let c = 0; c < cols; c++) {
      let sum = x[i * cols + c];
      for (let p = 0; p < n; p++) if (p !== i) sum -= t[i * n + p] * x[p * cols + c];
      x[i * cols + c] = sum / t[i * n + i];
    }
  }
  return x;
}

/**
 * Componentwise residual of a computed X in float64: residual = |op(A)·X − B|
 * and magnitude = |op(A)|·|X|, both n×cols.
 */
export function triangularResidual(a, b, x, options) {
  const { n, cols } = options;
  const t = triangularOperator(a, options);
  const residual = new Float64Array(n * cols);
  const magnitude = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      let absSum = 0;
      for (let p = 0; p < n; p++) {
        const term = t[i * n + p] * x[p * cols + c];
        sum += term;
        absSum += Math.abs(term);
      }
      residual[i * cols + c] = Math.abs(sum - b[i * cols + c]);
      magnitude[i * cols + c] = absSum;
    }
  }
  return { residual, magnitude };
}

/**
 * |op(A)⁻¹| in float64 (n×n), the factor that turns a backward error
 * |ΔT| ≤ g·|op(A)| into the forward bound |X̂ − X| ≤ g·|op(A)⁻¹|·|op(A)|·|X̂|.
 */
export function absInverse(a, options) {
  const { n } = options;
  const identity = new Float64Array(n * n);
  for (let i = 0; i < n; i++) identity[i * n + i] = 1;
  return triangularSolveReference(a, identity, { ...options, cols: n }).map(Math.abs);
}

/** Returns the n×cols product m·v of an n×n and an n×cols row-major matrix, in float64. */
export function multiply(m, v, n, cols) {
  const out = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < n; p++) {
      const f = m[i * n + p];
      if (f === 0) continue;
      for (let c = 0; c < cols; c++) out[i * cols + c] += f * v[p * cols + c];
    }
  }
  return out;
}
