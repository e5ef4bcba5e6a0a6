// gemv against the float64 reference on every WASM build, plus the argument
// checks. Tolerance: each output is a K-term float32 dot product (K = n
// without trans, m with trans), so in any summation order its rounding error
// is at most about K·eps·Σ|A_ip·x_p|; scaling by alpha and adding beta·y adds
// two more roundings. The bound is (K + 2)·eps·magnitude with
// magnitude = |alpha|·Σ|A_ip·x_p| + |beta·y_i| from the reference.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { gemvReference } from "../reference/gemv.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { fillNewBuffersWithNaN } from "../helpers/memory.js";
import { F32_EPS, assertClose, nanFilled, seededFloats } from "../helpers/numeric.js";

// Around the 4-lane vectors, the 4-row groups and the 16-column blocks.
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 64, 65];

function tolerance(magnitude, terms) {
  return Array.from(magnitude, (value) => (terms + 2) * F32_EPS * value);
}

for (const build of ALL_BUILDS) {
  describe(`gemv (${build})`, { skip: skipReason(build) }, () => {
    test("small known product", async () => {
      const favor = await favorFor(build);
      const a = new Float32Array([1, 2, 3, 4, 5, 6]);
      // [1 2 3; 4 5 6]·[1 1 2] = [9 21]; [1 2 3; 4 5 6]ᵀ·[1 2] = [9 12 15]. Exact in float32.
      assert.deepEqual(Array.from(await favor.gemv(a, new Float32Array([1, 1, 2]), { m: 2, n: 3 })), [9, 21]);
      assert.deepEqual(Array.from(await favor.gemv(a, new Float32Array([1, 2]), { m: 2, n: 3, trans: true })), [9, 12, 15]);
    });

    test("beta 0 ignores NaN in y", async () => {
      const favor = await favorFor(build);
      for (const trans of [false, true]) {
        const y = nanFilled(5);
        favor.sync.gemv(new Float32Array(25).fill(1), new Float32Array(5).fill(1), { m: 5, n: 5, trans, y });
        assert.deepEqual(Array.from(y), [5, 5, 5, 5, 5], `trans=${trans}`);
      }
    });

    test("shapes around vector and block edges", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      let seed = 1;
      for (const m of SIZES) {
        for (const n of SIZES) {
          for (const trans of [false, true]) {
            const a = seededFloats(m * n, seed++);
            const x = seededFloats(trans ? m : n, seed++);
            const aCopy = a.slice();
            const xCopy = x.slice();
            const y = nanFilled(trans ? n : m);
            const result = favor.sync.gemv(a, x, { m, n, trans, y });
            assert.equal(result, y, "returns y");
            const ref = gemvReference(a, x, { m, n, trans });
            assertClose(y, ref.out, tolerance(ref.magnitude, trans ? m : n), `m=${m} n=${n} trans=${trans}`);
            assert.deepEqual(a, aCopy, "a changed");
            assert.deepEqual(x, xCopy, "x changed");
          }
        }
      }
    });

    test("alpha and beta", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      let seed = 500;
      for (const [m, n] of [[7, 9], [17, 33], [64, 5], [1, 65]]) {
        for (const trans of [false, true]) {
          for (const [alpha, beta] of [[-1.5, 0.25], [2, -1], [0, 3], [0.5, 0]]) {
            const a = seededFloats(m * n, seed++);
            const x = seededFloats(trans ? m : n, seed++);
            const y0 = seededFloats(trans ? n : m, seed++);
            const y = y0.slice();
            favor.sync.gemv(a, x, { m, n, trans, alpha, beta, y });
            const ref = gemvReference(a, x, { m, n, trans, alpha, beta, y: y0 });
            assertClose(y, ref.out, tolerance(ref.magnitude, trans ? m : n),
              `m=${m} n=${n} trans=${trans} alpha=${alpha} beta=${beta}`);
          }
        }
      }
    });

    test("empty shapes", async () => {
      const favor = await favorFor(build);
      // n = 0: every y_i is an empty sum, so y = beta·y.
      const y = new Float32Array([1, 2, 3]);
      favor.sync.gemv(new Float32Array(0), new Float32Array(0), { m: 3, n: 0, beta: 2, y });
      assert.deepEqual(Array.from(y), [2, 4, 6]);
      assert.deepEqual(Array.from(favor.sync.gemv(new Float32Array(0), new Float32Array(0), { m: 0, n: 4, trans: true })), [0, 0, 0, 0]);
      assert.equal(favor.sync.gemv(new Float32Array(0), new Float32Array(5), { m: 0, n: 5 }).length, 0);
    });
  });
}

describe("gemv argument checks", () => {
  const f32 = (n) => new Float32Array(n);
  const cases = [
    ["a plain Array for a", [[1, 2], f32(2), { m: 1, n: 2 }], TypeError, /^gemv: a must be a Float32Array, got an Array of length 2$/],
    ["a Float64Array for x", [f32(2), new Float64Array(2), { m: 1, n: 2 }], TypeError, /^gemv: x must be a Float32Array, got a Float64Array of length 2$/],
    ["a wrong length for a", [f32(5), f32(3), { m: 2, n: 3 }], RangeError, /^gemv: a has length 5, expected 6 \(m 2 × n 3\)$/],
    ["a wrong length for x", [f32(6), f32(2), { m: 2, n: 3 }], RangeError, /^gemv: x has length 2, expected 3 \(n, the columns of A\)$/],
    ["a wrong length for x with trans", [f32(6), f32(3), { m: 2, n: 3, trans: true }], RangeError, /^gemv: x has length 3, expected 2 \(m, the rows of A, because trans is true\)$/],
    ["a wrong length for y", [f32(6), f32(3), { m: 2, n: 3, y: f32(3) }], RangeError, /^gemv: y has length 3, expected 2 \(m, the rows of A\)$/],
    ["a wrong length for y with trans", [f32(6), f32(2), { m: 2, n: 3, trans: true, y: f32(2) }], RangeError, /^gemv: y has length 2, expected 3 \(n, the columns of A, because trans is true\)$/],
    ["a negative m", [f32(0), f32(0), { m: -1, n: 0 }], RangeError, /^gemv: m must be an integer >= 0, got -1$/],
    ["a NaN n", [f32(0), f32(0), { m: 0, n: NaN }], RangeError, /^gemv: n must be an integer >= 0, got NaN$/],
    ["a fractional n", [f32(3), f32(2), { m: 2, n: 1.5 }], RangeError, /^gemv: n must be an integer >= 0, got 1.5$/],
    ["a string m", [f32(2), f32(2), { m: "1", n: 2 }], TypeError, /^gemv: m must be a number, got "1"$/],
    ["a string trans", [f32(2), f32(2), { m: 1, n: 2, trans: "yes" }], TypeError, /^gemv: trans must be a boolean, got "yes"$/],
    ["an infinite alpha", [f32(2), f32(2), { m: 1, n: 2, alpha: Infinity }], RangeError, /^gemv: alpha must be finite, got Infinity$/],
    ["a NaN beta", [f32(2), f32(2), { m: 1, n: 2, beta: NaN, y: f32(1) }], RangeError, /^gemv: beta must be finite, got NaN$/],
    ["beta without y", [f32(2), f32(2), { m: 1, n: 2, beta: 1 }], RangeError, /^gemv: beta is 1, but no y was given to scale; pass y or leave beta at 0$/],
    ["y overlapping x", (() => { const buffer = f32(4); return [f32(4), buffer.subarray(0, 2), { m: 2, n: 2, y: buffer.subarray(1, 3) }]; })(), RangeError, /^gemv: y overlaps x in memory; pass a separate output array$/],
    ["y overlapping a", (() => { const buffer = f32(6); return [buffer.subarray(0, 4), f32(2), { m: 2, n: 2, y: buffer.subarray(3, 5) }]; })(), RangeError, /^gemv: y overlaps a in memory; pass a separate output array$/],
    ["sizes past 4 GiB", [f32(0), f32(0), { m: 65536, n: 16384 }], RangeError, /^gemv: a, x and y \(1073741824 \+ 16384 \+ 65536 float32 values\) need 4295294976 bytes, more than the 4 GiB/],
    ["missing options", [f32(1), f32(1)], TypeError, /^gemv: options must be an object, got undefined$/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.gemv(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.gemv(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }
});
