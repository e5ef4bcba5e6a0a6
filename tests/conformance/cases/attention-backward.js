// attentionBackward conformance cases: gradients of Σ gradOut ∘ attention
// with respect to q, k and v, bidirectional and causal, both layouts, a key
// padding mask, and an explicit projection so the result is deterministic.
//
// Expected values come from attentionBackward64 in tests/reference/backward.js
// (float64, exact feature maps); each element's bound is gradientTolerance of
// the same gradient summed in magnitudes: chain·u·M with
// chain = keys + r + dim + dv + (dim + 2)·E + 16, the longest chain of float32
// roundings a term passes through (see that file), as the unit tests use.

import { attentionBackward64, exponentSize, gradientTolerance } from "../../reference/backward.js";
import { boundValues, bytes, input, materialize, referenceValues, uniform } from "./helpers.js";

const FEATURES = 6;

function backwardCase(id, shape, options, seed) {
  const keyLength = shape.keyLength ?? shape.length;
  const valueDim = shape.valueDim ?? shape.dim;
  const rows = shape.batch * shape.heads;
  const specs = {
    q: uniform(rows * shape.length * shape.dim, seed, -1, 1),
    k: uniform(rows * keyLength * shape.dim, seed + 1, -1, 1),
    v: uniform(rows * keyLength * valueDim, seed + 2, -1, 1),
    gradOut: uniform(rows * shape.length * valueDim, seed + 3, -1, 1),
  };
  const projection = uniform(FEATURES * shape.dim, seed + 4, -1.5, 1.5);

  // The mask travels as a named Uint8Array input; the reference gets its values.
  const inputs = { ...specs, projection };
  const { keyPaddingMask, ...shapeWithoutMask } = shape;
  const referenceShape = { ...shapeWithoutMask };
  const shapeArgument = { ...shapeWithoutMask };
  if (keyPaddingMask !== undefined) {
    inputs.mask = keyPaddingMask;
    referenceShape.keyPaddingMask = materialize(keyPaddingMask);
    shapeArgument.keyPaddingMask = input("mask");
  }

  const [q, k, v, gradOut] = [specs.q, specs.k, specs.v, specs.gradOut].map(materialize);
  const referenceOptions = { ...options, features: FEATURES, projection: materialize(projection) };
  const ref = attentionBackward64(q, k, v, gradOut, referenceShape, referenceOptions);
  const size = attentionBackward64(q, k, v, gradOut, referenceShape, referenceOptions, { absolute: true });
  const chain = {
    keys: keyLength + 1, r: FEATURES, dim: shape.dim, valueDim,
    exponentSize: exponentSize(q, k, referenceShape, referenceOptions),
  };

  const output = (name) => ({
    from: `return.${name}`,
    expected: referenceValues(ref[name]),
    check: { kind: "bound", bound: boundValues(gradientTolerance(size[name], chain)) },
  });
  return {
    id: `attentionBackward/${id}`,
    op: "attentionBackward",
    inputs,
    args: [input("q"), input("k"), input("v"), input("gradOut"),
      { ...shapeArgument, ...options, features: FEATURES, projection: input("projection") }],
    outputs: { dq: output("dq"), dk: output("dk"), dv: output("dv") },
  };
}

/** Returns every attentionBackward case. */
export function attentionBackwardCases() {
  const cases = [];
  let seed = 13000;
  // Item 0 masks keys 1 and 4, item 1 masks key 0.
  const mask = bytes([0, 1, 0, 0, 1, 1, 0, 0, 0, 0]);
  for (const layout of ["bhld", "blhd"]) {
    for (const causal of [false, true]) {
      const direction = causal ? "causal" : "bidirectional";
      const shape = { batch: 2, heads: 2, length: 5, dim: 4, valueDim: 3, layout };
      cases.push(backwardCase(`${direction}-${layout}`, shape, { causal, kernel: "positive" }, seed));
      seed += 5;
      cases.push(backwardCase(`${direction}-${layout}-key-padding-mask`, { ...shape, keyPaddingMask: mask },
        { causal, kernel: "positive" }, seed));
      seed += 5;
    }
  }
  const causalLong = { batch: 1, heads: 1, length: 19, dim: 4, valueDim: 2, layout: "bhld" };
  cases.push(backwardCase("causal-length-19-chunk-4", causalLong, { causal: true, kernel: "positive", chunk: 4 }, seed));
  cases.push(backwardCase("causal-relu-chunk-4", causalLong, { causal: true, kernel: "relu", chunk: 4 }, seed + 5));
  return cases;
}
