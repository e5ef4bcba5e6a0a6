// Float64 reference of FAVOR+ attention with hybrid (tensor-product) feature
// maps, shared by the WASM and WebGPU attention suites.

import { extractHead, fullShape, linearAttentionBound, linearAttentionHead, storeHead } from "./attention.js";
import { featuresReference } from "./features.js";
import { hybridFeaturesReference } from "./kernels.js";

/** The angular hybrid of trigonometric and hyperbolic features ("angular-hybrid"). */
export const ANGULAR = { bases: ["trig", "hyperbolic"], lambda: "angular", sigma: 1 };

/**
 * Float64 hybrid attention: Ψ_q with each row's larger base exponent as its
 * shift, Ψ_k with the largest exponent over the kept keys, then the
 * quadratic form. The key bound adds u·(2·max|exponent| + 3) of each value
 * for the kernels' rescaling of key blocks to the running shift, as
 * favorAttentionReference does for the plain maps.
 */
export function hybridAttentionReference(q, k, v, shapeIn, { causal, projection, estimator = ANGULAR }) {
  const shape = fullShape(shapeIn);
  const U = 2 ** -24;
  const { batch, heads, length, keyLength, dim, valueDim } = shape;
  const out = new Float64Array(batch * heads * length * valueDim);
  const bound = new Float64Array(out.length);
  const denominators = [];
  const inputScale = Math.fround(dim ** -0.25);
  for (let item = 0; item < batch; item++) {
    const mask = shape.keyPaddingMask;
    const keep = mask ? Array.from({ length: keyLength }, (_, j) => mask[item * keyLength + j] === 0) : null;
    for (let head = 0; head < heads; head++) {
      const xq = extractHead(q, shape, item, head, length, dim).map((x) => Math.fround(x * inputScale));
      const xk = extractHead(k, shape, item, head, keyLength, dim).map((x) => Math.fround(x * inputScale));
      const exponents = (x, rows) => [projection.base1, projection.base2].map((w, b) =>
        featuresReference(x, { rows, dim, projection: Float64Array.from(w), kind: estimator.bases[b] }).exponents);
      const [q1, q2] = exponents(xq, length);
      const queryShift = q1.map((e, i) => Math.max(e, q2[i]));
      const [k1, k2] = exponents(xk, keyLength);
      let keyShift = -Infinity;
      let largest = 0;
      for (let j = 0; j < keyLength; j++) {
        if (keep && !keep[j]) continue;
        keyShift = Math.max(keyShift, k1[j], k2[j]);
        largest = Math.max(largest, Math.abs(k1[j]), Math.abs(k2[j]));
      }
      if (!Number.isFinite(keyShift)) keyShift = 0;
      const qRef = hybridFeaturesReference(xq, { rows: length, dim, estimator, projection, role: "query", shift: queryShift });
      const kRef = hybridFeaturesReference(xk, {
        rows: keyLength, dim, estimator, projection, role: "key", shift: new Float64Array(keyLength).fill(keyShift),
      });
      const rescale = U * (2 * largest + 3);
      const kBound = kRef.bounds.map((b, index) => b + rescale * Math.abs(kRef.values[index]));
      const vh = extractHead(v, shape, item, head, keyLength, valueDim);
      const r = qRef.outputs;
      const result = linearAttentionHead(qRef.values, kRef.values, vh, {
        length, keyLength, features: r, valueDim, causal, keep, qBound: qRef.bounds, kBound,
      });
      const bh = result.out.map((_, index) =>
        linearAttentionBound(result, Math.floor(index / valueDim), index % valueDim, valueDim, { features: r, terms: keyLength }));
      storeHead(out, result.out, shape, item, head, length, valueDim);
      storeHead(bound, bh, shape, item, head, length, valueDim);
      denominators.push(result.den);
    }
  }
  return { out, bound, denominators };
}
