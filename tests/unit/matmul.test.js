// matmul against the float64 reference on every WASM build, plus the
// argument checks. Tolerance: each output is a k-term f32 dot product, so
// its rounding error is at most about k·eps·Σ|a_ip·b_pj| (plus the rounding
// of alpha and beta terms); the bound uses (k + 2)·eps·magnitude.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { gemmReference } from "../reference/gemm.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertClose, nanFilled, seededFloats } from "../helpers/numeric.js";

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
