// matmul conformance cases: shapes around likely tile and block edges,
// every transpose combination, alpha and beta, batches with shared and
// padded operands, and empty products. Expected values come from the
// float64 reference in tests/reference/gemm.js. Strided layouts are packed
// into dense matrices for it and the result is scattered back. Elements of
// C between rows and between batch items must come back bit-identical.

import { gemmReference } from "../../reference/gemm.js";
import {
  exactValues, fill, input, integers, magnitudeValues, materialize, referenceValues, uniform, values,
} from "./helpers.js";

/** Default leading dimensions and strides, as bindings/api/matmul.ts fills them in. */
function layout({ m, n, k, transA = false, transB = false, batch = 1, lda, ldb, ldc, strideA, strideB, strideC }) {
  const rowsA = transA ? k : m;
  const colsA = transA ? m : k;
  const rowsB = transB ? n : k;
  const colsB = transB ? k : n;
  lda ??= colsA;
  ldb ??= colsB;
  ldc ??= n;
  strideA ??= rowsA * lda;
  strideB ??= rowsB * ldb;
  strideC ??= m * ldc;
  const extent = (rows, cols, ld, stride) => (batch === 0 || rows === 0 || cols === 0 ? 0 : (batch - 1) * stride + (rows - 1) * ld + cols);
  return {
    rowsA, colsA, rowsB, colsB, lda, ldb, ldc, strideA, strideB, strideC,
    extentA: extent(rowsA, colsA, lda, strideA),
    extentB: extent(rowsB, colsB, ldb, strideB),
    extentC: extent(m, n, ldc, strideC),
  };
}

/** Copies a rows×cols matrix at `offset` with row stride `ld` into a dense array. */
function pack(array, offset, rows, cols, ld) {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = array[offset + r * ld + c];
  return out;
}

/**
 * Computes the expected C (its whole strided extent) and the magnitude of
 * each element. Elements the product does not write keep their old value
 * and get magnitude 0, which makes the check for them exact.
 */
function expectedC(a, b, c, options) {
  const { m, n, k, transA = false, transB = false, alpha = 1, beta = 0, batch = 1 } = options;
  const shape = layout(options);
  const out = Float64Array.from(c);
  const magnitude = new Float64Array(c.length);
  for (let item = 0; item < batch; item++) {
    const denseA = pack(a, item * shape.strideA, shape.rowsA, shape.colsA, shape.lda);
    const denseB = pack(b, item * shape.strideB, shape.rowsB, shape.colsB, shape.ldb);
    const denseC = pack(c, item * shape.strideC, m, n, shape.ldc);
    const ref = gemmReference(denseA, denseB, { m, n, k, transA, transB, alpha, beta, c: denseC });
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        out[item * shape.strideC + i * shape.ldc + j] = ref.out[i * n + j];
        magnitude[item * shape.strideC + i * shape.ldc + j] = ref.magnitude[i * n + j];
      }
    }
  }
  return { out, magnitude };
}

/**
 * Builds one case. `makeInputs(shape)` returns the specs of a, b and
 * optionally c, given the extents. With `exact` the expected values must
 * be float32 values and are compared bit for bit.
 */
function matmulCase(id, options, makeInputs, { exact = false } = {}) {
  const shape = layout(options);
  const inputs = makeInputs(shape);
  const a = materialize(inputs.a);
  const b = materialize(inputs.b);
  const c = inputs.c ? materialize(inputs.c) : new Float32Array(shape.extentC);
  const expected = expectedC(a, b, c, options);
  const callOptions = { ...options };
  if (inputs.c) callOptions.c = input("c");
  return {
    id: `matmul/${id}`,
    op: "matmul",
    inputs,
    args: [input("a"), input("b"), callOptions],
    writes: inputs.c ? ["c"] : [],
    outputs: {
      c: exact
        ? { from: "return", expected: exactValues(expected.out), check: { kind: "exact" } }
        : {
          from: "return",
          expected: referenceValues(expected.out),
          check: { kind: "dot", terms: options.k, magnitude: magnitudeValues(expected.magnitude) },
        },
    },
  };
}

const TRANSPOSES = [[false, false], [false, true], [true, false], [true, true]];

function transposeName(transA, transB) {
  return `${transA ? "t" : "n"}${transB ? "t" : "n"}`;
}

/** Returns every matmul case; `seed` numbers the generated inputs. */
export function matmulCases() {
  const cases = [];
  let seed = 1000;
  const randomAB = (shape) => ({ a: uniform(shape.extentA, seed++), b: uniform(shape.extentB, seed++) });

  cases.push(matmulCase("known-2x3x2", { m: 2, k: 3, n: 2 },
    () => ({ a: values([1, 2, 3, 4, 5, 6]), b: values([7, 8, 9, 10, 11, 12]) }), { exact: true }));

  // Small integers: every partial sum is an integer below 2^24, so any
  // summation order, with or without fused multiply-add, is exact.
  for (const [m, n, k] of [[4, 4, 4], [5, 9, 17], [13, 8, 33]]) {
    TRANSPOSES.forEach(([transA, transB]) => {
      cases.push(matmulCase(`integers-${m}x${k}x${n}-${transposeName(transA, transB)}`, { m, n, k, transA, transB },
        (shape) => ({ a: integers(shape.extentA, seed++, -8, 8), b: integers(shape.extentB, seed++, -8, 8) }), { exact: true }));
    });
  }

  // Sizes on both sides of powers of two (micro-tile and cache-block edges)
  // and primes, each shape with one transpose combination in turn.
  const shapes = [
    [1, 1, 1], [1, 7, 3], [3, 1, 5], [2, 2, 2], [3, 5, 7], [4, 8, 16], [5, 9, 1], [7, 8, 9],
    [8, 4, 31], [9, 17, 33], [12, 12, 12], [16, 16, 64], [17, 15, 65], [13, 31, 7], [31, 13, 129],
    [33, 17, 257], [6, 10, 300], [24, 3, 513], [1, 40, 200], [40, 1, 200], [19, 23, 1024],
  ];
  shapes.forEach(([m, n, k], index) => {
    const [transA, transB] = TRANSPOSES[index % 4];
    cases.push(matmulCase(`shape-${m}x${k}x${n}-${transposeName(transA, transB)}`, { m, n, k, transA, transB }, randomAB));
  });

  // Inputs far from 1 in magnitude: the bound scales with Σ|a·b|.
  cases.push(matmulCase("scaled-large", { m: 7, n: 6, k: 40 },
    (shape) => ({ a: uniform(shape.extentA, seed++, -3e3, 3e3), b: uniform(shape.extentB, seed++, -2e3, 1e3) })));
  cases.push(matmulCase("scaled-small", { m: 6, n: 7, k: 40, transB: true },
    (shape) => ({ a: uniform(shape.extentA, seed++, -1e-3, 1e-3), b: uniform(shape.extentB, seed++, 0, 2e-4) })));

  // alpha and beta.
  cases.push(matmulCase("alpha-beta", { m: 5, n: 6, k: 7, alpha: -1.5, beta: 0.25 },
    (shape) => ({ ...randomAB(shape), c: uniform(shape.extentC, seed++) })));
  cases.push(matmulCase("beta-one-transposed", { m: 9, n: 4, k: 12, transA: true, transB: true, alpha: 0.5, beta: 1 },
    (shape) => ({ ...randomAB(shape), c: uniform(shape.extentC, seed++, -4, 4) })));
  // With beta 0 the old C is ignored, so NaN in it must not reach the result.
  cases.push(matmulCase("beta-zero-ignores-nan", { m: 6, n: 5, k: 9, beta: 0 },
    (shape) => ({ ...randomAB(shape), c: fill(shape.extentC, "NaN") })));

  // Batches: back to back, one A shared by every item (strideA 0), and
  // padded rows with gaps between items that must stay untouched.
  cases.push(matmulCase("batch-3", { m: 5, n: 6, k: 7, batch: 3, alpha: -1.5, beta: 0.25 },
    (shape) => ({ ...randomAB(shape), c: uniform(shape.extentC, seed++) })));
  cases.push(matmulCase("batch-4-shared-a", { m: 3, n: 5, k: 8, batch: 4, strideA: 0 }, randomAB));
  cases.push(matmulCase("batch-2-padded", {
    m: 4, n: 5, k: 6, batch: 2, transA: true, lda: 7, ldb: 8, ldc: 9, strideA: 6 * 7 + 3, strideB: 6 * 8 + 1, strideC: 4 * 9 + 4, beta: 1,
  }, (shape) => ({ ...randomAB(shape), c: uniform(shape.extentC, seed++) })));

  // Empty products: k = 0 leaves beta·C, m = 0 returns an empty C.
  cases.push(matmulCase("k-zero", { m: 3, n: 4, k: 0, beta: 2 },
    (shape) => ({ a: values([]), b: values([]), c: integers(shape.extentC, seed++, -5, 5) }), { exact: true }));
  cases.push(matmulCase("m-zero", { m: 0, n: 4, k: 3 }, randomAB, { exact: true }));
  return cases;
}
