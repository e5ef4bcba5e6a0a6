// softmax and logsumexp conformance cases: row lengths on both sides of the
// 4-lane vectors and inputs of scale 1 and 30. Also rows with NaN,
// ±Infinity and -Infinity entries (the documented special results), a
// causal mask of -Infinity above the diagonal, extreme finite rows that
// must stay finite, softmax in place (out = x), outputs prefilled with NaN,
// and zero rows.
//
// Expected values come from tests/reference/softmax.js. Both ops use the
// "relative" check; tolerances.json derives the bounds. Per element:
//   softmax_j:   magnitude softmax_j, condition d_j + spread, terms cols;
//   logsumexp:   magnitude 1, condition |logsumexp| + spread, terms cols;
// with d_j = |x_j − max| and spread = Σ_j softmax_j·d_j of the row, which
// scale the error that rounding x_j − max to float32 passes into exp.

import { softmaxReference } from "../../reference/softmax.js";
import { fill, input, magnitudeValues, materialize, referenceValues, uniform, values, where } from "./helpers.js";

/** Builds the softmax and the logsumexp case for one input. */
function rowCases(id, rows, cols, x, { inPlace = false, prefilled = false } = {}) {
  const reference = softmaxReference(materialize(x), { rows, cols });
  const softmaxCondition = Array.from(reference.softmax, (value, index) =>
    (value > 0 ? reference.distance[index] + reference.spread[Math.floor(index / cols)] : 0));
  const logsumexpCondition = Array.from(reference.logsumexp, (value, row) =>
    (Number.isFinite(value) ? Math.abs(value) + reference.spread[row] : 0));

  const softmax = {
    id: `softmax/${id}`,
    op: "softmax",
    inputs: { x },
    args: [input("x"), { rows, cols }],
    outputs: {
      softmax: {
        from: "return",
        expected: referenceValues(reference.softmax),
        check: { kind: "relative", terms: cols, magnitude: "expected", condition: magnitudeValues(softmaxCondition) },
      },
    },
  };
  const logsumexp = {
    id: `logsumexp/${id}`,
    op: "logsumexp",
    inputs: { x },
    args: [input("x"), { rows, cols }],
    outputs: {
      logsumexp: {
        from: "return",
        expected: referenceValues(reference.logsumexp),
        check: { kind: "relative", terms: cols, magnitude: 1, condition: magnitudeValues(logsumexpCondition) },
      },
    },
  };
  if (inPlace) {
    // softmax may write over x; the result is then read from x.
    softmax.args = [input("x"), { rows, cols, out: input("x") }];
    softmax.writes = ["x"];
    softmax.identical = [["return", "input.x"]];
    softmax.outputs.softmax.from = "input.x";
  }
  if (prefilled) {
    softmax.inputs = { x, out: fill(rows * cols, NaN) };
    softmax.args = [input("x"), { rows, cols, out: input("out") }];
    softmax.writes = ["out"];
    softmax.identical = [["return", "input.out"]];
    logsumexp.inputs = { x, out: fill(rows, NaN) };
    logsumexp.args = [input("x"), { rows, cols, out: input("out") }];
    logsumexp.writes = ["out"];
    logsumexp.identical = [["return", "input.out"]];
  }
  return [softmax, logsumexp];
}

/** Rows of ±value in a fixed mixed pattern, plus rows where one sign dominates. */
function extremeRows(value, cols) {
  const list = [];
  for (let j = 0; j < cols; j++) list.push(j % 3 === 0 ? value : -value);
  for (let j = 0; j < cols; j++) list.push(-value);
  for (let j = 0; j < cols; j++) list.push(j === cols - 1 ? value : -value * (1 - j / (2 * cols)));
  return values(list);
}

/** Returns every softmax and logsumexp case. */
export function softmaxCases() {
  const cases = [];
  let seed = 5000;

  const shapes = [[1, 1], [1, 5], [3, 4], [2, 7], [3, 8], [2, 9], [2, 16], [2, 17], [1, 33], [1, 65]];
  for (const [rows, cols] of shapes) {
    for (const scale of [1, 30]) {
      cases.push(...rowCases(`shape-${rows}x${cols}-scale-${scale}`, rows, cols, uniform(rows * cols, seed++, -scale, scale)));
    }
  }

  // NaN in a row gives NaN (softmax row and logsumexp), else +Infinity gives
  // a NaN softmax row and logsumexp +Infinity, a row of only -Infinity gives
  // zeros and -Infinity, and -Infinity entries of other rows get 0.
  cases.push(...rowCases("special-values", 6, 6, values([
    1, 2, NaN, 4, 5, 6,
    NaN, Infinity, -Infinity, 0, 0, 0,
    1, Infinity, 3, 4, 5, 6,
    Infinity, Infinity, -Infinity, 0, 0, 0,
    -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity,
    -Infinity, 0, -Infinity, Math.log(3), -Infinity, -Infinity,
  ])));
  // A causal attention mask: -Infinity above the diagonal.
  cases.push(...rowCases("causal-mask-9x9", 9, 9,
    where(9, 9, "strictUpper", fill(81, -Infinity), uniform(81, seed++, -4, 4))));
  // Extreme finite rows: x − max overflows to -Infinity for some entries,
  // and the results must stay finite.
  for (const value of [1e4, 3e38]) cases.push(...rowCases(`extreme-${value}`, 3, 5, extremeRows(value, 5)));

  cases.push(...rowCases("out-prefilled-nan", 3, 13, uniform(39, seed++, -5, 5), { prefilled: true }));
  const [inPlace] = rowCases("in-place", 3, 17, uniform(51, seed++, -5, 5), { inPlace: true });
  cases.push(inPlace);
  cases.push(...rowCases("rows-zero", 0, 3, values([])));
  return cases;
}
