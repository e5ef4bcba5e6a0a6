// Float32 ULP error of a result against a float64 reference, and float32
// sweeps by bit pattern, for the elementwise math tests and
// scripts/measure-math-ulp.mjs.

/**
 * The maximum errors, in float32 ULPs against float64 Math, that
 * tests/unit/math.test.js asserts for the f32_exp, f32_exp_fast, f32_sin and
 * f32_cos kernels; assembly/math/exp.ts, exp-fast.ts and sincos.ts state the
 * same bounds.
 */
export const MAX_ULP = { exp: 0.78, expFast: 0.99, sin: 0.91, cos: 0.92 };

const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);

/** Returns the spacing of float32 values at |exact| (subnormal spacing 2^-149 below 2^-126, 2^104 at the top). */
export function float32UlpAt(exact) {
  scratch[0] = exact;
  const exponent = ((scratchWords[1] >>> 20) & 0x7ff) - 1023;
  return 2 ** (Math.min(Math.max(exponent, -126), 127) - 23);
}

/**
 * Returns |got - exact| in units of the float32 spacing at exact. A NaN
 * reference needs a NaN result (0, else Infinity); infinite results count as
 * ±2^128, the first value past the largest float32, unless exact also rounds
 * to that infinity.
 */
export function ulpError(got, exact) {
  if (Number.isNaN(exact)) return Number.isNaN(got) ? 0 : Infinity;
  if (Number.isNaN(got)) return Infinity;
  if (Math.abs(got) === Infinity) {
    if (Math.fround(exact) === got) return 0;
    got = Math.sign(got) * 2 ** 128;
  }
  return Math.abs(got - exact) / float32UlpAt(exact);
}

/** Returns the float32 values whose bit patterns are first, first + stride, ... below end (as unsigned 32-bit integers). */
export function float32Range(first, end, stride = 1) {
  const count = Math.max(0, Math.ceil((end - first) / stride));
  const words = new Uint32Array(count);
  for (let i = 0; i < count; i++) words[i] = (first + i * stride) >>> 0;
  return new Float32Array(words.buffer);
}

/** Returns the float32 bit pattern of value as an unsigned integer. */
export function float32Bits(value) {
  return new Uint32Array(new Float32Array([value]).buffer)[0];
}
