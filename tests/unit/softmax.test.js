// softmax and logsumexp against the float64 reference on every WASM build,
// the documented results for rows with NaN and infinities, extreme finite
// rows, and the argument checks.
//
// Tolerances, with u = 2^-24 the float32 unit roundoff, E = MAX_ULP.exp the
// asserted error of the exp kernel in ULPs (relative error at most 2E·u),
// d_j = |x_j - m| and spread = Σ_j softmax_j·d_j from the reference:
//   - e_j = exp(float32(x_j - m)): rounding x_j - m moves the argument by at
//     most d_j·u, so e_j is off by at most (d_j + 2E)·u relative;
//   - the sum S of cols positive terms: at most (cols - 1)·u from the
//     additions, plus the terms' own errors weighted by their share,
//     (spread + 2E)·u;
//   - softmax_j = e_j / S: one more u for the division, so
//       |error| <= (d_j + spread + cols + 4E + 1)·u·softmax_j + 2^-148,
//     where 2^-148 covers outputs that fall into the subnormal range;
//   - logsumexp = m + log S: log passes S's relative error on as an absolute
//     error and the final rounding adds u·|logsumexp|, so
//       |error| <= (|logsumexp| + spread + cols + 2E + 1)·u.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { softmaxReference } from "../reference/softmax.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { fillNewBuffersWithNaN } from "../helpers/memory.js";
import { F32_EPS, assertClose, assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";
import { MAX_ULP } from "../helpers/ulp.js";

// Around the 4-lane vectors: below, at and above each multiple of 4.
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 64, 65];
const E = MAX_ULP.exp;

function softmaxTolerance(ref, rows, cols) {
  return Array.from(ref.softmax, (value, index) => {
    const row = Math.floor(index / cols);
    return (ref.distance[index] + ref.spread[row] + cols + 4 * E + 1) * F32_EPS * value + 2 ** -148;
  });
}

function logsumexpTolerance(ref, cols) {
  return Array.from(ref.logsumexp, (value, row) => (Math.abs(value) + ref.spread[row] + cols + 2 * E + 1) * F32_EPS);
}

/** Checks both ops on x against the reference; returns the two outputs. */
function checkRows(favor, x, rows, cols, context) {
  const xCopy = x.slice();
  const ref = softmaxReference(x, { rows, cols });
  const softmax = nanFilled(rows * cols);
  assert.equal(favor.sync.softmax(x, { rows, cols, out: softmax }), softmax, "softmax returns out");
  assertClose(softmax, ref.softmax, softmaxTolerance(ref, rows, cols), `softmax ${context}`);
  const logsumexp = nanFilled(rows);
  assert.equal(favor.sync.logsumexp(x, { rows, cols, out: logsumexp }), logsumexp, "logsumexp returns out");
  assertClose(logsumexp, ref.logsumexp, logsumexpTolerance(ref, cols), `logsumexp ${context}`);
  assert.deepEqual(x, xCopy, "x changed");
  return { softmax, logsumexp };
}

/** Rows with values ±value in a fixed mixed pattern, plus rows where one sign dominates. */
function extremeRows(value, cols) {
  const x = new Float32Array(4 * cols);
  for (let j = 0; j < cols; j++) {
    x[j] = j % 3 === 0 ? value : -value;
    x[cols + j] = -value;
    x[2 * cols + j] = value;
    x[3 * cols + j] = j === cols - 1 ? value : -value * (1 - j / (2 * cols));
  }
  return x;
}

for (const build of ALL_BUILDS) {
  describe(`softmax and logsumexp (${build})`, { skip: skipReason(build) }, () => {
    test("small known rows", async () => {
      const favor = await favorFor(build);
      assert.deepEqual(Array.from(await favor.softmax(new Float32Array([0, 0, 5, 5]), { rows: 2, cols: 2 })), [0.5, 0.5, 0.5, 0.5]);
      assert.deepEqual(Array.from(await favor.softmax(new Float32Array([7]), { rows: 1, cols: 1 })), [1]);
      // log(2) rounded to float32; 1e4 + log(2) rounded to float32.
      assert.deepEqual(Array.from(await favor.logsumexp(new Float32Array([0, 0, 1e4, 1e4]), { rows: 2, cols: 2 })),
        [Math.fround(Math.LN2), Math.fround(1e4 + Math.LN2)]);
    });

    test("shapes around vector edges", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      let seed = 1;
      for (const rows of [1, 2, 3, 5]) {
        for (const cols of SIZES) {
          for (const scale of [1, 30]) {
            checkRows(favor, seededFloats(rows * cols, seed++, scale), rows, cols, `rows=${rows} cols=${cols} scale=${scale}`);
          }
        }
      }
    });

    test("extreme finite rows stay finite", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      for (const value of [80, 1e4, 3e38, Math.fround(3.4028234663852886e38)]) {
        for (const cols of [1, 2, 5, 17, 64]) {
          const { softmax, logsumexp } = checkRows(favor, extremeRows(value, cols), 4, cols, `±${value} cols=${cols}`);
          assert.ok(softmax.every(Number.isFinite), `softmax ±${value} cols=${cols}: not all finite`);
          assert.ok(logsumexp.every(Number.isFinite), `logsumexp ±${value} cols=${cols}: not all finite`);
        }
      }
    });

    test("rows with NaN or infinities", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      const cols = 6;
      const rows = [
        [1, 2, NaN, 4, 5, 6], // NaN: softmax NaN row, logsumexp NaN
        [NaN, Infinity, -Infinity, 0, 0, 0], // NaN wins over infinities
        [1, Infinity, 3, 4, 5, 6], // +Infinity: softmax NaN row, logsumexp +Infinity
        [Infinity, Infinity, -Infinity, 0, 0, 0],
        [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity], // all -Infinity: zeros, -Infinity
        [-Infinity, 0, -Infinity, Math.log(3), -Infinity, -Infinity], // -Infinity entries get 0
      ];
      const x = new Float32Array(rows.flat());
      const softmax = favor.sync.softmax(x, { rows: rows.length, cols });
      const logsumexp = favor.sync.logsumexp(x, { rows: rows.length, cols });
      const row = (i) => Array.from(softmax.subarray(i * cols, (i + 1) * cols));
      for (const i of [0, 1, 2, 3]) assert.ok(row(i).every(Number.isNaN), `softmax row ${i}: ${row(i)}`);
      assert.deepEqual(row(4), [0, 0, 0, 0, 0, 0]);
      assertClose(row(5), [0, 0.25, 0, 0.75, 0, 0], 2 * F32_EPS, "softmax row 5");
      assert.ok(Number.isNaN(logsumexp[0]), `logsumexp row 0: ${logsumexp[0]}`);
      assert.ok(Number.isNaN(logsumexp[1]), `logsumexp row 1: ${logsumexp[1]}`);
      assert.equal(logsumexp[2], Infinity);
      assert.equal(logsumexp[3], Infinity);
      assert.equal(logsumexp[4], -Infinity);
      assertClose([logsumexp[5]], [Math.log(4)], 4 * F32_EPS * Math.log(4), "logsumexp row 5");
    });

    test("in place with out = x", async () => {
      const favor = await favorFor(build);
      const x = seededFloats(3 * 17, 77, 5);
      const ref = softmaxReference(x, { rows: 3, cols: 17 });
      assert.equal(favor.sync.softmax(x, { rows: 3, cols: 17, out: x }), x);
      assertClose(x, ref.softmax, softmaxTolerance(ref, 3, 17), "in place");
    });

    test("zero rows", async () => {
      const favor = await favorFor(build);
      assert.equal(favor.sync.softmax(new Float32Array(0), { rows: 0, cols: 3 }).length, 0);
      assert.equal(favor.sync.logsumexp(new Float32Array(0), { rows: 0, cols: 3 }).length, 0);
    });
  });
}

describe("softmax and logsumexp agree bit for bit across builds", () => {
  // Every build runs the same exp and sums in the same order, so the
  // outputs are identical, not just close.
  test("seeded rows", async () => {
    const builds = [];
    for (const build of ALL_BUILDS) if (!skipReason(build)) builds.push(await favorFor(build));
    const [baseline, ...others] = builds;
    for (const cols of SIZES) {
      const x = seededFloats(3 * cols, 900 + cols, 40);
      const softmax = baseline.sync.softmax(x, { rows: 3, cols });
      const logsumexp = baseline.sync.logsumexp(x, { rows: 3, cols });
      for (const favor of others) {
        assertSameBits(favor.sync.softmax(x, { rows: 3, cols }), softmax, `softmax ${favor.info.build} cols=${cols}`);
        assertSameBits(favor.sync.logsumexp(x, { rows: 3, cols }), logsumexp, `logsumexp ${favor.info.build} cols=${cols}`);
      }
    }
  });
});

describe("softmax and logsumexp argument checks", () => {
  const f32 = (n) => new Float32Array(n);
  for (const op of ["softmax", "logsumexp"]) {
    const outLength = (rows, cols) => (op === "softmax" ? rows * cols : rows);
    const cases = [
      ["a plain Array for x", [[1, 2], { rows: 1, cols: 2 }], TypeError, new RegExp(`^${op}: x must be a Float32Array, got an Array of length 2$`)],
      ["a Float64Array for x", [new Float64Array(2), { rows: 1, cols: 2 }], TypeError, new RegExp(`^${op}: x must be a Float32Array, got a Float64Array of length 2$`)],
      ["a wrong length for x", [f32(5), { rows: 2, cols: 3 }], RangeError, new RegExp(`^${op}: x has length 5, expected 6 \\(rows 2 × cols 3\\)$`)],
      ["cols of 0", [f32(0), { rows: 2, cols: 0 }], RangeError, new RegExp(`^${op}: cols must be an integer >= 1, got 0$`)],
      ["a negative rows", [f32(0), { rows: -1, cols: 2 }], RangeError, new RegExp(`^${op}: rows must be an integer >= 0, got -1$`)],
      ["a NaN cols", [f32(0), { rows: 1, cols: NaN }], RangeError, new RegExp(`^${op}: cols must be an integer >= 1, got NaN$`)],
      ["a fractional rows", [f32(3), { rows: 1.5, cols: 2 }], RangeError, new RegExp(`^${op}: rows must be an integer >= 0, got 1.5$`)],
      ["a string cols", [f32(2), { rows: 1, cols: "2" }], TypeError, new RegExp(`^${op}: cols must be a number, got "2"$`)],
      ["a short out", [f32(6), { rows: 2, cols: 3, out: f32(outLength(2, 3) - 1) }], RangeError,
        new RegExp(`^${op}: out has length ${outLength(2, 3) - 1}, expected ${outLength(2, 3)} `)],
      ["an Array for out", [f32(2), { rows: 1, cols: 2, out: [0, 0] }], TypeError, new RegExp(`^${op}: out must be a Float32Array, got an Array of length 2$`)],
      ["out overlapping x", (() => { const buffer = f32(9); return [buffer.subarray(0, 6), { rows: 2, cols: 3, out: buffer.subarray(1, 1 + outLength(2, 3)) }]; })(),
        RangeError, new RegExp(`^${op}: out overlaps x in memory; pass a separate output array$`)],
      ["sizes past 4 GiB", [f32(0), { rows: 65536, cols: 16384 }], RangeError,
        new RegExp(`^${op}: x and out \\(1073741824 \\+ ${outLength(65536, 16384)} float32 values\\) need ${(1073741824 + outLength(65536, 16384)) * 4} bytes, more than the 4 GiB`)],
      ["missing options", [f32(1)], TypeError, new RegExp(`^${op}: options must be an object, got undefined$`)],
    ];
    for (const [name, args, type, pattern] of cases) {
      test(`${op} rejects ${name}`, async () => {
        const favor = await favorFor("scalar");
        assert.throws(() => favor.sync[op](...args), (error) => error instanceof type && pattern.test(error.message));
        await assert.rejects(favor[op](...args), (error) => error instanceof type && pattern.test(error.message));
      });
    }
  }
});
