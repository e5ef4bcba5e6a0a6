#!/usr/bin/env node
// Measures the maximum error, in float32 ULPs against float64 Math, of the
// f32_exp, f32_exp_fast, f32_sin and f32_cos kernels over every float32 input in the
// ranges below (or every `--stride`-th one). This is the measurement behind
// the bounds stated in assembly/math/; the unit tests check those bounds on a
// sparser sweep on every build.
//
//   node scripts/measure-math-ulp.mjs [--build simd] [--stride 1] [--fn exp,expFast,sin,cos]
//
// The whole run evaluates about 7·10^9 inputs and takes several minutes.
// The builds return bit-identical results, so one build suffices.

import { createFavor } from "../dist/index.js";
import { elementwiseOps } from "../dist/internal.js";
import { float32Bits, ulpError } from "../tests/helpers/ulp.js";

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

const build = option("build", "simd");
const stride = Number(option("stride", "1"));
const functions = option("fn", "exp,sin,cos").split(",");
const REFERENCE = { exp: Math.exp, expFast: Math.exp, sin: Math.sin, cos: Math.cos };
const POSITIVE_INFINITY_BITS = 0x7f800000;
const SIGN = 0x80000000;

// Bit-pattern ranges [first, end) and the stride used in each. Inputs
// outside exp's ranges give exactly 0 or +Infinity; sin and cos above 2^20
// take the float64 standard-library path, sampled every 64th input.
const RANGES = {
  exp: [
    ["[0, 89]", 0, float32Bits(89) + 1, stride],
    ["[-104, -0]", SIGN, float32Bits(-104) + 1, stride],
  ],
  sin: [
    ["[0, 2^20]", 0, float32Bits(2 ** 20) + 1, stride],
    ["[-2^20, -0]", SIGN, float32Bits(-(2 ** 20)) + 1, stride],
    ["(2^20, max]", float32Bits(2 ** 20) + 1, POSITIVE_INFINITY_BITS, 64 * stride],
    ["[-max, -2^20)", float32Bits(-(2 ** 20)) + 1, SIGN + POSITIVE_INFINITY_BITS, 64 * stride],
  ],
};
RANGES.cos = RANGES.sin;
// expFast takes expF32 outside [-87.3, 87.3], which the exp ranges cover.
RANGES.expFast = [
  ["[0, 87.3]", 0, float32Bits(87.3) + 1, stride],
  ["[-87.3, -0]", SIGN, float32Bits(-87.3) + 1, stride],
];

const CHUNK = 1 << 22;
const words = new Uint32Array(CHUNK);
const inputs = new Float32Array(words.buffer);
const outputs = new Float32Array(CHUNK);

const favor = await createFavor({ build });
const ops = elementwiseOps(favor);
console.log(`build ${favor.info.build}, stride ${stride}`);

for (const fn of functions) {
  const reference = REFERENCE[fn];
  for (const [name, first, end, step] of RANGES[fn]) {
    const started = Date.now();
    let worst = 0;
    let worstInput = NaN;
    let count = 0;
    for (let start = first; start < end; start += CHUNK * step) {
      const length = Math.min(CHUNK, Math.ceil((end - start) / step));
      for (let i = 0; i < length; i++) words[i] = start + i * step;
      const x = inputs.subarray(0, length);
      const y = ops[fn](x, outputs.subarray(0, length));
      for (let i = 0; i < length; i++) {
        const error = ulpError(y[i], reference(x[i]));
        if (!(error <= worst)) {
          worst = error;
          worstInput = x[i];
        }
      }
      count += length;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`${fn} ${name}: max ${worst.toFixed(4)} ULP at x = ${worstInput} (${count} inputs, ${seconds} s)`);
  }
}
