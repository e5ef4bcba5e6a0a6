// The linear-attention loops of FAVOR+ on given feature matrices (no feature
// map): bidirectional blocks and causal chunks against the explicit
// quadratic float64 reference D⁻¹(Q′K′ᵀ)V, masked to j <= i when causal and
// with padded keys removed. The features are exact float32 inputs here, so
// the tolerance is the rounding of the products alone
// (linearAttentionBound in tests/reference/attention.js).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { planShape } from "../../dist/api/attention.js";
import { CausalStateStore, givenFeatures, runAttentionScores, runLinearAttention } from "../../dist/backends/wasm/ops/linear-attention.js";
import { backendOf } from "../../dist/internal.js";
import { attentionScoresHead, extractHead, linearAttentionBound, linearAttentionHead } from "../reference/attention.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertClose, seededFloats } from "../helpers/numeric.js";

/** Positive features exp(u) for u uniform in [-2, 2). */
function positiveFeatures(count, seed) {
  return seededFloats(count, seed, 2).map(Math.exp);
}

function run(favor, shapeOptions, qf, kf, v, r, { causal, chunk = 64 }) {
  const shape = planShape("test", shapeOptions);
  const out = new Float32Array(shape.batch * shape.heads * shape.length * shape.valueDim).fill(NaN);
  const backend = backendOf(favor);
  return runLinearAttention(backend, { op: "test", shape, v, out, causal, chunk }, givenFeatures(backend, shape, qf, kf, r));
}

/** Compares every head with the float64 reference; the features are in "bhld" order, v and out in the shape's layout. */
function checkAgainstReference(out, shapeOptions, qf, kf, v, r, causal, context) {
  const shape = { keyLength: shapeOptions.length, valueDim: shapeOptions.dim, ...shapeOptions };
  const { batch, heads, length, keyLength, valueDim } = shape;
  const featureShape = { ...shape, layout: "bhld" };
  for (let item = 0; item < batch; item++) {
    const keep = shape.keyPaddingMask ? Array.from({ length: keyLength }, (_, j) => shape.keyPaddingMask[item * keyLength + j] === 0) : null;
    for (let head = 0; head < heads; head++) {
      const ref = linearAttentionHead(
        extractHead(qf, featureShape, item, head, length, r),
        extractHead(kf, featureShape, item, head, keyLength, r),
        extractHead(v, shape, item, head, keyLength, valueDim),
        { length, keyLength, features: r, valueDim, causal, keep },
      );
      const got = extractHead(out, shape, item, head, length, valueDim);
      const bound = ref.out.map((_, index) =>
        linearAttentionBound(ref, Math.floor(index / valueDim), index % valueDim, valueDim, { features: r, terms: keyLength }));
      assertClose(got, ref.out, bound, `${context} item ${item} head ${head}`);
    }
  }
}

for (const build of ALL_BUILDS) {
  describe(`linear attention on given features (${build})`, { skip: skipReason(build) }, () => {
    test("causal chunks against the masked reference", async () => {
      const favor = await favorFor(build);
      const r = 7, dim = 3;
      let seed = 1;
      for (const length of [1, 2, 3, 33, 63, 64, 65, 127]) {
        for (const chunk of [1, 8, 16, 64, 256]) {
          const shape = { batch: 1, heads: 2, length, dim, layout: "blhd" };
          const qf = positiveFeatures(2 * length * r, seed++);
          const kf = positiveFeatures(2 * length * r, seed++);
          const v = seededFloats(2 * length * dim, seed++);
          const out = run(favor, shape, qf, kf, v, r, { causal: true, chunk });
          checkAgainstReference(out, shape, qf, kf, v, r, true, `length ${length} chunk ${chunk}`);
        }
      }
    });

    test("bidirectional blocks against the reference", async () => {
      const favor = await favorFor(build);
      const r = 5;
      let seed = 100;
      for (const [length, keyLength] of [[1, 1], [3, 2], [65, 127], [257, 255], [300, 513]]) {
        const shape = { batch: 2, heads: 1, length, keyLength, dim: 4, valueDim: 2, layout: "bhld" };
        const qf = positiveFeatures(2 * length * r, seed++);
        const kf = positiveFeatures(2 * keyLength * r, seed++);
        const v = seededFloats(2 * keyLength * 2, seed++);
        const out = run(favor, shape, qf, kf, v, r, { causal: false });
        checkAgainstReference(out, shape, qf, kf, v, r, false, `length ${length} keyLength ${keyLength}`);
      }
    });

    test("signed features and the denominator guard", async () => {
      // Features of both signs make some denominators zero or negative; the
      // reference and the kernel both give 0 for a row whose den <= 2^-126.
      const favor = await favorFor(build);
      const r = 4, length = 65;
      const shape = { batch: 1, heads: 1, length, dim: 2, layout: "bhld" };
      const qf = seededFloats(length * r, 7);
      const kf = seededFloats(length * r, 8);
      const v = seededFloats(length * 2, 9);
      for (const causal of [false, true]) {
        const out = run(favor, shape, qf, kf, v, r, { causal, chunk: 16 });
        assert.ok(out.every(Number.isFinite), "every output finite");
        checkAgainstReference(out, shape, qf, kf, v, r, causal, `causal ${causal}`);
      }
      // All-zero key features: every den is 0, so every output is 0.
      const zeros = run(favor, shape, qf, new Float32Array(length * r), v, r, { causal: true, chunk: 8 });
      assert.deepEqual(Array.from(zeros), new Array(length * 2).fill(0));
    });

    test("padded keys are never read", async () => {
      const favor = await favorFor(build);
      const r = 6, length = 70, batch = 2;
      const mask = new Uint8Array(batch * length);
      for (let j = 0; j < length; j++) {
        mask[j] = j % 4 === 0 ? 1 : 0;
        mask[length + j] = j >= 20 && j < 50 ? 1 : 0;
      }
      const shape = { batch, heads: 1, length, dim: 3, layout: "bhld", keyPaddingMask: mask };
      const qf = positiveFeatures(batch * length * r, 20);
      const kf = positiveFeatures(batch * length * r, 21);
      const v = seededFloats(batch * length * 3, 22);
      const garbage = [NaN, Infinity, -Infinity, 3e38];
      for (let item = 0; item < batch; item++) {
        for (let j = 0; j < length; j++) {
          if (mask[item * length + j] === 0) continue;
          for (let f = 0; f < r; f++) kf[(item * length + j) * r + f] = garbage[(j + f) % 4];
          for (let c = 0; c < 3; c++) v[(item * length + j) * 3 + c] = garbage[(j + c + 1) % 4];
        }
      }
      for (const causal of [false, true]) {
        for (const chunk of [1, 16, 64]) {
          const out = run(favor, shape, qf, kf, v, r, { causal, chunk });
          checkAgainstReference(out, shape, qf, kf, v, r, causal, `causal ${causal} chunk ${chunk}`);
        }
      }
    });

    test("values of ones give ones", async () => {
      const favor = await favorFor(build);
      const r = 5, length = 100;
      const shape = { batch: 1, heads: 1, length, dim: 3, layout: "bhld" };
      const qf = positiveFeatures(length * r, 30);
      const kf = positiveFeatures(length * r, 31);
      const v = new Float32Array(length * 3).fill(1);
      for (const causal of [false, true]) {
        const out = run(favor, shape, qf, kf, v, r, { causal, chunk: 16 });
        assert.deepEqual(Array.from(out), new Array(length * 3).fill(1), `causal ${causal}`);
      }
    });
  });
}

for (const build of ALL_BUILDS) {
  describe(`attention scores on given features (${build})`, { skip: skipReason(build) }, () => {
    test("column sums of the normalized attention", async () => {
      const favor = await favorFor(build);
      const backend = backendOf(favor);
      const r = 6;
      let seed = 700;
      for (const [length, keyLength, padded] of [[1, 1, false], [40, 33, false], [300, 257, true], [64, 600, true]]) {
        const batch = 2, heads = 2;
        const mask = padded ? Uint8Array.from({ length: batch * keyLength }, (_, j) => (j % 5 === 2 ? 1 : 0)) : undefined;
        const shape = planShape("test", { batch, heads, length, keyLength, dim: 2, layout: "bhld", keyPaddingMask: mask });
        const qf = positiveFeatures(batch * heads * length * r, seed++);
        const kf = positiveFeatures(batch * heads * keyLength * r, seed++);
        // Padded key rows hold NaN: they must not be read.
        for (let row = 0; mask && row < batch * heads * keyLength; row++) {
          const item = Math.floor(row / (heads * keyLength));
          if (mask[item * keyLength + (row % keyLength)] === 1) kf.fill(NaN, row * r, (row + 1) * r);
        }
        const out = new Float32Array(batch * heads * keyLength).fill(NaN);
        runAttentionScores(backend, { op: "test", shape, out }, givenFeatures(backend, shape, qf, kf, r));
        for (let item = 0; item < batch; item++) {
          const keep = mask ? Array.from({ length: keyLength }, (_, j) => mask[item * keyLength + j] === 0) : null;
          for (let head = 0; head < heads; head++) {
            const featureShape = { ...shape, layout: "bhld" };
            const ref = attentionScoresHead(
              extractHead(qf, featureShape, item, head, length, r), extractHead(kf, featureShape, item, head, keyLength, r),
              { length, keyLength, features: r, keep },
            );
            const offset = (item * heads + head) * keyLength;
            const got = out.subarray(offset, offset + keyLength);
            assertClose(got, ref.scores, ref.bound, `length ${length} keyLength ${keyLength} item ${item} head ${head}`);
            // Every query row sums to 1, so the scores sum to the number of
            // queries, within the sum of the per-score bounds.
            const total = got.reduce((sum, value) => sum + value, 0);
            const slack = ref.bound.reduce((sum, value) => sum + value, 0) + 1e-9;
            assert.ok(Math.abs(total - length) <= slack, `sum ${total} != ${length} (slack ${slack})`);
          }
        }
      }
    });
  });
}

/** Rows [from, to) of every head of a "bhld" tensor with `rows` rows of `width`. */
function sliceRows(array, batchHeads, rows, width, from, to) {
  const out = new Float32Array(batchHeads * (to - from) * width);
  for (let bh = 0; bh < batchHeads; bh++) {
    out.set(array.subarray((bh * rows + from) * width, (bh * rows + to) * width), bh * (to - from) * width);
  }
  return out;
}

for (const build of ALL_BUILDS) {
  describe(`streaming on given features (${build})`, { skip: skipReason(build) }, () => {
    test("steps equal the parallel causal result", async () => {
      const favor = await favorFor(build);
      const backend = backendOf(favor);
      const batch = 2, heads = 2, length = 127, r = 8, dim = 3;
      const qf = positiveFeatures(batch * heads * length * r, 800);
      const kf = positiveFeatures(batch * heads * length * r, 801);
      const v = seededFloats(batch * heads * length * dim, 802);
      const mask = Uint8Array.from({ length: batch * length }, (_, j) => (j % 7 === 3 ? 1 : 0));
      for (const keyPaddingMask of [undefined, mask]) {
        const shape = { batch, heads, length, dim, layout: "bhld", keyPaddingMask };
        const parallel = run(favor, shape, qf, kf, v, r, { causal: true, chunk: 16 });
        for (const splits of [[1, 5, 1, 30, 64, 26], [127], new Array(127).fill(1)]) {
          const store = new CausalStateStore(batch, heads, r, dim);
          let from = 0;
          for (const size of splits) {
            const to = from + size;
            const stepMask = keyPaddingMask && Uint8Array.from({ length: batch * size },
              (_, i) => keyPaddingMask[Math.floor(i / size) * length + from + (i % size)]);
            const stepShape = planShape("test", { batch, heads, length: size, dim, layout: "bhld", keyPaddingMask: stepMask });
            const out = store.step(backend, {
              op: "test", shape: stepShape, chunk: 8,
              v: sliceRows(v, batch * heads, length, dim, from, to),
              out: new Float32Array(batch * heads * size * dim).fill(NaN),
            }, givenFeatures(backend, stepShape,
              sliceRows(qf, batch * heads, length, r, from, to), sliceRows(kf, batch * heads, length, r, from, to), r));
            assertClose(out, sliceRows(parallel, batch * heads, length, dim, from, to), 1e-5,
              `splits ${splits.length} step at ${from} mask ${Boolean(keyPaddingMask)}`);
            from = to;
          }
          assert.equal(store.position, length);
        }
      }
    });
  });
}
