// f64_state_accumulate, the TwoSum update of the compensated running state
// of the causal backward pass, on every WASM build. The kernel runs the same
// IEEE float64 additions in every build (its vector paths take two or four
// values at a time, without fused operations), so each (hi, lo) pair must
// match the float64 JavaScript reference below bit for bit, for every count
// around the vector widths, and the return value must be the largest |hi|.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { seededFloats } from "../helpers/numeric.js";
import { backendOf } from "../../dist/internal.js";

/** TwoSum of hi[e] and p[e]·factor, then the FastTwoSum renormalization, as the kernel documents. */
function accumulateReference(p, factor, hi, lo) {
  let largest = 0;
  for (let e = 0; e < p.length; e++) {
    const x = p[e] * factor;
    const a = hi[e];
    const s = a + x;
    const bv = s - a;
    const err = (a - (s - bv)) + (x - bv);
    const t = lo[e] + err;
    const h = s + t;
    hi[e] = h;
    lo[e] = t - (h - s);
    largest = Math.max(largest, Math.abs(h));
  }
  return largest;
}

/** Float32 values of both signs up to 1e4 in magnitude, spread over 8 decades, so the pairs get nonzero lo parts. */
function wideValues(count, seed) {
  const values = seededFloats(count, seed);
  const exponents = seededFloats(count, seed + 1);
  for (let e = 0; e < count; e++) values[e] = Math.fround(values[e] * 10 ** (4 * exponents[e]));
  return values;
}

const COUNTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 63, 64, 65, 66, 67, 16643];
const FACTORS = [1, -0.7310585786300049, 3.0000000000000004e5];

describe("f64_state_accumulate", () => {
  for (const build of ALL_BUILDS) {
    test(`${build}: matches the float64 reference bit for bit`, { skip: skipReason(build) }, async () => {
      const favor = await favorFor(build);
      const backend = backendOf(favor);
      const accumulate = backend.kernel("f64_state_accumulate");
      for (const n of COUNTS) {
        const hiRef = new Float64Array(n);
        const loRef = new Float64Array(n);
        backend.withScope("test", (scope) => {
          const hi = scope.allocBytes(n * 8);
          const lo = scope.allocBytes(n * 8);
          const p = scope.allocF32(n);
          new Float64Array(backend.exports.memory.buffer, hi, n).fill(0);
          new Float64Array(backend.exports.memory.buffer, lo, n).fill(0);
          FACTORS.forEach((factor, step) => {
            const values = wideValues(n, 100 * n + step);
            backend.f32(p, n).set(values);
            const expected = accumulateReference(values, factor, hiRef, loRef);
            const returned = accumulate(n, p, factor, hi, lo);
            const hiOut = new Float64Array(backend.exports.memory.buffer, hi, n);
            const loOut = new Float64Array(backend.exports.memory.buffer, lo, n);
            for (let e = 0; e < n; e++) {
              assert.ok(Object.is(hiOut[e], hiRef[e]), `n ${n}, step ${step}, hi[${e}]: got ${hiOut[e]}, expected ${hiRef[e]}`);
              assert.ok(Object.is(loOut[e], loRef[e]), `n ${n}, step ${step}, lo[${e}]: got ${loOut[e]}, expected ${loRef[e]}`);
            }
            assert.equal(returned, expected, `n ${n}, step ${step}: largest |hi|`);
          });
          assert.ok(n < 8 || loRef.some((value) => value !== 0), `n ${n}: the inputs left every lo part zero`);
        });
      }
    });
  }
});
