// favor.kernel.softmax / kernel.gaussian / kernel.projection and the hybrid
// feature maps on every WASM build, against the float64 references in
// tests/reference/kernels.js:
//   - "exact" is computed in float64 and rounded once, so it must be within
//     0.5 ULP (plus 1e-3 ULP for the float64 sum and exp) of the float64
//     reference;
//   - estimates with an explicit projection must be within the per-pair
//     rounding bound of estimateReference (derived there from the feature
//     bounds of tests/reference/features.js, the GEMM's r·u·Σ|terms| and
//     the final rounding);
//   - hybrid features Ψ within the per-element bounds of
//     hybridFeaturesReference, and Ψ_q·Ψ_k equal to the hybrid estimate.
// The statistical claims (unbiasedness, MSE) are in kernel-stats.test.js.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  estimateReference,
  gaussianKernel,
  hybridFeaturesReference,
  softmaxKernel,
} from "../reference/kernels.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { assertClose, assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";
import { ulpError } from "../helpers/ulp.js";
import { backendOf } from "../../dist/internal.js";
import { planHybridFeatureMap, hybridScratchElements } from "../../dist/api/hybrid.js";
import { writeHybridFeatures } from "../../dist/backends/wasm/ops/hybrid.js";
import { PROJECTION_KINDS } from "../../dist/api/projection.js";

const GAUSSIAN_HYBRID = { hybrid: ["positive", "trig"], lambda: { kind: "gaussian", sigma: 1.5 } };
const POSITIVE_ANGULAR = { hybrid: ["positive", "hyperbolic"], lambda: "angular" };
const ESTIMATORS = ["positive", "hyperbolic", "trig", "angular-hybrid", GAUSSIAN_HYBRID, POSITIVE_ANGULAR];
const HYBRIDS = ["angular-hybrid", GAUSSIAN_HYBRID, POSITIVE_ANGULAR];

/** Returns the reference's form of an estimator: a base name, or { bases, lambda, sigma }. */
function normalized(estimator) {
  if (estimator === "angular-hybrid") return { bases: ["trig", "hyperbolic"], lambda: "angular", sigma: 1 };
  if (typeof estimator === "string") return estimator;
  const gaussian = typeof estimator.lambda === "object";
  return { bases: estimator.hybrid, lambda: gaussian ? "gaussian" : "angular", sigma: gaussian ? estimator.lambda.sigma : 1 };
}

function label(estimator) {
  return typeof estimator === "string" ? estimator : JSON.stringify(estimator);
}

/** Rows scaled like attention inputs: entries in [−1, 1)·scale. */
function inputs(rows, dim, seed, scale = 0.6) {
  return seededFloats(rows * dim, seed, scale);
}

/** Returns rows with the given norms in seeded directions. */
function rowsWithNorms(norms, dim, seed) {
  const x = new Float32Array(norms.length * dim);
  norms.forEach((norm, i) => {
    const direction = seededFloats(dim, seed + i);
    const length = Math.hypot(...direction);
    for (let c = 0; c < dim; c++) x[i * dim + c] = (direction[c] * norm) / length;
  });
  return x;
}

/** Draws the projections of an estimator with favor.projection (draws 0, 1, 2 for hybrids). */
function projectionsFor(favor, estimator, { features, lambdaFeatures = features, dim, seed, kind = "iid" }) {
  if (typeof estimator === "string" && estimator !== "angular-hybrid") {
    return favor.sync.projection({ features, dim, kind, seed });
  }
  return {
    base1: favor.sync.projection({ features, dim, kind, seed, draw: 0 }),
    base2: favor.sync.projection({ features, dim, kind, seed, draw: 1 }),
    lambda: favor.sync.projection({ features: lambdaFeatures, dim, kind, seed, draw: 2 }),
  };
}

/**
 * Compares a kernel result with the reference: within the bound where the
 * reference rounds to a finite float32, and the same infinity where it
 * overflows float32.
 */
function assertEstimates(got, reference, context) {
  assert.equal(got.length, reference.values.length, `${context}: length`);
  for (let i = 0; i < got.length; i++) {
    const expected = reference.values[i];
    if (!Number.isFinite(Math.fround(expected))) {
      assert.equal(got[i], Math.fround(expected), `${context}: index ${i} overflows float32 in the reference`);
      continue;
    }
    const error = Math.abs(got[i] - expected);
    if (!(error <= reference.bounds[i])) {
      assert.fail(`${context}: index ${i}: got ${got[i]}, expected ${expected}, error ${error} > tolerance ${reference.bounds[i]}`);
    }
  }
}

/** Runs kernel.softmax or kernel.gaussian with an explicit projection and checks it against the reference. */
function checkEstimate(favor, gaussian, x, y, shape, estimator, projection, context) {
  const { rowsX, rowsY, dim } = shape;
  const xCopy = x.slice();
  const yCopy = y.slice();
  const out = nanFilled(rowsX * rowsY);
  const op = gaussian ? favor.sync.kernel.gaussian : favor.sync.kernel.softmax;
  const result = op(x, y, { rowsX, rowsY, dim, estimator, projection, out });
  assert.equal(result, out, `${context}: the result is the given out array`);
  assert.deepEqual(x, xCopy, `${context}: x changed`);
  assert.deepEqual(y, yCopy, `${context}: y changed`);
  const reference = estimateReference(x, y, { rowsX, rowsY, dim, estimator: normalized(estimator), projection, gaussian });
  assertEstimates(result, reference, context);
  return result;
}

/** Float64 dot products Ψ_q(x_i)·Ψ_k(y_j)·exp(S_i + T_j) and their bounds from the element bounds. */
function tensorEstimates(q, k, qReference, kReference, rowsX, rowsY, outputs) {
  const values = new Float64Array(rowsX * rowsY);
  const bounds = new Float64Array(rowsX * rowsY);
  for (let i = 0; i < rowsX; i++) {
    for (let j = 0; j < rowsY; j++) {
      let sum = 0;
      let bound = 0;
      for (let l = 0; l < outputs; l++) {
        const a = q.features[i * outputs + l];
        const b = k.features[j * outputs + l];
        sum += a * b;
        // The library's elements are within the reference bounds, so each
        // product is off by at most |b|·bound_a + |a|·bound_b.
        bound += Math.abs(b) * qReference.bounds[i * outputs + l] + Math.abs(a) * kReference.bounds[j * outputs + l];
      }
      const factor = Math.exp(q.shift[i] + k.shift[j]);
      values[i * rowsY + j] = sum * factor;
      bounds[i * rowsY + j] = bound * factor;
    }
  }
  return { values, bounds };
}

for (const build of ALL_BUILDS) {
  describe(`kernel (${build})`, { skip: skipReason(build) }, () => {
    test("exact kernels are correctly rounded", async () => {
      const favor = await favorFor(build);
      let seed = 1;
      for (const dim of [1, 2, 3, 5, 16, 64]) {
        for (const [rowsX, rowsY] of [[1, 1], [3, 4], [7, 2]]) {
          for (const scale of [0.3, 1, 3]) {
            const x = inputs(rowsX, dim, seed++, scale);
            const y = inputs(rowsY, dim, seed++, scale);
            for (const gaussian of [false, true]) {
              const op = gaussian ? favor.sync.kernel.gaussian : favor.sync.kernel.softmax;
              const out = nanFilled(rowsX * rowsY);
              op(x, y, { rowsX, rowsY, dim, estimator: "exact", out });
              for (let i = 0; i < rowsX; i++) {
                for (let j = 0; j < rowsY; j++) {
                  const xi = x.subarray(i * dim, (i + 1) * dim);
                  const yj = y.subarray(j * dim, (j + 1) * dim);
                  const expected = gaussian ? gaussianKernel(xi, yj) : softmaxKernel(xi, yj);
                  const error = ulpError(out[i * rowsY + j], expected);
                  assert.ok(error <= 0.501, `${gaussian ? "gaussian" : "softmax"} dim=${dim} (${i}, ${j}): ${out[i * rowsY + j]} vs ${expected}, ${error} ULP`);
                }
              }
            }
          }
        }
      }
    });

    test("exact softmax overflows exactly where exp(xᵀy) exceeds float32", async () => {
      // xᵀy > ln(3.4028235e38) ≈ 88.72 makes the true value unrepresentable,
      // so +Infinity is the correctly rounded result. The Gaussian kernel is
      // at most 1 and never overflows.
      const favor = await favorFor(build);
      const dim = 8;
      const norms = [0, 1, 5, 9, 9.5, 10, 20, 30];
      const x = rowsWithNorms(norms, dim, 40);
      const rows = norms.length;
      const softmax = favor.sync.kernel.softmax(x, x, { rowsX: rows, rowsY: rows, dim, estimator: "exact" });
      const gaussian = favor.sync.kernel.gaussian(x, x, { rowsX: rows, rowsY: rows, dim, estimator: "exact" });
      let overflows = 0;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < rows; j++) {
          const xi = x.subarray(i * dim, (i + 1) * dim);
          const xj = x.subarray(j * dim, (j + 1) * dim);
          const expected = softmaxKernel(xi, xj);
          assert.ok(ulpError(softmax[i * rows + j], expected) <= 0.501, `softmax (${i}, ${j}): ${softmax[i * rows + j]} vs ${expected}`);
          assert.ok(ulpError(gaussian[i * rows + j], gaussianKernel(xi, xj)) <= 0.501, `gaussian (${i}, ${j})`);
          if (softmax[i * rows + j] === Infinity) overflows++;
        }
      }
      assert.ok(overflows > 0, "some pairs overflow float32");
      assert.ok(!softmax.some(Number.isNaN), "no NaN in softmax");
      assert.ok(!gaussian.some(Number.isNaN), "no NaN in gaussian");
    });

    test("estimates with an explicit projection match the reference", async () => {
      const favor = await favorFor(build);
      let seed = 100;
      for (const dim of [1, 2, 3, 5, 16]) {
        for (const [m, lambdaFeatures] of [[1, 1], [3, 5], [7, 4]]) {
          for (const [rowsX, rowsY] of [[1, 1], [4, 3], [5, 7]]) {
            const x = inputs(rowsX, dim, seed++);
            const y = inputs(rowsY, dim, seed++);
            for (const estimator of ESTIMATORS) {
              const kind = seed % 2 === 0 ? "iid" : "orthogonal";
              const projection = projectionsFor(favor, estimator, { features: m, lambdaFeatures, dim, seed: seed++, kind });
              for (const gaussian of [false, true]) {
                const context = `${gaussian ? "gaussian" : "softmax"} ${label(estimator)} dim=${dim} m=${m} rows=${rowsX}×${rowsY}`;
                checkEstimate(favor, gaussian, x, y, { rowsX, rowsY, dim }, estimator, projection, context);
              }
            }
          }
        }
      }
    });

    test("norms up to 30 give no NaN and overflow only with the estimate", async () => {
      // The features are shifted per row, so no exponential overflows before
      // the product; the shifts are undone per pair in float64. An estimate
      // can still exceed float32 (trig carries e^{(‖x‖² + ‖y‖²)/2}), and then
      // Infinity is the correct result. assertEstimates requires Infinity
      // where the reference overflows float32 and the bound elsewhere.
      const favor = await favorFor(build);
      const dim = 8;
      const norms = [0, 1, 5, 10, 20, 30];
      const rows = norms.length;
      const x = rowsWithNorms(norms, dim, 50);
      const y = rowsWithNorms(norms.slice().reverse(), dim, 60);
      for (const estimator of ESTIMATORS) {
        const projection = projectionsFor(favor, estimator, { features: 16, dim, seed: 61, kind: "orthogonal" });
        for (const gaussian of [false, true]) {
          const context = `${gaussian ? "gaussian" : "softmax"} ${label(estimator)} large norms`;
          const result = checkEstimate(favor, gaussian, x, y, { rowsX: rows, rowsY: rows, dim }, estimator, projection, context);
          assert.ok(!result.some(Number.isNaN), `${context}: NaN in the result`);
          if (gaussian && !(estimator === "trig" || estimator === GAUSSIAN_HYBRID)) {
            assert.ok(result.every(Number.isFinite), `${context}: Gaussian estimates without trig stay finite`);
          }
        }
      }
    });

    test("seeded estimators use the documented draws", async () => {
      const favor = await favorFor(build);
      const dim = 5, rowsX = 3, rowsY = 4;
      const x = inputs(rowsX, dim, 71);
      const y = inputs(rowsY, dim, 72);
      const shape = { rowsX, rowsY, dim };
      for (const projectionKind of PROJECTION_KINDS) {
        for (const norms of ["chi", "sqrt-d"]) {
          const draw = { seed: 9, projectionKind, norms };
          for (const t of [0, 2]) {
            const projection = favor.sync.projection({ features: 6, dim, kind: projectionKind, norms, seed: 9, draw: t });
            const seeded = favor.sync.kernel.softmax(x, y, { ...shape, estimator: "positive", features: 6, ...draw, draw: t });
            assertSameBits(seeded, favor.sync.kernel.softmax(x, y, { ...shape, estimator: "positive", projection }), `positive draw ${t}`);
            assertSameBits(favor.sync.kernel.projection({ estimator: "trig", dim, features: 6, ...draw, draw: t }), projection, "kernel.projection");

            const parts = {
              base1: favor.sync.projection({ features: 6, dim, kind: projectionKind, norms, seed: 9, draw: 3 * t }),
              base2: favor.sync.projection({ features: 6, dim, kind: projectionKind, norms, seed: 9, draw: 3 * t + 1 }),
              lambda: favor.sync.projection({ features: 4, dim, kind: projectionKind, norms, seed: 9, draw: 3 * t + 2 }),
            };
            const hybrid = favor.sync.kernel.gaussian(x, y, { ...shape, estimator: "angular-hybrid", features: 6, lambdaFeatures: 4, ...draw, draw: t });
            assertSameBits(hybrid, favor.sync.kernel.gaussian(x, y, { ...shape, estimator: "angular-hybrid", projection: parts }), `hybrid draw ${t}`);
            const drawn = favor.sync.kernel.projection({ estimator: GAUSSIAN_HYBRID, dim, features: 6, lambdaFeatures: 4, ...draw, draw: t });
            for (const name of ["base1", "base2", "lambda"]) assertSameBits(drawn[name], parts[name], `kernel.projection ${name}`);
          }
        }
      }
      // lambdaFeatures defaults to features; projectionKind to "orthogonal" and norms to "chi".
      const defaults = favor.sync.kernel.projection({ estimator: "angular-hybrid", dim, features: 3, seed: 4 });
      assertSameBits(defaults.lambda, favor.sync.projection({ features: 3, dim, seed: 4, draw: 2 }), "default lambda projection");
    });

    test("hybrid features match the reference layout", async () => {
      const favor = await favorFor(build);
      let seed = 300;
      for (const dim of [1, 3, 6]) {
        for (const [m, lambdaFeatures] of [[1, 1], [3, 4], [5, 2]]) {
          const rows = 5;
          const x = inputs(rows, dim, seed++);
          for (const estimator of HYBRIDS) {
            const projection = projectionsFor(favor, estimator, { features: m, lambdaFeatures, dim, seed: seed++, kind: "orthogonal" });
            const spec = normalized(estimator);
            const d = (kind) => (kind === "positive" ? m : 2 * m);
            const dl = spec.lambda === "angular" ? lambdaFeatures : 2 * lambdaFeatures;
            const outputs = (1 + dl) * (d(spec.bases[0]) + d(spec.bases[1]));
            for (const role of ["query", "key"]) {
              const context = `${label(estimator)} ${role} dim=${dim} m=${m} m_λ=${lambdaFeatures}`;
              const out = nanFilled(rows * outputs);
              const result = favor.sync.features(x, { rows, dim, kind: estimator, role, projection, out, returnStabilizer: true });
              assert.equal(result.features, out, `${context}: the result is the given out array`);
              const reference = hybridFeaturesReference(x, { rows, dim, estimator: spec, projection, role, shift: result.shift });
              assert.equal(reference.outputs, outputs, `${context}: dimension`);
              assertClose(result.features, reference.values, reference.bounds, context);
              if (role === "key") {
                assert.ok(result.shift.every((value) => value === result.shift[0]), `${context}: one key shift for the call`);
              }
            }
          }
        }
      }
    });

    test("angular-hybrid features have 4m(1 + m_λ) entries", async () => {
      const favor = await favorFor(build);
      const dim = 5, m = 3, lambdaFeatures = 4;
      const projection = favor.sync.kernel.projection({ estimator: "angular-hybrid", dim, features: m, lambdaFeatures, seed: 3 });
      const q = favor.sync.features(inputs(2, dim, 3), { rows: 2, dim, kind: "angular-hybrid", role: "query", projection });
      assert.equal(q.length, 2 * 4 * m * (1 + lambdaFeatures));
    });

    test("Ψ_q·Ψ_k equals the hybrid estimate", async () => {
      const favor = await favorFor(build);
      let seed = 400;
      for (const dim of [2, 5]) {
        for (const [m, lambdaFeatures] of [[2, 3], [4, 4]]) {
          const rowsX = 4, rowsY = 5;
          const x = inputs(rowsX, dim, seed++, 0.9);
          const y = inputs(rowsY, dim, seed++, 0.9);
          for (const estimator of HYBRIDS) {
            const projection = projectionsFor(favor, estimator, { features: m, lambdaFeatures, dim, seed: seed++, kind: "iid" });
            const spec = normalized(estimator);
            const context = `${label(estimator)} dim=${dim} m=${m}`;
            const q = favor.sync.features(x, { rows: rowsX, dim, kind: estimator, role: "query", projection, returnStabilizer: true });
            const k = favor.sync.features(y, { rows: rowsY, dim, kind: estimator, role: "key", projection, returnStabilizer: true });
            const qReference = hybridFeaturesReference(x, { rows: rowsX, dim, estimator: spec, projection, role: "query", shift: q.shift });
            const kReference = hybridFeaturesReference(y, { rows: rowsY, dim, estimator: spec, projection, role: "key", shift: k.shift });
            const tensor = tensorEstimates(q, k, qReference, kReference, rowsX, rowsY, qReference.outputs);
            const scalar = estimateReference(x, y, { rowsX, rowsY, dim, estimator: spec, projection });
            const kernel = favor.sync.kernel.softmax(x, y, { rowsX, rowsY, dim, estimator, projection });
            for (let i = 0; i < tensor.values.length; i++) {
              const error = Math.abs(tensor.values[i] - scalar.values[i]);
              assert.ok(error <= tensor.bounds[i] + 1e-12 * Math.abs(scalar.values[i]), `${context}: Ψ pair ${i}: ${tensor.values[i]} vs ${scalar.values[i]} (error ${error} > ${tensor.bounds[i]})`);
              const difference = Math.abs(tensor.values[i] - kernel[i]);
              assert.ok(difference <= tensor.bounds[i] + scalar.bounds[i], `${context}: Ψ pair ${i} vs kernel.softmax: ${tensor.values[i]} vs ${kernel[i]}`);
            }
          }
        }
      }
    });

    test("hybrid key shifts follow keyShift and maxExponent covers both bases", async () => {
      const favor = await favorFor(build);
      const dim = 6, m = 5, rows = 7;
      const x = inputs(rows, dim, 500, 1.2);
      for (const estimator of HYBRIDS) {
        const projection = projectionsFor(favor, estimator, { features: m, dim, seed: 501 });
        const spec = normalized(estimator);
        const free = favor.sync.features(x, { rows, dim, kind: estimator, role: "key", projection, returnStabilizer: true });
        const baseMaxima = [projection.base1, projection.base2].map((w, index) =>
          favor.sync.features(x, { rows, dim, kind: spec.bases[index], role: "key", projection: w, returnStabilizer: true }).maxExponent);
        assert.equal(free.maxExponent, Math.max(...baseMaxima), `${label(estimator)}: maxExponent`);
        assert.equal(free.shift[0], Math.fround(Math.max(...baseMaxima)), `${label(estimator)}: key shift is the larger base maximum`);
        const keyShift = free.shift[0] + 2.3;
        const fixed = favor.sync.features(x, { rows, dim, kind: estimator, role: "key", keyShift, projection, returnStabilizer: true });
        assert.ok(fixed.shift.every((value) => value === Math.fround(keyShift)), `${label(estimator)}: keyShift`);
        const reference = hybridFeaturesReference(x, { rows, dim, estimator: spec, projection, role: "key", shift: fixed.shift });
        assertClose(fixed.features, reference.values, reference.bounds, `${label(estimator)} keyShift`);
        const query = favor.sync.features(x, { rows, dim, kind: estimator, role: "query", projection, returnStabilizer: true });
        for (let i = 0; i < rows; i++) {
          const single = favor.sync.features(x.subarray(i * dim, (i + 1) * dim), { rows: 1, dim, kind: estimator, role: "query", projection, returnStabilizer: true });
          assert.equal(single.shift[0], query.shift[i], `${label(estimator)}: query shift of row ${i} depends on that row only`);
        }
      }
    });

    test("hybrid features at norms up to 30 stay finite", async () => {
      const favor = await favorFor(build);
      const dim = 8;
      const x = rowsWithNorms([0, 1, 5, 10, 20, 30], dim, 80);
      for (const estimator of HYBRIDS) {
        const projection = projectionsFor(favor, estimator, { features: 8, dim, seed: 81, kind: "orthogonal" });
        for (const role of ["query", "key"]) {
          const result = favor.sync.features(x, { rows: 6, dim, kind: estimator, role, projection, returnStabilizer: true });
          const index = result.features.findIndex((value) => !Number.isFinite(value));
          assert.equal(index, -1, `${label(estimator)} ${role}: feature ${index} is ${result.features[index]}`);
          const reference = hybridFeaturesReference(x, { rows: 6, dim, estimator: normalized(estimator), projection, role, shift: result.shift });
          assertClose(result.features, reference.values, reference.bounds, `${label(estimator)} ${role} large norms`);
        }
      }
    });

    test("writeHybridFeatures on blocks of rows matches one call", async () => {
      const favor = await favorFor(build);
      const backend = backendOf(favor);
      const dim = 6, m = 4, lambdaFeatures = 3, rows = 23, block = 8, keyShift = 1.25;
      const x = inputs(rows, dim, 90);
      for (const estimator of HYBRIDS) {
        const projection = projectionsFor(favor, estimator, { features: m, lambdaFeatures, dim, seed: 91 });
        const map = planHybridFeatureMap("test", { dim, kind: estimator, role: "key", keyShift, features1: m, features2: m, lambdaFeatures });
        const whole = favor.sync.features(x, { rows, dim, kind: estimator, role: "key", keyShift, projection });
        const blocked = backend.withScope("test", (scope) => {
          const xPointer = scope.copyIn(x);
          const pointers = { base1: scope.copyIn(projection.base1), base2: scope.copyIn(projection.base2), lambda: scope.copyIn(projection.lambda) };
          const out = scope.allocF32(rows * map.outputs);
          const shift = scope.allocF32(rows);
          const scratch = scope.allocF32(hybridScratchElements(map, block));
          for (let first = 0; first < rows; first += block) {
            const count = Math.min(block, rows - first);
            writeHybridFeatures(backend, map, count, xPointer + first * dim * 4, dim, pointers, out + first * map.outputs * 4, map.outputs, shift + first * 4, scratch);
          }
          return backend.f32(out, rows * map.outputs).slice();
        });
        assertSameBits(blocked, whole, `${label(estimator)}: blocks vs one call`);
      }
    });

    test("the angular hybrid is exact for equal norms in dimension 1", async () => {
      // In one dimension the angle is 0 or π, so all signs agree (λ̂ = 0) or
      // all differ (λ̂ = 1) for every draw. With |x| = |y| that means x = y,
      // where trig is exact (cos 0 = 1), or x = −y, where the hyperbolic
      // estimate cosh(ω(x + y)) = 1 is exact. The bound covers float32
      // rounding: e^{x²} carries (dim + 2)·u·x² from h and the final rounding.
      const favor = await favorFor(build);
      const x = new Float32Array([0.7, -1.3, 2]);
      const y = new Float32Array([0.7, -0.7, 1.3, -2]);
      for (let seed = 0; seed < 20; seed++) {
        const out = favor.sync.kernel.softmax(x, y, { rowsX: 3, rowsY: 4, dim: 1, estimator: "angular-hybrid", features: 3, seed });
        for (let i = 0; i < 3; i++) {
          for (let j = 0; j < 4; j++) {
            if (Math.abs(x[i]) !== Math.abs(y[j])) continue;
            const expected = Math.exp(x[i] * y[j]);
            const bound = (8 * x[i] * x[i] + 8) * 2 ** -24 * expected;
            assert.ok(Math.abs(out[i * 4 + j] - expected) <= bound, `seed ${seed} (${i}, ${j}): ${out[i * 4 + j]} vs ${expected}`);
          }
        }
      }
    });

    test("zero rows give empty results", async () => {
      const favor = await favorFor(build);
      for (const estimator of ["exact", ...ESTIMATORS]) {
        const options = { rowsX: 0, rowsY: 3, dim: 2, estimator, features: 2, seed: 1 };
        assert.equal(favor.sync.kernel.softmax(new Float32Array(0), new Float32Array(6), options).length, 0);
        assert.equal(favor.sync.kernel.gaussian(new Float32Array(6), new Float32Array(0), { ...options, rowsX: 3, rowsY: 0 }).length, 0);
      }
    });

    test("NaN in a row of x stays in that row", async () => {
      const favor = await favorFor(build);
      const dim = 3;
      const x = inputs(3, dim, 95);
      x[dim + 1] = NaN;
      const y = inputs(2, dim, 96);
      for (const estimator of ["exact", ...ESTIMATORS]) {
        const out = favor.sync.kernel.softmax(x, y, { rowsX: 3, rowsY: 2, dim, estimator, features: 4, seed: 2 });
        assert.ok(out.subarray(2, 4).every(Number.isNaN), `${label(estimator)}: row 1 is NaN`);
        assert.ok([...out.subarray(0, 2), ...out.subarray(4)].every(Number.isFinite), `${label(estimator)}: rows 0 and 2 are finite`);
      }
    });

    test("async forms and repeated calls", async () => {
      const favor = await favorFor(build);
      const dim = 4;
      const x = inputs(3, dim, 97);
      const y = inputs(5, dim, 98);
      const options = { rowsX: 3, rowsY: 5, dim, estimator: GAUSSIAN_HYBRID, features: 8, seed: 5 };
      const first = favor.sync.kernel.softmax(x, y, options);
      const memory = favor.info.memoryBytes;
      assertSameBits(await favor.kernel.softmax(x, y, options), first, "async softmax");
      assertSameBits(await favor.kernel.gaussian(x, y, options), favor.sync.kernel.gaussian(x, y, options), "async gaussian");
      const parts = await favor.kernel.projection({ estimator: "angular-hybrid", dim, features: 8, seed: 5 });
      assertSameBits(parts.base1, favor.sync.kernel.projection({ estimator: "angular-hybrid", dim, features: 8, seed: 5 }).base1, "async projection");
      assert.equal(favor.info.memoryBytes, memory, "repeated calls do not grow memory");
    });
  });
}

describe("kernel argument checks", () => {
  const x = new Float32Array(6); // 2 rows of dim 3
  const y = new Float32Array(9); // 3 rows of dim 3
  const w = new Float32Array(12); // 4 rows of dim 3
  const shape = { rowsX: 2, rowsY: 3, dim: 3 };
  const parts = { base1: w, base2: w, lambda: new Float32Array(6) };
  const cases = [
    ["missing options", "softmax", [x, y], TypeError, /^kernel\.softmax: options must be an object, got undefined$/],
    ["a plain Array for y", "softmax", [x, [1, 2, 3], { ...shape, estimator: "exact" }], TypeError,
      /^kernel\.softmax: y must be a Float32Array, got an Array of length 3$/],
    ["a wrong x length", "gaussian", [x, y, { ...shape, rowsX: 3, estimator: "exact" }], RangeError,
      /^kernel\.gaussian: x has length 6, expected 9 \(rowsX 3 × dim 3\)$/],
    ["a y of another dim", "softmax", [x, new Float32Array(8), { ...shape, estimator: "exact" }], RangeError,
      /^kernel\.softmax: y has length 8, expected 9 \(rowsY 3 × dim 3\)$/],
    ["a zero dim", "softmax", [x, y, { ...shape, dim: 0, estimator: "exact" }], RangeError, /^kernel\.softmax: dim must be an integer >= 1, got 0$/],
    ["a missing estimator", "softmax", [x, y, shape], TypeError, /^kernel\.softmax: estimator is missing; pass "exact", "positive", /],
    ["an unknown estimator", "softmax", [x, y, { ...shape, estimator: "relu" }], RangeError,
      /^kernel\.softmax: estimator must be "exact", "positive", "hyperbolic", "trig", "angular-hybrid" or \{ hybrid: \[base1, base2\], lambda \}, got "relu"$/],
    ["zero features", "softmax", [x, y, { ...shape, estimator: "positive", features: 0, seed: 1 }], RangeError,
      /^kernel\.softmax: features must be an integer >= 1, got 0$/],
    ["missing features", "softmax", [x, y, { ...shape, estimator: "trig", seed: 1 }], TypeError,
      /^kernel\.softmax: features is missing; pass the number of random features m/],
    ["a missing seed", "gaussian", [x, y, { ...shape, estimator: "trig", features: 4 }], TypeError,
      /^kernel\.gaussian: seed is missing; pass a seed/],
    ["an empty projection", "softmax", [x, y, { ...shape, estimator: "positive", projection: new Float32Array(0) }], RangeError,
      /^kernel\.softmax: projection has length 0, expected a positive multiple of dim 3 \(features × dim, at least one row\)$/],
    ["a projection of another dim", "softmax", [x, y, { ...shape, estimator: "positive", projection: new Float32Array(8) }], RangeError,
      /^kernel\.softmax: projection has length 8, expected a positive multiple of dim 3/],
    ["features that disagree with the projection", "softmax", [x, y, { ...shape, estimator: "positive", features: 5, projection: w }], RangeError,
      /^kernel\.softmax: projection has length 12, expected 15 \(features 5 × dim 3\)$/],
    ["a projection next to a seed", "softmax", [x, y, { ...shape, estimator: "positive", projection: w, seed: 1 }], RangeError,
      /^kernel\.softmax: seed is 1, but projection is given too; pass either projection or the draw options$/],
    ["lambdaFeatures for a base estimator", "softmax", [x, y, { ...shape, estimator: "positive", features: 2, lambdaFeatures: 2, seed: 1 }], RangeError,
      /^kernel\.softmax: lambdaFeatures is 2, but it applies only to hybrid estimators$/],
    ["an array projection for a hybrid", "softmax", [x, y, { ...shape, estimator: "angular-hybrid", projection: w }], TypeError,
      /^kernel\.softmax: projection of a hybrid must be an object \{ base1, base2, lambda \} of three Float32Arrays, got a Float32Array of length 12$/],
    ["an object projection for a base", "softmax", [x, y, { ...shape, estimator: "trig", projection: parts }], TypeError,
      /^kernel\.softmax: projection of estimator "trig" must be a Float32Array \(features × dim\), got an Object$/],
    ["a hybrid part of another dim", "softmax", [x, y, { ...shape, estimator: "angular-hybrid", projection: { ...parts, lambda: new Float32Array(7) } }], RangeError,
      /^kernel\.softmax: projection\.lambda has length 7, expected a positive multiple of dim 3/],
    ["a missing hybrid part", "softmax", [x, y, { ...shape, estimator: "angular-hybrid", projection: { base1: w, lambda: w } }], TypeError,
      /^kernel\.softmax: projection\.base2 must be a Float32Array, got undefined$/],
    ["an unknown base", "softmax", [x, y, { ...shape, estimator: { hybrid: ["positive", "relu"], lambda: "angular" }, features: 2, seed: 1 }], RangeError,
      /^kernel\.softmax: estimator\.hybrid\[1\] must be one of "positive", "hyperbolic", "trig", got "relu"$/],
    ["one base", "softmax", [x, y, { ...shape, estimator: { hybrid: ["positive"], lambda: "angular" }, features: 2, seed: 1 }], TypeError,
      /^kernel\.softmax: estimator\.hybrid must be an array of two base estimators/],
    ["a missing lambda", "softmax", [x, y, { ...shape, estimator: { hybrid: ["positive", "trig"] }, features: 2, seed: 1 }], TypeError,
      /^kernel\.softmax: estimator\.lambda is missing; pass "angular" or \{ kind: "gaussian", sigma \} with sigma > 0$/],
    ["an unknown lambda", "softmax", [x, y, { ...shape, estimator: { hybrid: ["positive", "trig"], lambda: "cosine" }, features: 2, seed: 1 }], RangeError,
      /^kernel\.softmax: estimator\.lambda must be "angular" or \{ kind: "gaussian", sigma \} with sigma > 0, got "cosine"$/],
    ["a zero sigma", "softmax", [x, y, { ...shape, estimator: { hybrid: ["positive", "trig"], lambda: { kind: "gaussian", sigma: 0 } }, features: 2, seed: 1 }], RangeError,
      /^kernel\.softmax: estimator\.lambda\.sigma must be > 0, got 0$/],
    ["a hybrid draw past the last triple", "softmax", [x, y, { ...shape, estimator: "angular-hybrid", features: 2, seed: 1, draw: 1431655765 }], RangeError,
      /^kernel\.softmax: draw must be an integer in \[0, 1431655764\] for a hybrid estimator, which uses draws 3·draw, 3·draw \+ 1 and 3·draw \+ 2 of the seed; got 1431655765$/],
    ["an unknown projectionKind", "softmax", [x, y, { ...shape, estimator: "trig", features: 2, seed: 1, projectionKind: "householder" }], RangeError,
      new RegExp(`^kernel\\.softmax: projectionKind must be one of ${PROJECTION_KINDS.map((k) => `"${k}"`).join(", ")}, got "householder"$`)],
    ["a short out", "softmax", [x, y, { ...shape, estimator: "exact", out: new Float32Array(5) }], RangeError,
      /^kernel\.softmax: out has length 5, expected 6 \(rowsX 2 × rowsY 3\)$/],
  ];
  for (const [name, op, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.kernel[op](...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.kernel[op](...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }

  test("rejects out overlapping x or y", async () => {
    const favor = await favorFor("scalar");
    const buffer = new Float32Array(21);
    const x2 = buffer.subarray(0, 6);
    const y2 = buffer.subarray(6, 15);
    for (const [name, out] of [["x", buffer.subarray(4, 10)], ["y", buffer.subarray(14, 20)]]) {
      const pattern = new RegExp(`^kernel\\.softmax: out overlaps ${name} in memory; pass a separate output array$`);
      assert.throws(() => favor.sync.kernel.softmax(x2, y2, { ...shape, estimator: "exact", out }),
        (error) => error instanceof RangeError && pattern.test(error.message), `out overlapping ${name}`);
    }
  });

  const projectionCases = [
    ["exact", { estimator: "exact", dim: 3, features: 2, seed: 1 }, RangeError, /^kernel\.projection: estimator "exact" uses no projection; pass a random estimator$/],
    ["a missing seed", { estimator: "trig", dim: 3, features: 2 }, TypeError, /^kernel\.projection: seed is missing/],
    ["zero features", { estimator: "angular-hybrid", dim: 3, features: 0, seed: 1 }, RangeError, /^kernel\.projection: features must be an integer >= 1, got 0$/],
    ["zero lambdaFeatures", { estimator: "angular-hybrid", dim: 3, features: 2, lambdaFeatures: 0, seed: 1 }, RangeError,
      /^kernel\.projection: lambdaFeatures must be an integer >= 1, got 0$/],
  ];
  for (const [name, options, type, pattern] of projectionCases) {
    test(`kernel.projection rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.kernel.projection(options), (error) => error instanceof type && pattern.test(error.message));
    });
  }

  const featureCases = [
    ["role none", { role: "none" }, RangeError, /^features: role must be "query" \(Ψ_q\) or "key" \(Ψ_k\) for a hybrid kind, because the two maps differ, got "none"$/],
    ["a missing role", { role: undefined }, RangeError, /^features: role must be "query" \(Ψ_q\) or "key" \(Ψ_k\) for a hybrid kind/],
    ["an epsilon", { epsilon: 1e-6 }, RangeError, /^features: epsilon is 0\.000001, but hybrid maps take no ε/],
    ["a missing projection", { projection: undefined }, TypeError, /^features: projection is missing; a hybrid kind needs \{ base1, base2, lambda \}/],
    ["features that disagree with base2", { features: 4, projection: { ...parts, base2: new Float32Array(9) } }, RangeError,
      /^features: projection\.base2 has length 9, expected 12 \(features 4 × dim 3\)$/],
    ["keyShift with role query", { role: "query", keyShift: 1 }, RangeError, /^features: keyShift is 1, but it applies only to role "key"/],
    ["a short out", { out: new Float32Array(3) }, RangeError, /^features: out has length 3, expected 96 \(rows 2 × 48 hybrid features\)$/],
  ];
  for (const [name, change, type, pattern] of featureCases) {
    test(`hybrid features reject ${name}`, async () => {
      const favor = await favorFor("scalar");
      // angular-hybrid with m = 4 and m_λ = 2: (1 + 2)·(8 + 8) = 48 features per row.
      const options = { rows: 2, dim: 3, kind: "angular-hybrid", role: "key", projection: parts, ...change };
      assert.throws(() => favor.sync.features(x, options), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.features(x, options), (error) => error instanceof type && pattern.test(error.message));
    });
  }
});
