// matmul against the float64 reference on every WASM build, plus the
// argument checks. Tolerance: each output is a k-term f32 dot product, so
// its rounding error is at most about k·eps·Σ|a_ip·b_pj| (plus the rounding
// of alpha and beta terms); the bound uses (k + 2)·eps·magnitude.

import { describe, test } from "node:test";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { gemmReference } from "../reference/gemm.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertClose, assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";

function tolerance(magnitude, k) {
  return magnitude.map((value) => (k + 2) * F32_EPS * value + 1e-30);
}

for (const build of ALL_BUILDS) {
  describe(`matmul (${build})`, { skip: skipReason(build) }, () => {
    test("small known product", async () => {
      const favor = await favorFor(build);
      const c = await favor.matmul(new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([7, 8, 9, 10, 11, 12]), { m: 2, k: 3, n: 2 });
      assert.deepEqual(Array.from(c), [58, 64, 139, 154]);
    });

    test("beta 0 ignores NaN in c", async () => {
      const favor = await favorFor(build);
      const c = nanFilled(4);
      favor.sync.matmul(new Float32Array([1, 0, 0, 1]), new Float32Array([1, 2, 3, 4]), { m: 2, k: 2, n: 2, c });
      assert.deepEqual(Array.from(c), [1, 2, 3, 4]);
    });

    test("shapes around tile edges, all transposes", async () => {
      const favor = await favorFor(build);
      const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33];
      let seed = 1;
      for (const m of sizes) for (const n of [1, 3, 8, 17]) for (const k of [1, 4, 5, 33]) {
        for (const transA of [false, true]) for (const transB of [false, true]) {
          const a = seededFloats(m * k, seed++);
          const b = seededFloats(k * n, seed++);
          const aCopy = a.slice();
          const bCopy = b.slice();
          const c = favor.sync.matmul(a, b, { m, n, k, transA, transB, c: nanFilled(m * n) });
          const ref = gemmReference(a, b, { m, n, k, transA, transB });
          assertClose(c, ref.out, tolerance(ref.magnitude, k), `m=${m} n=${n} k=${k} transA=${transA} transB=${transB}`);
          assert.deepEqual(a, aCopy, "a changed");
          assert.deepEqual(b, bCopy, "b changed");
        }
      }
    });

    test("alpha, beta and batch", async () => {
      const favor = await favorFor(build);
      const batch = 3, m = 5, n = 6, k = 7;
      const a = seededFloats(batch * m * k, 11);
      const b = seededFloats(batch * k * n, 12);
      const c0 = seededFloats(batch * m * n, 13);
      const c = c0.slice();
      favor.sync.matmul(a, b, { m, n, k, batch, alpha: -1.5, beta: 0.25, c });
      const ref = gemmReference(a, b, { m, n, k, batch, alpha: -1.5, beta: 0.25, c: c0 });
      assertClose(c, ref.out, tolerance(ref.magnitude, k), "batched");
    });
  });
}

describe("matmul argument checks", () => {
  const cases = [
    ["a plain Array for a", [[1], new Float32Array(1), { m: 1, k: 1, n: 1 }], TypeError, /a must be a Float32Array, got an Array of length 1/],
    ["a Float64Array for b", [new Float32Array(1), new Float64Array(1), { m: 1, k: 1, n: 1 }], TypeError, /b must be a Float32Array, got a Float64Array/],
    ["a wrong length for a", [new Float32Array(5), new Float32Array(6), { m: 2, k: 3, n: 2 }], RangeError, /a has length 5, expected 6/],
    ["mismatched inner dimensions", [new Float32Array(6), new Float32Array(8), { m: 2, k: 3, n: 2 }], RangeError, /b has length 8, expected 6/],
    ["a negative m", [new Float32Array(0), new Float32Array(0), { m: -1, k: 0, n: 0 }], RangeError, /m must be an integer >= 0, got -1/],
    ["a NaN k", [new Float32Array(0), new Float32Array(0), { m: 0, k: NaN, n: 0 }], RangeError, /k must be an integer >= 0, got NaN/],
    ["a fractional n", [new Float32Array(2), new Float32Array(3), { m: 1, k: 2, n: 1.5 }], RangeError, /n must be an integer >= 0, got 1.5/],
    ["a string batch", [new Float32Array(1), new Float32Array(1), { m: 1, k: 1, n: 1, batch: "2" }], TypeError, /batch must be a number, got "2"/],
    ["beta without c", [new Float32Array(1), new Float32Array(1), { m: 1, k: 1, n: 1, beta: 1 }], RangeError, /beta is 1, but no c was given/],
    ["a short c", [new Float32Array(1), new Float32Array(1), { m: 1, k: 1, n: 1, c: new Float32Array(0) }], RangeError, /c has length 0, expected 1/],
    ["sizes past 4 GiB", [new Float32Array(0), new Float32Array(0), { m: 65536, k: 0, n: 65536 }], RangeError, /need 17179869184 bytes, more than the 4 GiB/],
    ["missing options", [new Float32Array(1), new Float32Array(1)], TypeError, /options must be an object, got undefined/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.matmul(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.matmul(...args), type);
    });
  }
});

// The blocked GEMM (assembly/gemm/blocked.ts) splits the product into MR×NR
// register tiles, KC-deep k-slices, MC-row and NC-column blocks. The sweeps
// below put m, n and k just below, at and just above each of those sizes,
// which each build exports as globals, so the cases follow the constants.

/** Reads the tile and block sizes a build was compiled with. */
function gemmBlockSizes(build) {
  const module = new WebAssembly.Module(readFileSync(new URL(`../../build/favor.${build}.wasm`, import.meta.url)));
  const { exports } = new WebAssembly.Instance(module, { env: { abort() {} } });
  const value = (name) => exports[`f32_gemm_${name}`].value;
  return { MR: value("MR"), NR: value("NR"), KC: value("KC"), MC: value("MC"), NC: value("NC") };
}

/** Copies a rows×cols matrix that starts at `offset` with leading dimension ld into a dense array. */
function denseMatrix(array, offset, rows, cols, ld) {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(array.subarray(offset + i * ld, offset + i * ld + cols), i * cols);
  return out;
}

const uniqueSorted = (values) => [...new Set(values)].filter((value) => value >= 1).sort((x, y) => x - y);

/**
 * Runs one matmul with explicit layouts and checks it against the float64
 * reference item by item: the m×n region of every C item within
 * (k + 2)·eps·magnitude, every other element of c bit for bit unchanged, and
 * a and b unchanged. With beta 0 the C region starts as NaN, which must not
 * reach the result.
 */
function checkLayout(favor, options) {
  const { batch = 1, m, n, k, transA = false, transB = false, alpha = 1, beta = 0, seed = 1 } = options;
  const rowsA = transA ? k : m, colsA = transA ? m : k;
  const rowsB = transB ? n : k, colsB = transB ? k : n;
  const lda = options.lda ?? colsA, ldb = options.ldb ?? colsB, ldc = options.ldc ?? n;
  const strideA = options.strideA ?? rowsA * lda;
  const strideB = options.strideB ?? rowsB * ldb;
  const strideC = options.strideC ?? m * ldc;
  const extent = (rows, cols, ld, stride) => (rows === 0 || cols === 0 ? 0 : (batch - 1) * stride + (rows - 1) * ld + cols);

  // Two spare elements after each extent must also come back unchanged.
  const a = seededFloats(extent(rowsA, colsA, lda, strideA) + 2, seed);
  const b = seededFloats(extent(rowsB, colsB, ldb, strideB) + 2, seed + 1);
  const c0 = seededFloats(extent(m, n, ldc, strideC) + 2, seed + 2);
  if (beta === 0) {
    for (let item = 0; item < batch; item++) {
      for (let i = 0; i < m; i++) c0.fill(NaN, item * strideC + i * ldc, item * strideC + i * ldc + n);
    }
  }
  const aCopy = a.slice();
  const bCopy = b.slice();
  const c = c0.slice();
  const label = `batch=${batch} m=${m} n=${n} k=${k} transA=${transA} transB=${transB} alpha=${alpha} beta=${beta} ` +
    `lda=${lda} ldb=${ldb} ldc=${ldc} strides=${strideA},${strideB},${strideC}`;

  favor.sync.matmul(a, b, { batch, m, n, k, transA, transB, alpha, beta, c, lda, ldb, ldc, strideA, strideB, strideC });

  const expectedC = c0.slice();
  const bound = new Float64Array(c0.length);
  for (let item = 0; item < batch; item++) {
    const ref = gemmReference(
      denseMatrix(a, item * strideA, rowsA, colsA, lda),
      denseMatrix(b, item * strideB, rowsB, colsB, ldb),
      { m, n, k, transA, transB, alpha, beta, c: denseMatrix(c0, item * strideC, m, n, ldc) },
    );
    const itemBound = tolerance(ref.magnitude, k);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        expectedC[item * strideC + i * ldc + j] = ref.out[i * n + j];
        bound[item * strideC + i * ldc + j] = itemBound[i * n + j];
      }
    }
  }
  // Outside the C regions the bound stays 0 and the expected value is the
  // old one, so any write there fails (NaN never occurs outside a region).
  assertClose(c, expectedC, bound, label);
  assertSameBits(a, aCopy, `${label}: a changed`);
  assertSameBits(b, bCopy, `${label}: b changed`);
}

const TRANSPOSES = [[false, false], [false, true], [true, false], [true, true]];

for (const build of ALL_BUILDS) {
  describe(`matmul blocked GEMM (${build})`, { skip: skipReason(build) }, () => {
    test("tile edges, all transposes", async () => {
      const favor = await favorFor(build);
      const { MR, NR } = gemmBlockSizes(build);
      let seed = 100;
      for (const m of uniqueSorted([1, MR - 1, MR, MR + 1, 2 * MR + 1, 13])) {
        for (const n of uniqueSorted([1, NR - 1, NR, NR + 1, 2 * NR + 3, 19])) {
          for (const k of [1, 2, 7, 16]) {
            for (const [transA, transB] of TRANSPOSES) checkLayout(favor, { m, n, k, transA, transB, seed: seed++ });
          }
        }
      }
    });

    test("k slices accumulate, beta applied once", async () => {
      const favor = await favorFor(build);
      const { MR, NR, KC } = gemmBlockSizes(build);
      let seed = 200;
      for (const k of [KC - 1, KC, KC + 1, 2 * KC + 3]) {
        for (const [transA, transB] of TRANSPOSES) {
          for (const [alpha, beta] of [[1, 0], [1, 1], [2.5, -0.75]]) {
            checkLayout(favor, { m: MR + 1, n: NR + 3, k, transA, transB, alpha, beta, seed: seed++ });
          }
        }
      }
    });

    test("row blocks around MC", async () => {
      const favor = await favorFor(build);
      const { MC, NR, KC } = gemmBlockSizes(build);
      let seed = 300;
      for (const m of [MC - 1, MC, MC + 1, 2 * MC + 3]) {
        for (const [transA, transB] of TRANSPOSES) {
          checkLayout(favor, { m, n: NR + 1, k: 9, transA, transB, beta: 0.5, seed: seed++ });
        }
      }
      checkLayout(favor, { m: MC + 1, n: NR + 1, k: KC + 1, seed: seed++ });
    });

    test("column blocks around NC", async () => {
      const favor = await favorFor(build);
      const { MR, NR, NC } = gemmBlockSizes(build);
      let seed = 400;
      for (const n of [NC - 1, NC, NC + 1, NC + NR + 1]) {
        for (const [transA, transB] of TRANSPOSES) {
          checkLayout(favor, { m: MR + 1, n, k: 5, transA, transB, beta: 1, seed: seed++ });
        }
      }
    });

    test("large 257x263x300 product", async () => {
      const favor = await favorFor(build);
      let seed = 500;
      for (const [transA, transB] of TRANSPOSES) {
        checkLayout(favor, { m: 257, n: 263, k: 300, transA, transB, alpha: -1.25, beta: 0.5, seed: seed++ });
      }
    });

    test("alpha and beta combinations", async () => {
      const favor = await favorFor(build);
      const { NR, KC } = gemmBlockSizes(build);
      let seed = 600;
      for (const alpha of [1, -1.5, 0]) {
        for (const beta of [0, 1, 0.3]) {
          checkLayout(favor, { m: 9, n: 2 * NR + 1, k: KC + 5, alpha, beta, seed: seed++ });
        }
      }
    });

    test("batch strides, shared and gapped", async () => {
      const favor = await favorFor(build);
      const { MR, NR, KC } = gemmBlockSizes(build);
      const m = 2 * MR + 1, n = NR + 3;
      let seed = 700;
      for (const k of [7, KC + 2]) {
        for (const [transA, transB] of TRANSPOSES) {
          const rowsA = transA ? k : m, colsA = transA ? m : k;
          const rowsB = transB ? n : k, colsB = transB ? k : n;
          // Shared B, shared A, both shared.
          checkLayout(favor, { batch: 3, m, n, k, transA, transB, strideB: 0, beta: 0.5, seed: seed++ });
          checkLayout(favor, { batch: 3, m, n, k, transA, transB, strideA: 0, seed: seed++ });
          checkLayout(favor, { batch: 4, m, n, k, transA, transB, strideA: 0, strideB: 0, beta: 1, seed: seed++ });
          // Gaps after every row and between batch items of A, B and C, with
          // scaled tiles (alpha, beta) and with tiles stored straight into C.
          const lda = colsA + 3, ldb = colsB + 2, ldc = n + 5;
          const strides = { strideA: rowsA * lda + 7, strideB: rowsB * ldb + 1, strideC: m * ldc + 4 };
          checkLayout(favor, { batch: 2, m, n, k, transA, transB, alpha: 0.75, beta: -1, lda, ldb, ldc, ...strides, seed: seed++ });
          checkLayout(favor, { batch: 2, m, n, k, transA, transB, lda, ldb, ldc, ...strides, seed: seed++ });
        }
      }
    });

    test("k = 0 scales c by beta", async () => {
      const favor = await favorFor(build);
      const { NR } = gemmBlockSizes(build);
      for (const beta of [0, 2]) checkLayout(favor, { m: 5, n: NR + 1, k: 0, beta, ldc: NR + 4, seed: 800 });
    });

    test("repeated calls keep memory size", async () => {
      const favor = await favorFor(build);
      // m spans two MC-row blocks (MC is 120) and n is no multiple of NR, so edge tiles run too.
      const m = 128, n = 67, k = 96;
      const a = seededFloats(m * k, 900);
      const b = seededFloats(k * n, 901);
      const c = new Float32Array(m * n);
      favor.sync.matmul(a, b, { m, n, k, c });
      const afterFirst = favor.info.memoryBytes;
      for (let call = 1; call < 10_000; call++) favor.sync.matmul(a, b, { m, n, k, c });
      assert.equal(favor.info.memoryBytes, afterFirst, "memory grew after the first call");
    });
  });
}
