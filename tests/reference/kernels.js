// Float64 references for favor.kernel.softmax / kernel.gaussian and the
// hybrid feature maps. They cover the kernels themselves and the closed-form
// mean squared errors of the estimators (Choromanski et al., "Rethinking
// Attention with Performers", ICLR 2021, Lemma 2 and Theorem 2). They also
// give the fixed-norm forms, the angular hybrid's relative error, and
// estimates from explicit projections with a rounding-error bound for the
// float32 library.
//
// Notation: SM(x, y) = exp(xᵀy), K(x, y) = exp(−‖x − y‖²/2),
// s = ‖x + y‖², w = ‖x − y‖², H = (‖x‖² + ‖y‖²)/2, m projection rows.
// u = 2^-24 is the float32 unit roundoff.

import { MAX_ULP } from "../helpers/ulp.js";
import { featuresReference, mapShape } from "./features.js";

const U = 2 ** -24;
const EXP_REL = 2 * MAX_ULP.exp * U;
const SIN_REL = 2 * MAX_ULP.sin * U;
const COS_REL = 2 * MAX_ULP.cos * U;
/**
 * Absolute error of one float32 rounding in the subnormal range, where the
 * relative bound u no longer holds: half the spacing 2^-149.
 */
const UNDERFLOW = 2 ** -150;

export function dot(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function squaredDistance(a, b, sign) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] + sign * b[i]) ** 2;
  return sum;
}

/** Returns SM(x, y) = exp(xᵀy). */
export function softmaxKernel(x, y) {
  return Math.exp(dot(x, y));
}

/** Returns K(x, y) = exp(−‖x − y‖²/2). */
export function gaussianKernel(x, y) {
  return Math.exp(-squaredDistance(x, y, -1) / 2);
}

/** Returns { s, w, H, sm } of a pair. */
function pairTerms(x, y) {
  return { s: squaredDistance(x, y, 1), w: squaredDistance(x, y, -1), H: (dot(x, x) + dot(y, y)) / 2, sm: softmaxKernel(x, y) };
}

/** MSE of the trig estimator with m iid rows: (1/2m)·e^s·SM^{-2}·(1 − e^{−w})². */
export function mseTrig(x, y, m) {
  const { s, w, sm } = pairTerms(x, y);
  return Math.exp(s) * (-Math.expm1(-w)) ** 2 / (2 * m * sm * sm);
}

/** MSE of the positive estimator with m iid rows: (1/m)·e^s·SM²·(1 − e^{−s}). */
export function msePositive(x, y, m) {
  const { s, sm } = pairTerms(x, y);
  return Math.exp(s) * sm * sm * -Math.expm1(-s) / m;
}

/** MSE of the hyperbolic estimator with m iid rows: ½(1 − e^{−s})·MSE⁺. */
export function mseHyperbolic(x, y, m) {
  const { s } = pairTerms(x, y);
  return (-Math.expm1(-s) / 2) * msePositive(x, y, m);
}

/**
 * Upper bound on the MSE of the positive estimator with m <= d orthogonal
 * rows of chi norms: MSE⁺ − (2(m − 1)/(m(d + 2)))·(SM − e^{−H})²
 * (Theorem 2 of the Performer paper).
 */
export function orthogonalMseBound(x, y, m) {
  const d = x.length;
  const { H, sm } = pairTerms(x, y);
  return msePositive(x, y, m) - (2 * (m - 1)) / (m * (d + 2)) * (sm - Math.exp(-H)) ** 2;
}

/** Relative MSE (MSE/SM²) of trig at ‖x‖ = ‖y‖ = ρ and angle θ: (2/m)·sinh²(ρ²(1 − cos θ)). */
export function relativeMseTrig(rho, theta, m) {
  return (2 / m) * Math.sinh(rho * rho * (1 - Math.cos(theta))) ** 2;
}

/** Relative MSE of the hyperbolic estimator: (2/m)·sinh²(ρ²(1 + cos θ)). */
export function relativeMseHyperbolic(rho, theta, m) {
  return (2 / m) * Math.sinh(rho * rho * (1 + Math.cos(theta))) ** 2;
}

/** Relative MSE of the positive estimator: (1/m)·(e^{2ρ²(1 + cos θ)} − 1). */
export function relativeMsePositive(rho, theta, m) {
  return Math.expm1(2 * rho * rho * (1 + Math.cos(theta))) / m;
}

/**
 * Relative MSE of the angular hybrid (trig weighted 1 − λ, hyperbolic
 * weighted λ = θ/π, independent iid projections, m_λ iid sign rows):
 *   λ²·h + (1 − λ)²·t + (λ(1 − λ)/m_λ)·(h + t),
 * h, t the relative MSEs of the hyperbolic and trig bases. From
 * Var((1 − λ̂)Ŝ1 + λ̂Ŝ2) with Var λ̂ = λ(1 − λ)/m_λ (a binomial count) and
 * E(Ŝ1 − Ŝ2)² = Var Ŝ1 + Var Ŝ2 for independent unbiased bases.
 */
export function relativeMseAngularHybrid(rho, theta, m, mLambda) {
  const lambda = theta / Math.PI;
  const h = relativeMseHyperbolic(rho, theta, m);
  const t = relativeMseTrig(rho, theta, m);
  return lambda * lambda * h + (1 - lambda) ** 2 * t + (lambda * (1 - lambda) / mLambda) * (h + t);
}

/**
 * Returns the regularized softmax kernel SMREG(x, y) = E[exp(ωᵀx − ‖x‖²/2)·exp(ωᵀy − ‖y‖²/2)]
 * for ω uniform on the sphere of radius √d, which "sqrt-d" norms estimate.
 * With v = √d·(x + y) and u uniform on the unit sphere, E[(uᵀv)^{2k}] =
 * ‖v‖^{2k}·(2k − 1)!!/(d(d + 2)⋯(d + 2k − 2)), so
 * E exp(uᵀv) = Σ_k ‖v‖^{2k}/(2^k·k!·d(d + 2)⋯(d + 2k − 2)).
 */
export function regularizedSoftmaxKernel(x, y) {
  const d = x.length;
  const { s, H } = pairTerms(x, y);
  const v2 = d * s;
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 500; k++) {
    term *= v2 / (2 * k * (d + 2 * k - 2));
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum * Math.exp(-H);
}

/** Returns the float64 weight features: signs (angular) or [sin; cos] of Ω_λx/σ, with error bounds. */
function lambdaFeatures(xi, projection, lambda, sigma) {
  const dim = xi.length;
  const m = projection.length / dim;
  const values = new Float64Array(lambda === "angular" ? m : 2 * m);
  const bounds = new Float64Array(values.length);
  let ambiguous = 0;
  for (let l = 0; l < m; l++) {
    let t = 0;
    let a = 0;
    for (let k = 0; k < dim; k++) {
      t += projection[l * dim + k] * xi[k];
      a += Math.abs(projection[l * dim + k] * xi[k]);
    }
    if (lambda === "angular") {
      // f32_gemm's t is off by at most dim·u·a, so a smaller |t| may round to the other sign.
      values[l] = t < 0 ? -1 : 1;
      if (Math.abs(t) <= dim * U * a) {
        bounds[l] = 2;
        ambiguous++;
      }
    } else {
      // The kernel computes fl(fl(1/σ)·t̃): argument error (dim·u·a + 2u·|t|)/σ.
      const argument = t / sigma;
      const argumentError = (dim * U * a + 2 * U * Math.abs(t)) / sigma;
      values[l] = Math.sin(argument);
      values[m + l] = Math.cos(argument);
      bounds[l] = argumentError + SIN_REL * Math.abs(values[l]);
      bounds[m + l] = argumentError + COS_REL * Math.abs(values[m + l]);
    }
  }
  return { values, bounds, ambiguous };
}

/** Returns the half squared norm h of a row and its float32 error bound. */
function halfNorm(xi) {
  const h = dot(xi, xi) / 2;
  return { h, error: (xi.length + 1) * U * h };
}

/**
 * Returns one base estimate φ(x)ᵀφ(y) in float64 and a bound on the float32
 * library's error. Derivation: the library computes shifted features of x
 * and y (featuresReference's per-element bounds, with the per-row shift of
 * role "query"), their dot product with f32_gemm (at most r·u·Σ|terms| more)
 * and multiplies by exp(s_x + s_y − g) in float64, where g = h_x + h_y for
 * the Gaussian kernel (h off by (dim + 1)·u·h, so the exponent by that
 * much more). The result is rounded once more (u·|E|, or 2^-150 where it
 * falls below the normal float32 range).
 */
function baseEstimate(xi, yj, projection, kind, gaussian) {
  const dim = xi.length;
  const single = (row) => {
    const plain = featuresReference(row, { rows: 1, dim, projection, kind });
    return featuresReference(row, { rows: 1, dim, projection, kind, shift: [plain.exponents[0]] });
  };
  const fx = single(xi);
  const fy = single(yj);
  const shift = fx.exponents[0] + fy.exponents[0];
  const r = fx.outputs;
  let product = 0;
  let magnitude = 0;
  let elementError = 0;
  for (let l = 0; l < r; l++) {
    const a = fx.values[l];
    const b = fy.values[l];
    product += a * b;
    magnitude += Math.abs(a * b);
    elementError += Math.abs(a) * fy.bounds[l] + Math.abs(b) * fx.bounds[l] + fx.bounds[l] * fy.bounds[l];
  }
  let exponent = shift;
  let exponentError = 0;
  if (gaussian) {
    const hx = halfNorm(xi);
    const hy = halfNorm(yj);
    exponent -= hx.h + hy.h;
    exponentError = hx.error + hy.error + U * Math.abs(exponent);
  }
  const factor = Math.exp(exponent);
  const value = product * factor;
  const productError = elementError + (r + 2) * U * magnitude;
  const bound = factor * productError * (1 + Math.expm1(exponentError)) + Math.abs(value) * Math.expm1(exponentError)
    + U * Math.abs(value) + UNDERFLOW;
  return { value, bound };
}

/**
 * Returns the float64 estimates for every pair of rows and their bounds.
 * `estimator` is "positive", "hyperbolic", "trig" or a normalized hybrid
 * { bases: [kind1, kind2], lambda: "angular" | "gaussian", sigma };
 * `projection` is a Float32Array, or { base1, base2, lambda } for hybrids.
 */
export function estimateReference(x, y, { rowsX, rowsY, dim, estimator, projection, gaussian = false }) {
  const values = new Float64Array(rowsX * rowsY);
  const bounds = new Float64Array(rowsX * rowsY);
  for (let i = 0; i < rowsX; i++) {
    const xi = x.subarray(i * dim, (i + 1) * dim);
    for (let j = 0; j < rowsY; j++) {
      const yj = y.subarray(j * dim, (j + 1) * dim);
      const index = i * rowsY + j;
      if (typeof estimator === "string") {
        const { value, bound } = baseEstimate(xi, yj, projection, estimator, gaussian);
        values[index] = value;
        bounds[index] = bound;
        continue;
      }
      const first = baseEstimate(xi, yj, projection.base1, estimator.bases[0], gaussian);
      const second = baseEstimate(xi, yj, projection.base2, estimator.bases[1], gaussian);
      const { weight, weightError } = weightEstimate(xi, yj, projection.lambda, estimator);
      const value = (1 - weight) * first.value + weight * second.value;
      values[index] = value;
      bounds[index] = Math.abs(1 - weight) * first.bound + Math.abs(weight) * second.bound
        + weightError * (Math.abs(first.value) + Math.abs(second.value) + first.bound + second.bound)
        + 2 * U * (Math.abs(value) + Math.abs(weight * second.value)) + UNDERFLOW;
    }
  }
  return { values, bounds };
}

/**
 * Returns λ̂ and its error bound. Angular: ½ − Σ signs/(2m_λ), exact in the
 * library unless a sign is ambiguous (each flip moves λ̂ by 1/m_λ).
 * Gaussian: Σ cos(ω_lᵀ(x − y)/σ)/m_λ as Σ(sin·sin + cos·cos), with the
 * argument and ULP errors of each sin and cos and the gemm's 2m_λ·u·Σ|terms|.
 */
function weightEstimate(xi, yj, projection, estimator) {
  const m = projection.length / xi.length;
  const fx = lambdaFeatures(xi, projection, estimator.lambda, estimator.sigma);
  const fy = lambdaFeatures(yj, projection, estimator.lambda, estimator.sigma);
  if (estimator.lambda === "angular") {
    let agree = 0;
    for (let l = 0; l < m; l++) agree += fx.values[l] * fy.values[l];
    return { weight: 0.5 - agree / (2 * m), weightError: (fx.ambiguous + fy.ambiguous) / m };
  }
  let sum = 0;
  let error = 0;
  let magnitude = 0;
  for (let l = 0; l < 2 * m; l++) {
    sum += fx.values[l] * fy.values[l];
    magnitude += Math.abs(fx.values[l] * fy.values[l]);
    error += Math.abs(fx.values[l]) * fy.bounds[l] + Math.abs(fy.values[l]) * fx.bounds[l] + fx.bounds[l] * fy.bounds[l];
  }
  return { weight: sum / m, weightError: (error + (2 * m + 2) * U * magnitude) / m };
}

/**
 * Returns the float64 hybrid features Ψ of the rows of x for the library's
 * row shifts `shift` (the `shift` it returns), with per-element bounds.
 * Layout and coefficients as in bindings/api/hybrid.ts: query rows
 * [(1−a)φ1 | −(b/divisor)ρ⊗φ1 | aφ2 | (b/divisor)ρ⊗φ2], key rows the same
 * with all four coefficients 1; φ1, φ2 are the exact base maps times
 * exp(−shift_i), ρ the unnormalized weight features. Bounds: the base
 * features' bounds (featuresReference with that shift) times |c·ρ_k|, plus
 * |c·φ| times ρ's bound. The library computes each base with its own shift
 * s_k and rescales it by f_k = exp(s_k − shift_i) in float32, which adds
 * EXP_REL + u·|s_k − shift_i| of the value; forming and applying the float32
 * coefficient c·f_k·ρ_k adds 4u (and 2^-148 absolute for results in the
 * subnormal range, where these roundings are absolute). s_k is the row's largest exponent (query)
 * or the call's (key) unless keyShift fixes it; u·(|s_k| + |shift_i|)
 * covers all three cases.
 */
export function hybridFeaturesReference(x, { rows, dim, estimator, projection, role, shift }) {
  const m1 = projection.base1.length / dim;
  const m2 = projection.base2.length / dim;
  const mLambda = projection.lambda.length / dim;
  const d1 = mapShape(estimator.bases[0], dim, m1).outputs;
  const d2 = mapShape(estimator.bases[1], dim, m2).outputs;
  const dl = estimator.lambda === "angular" ? mLambda : 2 * mLambda;
  const a = estimator.lambda === "angular" ? 0.5 : 0;
  const b = estimator.lambda === "angular" ? -1 / (2 * mLambda) : 1 / mLambda;
  const c = role === "query" ? [1 - a, -b, a, b] : [1, 1, 1, 1];
  const outputs = (1 + dl) * (d1 + d2);
  const values = new Float64Array(rows * outputs);
  const bounds = new Float64Array(rows * outputs);
  const baseShifts = [projection.base1, projection.base2].map((w, k) => {
    const { exponents } = featuresReference(x, { rows, dim, projection: w, kind: estimator.bases[k] });
    const callMax = Math.max(...exponents);
    return Float64Array.from(exponents, (e) => (role === "key" ? callMax : e));
  });
  for (let i = 0; i < rows; i++) {
    const xi = x.subarray(i * dim, (i + 1) * dim);
    const rescale = baseShifts.map((shifts) => EXP_REL + U * (Math.abs(shifts[i]) + 2 * Math.abs(shift[i])) + 4 * U);
    const phi1 = featuresReference(xi, { rows: 1, dim, projection: projection.base1, kind: estimator.bases[0], shift: [shift[i]] });
    const phi2 = featuresReference(xi, { rows: 1, dim, projection: projection.base2, kind: estimator.bases[1], shift: [shift[i]] });
    const rho = lambdaFeatures(xi, projection.lambda, estimator.lambda, estimator.sigma);
    let index = i * outputs;
    const block = (phi, relative, coefficient, weight, weightBound) => {
      for (let l = 0; l < phi.values.length; l++) {
        const value = coefficient * weight * phi.values[l];
        values[index] = value;
        bounds[index] = Math.abs(coefficient * weight) * phi.bounds[l] + Math.abs(coefficient * phi.values[l]) * weightBound
          + relative * Math.abs(value) + 4 * UNDERFLOW;
        index++;
      }
    };
    block(phi1, rescale[0], c[0], 1, 0);
    for (let k = 0; k < dl; k++) block(phi1, rescale[0], c[1], rho.values[k], rho.bounds[k]);
    block(phi2, rescale[1], c[2], 1, 0);
    for (let k = 0; k < dl; k++) block(phi2, rescale[1], c[3], rho.values[k], rho.bounds[k]);
  }
  return { values, bounds, outputs };
}
