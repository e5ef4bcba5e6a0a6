// The elementwise exp, expFast (the faster exp of the feature maps), sin and cos kernels (internal ops, reached through
// bindings/internal.ts) against float64 Math.exp, Math.sin and Math.cos.
// Elementwise functions are checked in float32 ULPs (tests/helpers/ulp.js):
// the error of each result divided by the float32 spacing at the exact
// value. MAX_ULP contains the bounds that assembly/math/ states, and this file
// asserts them on
//   - every 1024th float32 bit pattern (4,194,304 inputs of both signs,
//     spread evenly over every binade, infinities and NaNs included);
//   - every float32 in the ranges where exp underflows to subnormals or
//     overflows, and for sin and cos the float32 values nearest to each
//     multiple k·π/2 up to 2^20 and their neighbours, where range reduction
//     loses the most digits.
// All builds run the same operations in the same order, so their outputs must be
// bit-identical; the last suite checks that.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { elementwiseOps, backendOf } from "../../dist/internal.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { fillNewBuffersWithNaN } from "../helpers/memory.js";
import { nanFilled } from "../helpers/numeric.js";
import { MAX_ULP, float32Bits, float32Range, ulpError } from "../helpers/ulp.js";

const REFERENCE = { exp: Math.exp, expFast: Math.exp, sin: Math.sin, cos: Math.cos };
const FUNCTIONS = ["exp", "expFast", "sin", "cos"];
const SWEEP_STRIDE = 1024;

/** Every SWEEP_STRIDE-th float32 bit pattern, both signs. */
const sweep = float32Range(0, 2 ** 32, SWEEP_STRIDE);

/** Float32 values nearest to k·π/2 for 1 <= k <= 2^20·2/π, with both neighbours and both signs. */
function nearMultiplesOfHalfPi() {
  const count = Math.floor((2 ** 20 * 2) / Math.PI);
  const values = new Float32Array(6 * count);
  const words = new Uint32Array(values.buffer);
  for (let k = 1; k <= count; k++) {
    const bits = float32Bits(Math.fround((k * Math.PI) / 2));
    const base = 6 * (k - 1);
    words[base] = bits - 1;
    words[base + 1] = bits;
    words[base + 2] = bits + 1;
    words[base + 3] = (bits - 1) | 0x80000000;
    words[base + 4] = bits | 0x80000000;
    words[base + 5] = (bits + 1) | 0x80000000;
  }
  return values;
}

const CASES = {
  exp: [
    ["sweep", sweep],
    // exp(x) is subnormal for x in about [-103.97, -87.34]; every float32 from -87.3 down to -104.
    ["subnormal results", float32Range(float32Bits(-87.3), float32Bits(-104) + 1)],
    // The overflow threshold is near 88.7228; every float32 in [88, 89].
    ["overflow threshold", float32Range(float32Bits(88), float32Bits(89) + 1)],
  ],
  expFast: [
    ["sweep", sweep],
    // |x| <= 87.3 takes the fast path and the rest expF32; every float32 within 0.1 of ±87.3.
    ["fast-path limit", float32Range(float32Bits(87.2), float32Bits(87.4) + 1)],
    ["negative fast-path limit", float32Range(float32Bits(-87.2), float32Bits(-87.4) + 1)],
    ["subnormal results", float32Range(float32Bits(-87.3), float32Bits(-104) + 1)],
    ["overflow threshold", float32Range(float32Bits(88), float32Bits(89) + 1)],
  ],
  sin: [["sweep", sweep], ["near multiples of π/2", nearMultiplesOfHalfPi()]],
  cos: [["sweep", sweep], ["near multiples of π/2", nearMultiplesOfHalfPi()]],
};

// float64 references, computed once per input set.
const references = new Map();
function referenceFor(fn, inputs) {
  if (!references.has(inputs)) references.set(inputs, {});
  const entry = references.get(inputs);
  if (!entry[fn]) {
    const exact = new Float64Array(inputs.length);
    for (let i = 0; i < inputs.length; i++) exact[i] = REFERENCE[fn](inputs[i]);
    entry[fn] = exact;
  }
  return entry[fn];
}

// Outputs on the sweep per build and function, kept for the cross-build comparison.
const sweepOutputs = new Map();

/** Returns the largest ULP error of out against the reference and the input where it occurs. */
function maxUlpError(inputs, out, exact) {
  let worst = 0;
  let worstInput = NaN;
  for (let i = 0; i < inputs.length; i++) {
    const error = ulpError(out[i], exact[i]);
    if (error > worst || Number.isNaN(error)) {
      worst = error;
      worstInput = inputs[i];
    }
  }
  return { worst, worstInput };
}

for (const build of ALL_BUILDS) {
  describe(`elementwise math (${build})`, { skip: skipReason(build) }, () => {
    for (const fn of FUNCTIONS) {
      for (const [name, inputs] of CASES[fn]) {
        test(`${fn} within ${MAX_ULP[fn]} ULP, ${name}`, async (t) => {
          const favor = await favorFor(build);
          fillNewBuffersWithNaN(favor);
          const ops = elementwiseOps(favor);
          const out = ops[fn](inputs, nanFilled(inputs.length));
          if (inputs === sweep) sweepOutputs.set(`${build} ${fn}`, out);
          const { worst, worstInput } = maxUlpError(inputs, out, referenceFor(fn, inputs));
          t.diagnostic(`${fn} ${name}: max ${worst.toFixed(4)} ULP at x = ${worstInput} over ${inputs.length} inputs`);
          assert.ok(worst <= MAX_ULP[fn], `${fn}: ${worst} ULP at x = ${worstInput} (${REFERENCE[fn](worstInput)} exact)`);
        });
      }
    }

    test("inputs with the largest measured errors", async () => {
      // From the exhaustive run of scripts/measure-math-ulp.mjs.
      const ops = elementwiseOps(await favorFor(build));
      const worst = { exp: -87.71021270751953, expFast: 5.202215194702148, sin: 2.3807756900787354, cos: 492.43011474609375 };
      for (const fn of FUNCTIONS) {
        for (const value of [worst[fn], -worst[fn]]) {
          const got = ops[fn](new Float32Array([value]))[0];
          const error = ulpError(got, REFERENCE[fn](Math.fround(value)));
          assert.ok(error <= MAX_ULP[fn], `${fn}(${value}) = ${got}: ${error} ULP`);
        }
      }
    });

    test("exp special values", async () => {
      const ops = elementwiseOps(await favorFor(build));
      const x = new Float32Array([0, -0, -Infinity, Infinity, NaN, 89, -104, 1e30, -1e30, 88.72283172607422, 88.72284698486328]);
      const expected = [1, 1, 0, Infinity, NaN, Infinity, 0, Infinity, 0, Math.fround(Math.exp(88.72283172607422)), Infinity];
      assert.deepEqual(Array.from(ops.exp(x)), expected, "exp");
      assert.deepEqual(Array.from(ops.expFast(x)), expected, "expFast");
    });

    test("expFast at its largest measured error on negative inputs", async () => {
      // From the exhaustive run of scripts/measure-math-ulp.mjs --fn expFast
      // (the positive side is in the test above).
      const ops = elementwiseOps(await favorFor(build));
      const value = -27.378984451293945;
      const got = ops.expFast(new Float32Array([value]))[0];
      const error = ulpError(got, Math.exp(Math.fround(value)));
      assert.ok(error <= MAX_ULP.expFast, `expFast(${value}) = ${got}: ${error} ULP`);
    });

    test("expFast keeps NaN in its lane", async () => {
      // The vector path sends lanes beyond the fast range to expF32 while
      // NaN stays on the fast path; mixed vectors must not mix up lanes.
      const ops = elementwiseOps(await favorFor(build));
      const x = new Float32Array([NaN, -100, 1, 90, -1, NaN, 88.5, -87.5]);
      const out = ops.expFast(x);
      x.forEach((value, i) => {
        if (Number.isNaN(value)) {
          assert.ok(Number.isNaN(out[i]), `lane ${i}: expected NaN, got ${out[i]}`);
          return;
        }
        const error = ulpError(out[i], Math.exp(value));
        assert.ok(error <= MAX_ULP.expFast, `expFast(${value}) = ${out[i]}: ${error} ULP`);
      });
    });

    test("sin and cos special values", async () => {
      const ops = elementwiseOps(await favorFor(build));
      const x = new Float32Array([0, -0, Infinity, -Infinity, NaN]);
      assert.deepEqual(Array.from(ops.sin(x)), [0, -0, NaN, NaN, NaN]);
      assert.deepEqual(Array.from(ops.cos(x)), [1, 1, NaN, NaN, NaN]);
    });

    test("sin and cos beyond the fast reduction", async () => {
      // |x| > 2^20 takes the float64 standard-library path: the limit, its
      // neighbours, and two large values where AssemblyScript 0.27.37's
      // float32 Mathf.sin and Mathf.cos return wrong results.
      const ops = elementwiseOps(await favorFor(build));
      const x = new Float32Array([2 ** 20, 2 ** 20 + 0.125, -(2 ** 20) - 0.125, 2 ** 20 - 0.0625, 1e6, 3e9, -7.5e15,
        1.1096427866787778e27, 6.689137675655195e26, 3.4028234663852886e38, -3.4028234663852886e38]);
      for (const fn of ["sin", "cos"]) {
        const out = ops[fn](x);
        x.forEach((value, i) => {
          const error = ulpError(out[i], REFERENCE[fn](value));
          assert.ok(error <= MAX_ULP[fn], `${fn}(${value}) = ${out[i]}, exact ${REFERENCE[fn](value)}: ${error} ULP`);
        });
      }
    });

    test("in place and with a separate out", async () => {
      const ops = elementwiseOps(await favorFor(build));
      const x = new Float32Array([0.5, -2, 7, 100, -0.25]);
      const expected = ops.exp(x);
      const copy = x.slice();
      assert.deepEqual(ops.exp(x, nanFilled(5)), expected);
      assert.deepEqual(x, copy, "x changed");
      assert.equal(ops.exp(x, x), x);
      assert.deepEqual(x, expected);
    });
  });
}

describe("elementwise math agrees bit for bit across builds", () => {
  for (const fn of FUNCTIONS) {
    test(`${fn} on the sweep`, async () => {
      const outputs = [];
      for (const build of ALL_BUILDS) {
        if (skipReason(build)) continue;
        const key = `${build} ${fn}`;
        if (!sweepOutputs.has(key)) sweepOutputs.set(key, elementwiseOps(await favorFor(build))[fn](sweep));
        outputs.push([build, sweepOutputs.get(key)]);
      }
      const [[baseName, base], ...others] = outputs;
      const baseWords = new Uint32Array(base.buffer);
      for (const [name, out] of others) {
        const words = new Uint32Array(out.buffer);
        for (let i = 0; i < words.length; i++) {
          // NaN payloads may differ between instructions; any NaN matches any NaN.
          if (words[i] !== baseWords[i] && !(Number.isNaN(out[i]) && Number.isNaN(base[i]))) {
            assert.fail(`${fn}(${sweep[i]}): ${name} gives ${out[i]}, ${baseName} gives ${base[i]}`);
          }
        }
      }
    });
  }
});

describe("elementwise math argument checks", () => {
  test("rejects a wrong input type", async () => {
    const ops = elementwiseOps(await favorFor("scalar"));
    assert.throws(() => ops.exp([1, 2]), (error) => error instanceof TypeError && /^exp: x must be a Float32Array, got an Array of length 2$/.test(error.message));
  });

  test("rejects a wrong out length", async () => {
    const ops = elementwiseOps(await favorFor("scalar"));
    assert.throws(() => ops.sin(new Float32Array(3), new Float32Array(2)),
      (error) => error instanceof RangeError && /^sin: out has length 2, expected 3 \(one output per element of x\)$/.test(error.message));
  });

  test("rejects out overlapping x", async () => {
    const ops = elementwiseOps(await favorFor("scalar"));
    const buffer = new Float32Array(5);
    assert.throws(() => ops.cos(buffer.subarray(0, 4), buffer.subarray(1, 5)),
      (error) => error instanceof RangeError && /^cos: out overlaps x in memory; pass a separate output array$/.test(error.message));
  });

  test("backendOf rejects other objects", () => {
    assert.throws(() => backendOf({ sync: {} }),
      (error) => error instanceof TypeError && /^backendOf: expected a Favor instance made by createFavor, got an Object$/.test(error.message));
  });
});
