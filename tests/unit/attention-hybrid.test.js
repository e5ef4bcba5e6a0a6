// favor.attention, causalState and attentionScores with hybrid random-feature
// maps on every WASM build. With explicit projections the op equals the
// float64 quadratic D⁻¹(Ψ_q Ψ_kᵀ)V built from hybridFeaturesReference, within
// linearAttentionBound of the reference features' per-element bounds.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hybridAttentionReference } from "../reference/hybrid-attention.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertClose, seededFloats } from "../helpers/numeric.js";

const DIM = 8;
const FEATURES = 4;
const LAMBDA_FEATURES = 3;

/** Seeded N(0, scale²) floats (Box–Muller on the uniform test generator). */
function normals(count, seed, scale = 1) {
  const u = seededFloats(2 * count, seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const a = (u[2 * i] + 1) / 2 || 2 ** -32;
    out[i] = scale * Math.sqrt(-2 * Math.log(a)) * Math.cos(Math.PI * (u[2 * i + 1] + 1));
  }
  return out;
}

function inputs(shape, seed, scale = 1) {
  const keyLength = shape.keyLength ?? shape.length;
  const valueDim = shape.valueDim ?? shape.dim;
  const rows = shape.batch * shape.heads;
  return {
    q: normals(rows * shape.length * shape.dim, seed, scale),
    k: normals(rows * keyLength * shape.dim, seed + 1, scale),
    v: seededFloats(rows * keyLength * valueDim, seed + 2),
  };
}

function hybridProjection(favor, seed, features = FEATURES, lambdaFeatures = LAMBDA_FEATURES) {
  return favor.sync.kernel.projection({ estimator: "angular-hybrid", dim: DIM, features, lambdaFeatures, seed });
}

for (const build of ALL_BUILDS) {
  describe(`hybrid attention (${build})`, { skip: skipReason(build) }, () => {
    test("matches the quadratic reference", async () => {
      const favor = await favorFor(build);
      const projection = hybridProjection(favor, 21);
      let seed = 100;
      for (const causal of [false, true]) {
        for (const length of [1, 5, 33, 65]) {
          for (const chunk of causal ? [1, 16, 64] : [64]) {
            const shape = { batch: 1, heads: 2, length, dim: DIM, valueDim: 3, layout: "bhld" };
            const { q, k, v } = inputs(shape, seed++);
            const options = { causal, kernel: "angular-hybrid", features: FEATURES, lambdaFeatures: LAMBDA_FEATURES, projection, chunk };
            const out = favor.sync.attention(q, k, v, { ...shape, ...options });
            const ref = hybridAttentionReference(q, k, v, shape, { causal, projection });
            assertClose(out, ref.out, ref.bound, `causal ${causal} length ${length} chunk ${chunk}`);
          }
        }
      }
    });

    test("seeded projection equals kernel.projection draws", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 1, length: 9, dim: DIM, layout: "blhd" };
      const { q, k, v } = inputs(shape, 7);
      const common = { ...shape, causal: false, kernel: "angular-hybrid", features: FEATURES, lambdaFeatures: LAMBDA_FEATURES };
      const seeded = favor.sync.attention(q, k, v, { ...common, seed: 5 });
      const explicit = favor.sync.attention(q, k, v, { ...common, projection: hybridProjection(favor, 5) });
      assert.deepEqual(Array.from(seeded), Array.from(explicit));
    });

    test("per-head projections use their own head", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 2, length: 6, dim: DIM, layout: "bhld" };
      const { q, k, v } = inputs(shape, 9);
      const first = hybridProjection(favor, 1);
      const second = hybridProjection(favor, 2);
      const join = (a, b) => { const out = new Float32Array(a.length + b.length); out.set(a); out.set(b, a.length); return out; };
      const perHead = { base1: join(first.base1, second.base1), base2: join(first.base2, second.base2), lambda: join(first.lambda, second.lambda) };
      const common = { ...shape, causal: true, kernel: "angular-hybrid", features: FEATURES, lambdaFeatures: LAMBDA_FEATURES };
      const out = favor.sync.attention(q, k, v, { ...common, projection: perHead });
      const headSize = shape.length * DIM;
      for (const [head, projection] of [[0, first], [1, second]]) {
        const one = { ...common, heads: 1, projection };
        const slice = (x) => x.slice(head * headSize, (head + 1) * headSize);
        const expected = favor.sync.attention(slice(q), slice(k), slice(v), one);
        assert.deepEqual(Array.from(out.slice(head * headSize, (head + 1) * headSize)), Array.from(expected), `head ${head}`);
      }
    });

    test("general hybrid spec runs", async () => {
      const favor = await favorFor(build);
      const spec = { hybrid: ["positive", "trig"], lambda: { kind: "gaussian", sigma: 2 } };
      const projection = favor.sync.kernel.projection({ estimator: spec, dim: DIM, features: FEATURES, lambdaFeatures: 2, seed: 4 });
      const shape = { batch: 1, heads: 1, length: 12, dim: DIM, layout: "bhld" };
      const { q, k, v } = inputs(shape, 13);
      const out = favor.sync.attention(q, k, v, { ...shape, causal: true, kernel: spec, features: FEATURES, lambdaFeatures: 2, projection, chunk: 5 });
      assert.ok(out.every(Number.isFinite));
    });

    test("streaming equals parallel", async () => {
      const favor = await favorFor(build);
      const projection = hybridProjection(favor, 31);
      const shape = { batch: 2, heads: 2, length: 40, dim: DIM, valueDim: 4, layout: "blhd" };
      const { q, k, v } = inputs(shape, 41);
      const options = { kernel: "angular-hybrid", features: FEATURES, lambdaFeatures: LAMBDA_FEATURES, projection, chunk: 8 };
      const parallel = favor.sync.attention(q, k, v, { ...shape, ...options, causal: true });
      const state = favor.sync.causalState({ batch: 2, heads: 2, dim: DIM, valueDim: 4, layout: "blhd", ...options });
      const outputs = [];
      // blhd: tokens are the second axis, so a split needs per-batch slicing.
      const take = (x, width, from, to) => {
        const out = new Float32Array(2 * (to - from) * 2 * width);
        for (let b = 0; b < 2; b++) out.set(x.subarray((b * 40 + from) * 2 * width, (b * 40 + to) * 2 * width), b * (to - from) * 2 * width);
        return out;
      };
      const splits = [0, 1, 4, 5, 23, 40];
      for (let s = 0; s + 1 < splits.length; s++) {
        const [from, to] = [splits[s], splits[s + 1]];
        outputs.push([from, to, state.step(take(q, DIM, from, to), take(k, DIM, from, to), take(v, 4, from, to))]);
      }
      // Signed features can cancel in D (outputs near 2000 here), where the
      // chunk order alone moves the result by more than 1e-5. Both runs are
      // within the reference bound of the float64 result, so they differ by
      // at most twice that bound; 1e-5 stays the floor for well-conditioned rows.
      const ref = hybridAttentionReference(q, k, v, shape, { causal: true, projection });
      const bound = Float64Array.from(ref.bound, (b) => 1e-5 + 2 * b);
      for (const [from, to, out] of outputs) {
        const expected = take(parallel, 4, from, to);
        assertClose(out, expected, take(bound, 4, from, to), `tokens ${from}..${to}`);
      }
      assert.equal(state.position, 40);
    });

    test("values of ones give ones where the denominator is positive", async () => {
      const favor = await favorFor(build);
      const projection = hybridProjection(favor, 51);
      for (const causal of [false, true]) {
        const shape = { batch: 1, heads: 1, length: 33, dim: DIM, valueDim: 2, layout: "bhld" };
        const { q, k } = inputs(shape, 61);
        const v = new Float32Array(33 * 2).fill(1);
        const out = favor.sync.attention(q, k, v, { ...shape, causal, kernel: "angular-hybrid", features: FEATURES, lambdaFeatures: LAMBDA_FEATURES, projection, chunk: 16 });
        const ref = hybridAttentionReference(q, k, v, shape, { causal, projection });
        const den = ref.denominators[0];
        for (let i = 0; i < 33; i++) {
          for (let c = 0; c < 2; c++) {
            // num = den·1 exactly in float64, so the output is 1 within the reference bound.
            const expected = den[i] > 2 ** -126 ? 1 : 0;
            assert.ok(Math.abs(out[i * 2 + c] - expected) <= ref.bound[i * 2 + c], `causal ${causal} row ${i}: ${out[i * 2 + c]}`);
          }
        }
      }
    });

    test("padded keys change nothing", async () => {
      const favor = await favorFor(build);
      const projection = hybridProjection(favor, 71);
      const shape = { batch: 1, heads: 1, length: 10, dim: DIM, layout: "bhld" };
      const { q, k, v } = inputs(shape, 81);
      const mask = new Uint8Array(10);
      mask[3] = 1;
      mask[7] = 1;
      const dirtyK = k.slice();
      const dirtyV = v.slice();
      for (const j of [3, 7]) {
        dirtyK.fill(NaN, j * DIM, (j + 1) * DIM);
        dirtyV.fill(Infinity, j * DIM, (j + 1) * DIM);
      }
      const options = { ...shape, kernel: "angular-hybrid", features: FEATURES, lambdaFeatures: LAMBDA_FEATURES, projection, keyPaddingMask: mask };
      for (const causal of [false, true]) {
        const clean = favor.sync.attention(q, k, v, { ...options, causal });
        const dirty = favor.sync.attention(q, dirtyK, dirtyV, { ...options, causal });
        assert.deepEqual(Array.from(dirty), Array.from(clean), `causal ${causal}`);
        const ref = hybridAttentionReference(q, k, v, { ...shape, keyPaddingMask: mask }, { causal, projection });
        assertClose(clean, ref.out, ref.bound, `reference, causal ${causal}`);
      }
    });

    test("guard gives no NaN or Infinity at N(0, 30²)", async () => {
      const favor = await favorFor(build);
      const projection = hybridProjection(favor, 91, 16, 8);
      const shape = { batch: 2, heads: 2, length: 65, dim: DIM, layout: "bhld" };
      const { q, k, v } = inputs(shape, 101, 30);
      const options = { ...shape, kernel: "angular-hybrid", features: 16, lambdaFeatures: 8, projection };
      for (const causal of [false, true]) {
        const out = favor.sync.attention(q, k, v, { ...options, causal, chunk: 16 });
        assert.ok(out.every(Number.isFinite), `causal ${causal}`);
      }
      const scores = favor.sync.attentionScores(q, k, options);
      assert.ok(scores.every(Number.isFinite), "scores");
    });

    test("attentionScores rows sum to their count", async () => {
      const favor = await favorFor(build);
      const projection = hybridProjection(favor, 111);
      const shape = { batch: 1, heads: 1, length: 20, dim: DIM, layout: "bhld" };
      const { q, k, v } = inputs(shape, 121);
      const scores = favor.sync.attentionScores(q, k, { ...shape, kernel: "angular-hybrid", features: FEATURES, lambdaFeatures: LAMBDA_FEATURES, projection });
      const ref = hybridAttentionReference(q, k, v, shape, { causal: false, projection });
      const guarded = ref.denominators[0].filter((d) => d > 2 ** -126).length;
      const sum = scores.reduce((a, b) => a + b, 0);
      // Each unguarded row sums to 1 in exact arithmetic; 1e-3 covers float32 sums of 20 rows.
      assert.ok(Math.abs(sum - guarded) <= 1e-3 * guarded, `sum ${sum}, rows ${guarded}`);
    });

    test("argument errors name the rule", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 2, length: 3, dim: DIM, layout: "bhld" };
      const { q, k, v } = inputs(shape, 1);
      const projection = hybridProjection(favor, 3);
      const base = { ...shape, causal: false, kernel: "angular-hybrid", features: FEATURES, lambdaFeatures: LAMBDA_FEATURES };
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, lambdaFeatures: undefined, projection }),
        { name: "TypeError", message: /^attention: lambdaFeatures is missing; a hybrid kernel needs m_λ/ });
      assert.throws(() => favor.sync.causalState({ ...base, lambdaFeatures: undefined, seed: 1 }),
        { name: "TypeError", message: /^causalState: lambdaFeatures is missing/ });
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, projection: projection.base1 }),
        { name: "TypeError", message: /^attention: projection of a hybrid kernel must be an object \{ base1, base2, lambda \}/ });
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, projection: { ...projection, lambda: projection.base1 } }),
        { name: "RangeError", message: /^attention: projection\.lambda has length 32, expected 24 \(lambdaFeatures 3 × dim 8, shared by every head\) or 48/ });
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, projection: { base1: projection.base1, lambda: projection.lambda } }),
        { name: "TypeError", message: /^attention: projection\.base2 must be a Float32Array/ });
      const doubled = new Float32Array(2 * projection.base1.length);
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, projection: { ...projection, base1: doubled } }),
        { name: "RangeError", message: /^attention: projection\.base1, base2 and lambda must all be shared by every head or all hold one projection per head/ });
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, lambdaFeatures: 0, projection }),
        { name: "RangeError", message: /^attention: lambdaFeatures/ });
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, features: 0, projection }),
        { name: "RangeError", message: /^attention: features/ });
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, kernel: { hybrid: ["positive"], lambda: "angular" }, projection }),
        { name: "TypeError", message: /^attention: kernel\.hybrid must be an array of two base estimators/ });
      assert.throws(() => favor.sync.attention(q, k, v, { ...base, kernel: "positive", projection: projection.base1 }),
        { name: "RangeError", message: /^attention: lambdaFeatures is 3, but it applies only to hybrid kernels/ });
    });
  });
}
