// qr conformance cases: thin and full factorizations of square, tall, wide,
// single-row and single-column matrices. Also a zero matrix, rank-deficient
// matrices with zero columns, constant matrices, outputs prefilled with
// NaN, and inputs scaled by 1e±30, where a float32 sum of squares would
// overflow or underflow.
//
// Q's columns are defined only up to signs, and small changes of A move Q
// and R by amounts that depend on its conditioning, so the cases check
// properties instead of elements:
//   - Q has orthonormal columns: ‖QᵀQ − I‖_F within the orthonormal rule;
//   - Q·R reconstructs A: ‖QR − A‖_F within the product rule times ‖A‖_F;
//   - R is upper triangular: exactly 0 below the diagonal;
//   - diag(R) has the signs of the float64 reference, which follows LAPACK's
//     convention (tests/reference/linalg.js), wherever |R[j][j]| exceeds
//     8·max(rows, cols)·u·‖A‖_F, where the sign cannot be a rounding effect.
// terms is max(rows, cols), because the bounds grow with the longer side.

import { frobenius, qrReference } from "../../reference/linalg.js";
import { exactValues, fill, input, integers, magnitudeValues, materialize, uniform, values } from "./helpers.js";

const U = 2 ** -24;

/** Builds one case. With `prefilled`, q and r are passed as NaN-filled arrays. */
function qrCase(id, rows, cols, mode, a, { prefilled = false, extraOutputs = {} } = {}) {
  const k = Math.min(rows, cols);
  const qCols = mode === "full" ? rows : k;
  const rRows = mode === "full" ? rows : k;
  const terms = Math.max(rows, cols);
  const matrix = materialize(a);
  const norm = frobenius(matrix);
  const reference = qrReference(matrix, rows, cols);

  const margin = 8 * terms * U * norm;
  const diagonal = [];
  for (let j = 0; j < k; j++) if (Math.abs(reference.r[j * cols + j]) > margin) diagonal.push(j);

  const outputs = {
    "q-orthonormal": { from: "return.q", check: { kind: "orthonormal", rows, cols: qCols, terms } },
    "qr-product": {
      from: "return.q",
      check: { kind: "product", right: "return.r", target: "input.a", rows, inner: qCols, cols, terms, magnitude: magnitudeValues([norm])[0] },
    },
    "r-triangular": { from: "return.r", check: { kind: "triangular", rows: rRows, cols, lower: false } },
    ...extraOutputs,
  };
  if (diagonal.length > 0) {
    outputs["r-diagonal-signs"] = {
      from: "return.r",
      indices: diagonal.map((j) => j * cols + j),
      expected: diagonal.map((j) => Math.sign(reference.r[j * cols + j])),
      check: { kind: "sign" },
    };
  }
  const testCase = {
    id: `qr/${id}-${mode}`,
    op: "qr",
    inputs: { a },
    args: [input("a"), { rows, cols, mode }],
    outputs,
  };
  if (prefilled) {
    testCase.inputs = { a, q: fill(rows * qCols, NaN), r: fill(rRows * cols, NaN) };
    testCase.args = [input("a"), { rows, cols, mode, q: input("q"), r: input("r") }];
    testCase.writes = ["q", "r"];
    testCase.identical = [["return.q", "input.q"], ["return.r", "input.r"]];
  }
  return testCase;
}

/** Returns the 12×9 matrix with columns x, y, z, 0, x, 2y, x + z, 0, z from small integers. */
function rankThree(seed) {
  const base = materialize(integers(12 * 3, seed, -5, 5));
  const list = [];
  for (let i = 0; i < 12; i++) {
    const [x, y, z] = base.subarray(i * 3, i * 3 + 3);
    list.push(x, y, z, 0, x, 2 * y, x + z, 0, z);
  }
  return values(list);
}

/** Returns every qr case. */
export function qrCases() {
  const cases = [];
  let seed = 6000;
  const shapes = [[1, 1], [1, 5], [5, 1], [3, 4], [4, 3], [7, 5], [5, 7], [8, 8], [13, 11], [17, 17], [33, 4], [4, 33], [40, 13]];
  for (const [rows, cols] of shapes) {
    const a = uniform(rows * cols, seed++);
    for (const mode of ["thin", "full"]) cases.push(qrCase(`shape-${rows}x${cols}`, rows, cols, mode, a));
  }
  // Column (3, 4) has norm 5 and a positive pivot, so R[0][0] = −5, and the
  // second step has nothing below the diagonal, so R[1][1] keeps its sign.
  cases.push(qrCase("known-2x2", 2, 2, "thin", values([3, 1, 4, 2])));
  // A negative pivot gives a positive R[0][0], a zero pivot a negative one.
  cases.push(qrCase("negative-pivot", 2, 1, "full", values([-3, 4])));
  cases.push(qrCase("zero-pivot", 4, 1, "thin", values([0, 0, 4, 0])));

  // A zero matrix skips every step: Q = I and R = 0 exactly.
  for (const [rows, cols] of [[5, 4], [4, 5]]) {
    const identity = new Float32Array(rows * rows);
    for (let i = 0; i < rows; i++) identity[i * rows + i] = 1;
    cases.push(qrCase(`zero-${rows}x${cols}`, rows, cols, "full", fill(rows * cols, 0), {
      extraOutputs: {
        "q-exact": { from: "return.q", expected: exactValues(identity), check: { kind: "exact" } },
        "r-exact": { from: "return.r", expected: exactValues(new Float32Array(rows * cols)), check: { kind: "exact" } },
      },
    }));
  }
  // Column 3 is zero when its step comes, so that step is skipped and the
  // column of R stays exactly 0 down to the diagonal.
  const deficient = rankThree(seed++);
  for (const mode of ["thin", "full"]) {
    cases.push(qrCase("rank-3-of-12x9", 12, 9, mode, deficient, {
      extraOutputs: {
        "r-zero-column": { from: "return.r", indices: [3, 12, 21, 30], expected: exactValues([0, 0, 0, 0]), check: { kind: "exact" } },
      },
    }));
  }
  cases.push(qrCase("constant-6x1", 6, 1, "full", fill(6, 1)));
  cases.push(qrCase("constant-2x3", 2, 3, "full", fill(6, 1)));

  for (const [name, scale] of [["1e-30", 1e-30], ["1e30", 1e30]]) {
    cases.push(qrCase(`scale-${name}-33x17`, 33, 17, "thin", uniform(33 * 17, seed++, -scale, scale)));
    cases.push(qrCase(`scale-${name}-17x33`, 17, 33, "thin", uniform(17 * 33, seed++, -scale, scale)));
  }
  cases.push(qrCase("out-prefilled-nan", 7, 5, "full", uniform(35, seed++), { prefilled: true }));
  cases.push(qrCase("out-prefilled-nan", 5, 7, "thin", uniform(35, seed++), { prefilled: true }));
  return cases;
}
