// Float64 references for the attention gradients:
//   - featureMap64 / featureVjp64: the exact feature maps (no stabilizer, no
//     ε) and their vector-Jacobian products, written from the definitions;
//   - attentionForward64: FAVOR+ attention as the explicit quadratic formula
//     out_i = Σ_j A_ij v_j / Σ_j A_ij with A_ij = φ(q̃_i)·φ(k̃_j) over the
//     visible keys, and attentionLoss64 = Σ gradOut ∘ out for finite
//     differences;
//   - attentionBackward64: the analytic gradient of that formula, also
//     quadratic (Ā_ij = g_i·(v_j − out_i)/den_i), with an `absolute` mode
//     that replaces every term by its magnitude to size float32 tolerances;
//   - causalBackwardLinear64: the linear-time causal backward of one head
//     with all prefix states kept in float64, for lengths where the
//     quadratic reference is too slow;
//   - softmaxBackward64: the exact softmax-attention gradient.
// Shapes and layouts follow bindings/api/attention.ts.

import { extractHead, fullShape, storeHead } from "./attention.js";
import { mapShape } from "./features.js";
import { seededFloats } from "../helpers/numeric.js";

/** Unit roundoff of float32. */
export const U = 2 ** -24;

/** The smallest positive normal float32: forward rows whose denominator is not above it are zero. */
export const DENOMINATOR_FLOOR = 2 ** -126;

/** Returns t = ω_l·x (or x itself without a projection) for one row. */
function preactivations(x, projection, dim, width) {
  const t = new Float64Array(width);
  for (let l = 0; l < width; l++) {
    if (projection === null) {
      t[l] = x[l];
      continue;
    }
    let sum = 0;
    for (let k = 0; k < dim; k++) sum += projection[l * dim + k] * x[k];
    t[l] = sum;
  }
  return t;
}

/** Returns true when `kind` names a hybrid kernel ("angular-hybrid" or { hybrid, lambda }). */
export function isHybridKind(kind) {
  return kind === "angular-hybrid" || (kind !== null && typeof kind === "object");
}

/**
 * Returns the constants of a hybrid kernel, as bindings/api/hybrid.ts
 * defines them: bases, λ kind, σ and λ̂ = a + b·ρ(x)ᵀρ(y)/divisor.
 */
export function hybridConstants(kind, lambdaFeatures) {
  const spec = kind === "angular-hybrid" ? { hybrid: ["trig", "hyperbolic"], lambda: "angular" } : kind;
  const angular = spec.lambda === "angular";
  return {
    bases: spec.hybrid,
    lambda: angular ? "angular" : "gaussian",
    sigma: angular ? 1 : spec.lambda.sigma,
    a: angular ? 0.5 : 0,
    b: angular ? -1 : 1,
    divisor: angular ? 2 * lambdaFeatures : lambdaFeatures,
  };
}

/**
 * Returns the parts of a hybrid row: both base maps, the weight features ρ (signs,
 * or [sin; cos] of t/σ with t = Ω_λx) and the tensor coefficients c0..c3
 * of the role ("query": [1−a, −b/divisor, a, b/divisor], "key": all 1).
 */
function hybridParts(x, { kind, dim, projection, role }) {
  const mLambda = projection.lambda.length / dim;
  const h = hybridConstants(kind, mLambda);
  const phi1 = featureMap64(x, { kind: h.bases[0], dim, projection: projection.base1 });
  const phi2 = featureMap64(x, { kind: h.bases[1], dim, projection: projection.base2 });
  const t = preactivations(x, projection.lambda, dim, mLambda);
  const rho = new Float64Array(h.lambda === "angular" ? mLambda : 2 * mLambda);
  for (let l = 0; l < mLambda; l++) {
    if (h.lambda === "angular") {
      rho[l] = t[l] < 0 ? -1 : 1;
    } else {
      rho[l] = Math.sin(t[l] / h.sigma);
      rho[mLambda + l] = Math.cos(t[l] / h.sigma);
    }
  }
  const c = role === "key" ? [1, 1, 1, 1] : [1 - h.a, -h.b / h.divisor, h.a, h.b / h.divisor];
  return { h, phi1, phi2, t, rho, c, mLambda };
}

/**
 * Computes the hybrid map Ψ of one row in float64, without stabilizers:
 * [c0·φ1 | c1·ρ⊗φ1 | c2·φ2 | c3·ρ⊗φ2], block k of ρ⊗φ being ρ_k·φ.
 */
function hybridMap64(x, map) {
  const { phi1, phi2, rho, c } = hybridParts(x, map);
  const out = new Float64Array((1 + rho.length) * (phi1.length + phi2.length));
  let at = 0;
  for (const [phi, first, rest] of [[phi1, c[0], c[1]], [phi2, c[2], c[3]]]) {
    for (let l = 0; l < phi.length; l++) out[at++] = first * phi[l];
    for (let k = 0; k < rho.length; k++) for (let l = 0; l < phi.length; l++) out[at++] = rest * rho[k] * phi[l];
  }
  return out;
}

/**
 * Vector-Jacobian product of hybridMap64 (see featureVjp64 for the
 * arguments; dprojection is { base1, base2, lambda } or null). The sign
 * features of the angular weight are piecewise constant: their derivative
 * is zero wherever it exists, so they pass no gradient to x or Ω_λ.
 */
function hybridVjp64(x, dpsi, map, dprojection, absolute) {
  const { dim, projection } = map;
  const { h, phi1, phi2, t, rho, c, mLambda } = hybridParts(x, map);
  const mag = absolute ? Math.abs : (value) => value;
  const dl = rho.length;
  const drho = new Float64Array(dl);
  const dphis = [];
  let at = 0;
  for (const [phi, first, rest] of [[phi1, c[0], c[1]], [phi2, c[2], c[3]]]) {
    const dphi = new Float64Array(phi.length);
    for (let l = 0; l < phi.length; l++) dphi[l] = mag(first * dpsi[at++]);
    for (let k = 0; k < dl; k++) {
      for (let l = 0; l < phi.length; l++) {
        dphi[l] += mag(rest * rho[k] * dpsi[at]);
        drho[k] += mag(rest * dpsi[at] * phi[l]);
        at++;
      }
    }
    dphis.push(dphi);
  }
  const dx = featureVjp64(x, dphis[0], { kind: h.bases[0], dim, projection: projection.base1 },
    dprojection === null ? null : dprojection.base1, absolute);
  const dx2 = featureVjp64(x, dphis[1], { kind: h.bases[1], dim, projection: projection.base2 },
    dprojection === null ? null : dprojection.base2, absolute);
  for (let k = 0; k < dim; k++) dx[k] += dx2[k];
  if (h.lambda === "gaussian") {
    // ρ_l = sin(t_l/σ), ρ_{m+l} = cos(t_l/σ), t_l = ω_l·x.
    for (let l = 0; l < mLambda; l++) {
      const u = t[l] / h.sigma;
      const dt = absolute
        ? (Math.abs(drho[l] * Math.cos(u)) + Math.abs(drho[mLambda + l] * Math.sin(u))) / h.sigma
        : (drho[l] * Math.cos(u) - drho[mLambda + l] * Math.sin(u)) / h.sigma;
      for (let k = 0; k < dim; k++) {
        dx[k] += dt * mag(projection.lambda[l * dim + k]);
        if (dprojection !== null) dprojection.lambda[l * dim + k] += dt * mag(x[k]);
      }
    }
  }
  return dx;
}

/**
 * Returns the exact features of one row x (dim values): the maps of
 * docs/features.md with role "none" and ε = 0, or a hybrid map Ψ_q / Ψ_k
 * (kind "angular-hybrid" or { hybrid, lambda }, projection
 * { base1, base2, lambda }, role "query" or "key").
 */
export function featureMap64(x, map) {
  if (isHybridKind(map.kind)) return hybridMap64(x, map);
  const { kind, dim, projection = null } = map;
  const features = projection === null ? 0 : projection.length / dim;
  const width = features === 0 ? dim : features;
  const { outputs, scale } = mapShape(kind, dim, features);
  const t = preactivations(x, projection, dim, width);
  let h = 0;
  for (let k = 0; k < dim; k++) h += x[k] * x[k] / 2;
  const phi = new Float64Array(outputs);
  for (let l = 0; l < width; l++) {
    const tl = t[l];
    switch (kind) {
      case "positive": phi[l] = scale * Math.exp(tl - h); break;
      case "hyperbolic":
        phi[l] = scale * Math.exp(tl - h);
        phi[width + l] = scale * Math.exp(-tl - h);
        break;
      case "trig":
        phi[l] = scale * Math.exp(h) * Math.sin(tl);
        phi[width + l] = scale * Math.exp(h) * Math.cos(tl);
        break;
      case "exp": phi[l] = scale * Math.exp(tl); break;
      case "relu": phi[l] = scale * Math.max(tl, 0); break;
      case "elu+1": phi[l] = scale * (tl > 0 ? tl + 1 : Math.exp(tl)); break;
      case "abs": phi[l] = scale * Math.abs(tl); break;
      case "identity": phi[l] = scale * tl; break;
      default: throw new Error(`featureMap64: unknown kind ${kind}`);
    }
  }
  return phi;
}

/**
 * Vector-Jacobian product of featureMap64 at x: returns x̄ = (∂φ/∂x)ᵀφ̄ and
 * adds (∂φ/∂W)ᵀφ̄ to dprojection when given. Each feature depends on x
 * through t_l = ω_l·x and through h = ‖x‖²/2:
 *   ∂φ/∂x = (∂φ/∂t_l)·ω_l + (∂φ/∂h)·x,   ∂φ/∂ω_l = (∂φ/∂t_l)·x.
 * With `absolute`, returns Σ|φ̄·∂φ/∂t|·|ω| + |x|·Σ|φ̄·∂φ/∂h| instead, the
 * magnitude of the terms that a float32 evaluation rounds.
 */
export function featureVjp64(x, dphi, map, dprojection = null, absolute = false) {
  if (isHybridKind(map.kind)) return hybridVjp64(x, dphi, map, dprojection, absolute);
  const { kind, dim, projection = null } = map;
  const features = projection === null ? 0 : projection.length / dim;
  const width = features === 0 ? dim : features;
  const phi = featureMap64(x, { kind, dim, projection });
  const { scale } = mapShape(kind, dim, features);
  const t = preactivations(x, projection, dim, width);
  let h = 0;
  for (let k = 0; k < dim; k++) h += x[k] * x[k] / 2;
  const mag = absolute ? Math.abs : (value) => value;
  // dt[l]: gradient w.r.t. t_l; dh: gradient w.r.t. h.
  const dt = new Float64Array(width);
  let dh = 0;
  for (let l = 0; l < width; l++) {
    const g = dphi[l];
    switch (kind) {
      case "positive":
        dt[l] = mag(g * phi[l]);
        dh += mag(-g * phi[l]);
        break;
      case "hyperbolic": {
        const g2 = dphi[width + l];
        dt[l] = absolute ? Math.abs(g * phi[l]) + Math.abs(g2 * phi[width + l]) : g * phi[l] - g2 * phi[width + l];
        dh += absolute ? Math.abs(g * phi[l]) + Math.abs(g2 * phi[width + l]) : -g * phi[l] - g2 * phi[width + l];
        break;
      }
      case "trig": {
        const g2 = dphi[width + l];
        const factor = scale * Math.exp(h);
        // φ_l = F sin t, φ_{m+l} = F cos t, F = scale·e^h, ∂F/∂h = F.
        dt[l] = absolute
          ? Math.abs(g * factor * Math.cos(t[l])) + Math.abs(g2 * factor * Math.sin(t[l]))
          : g * factor * Math.cos(t[l]) - g2 * factor * Math.sin(t[l]);
        dh += absolute ? Math.abs(g * phi[l]) + Math.abs(g2 * phi[width + l]) : g * phi[l] + g2 * phi[width + l];
        break;
      }
      case "exp": dt[l] = mag(g * phi[l]); break;
      case "relu": dt[l] = t[l] > 0 ? mag(g * scale) : 0; break;
      case "elu+1": dt[l] = mag(g * scale * (t[l] > 0 ? 1 : Math.exp(t[l]))); break;
      case "abs": dt[l] = t[l] === 0 ? 0 : mag(g * scale * Math.sign(t[l])); break;
      case "identity": dt[l] = mag(g * scale); break;
      default: throw new Error(`featureVjp64: unknown kind ${kind}`);
    }
  }
  const dx = new Float64Array(dim);
  for (let k = 0; k < dim; k++) dx[k] = (absolute ? Math.abs(x[k]) : x[k]) * dh;
  for (let l = 0; l < width; l++) {
    if (projection === null) {
      dx[l] += dt[l];
      continue;
    }
    for (let k = 0; k < dim; k++) {
      dx[k] += dt[l] * mag(projection[l * dim + k]);
      if (dprojection !== null) dprojection[l * dim + k] += dt[l] * mag(x[k]);
    }
  }
  return dx;
}

/** Returns whether key j of batch item `item` is visible to query i. */
function visible(shape, item, causal, i, j) {
  const mask = shape.keyPaddingMask;
  if (mask && mask[item * shape.keyLength + j] === 1) return false;
  return !causal || j <= i;
}

/** Returns the projection of head `head` as float64 (null without one; { base1, base2, lambda } for hybrids). */
function headProjection(options, head, dim) {
  const { projection = null, features = 0 } = options;
  if (isHybridKind(options.kernel)) {
    const rows = { base1: features, base2: features, lambda: options.lambdaFeatures };
    const parts = {};
    for (const part of ["base1", "base2", "lambda"]) {
      const size = rows[part] * dim;
      const offset = projection[part].length === size ? 0 : head * size;
      parts[part] = Float64Array.from(projection[part].subarray(offset, offset + size));
    }
    return parts;
  }
  if (projection === null || features === 0) return null;
  const size = features * dim;
  const offset = projection.length === size ? 0 : head * size;
  return Float64Array.from(projection.subarray(offset, offset + size));
}

/** Per-head intermediate values of the quadratic forward pass. */
function headForward(q, k, v, shape, item, head, options) {
  const { length, keyLength, dim, valueDim } = shape;
  const { kernel: kind, causal } = options;
  const projection = headProjection(options, head, dim);
  const map = { kind, dim, projection, role: "query" };
  const keyMap = { ...map, role: "key" };
  const inputScale = dim ** -0.25;
  const qh = extractHead(q, shape, item, head, length, dim).map((value) => value * inputScale);
  const kh = extractHead(k, shape, item, head, keyLength, dim).map((value) => value * inputScale);
  const vh = extractHead(v, shape, item, head, keyLength, valueDim);
  const qf = [];
  const kf = [];
  for (let i = 0; i < length; i++) qf.push(featureMap64(qh.subarray(i * dim, (i + 1) * dim), map));
  for (let j = 0; j < keyLength; j++) {
    kf.push(visible(shape, item, false, 0, j) ? featureMap64(kh.subarray(j * dim, (j + 1) * dim), keyMap) : null);
  }
  const a = new Float64Array(length * keyLength);
  const aAbs = new Float64Array(length * keyLength);
  const den = new Float64Array(length);
  const denAbs = new Float64Array(length);
  const out = new Float64Array(length * valueDim);
  const outAbs = new Float64Array(length * valueDim);
  for (let i = 0; i < length; i++) {
    for (let j = 0; j < keyLength; j++) {
      if (!visible(shape, item, causal, i, j)) continue;
      let dot = 0;
      let dotAbs = 0;
      for (let l = 0; l < qf[i].length; l++) {
        dot += qf[i][l] * kf[j][l];
        dotAbs += Math.abs(qf[i][l] * kf[j][l]);
      }
      a[i * keyLength + j] = dot;
      aAbs[i * keyLength + j] = dotAbs;
      den[i] += dot;
      denAbs[i] += dotAbs;
    }
    if (!(den[i] > DENOMINATOR_FLOOR)) continue;
    for (let j = 0; j < keyLength; j++) {
      const weight = a[i * keyLength + j] / den[i];
      const weightAbs = aAbs[i * keyLength + j] / den[i];
      for (let c = 0; c < valueDim; c++) {
        out[i * valueDim + c] += weight * vh[j * valueDim + c];
        outAbs[i * valueDim + c] += weightAbs * Math.abs(vh[j * valueDim + c]);
      }
    }
  }
  return { map, keyMap, inputScale, qh, kh, vh, qf, kf, a, aAbs, den, denAbs, out, outAbs };
}

/**
 * FAVOR+ attention in float64 with exact feature maps (options: causal,
 * kernel, features, projection as for `attention`). Returns the output in
 * the inputs' layout. A row whose denominator is not above
 * DENOMINATOR_FLOOR is 0, as in the kernels. With `absolute: true` it
 * returns each output's magnitude instead, for tolerances:
 * Σ_j |a_ij v_j| / den_i plus |out_i|·Σ_j |a_ij| / |den_i|, the second term
 * for the cancellation in a denominator of terms of both signs.
 */
export function attentionForward64(q, k, v, shapeIn, options, { absolute = false } = {}) {
  const shape = fullShape(shapeIn);
  const { batch, heads, length, valueDim } = shape;
  const out = new Float64Array(batch * heads * length * valueDim);
  for (let item = 0; item < batch; item++) {
    for (let head = 0; head < heads; head++) {
      const f = headForward(q, k, v, shape, item, head, options);
      let values = f.out;
      if (absolute) {
        values = f.outAbs.map((size, index) => {
          const den = f.den[Math.floor(index / valueDim)];
          return den > 0 ? Math.abs(size) + Math.abs(f.out[index]) * f.denAbs[Math.floor(index / valueDim)] / den : 0;
        });
      }
      storeHead(out, values, shape, item, head, length, valueDim);
    }
  }
  return out;
}

/** Σ gradOut ∘ attentionForward64(...), the scalar whose gradient attentionBackward returns. */
export function attentionLoss64(q, k, v, gradOut, shape, options) {
  const out = attentionForward64(q, k, v, shape, options);
  let loss = 0;
  for (let i = 0; i < out.length; i++) loss += gradOut[i] * out[i];
  return loss;
}

/**
 * The analytic gradient of attentionLoss64 w.r.t. q, k, v (and the
 * projection) in float64: { dq, dk, dv, dprojection }. With
 * `absolute: true` every sum adds magnitudes instead, so each output is
 * the size of the terms that form that gradient element; the float32
 * tolerances scale it by the rounding of the longest chain of sums.
 */
export function attentionBackward64(q, k, v, gradOut, shapeIn, options, { absolute = false } = {}) {
  const shape = fullShape(shapeIn);
  const { batch, heads, length, keyLength, dim, valueDim } = shape;
  const mag = absolute ? Math.abs : (value) => value;
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const features = options.features ?? 0;
  const hybrid = isHybridKind(options.kernel);
  const projectionLength = options.projection && !hybrid ? options.projection.length : 0;
  let dprojection = projectionLength > 0 ? new Float64Array(projectionLength) : null;
  if (hybrid) {
    const p = options.projection;
    dprojection = { base1: new Float64Array(p.base1.length), base2: new Float64Array(p.base2.length), lambda: new Float64Array(p.lambda.length) };
  }
  for (let item = 0; item < batch; item++) {
    for (let head = 0; head < heads; head++) {
      const f = headForward(q, k, v, shape, item, head, options);
      const gh = extractHead(gradOut, shape, item, head, length, valueDim);
      const r = f.qf[0].length;
      const dqf = Array.from({ length }, () => new Float64Array(r));
      const dkf = Array.from({ length: keyLength }, () => new Float64Array(r));
      const dvh = new Float64Array(keyLength * valueDim);
      for (let i = 0; i < length; i++) {
        const den = f.den[i];
        if (!(den > DENOMINATOR_FLOOR)) continue;
        // The denominator's condition number κ = Σ|A_ij|/den (1 for
        // non-negative features) scales the relative error of 1/den, and
        // Ā carries 1/den twice (through out), so magnitudes take κ².
        const kappa = absolute ? f.denAbs[i] / den : 1;
        const outRow = absolute ? f.outAbs : f.out;
        let gOut = 0;
        for (let c = 0; c < valueDim; c++) gOut += mag(gh[i * valueDim + c] * outRow[i * valueDim + c]);
        for (let j = 0; j < keyLength; j++) {
          if (!visible(shape, item, options.causal, i, j)) continue;
          const aij = absolute ? f.aAbs[i * keyLength + j] * kappa : f.a[i * keyLength + j];
          let gv = 0;
          for (let c = 0; c < valueDim; c++) gv += mag(gh[i * valueDim + c] * f.vh[j * valueDim + c]);
          const abar = absolute ? kappa * kappa * (gv + gOut) / den : (gv - gOut) / den;
          for (let c = 0; c < valueDim; c++) dvh[j * valueDim + c] += mag(aij / den * gh[i * valueDim + c]);
          for (let l = 0; l < r; l++) {
            dqf[i][l] += mag(abar * f.kf[j][l]);
            dkf[j][l] += mag(abar * f.qf[i][l]);
          }
        }
      }
      const size = features * dim;
      let dpHead = dprojection === null || hybrid ? null
        : new Float64Array(dprojection.buffer, (projectionLength === size ? 0 : head * size) * 8, size);
      if (hybrid) {
        const rows = { base1: features, base2: features, lambda: options.lambdaFeatures };
        dpHead = {};
        for (const part of ["base1", "base2", "lambda"]) {
          const partSize = rows[part] * dim;
          const offset = dprojection[part].length === partSize ? 0 : head * partSize;
          dpHead[part] = new Float64Array(dprojection[part].buffer, offset * 8, partSize);
        }
      }
      const dqh = new Float64Array(length * dim);
      const dkh = new Float64Array(keyLength * dim);
      for (let i = 0; i < length; i++) {
        const dx = featureVjp64(f.qh.subarray(i * dim, (i + 1) * dim), dqf[i], f.map, dpHead, absolute);
        for (let c = 0; c < dim; c++) dqh[i * dim + c] = f.inputScale * dx[c];
      }
      for (let j = 0; j < keyLength; j++) {
        if (f.kf[j] === null) continue;
        const dx = featureVjp64(f.kh.subarray(j * dim, (j + 1) * dim), dkf[j], f.keyMap, dpHead, absolute);
        for (let c = 0; c < dim; c++) dkh[j * dim + c] = f.inputScale * dx[c];
      }
      storeHead(dq, dqh, shape, item, head, length, dim);
      storeHead(dk, dkh, shape, item, head, keyLength, dim);
      storeHead(dv, dvh, shape, item, head, keyLength, valueDim);
    }
  }
  return { dq, dk, dv, dprojection };
}

/**
 * Float32 tolerance of a gradient element from its magnitude M (the
 * attentionBackward64 `absolute` result): each term of the float32
 * evaluation passes through at most `chain` roundings (the lengths of the
 * sums it enters plus the exponent error of the feature map), so
 * |error| <= chain·u·M to first order. chain = keys + r + dim + dv +
 * (dim + 2)·E + 16, where E bounds Σ_k|ω_k x_k| + ‖x‖²/2 over the rows
 * (the absolute exponent error in units of u), and 16 covers the divisions,
 * the gradient of the output, the scatter and the input scale.
 */
export function gradientTolerance(magnitude, { keys, r, dim, valueDim, exponentSize = 0 }) {
  const chain = keys + r + dim + valueDim + (dim + 2) * exponentSize + 16;
  return magnitude.map((value) => chain * U * value + 1e-30);
}

/** Returns max over rows of Σ_k|ω_lk x_k| + ‖x‖²/2 for the scaled q and k rows of every head. */
export function exponentSize(q, k, shapeIn, options) {
  const shape = fullShape(shapeIn);
  const { dim } = shape;
  const inputScale = dim ** -0.25;
  let largest = 0;
  for (const x of [q, k]) {
    for (let row = 0; row * dim < x.length; row++) {
      let h = 0;
      for (let c = 0; c < dim; c++) h += (x[row * dim + c] * inputScale) ** 2 / 2;
      let a = 0;
      const projection = options.projection ?? null;
      if (projection !== null) {
        // Hybrids: both base projections, and Ω_λ/σ, whose argument error enters sin and cos the same way.
        const parts = isHybridKind(options.kernel)
          ? [[projection.base1, options.features, 1], [projection.base2, options.features, 1],
            [projection.lambda, options.lambdaFeatures, 1 / hybridConstants(options.kernel, options.lambdaFeatures).sigma]]
          : [[projection, options.features, 1]];
        for (const [w, m, factor] of parts) {
          for (let l = 0; l < Math.min(m, w.length / dim); l++) {
            let sum = 0;
            for (let c = 0; c < dim; c++) sum += Math.abs(w[l * dim + c] * x[row * dim + c] * inputScale) * factor;
            a = Math.max(a, sum);
          }
        }
      } else {
        for (let c = 0; c < dim; c++) a = Math.max(a, Math.abs(x[row * dim + c] * inputScale));
      }
      largest = Math.max(largest, a + h);
    }
  }
  return largest;
}

/**
 * Linear-time causal backward of one head in float64, from given feature
 * rows (no feature map): qf, kf (L×r), v (L×dv), g (L×dv), all row-major.
 * Keeps every prefix state S_i = Σ_{j<=i} kf_j[v_j 1]ᵀ, then runs
 * i = L−1 … 0 with the state gradient R: Ĝ_i = [g_i/den_i, −g_i·out_i/den_i],
 * q̄f_i = S_i Ĝ_i, R += qf_i Ĝ_iᵀ, k̄f_i = R[v_i 1], v̄_i = Rᵀ kf_i (first dv).
 * Returns { out, dqf, dkf, dv }. With `absolute`, every input enters as
 * its magnitude and Ĝ_i as [|g_i|/den_i, Σ|g_i||out_i|/den_i], so the
 * results are the sizes of the terms behind each gradient element.
 */
export function causalBackwardLinear64(qfIn, kfIn, vIn, gIn, { length, r, valueDim }, { absolute = false } = {}) {
  const mag = absolute ? (array) => array.map(Math.abs) : (array) => array;
  const qf = mag(qfIn);
  const kf = mag(kfIn);
  const v = mag(vIn);
  const g = mag(gIn);
  const dv1 = valueDim + 1;
  const states = new Float64Array(length * r * dv1);
  const running = new Float64Array(r * dv1);
  for (let i = 0; i < length; i++) {
    for (let l = 0; l < r; l++) {
      const kl = kf[i * r + l];
      for (let c = 0; c < valueDim; c++) running[l * dv1 + c] += kl * v[i * valueDim + c];
      running[l * dv1 + valueDim] += kl;
    }
    states.set(running, i * r * dv1);
  }
  const out = new Float64Array(length * valueDim);
  const dqf = new Float64Array(length * r);
  const dkf = new Float64Array(length * r);
  const dv = new Float64Array(length * valueDim);
  const rg = new Float64Array(r * dv1);
  const ghat = new Float64Array(dv1);
  for (let i = length - 1; i >= 0; i--) {
    const s = states.subarray(i * r * dv1, (i + 1) * r * dv1);
    const num = new Float64Array(dv1);
    for (let l = 0; l < r; l++) {
      for (let c = 0; c < dv1; c++) num[c] += qf[i * r + l] * s[l * dv1 + c];
    }
    const den = num[valueDim];
    ghat.fill(0);
    if (den > DENOMINATOR_FLOOR) {
      let dot = 0;
      for (let c = 0; c < valueDim; c++) {
        out[i * valueDim + c] = num[c] / den;
        dot += g[i * valueDim + c] * out[i * valueDim + c];
        ghat[c] = g[i * valueDim + c] / den;
      }
      ghat[valueDim] = (absolute ? dot : -dot) / den;
    }
    for (let l = 0; l < r; l++) {
      let sum = 0;
      for (let c = 0; c < dv1; c++) sum += s[l * dv1 + c] * ghat[c];
      dqf[i * r + l] = sum;
      for (let c = 0; c < dv1; c++) rg[l * dv1 + c] += qf[i * r + l] * ghat[c];
    }
    for (let l = 0; l < r; l++) {
      let sum = rg[l * dv1 + valueDim];
      for (let c = 0; c < valueDim; c++) sum += rg[l * dv1 + c] * v[i * valueDim + c];
      dkf[i * r + l] = sum;
    }
    for (let c = 0; c < valueDim; c++) {
      let sum = 0;
      for (let l = 0; l < r; l++) sum += rg[l * dv1 + c] * kf[i * r + l];
      dv[i * valueDim + c] = sum;
    }
  }
  return { out, dqf, dkf, dv };
}

/**
 * Exact softmax attention and its gradient in float64: returns
 * { out, dq, dk, dv } for the loss Σ gradOut ∘ out, in the inputs' layout.
 * A query that sees no key has out = 0 and zero gradients.
 */
export function softmaxBackward64(q, k, v, gradOut, shapeIn, { causal, scale }, { absolute = false } = {}) {
  const shape = fullShape(shapeIn);
  const { batch, heads, length, keyLength, dim, valueDim } = shape;
  const mag = absolute ? Math.abs : (value) => value;
  const out = new Float64Array(batch * heads * length * valueDim);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let item = 0; item < batch; item++) {
    for (let head = 0; head < heads; head++) {
      const qh = extractHead(q, shape, item, head, length, dim);
      const kh = extractHead(k, shape, item, head, keyLength, dim);
      const vh = extractHead(v, shape, item, head, keyLength, valueDim);
      const gh = extractHead(gradOut, shape, item, head, length, valueDim);
      const oh = new Float64Array(length * valueDim);
      const dqh = new Float64Array(length * dim);
      const dkh = new Float64Array(keyLength * dim);
      const dvh = new Float64Array(keyLength * valueDim);
      for (let i = 0; i < length; i++) {
        const s = new Float64Array(keyLength).fill(-Infinity);
        let best = -Infinity;
        for (let j = 0; j < keyLength; j++) {
          if (!visible(shape, item, causal, i, j)) continue;
          let dot = 0;
          for (let c = 0; c < dim; c++) dot += qh[i * dim + c] * kh[j * dim + c];
          s[j] = scale * dot;
          best = Math.max(best, s[j]);
        }
        if (best === -Infinity) continue;
        const p = s.map((value) => (value === -Infinity ? 0 : Math.exp(value - best)));
        const total = p.reduce((sum, value) => sum + value, 0);
        for (let j = 0; j < keyLength; j++) p[j] /= total;
        for (let j = 0; j < keyLength; j++) {
          for (let c = 0; c < valueDim; c++) oh[i * valueDim + c] += p[j] * vh[j * valueDim + c];
        }
        let d = 0;
        for (let c = 0; c < valueDim; c++) d += mag(gh[i * valueDim + c] * oh[i * valueDim + c]);
        for (let j = 0; j < keyLength; j++) {
          if (p[j] === 0) continue;
          let dp = 0;
          for (let c = 0; c < valueDim; c++) dp += mag(gh[i * valueDim + c] * vh[j * valueDim + c]);
          const ds = absolute ? p[j] * (dp + d) : p[j] * (dp - d);
          for (let c = 0; c < dim; c++) {
            dqh[i * dim + c] += mag(scale * ds * kh[j * dim + c]);
            dkh[j * dim + c] += mag(scale * ds * qh[i * dim + c]);
          }
          for (let c = 0; c < valueDim; c++) dvh[j * valueDim + c] += mag(p[j] * gh[i * valueDim + c]);
        }
      }
      storeHead(out, oh, shape, item, head, length, valueDim);
      storeHead(dq, dqh, shape, item, head, length, dim);
      storeHead(dk, dkh, shape, item, head, keyLength, dim);
      storeHead(dv, dvh, shape, item, head, keyLength, valueDim);
    }
  }
  return { out, dq, dk, dv };
}

/**
 * Central difference (f(x + h·e_i) − f(x − h·e_i))/(2h) of a scalar
 * function of a Float64Array, restoring x afterwards.
 */
export function centralDifference(fn, x, index, step) {
  const saved = x[index];
  x[index] = saved + step;
  const plus = fn();
  x[index] = saved - step;
  const minus = fn();
  x[index] = saved;
  return (plus - minus) / (2 * step);
}

/**
 * A causal case whose key features grow from about 1e-6 to 1e3 along the
 * sequence, the input on which rebuilding start states by float32
 * subtraction fails. kernel "relu" (8 projections): relu features scale
 * with the key (φ(a·k) = a·φ(k)), so k_j is a seeded vector times
 * 10^(−6 + 9.5j/(L−1)); kernel "exp" without a projection has
 * φ_l = exp(x̃_l), so x̃_j is ln(10)·(−6 + 9j/(L−1)) plus small noise.
 * Returns the inputs and options of attentionBackward (dim 4, valueDim 2),
 * the float64 gradients `ref` and their magnitudes `size`
 * (causalBackwardLinear64 with every prefix state in float64), `chain`
 * (the rounding count of the default path's bound: chunk + L/chunk + r +
 * dim + dv + 16), and the smallest and largest row maximum of the key
 * features.
 */
export function startStateCase(kernel, { length, chunk }) {
  const dim = 4, valueDim = 2;
  const q = seededFloats(length * dim, 1);
  const k = seededFloats(length * dim, 2);
  const v = seededFloats(length * valueDim, 3);
  const gradOut = seededFloats(length * valueDim, 4);
  const features = kernel === "relu" ? 8 : 0;
  const projection = features > 0 ? seededFloats(features * dim, 7, 1.5) : undefined;
  const scale = dim ** -0.25;
  for (let j = 0; j < length; j++) {
    const exponent = -6 + 9 * j / (length - 1);
    for (let c = 0; c < dim; c++) {
      const index = j * dim + c;
      k[index] = kernel === "relu" ? k[index] * 10 ** (exponent + 0.5 * j / (length - 1)) : (0.3 * k[index] + Math.LN10 * exponent) / scale;
    }
  }
  const map = { kind: kernel, dim, projection: projection ? Float64Array.from(projection) : null };
  const r = features > 0 ? features : dim;
  const qs = Float64Array.from(q, (x) => x * scale);
  const ks = Float64Array.from(k, (x) => x * scale);
  const qf = new Float64Array(length * r);
  const kf = new Float64Array(length * r);
  let smallest = Infinity, largest = 0;
  for (let i = 0; i < length; i++) {
    qf.set(featureMap64(qs.subarray(i * dim, (i + 1) * dim), map), i * r);
    const row = featureMap64(ks.subarray(i * dim, (i + 1) * dim), map);
    kf.set(row, i * r);
    const top = Math.max(...row);
    if (top > 0) {
      smallest = Math.min(smallest, top);
      largest = Math.max(largest, top);
    }
  }
  const shapeInfo = { length, r, valueDim };
  const exact = causalBackwardLinear64(qf, kf, Float64Array.from(v), Float64Array.from(gradOut), shapeInfo);
  const sizes = causalBackwardLinear64(qf, kf, Float64Array.from(v), Float64Array.from(gradOut), shapeInfo, { absolute: true });
  const ref = { dq: new Float64Array(length * dim), dk: new Float64Array(length * dim), dv: exact.dv };
  const size = { dq: new Float64Array(length * dim), dk: new Float64Array(length * dim), dv: sizes.dv };
  for (let i = 0; i < length; i++) {
    const rows = [[qs, exact.dqf, ref.dq, false], [ks, exact.dkf, ref.dk, false], [qs, sizes.dqf, size.dq, true], [ks, sizes.dkf, size.dk, true]];
    for (const [x, dfeat, target, absolute] of rows) {
      const dx = featureVjp64(x.subarray(i * dim, (i + 1) * dim), dfeat.subarray(i * r, (i + 1) * r), map, null, absolute);
      for (let c = 0; c < dim; c++) target[i * dim + c] = dx[c] * scale;
    }
  }
  const options = { batch: 1, heads: 1, length, dim, valueDim, layout: "bhld", causal: true, kernel, features, projection, chunk };
  const chain = chunk + length / chunk + r + dim + valueDim + 16;
  return { q, k, v, gradOut, options, ref, size, chain, smallest, largest };
}

/** Returns the largest |got − ref|/(u·M) over dq, dk and dv of a startStateCase. */
export function worstErrorRatio(got, c) {
  let worst = 0;
  for (const name of ["dq", "dk", "dv"]) {
    for (let i = 0; i < c.ref[name].length; i++) {
      worst = Math.max(worst, Math.abs(got[name][i] - c.ref[name][i]) / (U * c.size[name][i] + 1e-300));
    }
  }
  return worst;
}
