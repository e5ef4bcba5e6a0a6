// Float64 references for the householder ops: products of Householder
// reflections applied one at a time, the compact WY (CWY) formula, T-CWY,
// the gradient formula, a determinant by LU, and central finite differences.
// Matrices are row-major arrays of any numeric type. V is n×k and its
// columns v_0 … v_{k−1} are the (not necessarily unit) reflection vectors,
// H(v) = I − 2·v·vᵀ/(vᵀv).

/** Returns the row-major product A·B of an m×p A and a p×q B as a Float64Array. */
export function matmul64(a, b, m, p, q) {
  const c = new Float64Array(m * q);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < p; t++) {
      const x = a[i * p + t];
      if (x === 0) continue;
      for (let j = 0; j < q; j++) c[i * q + j] += x * b[t * q + j];
    }
  }
  return c;
}

/** Returns the transpose of a rows×cols matrix as a Float64Array. */
export function transpose64(a, rows, cols) {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  }
  return t;
}

/** Returns column j of the n×k matrix v as a Float64Array. */
function column(v, n, k, j) {
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) c[i] = v[i * k + j];
  return c;
}

/** Overwrites the n×cols matrix x with H(u)·x. */
function reflectRows(u, x, n, cols) {
  let uu = 0;
  for (let i = 0; i < n; i++) uu += u[i] * u[i];
  for (let c = 0; c < cols; c++) {
    let dot = 0;
    for (let i = 0; i < n; i++) dot += u[i] * x[i * cols + c];
    const f = (2 * dot) / uu;
    for (let i = 0; i < n; i++) x[i * cols + c] -= f * u[i];
  }
}

/**
 * Returns H(v_0)·…·H(v_{k−1})·X (or its transpose applied, Hᵀ = H, so the
 * reflections in the reverse order) for an n×cols X, one reflection at a time.
 */
export function applyReference(v, x, n, k, cols, transpose = false) {
  const out = Float64Array.from(x);
  for (let step = 0; step < k; step++) {
    // Q·X applies the last reflection first; Qᵀ·X applies the first one first.
    const j = transpose ? step : k - 1 - step;
    reflectRows(column(v, n, k, j), out, n, cols);
  }
  return out;
}

/** Returns the n×n identity, or its first `cols` columns. */
export function identity64(n, cols = n) {
  const e = new Float64Array(n * cols);
  for (let i = 0; i < Math.min(n, cols); i++) e[i * cols + i] = 1;
  return e;
}

/** Returns Q = H(v_0)·…·H(v_{k−1}) (n×n), one reflection at a time. */
export function productReference(v, n, k) {
  return applyReference(v, identity64(n), n, k, n);
}

/** Returns the T-CWY matrix Ω = H(v_0)·…·H(v_{k−1})·I_{n×k} (n×k), one reflection at a time. */
export function stiefelReference(v, n, k) {
  return applyReference(v, identity64(n, k), n, k, k);
}

/** Returns S = 𝒫(VᵀV) = striu(VᵀV) + ½·diag(VᵀV) (k×k, upper triangular). */
export function sMatrix64(v, n, k) {
  const s = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += v[r * k + i] * v[r * k + j];
      s[i * k + j] = i === j ? dot / 2 : dot;
    }
  }
  return s;
}

/** Solves op(S)·X = B for the k×k upper triangular S and a k×cols B; op(S) = Sᵀ when transpose is set. */
export function solveUpper64(s, b, k, cols, transpose = false) {
  const x = Float64Array.from(b);
  for (let step = 0; step < k; step++) {
    // S is upper triangular, so S·X = B runs backward and Sᵀ·X = B forward.
    const i = transpose ? step : k - 1 - step;
    for (let c = 0; c < cols; c++) {
      let sum = x[i * cols + c];
      if (transpose) {
        for (let p = 0; p < i; p++) sum -= s[p * k + i] * x[p * cols + c];
      } else {
        for (let p = i + 1; p < k; p++) sum -= s[i * k + p] * x[p * cols + c];
      }
      x[i * cols + c] = sum / s[i * k + i];
    }
  }
  return x;
}

/** Returns Q = I − V·S⁻¹·Vᵀ (n×n) by the CWY formula with the unnormalized S = 𝒫(VᵀV). */
export function cwyProduct64(v, n, k) {
  const s = sMatrix64(v, n, k);
  const w = solveUpper64(s, transpose64(v, n, k), k, n);
  const q = identity64(n);
  const vw = matmul64(v, w, n, k, n);
  for (let i = 0; i < n * n; i++) q[i] -= vw[i];
  return q;
}

/**
 * Returns ∂L/∂V (n×k) for L = ⟨Ḡ, Q⟩ with Q = I − V·S⁻¹·Vᵀ and an n×n Ḡ:
 *   K = S⁻ᵀVᵀḠVS⁻ᵀ, K_𝒫 = 𝒫(K),
 *   ∂L/∂V = −Ḡ·V·S⁻ᵀ − Ḡᵀ·V·S⁻¹ + V·(K_𝒫 + K_𝒫ᵀ),
 * computed literally in float64 (the formula the WASM backward implements).
 */
export function productGradient64(v, gbar, n, k) {
  const s = sMatrix64(v, n, k);
  const vt = transpose64(v, n, k);
  // A = V·S⁻ᵀ, so Aᵀ = S⁻¹·Vᵀ; B = V·S⁻¹, so Bᵀ = S⁻ᵀ·Vᵀ.
  const at = solveUpper64(s, vt, k, n, false);
  const bt = solveUpper64(s, vt, k, n, true);
  const a = transpose64(at, k, n);
  const b = transpose64(bt, k, n);
  const kMatrix = matmul64(matmul64(bt, gbar, k, n, n), a, k, n, k);
  // K_𝒫 + K_𝒫ᵀ = striu(K) + striu(K)ᵀ + diag(K).
  const m = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      m[i * k + j] = kMatrix[i * k + j];
      m[j * k + i] = kMatrix[i * k + j];
    }
  }
  const ga = matmul64(gbar, a, n, n, k);
  const gtb = matmul64(transpose64(gbar, n, n), b, n, n, k);
  const vm = matmul64(v, m, n, k, k);
  const grad = new Float64Array(n * k);
  for (let i = 0; i < n * k; i++) grad[i] = -ga[i] - gtb[i] + vm[i];
  return grad;
}

/** Returns ∂L/∂V for L = ⟨Ḡ_Ω, Ω⟩ (Ḡ_Ω n×k) by padding Ḡ_Ω with n − k zero columns. */
export function stiefelGradient64(v, gbarOmega, n, k) {
  const gbar = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) gbar[i * n + j] = gbarOmega[i * k + j];
  }
  return productGradient64(v, gbar, n, k);
}

/**
 * Returns { dv, dx } for L = ⟨Ḡ, op(Q)·X⟩ with Ḡ and X n×cols: ∂L/∂Q is
 * Ḡ·Xᵀ (op(Q) = Q) or X·Ḡᵀ (op(Q) = Qᵀ), and ∂L/∂X = op(Q)ᵀ·Ḡ.
 */
export function applyGradient64(v, gbar, x, n, k, cols, transpose = false) {
  const gq = transpose
    ? matmul64(x, transpose64(gbar, n, cols), n, cols, n)
    : matmul64(gbar, transpose64(x, n, cols), n, cols, n);
  return {
    dv: productGradient64(v, gq, n, k),
    dx: applyReference(v, gbar, n, k, cols, !transpose),
  };
}

/** Returns ⟨a, b⟩ = Σ a_i·b_i in float64. */
export function inner64(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Returns the central difference (f(v + h·e_i) − f(v − h·e_i))/(2h) for
 * each listed index i, with f taking a Float64Array.
 */
export function centralDifferences(f, v, indices, h) {
  const point = Float64Array.from(v);
  return indices.map((i) => {
    const saved = point[i];
    point[i] = saved + h;
    const up = f(point);
    point[i] = saved - h;
    const down = f(point);
    point[i] = saved;
    return (up - down) / (2 * h);
  });
}

/** Returns det(A) of an n×n matrix by LU with partial pivoting in float64. */
export function determinant64(a, n) {
  const lu = Float64Array.from(a);
  let det = 1;
  for (let j = 0; j < n; j++) {
    let pivot = j;
    for (let i = j + 1; i < n; i++) {
      if (Math.abs(lu[i * n + j]) > Math.abs(lu[pivot * n + j])) pivot = i;
    }
    if (lu[pivot * n + j] === 0) return 0;
    if (pivot !== j) {
      for (let c = 0; c < n; c++) {
        const t = lu[j * n + c];
        lu[j * n + c] = lu[pivot * n + c];
        lu[pivot * n + c] = t;
      }
      det = -det;
    }
    const d = lu[j * n + j];
    det *= d;
    for (let i = j + 1; i < n; i++) {
      const f = lu[i * n + j] / d;
      if (f === 0) continue;
      for (let c = j + 1; c < n; c++) lu[i * n + c] -= f * lu[j * n + c];
    }
  }
  return det;
}

/** Returns max_ij |(AᵀA − I)_ij| for an n×k A, in float64. */
export function orthogonalityError(a, n, k) {
  let worst = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += a[r * k + i] * a[r * k + j];
      worst = Math.max(worst, Math.abs(dot - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

/** Returns max_i |a_i − b_i|. */
export function maxAbsDifference(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Returns max_i |a_i|. */
export function maxAbs(a) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]));
  return worst;
}

/** Returns the entrywise absolute values of a matrix as a Float64Array. */
export function abs64(a) {
  return Float64Array.from(a, Math.abs);
}

/**
 * Returns the largest entry of |Ḡ|·|A| + |Ḡ|ᵀ·|B| + |V|·|M̂|, where
 * A = V·S⁻ᵀ, B = V·S⁻¹ and M̂ is |Bᵀ|·|Ḡ|·|A| mirrored as in M. These are
 * the magnitudes that the three terms of the gradient formula sum before
 * cancelling, so the rounding error of each computed entry is a multiple
 * of u times this value. `gbarAbs` is an n×n bound on |Ḡ| (for a Ḡ given
 * as a product Xa·Xbᵀ, pass |Xa|·|Xb|ᵀ so that cancellations inside Ḡ do
 * not hide the magnitude of the sums).
 */
export function gradientScale64(v, gbarAbs, n, k) {
  const s = sMatrix64(v, n, k);
  const vt = transpose64(v, n, k);
  const at = abs64(solveUpper64(s, vt, k, n, false));
  const bt = abs64(solveUpper64(s, vt, k, n, true));
  const a = transpose64(at, k, n);
  const b = transpose64(bt, k, n);
  const kAbs = matmul64(matmul64(bt, gbarAbs, k, n, n), a, k, n, k);
  const m = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      m[i * k + j] = kAbs[i * k + j];
      m[j * k + i] = kAbs[i * k + j];
    }
  }
  const first = matmul64(gbarAbs, a, n, n, k);
  const second = matmul64(transpose64(gbarAbs, n, n), b, n, n, k);
  const third = matmul64(abs64(v), m, n, k, k);
  return maxAbs(first) + maxAbs(second) + maxAbs(third);
}

/**
 * Returns the Householder vectors of f32_householder_haar_vectors for the
 * d×d matrix g (float64, n×k layout with k = d): column j < d − 1 maps
 * x = g[j:, j] to +‖x‖·e_j, v = x − ‖x‖·e_j (zeros above row j), and
 * column d − 1 is e_{d−1}.
 */
export function haarVectors64(g, d) {
  const v = new Float64Array(d * d);
  for (let j = 0; j < d - 1; j++) {
    let norm = 0;
    for (let i = j; i < d; i++) norm += g[i * d + j] ** 2;
    norm = Math.sqrt(norm);
    for (let i = j; i < d; i++) v[i * d + j] = g[i * d + j];
    v[j * d + j] -= norm;
  }
  v[(d - 1) * d + d - 1] = 1;
  return v;
}
