// Float64 references for linalg.expm, linalg.cayley and the ODEtoODE flows,
// plus the float64 tools their tests use (LU solve, determinant, singular
// values, orthogonality error). Matrices are row-major arrays of any numeric
// type; results are Float64Arrays. The ODE reference follows the same
// discretization and params layouts as bindings/api/ode.ts, written as
// plainly as possible.

/** C = op(A)·op(B) for an m×k op(A) and a k×n op(B). */
export function matmul(a, b, m, k, n, { transA = false, transB = false } = {}) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        sum += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
      }
      c[i * n + j] = sum;
    }
  }
  return c;
}

/** Returns the n×n identity. */
export function identity(n) {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
}

/** Returns the transpose of the rows×cols matrix a. */
export function transpose(a, rows, cols) {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

/** Returns alpha·x + beta·y elementwise. */
export function combine(alpha, x, beta, y) {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = alpha * x[i] + beta * y[i];
  return out;
}

/** Returns the 1-norm (largest column sum of |a|) of the n×n a. */
export function norm1(a, n) {
  let largest = 0;
  for (let j = 0; j < n; j++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.abs(a[i * n + j]);
    largest = Math.max(largest, sum);
  }
  return largest;
}

/** LU with partial pivoting of the n×n a: returns { lu, perm, sign } with P·A = L·U, or null when a pivot is exactly zero. */
export function luFactor(a, n) {
  const lu = Float64Array.from(a);
  const perm = Array.from({ length: n }, (_, i) => i);
  let sign = 1;
  for (let j = 0; j < n; j++) {
    let p = j;
    for (let i = j + 1; i < n; i++) if (Math.abs(lu[i * n + j]) > Math.abs(lu[p * n + j])) p = i;
    if (lu[p * n + j] === 0) return null;
    if (p !== j) {
      for (let c = 0; c < n; c++) [lu[j * n + c], lu[p * n + c]] = [lu[p * n + c], lu[j * n + c]];
      [perm[j], perm[p]] = [perm[p], perm[j]];
      sign = -sign;
    }
    for (let i = j + 1; i < n; i++) {
      const l = (lu[i * n + j] /= lu[j * n + j]);
      for (let c = j + 1; c < n; c++) lu[i * n + c] -= l * lu[j * n + c];
    }
  }
  return { lu, perm, sign };
}

/** Solves A·X = B for the n×n A and n×cols B in float64. */
export function solve(a, b, n, cols) {
  const factors = luFactor(a, n);
  if (factors === null) throw new Error("solve: singular matrix");
  const { lu, perm } = factors;
  const x = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) for (let c = 0; c < cols; c++) x[i * cols + c] = b[perm[i] * cols + c];
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < i; p++) for (let c = 0; c < cols; c++) x[i * cols + c] -= lu[i * n + p] * x[p * cols + c];
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let p = i + 1; p < n; p++) for (let c = 0; c < cols; c++) x[i * cols + c] -= lu[i * n + p] * x[p * cols + c];
    for (let c = 0; c < cols; c++) x[i * cols + c] /= lu[i * n + i];
  }
  return x;
}

/** Returns det(a) of the n×n a in float64. */
export function determinant(a, n) {
  const factors = luFactor(a, n);
  if (factors === null) return 0;
  let det = factors.sign;
  for (let i = 0; i < n; i++) det *= factors.lu[i * n + i];
  return det;
}

/**
 * e^A in float64: scaling so that ‖A/2^s‖₁ ≤ 1/4, the Taylor series to 20
 * terms (truncation below (1/4)^21/21! ≈ 2e-33), then s squarings. The
 * relative error is a few 2^s·1e-16, far below float32's 6e-8.
 */
export function expmReference(a, n) {
  const norm = norm1(a, n);
  const s = norm > 0.25 ? Math.ceil(Math.log2(norm / 0.25)) : 0;
  const scaled = Array.from(a, (v) => v / 2 ** s);
  let term = identity(n);
  let sum = identity(n);
  for (let k = 1; k <= 20; k++) {
    term = matmul(term, scaled, n, n, n).map((v) => v / k);
    sum = combine(1, sum, 1, term);
  }
  for (let i = 0; i < s; i++) sum = matmul(sum, sum, n, n, n);
  return sum;
}

/** (I − A/2)⁻¹·(I + A/2) in float64. */
export function cayleyReference(a, n) {
  const minus = combine(1, identity(n), -0.5, a);
  const plus = combine(1, identity(n), 0.5, a);
  return solve(minus, plus, n, n);
}

/** Returns ‖WᵀW − I‖_F of the n×n w, in float64. */
export function orthogonalityError(w, n) {
  const gram = matmul(w, w, n, n, n, { transA: true });
  let sum = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sum += (gram[i * n + j] - (i === j ? 1 : 0)) ** 2;
  return Math.sqrt(sum);
}

/** Eigenvalues of the symmetric n×n s by cyclic Jacobi rotations, ascending. */
export function symmetricEigenvalues(s, n) {
  const a = Float64Array.from(s);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - sn * akq;
          a[k * n + q] = sn * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - sn * aqk;
          a[q * n + k] = sn * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => a[i * n + i]).sort((x, y) => x - y);
}

/** Singular values of the n×n j, ascending, as square roots of the eigenvalues of jᵀj. */
export function singularValues(j, n) {
  return symmetricEigenvalues(matmul(j, j, n, n, n, { transA: true }), n).map((v) => Math.sqrt(Math.max(v, 0)));
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_K = 0.044715;

/** The activation f and its derivative f′ (gelu in its tanh form, as the kernels compute it). */
export const ACTIVATIONS = {
  identity: { f: (z) => z, df: () => 1 },
  tanh: { f: (z) => Math.tanh(z), df: (z) => 1 - Math.tanh(z) ** 2 },
  relu: { f: (z) => (z > 0 ? z : 0), df: (z) => (z > 0 ? 1 : 0) },
  gelu: {
    f: (z) => 0.5 * z * (1 + Math.tanh(GELU_C * (z + GELU_K * z ** 3))),
    df: (z) => {
      const t = Math.tanh(GELU_C * (z + GELU_K * z ** 3));
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 3 * GELU_K * z * z);
    },
  },
};

/** Returns A_i = h·b_i for step i of the ODEtoODE reference (params layouts as in bindings/api/ode.ts). */
export function generatorReference(i, w, { dim: d, steps, h, generator, params, pieces }) {
  const size = d * d;
  if (generator === "isospectral") {
    const pn = params.slice(0, size);
    const pl = params.slice(size, 2 * size);
    const symN = combine(0.5, pn, 0.5, transpose(pn, d, d));
    const symL = combine(0.5, pl, 0.5, transpose(pl, d, d));
    const s = matmul(matmul(w, symN, d, d, d, { transA: true }), w, d, d, d);
    return combine(h, matmul(s, symL, d, d, d), -h, matmul(symL, s, d, d, d));
  }
  const k = generator === "constant" ? 0 : Math.floor((i * (pieces ?? steps)) / steps);
  const psi = params.slice(k * size, (k + 1) * size);
  return combine(h, psi, -h, transpose(psi, d, d));
}

/**
 * Runs the ODEtoODE flows in float64: Z = X·W_iᵀ, X_{i+1} = X_i + h·f(Z),
 * W_{i+1} = W_i·Γ(A_i). `ws` overrides W_i per step (for unconstrained
 * weights); then the parameter flow is not run. Returns x_N, W_N and every
 * x_i and W_i.
 */
export function odeForwardReference(x0, options) {
  const { batch, dim: d, steps, h, w0, activation, stepper, ws } = options;
  const { f } = ACTIVATIONS[activation];
  let x = Float64Array.from(x0);
  let w = Float64Array.from(w0);
  const xs = [x];
  const weights = [];
  for (let i = 0; i < steps; i++) {
    if (ws !== undefined) w = Float64Array.from(ws[i]);
    weights.push(w);
    const z = matmul(x, w, batch, d, d, { transB: true });
    const next = x.map((v, index) => v + h * f(z[index]));
    if (ws === undefined) {
      const a = generatorReference(i, w, options);
      const gamma = stepper === "exp" ? expmReference(a, d) : cayleyReference(a, d);
      w = matmul(w, gamma, d, d, d);
    }
    x = next;
    xs.push(x);
  }
  weights.push(w);
  return { xT: x, wT: w, xs, ws: weights };
}

/** Returns ∂x_N/∂x_0 (d×d) of one sample by forward mode along a reference trajectory: J ← (I + h·diag(f′(W_i·x_i))·W_i)·J. */
export function jacobianReference(trajectory, { dim: d, steps, h, activation }) {
  const { df } = ACTIVATIONS[activation];
  let jac = identity(d);
  for (let i = 0; i < steps; i++) {
    const w = trajectory.ws[i];
    const z = matmul(w, trajectory.xs[i], d, d, 1);
    const stepJac = identity(d);
    for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) stepJac[r * d + c] += h * df(z[r]) * w[r * d + c];
    jac = matmul(stepJac, jac, d, d, d);
  }
  return jac;
}
