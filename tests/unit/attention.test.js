// FAVOR+ attention (favor.attention, causalState, attentionScores) on every
// WASM build. Exactness: with a fixed projection the op equals the float64
// quadratic D⁻¹(Q′K′ᵀ)V (masked to j <= i when causal) within the bound of
// favorAttentionReference (feature-map rounding plus the products).
// Approximation quality against exact softmax attention is statistical and
// has its own describe block below.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { favorAttentionReference, headRows, softmaxAttentionReference } from "../reference/attention.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertClose, assertSameBits, seededFloats } from "../helpers/numeric.js";

const DIM = 8;
const FEATURES = 16;

function inputs(shape, seed, scale = 1) {
  const keyLength = shape.keyLength ?? shape.length;
  const valueDim = shape.valueDim ?? shape.dim;
  const rows = shape.batch * shape.heads;
  return {
    q: seededFloats(rows * shape.length * shape.dim, seed, scale),
    k: seededFloats(rows * keyLength * shape.dim, seed + 1, scale),
    v: seededFloats(rows * keyLength * valueDim, seed + 2),
  };
}

/** Runs favor.sync.attention and compares it with the float64 reference; returns the output. */
function checkExact(favor, shape, options, seed, context) {
  const { q, k, v } = inputs(shape, seed);
  const copies = [q.slice(), k.slice(), v.slice()];
  const out = favor.sync.attention(q, k, v, { ...shape, ...options });
  const ref = favorAttentionReference(q, k, v, shape, {
    causal: options.causal, kind: options.kernel, projection: options.projection ?? null, features: options.features,
  });
  assertClose(out, ref.out, ref.bound, context);
  assertSameBits(q, copies[0], "q changed");
  assertSameBits(k, copies[1], "k changed");
  assertSameBits(v, copies[2], "v changed");
  return out;
}

for (const build of ALL_BUILDS) {
  describe(`attention (${build})`, { skip: skipReason(build) }, () => {
    test("causal chunks match the masked reference", async () => {
      const favor = await favorFor(build);
      const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 11 });
      let seed = 1;
      for (const length of [1, 2, 3, 33, 63, 64, 65, 127]) {
        for (const chunk of [1, 8, 16, 64, 256]) {
          const shape = { batch: 1, heads: 1, length, dim: DIM, valueDim: 3, layout: "bhld" };
          const options = { causal: true, kernel: "positive", features: FEATURES, projection, chunk };
          checkExact(favor, shape, options, seed++, `length ${length} chunk ${chunk}`);
        }
      }
    });

    test("bidirectional matches the reference", async () => {
      const favor = await favorFor(build);
      const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 12 });
      let seed = 50;
      for (const [length, keyLength] of [[1, 1], [3, 5], [65, 127], [300, 257]]) {
        const shape = { batch: 2, heads: 2, length, keyLength, dim: DIM, valueDim: 4, layout: "blhd" };
        checkExact(favor, shape, { causal: false, kernel: "positive", features: FEATURES, projection }, seed++, `length ${length}`);
      }
    });

    test("every feature map matches the reference", async () => {
      const favor = await favorFor(build);
      let seed = 80;
      for (const kernel of ["positive", "hyperbolic", "trig", "exp", "relu", "elu+1", "abs", "identity"]) {
        for (const causal of [false, true]) {
          const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: seed });
          const shape = { batch: 1, heads: 2, length: 70, dim: DIM, layout: "bhld" };
          checkExact(favor, shape, { causal, kernel, features: FEATURES, projection, chunk: 16 }, seed++, `${kernel} causal ${causal}`);
        }
      }
      // Without a projection the generalized kernels act on d^{-1/4}·x itself.
      const shape = { batch: 1, heads: 1, length: 40, dim: DIM, layout: "bhld" };
      checkExact(favor, shape, { causal: true, kernel: "elu+1", features: 0, chunk: 8 }, 99, "elu+1 without projection");
    });

    test("one projection per head", async () => {
      const favor = await favorFor(build);
      const heads = 3;
      const projection = new Float32Array(heads * FEATURES * DIM);
      for (let h = 0; h < heads; h++) projection.set(favor.sync.projection({ features: FEATURES, dim: DIM, seed: 20 + h }), h * FEATURES * DIM);
      const shape = { batch: 2, heads, length: 50, dim: DIM, layout: "blhd" };
      checkExact(favor, shape, { causal: true, kernel: "positive", features: FEATURES, projection, chunk: 16 }, 120, "per head");
    });

    test("values of ones give ones", async () => {
      // num and den are the same sums (the ones column of [V 1] equals every
      // value column), so each output is 1 up to the final division.
      const favor = await favorFor(build);
      const length = 150;
      const shape = { batch: 1, heads: 1, length, dim: DIM, valueDim: 5, layout: "bhld" };
      const { q, k } = inputs(shape, 130);
      const v = new Float32Array(length * 5).fill(1);
      for (const causal of [false, true]) {
        for (const kernel of ["positive", "hyperbolic", "relu"]) {
          const out = favor.sync.attention(q, k, v, { ...shape, causal, kernel, features: 64, seed: 3, chunk: 32 });
          assertClose(out, new Float64Array(out.length).fill(1), 4 * F32_EPS, `${kernel} causal ${causal}`);
        }
      }
    });

    test("causal known answer 1/(t+1)", async () => {
      // d = 1 and q = k = 1: every key has the same features, so query t
      // averages v_0..v_t; with v one-hot at t = 0 that is 1/(t+1). The sums
      // of t + 1 equal terms round with relative error <= (t + 1)·eps.
      const favor = await favorFor(build);
      const length = 40;
      const ones = new Float32Array(length).fill(1);
      const v = new Float32Array(length);
      v[0] = 1;
      const expected = Float64Array.from({ length }, (_, t) => 1 / (t + 1));
      const tolerance = expected.map((value, t) => (2 * t + 6) * F32_EPS * value);
      for (const kernel of ["positive", "trig", "identity"]) {
        for (const chunk of [1, 7, 64]) {
          const out = favor.sync.attention(ones, ones, v,
            { batch: 1, heads: 1, length, dim: 1, layout: "bhld", causal: true, kernel, features: 4, seed: 5, chunk });
          assertClose(out, expected, tolerance, `${kernel} chunk ${chunk}`);
        }
      }
    });

    test("parallel, chunked and streaming agree", async () => {
      const favor = await favorFor(build);
      const batch = 2, heads = 2, length = 127, dim = DIM;
      const shape = { batch, heads, length, dim, layout: "bhld" };
      const { q, k, v } = inputs(shape, 140);
      const settings = { kernel: "positive", features: 32, seed: 9 };
      const parallel = favor.sync.attention(q, k, v, { ...shape, ...settings, causal: true, chunk: 127 });
      for (const chunk of [1, 16, 64]) {
        const chunked = favor.sync.attention(q, k, v, { ...shape, ...settings, causal: true, chunk });
        assertClose(chunked, parallel, 1e-5, `chunk ${chunk}`);
      }
      const rowsOf = (array, width, from, to) => {
        const out = new Float32Array(batch * heads * (to - from) * width);
        for (let bh = 0; bh < batch * heads; bh++) {
          out.set(array.subarray((bh * length + from) * width, (bh * length + to) * width), bh * (to - from) * width);
        }
        return out;
      };
      for (const splits of [[1, 1, 1, 60, 1, 63], [127], [5, 122]]) {
        const state = favor.sync.causalState({ batch, heads, dim, layout: "bhld", ...settings, chunk: 16 });
        let from = 0;
        for (const size of splits) {
          const to = from + size;
          const out = state.step(rowsOf(q, dim, from, to), rowsOf(k, dim, from, to), rowsOf(v, dim, from, to));
          assertClose(out, rowsOf(parallel, dim, from, to), 1e-5, `split ${splits.join("+")} at ${from}`);
          from = to;
        }
        assert.equal(state.position, length);
        state.reset();
        assert.equal(state.position, 0);
      }
      // Token by token through the Promise form.
      const asyncState = await favor.causalState({ batch, heads, dim, layout: "bhld", ...settings });
      for (let t = 0; t < length; t++) {
        const out = await asyncState.step(rowsOf(q, dim, t, t + 1), rowsOf(k, dim, t, t + 1), rowsOf(v, dim, t, t + 1));
        assertClose(out, rowsOf(parallel, dim, t, t + 1), 1e-5, `async token ${t}`);
      }
    });

    test("padded keys with garbage change nothing", async () => {
      const favor = await favorFor(build);
      const batch = 2, length = 70;
      const mask = Uint8Array.from({ length: batch * length }, (_, j) => (j % 5 === 1 || j >= 130 ? 1 : 0));
      const shape = { batch, heads: 2, length, dim: DIM, layout: "blhd", keyPaddingMask: mask };
      const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 13 });
      for (const causal of [false, true]) {
        const { q, k, v } = inputs(shape, 150);
        const options = { ...shape, causal, kernel: "positive", features: FEATURES, projection, chunk: 16 };
        const clean = favor.sync.attention(q, k, v, options);
        const garbage = [NaN, Infinity, -Infinity, 3e38, -1e30];
        for (let item = 0; item < batch; item++) for (let head = 0; head < 2; head++) {
          const rows = headRows(shape, item, head, length, DIM);
          for (let j = 0; j < length; j++) {
            if (mask[item * length + j] === 0) continue;
            for (let c = 0; c < DIM; c++) {
              k[rows.offset + j * rows.ld + c] = garbage[(j + c) % 5];
              v[rows.offset + j * rows.ld + c] = garbage[(j + c + 2) % 5];
            }
          }
        }
        assertSameBits(favor.sync.attention(q, k, v, options), clean, `causal ${causal}`);
        const ref = favorAttentionReference(q, k, v, shape, { causal, kind: "positive", projection, features: FEATURES });
        assertClose(clean, ref.out, ref.bound, `reference, causal ${causal}`);
      }
    });

    test("wide inputs give finite outputs", async () => {
      // Entries from N(0, 30²) (Box–Muller on seeded uniforms): logits of
      // hundreds, which the stabilizers keep from overflowing.
      const favor = await favorFor(build);
      const length = 200;
      const normal = (count, seed) => favor.sync.random.normal(count, seed).map((x) => 30 * x);
      const q = normal(length * 64, 1), k = normal(length * 64, 2), v = normal(length * 64, 3);
      for (const kernel of ["positive", "hyperbolic", "trig", "exp", "relu", "elu+1", "abs", "identity"]) {
        for (const causal of [false, true]) {
          const out = favor.sync.attention(q, k, v,
            { batch: 1, heads: 1, length, dim: 64, layout: "bhld", causal, kernel, features: 256, seed: 4, chunk: 64 });
          const bad = out.findIndex((x) => !Number.isFinite(x));
          assert.equal(bad, -1, `${kernel} causal ${causal}: output ${bad} is ${out[bad]}`);
        }
      }
    });

    test("layouts give the same result", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 2, heads: 3, length: 45, dim: DIM, valueDim: 2 };
      const toBlhd = (array, width) => {
        const out = new Float32Array(array.length);
        for (let b = 0; b < shape.batch; b++) for (let h = 0; h < shape.heads; h++) for (let l = 0; l < shape.length; l++) {
          out.set(array.subarray(((b * shape.heads + h) * shape.length + l) * width, ((b * shape.heads + h) * shape.length + l + 1) * width),
            ((b * shape.length + l) * shape.heads + h) * width);
        }
        return out;
      };
      const { q, k, v } = inputs({ ...shape, layout: "bhld" }, 160);
      for (const causal of [false, true]) {
        const options = { causal, kernel: "positive", features: FEATURES, seed: 2, chunk: 16 };
        const bhld = favor.sync.attention(q, k, v, { ...shape, layout: "bhld", ...options });
        const blhd = favor.sync.attention(toBlhd(q, DIM), toBlhd(k, DIM), toBlhd(v, 2), { ...shape, layout: "blhd", ...options });
        assertSameBits(blhd, toBlhd(bhld, 2), `causal ${causal}`);
      }
    });

    test("heads and batch items are independent", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 2, heads: 2, length: 40, dim: DIM, layout: "bhld" };
      const { q, k, v } = inputs(shape, 170);
      for (const causal of [false, true]) {
        const options = { ...shape, causal, kernel: "positive", features: FEATURES, seed: 6, chunk: 16 };
        const before = favor.sync.attention(q, k, v, options);
        const perturbed = k.slice();
        const rows = headRows(shape, 0, 1, shape.length, DIM);
        for (let l = 0; l < shape.length; l++) perturbed[rows.offset + l * rows.ld + 3] += 2;
        const after = favor.sync.attention(q, perturbed, v, options);
        for (let item = 0; item < 2; item++) for (let head = 0; head < 2; head++) {
          const at = headRows(shape, item, head, shape.length, DIM);
          const pick = (array) => array.slice(at.offset, at.offset + shape.length * DIM);
          if (item === 0 && head === 1) assert.notDeepEqual(pick(after), pick(before));
          else assertSameBits(pick(after), pick(before), `item ${item} head ${head} causal ${causal}`);
        }
      }
    });

    test("attention scores are explicit column sums", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 2, heads: 2, length: 90, keyLength: 70, dim: DIM, layout: "blhd" };
      const mask = Uint8Array.from({ length: 2 * 70 }, (_, j) => (j % 9 === 4 ? 1 : 0));
      const projection = favor.sync.projection({ features: FEATURES, dim: DIM, seed: 14 });
      const { q, k } = inputs(shape, 180);
      const scores = favor.sync.attentionScores(q, k, { ...shape, keyPaddingMask: mask, kernel: "positive", features: FEATURES, projection });
      // Values of one-hot rows make the reference output the attention matrix itself.
      for (let item = 0; item < 2; item++) for (let head = 0; head < 2; head++) {
        const one = { batch: 1, heads: 1, length: 90, keyLength: 70, dim: DIM, valueDim: 70, layout: "bhld", keyPaddingMask: mask.subarray(item * 70, (item + 1) * 70) };
        const pick = (array, rows) => {
          const at = headRows(shape, item, head, rows, DIM);
          return Float32Array.from({ length: rows * DIM }, (_, i) => array[at.offset + Math.floor(i / DIM) * at.ld + (i % DIM)]);
        };
        const identity = Float32Array.from({ length: 70 * 70 }, (_, i) => (i % 71 === 0 ? 1 : 0));
        const ref = favorAttentionReference(pick(q, 90), pick(k, 70), identity, one, { causal: false, kind: "positive", projection, features: FEATURES });
        const columns = new Float64Array(70);
        const slack = new Float64Array(70);
        for (let i = 0; i < 90; i++) for (let j = 0; j < 70; j++) {
          columns[j] += ref.out[i * 70 + j];
          slack[j] += ref.bound[i * 70 + j];
        }
        const offset = (item * 2 + head) * 70;
        const got = scores.subarray(offset, offset + 70);
        // s_j is formed as k′_j·Q′ᵀ(1/n) rather than as a sum of outputs, so
        // allow the summed output bounds twice over.
        assertClose(got, columns, slack.map((value) => 2 * value + 1e-7), `item ${item} head ${head}`);
        const total = got.reduce((sum, value) => sum + value, 0);
        assert.ok(Math.abs(total - 90) <= 90 * 1e-5, `scores sum to ${total}, expected 90`);
        assert.deepEqual(Array.from(favor.sync.topK(got, 10)), Array.from(favor.sync.topK(Float32Array.from(columns), 10)));
      }
    });
  });
}

describe("attention approximates softmax attention", () => {
  // Statistical check on the simd build over SEEDS independent projections.
  // For one query, with exact weights w_j = exp(q̃·k̃_j) and estimates
  // ŵ_j = w_j(1 + δ_j), the output moves by Δ ≈ Σ_j (w_j/W)·δ_j·(v_j − out)
  // to first order (W = Σ w_j). Minkowski's inequality bounds its root mean
  // square by Σ_j (w_j/W)·|v_j − out|·RMS(δ_j), whatever the correlation of
  // the δ_j, and the positive map with iid Gaussian rows has
  // RMS(δ_j)² = (e^{‖q̃+k̃_j‖²} − 1)/m (Choromanski et al., "Rethinking
  // Attention with Performers", Lemma 2); orthogonal rows only lower it. So
  // the mean of |Δ| over rows and seeds must stay below the mean of that
  // bound (Jensen: E|Δ| <= RMS Δ). 1.25 covers the second-order terms (δ
  // is about 0.05 here) and the sampling error of a 30-seed mean.
  const SEEDS = 30;
  const length = 48, dim = 16, m = 256;

  test("mean error within the Lemma 2 bound", async () => {
    const favor = await favorFor("simd");
    const shape = { batch: 1, heads: 1, length, dim, layout: "bhld" };
    let errorSum = 0;
    let boundSum = 0;
    let errorSumSmall = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      const q = seededFloats(length * dim, 1000 + seed, 0.5);
      const k = seededFloats(length * dim, 2000 + seed, 0.5);
      const v = seededFloats(length * dim, 3000 + seed);
      const exact = softmaxAttentionReference(q, k, v, shape, { causal: false, scale: 1 / Math.sqrt(dim) }).out;
      const out = favor.sync.attention(q, k, v, { ...shape, causal: false, kernel: "positive", features: m, seed });
      const small = favor.sync.attention(q, k, v, { ...shape, causal: false, kernel: "positive", features: m / 4, seed });
      const s = dim ** -0.25;
      for (let i = 0; i < length; i++) {
        let weightSum = 0;
        const weights = [];
        for (let j = 0; j < length; j++) {
          let dot = 0, norm = 0;
          for (let t = 0; t < dim; t++) {
            dot += q[i * dim + t] * k[j * dim + t] * s * s;
            norm += (s * (q[i * dim + t] + k[j * dim + t])) ** 2;
          }
          weights.push([Math.exp(dot), Math.sqrt(Math.expm1(norm) / m)]);
          weightSum += Math.exp(dot);
        }
        for (let c = 0; c < dim; c++) {
          let rmsBound = 0;
          for (let j = 0; j < length; j++) rmsBound += (weights[j][0] / weightSum) * Math.abs(v[j * dim + c] - exact[i * dim + c]) * weights[j][1];
          boundSum += rmsBound;
          errorSum += Math.abs(out[i * dim + c] - exact[i * dim + c]);
          errorSumSmall += Math.abs(small[i * dim + c] - exact[i * dim + c]);
        }
      }
    }
    const count = SEEDS * length * dim;
    const meanError = errorSum / count;
    const meanBound = boundSum / count;
    assert.ok(meanError <= 1.25 * meanBound, `mean error ${meanError} above 1.25 × mean bound ${meanBound}`);
    // A quarter of the features doubles the standard deviation (∝ 1/√m), so
    // the mean error grows by about 2; a fixed output (no dependence on the
    // features at all) would give 1.
    const growth = errorSumSmall / errorSum;
    assert.ok(growth > 1.5 && growth < 2.7, `error grew by ${growth} from m = ${m} to m = ${m / 4}, expected about 2`);
  });
});

describe("attention argument checks", () => {
  const f = (n) => new Float32Array(n);
  const base = { batch: 1, heads: 2, length: 3, dim: 4, layout: "bhld", causal: false, kernel: "positive", features: 8, seed: 1 };
  const cases = [
    ["an unknown kernel", [f(24), f(24), f(24), { ...base, kernel: "softmax" }], RangeError,
      /^attention: kernel must be one of "positive", "hyperbolic", "trig", "relu", "elu\+1", "exp", "abs", "identity", or a hybrid \("angular-hybrid" or \{ hybrid: \[base1, base2\], lambda \}\), got "softmax"$/],
    ["a missing kernel", [f(24), f(24), f(24), { ...base, kernel: undefined }], TypeError, /^attention: kernel is missing; pass one of "positive"/],
    ["a missing features", [f(24), f(24), f(24), { ...base, features: undefined }], TypeError, /^attention: features is missing/],
    ["a missing seed", [f(24), f(24), f(24), { ...base, seed: undefined }], TypeError,
      /^attention: seed is missing; pass a seed to draw the random projection, or pass projection$/],
    ["a projection of the wrong length", [f(24), f(24), f(24), { ...base, projection: f(33) }], RangeError,
      /^attention: projection has length 33, expected 32 \(features 8 × dim 4, shared by every head\) or 64 \(heads 2 × features 8 × dim 4\)$/],
    ["chunk 0", [f(24), f(24), f(24), { ...base, causal: true, chunk: 0 }], RangeError, /^attention: chunk must be an integer >= 1, got 0$/],
    ["causal with another key length", [f(24), f(16), f(16), { ...base, keyLength: 2, causal: true }], RangeError,
      /^attention: keyLength is 2 but length is 3; causal attention needs keyLength equal to length$/],
    ["an unknown layout", [f(24), f(24), f(24), { ...base, layout: "lbhd" }], RangeError, /^attention: layout must be one of "bhld", "blhd", got "lbhd"$/],
    ["a k of the wrong length", [f(24), f(20), f(24), base], RangeError,
      /^attention: k has length 20, expected 24 \(batch 1 × heads 2 × keyLength 3 × dim 4, layout "bhld"\)$/],
    ["a mask of the wrong type", [f(24), f(24), f(24), { ...base, keyPaddingMask: new Int8Array(3) }], TypeError,
      /^attention: keyPaddingMask must be a Uint8Array \(1 = padded, 0 = real key\), got an Int8Array of length 3$/],
    ["a mask of the wrong length", [f(24), f(24), f(24), { ...base, keyPaddingMask: new Uint8Array(2) }], RangeError,
      /^attention: keyPaddingMask has length 2, expected 3 \(batch 1 × keyLength 3\)$/],
    ["positive without a projection", [f(24), f(24), f(24), { ...base, features: 0 }], TypeError,
      /^attention: projection is missing; kind "positive" needs an m×dim projection/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.attention(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.attention(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }

  test("rejects bad steps and scores", async () => {
    const favor = await favorFor("scalar");
    const state = favor.sync.causalState({ batch: 1, heads: 2, dim: 4, layout: "bhld", kernel: "positive", features: 8, seed: 1 });
    assert.throws(() => state.step(f(12), f(8), f(8)),
      /^RangeError: causalState\.step: q has length 12, expected a positive multiple of 8 \(batch 1 × heads 2 × dim 4, times the number of new tokens\)$/);
    assert.throws(() => state.step(f(16), f(8), f(16)),
      /^RangeError: causalState\.step: k has length 8, expected 16 \(batch 1 × heads 2 × keyLength 2 × dim 4, layout "bhld"\)$/);
    assert.throws(() => state.step(f(16), f(16), f(16), { keyPaddingMask: new Uint8Array(3) }),
      /^RangeError: causalState\.step: keyPaddingMask has length 3, expected 2 \(batch 1 × keyLength 2\)$/);
    assert.equal(state.position, 0, "a rejected step consumes nothing");
    assert.throws(() => favor.sync.causalState({ batch: 1, heads: 1, dim: 4, layout: "bhld", kernel: "positive", features: 8, seed: 1, chunk: -1 }),
      /^RangeError: causalState: chunk must be an integer >= 1, got -1$/);
    await assert.rejects(favor.attentionScores(f(24), f(24), { ...base, causal: undefined, kernel: "tanh" }),
      /^RangeError: attentionScores: kernel must be one of/);
    assert.throws(() => favor.sync.attentionScores(f(24), f(24), { ...base, causal: true }),
      /^RangeError: attentionScores: causal is true, but scores are column sums of bidirectional attention; omit causal$/);
  });
});
