// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and
// Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011), with the
// constants and round order of their Random123 library. A block is four
// u32 words at a 16-byte-aligned pointer: the 128-bit counter on input, the
// four output words afterwards. The key is two u32 words. Only integer
// arithmetic, so every build and every engine gives the same bits.

/** Multiplier applied to counter word 0 in each round. */
export const PHILOX_M0: u32 = 0xd2511f53;
/** Multiplier applied to counter word 2 in each round. */
export const PHILOX_M1: u32 = 0xcd9e8d57;
/** Weyl increment of key word 0 between rounds (golden ratio · 2^32). */
export const PHILOX_W0: u32 = 0x9e3779b9;
/** Weyl increment of key word 1 between rounds (√3 − 1, times 2^32). */
export const PHILOX_W1: u32 = 0xbb67ae85;

/** Returns the high 32 bits of the 64-bit product a·b. */
// @ts-ignore: decorator
@inline export function mulhi32(a: u32, b: u32): u32 {
  return <u32>((<u64>a * <u64>b) >> 32);
}

/**
 * Applies one Philox round to the block at `state`, in place:
 *   (x0, x1, x2, x3) → (hi(M1·x2) ^ x1 ^ k0, lo(M1·x2), hi(M0·x0) ^ x3 ^ k1, lo(M0·x0)).
 */
// @ts-ignore: decorator
@inline export function philox4x32Round(state: usize, k0: u32, k1: u32): void {
  const x0 = load<u32>(state, 0);
  const x1 = load<u32>(state, 4);
  const x2 = load<u32>(state, 8);
  const x3 = load<u32>(state, 12);
  const p0 = <u64>PHILOX_M0 * <u64>x0;
  const p1 = <u64>PHILOX_M1 * <u64>x2;
  store<u32>(state, <u32>(p1 >> 32) ^ x1 ^ k0, 0);
  store<u32>(state, <u32>p1, 4);
  store<u32>(state, <u32>(p0 >> 32) ^ x3 ^ k1, 8);
  store<u32>(state, <u32>p0, 12);
}

/**
 * Replaces the counter block at `state` by Philox4x32-10 of it under the
 * key (k0, k1): ten rounds, with the key advanced by (W0, W1) before every
 * round but the first.
 */
// @ts-ignore: decorator
@inline export function philox4x32_10(state: usize, k0: u32, k1: u32): void {
  philox4x32Round(state, k0, k1);
  for (let round = 1; round < 10; round++) {
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
    philox4x32Round(state, k0, k1);
  }
}

/**
 * Writes Philox4x32-10 of the block counter (blockLo, blockHi, tag, 0) under
 * the key (k0, k1) to `state`. This is the counter layout of every favor
 * stream: a 64-bit block index in words 0-1 and a distribution tag in word 2,
 * so the uniform and normal streams of one seed never share a block.
 */
// @ts-ignore: decorator
@inline export function philoxBlock(state: usize, blockLo: u32, blockHi: u32, tag: u32, k0: u32, k1: u32): void {
  store<u32>(state, blockLo, 0);
  store<u32>(state, blockHi, 4);
  store<u32>(state, tag, 8);
  store<u32>(state, 0, 12);
  philox4x32_10(state, k0, k1);
}
