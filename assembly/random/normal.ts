// f32_random_normal: fills out[0 .. count) with draws offset … offset+count−1
// of the standard normal stream of the key (key0, key1).
//
// Stream layout: draws 2p and 2p+1 come from the Philox4x32-10 block with
// counter (p low 32 bits, p high 32 bits, NORMAL_TAG, 0), see philoxBlock.
// Its words (w0, w1) and (w2, w3) give two 53-bit integers a and b, the top
// 53 bits of w1·2^32 + w0 and of w3·2^32 + w2, and from them two uniforms in
// (0, 1]: u1 = (a + 1)·2^-53, u2 = (b + 1)·2^-53, so log(u1) is finite. The
// Box–Muller transform (Box and Muller, Ann. Math. Statist. 29, 1958) gives
//   draw 2p   = r·cos(2π·u2),  draw 2p+1 = r·sin(2π·u2),  r = √(−2·ln u1),
// computed in float64 and rounded once to float32. |draw| <= √(106·ln 2) ≈ 8.57.
//
// Determinism: log, sqrt, sin and cos are AssemblyScript's own float64
// implementations compiled into this module (no host imports), and this file
// uses no SIMD, relaxed-SIMD or fused instructions. WebAssembly specifies
// scalar float64 arithmetic exactly (only NaN payloads may vary, and no NaN
// occurs here), so every build and engine produces the same bits. Each draw
// depends only on (key, j), so a longer request starts with the values of a
// shorter one.
//
// Assumes: out has room for count float32 values, count >= 0, and
// offset + count <= 2^64 (the bindings check), so j never wraps.

import { philoxBlock } from "./philox";

/** Counter word 2 of every normal-stream block. */
export const NORMAL_TAG: u32 = 1;

const TWO_PI: f64 = 2.0 * Math.PI;

/** Returns (top 53 bits of hi·2^32 + lo, plus 1)·2^-53, a uniform in (0, 1]. */
// @ts-ignore: decorator
@inline export function openClosedUniform53(lo: u32, hi: u32): f64 {
  const top53 = (((<u64>hi) << 32) | <u64>lo) >> 11;
  return <f64>(top53 + 1) * (1.0 / 9007199254740992.0);
}

export function f32_random_normal(out: usize, count: i32, offsetLo: u32, offsetHi: u32, key0: u32, key1: u32): void {
  const block = memory.data(16, 16);
  let draw: u64 = (<u64>offsetHi << 32) | <u64>offsetLo;
  let i = 0;
  while (i < count) {
    const pair = draw >> 1;
    philoxBlock(block, <u32>pair, <u32>(pair >> 32), NORMAL_TAG, key0, key1);
    const u1 = openClosedUniform53(load<u32>(block, 0), load<u32>(block, 4));
    const u2 = openClosedUniform53(load<u32>(block, 8), load<u32>(block, 12));
    const radius = Math.sqrt(-2.0 * Math.log(u1));
    const angle = TWO_PI * u2;
    // An odd offset starts on the sine half of a pair; an odd end stops
    // after the cosine half.
    if ((draw & 1) == 0) {
      store<f32>(out + (<usize>i << 2), <f32>(radius * Math.cos(angle)));
      i++;
      draw++;
      if (i == count) break;
    }
    store<f32>(out + (<usize>i << 2), <f32>(radius * Math.sin(angle)));
    i++;
    draw++;
  }
}
