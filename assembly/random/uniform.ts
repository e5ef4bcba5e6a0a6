// f32_random_uniform: fills out[0 .. count) with draws offset … offset+count−1
// of the uniform stream of the key (key0, key1).
//
// Stream layout: draw j is word (j mod 4) of the Philox4x32-10 block with
// counter (⌊j/4⌋ low 32 bits, ⌊j/4⌋ high 32 bits, UNIFORM_TAG, 0), see
// philoxBlock. The word w becomes (w >>> 8)·2^-24: the top 24 bits, exact in
// float32, so a draw lies in [0, 1 − 2^-24]. It is never 1, and it is 0 with
// probability 2^-24. Each draw depends only on (key, j), so a longer request
// starts with the values of a shorter one, and offset continues a stream.
//
// Assumes: out has room for count float32 values, count >= 0, and
// offset + count <= 2^64 (the bindings check), so j never wraps.

import { philoxBlock } from "./philox";

/** Counter word 2 of every uniform-stream block. */
export const UNIFORM_TAG: u32 = 0;

/** Returns the float32 in [0, 1) made of the top 24 bits of `word`. */
// @ts-ignore: decorator
@inline export function uniformFromWord(word: u32): f32 {
  return <f32>(word >>> 8) * (1.0 / 16777216.0);
}

export function f32_random_uniform(out: usize, count: i32, offsetLo: u32, offsetHi: u32, key0: u32, key1: u32): void {
  const block = memory.data(16, 16);
  let draw: u64 = (<u64>offsetHi << 32) | <u64>offsetLo;
  let i = 0;
  while (i < count) {
    const index = draw >> 2;
    philoxBlock(block, <u32>index, <u32>(index >> 32), UNIFORM_TAG, key0, key1);
    // The first block may start mid-block (offset not a multiple of 4) and
    // the last may end early; both use only the words they need.
    let lane = <i32>(draw & 3);
    while (lane < 4 && i < count) {
      store<f32>(out + (<usize>i << 2), uniformFromWord(load<u32>(block + (<usize>lane << 2))));
      lane++;
      i++;
      draw++;
    }
  }
}
