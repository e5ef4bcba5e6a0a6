// Seeded inputs of the attention and attention-backward suites.

import { seededFloats } from "./numeric.js";

/**
 * Returns seeded q, k, v and gradOut for an attention shape { batch, heads,
 * length, keyLength?, dim, valueDim? }, uniform in [-1, 1); `scale`
 * multiplies q and k. Seeds seed … seed + 3 draw the four arrays.
 */
export function attentionInputs(shape, seed, scale = 1) {
  const { batch, heads, length, dim } = shape;
  const keyLength = shape.keyLength ?? length;
  const valueDim = shape.valueDim ?? dim;
  return {
    q: seededFloats(batch * heads * length * dim, seed, scale),
    k: seededFloats(batch * heads * keyLength * dim, seed + 1, scale),
    v: seededFloats(batch * heads * keyLength * valueDim, seed + 2),
    gradOut: seededFloats(batch * heads * length * valueDim, seed + 3),
  };
}
