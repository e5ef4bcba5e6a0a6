// Shared numeric helpers for tests: seeded inputs, tolerances and
// comparisons whose failure messages name the index and both values.

import assert from "node:assert/strict";

/** Unit roundoff of float32: half the distance from 1 to the next float32. */
export const F32_EPS = 2 ** -24;

/** A small deterministic generator (mulberry32) for test inputs only; returns floats in [-1, 1). */
export function seededFloats(count, seed, scale = 1) {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = (unit * 2 - 1) * scale;
  }
  return out;
}

/** A Float32Array of `count` NaNs, for outputs that must be fully written. */
export function nanFilled(count) {
  return new Float32Array(count).fill(NaN);
}

/**
 * Asserts |actual[i] - expected[i]| <= bound[i] for all i, where `bound` is a
 * number or an array. A failure message names the index, both values and the excess.
 */
export function assertClose(actual, expected, bound, context = "") {
  assert.equal(actual.length, expected.length, `${context}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const limit = typeof bound === "number" ? bound : bound[i];
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= limit)) {
      assert.fail(`${context}: index ${i}: got ${actual[i]}, expected ${expected[i]}, error ${error} > tolerance ${limit}`);
    }
  }
}

/** Asserts two typed arrays are equal element by element (bit patterns for floats). */
export function assertSameBits(actual, expected, context = "") {
  assert.equal(actual.length, expected.length, `${context}: length ${actual.length} != ${expected.length}`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.fail(`${context}: index ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}
