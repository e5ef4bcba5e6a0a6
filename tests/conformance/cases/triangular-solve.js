// triangularSolve conformance cases: every combination of lower, transpose
// and unitDiagonal, orders on both sides of the 4-lane vectors and several
// column counts. Also known exact solves, a zero diagonal read as ones with
// unitDiagonal, an output prefilled with NaN, and the singular diagonals
// the API rejects. Elements of A outside the named triangle are NaN, and
// so is the diagonal when unitDiagonal says it is not read, so a stray read
// turns the result into NaN.
//
// The matrices have |diagonal| in [1, 2) and off-diagonal entries in
// [−1/n, 1/n), so they are well conditioned. Expected X is the float64
// solution of tests/reference/linalg.js. The check is the forward-error
// bound of substitution: (T + ΔT)·X̂ = B with |ΔT| ≤ γ_n·|T| for T = op(A),
// so |X̂ − X| ≤ γ_n·|T⁻¹|·|T|·|X̂|. The cases store
// magnitude = |T⁻¹|·|T|·|X| and use the "dot" check with terms n;
// tolerances.json explains the extra roundings.

import { absInverse, multiply, triangularOperator, triangularSolveReference } from "../../reference/linalg.js";
import { exactValues, fill, input, magnitudeValues, materialize, referenceValues, uniform, values, where } from "./helpers.js";

const COMBINATIONS = [];
for (const lower of [true, false]) {
  for (const transpose of [false, true]) {
    for (const unitDiagonal of [false, true]) COMBINATIONS.push({ lower, transpose, unitDiagonal });
  }
}

function combinationName({ lower, transpose, unitDiagonal }) {
  return `${lower ? "lower" : "upper"}${transpose ? "-transpose" : ""}${unitDiagonal ? "-unit" : ""}`;
}

/**
 * Returns the spec of a well-conditioned n×n triangular A: the named
 * triangle uniform in [−1/n, 1/n), the diagonal uniform in [1, 2) (or
 * [−2, −1) when `negative`), NaN elsewhere and on the diagonal with unitDiagonal.
 */
function triangularMatrix(n, { lower, unitDiagonal }, seed, negative) {
  const triangle = uniform(n * n, seed, -1 / n, 1 / n);
  const diagonal = negative ? uniform(n * n, seed + 1, -2, -1) : uniform(n * n, seed + 1, 1, 2);
  const rest = unitDiagonal ? fill(n * n, NaN) : where(n, n, "diagonal", diagonal, fill(n * n, NaN));
  return where(n, n, lower ? "strictLower" : "strictUpper", triangle, rest);
}

/** Builds one case with the forward-error check; with `prefilled`, x is passed as a NaN-filled array. */
function solveCase(id, options, a, b, { prefilled = false } = {}) {
  const { n, cols } = options;
  const matrix = materialize(a);
  const expected = triangularSolveReference(matrix, materialize(b), options);
  const absT = triangularOperator(matrix, options).map(Math.abs);
  const magnitude = multiply(absInverse(matrix, options), multiply(absT, expected.map(Math.abs), n, cols), n, cols);
  const testCase = {
    id: `triangularSolve/${id}`,
    op: "triangularSolve",
    inputs: { a, b },
    args: [input("a"), input("b"), options],
    outputs: {
      x: { from: "return", expected: referenceValues(expected), check: { kind: "dot", terms: n, magnitude: magnitudeValues(magnitude) } },
    },
  };
  if (prefilled) {
    testCase.inputs = { a, b, x: fill(n * cols, NaN) };
    testCase.args = [input("a"), input("b"), { ...options, x: input("x") }];
    testCase.writes = ["x"];
    testCase.identical = [["return", "input.x"]];
  }
  return testCase;
}

/** Builds a case whose solution is exact in float32. */
function exactCase(id, options, a, b, x) {
  return {
    id: `triangularSolve/${id}`,
    op: "triangularSolve",
    inputs: { a: values(a), b: values(b) },
    args: [input("a"), input("b"), options],
    outputs: { x: { from: "return", expected: exactValues(x), check: { kind: "exact" } } },
  };
}

/** Returns every triangularSolve case. */
export function triangularSolveCases() {
  const cases = [];
  let seed = 7000;
  const solve = (n, cols, combination, extra = {}) => {
    const a = triangularMatrix(n, combination, seed, extra.negative ?? false);
    seed += 2;
    const b = uniform(n * cols, seed++);
    const sign = extra.negative ? "-negative" : "";
    return solveCase(`n${n}-cols${cols}-${combinationName(combination)}${sign}${extra.suffix ?? ""}`,
      { n, cols, ...combination }, a, b, extra);
  };

  COMBINATIONS.forEach((combination, index) => {
    cases.push(solve(5, 3, combination, { negative: index % 3 === 1 }));
    cases.push(solve(17, index % 2 === 0 ? 1 : 4, combination, { negative: index % 3 === 2 }));
  });
  for (const [n, cols, index] of [[1, 1, 0], [1, 5, 3], [2, 2, 5], [3, 7, 6], [4, 4, 1], [8, 5, 2], [9, 2, 7], [33, 2, 4], [33, 3, 3]]) {
    cases.push(solve(n, cols, COMBINATIONS[index]));
  }
  cases.push(solve(9, 6, COMBINATIONS[0], { prefilled: true, suffix: "-out-prefilled-nan" }));

  // A = [2 0; 1 4] (lower) and b = (2, 9): A·x = b gives x = (1, 2) and
  // Aᵀ·x = b gives (−0.125, 2.25); the upper U = Aᵀ swaps the two. With a
  // unit diagonal, [1 0; 1 1]·x = (2, 9) gives (2, 7). All exact.
  const lowerA = [2, 0, 1, 4];
  const upperA = [2, 1, 0, 4];
  const b = [2, 9];
  cases.push(exactCase("known-lower", { n: 2, cols: 1, lower: true }, lowerA, b, [1, 2]));
  cases.push(exactCase("known-lower-transpose", { n: 2, cols: 1, lower: true, transpose: true }, lowerA, b, [-0.125, 2.25]));
  cases.push(exactCase("known-upper", { n: 2, cols: 1, lower: false }, upperA, b, [-0.125, 2.25]));
  cases.push(exactCase("known-upper-transpose", { n: 2, cols: 1, lower: false, transpose: true }, upperA, b, [1, 2]));
  cases.push(exactCase("known-lower-unit", { n: 2, cols: 1, lower: true, unitDiagonal: true }, lowerA, b, [2, 7]));
  // unitDiagonal never reads the diagonal, so zeros there are allowed.
  cases.push(exactCase("zero-diagonal-unit", { n: 2, cols: 1, lower: true, unitDiagonal: true }, [0, 0, 3, 0], [1, 5], [1, 2]));

  const rejections = [
    ["zero-diagonal", [1, 0, 5, 0], { lower: true },
      "triangularSolve: diagonal entry 1 of a (a[3]) is 0, so the triangular matrix is singular"],
    ["nan-diagonal", [1, 0, 0, NaN], { lower: false },
      "triangularSolve: diagonal entry 1 of a (a[3]) is NaN, so the triangular matrix is not finite"],
  ];
  for (const [name, a, flags, message] of rejections) {
    cases.push({
      id: `triangularSolve/rejects-${name}`,
      op: "triangularSolve",
      inputs: { a: values(a), b: values([1, 1]) },
      args: [input("a"), input("b"), { n: 2, cols: 1, ...flags }],
      rejects: { name: "RangeError", message },
    });
  }
  return cases;
}
