// transpose conformance cases: square and rectangular shapes on both sides
// of the 4×4 register blocks and the 16×16 tiles, single rows and columns,
// batches and empty matrices. Also special values (NaN, ±Infinity, -0,
// subnormals, the largest float32) and an output written in place. A
// transpose only moves values, so every check is exact against
// tests/reference/transpose.js.

import { transposeReference } from "../../reference/transpose.js";
import { exactValues, fill, input, integers, materialize, uniform, values } from "./helpers.js";

function transposeCase(id, options, a, { out } = {}) {
  const inputs = out ? { a, out } : { a };
  const expected = transposeReference(materialize(a), options);
  return {
    id: `transpose/${id}`,
    op: "transpose",
    inputs,
    args: [input("a"), out ? { ...options, out: input("out") } : options],
    writes: out ? ["out"] : [],
    ...(out ? { identical: [["return", "input.out"]] } : {}),
    outputs: { out: { from: "return", expected: exactValues(expected), check: { kind: "exact" } } },
  };
}

/** Returns every transpose case. */
export function transposeCases() {
  const cases = [];
  let seed = 4000;
  // Uniform floats where the matrix is small, small integers (short in
  // JSON) where it is large; both must come back bit for bit.
  const shapes = [[1, 1], [1, 7], [7, 1], [2, 3], [3, 5], [4, 4], [5, 4], [8, 8], [9, 7], [16, 16], [9, 17], [17, 9], [17, 33], [33, 2], [3, 65]];
  for (const [rows, cols] of shapes) {
    const length = rows * cols;
    const a = length <= 40 ? uniform(length, seed++) : integers(length, seed++, -99, 99);
    cases.push(transposeCase(`shape-${rows}x${cols}`, { rows, cols }, a));
  }
  cases.push(transposeCase("batch-3-5x9", { rows: 5, cols: 9, batch: 3 }, integers(3 * 5 * 9, seed++, -99, 99)));
  cases.push(transposeCase("batch-2-1x6", { rows: 1, cols: 6, batch: 2 }, uniform(12, seed++)));
  cases.push(transposeCase("rows-zero", { rows: 0, cols: 5 }, values([])));
  cases.push(transposeCase("cols-zero-batch-2", { rows: 4, cols: 0, batch: 2 }, values([])));
  cases.push(transposeCase("special-values", { rows: 3, cols: 4 }, values([
    NaN, Infinity, -Infinity, -0,
    0, 1e-45, -1.1754942106924411e-38, 3.4028234663852886e38,
    -3.4028234663852886e38, 1.401298464324817e-45, 0.1, -2.5,
  ])));
  // Output prefilled with NaN, so an element the kernel skips shows up.
  cases.push(transposeCase("out-prefilled-nan", { rows: 6, cols: 11 }, integers(66, seed++, -99, 99), { out: fill(66, NaN) }));
  return cases;
}
