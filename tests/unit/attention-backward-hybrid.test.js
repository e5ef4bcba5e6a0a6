// attentionBackward with hybrid kernels ("angular-hybrid" and general
// { hybrid: [base1, base2], lambda }), in the steps of
// attention-backward.test.js:
//   1. the float64 analytic gradient (tests/reference/backward.js, which
//      differentiates Ψ_q and Ψ_k through both base maps and the weight
//      features) against central differences, L = 7, m = 3, d = 2, m_λ = 2,
//      in every mode;
//   2. the float32 WASM gradients against it on every build, up to L = 1000,
//      with the tolerance chain·u·M of gradientTolerance;
//   3. chunk agreement, padding, the zero Ω_λ gradient of the angular
//      weight, and a directional derivative of favor.attention itself.
// The angular weight's sign features are piecewise constant. Every case
// keeps its sign arguments ω_l·x̃ away from 0 (see awayFromSigns), so the
// gradient with the signs held fixed is the true derivative there.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { headRows } from "../reference/attention.js";
import {
  attentionBackward64,
  attentionLoss64,
  centralDifference,
  exponentSize,
  gradientTolerance,
  hybridConstants,
} from "../reference/backward.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertClose, assertSameBits, seededFloats } from "../helpers/numeric.js";
import { attentionInputs as inputs } from "../helpers/attention-inputs.js";

const GAUSSIAN = { hybrid: ["positive", "trig"], lambda: { kind: "gaussian", sigma: 1.5 } };
const KERNELS = [
  ["angular-hybrid", "angular-hybrid"],
  ["hyperbolic+positive angular", { hybrid: ["hyperbolic", "positive"], lambda: "angular" }],
  ["positive+trig gaussian", GAUSSIAN],
];

const MODES = [
  { name: "bidirectional", causal: false, padded: false },
  { name: "causal", causal: true, padded: false },
  { name: "padded bidirectional", causal: false, padded: true },
  { name: "padded causal", causal: true, padded: true },
];

/** Returns a batch × keyLength padding mask with a few padded keys per item (never all). */
function paddingMask(batch, keyLength, seed) {
  const mask = new Uint8Array(batch * keyLength);
  const draws = seededFloats(batch * keyLength, seed);
  for (let i = 0; i < mask.length; i++) mask[i] = draws[i] > 0.4 ? 1 : 0;
  for (let item = 0; item < batch; item++) mask[item * keyLength + 1] = 0;
  return mask;
}

/** Seeded projections { base1, base2, lambda }, shared (heads 1) or per head. */
function projections(copies, features, lambdaFeatures, dim, seed) {
  return {
    base1: seededFloats(copies * features * dim, seed, 1.2),
    base2: seededFloats(copies * features * dim, seed + 1, 1.2),
    lambda: seededFloats(copies * lambdaFeatures * dim, seed + 2),
  };
}

/** Returns min |ω_l·x̃| over the rows of q and k and every row of Ω_λ (all heads' copies). */
function smallestSignArgument(data, dim, lambda) {
  const scale = dim ** -0.25;
  let smallest = Infinity;
  for (const rows of [data.q, data.k]) {
    for (let row = 0; row < rows.length / dim; row++) {
      for (let l = 0; l < lambda.length / dim; l++) {
        let t = 0;
        for (let c = 0; c < dim; c++) t += lambda[l * dim + c] * rows[row * dim + c] * scale;
        smallest = Math.min(smallest, Math.abs(t));
      }
    }
  }
  return smallest;
}

/**
 * Returns the first inputs from `seed` on (stepping by 100) whose angular
 * sign arguments all stay `gap` away from 0: a float32 rounding (about
 * dim·u·Σ|ω_k x_k| < 1e-6 here) or a difference step cannot flip a sign.
 */
function awayFromSigns(shape, seed, kernel, lambda, gap) {
  let data = inputs(shape, seed);
  if (kernel === GAUSSIAN) return data;
  while (smallestSignArgument(data, shape.dim, lambda) < gap) {
    seed += 100;
    data = inputs(shape, seed);
  }
  return data;
}

/** Returns the chain of gradientTolerance for a hybrid, whose r grows by the sums of the tensor backward. */
function chainFor(shape, options, data) {
  const dim = shape.dim;
  const m = options.features;
  const h = hybridConstants(options.kernel, options.lambdaFeatures);
  const outputs = (b) => (b === "positive" ? m : 2 * m);
  const d1 = outputs(h.bases[0]);
  const d2 = outputs(h.bases[1]);
  const dl = h.lambda === "angular" ? options.lambdaFeatures : 2 * options.lambdaFeatures;
  // P̄ sums 1 + D_λ terms per element, ρ̄ sums D1 + D2; the two base maps add their own chains.
  const r = (1 + dl) * (d1 + d2) + (1 + dl) + d1 + d2;
  return {
    keys: (shape.keyLength ?? shape.length) + 1, r, dim, valueDim: shape.valueDim ?? dim,
    exponentSize: exponentSize(data.q, data.k, shape, options),
  };
}

function assertCentralDifferences(loss, x, grad, step, context) {
  // As in attention-backward.test.js: 1e-7·(1 + |∂|) for rounding plus the
  // Richardson estimate |D(2h) − D(h)| of the truncation error.
  for (let i = 0; i < grad.length; i++) {
    const fd = centralDifference(loss, x, i, step);
    const coarse = centralDifference(loss, x, i, 2 * step);
    const tolerance = 1e-7 * (1 + Math.abs(grad[i])) + Math.abs(coarse - fd);
    assert.ok(Math.abs(fd - grad[i]) <= tolerance,
      `${context}[${i}]: analytic ${grad[i]}, central difference ${fd}, tolerance ${tolerance}`);
  }
}

describe("hybrid: float64 reference gradients against central differences", () => {
  const step = 1e-5;
  for (const [name, kernel] of KERNELS) {
    for (const mode of MODES) {
      test(`${name}, ${mode.name}`, () => {
        const length = 7, dim = 2, features = 3, lambdaFeatures = 2, heads = 2, batch = 2;
        const shape = { batch, heads, length, dim, valueDim: 3, layout: "blhd" };
        if (mode.padded) shape.keyPaddingMask = paddingMask(batch, length, 11);
        const projection = projections(heads, features, lambdaFeatures, dim, 5);
        // Every entry of q, k and Ω_λ is below 1 in magnitude, so a difference step (at most 2e-5)
        // moves each ω_l·x̃ by less than 2e-5, and 1e-3 is 50 times that.
        const data = awayFromSigns(shape, 20 + KERNELS.findIndex(([n]) => n === name), kernel, projection.lambda, 1e-3);
        const options = { causal: mode.causal, kernel, features, lambdaFeatures, projection };
        const ref = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, options);
        const x = {
          q: Float64Array.from(data.q), k: Float64Array.from(data.k), v: Float64Array.from(data.v),
          base1: Float64Array.from(projection.base1), base2: Float64Array.from(projection.base2),
          lambda: Float64Array.from(projection.lambda),
        };
        const loss = () => attentionLoss64(x.q, x.k, x.v, data.gradOut, shape,
          { ...options, projection: { base1: x.base1, base2: x.base2, lambda: x.lambda } });
        for (const [part, grad] of [["q", ref.dq], ["k", ref.dk], ["v", ref.dv], ["base1", ref.dprojection.base1],
          ["base2", ref.dprojection.base2], ["lambda", ref.dprojection.lambda]]) {
          assertCentralDifferences(loss, x[part], grad, step, `d${part}`);
        }
        if (kernel !== GAUSSIAN) assert.ok(ref.dprojection.lambda.every((g) => g === 0), "angular Ω_λ gradient is zero");
      });
    }
  }
});

for (const build of ALL_BUILDS) {
  describe(`attentionBackward, hybrid kernels (${build})`, { skip: skipReason(build) }, () => {
    const cache = new Map();
    function check(favor, shape, options, data, context) {
      const { q, k, v, gradOut } = data;
      const got = favor.sync.attentionBackward(q, k, v, gradOut, { ...shape, ...options });
      if (!cache.has(context)) {
        const plain = { ...options, chunk: undefined };
        cache.set(context, {
          ref: attentionBackward64(q, k, v, gradOut, shape, plain),
          size: attentionBackward64(q, k, v, gradOut, shape, plain, { absolute: true }),
        });
      }
      const { ref, size } = cache.get(context);
      const chain = chainFor(shape, options, data);
      assertClose(got.dq, ref.dq, gradientTolerance(size.dq, chain), `${context} dq`);
      assertClose(got.dk, ref.dk, gradientTolerance(size.dk, chain), `${context} dk`);
      assertClose(got.dv, ref.dv, gradientTolerance(size.dv, chain), `${context} dv`);
      if (options.returnProjectionGradient) {
        // dW sums the terms of every row of every head that shares it.
        const rows = shape.batch * (shape.length + (shape.keyLength ?? shape.length)) * shape.heads;
        for (const part of ["base1", "base2", "lambda"]) {
          assertClose(got.dprojection[part], ref.dprojection[part],
            gradientTolerance(size.dprojection[part], { ...chain, keys: chain.keys + rows }), `${context} dprojection.${part}`);
        }
      }
      return got;
    }

    test("every hybrid kernel and mode against the float64 gradient", async () => {
      const favor = await favorFor(build);
      for (const [name, kernel] of KERNELS) {
        for (const mode of MODES) {
          for (const length of [1, 7, 33]) {
            const shape = { batch: 2, heads: 2, length, dim: 4, valueDim: 3, layout: "bhld" };
            if (mode.padded) shape.keyPaddingMask = paddingMask(2, length, length);
            const projection = projections(1, 4, 3, 4, 7);
            const data = awayFromSigns(shape, length + 40, kernel, projection.lambda, 1e-4);
            const options = {
              causal: mode.causal, kernel, features: 4, lambdaFeatures: 3, projection, chunk: 5, returnProjectionGradient: true,
            };
            const got = check(favor, shape, options, data, `${name} ${mode.name} L=${length}`);
            if (kernel !== GAUSSIAN) assert.ok(got.dprojection.lambda.every((g) => Object.is(g, 0)), `${name}: Ω_λ gradient not zero`);
          }
        }
      }
    });

    test("long sequences, per-head projections, drawn projections, large inputs", async () => {
      const favor = await favorFor(build);
      const cases = [
        { length: 1000, heads: 1, layout: "bhld", causal: true, kernel: "angular-hybrid", chunk: 64 },
        { length: 300, heads: 2, layout: "blhd", causal: false, kernel: GAUSSIAN, perHead: true },
        { length: 200, heads: 2, layout: "blhd", causal: true, kernel: "angular-hybrid", perHead: true, keyPadding: true, chunk: 16 },
        // Norms about 2.5·d^{1/4} and keys growing along the sequence make the key shift climb chunk by chunk.
        { length: 60, heads: 1, layout: "bhld", causal: true, kernel: GAUSSIAN, scale: 2.5, chunk: 7 },
      ];
      for (const c of cases) {
        const dim = 8;
        const shape = { batch: 1, heads: c.heads, length: c.length, dim, valueDim: 5, layout: c.layout };
        if (c.keyPadding) shape.keyPaddingMask = paddingMask(1, c.length, 3);
        const projection = projections(c.perHead ? c.heads : 1, 6, 4, dim, 13);
        let data = awayFromSigns(shape, c.length, c.kernel, projection.lambda, 1e-4);
        if (c.scale !== undefined) {
          data = inputs(shape, c.length, c.scale);
          for (let j = 0; j < c.length; j++) for (let col = 0; col < dim; col++) data.k[j * dim + col] *= 1 + j / 30;
        }
        const options = {
          causal: c.causal, kernel: c.kernel, features: 6, lambdaFeatures: 4, projection, chunk: c.chunk,
          returnProjectionGradient: true,
        };
        check(favor, shape, options, data, JSON.stringify(c));
      }
      // A seed draws the same three projections as kernel.projection with draw 0, 1, 2.
      const shape = { batch: 1, heads: 2, length: 30, dim: 4, layout: "blhd" };
      const data = inputs(shape, 3);
      const common = { ...shape, causal: true, kernel: "angular-hybrid", features: 4, lambdaFeatures: 3 };
      const seeded = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...common, seed: 8 });
      const projection = favor.sync.kernel.projection({ estimator: "angular-hybrid", dim: 4, features: 4, lambdaFeatures: 3, seed: 8 });
      const explicit = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...common, projection });
      assertSameBits(seeded.dq, explicit.dq, "seeded dq");
      assertSameBits(seeded.dk, explicit.dk, "seeded dk");
    });

    test("chunk sizes 1, 2, 7 and the whole length agree", async () => {
      const favor = await favorFor(build);
      for (const length of [23, 65]) {
        const shape = { batch: 1, heads: 1, length, dim: 4, layout: "bhld" };
        const projection = projections(1, 4, 3, 4, 17);
        const data = awayFromSigns(shape, 80 + length, "angular-hybrid", projection.lambda, 1e-4);
        const base = { causal: true, kernel: "angular-hybrid", features: 4, lambdaFeatures: 3, projection };
        const results = [1, 2, 7, length].map((chunk) => check(favor, shape, { ...base, chunk }, data, `L=${length}`));
        // Each result is within τ of the reference, so any two are within 2τ.
        const size = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, base, { absolute: true });
        const tolerance = gradientTolerance(size.dk, chainFor(shape, base, data)).map((value) => 2 * value);
        for (const result of results.slice(0, 3)) assertClose(result.dk, results[3].dk, tolerance, `L=${length} dk vs unchunked`);
      }
    });

    test("padded keys get exactly zero gradient and garbage in them changes nothing", async () => {
      const favor = await favorFor(build);
      for (const causal of [false, true]) {
        const length = 29;
        const shape = { batch: 2, heads: 2, length, dim: 4, valueDim: 3, layout: "blhd", keyPaddingMask: paddingMask(2, length, 5) };
        const clean = inputs(shape, 120);
        const dirty = { ...clean, k: clean.k.slice(), v: clean.v.slice() };
        const garbage = [NaN, Infinity, -3e38, 1e30];
        for (let item = 0; item < 2; item++) {
          for (let head = 0; head < 2; head++) {
            const kRows = headRows(shape, item, head, length, 4);
            const vRows = headRows(shape, item, head, length, 3);
            for (let j = 0; j < length; j++) {
              if (shape.keyPaddingMask[item * length + j] !== 1) continue;
              for (let c = 0; c < 4; c++) dirty.k[kRows.offset + j * kRows.ld + c] = garbage[(j + c) % 4];
              for (let c = 0; c < 3; c++) dirty.v[vRows.offset + j * vRows.ld + c] = garbage[(j + c + 1) % 4];
            }
          }
        }
        const options = { ...shape, causal, kernel: GAUSSIAN, features: 4, lambdaFeatures: 3, seed: 4, chunk: 6, returnProjectionGradient: true };
        const a = favor.sync.attentionBackward(clean.q, clean.k, clean.v, clean.gradOut, options);
        const b = favor.sync.attentionBackward(dirty.q, dirty.k, dirty.v, dirty.gradOut, options);
        assertSameBits(b.dq, a.dq, `causal ${causal} dq`);
        for (const part of ["base1", "base2", "lambda"]) assertSameBits(b.dprojection[part], a.dprojection[part], part);
        for (let item = 0; item < 2; item++) {
          for (let head = 0; head < 2; head++) {
            const kRows = headRows(shape, item, head, length, 4);
            const vRows = headRows(shape, item, head, length, 3);
            for (let j = 0; j < length; j++) {
              const padded = shape.keyPaddingMask[item * length + j] === 1;
              for (let c = 0; c < 4; c++) {
                const value = b.dk[kRows.offset + j * kRows.ld + c];
                assert.ok(padded ? Object.is(value, 0) : Object.is(value, a.dk[kRows.offset + j * kRows.ld + c]), `dk of key ${j}`);
              }
              for (let c = 0; c < 3; c++) if (padded) assert.ok(Object.is(b.dv[vRows.offset + j * vRows.ld + c], 0), `dv of key ${j}`);
            }
          }
        }
      }
    });

    test("directional derivatives of favor.attention match the gradient (Gaussian weight)", async () => {
      // As in attention-backward.test.js: a central difference of the
      // float32 op with step 1e-2 along a random direction agrees with the
      // gradient to 1e-3 of Σ|∂_i·u_i|. Only the Gaussian weight is smooth
      // along such a path. A step of 1e-2 would flip some angular signs,
      // and the gradient (zero almost everywhere) does not describe those jumps.
      const favor = await favorFor(build);
      for (const mode of MODES) {
        const shape = { batch: 2, heads: 2, length: 31, dim: 4, valueDim: 3, layout: "blhd" };
        if (mode.padded) shape.keyPaddingMask = paddingMask(2, 31, 8);
        const data = inputs(shape, 170);
        const options = { ...shape, causal: mode.causal, kernel: GAUSSIAN, features: 4, lambdaFeatures: 3, seed: 6, chunk: 8 };
        const grads = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
        const direction = { q: seededFloats(data.q.length, 171), k: seededFloats(data.k.length, 172), v: seededFloats(data.v.length, 173) };
        const step = 1e-2;
        const shifted = (sign) => {
          const moved = {};
          for (const name of ["q", "k", "v"]) moved[name] = data[name].map((x, i) => x + sign * step * direction[name][i]);
          const out = favor.sync.attention(moved.q, moved.k, moved.v, options);
          return out.reduce((sum, value, i) => sum + value * data.gradOut[i], 0);
        };
        const difference = (shifted(1) - shifted(-1)) / (2 * step);
        let predicted = 0;
        let size = 0;
        for (const name of ["q", "k", "v"]) {
          grads[`d${name}`].forEach((g, i) => {
            predicted += g * direction[name][i];
            size += Math.abs(g * direction[name][i]);
          });
        }
        assert.ok(Math.abs(difference - predicted) <= 1e-3 * size,
          `${mode.name}: central difference ${difference}, gradient ${predicted}, terms ${size}`);
      }
    });
  });
}
