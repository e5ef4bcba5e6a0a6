// qr against float64 residuals and the float64 reference on every WASM
// build, plus the argument checks.
//
// Tolerance for ‖Q̂R̂ − A‖_F and ‖Q̂ᵀQ̂ − I‖_F: each Householder reflection
// applied to a column of length m costs one m-term inner product and one
// update, whose rounding error is at most about m·u times the column norm
// (u = 2⁻²⁴), so k = min(m, n) reflections give the worst-case backward error
// c·m·n·u·‖A‖_F, and the same for the columns of Q. When the rounding errors
// are independent, the m-term sums err like √m·u and the k reflections add
// like √k, which gives about √(mn)·u·‖A‖_F ≤ max(m, n)·u·‖A‖_F. The checks
// use 8·max(m, n)·u, times ‖A‖_F for the reconstruction. The factor 8 covers
// the few roundings spent on forming each reflector (norm, divisions, tau),
// which dominate for small matrices. Measured on shapes up to 40×40 (every
// row count, column counts 1 to 9 and then every third, two seeds, thin and
// full, all three builds), the largest ratio of error to max(m, n)·u was 2.3
// (3×4, orthogonality). A wrong reflection or a misplaced
// column gives an error of order ‖A‖_F, far above the bound.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { frobenius, qrReference, qrResiduals } from "../reference/linalg.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertClose, assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";

function qrTolerance(rows, cols) {
  return 8 * Math.max(rows, cols) * F32_EPS;
}

/** Runs qr with NaN-filled outputs and checks residuals, the zero triangle and the unchanged input. */
function checkQr(favor, a, rows, cols, mode, context) {
  const k = Math.min(rows, cols);
  const qCols = mode === "full" ? rows : k;
  const rRows = mode === "full" ? rows : k;
  const aCopy = a.slice();
  const q = nanFilled(rows * qCols);
  const r = nanFilled(rRows * cols);
  const result = favor.sync.qr(a, { rows, cols, mode, q, r });
  assert.equal(result.q, q, `${context}: q is not the array passed`);
  assert.equal(result.r, r, `${context}: r is not the array passed`);
  assertSameBits(a, aCopy, `${context}: a changed`);

  for (let i = 0; i < rRows; i++) {
    for (let c = 0; c < Math.min(i, cols); c++) {
      if (r[i * cols + c] !== 0) assert.fail(`${context}: r[${i}][${c}] below the diagonal is ${r[i * cols + c]}, expected 0`);
    }
  }
  const { reconstruction, orthogonality } = qrResiduals(a, q, r, rows, cols, qCols);
  const tolerance = qrTolerance(rows, cols);
  const normA = frobenius(a);
  assert.ok(reconstruction <= tolerance * normA,
    `${context}: ‖QR − A‖_F = ${reconstruction}, above ${tolerance} × ‖A‖_F = ${tolerance * normA}`);
  assert.ok(orthogonality <= tolerance, `${context}: ‖QᵀQ − I‖_F = ${orthogonality}, above ${tolerance}`);
  return { q, r };
}

const SQUARE_SIZES = Array.from({ length: 64 }, (_, i) => i + 2);
const RECTANGLES = [
  [1, 1], [1, 2], [1, 5], [1, 17], [2, 1], [5, 1], [17, 1], [64, 1],
  [2, 3], [3, 2], [3, 4], [4, 3], [5, 7], [7, 5], [11, 13], [13, 11], [31, 37], [37, 31],
  [33, 4], [4, 33], [65, 17], [17, 65], [100, 7], [7, 100], [61, 60], [60, 61], [129, 64], [64, 129],
];

for (const build of ALL_BUILDS) {
  describe(`qr (${build})`, { skip: skipReason(build) }, () => {
    test("known 2×2 with LAPACK signs", async () => {
      const favor = await favorFor(build);
      // Column (3, 4) has norm 5 and a positive pivot, so R[0][0] = −5 and
      // H_0 = I − 2uuᵀ/uᵀu with u = (8, 4); the second step has nothing below
      // the diagonal, so R[1][1] keeps the sign of (H_0·a_1)[1] = 0.4.
      const { q, r } = await favor.qr(new Float32Array([3, 1, 4, 2]), { rows: 2, cols: 2 });
      const tolerance = 4 * F32_EPS * 5;
      assertClose(r, [-5, -2.2, 0, 0.4], tolerance, "r");
      assertClose(q, [-0.6, -0.8, -0.8, 0.6], tolerance, "q");
    });

    test("negative pivot gives positive R diagonal", async () => {
      const favor = await favorFor(build);
      const { q, r } = favor.sync.qr(new Float32Array([-3, 4]), { rows: 2, cols: 1 });
      assertClose(r, [5], 4 * F32_EPS * 5, "r");
      assertClose(q, [-0.6, 0.8], 4 * F32_EPS, "q");
    });

    test("zero pivot gives negative R diagonal", async () => {
      const favor = await favorFor(build);
      const { r } = favor.sync.qr(new Float32Array([0, 0, 4, 0]), { rows: 4, cols: 1 });
      assertClose(r, [-4], 4 * F32_EPS * 4, "r");
    });

    test("square shapes 2 to 65, thin and full", async () => {
      const favor = await favorFor(build);
      for (const size of SQUARE_SIZES) {
        const a = seededFloats(size * size, 100 + size);
        for (const mode of ["thin", "full"]) checkQr(favor, a, size, size, mode, `${size}×${size} ${mode}`);
      }
    });

    test("tall, wide, row and column shapes", async () => {
      const favor = await favorFor(build);
      for (const [rows, cols] of RECTANGLES) {
        const a = seededFloats(rows * cols, rows * 1000 + cols);
        for (const mode of ["thin", "full"]) checkQr(favor, a, rows, cols, mode, `${rows}×${cols} ${mode}`);
      }
    });

    test("shapes whose rows the backend pads", async () => {
      const favor = await favorFor(build);
      // The backend pads the row stride of A and Q when a row is within 4
      // floats of a multiple of 256 (256 → 272, 260 → 272, 512 → 528,
      // 513 → 528 floats). It copies R and Q back out row by row, and a row
      // read or written at the wrong stride breaks QR = A by order ‖A‖.
      for (const [rows, cols, modes] of [[260, 256, ["thin", "full"]], [256, 260, ["thin", "full"]], [40, 513, ["full"]], [512, 512, ["thin"]]]) {
        const a = seededFloats(rows * cols, rows * 7 + cols);
        for (const mode of modes) checkQr(favor, a, rows, cols, mode, `${rows}×${cols} ${mode}`);
      }
    });

    test("thin and full agree", async () => {
      const favor = await favorFor(build);
      for (const [rows, cols] of [[9, 4], [4, 9], [17, 17], [40, 13], [70, 33]]) {
        const a = seededFloats(rows * cols, rows + 7 * cols);
        const k = Math.min(rows, cols);
        const thin = favor.sync.qr(a, { rows, cols, mode: "thin" });
        const full = favor.sync.qr(a, { rows, cols, mode: "full" });
        const context = `${rows}×${cols}`;
        // The factorization does not depend on the mode, so R is bit for bit
        // the first k rows of the full R, and the rest of the full R is zero.
        assertSameBits(thin.r, full.r.subarray(0, k * cols), `${context}: thin r`);
        assert.ok(full.r.subarray(k * cols).every((value) => value === 0), `${context}: full r below row k is not zero`);
        const leading = new Float32Array(rows * k);
        for (let i = 0; i < rows; i++) leading.set(full.q.subarray(i * rows, i * rows + k), i * k);
        if (build === "relaxed") {
          // Fused and unfused multiply-adds may land on different columns.
          assertClose(thin.q, leading, qrTolerance(rows, cols), `${context}: thin q`);
        } else {
          assertSameBits(thin.q, leading, `${context}: thin q`);
        }
      }
    });

    test("diagonal signs match the float64 reference", async () => {
      const favor = await favorFor(build);
      for (const [rows, cols] of [[8, 8], [16, 5], [5, 16], [33, 33], [50, 20]]) {
        const a = seededFloats(rows * cols, 7 * rows + cols);
        const { r } = favor.sync.qr(a, { rows, cols });
        const reference = qrReference(a, rows, cols);
        // Signs are only defined where |R[j][j]| exceeds the error bound.
        const margin = qrTolerance(rows, cols) * frobenius(a);
        for (let j = 0; j < Math.min(rows, cols); j++) {
          const expected = reference.r[j * cols + j];
          if (Math.abs(expected) <= margin) continue;
          assert.equal(Math.sign(r[j * cols + j]), Math.sign(expected), `${rows}×${cols}: sign of R[${j}][${j}]`);
        }
      }
    });

    test("zero matrix gives Q = I and R = 0", async () => {
      const favor = await favorFor(build);
      for (const [rows, cols] of [[1, 1], [5, 4], [4, 5], [17, 17]]) {
        const { q, r } = checkQr(favor, new Float32Array(rows * cols), rows, cols, "full", `zero ${rows}×${cols}`);
        for (let i = 0; i < rows; i++) {
          for (let c = 0; c < rows; c++) assert.equal(q[i * rows + c], i === c ? 1 : 0, `zero ${rows}×${cols}: q[${i}][${c}]`);
        }
        assert.ok(r.every((value) => value === 0), `zero ${rows}×${cols}: r is not all zero`);
      }
    });

    test("rank-deficient and zero columns", async () => {
      const favor = await favorFor(build);
      const rows = 12;
      const cols = 9;
      const base = seededFloats(rows * 3, 42);
      const a = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++) {
        // Columns: three random ones, a zero column, a copy, a multiple, a
        // sum of two, another zero column, and a random one again.
        const [x, y, z] = base.subarray(i * 3, i * 3 + 3);
        a.set([x, y, z, 0, x, 2 * y, x + z, 0, z], i * cols);
      }
      for (const mode of ["thin", "full"]) {
        const { r } = checkQr(favor, a, rows, cols, mode, `rank 3 ${mode}`);
        // Column 3 is zero when its step comes, so the step is skipped.
        for (let i = 0; i <= 3; i++) assert.equal(r[i * cols + 3], 0, `rank 3 ${mode}: r[${i}][3]`);
        assert.ok(r.every(Number.isFinite), `rank 3 ${mode}: r is not finite`);
      }
      const column = new Float32Array(6).fill(1);
      checkQr(favor, column, 6, 1, "full", "constant column");
      checkQr(favor, new Float32Array(6).fill(1), 2, 3, "full", "constant 2×3");
    });

    test("scaled inputs 1e-30 and 1e30", async () => {
      const favor = await favorFor(build);
      for (const scale of [1e-30, 1e30]) {
        for (const [rows, cols] of [[33, 17], [17, 33], [64, 64]]) {
          const a = seededFloats(rows * cols, 5, scale);
          const { q, r } = checkQr(favor, a, rows, cols, "thin", `scale ${scale} ${rows}×${cols}`);
          assert.ok(q.every(Number.isFinite), `scale ${scale} ${rows}×${cols}: q is not finite`);
          assert.ok(r.every(Number.isFinite), `scale ${scale} ${rows}×${cols}: r is not finite`);
        }
      }
    });

    test("power-of-two scaling is exact", async () => {
      const favor = await favorFor(build);
      // Multiplying A by 2^±100 scales every intermediate value exactly (no
      // overflow or subnormals with the scaled norm), so Q must come back bit
      // for bit and R scaled by the same power. An unscaled sum of squares
      // overflows (2^200) or underflows (2^-200) here.
      const rows = 21;
      const cols = 19;
      const a = seededFloats(rows * cols, 77);
      const plain = favor.sync.qr(a, { rows, cols, mode: "full" });
      for (const exponent of [100, -100]) {
        const factor = 2 ** exponent;
        const scaled = favor.sync.qr(a.map((value) => value * factor), { rows, cols, mode: "full" });
        assertSameBits(scaled.q, plain.q, `2^${exponent}: q`);
        assertSameBits(scaled.r, plain.r.map((value) => value * factor), `2^${exponent}: r`);
      }
    });

    test("NaN in a propagates into r", async () => {
      const favor = await favorFor(build);
      const { r } = favor.sync.qr(new Float32Array([1, NaN, 3, 4]), { rows: 2, cols: 2 });
      assert.ok(Number.isNaN(r[1]), `r[0][1] is ${r[1]}, expected NaN`);
    });

    test("repeated calls keep the memory size", async () => {
      const favor = await favorFor(build);
      const a = seededFloats(40 * 30, 3);
      favor.sync.qr(a, { rows: 40, cols: 30, mode: "full" });
      const before = favor.info.memoryBytes;
      for (let i = 0; i < 5; i++) favor.sync.qr(a, { rows: 40, cols: 30, mode: "full" });
      assert.equal(favor.info.memoryBytes, before);
    });
  });
}

describe("qr argument checks", () => {
  const a6 = () => new Float32Array(6);
  const cases = [
    ["a plain Array for a", [[1], { rows: 1, cols: 1 }], TypeError, /^qr: a must be a Float32Array, got an Array of length 1$/],
    ["a Float64Array for a", [new Float64Array(1), { rows: 1, cols: 1 }], TypeError, /^qr: a must be a Float32Array, got a Float64Array of length 1$/],
    ["a wrong length for a", [new Float32Array(5), { rows: 2, cols: 3 }], RangeError, /^qr: a has length 5, expected 6 \(rows 2 × cols 3\)$/],
    ["zero rows", [new Float32Array(0), { rows: 0, cols: 3 }], RangeError, /^qr: rows must be an integer >= 1, got 0$/],
    ["negative cols", [a6(), { rows: 2, cols: -3 }], RangeError, /^qr: cols must be an integer >= 1, got -3$/],
    ["NaN rows", [a6(), { rows: NaN, cols: 3 }], RangeError, /^qr: rows must be an integer >= 1, got NaN$/],
    ["fractional cols", [a6(), { rows: 2, cols: 2.5 }], RangeError, /^qr: cols must be an integer >= 1, got 2.5$/],
    ["string rows", [a6(), { rows: "2", cols: 3 }], TypeError, /^qr: rows must be a number, got "2"$/],
    ["missing cols", [a6(), { rows: 2 }], TypeError, /^qr: cols must be a number, got undefined$/],
    ["an unknown mode", [a6(), { rows: 2, cols: 3, mode: "economic" }], RangeError, /^qr: mode must be one of "thin", "full", got "economic"$/],
    ["a boolean mode", [a6(), { rows: 2, cols: 3, mode: true }], RangeError, /^qr: mode must be one of "thin", "full", got true$/],
    ["a short q", [a6(), { rows: 2, cols: 3, q: new Float32Array(2) }], RangeError, /^qr: q has length 2, expected 4 \(thin Q is 2×2\)$/],
    ["a thin-sized q in full mode", [a6(), { rows: 3, cols: 2, mode: "full", q: new Float32Array(6) }], RangeError, /^qr: q has length 6, expected 9 \(full Q is 3×3\)$/],
    ["an Array for r", [a6(), { rows: 2, cols: 3, r: [0, 0, 0, 0, 0, 0] }], TypeError, /^qr: r must be a Float32Array, got an Array of length 6$/],
    ["a wrong r length", [a6(), { rows: 3, cols: 2, r: new Float32Array(6) }], RangeError, /^qr: r has length 6, expected 4 \(thin R is 2×2\)$/],
    ["sizes past 4 GiB", [new Float32Array(0), { rows: 65536, cols: 65536 }], RangeError, /^qr: a, q and workspace .* need \d+ bytes, more than the 4 GiB/],
    ["missing options", [a6()], TypeError, /^qr: options must be an object, got undefined$/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.qr(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.qr(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }

  test("rejects q overlapping a", async () => {
    const favor = await favorFor("scalar");
    const buffer = new Float32Array(12);
    const a = buffer.subarray(0, 4);
    const q = buffer.subarray(2, 6);
    assert.throws(() => favor.sync.qr(a, { rows: 2, cols: 2, q }),
      (error) => error instanceof RangeError && /^qr: q, r and a overlap in memory; pass separate arrays$/.test(error.message));
  });
});
