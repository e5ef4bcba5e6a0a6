// transpose against the reference index permutation on every WASM build,
// plus the argument checks. A transpose only moves values, so the check is
// bit-for-bit equality (tolerance 0), NaN payloads and -0 included.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { transposeReference } from "../reference/transpose.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { fillNewBuffersWithNaN } from "../helpers/memory.js";
import { assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";

// Around the 4×4 SIMD block and the 16×16 tile: below, at and above each edge.
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 64, 65];

for (const build of ALL_BUILDS) {
  describe(`transpose (${build})`, { skip: skipReason(build) }, () => {
    test("small known matrix", async () => {
      const favor = await favorFor(build);
      const out = await favor.transpose(new Float32Array([1, 2, 3, 4, 5, 6]), { rows: 2, cols: 3 });
      assert.deepEqual(Array.from(out), [1, 4, 2, 5, 3, 6]);
    });

    test("shapes around block and tile edges", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      let seed = 1;
      for (const rows of SIZES) {
        for (const cols of SIZES) {
          const a = seededFloats(rows * cols, seed++);
          const aCopy = a.slice();
          const out = nanFilled(rows * cols);
          const result = favor.sync.transpose(a, { rows, cols, out });
          assert.equal(result, out, "returns out");
          assertSameBits(out, transposeReference(a, { rows, cols }), `rows=${rows} cols=${cols}`);
          assert.deepEqual(a, aCopy, "a changed");
        }
      }
    });

    test("batch of matrices", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      for (const [batch, rows, cols] of [[3, 5, 7], [2, 16, 17], [4, 1, 9], [5, 9, 1]]) {
        const a = seededFloats(batch * rows * cols, 100 + batch);
        const out = favor.sync.transpose(a, { rows, cols, batch });
        assertSameBits(out, transposeReference(a, { rows, cols, batch }), `batch=${batch} rows=${rows} cols=${cols}`);
      }
    });

    test("special values keep their bits", async () => {
      const favor = await favorFor(build);
      // A quiet NaN with a payload, a negative NaN, -0, infinities and a subnormal.
      const words = new Uint32Array([0x7fc12345, 0xffc00001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000, 0xbf800000]);
      const a = new Float32Array(words.buffer);
      const out = favor.sync.transpose(a, { rows: 2, cols: 4 });
      assertSameBits(out, transposeReference(a, { rows: 2, cols: 4 }), "special values");
    });

    test("empty shapes", async () => {
      const favor = await favorFor(build);
      assert.equal(favor.sync.transpose(new Float32Array(0), { rows: 0, cols: 5 }).length, 0);
      assert.equal(favor.sync.transpose(new Float32Array(0), { rows: 3, cols: 0, batch: 2 }).length, 0);
    });
  });
}

describe("transpose argument checks", () => {
  const cases = [
    ["a plain Array for a", [[1, 2], { rows: 1, cols: 2 }], TypeError, /^transpose: a must be a Float32Array, got an Array of length 2$/],
    ["a Float64Array for a", [new Float64Array(2), { rows: 1, cols: 2 }], TypeError, /^transpose: a must be a Float32Array, got a Float64Array of length 2$/],
    ["a wrong length for a", [new Float32Array(5), { rows: 2, cols: 3 }], RangeError, /^transpose: a has length 5, expected 6 \(batch 1 × rows 2 × cols 3\)$/],
    ["a wrong length for a batch", [new Float32Array(6), { rows: 2, cols: 3, batch: 2 }], RangeError, /^transpose: a has length 6, expected 12 \(batch 2 × rows 2 × cols 3\)$/],
    ["a negative rows", [new Float32Array(0), { rows: -1, cols: 2 }], RangeError, /^transpose: rows must be an integer >= 0, got -1$/],
    ["a NaN cols", [new Float32Array(0), { rows: 1, cols: NaN }], RangeError, /^transpose: cols must be an integer >= 0, got NaN$/],
    ["a fractional cols", [new Float32Array(3), { rows: 2, cols: 1.5 }], RangeError, /^transpose: cols must be an integer >= 0, got 1.5$/],
    ["a string rows", [new Float32Array(2), { rows: "1", cols: 2 }], TypeError, /^transpose: rows must be a number, got "1"$/],
    ["a batch of 0", [new Float32Array(0), { rows: 1, cols: 1, batch: 0 }], RangeError, /^transpose: batch must be an integer >= 1, got 0$/],
    ["a short out", [new Float32Array(6), { rows: 2, cols: 3, out: new Float32Array(5) }], RangeError, /^transpose: out has length 5, expected 6 \(batch 1 × cols 3 × rows 2\)$/],
    ["an Array for out", [new Float32Array(1), { rows: 1, cols: 1, out: [0] }], TypeError, /^transpose: out must be a Float32Array, got an Array of length 1$/],
    ["out overlapping a", (() => { const buffer = new Float32Array(8); return [buffer.subarray(0, 6), { rows: 2, cols: 3, out: buffer.subarray(2, 8) }]; })(), RangeError, /^transpose: out overlaps a in memory; pass a separate output array$/],
    ["sizes past 4 GiB", [new Float32Array(0), { rows: 65536, cols: 16384 }], RangeError, /^transpose: a and out \(1073741824 \+ 1073741824 float32 values\) need 8589934592 bytes, more than the 4 GiB/],
    ["rows past 2^31 - 1", [new Float32Array(0), { rows: 2 ** 31, cols: 0 }], RangeError, /^transpose: rows is 2147483648, larger than the largest supported size 2147483647$/],
    ["missing options", [new Float32Array(1)], TypeError, /^transpose: options must be an object, got undefined$/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.transpose(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.transpose(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }
});
