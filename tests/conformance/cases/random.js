// random.uniform and random.normal conformance cases. The streams must be
// bit-identical for seeds that use one or both key words, the largest
// number seed and bigint seeds up to 2^64 − 1. Offsets start mid-block,
// cross the carry into counter word 1 or end at the last draw of the
// stream. Counts are odd or 0, and the last cases pass the seeds and
// offsets that the API rejects.
//
// Uniform expected values come from tests/reference/philox.js, which
// computes them exactly. The normal reference uses the host's Math.log,
// Math.cos and Math.sin, so it can differ from the kernel in the last bit.
// Its expected values are therefore the bits that the scalar WASM build
// produced once in Node (`node scripts/conformance-corpus.mjs
// --record-normal`), stored in random-normal-bits.json. Every runtime and
// build must reproduce them exactly, and the generator rejects a recording
// that is more than one float32 ulp from the float64 reference.

import { readFileSync } from "node:fs";
import { normalReference, uniformReference } from "../../reference/philox.js";
import { bigint, exactValues } from "./helpers.js";

const TWO_POW_32 = 2 ** 32;
const TWO_POW_64 = 2n ** 64n;

/** The requests run for both distributions; `seed` and `offset` may be bigints. */
export const RANDOM_REQUESTS = [
  { name: "seed-0", count: 37, seed: 0 },
  { name: "seed-42", count: 9, seed: 42 },
  { name: "seed-42-bigint", count: 9, seed: 42n },
  { name: "seed-2pow32-offset-5", count: 11, seed: TWO_POW_32, offset: 5 },
  { name: "seed-max-safe-offset-1", count: 13, seed: Number.MAX_SAFE_INTEGER, offset: 1 },
  { name: "seed-bigint-max-offset-2", count: 10, seed: TWO_POW_64 - 1n, offset: 2n },
  { name: "offset-3-count-1", count: 1, seed: 5, offset: 3 },
  { name: "offset-7-count-5", count: 5, seed: 5, offset: 7 },
  // Uniform draw 4·2^32 is the first of block 2^32, where counter word 0 wraps
  // to 0 and word 1 becomes 1; normal draw 2·2^32 is the same block.
  { name: "offset-uniform-carry", count: 12, seed: 7, offset: 4 * TWO_POW_32 - 6 },
  { name: "offset-normal-carry", count: 6, seed: 7, offset: 2 * TWO_POW_32 - 3 },
  { name: "offset-max-safe", count: 3, seed: 9, offset: Number.MAX_SAFE_INTEGER - 1 },
  { name: "offset-stream-end", count: 7, seed: 9, offset: TWO_POW_64 - 7n },
  { name: "count-0", count: 0, seed: 3 },
];

const REJECTIONS = [
  { name: "seed-above-max-safe", distribution: "uniform", count: 4, seed: 2 ** 53,
    error: "RangeError", message: "random.uniform: seed is 9007199254740992, larger than Number.MAX_SAFE_INTEGER" },
  { name: "seed-bigint-2pow64", distribution: "normal", count: 4, seed: TWO_POW_64,
    error: "RangeError", message: "random.normal: seed must be a bigint in [0, 2^64 − 1], got 18446744073709551616n" },
  { name: "seed-negative", distribution: "normal", count: 4, seed: -1,
    error: "RangeError", message: "random.normal: seed must be an integer in [0, 2^53 − 1]" },
  { name: "offset-past-end", distribution: "uniform", count: 8, seed: 1, offset: TWO_POW_64 - 7n,
    error: "RangeError", message: "random.uniform: offset 18446744073709551609n plus count 8 runs past the end of the stream" },
];

const bitsFile = new URL("./random-normal-bits.json", import.meta.url);

/** Encodes a seed or offset argument: numbers stay numbers, bigints get the $bigint marker. */
function encodeSeed(value) {
  return typeof value === "bigint" ? bigint(value) : value;
}

function callArgs({ count, seed, offset }) {
  return offset === undefined ? [count, encodeSeed(seed)] : [count, encodeSeed(seed), { offset: encodeSeed(offset) }];
}

/** Returns the float32 value of a "0x…" bit pattern. */
function fromBits(hex) {
  return new Float32Array(new Uint32Array([Number.parseInt(hex, 16)]).buffer)[0];
}

/** Returns the spacing of float32 values at |x|. */
function ulp32(x) {
  const magnitude = Math.abs(x);
  if (magnitude < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(magnitude)) - 23);
}

/** Reads the recorded normal draws of one request and checks them against the float64 reference. */
function recordedNormal(recorded, request) {
  const id = `random.normal/${request.name}`;
  const bits = recorded[id];
  if (bits === undefined) {
    throw new Error(`${id} has no recorded draws in tests/conformance/cases/random-normal-bits.json; ` +
      "run `node scripts/conformance-corpus.mjs --record-normal` after `npm run build`");
  }
  if (bits.length !== request.count) throw new Error(`${id}: ${bits.length} recorded draws, expected ${request.count}`);
  const reference = normalReference(request.count, request.seed, request.offset ?? 0);
  const draws = bits.map(fromBits);
  draws.forEach((draw, i) => {
    // Both compute the same float64 formula with log, sin and cos accurate to
    // about one float64 ulp, so after rounding to float32 they differ from
    // each other by less than one float32 ulp.
    if (!(Math.abs(draw - reference[i]) <= ulp32(reference[i]))) {
      throw new Error(`${id}: recorded draw ${i} is ${draw}, more than one float32 ulp from the reference ${reference[i]}`);
    }
  });
  return draws;
}

/** Returns every random.uniform and random.normal case. */
export function randomCases() {
  const recorded = JSON.parse(readFileSync(bitsFile, "utf8")).draws;
  const cases = [];
  for (const request of RANDOM_REQUESTS) {
    const draws = uniformReference(request.count, request.seed, request.offset ?? 0);
    cases.push({
      id: `random.uniform/${request.name}`,
      op: "random.uniform",
      args: callArgs(request),
      outputs: { draws: { from: "return", expected: exactValues(draws), check: { kind: "exact" } } },
    });
  }
  for (const request of RANDOM_REQUESTS) {
    cases.push({
      id: `random.normal/${request.name}`,
      op: "random.normal",
      args: callArgs(request),
      outputs: { draws: { from: "return", expected: exactValues(recordedNormal(recorded, request)), check: { kind: "exact" } } },
    });
  }
  for (const rejection of REJECTIONS) {
    cases.push({
      id: `random.${rejection.distribution}/rejects-${rejection.name}`,
      op: `random.${rejection.distribution}`,
      args: callArgs(rejection),
      rejects: { name: rejection.error, message: rejection.message },
    });
  }
  return cases;
}
