// softmaxAttentionBackward (the exact baseline's gradient) against the
// float64 analytic gradient of tests/reference/backward.js, which is itself
// checked against central differences here, on every build: bidirectional,
// causal, padded, both layouts, lengths around the 64-query and 256-key
// tile edges.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { headRows, softmaxAttentionReference } from "../reference/attention.js";
import { centralDifference, softmaxBackward64, U } from "../reference/backward.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertClose, assertSameBits, seededFloats } from "../helpers/numeric.js";
import { attentionInputs as inputs } from "../helpers/attention-inputs.js";

function paddingMask(batch, keyLength, seed) {
  const mask = new Uint8Array(batch * keyLength);
  const draws = seededFloats(batch * keyLength, seed);
  for (let i = 0; i < mask.length; i++) mask[i] = draws[i] > 0.5 ? 1 : 0;
  return mask;
}

/**
 * Tolerance of each gradient element from its magnitude M (the reference
 * summed in absolute values): a score s = scale·q·k is off by at most
 * dim·u·E with E = max scale·Σ_c|q_c k_c|, which moves p = exp(s − lse)
 * by (dim + 4)·u·E relative (s, the running maximum and lse each once);
 * the sums over keys, dim and valueDim add keys + dim + dv roundings, and
 * 16 covers D, the tile products' last roundings and the scatter.
 */
function tolerances(size, q, k, shape, scale) {
  const { dim } = shape;
  const keyLength = shape.keyLength ?? shape.length;
  const valueDim = shape.valueDim ?? dim;
  let largest = 0;
  for (let i = 0; i < q.length / dim; i++) {
    for (let j = 0; j < k.length / dim; j++) {
      let sum = 0;
      for (let c = 0; c < dim; c++) sum += Math.abs(q[i * dim + c] * k[j * dim + c]);
      largest = Math.max(largest, Math.abs(scale) * sum);
    }
  }
  const chain = keyLength + dim + valueDim + (dim + 4) * largest + 16;
  return (array) => array.map((value) => chain * U * value + 1e-30);
}

function check(favor, shape, options, seed, valueScale = 1) {
  const data = inputs(shape, seed, valueScale);
  const copies = Object.values(data).map((array) => array.slice());
  const got = favor.sync.softmaxAttentionBackward(data.q, data.k, data.v, data.gradOut, { ...shape, ...options });
  Object.values(data).forEach((array, i) => assertSameBits(array, copies[i], `input ${i} changed`));
  const scale = options.scale ?? 1 / Math.sqrt(shape.dim);
  const ref = softmaxBackward64(data.q, data.k, data.v, data.gradOut, shape, { causal: options.causal, scale });
  const size = softmaxBackward64(data.q, data.k, data.v, data.gradOut, shape, { causal: options.causal, scale }, { absolute: true });
  const bound = tolerances(size, data.q, data.k, shape, scale);
  const context = JSON.stringify({ ...shape, keyPaddingMask: undefined, ...options });
  assertClose(got.dq, ref.dq, bound(size.dq), `${context} dq`);
  assertClose(got.dk, ref.dk, bound(size.dk), `${context} dk`);
  assertClose(got.dv, ref.dv, bound(size.dv), `${context} dv`);
  return { got, data };
}

describe("float64 softmax gradient against central differences", () => {
  test("bidirectional, causal and padded", () => {
    for (const causal of [false, true]) {
      for (const padded of [false, true]) {
        const shape = { batch: 2, heads: 1, length: 6, dim: 3, valueDim: 2, layout: "bhld" };
        if (padded) shape.keyPaddingMask = paddingMask(2, 6, 3);
        const data = inputs(shape, 10);
        const scale = 0.7;
        const ref = softmaxBackward64(data.q, data.k, data.v, data.gradOut, shape, { causal, scale });
        const x = { q: Float64Array.from(data.q), k: Float64Array.from(data.k), v: Float64Array.from(data.v) };
        const loss = () => {
          const out = softmaxAttentionReference(x.q, x.k, x.v, shape, { causal, scale }).out;
          return out.reduce((sum, value, i) => sum + value * data.gradOut[i], 0);
        };
        for (const name of ["q", "k", "v"]) {
          const grad = ref[`d${name}`];
          for (let i = 0; i < grad.length; i++) {
            // Step 1e-5: truncation and rounding both below 1e-9 on these smooth, O(1) inputs.
            const fd = centralDifference(loss, x[name], i, 1e-5);
            assert.ok(Math.abs(fd - grad[i]) <= 1e-8 * (1 + Math.abs(grad[i])), `d${name}[${i}]: ${grad[i]} vs ${fd}`);
          }
        }
      }
    }
  });
});

for (const build of ALL_BUILDS) {
  describe(`softmaxAttentionBackward (${build})`, { skip: skipReason(build) }, () => {
    test("lengths around the tile edges", async () => {
      const favor = await favorFor(build);
      let seed = 1;
      for (const causal of [false, true]) {
        for (const [length, keyLength] of [[1, 1], [5, 5], [63, 63], [64, 64], [65, 65], [130, 257], [300, 300]]) {
          if (causal && length !== keyLength) continue;
          check(favor, { batch: 1, heads: 2, length, keyLength, dim: 5, valueDim: 3, layout: "bhld" }, { causal }, seed++);
        }
      }
    });

    test("padding, blhd layout, scale and large logits", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 2, heads: 2, length: 70, dim: 4, layout: "blhd", keyPaddingMask: paddingMask(2, 70, 9) };
      for (const causal of [false, true]) {
        check(favor, shape, { causal }, 30);
        check(favor, shape, { causal, scale: 0.25 }, 31, 6);
      }
    });

    test("padded keys get exactly zero gradient; garbage there changes nothing", async () => {
      const favor = await favorFor(build);
      const length = 40;
      const shape = { batch: 1, heads: 2, length, dim: 4, layout: "bhld", keyPaddingMask: paddingMask(1, length, 2) };
      for (const causal of [false, true]) {
        const data = inputs(shape, 50);
        const options = { ...shape, causal };
        const clean = favor.sync.softmaxAttentionBackward(data.q, data.k, data.v, data.gradOut, options);
        for (let head = 0; head < 2; head++) {
          const rows = headRows(shape, 0, head, length, 4);
          for (let j = 0; j < length; j++) {
            if (shape.keyPaddingMask[j] !== 1) continue;
            for (let c = 0; c < 4; c++) {
              data.k[rows.offset + j * rows.ld + c] = NaN;
              data.v[rows.offset + j * rows.ld + c] = Infinity;
            }
          }
        }
        const dirty = favor.sync.softmaxAttentionBackward(data.q, data.k, data.v, data.gradOut, options);
        assertSameBits(dirty.dq, clean.dq, "dq");
        for (let head = 0; head < 2; head++) {
          const rows = headRows(shape, 0, head, length, 4);
          for (let j = 0; j < length; j++) {
            if (shape.keyPaddingMask[j] !== 1) continue;
            for (let c = 0; c < 4; c++) {
              assert.ok(Object.is(dirty.dk[rows.offset + j * rows.ld + c], 0), `dk of padded key ${j}`);
              assert.ok(Object.is(dirty.dv[rows.offset + j * rows.ld + c], 0), `dv of padded key ${j}`);
            }
          }
        }
      }
    });

    test("argument errors name the op, the argument and the rule", async () => {
      const favor = await favorFor(build);
      const x = new Float32Array(8);
      const shape = { batch: 1, heads: 1, length: 4, dim: 2, layout: "bhld" };
      const cases = [
        [[x, x, x, x, { ...shape }], TypeError, /^softmaxAttentionBackward: causal is missing; pass true/],
        [[x, x, x, new Float32Array(9), { ...shape, causal: true }], RangeError,
          /^softmaxAttentionBackward: gradOut has length 9, expected 8 \(batch 1 × heads 1 × length 4 × valueDim 2, layout "bhld"\)$/],
        [[x, x, x, x, { ...shape, causal: false, scale: Infinity }], RangeError, /^softmaxAttentionBackward: scale must be finite, got Infinity$/],
        [[x, x, x, x, { ...shape, causal: true, keyLength: 3 }], RangeError,
          /^softmaxAttentionBackward: keyLength is 3 but length is 4; causal attention needs keyLength equal to length$/],
      ];
      for (const [args, type, pattern] of cases) {
        assert.throws(() => favor.sync.softmaxAttentionBackward(...args), (error) => error instanceof type && pattern.test(error.message),
          `expected ${type.name} ${pattern}`);
      }
      await assert.rejects(favor.softmaxAttentionBackward(x, x, x, x, { ...shape }), TypeError);
    });
  });
}
