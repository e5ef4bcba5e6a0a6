// random.uniform and random.normal: reproducible float32 streams from the
// counter-based generator Philox4x32-10 (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011). Validation and the mapping from
// seed and offset to generator words live here; the kernels in
// assembly/random/ define the stream layout.
//
// Mapping: the seed s (0 ≤ s ≤ 2^64 − 1) is the 64-bit Philox key, key word 0
// = s mod 2^32 and key word 1 = ⌊s / 2^32⌋, so a number seed and the bigint
// of the same value give the same stream, and different seeds give different
// keys. Each seed and distribution has one stream of 2^64 draws. Draw j of
// the uniform stream comes from counter block ⌊j/4⌋, and draw j of the normal
// stream comes from counter block ⌊j/2⌋. A call returns draws offset …
// offset + count − 1, so `offset` continues a stream (pass the number of
// draws already taken) or splits one seed into disjoint substreams.

import { describe, requireFitsInMemory, requireInteger, requireOptions } from "../validate.js";

/** A generator seed: a safe integer number, or a bigint for the full 64-bit range. */
export type RandomSeed = number | bigint;

/** Options of `random.uniform` and `random.normal`. */
export interface RandomOptions {
  /** Index of the first draw in the seed's stream (default 0), a safe integer number or a bigint. */
  offset?: number | bigint;
}

/** The two distributions a stream can follow. */
export type RandomDistribution = "uniform" | "normal";

/** A validated random-number request, with the 64-bit values split into u32 words. */
export interface RandomPlan {
  op: string;
  distribution: RandomDistribution;
  count: number;
  key0: number;
  key1: number;
  offsetLo: number;
  offsetHi: number;
}

/** 2^64, the number of draws in one stream and one past the largest seed. */
const STREAM_LENGTH = 1n << 64n;

function formatBigInt(value: bigint): string {
  return `${value}n`;
}

/**
 * Requires a non-negative integer below 2^64 and returns it as a bigint. A
 * number must be at most 2^53 − 1, because a larger one may already have been
 * rounded, so larger values must come as a bigint.
 */
export function requireUint64(op: string, name: string, value: unknown): bigint {
  if (typeof value === "bigint") {
    if (value < 0n || value >= STREAM_LENGTH) {
      throw new RangeError(`${op}: ${name} must be a bigint in [0, 2^64 − 1], got ${formatBigInt(value)}`);
    }
    return value;
  }
  if (typeof value !== "number") {
    throw new TypeError(`${op}: ${name} must be a number or a bigint, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${op}: ${name} must be an integer in [0, 2^53 − 1] (or a bigint up to 2^64 − 1), got ${value}`);
  }
  if (value > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(
      `${op}: ${name} is ${value}, larger than Number.MAX_SAFE_INTEGER (2^53 − 1) and possibly rounded; ` +
        `pass it as a bigint to use values up to 2^64 − 1`,
    );
  }
  return BigInt(value);
}

/** Validates a random-number request and splits seed and offset into u32 words. */
export function planRandom(
  distribution: RandomDistribution, count: unknown, seed: unknown, options: unknown,
): RandomPlan {
  const op = `random.${distribution}`;
  const checkedCount = requireInteger(op, "count", count);
  requireFitsInMemory(op, checkedCount, `${checkedCount} float32 outputs`);
  if (seed === undefined) {
    throw new TypeError(`${op}: seed is missing; pass a number in [0, 2^53 − 1] or a bigint in [0, 2^64 − 1]`);
  }
  const key = requireUint64(op, "seed", seed);
  const opts = options === undefined ? {} : requireOptions<RandomOptions>(op, options);
  const offset = opts.offset === undefined ? 0n : requireUint64(op, "offset", opts.offset);
  if (offset + BigInt(checkedCount) > STREAM_LENGTH) {
    throw new RangeError(
      `${op}: offset ${formatBigInt(offset)} plus count ${checkedCount} runs past the end of the stream ` +
        `(2^64 draws per seed); use a smaller offset or another seed`,
    );
  }
  return {
    op,
    distribution,
    count: checkedCount,
    key0: Number(key & 0xffffffffn),
    key1: Number(key >> 32n),
    offsetLo: Number(offset & 0xffffffffn),
    offsetHi: Number(offset >> 32n),
  };
}
