// Float64 references for favor.projection and favor.features, with the
// rounding-error bound of every feature derived next to the formula.
//
// Notation (u = 2^-24, the float32 unit roundoff): for row x and projection
// row ω, t = ωᵀx, a = Σ_k |ω_k·x_k|, h = ‖x‖²/2, s the row's shift.
// The kernels compute t in float32 with any summation order (f32_gemm), so
// |t̃ − t| <= dim·u·a to first order, and h with |h̃ − h| <= dim·u·h.

import { normalReference } from "./philox.js";
import { MAX_ULP } from "../helpers/ulp.js";

const U = 2 ** -24;
/**
 * Relative error bounds of the float32 exp, sin and cos kernels: 1 ULP is at
 * most 2u of the result. The positive, hyperbolic and exp maps use the faster
 * exp of assembly/math/exp-fast.ts (EXP_FAST_REL); the trigonometric row
 * factor and elu+1 use the exp of exp.ts (EXP_REL).
 */
const EXP_REL = 2 * MAX_ULP.exp * U;
const EXP_FAST_REL = 2 * MAX_ULP.expFast * U;
const SIN_REL = 2 * MAX_ULP.sin * U;
const COS_REL = 2 * MAX_ULP.cos * U;
/**
 * Absolute floor for results in the subnormal range, where the relative
 * bounds do not hold: a few subnormal spacings (2^-149) from exp and from
 * the products after it.
 */
const SUBNORMAL_FLOOR = 2 ** -146;

/**
 * Returns the normal draws that favor.projection reads for draw `draw` of
 * `seed`, from `offset` (within the draw) on, rounded to float32 as the
 * kernel rounds them. The reference uses the host's Math, so a value can
 * differ from the kernel's by one float32 step in rare rounding ties.
 */
export function projectionDraws(count, seed, draw, offset) {
  const values = normalReference(count, seed, BigInt(draw) * 2n ** 32n + BigInt(offset));
  return Float64Array.from(values, Math.fround);
}

/**
 * Returns, for an orthogonal projection, the Gaussian columns and norm
 * vectors of each row in the stream layout of bindings/api/projection.ts:
 * block b starts at 2·b·dim², row j of the block reads column j of G and
 * then its norm vector.
 */
export function orthogonalInputs({ features, dim, seed, draw = 0 }) {
  const columns = [];
  const normVectors = [];
  for (let first = 0; first < features; first += dim) {
    const rows = Math.min(dim, features - first);
    const values = projectionDraws(2 * rows * dim, seed, draw, 2 * first * dim);
    for (let j = 0; j < rows; j++) {
      columns.push(values.subarray(2 * j * dim, 2 * j * dim + dim));
      normVectors.push(values.subarray(2 * j * dim + dim, 2 * j * dim + 2 * dim));
    }
  }
  return { columns, normVectors };
}

function dot(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Returns the float64 projection: Gram–Schmidt (modified, applied twice) of
 * each block's Gaussian columns, which is the QR factor with a positive
 * diagonal of R, then the row norms. Used for reading tests; the kernel is
 * checked against its defining properties (see projection.test.js).
 */
export function projectionReference({ features, dim, kind = "orthogonal", norms = "chi", seed, draw = 0 }) {
  const out = new Float64Array(features * dim);
  if (kind === "iid") {
    out.set(projectionDraws(features * dim, seed, draw, 0));
    if (norms === "sqrt-d") {
      for (let i = 0; i < features; i++) {
        const row = out.subarray(i * dim, (i + 1) * dim);
        const factor = Math.sqrt(dim) / Math.sqrt(dot(row, row));
        for (let k = 0; k < dim; k++) row[k] *= factor;
      }
    }
    return out;
  }
  const { columns, normVectors } = orthogonalInputs({ features, dim, seed, draw });
  for (let first = 0; first < features; first += dim) {
    const rows = Math.min(dim, features - first);
    for (let j = 0; j < rows; j++) {
      const q = Float64Array.from(columns[first + j]);
      for (let pass = 0; pass < 2; pass++) {
        for (let p = 0; p < j; p++) {
          const previous = out.subarray((first + p) * dim, (first + p + 1) * dim);
          const projectionLength = dot(previous, q);
          for (let k = 0; k < dim; k++) q[k] -= projectionLength * previous[k];
        }
      }
      const length = Math.sqrt(dot(q, q));
      for (let k = 0; k < dim; k++) out[(first + j) * dim + k] = q[k] / length;
    }
    for (let j = 0; j < rows; j++) {
      const target = norms === "chi" ? Math.sqrt(dot(normVectors[first + j], normVectors[first + j])) : Math.sqrt(dim);
      for (let k = 0; k < dim; k++) out[(first + j) * dim + k] *= target;
    }
  }
  return out;
}

/** Returns the number of outputs r and the normalization factor of a map, in float64. */
export function mapShape(kind, dim, features) {
  if (features === 0) return { outputs: dim, scale: 1 };
  const doubled = kind === "hyperbolic" || kind === "trig";
  return {
    outputs: doubled ? 2 * features : features,
    scale: 1 / Math.sqrt(kind === "hyperbolic" ? 2 * features : features),
  };
}

function pointwise(kind, t) {
  switch (kind) {
    case "relu": return Math.max(t, 0);
    case "elu+1": return t > 0 ? t + 1 : Math.exp(t);
    case "abs": return Math.abs(t);
    case "identity": return t;
    default: throw new Error(`no pointwise map ${kind}`);
  }
}

/**
 * Returns the float64 features of the rows of x, shifted by `shift` (one
 * value per row, default 0), and a per-element error bound for the float32
 * kernels:
 *   values[i·r + l]   scale·(map_l(x_i)·exp(−shift_i) + ε)
 *   bounds[i·r + l]   the largest |kernel − value| the rounding analysis allows
 *   exponents[i]      the largest exponent of row i (−Infinity for kinds without one)
 *   exponentBounds[i] the error bound of the kernel's version of exponents[i]
 *
 * Bounds. Exponential kinds compute exp(ê) with ê = t̃ − c (c depends on the
 * stabilizer mode but always equals h̃ + s up to one rounding of |h| + |s|),
 * so |ê − e| <= E = u·(dim·a + (dim + 2)·h + 2|s| + |e|) and the result's
 * relative error is at most (e^E − 1) + EXP_FAST_REL.
 * trig: sin(t̃) is off by at most dim·u·a + SIN_REL·|sin t| absolute (cos
 * alike), times the row factor F = exp(h − s), whose relative error is
 * (e^{E_F} − 1) + EXP_REL with E_F = u·((dim + 1)·h + |h − s|).
 * pointwise maps are 1-Lipschitz, so the error is dim·u·a plus the rounding
 * of f (2u·|f|, which covers exp's ULP bound for elu+1 at t <= 0).
 * Every kind adds 4u of the result for the remaining roundings: the product
 * with the trig row factor, adding ε, the float32 scale and the final product.
 */
export function featuresReference(x, { rows, dim, projection = null, kind, epsilon = 0, shift = null }) {
  const features = projection === null ? 0 : projection.length / dim;
  const { outputs, scale } = mapShape(kind, dim, features);
  const values = new Float64Array(rows * outputs);
  const bounds = new Float64Array(rows * outputs);
  const exponents = new Float64Array(rows).fill(-Infinity);
  const exponentBounds = new Float64Array(rows);
  const width = features === 0 ? dim : features;

  for (let i = 0; i < rows; i++) {
    const xi = x.subarray(i * dim, (i + 1) * dim);
    const s = shift === null ? 0 : shift[i];
    let h = 0;
    for (let k = 0; k < dim; k++) h += xi[k] * xi[k] / 2;
    const t = new Float64Array(width);
    const a = new Float64Array(width);
    for (let l = 0; l < width; l++) {
      if (features === 0) {
        t[l] = xi[l];
        continue;
      }
      for (let k = 0; k < dim; k++) {
        const product = projection[l * dim + k] * xi[k];
        t[l] += product;
        a[l] += Math.abs(product);
      }
    }

    const base = i * outputs;
    const finish = (index, exact, absoluteError) => {
      values[index] = scale * (exact + epsilon);
      bounds[index] = scale * absoluteError + 4 * U * Math.abs(values[index]) + SUBNORMAL_FLOOR;
    };

    if (kind === "positive" || kind === "hyperbolic" || kind === "exp") {
      const norm = kind === "exp" ? 0 : h;
      const normTerms = kind === "exp" ? 0 : (dim + 2) * norm;
      const signs = kind === "hyperbolic" ? [1, -1] : [1];
      for (let half = 0; half < signs.length; half++) {
        for (let l = 0; l < width; l++) {
          const raw = signs[half] * t[l] - norm;
          exponents[i] = Math.max(exponents[i], raw);
          const e = raw - s;
          const slack = U * (dim * a[l] + normTerms + 2 * Math.abs(s) + Math.abs(e));
          const exact = Math.exp(e);
          finish(base + half * width + l, exact, exact * (Math.expm1(slack) + EXP_FAST_REL));
        }
      }
      for (let l = 0; l < width; l++) {
        exponentBounds[i] = Math.max(exponentBounds[i], U * (dim * a[l] + normTerms + 2 * Math.abs(exponents[i])));
      }
    } else if (kind === "trig") {
      exponents[i] = h;
      exponentBounds[i] = U * (dim + 1) * h;
      const factor = Math.exp(h - s);
      const factorError = Math.expm1(U * ((dim + 1) * h + Math.abs(h - s))) + EXP_REL;
      for (let l = 0; l < width; l++) {
        const sine = Math.sin(t[l]);
        const cosine = Math.cos(t[l]);
        const argumentError = dim * U * a[l];
        finish(base + l, factor * sine,
          factor * (argumentError + SIN_REL * Math.abs(sine) + factorError * (Math.abs(sine) + argumentError)));
        finish(base + width + l, factor * cosine,
          factor * (argumentError + COS_REL * Math.abs(cosine) + factorError * (Math.abs(cosine) + argumentError)));
      }
    } else {
      for (let l = 0; l < width; l++) {
        const f = pointwise(kind, t[l]);
        finish(base + l, f, dim * U * a[l] + 2 * U * Math.abs(f));
      }
    }
  }
  return { values, bounds, exponents, exponentBounds, outputs, scale };
}
