// Plain JavaScript Philox4x32-10 and the favor random streams built on it:
// the readable specification that assembly/random/ is tested against.
// Products use BigInt, so the generator itself involves no float64 rounding.

const M0 = 0xd2511f53n;
const M1 = 0xcd9e8d57n;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const MASK32 = 0xffffffffn;

/** Counter word 2 of the uniform and normal streams (assembly/random/*.ts). */
export const UNIFORM_TAG = 0;
export const NORMAL_TAG = 1;

/** Returns the four output words of Philox4x32-10 for a 4-word counter and a 2-word key. */
export function philox4x32_10(counter, key) {
  let [x0, x1, x2, x3] = counter.map((word) => word >>> 0);
  let [k0, k1] = key.map((word) => word >>> 0);
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const p0 = M0 * BigInt(x0);
    const p1 = M1 * BigInt(x2);
    const y0 = (Number(p1 >> 32n) ^ x1 ^ k0) >>> 0;
    const y1 = Number(p1 & MASK32);
    const y2 = (Number(p0 >> 32n) ^ x3 ^ k1) >>> 0;
    const y3 = Number(p0 & MASK32);
    [x0, x1, x2, x3] = [y0, y1, y2, y3];
  }
  return [x0, x1, x2, x3];
}

/** Splits a 64-bit seed (number or bigint) into the key words [seed mod 2^32, ⌊seed / 2^32⌋]. */
export function seedToKey(seed) {
  const value = BigInt(seed);
  return [Number(value & MASK32), Number(value >> 32n)];
}

function streamBlock(blockIndex, tag, key) {
  return philox4x32_10([Number(blockIndex & MASK32), Number(blockIndex >> 32n), tag, 0], key);
}

/** Returns draws offset … offset+count−1 of the uniform stream as a Float32Array (exact). */
export function uniformReference(count, seed, offset = 0) {
  const key = seedToKey(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const draw = BigInt(offset) + BigInt(i);
    const words = streamBlock(draw >> 2n, UNIFORM_TAG, key);
    out[i] = (words[Number(draw & 3n)] >>> 8) / 2 ** 24;
  }
  return out;
}

/**
 * Returns draws offset … offset+count−1 of the normal stream as a
 * Float64Array, before the final rounding to float32. It uses the host's
 * Math.log, Math.sqrt, Math.cos and Math.sin, so it can differ from the WASM
 * kernel by a few float64 ulps.
 */
export function normalReference(count, seed, offset = 0) {
  const key = seedToKey(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const draw = BigInt(offset) + BigInt(i);
    const [w0, w1, w2, w3] = streamBlock(draw >> 1n, NORMAL_TAG, key);
    const u1 = Number(((BigInt(w1) << 32n | BigInt(w0)) >> 11n) + 1n) / 2 ** 53;
    const u2 = Number(((BigInt(w3) << 32n | BigInt(w2)) >> 11n) + 1n) / 2 ** 53;
    const radius = Math.sqrt(-2 * Math.log(u1));
    const angle = 2 * Math.PI * u2;
    out[i] = (draw & 1n) === 0n ? radius * Math.cos(angle) : radius * Math.sin(angle);
  }
  return out;
}
