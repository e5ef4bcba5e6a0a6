// softmaxAttention against the float64 reference on every WASM build:
// bidirectional, causal and padded, both layouts, lengths around the key
// block (256) and query block (64) edges, and rows with large logits. The
// tolerance per output is derived in tests/reference/attention.js
// (softmaxWeightError): weight errors from the float32 scores and exps, plus
// the rounding of the two sums.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { headRows, softmaxAttentionReference } from "../reference/attention.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertClose, assertSameBits, seededFloats } from "../helpers/numeric.js";

function inputs(shape, seed, scale = 1) {
  const { batch, heads, length, dim } = shape;
  const keyLength = shape.keyLength ?? length;
  const valueDim = shape.valueDim ?? dim;
  return {
    q: seededFloats(batch * heads * length * dim, seed, scale),
    k: seededFloats(batch * heads * keyLength * dim, seed + 1, scale),
    v: seededFloats(batch * heads * keyLength * valueDim, seed + 2),
  };
}

/** Overwrites every padded key and value row with `garbage` values. */
function poison(shape, k, v, mask, garbage) {
  const keyLength = shape.keyLength ?? shape.length;
  const valueDim = shape.valueDim ?? shape.dim;
  for (let item = 0; item < shape.batch; item++) {
    for (let head = 0; head < shape.heads; head++) {
      const kRows = headRows(shape, item, head, keyLength, shape.dim);
      const vRows = headRows(shape, item, head, keyLength, valueDim);
      for (let j = 0; j < keyLength; j++) {
        if (mask[item * keyLength + j] !== 1) continue;
        for (let c = 0; c < shape.dim; c++) k[kRows.offset + j * kRows.ld + c] = garbage[(j + c) % garbage.length];
        for (let c = 0; c < valueDim; c++) v[vRows.offset + j * vRows.ld + c] = garbage[(j + c + 1) % garbage.length];
      }
    }
  }
}

function check(favor, shape, options, seed, scale = 1) {
  const { q, k, v } = inputs(shape, seed, scale);
  if (shape.keyPaddingMask) poison(shape, k, v, shape.keyPaddingMask, [NaN, Infinity, -3e38, 1e30]);
  const copies = [q.slice(), k.slice(), v.slice()];
  const out = favor.sync.softmaxAttention(q, k, v, { ...shape, ...options });
  const dim = shape.dim;
  const ref = softmaxAttentionReference(q, k, v, shape, { causal: options.causal, scale: options.scale ?? 1 / Math.sqrt(dim) });
  assertClose(out, ref.out, ref.bound, JSON.stringify({ ...shape, keyPaddingMask: undefined, ...options }));
  assertSameBits(q, copies[0], "q changed");
  assertSameBits(k, copies[1], "k changed");
  assertSameBits(v, copies[2], "v changed");
  return out;
}

for (const build of ALL_BUILDS) {
  describe(`softmaxAttention (${build})`, { skip: skipReason(build) }, () => {
    test("zero queries average the values", async () => {
      const favor = await favorFor(build);
      const v = new Float32Array([1, 2, 3, 4, 5, 6]);
      const out = await favor.softmaxAttention(new Float32Array(2), new Float32Array([1, -1, 7]), v,
        { batch: 1, heads: 1, length: 2, keyLength: 3, dim: 1, valueDim: 2, layout: "bhld", causal: false });
      assertClose(out, [3, 4, 3, 4], 4e-7, "mean of v");
    });

    test("causal known answer", async () => {
      // q = k = 0: every visible key has the same weight, so out_t is the mean of v_0..v_t.
      const favor = await favorFor(build);
      const length = 5;
      const v = new Float32Array([1, 0, 0, 0, 0]);
      const out = favor.sync.softmaxAttention(new Float32Array(length), new Float32Array(length), v,
        { batch: 1, heads: 1, length, dim: 1, layout: "bhld", causal: true });
      assertClose(out, [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5], 1e-7, "1/(t+1)");
    });

    test("lengths around block edges", async () => {
      const favor = await favorFor(build);
      let seed = 100;
      for (const length of [1, 2, 3, 33, 63, 64, 65, 127, 255, 256, 257]) {
        for (const causal of [false, true]) {
          check(favor, { batch: 1, heads: 1, length, dim: 5, layout: "bhld" }, { causal }, seed++);
        }
      }
    });

    test("cross attention with other key lengths", async () => {
      const favor = await favorFor(build);
      let seed = 200;
      for (const [length, keyLength] of [[1, 300], [70, 1], [65, 513], [3, 257]]) {
        check(favor, { batch: 2, heads: 2, length, keyLength, dim: 4, valueDim: 3, layout: "blhd" }, { causal: false }, seed++);
      }
    });

    test("layouts give the same result", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 2, heads: 3, length: 70, dim: 6, valueDim: 5 };
      for (const causal of [false, true]) {
        const bhld = check(favor, { ...shape, layout: "bhld" }, { causal }, 300);
        const { q, k, v } = inputs({ ...shape, layout: "bhld" }, 300);
        const toBlhd = (array, width) => {
          const out = new Float32Array(array.length);
          for (let b = 0; b < shape.batch; b++) for (let h = 0; h < shape.heads; h++) for (let l = 0; l < shape.length; l++) {
            for (let c = 0; c < width; c++) {
              out[((b * shape.length + l) * shape.heads + h) * width + c] = array[((b * shape.heads + h) * shape.length + l) * width + c];
            }
          }
          return out;
        };
        const blhd = favor.sync.softmaxAttention(toBlhd(q, 6), toBlhd(k, 6), toBlhd(v, 5), { ...shape, layout: "blhd", causal });
        assertSameBits(blhd, toBlhd(bhld, 5), `causal ${causal}`);
      }
    });

    test("padded keys with garbage", async () => {
      const favor = await favorFor(build);
      let seed = 400;
      for (const causal of [false, true]) {
        for (const length of [1, 7, 64, 300]) {
          const batch = 3;
          const mask = new Uint8Array(batch * length);
          // Item 0 pads every third key, item 1 the first half, item 2 nothing.
          for (let j = 0; j < length; j++) {
            mask[j] = j % 3 === 1 ? 1 : 0;
            mask[length + j] = j < length / 2 ? 1 : 0;
          }
          check(favor, { batch, heads: 2, length, dim: 3, layout: "bhld", keyPaddingMask: mask }, { causal }, seed++);
        }
      }
    });

    test("fully padded sequence gives zeros", async () => {
      const favor = await favorFor(build);
      const mask = new Uint8Array([1, 1, 1, 0, 1, 0]);
      const k = new Float32Array([NaN, Infinity, 1, 2, -Infinity, 3]);
      const v = new Float32Array([NaN, NaN, NaN, 5, NaN, 7]);
      const out = favor.sync.softmaxAttention(new Float32Array(6), k, v,
        { batch: 2, heads: 1, length: 3, dim: 1, layout: "bhld", causal: true, keyPaddingMask: mask });
      // Item 1 keeps keys 0 and 2 (values 5 and 7); query 0 sees key 0 only, query 1 too, query 2 both.
      assertClose(out, [0, 0, 0, 5, 5, 6], 4e-7, "padded");
    });

    test("large logits over long rows", async () => {
      const favor = await favorFor(build);
      // Entries up to ±12 in 8 dimensions with scale 1: scores up to about ±500.
      check(favor, { batch: 1, heads: 1, length: 1500, dim: 8, layout: "bhld" }, { causal: true, scale: 1 }, 500, 12);
      check(favor, { batch: 1, heads: 1, length: 700, keyLength: 2100, dim: 8, layout: "bhld" }, { causal: false, scale: 1 }, 501, 12);
    });

    test("heads and batch items are independent", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 2, heads: 2, length: 40, dim: 4, layout: "blhd", causal: true };
      const { q, k, v } = inputs(shape, 600);
      const before = favor.sync.softmaxAttention(q, k, v, shape);
      // Perturb batch item 1, head 0 only.
      const rows = headRows(shape, 1, 0, shape.length, shape.dim);
      for (let l = 0; l < shape.length; l++) k[rows.offset + l * rows.ld] += 0.5;
      const after = favor.sync.softmaxAttention(q, k, v, shape);
      for (let item = 0; item < 2; item++) for (let head = 0; head < 2; head++) {
        const out = headRows(shape, item, head, shape.length, shape.dim);
        const pick = (array) => Float32Array.from({ length: shape.length * shape.dim },
          (_, i) => array[out.offset + Math.floor(i / shape.dim) * out.ld + (i % shape.dim)]);
        if (item === 1 && head === 0) assert.notDeepEqual(pick(after), pick(before));
        else assertSameBits(pick(after), pick(before), `item ${item} head ${head}`);
      }
    });
  });
}

describe("softmaxAttention argument checks", () => {
  const f = (n) => new Float32Array(n);
  const base = { batch: 1, heads: 2, length: 3, dim: 4, layout: "bhld", causal: false };
  const cases = [
    ["a q of the wrong length", [f(23), f(24), f(24), base], RangeError,
      /^softmaxAttention: q has length 23, expected 24 \(batch 1 × heads 2 × length 3 × dim 4, layout "bhld"\)$/],
    ["a v of the wrong length in blhd", [f(24), f(24), f(25), { ...base, layout: "blhd" }], RangeError,
      /^softmaxAttention: v has length 25, expected 24 \(batch 1 × keyLength 3 × heads 2 × valueDim 4, layout "blhd"\)$/],
    ["an unknown layout", [f(24), f(24), f(24), { ...base, layout: "bdhl" }], RangeError,
      /^softmaxAttention: layout must be one of "bhld", "blhd", got "bdhl"$/],
    ["a missing layout", [f(24), f(24), f(24), { ...base, layout: undefined }], TypeError,
      /^softmaxAttention: layout is missing; pass "bhld"/],
    ["a missing causal", [f(24), f(24), f(24), { ...base, causal: undefined }], TypeError,
      /^softmaxAttention: causal is missing/],
    ["causal with another key length", [f(24), f(32), f(32), { ...base, keyLength: 4, causal: true }], RangeError,
      /^softmaxAttention: keyLength is 4 but length is 3; causal attention needs keyLength equal to length$/],
    ["a mask of the wrong type", [f(24), f(24), f(24), { ...base, keyPaddingMask: [0, 0, 1] }], TypeError,
      /^softmaxAttention: keyPaddingMask must be a Uint8Array \(1 = padded, 0 = real key\), got an Array of length 3$/],
    ["a mask of the wrong length", [f(24), f(24), f(24), { ...base, keyPaddingMask: new Uint8Array(4) }], RangeError,
      /^softmaxAttention: keyPaddingMask has length 4, expected 3 \(batch 1 × keyLength 3\)$/],
    ["a mask value of 2", [f(24), f(24), f(24), { ...base, keyPaddingMask: new Uint8Array([0, 2, 0]) }], RangeError,
      /^softmaxAttention: keyPaddingMask\[1\] is 2, expected 0 \(real key\) or 1 \(padded key\)$/],
    ["a zero length", [f(0), f(0), f(0), { ...base, length: 0 }], RangeError,
      /^softmaxAttention: length must be an integer >= 1, got 0$/],
    ["an infinite scale", [f(24), f(24), f(24), { ...base, scale: Infinity }], RangeError,
      /^softmaxAttention: scale must be finite, got Infinity$/],
    ["a Float64Array k", [f(24), new Float64Array(24), f(24), base], TypeError,
      /^softmaxAttention: k must be a Float32Array, got a Float64Array of length 24$/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.softmaxAttention(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.softmaxAttention(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }
});

describe("topK", () => {
  test("largest first with ties by index", async () => {
    const favor = await favorFor("scalar");
    const scores = new Float32Array([0.5, 2, -Infinity, 2, Infinity, 0.5, 1]);
    assert.deepEqual(Array.from(favor.sync.topK(scores, 7)), [4, 1, 3, 6, 0, 5, 2]);
    assert.deepEqual(Array.from(await favor.topK(scores, 3)), [4, 1, 3]);
    assert.deepEqual(Array.from(favor.sync.topK(scores, 0)), []);
  });

  test("rejects bad arguments", async () => {
    const favor = await favorFor("scalar");
    assert.throws(() => favor.sync.topK(new Float32Array(2), 3), /^RangeError: topK: count is 3, but scores has only 2 values$/);
    assert.throws(() => favor.sync.topK(new Float32Array([1, NaN]), 1), /^RangeError: topK: scores\[1\] is NaN; scores must be numbers to be ranked$/);
    assert.throws(() => favor.sync.topK([1, 2], 1), /^TypeError: topK: scores must be a Float32Array, got an Array of length 2$/);
    await assert.rejects(favor.topK(new Float32Array(1), -1), /^RangeError: topK: count must be an integer >= 0, got -1$/);
  });
});
