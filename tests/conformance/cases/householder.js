// householder.product (method "cwy"), householder.apply and
// householder.stiefel conformance cases, against the float64 references
// in tests/reference/householder.js.
//
// Rule (as in tests/unit/householder.test.js): each path rounds sums of
// length n and k whose terms are bounded by the unit reflection vectors, so
// an entry of the orthogonal result errs by at most c·(n + k)·u, and an
// entry of Q·X or Qᵀ·X by c·(n + k)·u·‖x_c‖₂ for its column x_c; c = 4.
// "relative" checks with terms = n + k and magnitude 1 (product, stiefel)
// or the column norms of X (apply).

import { applyReference, productReference, stiefelReference } from "../../reference/householder.js";
import { fill, input, magnitudeValues, materialize, referenceValues, uniform } from "./helpers.js";

const SHAPES = [[1, 1], [3, 2], [5, 5], [9, 3], [17, 16]];

function columnNorms(x, n, cols) {
  const norms = [];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      for (let p = 0; p < n; p++) sum += x[p * cols + c] ** 2;
      norms.push(Math.sqrt(sum));
    }
  }
  return norms;
}

/** Returns every householder.product, householder.apply and householder.stiefel case. */
export function householderCases() {
  const cases = [];
  let seed = 13000;
  for (const [n, k] of SHAPES) {
    const v = uniform(n * k, seed++, -1, 1);
    const vValues = materialize(v);
    const relative = { kind: "relative", terms: n + k, magnitude: 1 };
    cases.push({
      id: `householder.product/cwy-${n}x${k}`,
      op: "householder.product",
      inputs: { v, q: fill(n * n, NaN) },
      args: [input("v"), { n, k, method: "cwy", q: input("q") }],
      writes: ["q"],
      identical: [["return", "input.q"]],
      outputs: { q: { from: "return", expected: referenceValues(productReference(vValues, n, k)), check: relative } },
    });
    cases.push({
      id: `householder.stiefel/${n}x${k}`,
      op: "householder.stiefel",
      inputs: { v },
      args: [input("v"), { n, k }],
      outputs: { omega: { from: "return", expected: referenceValues(stiefelReference(vValues, n, k)), check: relative } },
    });
    for (const cols of [1, 3]) {
      const x = uniform(n * cols, seed++, -2, 2);
      const xValues = materialize(x);
      for (const transpose of [false, true]) {
        cases.push({
          id: `householder.apply/${n}x${k}-cols-${cols}${transpose ? "-transpose" : ""}`,
          op: "householder.apply",
          inputs: { v, x },
          args: [input("v"), input("x"), { n, k, cols, transpose }],
          outputs: {
            out: {
              from: "return",
              expected: referenceValues(applyReference(vValues, xValues, n, k, cols, transpose)),
              check: { kind: "relative", terms: n + k, magnitude: magnitudeValues(columnNorms(xValues, n, cols)) },
            },
          },
        });
      }
    }
  }
  return cases;
}
