// attentionBackward (FAVOR+ gradients) in three steps:
//   1. the float64 analytic gradient (tests/reference/backward.js) against
//      central differences of the float64 forward, on tiny sizes (L = 7,
//      m = 3, d = 2), for every kind and mode;
//   2. the float32 WASM gradients against the float64 analytic ones on every
//      build, up to L = 1000, with the tolerance chain·u·M derived in
//      gradientTolerance (M = the same gradient summed in magnitudes);
//   3. properties: chunk sizes, stabilizer independence, padding, inputs
//      unchanged, long-sequence drift of the start states, argument checks.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { headRows } from "../reference/attention.js";
import {
  attentionBackward64,
  attentionLoss64,
  centralDifference,
  exponentSize,
  featureMap64,
  featureVjp64,
  gradientTolerance,
  startStateCase,
  worstErrorRatio,
} from "../reference/backward.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertClose, assertSameBits, seededFloats } from "../helpers/numeric.js";
import { attentionInputs as inputs } from "../helpers/attention-inputs.js";

const ALL_KINDS = ["positive", "hyperbolic", "trig", "relu", "elu+1", "exp", "abs", "identity"];

/** The four modes every kind is checked in. */
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

/** Overwrites every padded key and value row with `garbage` values. */
function poison(shape, k, v, garbage) {
  const keyLength = shape.keyLength ?? shape.length;
  const valueDim = shape.valueDim ?? shape.dim;
  const mask = shape.keyPaddingMask;
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

// The float64 references of a case, computed once and shared by the three builds.
const referenceCache = new Map();

/** Returns the float64 gradient and its magnitudes for a case named `context` (the same inputs on every build). */
function referenceFor(q, k, v, gradOut, shape, options, context) {
  const key = `${context} ${options.chunk ?? ""}`;
  if (!referenceCache.has(key)) {
    const plain = { ...options, chunk: undefined };
    referenceCache.set(key, {
      ref: attentionBackward64(q, k, v, gradOut, shape, plain),
      size: attentionBackward64(q, k, v, gradOut, shape, plain, { absolute: true }),
    });
  }
  return referenceCache.get(key);
}

/**
 * Runs attentionBackward and compares dq, dk, dv (and dprojection) with the
 * float64 analytic gradient, each element within gradientTolerance of its
 * magnitude. Returns the WASM result.
 */
function checkAgainstReference(favor, shape, options, data, context) {
  const { q, k, v, gradOut } = data;
  const got = favor.sync.attentionBackward(q, k, v, gradOut, { ...shape, ...options });
  const { ref, size } = referenceFor(q, k, v, gradOut, shape, options, context);
  const keyLength = shape.keyLength ?? shape.length;
  const valueDim = shape.valueDim ?? shape.dim;
  const features = options.features;
  const r = features === 0 ? shape.dim : (["hyperbolic", "trig"].includes(options.kernel) ? 2 : 1) * features;
  const chain = {
    keys: keyLength + 1, r, dim: shape.dim, valueDim,
    exponentSize: exponentSize(q, k, shape, options),
  };
  assertClose(got.dq, ref.dq, gradientTolerance(size.dq, chain), `${context} dq`);
  assertClose(got.dk, ref.dk, gradientTolerance(size.dk, chain), `${context} dk`);
  assertClose(got.dv, ref.dv, gradientTolerance(size.dv, chain), `${context} dv`);
  if (options.returnProjectionGradient) {
    // dW sums the terms of every row of every head that shares W.
    const rows = shape.batch * (shape.length + keyLength) * (ref.dprojection.length === features * shape.dim ? shape.heads : 1);
    assertClose(got.dprojection, ref.dprojection, gradientTolerance(size.dprojection, { ...chain, keys: chain.keys + rows }),
      `${context} dprojection`);
  }
  return got;
}

/** Returns the smallest |ω_l·x̃| over every row of q and k and the projection rows (shared, or one matrix per head). */
function smallestPreactivation(rowsList, dim, projection) {
  const scale = dim ** -0.25;
  let smallest = Infinity;
  for (const rows of rowsList) {
    for (let row = 0; row < rows.length / dim; row++) {
      for (let l = 0; l < projection.length / dim; l++) {
        let t = 0;
        for (let c = 0; c < dim; c++) t += projection[l * dim + c] * rows[row * dim + c] * scale;
        smallest = Math.min(smallest, Math.abs(t));
      }
    }
  }
  return smallest;
}

/**
 * Asserts that every element of `grad` matches the central difference of
 * `loss` in x[index]. With step h the difference has truncation error
 * about c·h² and rounding error about eps64·|loss|/h. The tolerance adds
 * 1e-7·(1 + |∂|) for rounding and |D(2h) − D(h)|, which estimates the
 * truncation error (Richardson: D(2h) − D(h) ≈ 3c·h²). A wrong or missing
 * term changes an element by O(1e-2) or more on these inputs, far above both.
 */
function assertCentralDifferences(loss, x, grad, step, context) {
  for (let i = 0; i < grad.length; i++) {
    const fd = centralDifference(loss, x, i, step);
    const coarse = centralDifference(loss, x, i, 2 * step);
    const tolerance = 1e-7 * (1 + Math.abs(grad[i])) + Math.abs(coarse - fd);
    assert.ok(Math.abs(fd - grad[i]) <= tolerance,
      `${context}[${i}]: analytic ${grad[i]}, central difference ${fd}, tolerance ${tolerance}`);
  }
}

describe("float64 reference gradients against central differences", () => {
  const step = 1e-5;
  for (const kernel of ALL_KINDS) {
    for (const mode of MODES) {
      test(`${kernel}, ${mode.name}`, () => {
        const length = 7, dim = 2, features = 3, heads = 2, batch = 2;
        const shape = { batch, heads, length, dim, valueDim: 3, layout: "blhd" };
        if (mode.padded) shape.keyPaddingMask = paddingMask(batch, length, 11);
        const projection = seededFloats(heads * features * dim, 5, 1.5);
        // relu and abs have kinks at ω·x̃ = 0: take the first seed whose
        // preactivations all stay 1e-3 (100 steps) away from them.
        let seed = 20 + ALL_KINDS.indexOf(kernel);
        let data = inputs(shape, seed);
        while ((kernel === "relu" || kernel === "abs") && smallestPreactivation([data.q, data.k], dim, projection) < 1e-3) {
          seed += 100;
          data = inputs(shape, seed);
        }
        const options = { causal: mode.causal, kernel, features, projection };
        const ref = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, options);
        const x = {
          q: Float64Array.from(data.q), k: Float64Array.from(data.k), v: Float64Array.from(data.v),
          projection: Float64Array.from(projection),
        };
        const loss = () => attentionLoss64(x.q, x.k, x.v, data.gradOut, shape, { ...options, projection: x.projection });
        for (const [name, grad] of [["q", ref.dq], ["k", ref.dk], ["v", ref.dv], ["projection", ref.dprojection]]) {
          assertCentralDifferences(loss, x[name], grad, step, `d${name}`);
        }
      });
    }
  }

  test("no projection: generalized kinds on the rows themselves", () => {
    const shape = { batch: 1, heads: 1, length: 7, dim: 3, layout: "bhld" };
    for (const kernel of ["relu", "elu+1", "exp", "abs", "identity"]) {
      const data = inputs(shape, 40);
      // Keep relu and abs away from their kinks and identity's denominator positive.
      for (const rows of [data.q, data.k]) for (let i = 0; i < rows.length; i++) rows[i] = 0.2 + Math.abs(rows[i]);
      const options = { causal: true, kernel, features: 0 };
      const ref = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, options);
      const x = { q: Float64Array.from(data.q), k: Float64Array.from(data.k), v: Float64Array.from(data.v) };
      const loss = () => attentionLoss64(x.q, x.k, x.v, data.gradOut, shape, options);
      for (const [name, grad] of [["q", ref.dq], ["k", ref.dk], ["v", ref.dv]]) {
        assertCentralDifferences(loss, x[name], grad, step, `${kernel} d${name}`);
      }
    }
  });

  test("feature-map gradient of a single row against central differences", () => {
    const dim = 3;
    const projection = Float64Array.from(seededFloats(4 * dim, 3, 1.3));
    const x = Float64Array.from(seededFloats(dim, 4));
    for (const kernel of ALL_KINDS) {
      const map = { kind: kernel, dim, projection };
      const r = featureMap64(x, map).length;
      const dphi = Float64Array.from(seededFloats(r, 8));
      const dprojection = new Float64Array(projection.length);
      const dx = featureVjp64(x, dphi, map, dprojection);
      const value = () => featureMap64(x, map).reduce((sum, phi, l) => sum + phi * dphi[l], 0);
      for (let c = 0; c < dim; c++) {
        const fd = centralDifference(value, x, c, 1e-6);
        assert.ok(Math.abs(fd - dx[c]) <= 1e-8 * (1 + Math.abs(dx[c])), `${kernel} dx[${c}]: ${dx[c]} vs ${fd}`);
      }
      for (let i = 0; i < projection.length; i++) {
        const fd = centralDifference(value, projection, i, 1e-6);
        assert.ok(Math.abs(fd - dprojection[i]) <= 1e-8 * (1 + Math.abs(dprojection[i])), `${kernel} dW[${i}]`);
      }
    }
  });
});

for (const build of ALL_BUILDS) {
  describe(`attentionBackward (${build})`, { skip: skipReason(build) }, () => {
    test("every kind and mode against the float64 gradient", async () => {
      const favor = await favorFor(build);
      for (const kernel of ALL_KINDS) {
        for (const mode of MODES) {
          for (const length of [1, 7, 33]) {
            const shape = { batch: 2, heads: 2, length, dim: 4, valueDim: 3, layout: "bhld" };
            if (mode.padded) shape.keyPaddingMask = paddingMask(2, length, length);
            const data = inputs(shape, length + ALL_KINDS.indexOf(kernel));
            const projection = favor.sync.projection({ features: 6, dim: 4, seed: 3 });
            const options = { causal: mode.causal, kernel, features: 6, projection, chunk: 5, returnProjectionGradient: true };
            checkAgainstReference(favor, shape, options, data, `${kernel} ${mode.name} L=${length}`);
          }
        }
      }
    });

    test("long sequences, both layouts, per-head projections", async () => {
      const favor = await favorFor(build);
      const cases = [
        { length: 1000, heads: 1, layout: "bhld", causal: true, kernel: "positive" },
        { length: 300, heads: 2, layout: "blhd", causal: true, kernel: "relu", keyPadding: true },
        { length: 257, heads: 2, layout: "blhd", causal: false, kernel: "hyperbolic", keyLength: 511 },
        { length: 130, heads: 3, layout: "bhld", causal: true, kernel: "elu+1", perHead: true },
      ];
      for (const c of cases) {
        const dim = 8;
        const shape = { batch: 1, heads: c.heads, length: c.length, keyLength: c.keyLength, dim, valueDim: 5, layout: c.layout };
        if (c.keyLength === undefined) delete shape.keyLength;
        if (c.keyPadding) shape.keyPaddingMask = paddingMask(1, c.length, 3);
        const data = inputs(shape, c.length);
        const features = 16;
        const projection = c.perHead ? seededFloats(c.heads * features * dim, 9) : favor.sync.projection({ features, dim, seed: 5 });
        const options = { causal: c.causal, kernel: c.kernel, features, projection, returnProjectionGradient: true };
        checkAgainstReference(favor, shape, options, data, JSON.stringify(c));
      }
    });

    test("generalized kinds without a projection", async () => {
      const favor = await favorFor(build);
      for (const kernel of ["relu", "elu+1", "exp", "abs", "identity"]) {
        for (const causal of [false, true]) {
          const shape = { batch: 1, heads: 2, length: 40, dim: 5, valueDim: 3, layout: "blhd" };
          const data = inputs(shape, 200);
          if (kernel === "identity") {
            // Positive rows keep the identity map's denominators away from 0.
            for (const rows of [data.q, data.k]) for (let i = 0; i < rows.length; i++) rows[i] = 0.2 + Math.abs(rows[i]);
          }
          checkAgainstReference(favor, shape, { causal, kernel, features: 0, chunk: 6 }, data, `${kernel} causal ${causal} no projection`);
        }
      }
    });

    test("chunk sizes 1, 2, 7 and the whole length agree", async () => {
      const favor = await favorFor(build);
      for (const length of [23, 64, 65]) {
        const shape = { batch: 1, heads: 2, length, dim: 4, layout: "blhd" };
        const data = inputs(shape, 70 + length);
        const projection = favor.sync.projection({ features: 8, dim: 4, seed: 9 });
        for (const kernel of ["positive", "trig", "relu"]) {
          const base = { causal: true, kernel, features: 8, projection };
          const results = [1, 2, 7, length].map((chunk) =>
            checkAgainstReference(favor, shape, { ...base, chunk }, data, `${kernel} L=${length} chunk ${chunk}`));
          // Each result is within tolerance τ of the reference, so any two are within 2τ.
          const size = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, base, { absolute: true });
          const tolerance = gradientTolerance(size.dq, { keys: length + 1, r: kernel === "trig" ? 16 : 8, dim: 4, valueDim: 4,
            exponentSize: exponentSize(data.q, data.k, shape, base) }).map((value) => 2 * value);
          for (const result of results.slice(0, 3)) assertClose(result.dq, results[3].dq, tolerance, `${kernel} dq vs unchunked`);
        }
      }
    });

    test("stabilizers do not change the gradients", async () => {
      // Inputs of norm about 8·d^{1/4} give exponents up to about ±50, and
      // keys of growing size make the running key shift climb chunk by
      // chunk. Without the shifts exp would overflow float32 (e^89) in the
      // products. With them the gradients still match the float64
      // reference, which has no stabilizer at all, and they do not depend
      // on the chunking that sets the shift sequence.
      const favor = await favorFor(build);
      const length = 40, dim = 4;
      const shape = { batch: 1, heads: 1, length, dim, layout: "bhld" };
      const data = inputs(shape, 90, 2.5);
      for (let j = 0; j < length; j++) for (let c = 0; c < dim; c++) data.k[j * dim + c] *= 1 + j / 10;
      const projection = favor.sync.projection({ features: 8, dim, seed: 2 });
      for (const kernel of ["positive", "hyperbolic", "exp"]) {
        const base = { causal: true, kernel, features: 8, projection };
        const ref = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, base);
        const size = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, base, { absolute: true });
        const chain = { keys: length + 1, r: kernel === "hyperbolic" ? 16 : 8, dim, valueDim: dim,
          exponentSize: exponentSize(data.q, data.k, shape, base) };
        for (const chunk of [1, 3, length]) {
          const got = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...shape, ...base, chunk });
          assertClose(got.dq, ref.dq, gradientTolerance(size.dq, chain), `${kernel} chunk ${chunk} dq`);
          assertClose(got.dk, ref.dk, gradientTolerance(size.dk, chain), `${kernel} chunk ${chunk} dk`);
          assertClose(got.dv, ref.dv, gradientTolerance(size.dv, chain), `${kernel} chunk ${chunk} dv`);
        }
        const bidirectional = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...shape, ...base, causal: false });
        const refBidirectional = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, { ...base, causal: false });
        const sizeBidirectional = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, { ...base, causal: false }, { absolute: true });
        assertClose(bidirectional.dk, refBidirectional.dk, gradientTolerance(sizeBidirectional.dk, chain), `${kernel} bidirectional dk`);
      }
    });

    test("padded keys get exactly zero gradient and garbage in them changes nothing", async () => {
      const favor = await favorFor(build);
      for (const causal of [false, true]) {
        for (const layout of ["bhld", "blhd"]) {
          const length = 37;
          const shape = { batch: 2, heads: 2, length, dim: 4, valueDim: 3, layout, keyPaddingMask: paddingMask(2, length, 5) };
          const clean = inputs(shape, 120);
          poison(shape, clean.k, clean.v, [0]);
          const dirty = { ...clean, k: clean.k.slice(), v: clean.v.slice() };
          poison(shape, dirty.k, dirty.v, [NaN, Infinity, -3e38, 1e30]);
          const options = { ...shape, causal, kernel: "positive", features: 8, seed: 4, chunk: 6, returnProjectionGradient: true };
          const a = favor.sync.attentionBackward(clean.q, clean.k, clean.v, clean.gradOut, options);
          const b = favor.sync.attentionBackward(dirty.q, dirty.k, dirty.v, dirty.gradOut, options);
          assertSameBits(b.dq, a.dq, `${layout} causal ${causal} dq`);
          assertSameBits(b.dk, a.dk, `${layout} causal ${causal} dk`);
          assertSameBits(b.dv, a.dv, `${layout} causal ${causal} dv`);
          assertSameBits(b.dprojection, a.dprojection, `${layout} causal ${causal} dprojection`);
          for (let item = 0; item < 2; item++) {
            for (let head = 0; head < 2; head++) {
              const kRows = headRows(shape, item, head, length, 4);
              const vRows = headRows(shape, item, head, length, 3);
              for (let j = 0; j < length; j++) {
                if (shape.keyPaddingMask[item * length + j] !== 1) continue;
                for (let c = 0; c < 4; c++) assert.ok(Object.is(b.dk[kRows.offset + j * kRows.ld + c], 0), `dk of padded key ${j}`);
                for (let c = 0; c < 3; c++) assert.ok(Object.is(b.dv[vRows.offset + j * vRows.ld + c], 0), `dv of padded key ${j}`);
              }
            }
          }
        }
      }
    });

    test("directional derivatives of the attention op match the gradient", async () => {
      // The gradient must belong to favor.attention itself (same options,
      // scaling and stabilizers). A central difference of the float32 op
      // along a random direction u with step h = 1e-2 has truncation error
      // O(h²) and float32 noise about 1e-6/h, both near 1e-5 of the terms
      // Σ|∂_i·u_i| (measured: 2e-6 to 1e-5 on these inputs), so 1e-3 of
      // that sum separates a matching gradient from a wrong one: a missing
      // d^{-1/4} or a dropped term moves the derivative by a large fraction.
      // Kernels smooth along the path only: relu and abs have kinks that a
      // step of 1e-2 crosses.
      const favor = await favorFor(build);
      for (const mode of MODES) {
        for (const kernel of ["positive", "elu+1", "trig"]) {
          const shape = { batch: 2, heads: 2, length: 45, dim: 4, valueDim: 3, layout: "blhd" };
          if (mode.padded) shape.keyPaddingMask = paddingMask(2, 45, 8);
          const data = inputs(shape, 170);
          const options = { ...shape, causal: mode.causal, kernel, features: 8, seed: 6, chunk: 8 };
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
            `${kernel} ${mode.name}: central difference ${difference}, gradient ${predicted}, terms ${size}`);
        }
      }
    });

    test("inputs come back unchanged and the Promise form agrees", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 2, length: 20, dim: 4, layout: "blhd" };
      const data = inputs(shape, 150);
      const projection = favor.sync.projection({ features: 5, dim: 4, seed: 1 });
      const copies = [data.q, data.k, data.v, data.gradOut, projection].map((array) => array.slice());
      const options = { ...shape, causal: true, kernel: "positive", features: 5, projection, returnProjectionGradient: true };
      const sync = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
      const promised = await favor.attentionBackward(data.q, data.k, data.v, data.gradOut, options);
      [data.q, data.k, data.v, data.gradOut, projection].forEach((array, i) => assertSameBits(array, copies[i], `input ${i} changed`));
      for (const name of ["dq", "dk", "dv", "dprojection"]) assertSameBits(promised[name], sync[name], name);
      // A seed draws the same projection as projection({ features, dim, seed }).
      const seeded = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...options, projection: undefined, seed: 1 });
      assertSameBits(seeded.dq, sync.dq, "seeded dq");
    });

    test("start-state options agree; float32 subtraction stays close on benign inputs", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 1, length: 300, dim: 4, layout: "bhld" };
      const data = inputs(shape, 160);
      const base = { ...shape, causal: true, kernel: "positive", features: 8, seed: 2, chunk: 16 };
      const ref = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape, { ...base, projection: favor.sync.projection({ features: 8, dim: 4, seed: 2 }) });
      const size = attentionBackward64(data.q, data.k, data.v, data.gradOut, shape,
        { ...base, projection: favor.sync.projection({ features: 8, dim: 4, seed: 2 }) }, { absolute: true });
      const tolerance = gradientTolerance(size.dq, { keys: 301, r: 8, dim: 4, valueDim: 4, exponentSize: 4 });
      for (const extra of [{}, { stateCheckpoints: 1 }, { stateCheckpoints: 3 }, { stateCheckpoints: 100 },
        { statePrecision: "float32", stateCheckpoints: 4 }, { statePrecision: "float32" }]) {
        const got = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...base, ...extra });
        assertClose(got.dq, ref.dq, tolerance, JSON.stringify(extra));
      }
      // The compensated state is exactly reversible here, so subtraction and checkpoints give the same bits.
      const subtract = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, base);
      const checkpointed = favor.sync.attentionBackward(data.q, data.k, data.v, data.gradOut, { ...base, stateCheckpoints: 5 });
      assertSameBits(subtract.dq, checkpointed.dq, "dq");
      assertSameBits(subtract.dk, checkpointed.dk, "dk");
    });

    test("argument errors name the op, the argument and the rule", async () => {
      const favor = await favorFor(build);
      const shape = { batch: 1, heads: 1, length: 4, dim: 2, layout: "bhld" };
      const x = new Float32Array(8);
      const ok = { ...shape, causal: true, kernel: "positive", features: 3, seed: 1 };
      const cases = [
        [[x, x, x, x, null], TypeError, /^attentionBackward: options must be an object, got null$/],
        [[x, x, x, new Float32Array(7), ok], RangeError,
          /^attentionBackward: gradOut has length 7, expected 8 \(batch 1 × heads 1 × length 4 × valueDim 2, layout "bhld"\)$/],
        [[x, x, x, [0], ok], TypeError, /^attentionBackward: gradOut must be a Float32Array, got an Array of length 1$/],
        [[x, x, x, x, { ...ok, kernel: undefined }], TypeError, /^attentionBackward: kernel is missing; pass one of "positive"/],
        [[x, x, x, x, { ...ok, features: undefined }], TypeError, /^attentionBackward: features is missing; pass the number/],
        [[x, x, x, x, { ...ok, seed: undefined }], TypeError, /^attentionBackward: seed is missing; pass a seed/],
        [[x, x, x, x, { ...ok, causal: undefined }], TypeError, /^attentionBackward: causal is missing; pass true/],
        [[x, x, x, x, { ...ok, projection: new Float32Array(5) }], RangeError,
          /^attentionBackward: projection has length 5, expected 6 \(features 3 × dim 2, shared by every head\) or 6/],
        [[x, x, x, x, { ...ok, chunk: 0 }], RangeError, /^attentionBackward: chunk must be an integer >= 1, got 0$/],
        [[x, x, x, x, { ...ok, stateCheckpoints: -1 }], RangeError, /^attentionBackward: stateCheckpoints must be an integer >= 0, got -1$/],
        [[x, x, x, x, { ...ok, statePrecision: "float16" }], RangeError,
          /^attentionBackward: statePrecision must be one of "compensated", "float32", got "float16"$/],
        [[x, x, x, x, { ...ok, causal: false, stateCheckpoints: 2 }], RangeError,
          /^attentionBackward: stateCheckpoints and statePrecision apply only to causal attention/],
        [[x, x, x, x, { ...ok, returnProjectionGradient: 1 }], TypeError,
          /^attentionBackward: returnProjectionGradient must be a boolean, got 1$/],
        [[x, x, x, x, { ...ok, kernel: "relu", features: 0, seed: undefined, returnProjectionGradient: true }], RangeError,
          /^attentionBackward: returnProjectionGradient is true but features is 0, so there is no projection to differentiate$/],
        [[x, x, x, x, { ...ok, kernel: "gauss" }], RangeError, /^attentionBackward: kernel must be one of "positive", .*got "gauss"$/],
        [[x, x, x, x, { ...ok, kernel: "angular-hybrid" }], TypeError, /^attentionBackward: lambdaFeatures is missing; /],
      ];
      for (const [args, type, pattern] of cases) {
        assert.throws(() => favor.sync.attentionBackward(...args), (error) => error instanceof type && pattern.test(error.message),
          `expected ${type.name} ${pattern}`);
      }
      await assert.rejects(favor.attentionBackward(x, x, x, x, { ...ok, chunk: 0 }), RangeError);
    });
  });
}

describe("attentionBackward start states over 100,000 positions", () => {
  // startStateCase (tests/reference/backward.js) builds keys whose features
  // grow from about 1e-6 to 1e3 along the sequence and the float64
  // gradients with every prefix state kept, plus the magnitudes M of the
  // terms behind each element. Bound for the default path: the chunk's
  // products and the read of the start state contribute C + r + dim + dv
  // roundings, the state gradient R adds one rounding per chunk (L/C), and
  // 16 covers the divisions and the feature-map step, so
  // |error| <= (C + L/C + r + dim + dv + 16)·u·M. A float32 state rebuilt
  // by subtraction cancels the later keys' large terms against the early
  // states: it is measured, reported and expected to exceed that bound by
  // orders of magnitude, which shows that the input really is adversarial.
  // About 1–1.5 s per kernel on the development machine, most of it in the
  // float64 reference.
  const length = 100000, chunk = 64;

  for (const kernel of ["relu", "exp"]) {
    test(`${kernel} keys from 1e-6 to 1e3`, async (t) => {
      const c = startStateCase(kernel, { length, chunk });
      assert.ok(c.smallest <= 1e-6, `smallest key feature ${c.smallest}, expected at most 1e-6`);
      assert.ok(c.largest >= 1e3, `largest key feature ${c.largest}, expected at least 1e3`);
      for (const build of ALL_BUILDS) {
        const favor = await favorFor(build);
        if (favor === null) continue;
        const got = favor.sync.attentionBackward(c.q, c.k, c.v, c.gradOut, c.options);
        const ratio = worstErrorRatio(got, c);
        t.diagnostic(`${build}: default path (compensated subtraction) worst error ${ratio.toFixed(1)}·u·M, bound ${c.chain.toFixed(0)}·u·M`);
        assert.ok(ratio <= c.chain, `${build}: error ${ratio}·u·M exceeds ${c.chain}·u·M`);
      }
      const favor = (await favorFor("simd")) ?? (await favorFor("scalar"));
      const float32 = favor.sync.attentionBackward(c.q, c.k, c.v, c.gradOut, { ...c.options, statePrecision: "float32" });
      const ratio = worstErrorRatio(float32, c);
      t.diagnostic(`${favor.info.build}: float32 subtraction worst error ${ratio.toExponential(2)}·u·M`);
      assert.ok(ratio > 1000 * c.chain, `float32 subtraction error ${ratio}·u·M: the input no longer separates the paths`);
      const checkpointed = favor.sync.attentionBackward(c.q, c.k, c.v, c.gradOut,
        { ...c.options, statePrecision: "float32", stateCheckpoints: 16 });
      const checkpointRatio = worstErrorRatio(checkpointed, c);
      t.diagnostic(`${favor.info.build}: float32 state with a checkpoint every 16 chunks ${checkpointRatio.toFixed(1)}·u·M`);
      assert.ok(checkpointRatio <= c.chain, `checkpoint error ${checkpointRatio}·u·M exceeds ${c.chain}·u·M`);
    });
  }
});
