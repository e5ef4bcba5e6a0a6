// gemv conformance cases: shapes on both sides of the 4-lane vectors, the
// 4-row groups and the 16-column blocks, with and without trans, alpha and
// beta (beta 0 must ignore NaN in y), outputs written in place, and empty
// products. Expected values and magnitudes come from the float64 reference
// in tests/reference/gemv.js; each output is a K-term dot product with
// K = n (or m with trans).

import { gemvReference } from "../../reference/gemv.js";
import { exactValues, fill, input, integers, magnitudeValues, materialize, referenceValues, uniform, values } from "./helpers.js";

/**
 * Builds one case. `makeInputs(lengths)` returns the specs of a, x and
 * optionally y, given their lengths. With `exact` the expected values must
 * be float32 values and are compared bit for bit.
 */
function gemvCase(id, options, makeInputs, { exact = false } = {}) {
  const { m, n, trans = false } = options;
  const terms = trans ? m : n;
  const lengths = { a: m * n, x: trans ? m : n, y: trans ? n : m };
  const inputs = makeInputs(lengths);
  const a = materialize(inputs.a);
  const x = materialize(inputs.x);
  const y = inputs.y ? materialize(inputs.y) : undefined;
  const reference = gemvReference(a, x, { ...options, y });
  const callOptions = { ...options };
  if (inputs.y) callOptions.y = input("y");
  return {
    id: `gemv/${id}`,
    op: "gemv",
    inputs,
    args: [input("a"), input("x"), callOptions],
    writes: inputs.y ? ["y"] : [],
    ...(inputs.y ? { identical: [["return", "input.y"]] } : {}),
    outputs: {
      y: exact
        ? { from: "return", expected: exactValues(reference.out), check: { kind: "exact" } }
        : { from: "return", expected: referenceValues(reference.out), check: { kind: "dot", terms, magnitude: magnitudeValues(reference.magnitude) } },
    },
  };
}

/** Returns every gemv case. */
export function gemvCases() {
  const cases = [];
  let seed = 3000;
  const random = (lengths) => ({ a: uniform(lengths.a, seed++), x: uniform(lengths.x, seed++) });

  // [1 2 3; 4 5 6]·[1 1 2] = [9 21] and its transpose times [1 2] = [9 12 15], exact in float32.
  cases.push(gemvCase("known-2x3", { m: 2, n: 3 }, () => ({ a: values([1, 2, 3, 4, 5, 6]), x: values([1, 1, 2]) }), { exact: true }));
  cases.push(gemvCase("known-2x3-trans", { m: 2, n: 3, trans: true }, () => ({ a: values([1, 2, 3, 4, 5, 6]), x: values([1, 2]) }), { exact: true }));

  // Small integers: every partial sum is an integer below 2^24, so every summation order is exact.
  for (const trans of [false, true]) {
    cases.push(gemvCase(`integers-13x21${trans ? "-trans" : ""}`, { m: 13, n: 21, trans },
      (lengths) => ({ a: integers(lengths.a, seed++, -9, 9), x: integers(lengths.x, seed++, -9, 9) }), { exact: true }));
  }

  const shapes = [[1, 1], [1, 65], [65, 1], [3, 5], [4, 4], [5, 9], [8, 17], [9, 8], [16, 16], [17, 33], [33, 17], [7, 64]];
  for (const [m, n] of shapes) {
    for (const trans of [false, true]) cases.push(gemvCase(`shape-${m}x${n}${trans ? "-trans" : ""}`, { m, n, trans }, random));
  }

  // Inputs far from 1 in magnitude: the bound scales with Σ|A·x|.
  cases.push(gemvCase("scaled-large", { m: 6, n: 40 },
    (lengths) => ({ a: uniform(lengths.a, seed++, -3e3, 3e3), x: uniform(lengths.x, seed++, -2e3, 1e3) })));
  cases.push(gemvCase("scaled-small-trans", { m: 40, n: 6, trans: true },
    (lengths) => ({ a: uniform(lengths.a, seed++, -1e-3, 1e-3), x: uniform(lengths.x, seed++, 0, 2e-4) })));

  // alpha and beta, written into y in place; alpha 0 leaves beta·y.
  for (const [m, n, trans, alpha, beta] of [[7, 9, false, -1.5, 0.25], [17, 5, true, 2, -1], [9, 7, false, 0, 3], [5, 17, true, 0.5, 1]]) {
    cases.push(gemvCase(`alpha-${alpha}-beta-${beta}${trans ? "-trans" : ""}`, { m, n, trans, alpha, beta },
      (lengths) => ({ ...random(lengths), y: uniform(lengths.y, seed++, -4, 4) })));
  }
  // With beta 0 the old y is ignored, so NaN in it must not reach the result.
  for (const trans of [false, true]) {
    cases.push(gemvCase(`beta-zero-ignores-nan${trans ? "-trans" : ""}`, { m: 6, n: 11, trans, alpha: 0.5 },
      (lengths) => ({ ...random(lengths), y: fill(lengths.y, NaN) })));
  }

  // Empty products: n = 0 gives y = beta·y, m = 0 gives an empty y (or
  // zeros of length n with trans).
  cases.push(gemvCase("n-zero", { m: 3, n: 0, beta: 2 },
    (lengths) => ({ a: values([]), x: values([]), y: integers(lengths.y, seed++, -5, 5) }), { exact: true }));
  cases.push(gemvCase("m-zero-trans", { m: 0, n: 4, trans: true }, () => ({ a: values([]), x: values([]) }), { exact: true }));
  cases.push(gemvCase("m-zero", { m: 0, n: 5 }, (lengths) => ({ a: values([]), x: uniform(lengths.x, seed++) }), { exact: true }));
  return cases;
}
