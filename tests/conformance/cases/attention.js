// attention (FAVOR+) and softmaxAttention conformance cases: bidirectional
// and causal, layouts "bhld" and "blhd", two batch items and two heads, a
// key padding mask (a Uint8Array, 1 masks a key out), and for attention an
// explicit projection so the result is deterministic.
//
// Expected values and per-element bounds ("bound" check, factor 1) come
// from tests/reference/attention.js: favorAttentionReference adds to the
// feature bounds of featuresReference the rescaling of key blocks and the
// products of D⁻¹(Q′K′ᵀ)V; softmaxAttentionReference bounds the weights'
// relative error by eps·((dim + 3 + 2·blocks)·A + 2 + 2·blocks), with A the
// largest scaled |q|·|k| sum, and the weighted means by twice that plus
// (n + 4)·eps.

import { favorAttentionReference, softmaxAttentionReference } from "../../reference/attention.js";
import { boundValues, bytes, input, materialize, referenceValues, uniform } from "./helpers.js";

const FEATURES = 6;

/** Returns q, k and v input specs for a shape. */
function tensors(shape, seed) {
  const keyLength = shape.keyLength ?? shape.length;
  const valueDim = shape.valueDim ?? shape.dim;
  const rows = shape.batch * shape.heads;
  return {
    q: uniform(rows * shape.length * shape.dim, seed, -1, 1),
    k: uniform(rows * keyLength * shape.dim, seed + 1, -1, 1),
    v: uniform(rows * keyLength * valueDim, seed + 2, -1, 1),
  };
}

/** Returns the shape argument, with the mask as an input reference. */
function shapeArgument(shape) {
  const { keyPaddingMask, ...rest } = shape;
  return keyPaddingMask === undefined ? rest : { ...rest, keyPaddingMask: input("mask") };
}

function favorCase(id, shape, options, seed) {
  const specs = tensors(shape, seed);
  const projection = uniform(FEATURES * shape.dim, seed + 3, -1.5, 1.5);
  const inputs = { ...specs, projection };
  const referenceShape = { ...shape };
  if (shape.keyPaddingMask !== undefined) {
    inputs.mask = shape.keyPaddingMask;
    referenceShape.keyPaddingMask = materialize(shape.keyPaddingMask);
  }
  const reference = favorAttentionReference(materialize(specs.q), materialize(specs.k), materialize(specs.v), referenceShape, {
    causal: options.causal, kind: options.kernel, projection: materialize(projection), features: FEATURES,
  });
  return {
    id: `attention/${id}`,
    op: "attention",
    inputs,
    args: [input("q"), input("k"), input("v"),
      { ...shapeArgument(shape), ...options, features: FEATURES, projection: input("projection") }],
    outputs: {
      out: { from: "return", expected: referenceValues(reference.out), check: { kind: "bound", bound: boundValues(reference.bound) } },
    },
  };
}

function softmaxCase(id, shape, options, seed) {
  const specs = tensors(shape, seed);
  const inputs = { ...specs };
  const referenceShape = { ...shape };
  if (shape.keyPaddingMask !== undefined) {
    inputs.mask = shape.keyPaddingMask;
    referenceShape.keyPaddingMask = materialize(shape.keyPaddingMask);
  }
  const reference = softmaxAttentionReference(materialize(specs.q), materialize(specs.k), materialize(specs.v), referenceShape, {
    causal: options.causal, scale: options.scale ?? 1 / Math.sqrt(shape.dim),
  });
  return {
    id: `softmaxAttention/${id}`,
    op: "softmaxAttention",
    inputs,
    args: [input("q"), input("k"), input("v"), { ...shapeArgument(shape), ...options }],
    outputs: {
      out: { from: "return", expected: referenceValues(reference.out), check: { kind: "bound", bound: boundValues(reference.bound) } },
    },
  };
}

/** Returns every attention and softmaxAttention case. */
export function attentionCases() {
  const cases = [];
  let seed = 11000;
  // Item 0 masks keys 1 and 4, item 1 masks key 0 (the first key of a causal row).
  const mask = bytes([0, 1, 0, 0, 1, 1, 0, 0, 0, 0]);
  for (const layout of ["bhld", "blhd"]) {
    for (const causal of [false, true]) {
      const direction = causal ? "causal" : "bidirectional";
      const shape = { batch: 2, heads: 2, length: 5, dim: 4, valueDim: 3, layout };
      cases.push(favorCase(`${direction}-${layout}`, shape, { causal, kernel: "positive" }, seed));
      cases.push(softmaxCase(`${direction}-${layout}`, shape, { causal }, seed));
      seed += 4;
      cases.push(favorCase(`${direction}-${layout}-key-padding-mask`, { ...shape, keyPaddingMask: mask }, { causal, kernel: "positive" }, seed));
      cases.push(softmaxCase(`${direction}-${layout}-key-padding-mask`, { ...shape, keyPaddingMask: mask }, { causal }, seed));
      seed += 4;
    }
  }
  const longer = { batch: 1, heads: 3, length: 4, keyLength: 7, dim: 5, valueDim: 2, layout: "blhd" };
  cases.push(favorCase("bidirectional-key-length-7", longer, { causal: false, kernel: "positive" }, seed));
  cases.push(favorCase("bidirectional-relu", longer, { causal: false, kernel: "relu" }, seed));
  cases.push(softmaxCase("bidirectional-key-length-7-scale-0.3", longer, { causal: false, scale: 0.3 }, seed));
  seed += 4;
  const causalLong = { batch: 1, heads: 1, length: 33, dim: 8, valueDim: 3, layout: "bhld" };
  cases.push(favorCase("causal-length-33-chunk-8", causalLong, { causal: true, kernel: "positive", chunk: 8 }, seed));
  cases.push(softmaxCase("causal-length-33", causalLong, { causal: true }, seed));
  return cases;
}
