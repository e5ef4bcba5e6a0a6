// favor.features on every WASM build against the float64 reference in
// tests/reference/features.js, whose per-element bounds derive from the
// float32 rounding of the projection t = ωᵀx (dim·u·Σ|ω_k x_k|), of
// h = ‖x‖²/2, of the exponent and from the ULP bounds of exp, sin and cos
// (see featuresReference). Also: the returned shifts, the stabilizer
// invariance of attention weights, large inputs, the internal
// writeFeatures on blocks of rows, and argument checks.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { featuresReference } from "../reference/features.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertClose, assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";
import { MAX_ULP } from "../helpers/ulp.js";
import { backendOf } from "../../dist/internal.js";
import { planFeatureMap } from "../../dist/api/features.js";
import { writeFeatures } from "../../dist/backends/wasm/ops/features.js";

const ALL_KINDS = ["positive", "hyperbolic", "trig", "relu", "elu+1", "exp", "abs", "identity"];
const POINTWISE_KINDS = ["relu", "elu+1", "exp", "abs", "identity"];
const EXPONENTIAL_KINDS = ["positive", "hyperbolic", "trig", "exp"];
const ROLES = ["none", "query", "key"];

/** Returns the documented default ε (docs/features.md). */
function defaultEpsilon(kind, role) {
  if (role === "none" || kind === "trig") return 0;
  return ["positive", "hyperbolic", "exp"].includes(kind) ? 1e-6 : 1e-3;
}

/** Inputs scaled like attention's d^{-1/4}·q, so exponents stay moderate: entries in [−1.5, 1.5)·dim^{-1/4}. */
function inputs(rows, dim, seed) {
  return seededFloats(rows * dim, seed, 1.5 / Math.sqrt(Math.sqrt(dim)));
}

/**
 * Runs features with returnStabilizer and checks values, shifts and
 * maxExponent against the reference; returns the result.
 */
function checkFeatures(favor, x, options, context) {
  const { rows, dim, kind, role = "none" } = options;
  const epsilon = options.epsilon ?? defaultEpsilon(kind, role);
  const xCopy = x.slice();
  const projectionCopy = options.projection?.slice();
  const reference0 = featuresReference(x, { rows, dim, projection: options.projection ?? null, kind, epsilon });
  const out = nanFilled(rows * reference0.outputs);
  const result = favor.sync.features(x, { ...options, out, returnStabilizer: true });
  assert.equal(result.features, out, `${context}: features is the given out array`);
  assert.deepEqual(x, xCopy, `${context}: x changed`);
  if (projectionCopy) assert.deepEqual(options.projection, projectionCopy, `${context}: projection changed`);

  const { shift, maxExponent } = result;
  assert.equal(shift.length, rows, `${context}: shift length`);
  const reference = featuresReference(x, { rows, dim, projection: options.projection ?? null, kind, epsilon, shift });
  assertClose(out, reference.values, reference.bounds, context);

  if (!EXPONENTIAL_KINDS.includes(kind)) {
    assert.ok(shift.every((value) => value === 0), `${context}: shifts of a kind without exponent must be 0`);
    assert.equal(maxExponent, -Infinity, `${context}: maxExponent`);
    return result;
  }
  let largest = -Infinity;
  let largestBound = 0;
  for (let i = 0; i < rows; i++) {
    largest = Math.max(largest, reference.exponents[i]);
    largestBound = Math.max(largestBound, reference.exponentBounds[i]);
  }
  if (rows > 0) {
    assert.ok(Math.abs(maxExponent - largest) <= largestBound, `${context}: maxExponent ${maxExponent} vs ${largest}`);
  }
  for (let i = 0; i < rows; i++) {
    let expected = 0;
    let bound = 0;
    if (role === "query") {
      expected = reference.exponents[i];
      bound = reference.exponentBounds[i];
    } else if (role === "key") {
      expected = options.keyShift === undefined ? largest : Math.fround(options.keyShift);
      bound = options.keyShift === undefined ? largestBound : 0;
    }
    assert.ok(Math.abs(shift[i] - expected) <= bound, `${context}: shift[${i}] is ${shift[i]}, expected ${expected} ± ${bound}`);
  }
  return result;
}

/** Returns the attention weights A_ij = q_i·k_j / Σ_j q_i·k_j in float64. */
function attentionWeights(q, k, rowsQ, rowsK, r) {
  const weights = new Float64Array(rowsQ * rowsK);
  for (let i = 0; i < rowsQ; i++) {
    let total = 0;
    for (let j = 0; j < rowsK; j++) {
      let value = 0;
      for (let l = 0; l < r; l++) value += q[i * r + l] * k[j * r + l];
      weights[i * rowsK + j] = value;
      total += value;
    }
    for (let j = 0; j < rowsK; j++) weights[i * rowsK + j] /= total;
  }
  return weights;
}

for (const build of ALL_BUILDS) {
  describe(`features (${build})`, { skip: skipReason(build) }, () => {
    test("projected maps match the reference across shapes", async () => {
      const favor = await favorFor(build);
      let seed = 1;
      for (const dim of [1, 2, 3, 16, 64]) {
        for (const m of [1, 3, 4, 8, 17, 64]) {
          const projection = favor.sync.projection({ features: m, dim, seed: 1000 + seed });
          for (const rows of [1, 3, 4, 5, 17, 64, 65]) {
            const x = inputs(rows, dim, seed++);
            for (const kind of ALL_KINDS) {
              for (const role of ROLES) {
                checkFeatures(favor, x, { rows, dim, projection, kind, role }, `${kind} ${role} rows=${rows} m=${m} dim=${dim}`);
              }
            }
          }
        }
      }
    });

    test("pointwise maps without projection match the reference", async () => {
      const favor = await favorFor(build);
      let seed = 5000;
      for (const dim of [1, 2, 3, 5, 16, 64]) {
        for (const rows of [1, 4, 17, 65]) {
          const x = inputs(rows, dim, seed++);
          for (const kind of POINTWISE_KINDS) {
            for (const role of ROLES) {
              checkFeatures(favor, x, { rows, dim, kind, role }, `${kind} ${role} rows=${rows} dim=${dim} no projection`);
            }
          }
        }
      }
    });

    test("explicit epsilon and the features option", async () => {
      const favor = await favorFor(build);
      const dim = 5, m = 7, rows = 6;
      const projection = favor.sync.projection({ features: m, dim, seed: 3 });
      const x = inputs(rows, dim, 3);
      for (const kind of ALL_KINDS) {
        checkFeatures(favor, x, { rows, dim, projection, features: m, kind, role: "key", epsilon: 0.25 }, `${kind} epsilon 0.25`);
      }
    });

    test("positive is the default kind and none the default role", async () => {
      const favor = await favorFor(build);
      const projection = favor.sync.projection({ features: 4, dim: 3, seed: 2 });
      const x = inputs(5, 3, 2);
      assertSameBits(
        favor.sync.features(x, { rows: 5, dim: 3, projection }),
        favor.sync.features(x, { rows: 5, dim: 3, projection, kind: "positive", role: "none", epsilon: 0 }),
        "defaults",
      );
    });

    test("keyShift fixes the key constant", async () => {
      const favor = await favorFor(build);
      const dim = 16, m = 17, rows = 9;
      const projection = favor.sync.projection({ features: m, dim, seed: 4 });
      const x = inputs(rows, dim, 4);
      for (const kind of EXPONENTIAL_KINDS) {
        const free = favor.sync.features(x, { rows, dim, projection, kind, role: "key", returnStabilizer: true });
        for (const keyShift of [free.shift[0], free.shift[0] + 3, free.shift[0] - 2, 0]) {
          const fixed = checkFeatures(favor, x, { rows, dim, projection, kind, role: "key", keyShift }, `${kind} keyShift ${keyShift}`);
          assert.equal(fixed.maxExponent, free.maxExponent, `${kind}: maxExponent does not depend on keyShift`);
        }
      }
    });

    test("stabilizers leave attention weights unchanged", async () => {
      // With ε = 0 the stabilized features are the exact ones times
      // exp(−s_i): per row for queries, one constant for keys, so
      // A_ij = q′_i·k′_j / Σ_j q′_i·k′_j does not change. Both runs share the
      // float32 product t̃, so only the exponent roundings differ. Each run
      // rounds its own exponent (u·|e| and u·|e − s|), h + s (u·(h + |s|))
      // and exp (EXP_FAST_REL = 2·MAX_ULP.expFast·u each, the faster exp of
      // the maps), so a feature moves by at most
      // δ = u·(2|e| + 2h + 2|s| + 2) + 2·EXP_FAST_REL relative. A ratio of two
      // sums of positive terms then moves by at most 2·(δ_q + δ_k) = 4δ.
      // The bound uses the largest |e| (plus 1), h and |s| of the call.
      const favor = await favorFor(build);
      const dim = 16, m = 32, rowsQ = 7, rowsK = 11;
      const projection = favor.sync.projection({ features: m, dim, seed: 6 });
      const q = inputs(rowsQ, dim, 61);
      const k = inputs(rowsK, dim, 62);
      for (const kind of ["positive", "hyperbolic", "exp"]) {
        const common = { dim, projection, kind, epsilon: 0 };

        const exactQ = favor.sync.features(q, { ...common, rows: rowsQ });
        const exactK = favor.sync.features(k, { ...common, rows: rowsK });
        const stableQ = favor.sync.features(q, { ...common, rows: rowsQ, role: "query", returnStabilizer: true });
        const stableK = favor.sync.features(k, { ...common, rows: rowsK, role: "key", returnStabilizer: true });
        const movedK = favor.sync.features(k, { ...common, rows: rowsK, role: "key", keyShift: stableK.shift[0] + 3, returnStabilizer: true });

        const reference = featuresReference(q, { rows: rowsQ, dim, projection, kind });
        const referenceK = featuresReference(k, { rows: rowsK, dim, projection, kind });
        const magnitude = (values) => values.reduce((top, value) => Math.max(top, Math.abs(value)), 0);
        const largestExponent = Math.max(magnitude(reference.exponents), magnitude(referenceK.exponents)) + 1;
        const largestShift = Math.max(magnitude(stableQ.shift), magnitude(movedK.shift));
        let largestHalfNorm = 0;
        for (const [values, rows] of [[q, rowsQ], [k, rowsK]]) {
          for (let i = 0; i < rows; i++) {
            let h = 0;
            for (let c = 0; c < dim; c++) h += values[i * dim + c] ** 2 / 2;
            largestHalfNorm = Math.max(largestHalfNorm, h);
          }
        }
        const delta = F32_EPS * (2 * largestExponent + 2 * largestHalfNorm + 2 * largestShift + 2) + 2 * 2 * MAX_ULP.expFast * F32_EPS;
        const bound = 4 * delta;

        const exact = attentionWeights(exactQ, exactK, rowsQ, rowsK, exactQ.length / rowsQ);
        for (const [name, qf, kf] of [["stabilized", stableQ.features, stableK.features], ["moved key shift", stableQ.features, movedK.features],
          ["query only", stableQ.features, exactK], ["key only", exactQ, stableK.features]]) {
          const weights = attentionWeights(qf, kf, rowsQ, rowsK, qf.length / rowsQ);
          for (let i = 0; i < weights.length; i++) {
            const error = Math.abs(weights[i] - exact[i]);
            assert.ok(error <= bound * exact[i], `${kind} ${name}: weight ${i} ${weights[i]} vs ${exact[i]} (relative ${error / exact[i]} > ${bound})`);
          }
        }
      }
    });

    test("inputs with norms up to 30 stay finite when stabilized", async () => {
      const favor = await favorFor(build);
      const dim = 64;
      const norms = [0, 1, 5, 10, 20, 30];
      const rows = norms.length;
      const x = new Float32Array(rows * dim);
      for (let i = 0; i < rows; i++) {
        const direction = seededFloats(dim, 70 + i);
        let length = 0;
        for (const value of direction) length += value * value;
        length = Math.sqrt(length);
        for (let c = 0; c < dim; c++) x[i * dim + c] = direction[c] * norms[i] / length;
      }
      for (const m of [17, 256]) {
        const projection = favor.sync.projection({ features: m, dim, seed: 8 });
        for (const kind of EXPONENTIAL_KINDS) {
          for (const role of ["query", "key"]) {
            const context = `${kind} ${role} m=${m}`;
            const { features } = checkFeatures(favor, x, { rows, dim, projection, kind, role }, context);
            const index = features.findIndex((value) => !Number.isFinite(value));
            assert.equal(index, -1, `${context}: feature ${index} is ${features[index]}`);
          }
        }
      }
    });

    test("the exact trig map overflows where the stabilized one does not", async () => {
      const favor = await favorFor(build);
      const dim = 4;
      const x = new Float32Array([15, 15, 0, 0]); // ‖x‖²/2 = 225 > ln(float32 max) ≈ 88.7
      const projection = favor.sync.projection({ features: 3, dim, seed: 9 });
      const exact = favor.sync.features(x, { rows: 1, dim, projection, kind: "trig" });
      assert.ok(exact.some((value) => !Number.isFinite(value)), "role none keeps e^{h} and overflows");
      const stable = favor.sync.features(x, { rows: 1, dim, projection, kind: "trig", role: "key" });
      assert.ok(stable.every(Number.isFinite), "role key is finite");
    });

    test("zero rows give empty results", async () => {
      const favor = await favorFor(build);
      const projection = favor.sync.projection({ features: 4, dim: 3, seed: 1 });
      for (const kind of ALL_KINDS) {
        const result = favor.sync.features(new Float32Array(0), { rows: 0, dim: 3, projection, kind, role: "key", returnStabilizer: true });
        assert.equal(result.features.length, 0);
        assert.equal(result.shift.length, 0);
        assert.equal(result.maxExponent, -Infinity);
      }
    });

    test("NaN in a query row stays in that row", async () => {
      const favor = await favorFor(build);
      const dim = 4;
      const x = inputs(3, dim, 12);
      x[dim + 2] = NaN;
      const projection = favor.sync.projection({ features: 5, dim, seed: 12 });
      const out = favor.sync.features(x, { rows: 3, dim, projection, role: "query" });
      assert.ok(out.subarray(5, 10).every(Number.isNaN), "row 1 is NaN");
      assert.ok([...out.subarray(0, 5), ...out.subarray(10)].every(Number.isFinite), "rows 0 and 2 are finite");
    });

    test("async form resolves to the same features", async () => {
      const favor = await favorFor(build);
      const projection = favor.sync.projection({ features: 8, dim: 4, seed: 5 });
      const x = inputs(6, 4, 5);
      const options = { rows: 6, dim: 4, projection, kind: "hyperbolic", role: "query" };
      assertSameBits(await favor.features(x, options), favor.sync.features(x, options), "async features");
      const withShift = await favor.features(x, { ...options, returnStabilizer: true });
      assertSameBits(withShift.shift, favor.sync.features(x, { ...options, returnStabilizer: true }).shift, "async shift");
    });

    test("writeFeatures on blocks of rows matches one call", async () => {
      // The attention ops keep X, W and the features in WASM memory and call
      // writeFeatures per block; keys then need a fixed keyShift.
      const favor = await favorFor(build);
      const backend = backendOf(favor);
      const dim = 16, m = 24, rows = 37, block = 8;
      const projection = favor.sync.projection({ features: m, dim, seed: 14 });
      const x = inputs(rows, dim, 14);
      for (const kind of ["positive", "trig", "relu"]) {
        const role = kind === "relu" ? "none" : "key";
        const keyShift = kind === "relu" ? undefined : 1.5;
        const map = planFeatureMap("test", { dim, features: m, kind, role, keyShift });
        const whole = favor.sync.features(x, { rows, dim, projection, kind, role, keyShift });
        const blocked = backend.withScope("test", (scope) => {
          const xPointer = scope.copyIn(x);
          const wPointer = scope.copyIn(projection);
          const out = scope.allocF32(rows * map.outputs);
          const shift = scope.allocF32(rows);
          for (let first = 0; first < rows; first += block) {
            const count = Math.min(block, rows - first);
            writeFeatures(backend, map, count, xPointer + first * dim * 4, dim, wPointer, out + first * map.outputs * 4, map.outputs, shift + first * 4);
          }
          return backend.f32(out, rows * map.outputs).slice();
        });
        const reference = featuresReference(x, {
          rows, dim, projection, kind, epsilon: map.epsilon, shift: keyShift === undefined ? null : new Float64Array(rows).fill(keyShift),
        });
        assertClose(blocked, reference.values, reference.bounds, `${kind} blocked`);
        assertClose(whole, reference.values, reference.bounds, `${kind} whole`);
      }
    });
  });
}

/**
 * Runs f32_features_projected and, on separate buffers, f32_gemm followed by
 * f32_half_squared_norms and the map kernel; returns both outputs, shifts
 * and return values.
 */
function projectedAndSeparate(backend, { kind, rows, dim, m, mode, keyShift, x, w }) {
  const codes = { positive: 0, hyperbolic: 1, exp: 2, trig: 3 };
  const r = kind === "hyperbolic" || kind === "trig" ? 2 * m : m;
  const ldz = r + 3; // a row stride wider than the row, so gaps must stay untouched
  const scale = Math.fround(1 / Math.sqrt(r));
  const epsilon = kind === "trig" ? 0 : 1e-6;
  return backend.withScope("test", (scope) => {
    const xPointer = scope.copyIn(x);
    const wPointer = scope.copyIn(w);
    const fused = scope.copyIn(nanFilled(rows * ldz));
    const separate = scope.copyIn(nanFilled(rows * ldz));
    const fusedShift = scope.allocF32(rows);
    const separateShift = scope.allocF32(rows);
    const fusedLargest = backend.kernel("f32_features_projected")(
      codes[kind], rows, dim, xPointer, dim, wPointer, m, fused, ldz, fusedShift, scale, epsilon, mode, keyShift,
    );
    backend.kernel("f32_gemm")(1, rows, m, dim, 1, xPointer, dim, 0, 0, wPointer, dim, 0, 1, 0, separate, ldz, 0);
    backend.kernel("f32_half_squared_norms")(rows, dim, xPointer, dim, separateShift);
    const separateLargest = kind === "trig"
      ? backend.kernel("f32_features_trig")(rows, m, separate, ldz, separateShift, scale, epsilon, mode, keyShift)
      : backend.kernel("f32_features_exp")(rows, m, separate, ldz, separateShift, kind === "exp" ? 0 : 1, kind === "hyperbolic" ? 1 : 0,
        scale, epsilon, mode, keyShift);
    return {
      fused: backend.f32(fused, rows * ldz).slice(),
      separate: backend.f32(separate, rows * ldz).slice(),
      fusedShift: backend.f32(fusedShift, rows).slice(),
      separateShift: backend.f32(separateShift, rows).slice(),
      fusedLargest,
      separateLargest,
    };
  });
}

for (const build of ALL_BUILDS) {
  describe(`f32_features_projected (${build})`, { skip: skipReason(build) }, () => {
    test("matches GEMM then map bit for bit", async () => {
      // The kernel computes the product in the same blocks as f32_gemm, so
      // every output, shift and return value must have the same bits. Rows
      // sweep around the GEMM's row block MC; dim = KC + 1 and m = NC + 1
      // take the path that calls f32_gemm on the whole matrix.
      const favor = await favorFor(build);
      const backend = backendOf(favor);
      const mc = backend.exports.f32_gemm_MC.value;
      const kc = backend.exports.f32_gemm_KC.value;
      const nc = backend.exports.f32_gemm_NC.value;
      const shapes = [
        { rows: 1, dim: 3, m: 5 },
        { rows: mc - 1, dim: 16, m: 9 },
        { rows: mc, dim: 8, m: 24 },
        { rows: mc + 1, dim: 5, m: 8 },
        { rows: 2 * mc + 7, dim: 64, m: 33 },
        { rows: 7, dim: kc + 1, m: 6 },
        { rows: 5, dim: 4, m: nc + 1 },
      ];
      let seed = 900;
      for (const { rows, dim, m } of shapes) {
        const x = inputs(rows, dim, seed++);
        const w = favor.sync.projection({ features: m, dim, seed: seed++ });
        for (const kind of ["positive", "hyperbolic", "exp", "trig"]) {
          for (const mode of [0, 1, 2, 3]) {
            const context = `${kind} mode ${mode} rows=${rows} dim=${dim} m=${m}`;
            const result = projectedAndSeparate(backend, { kind, rows, dim, m, mode, keyShift: 0.75, x, w });
            assertSameBits(result.fused, result.separate, `${context}: features`);
            assertSameBits(result.fusedShift, result.separateShift, `${context}: shifts`);
            assert.ok(Object.is(result.fusedLargest, result.separateLargest), `${context}: returned ${result.fusedLargest} vs ${result.separateLargest}`);
          }
        }
      }
    });
  });
}

describe("features bits across builds", () => {
  // The map kernels use the bit-identical exp, sin and cos and the same
  // operation order on every build. Only f32_gemm may differ, because relaxed
  // SIMD may fuse. Without a projection there is no GEMM, so all builds agree.
  const builds = ALL_BUILDS.filter((build) => !skipReason(build));
  test("pointwise maps without projection are bit-identical", { skip: builds.length < 2 ? "fewer than two builds run here" : false }, async () => {
    const favors = await Promise.all(builds.map(favorFor));
    const x = inputs(9, 13, 21);
    for (const kind of POINTWISE_KINDS) {
      for (const role of ROLES) {
        const first = favors[0].sync.features(x, { rows: 9, dim: 13, kind, role });
        for (let b = 1; b < favors.length; b++) {
          assertSameBits(favors[b].sync.features(x, { rows: 9, dim: 13, kind, role }), first, `${builds[b]} vs ${builds[0]}: ${kind} ${role}`);
        }
      }
    }
  });
});

describe("features argument checks", () => {
  const w = new Float32Array(12); // 4 rows of dim 3
  const x = new Float32Array(6); // 2 rows of dim 3
  const cases = [
    ["missing options", [x], TypeError, /^features: options must be an object, got undefined$/],
    ["a plain Array for x", [[1, 2, 3], { rows: 1, dim: 3, projection: w }], TypeError, /^features: x must be a Float32Array, got an Array of length 3$/],
    ["a wrong x length", [x, { rows: 3, dim: 3, projection: w }], RangeError, /^features: x has length 6, expected 9 \(rows 3 × dim 3\)$/],
    ["a zero dim", [x, { rows: 2, dim: 0, projection: w }], RangeError, /^features: dim must be an integer >= 1, got 0$/],
    ["a missing projection", [x, { rows: 2, dim: 3, kind: "positive" }], TypeError,
      /^features: projection is missing; kind "positive" needs an m×dim projection/],
    ["an empty projection", [x, { rows: 2, dim: 3, projection: new Float32Array(0) }], RangeError,
      /^features: projection has length 0, expected a positive multiple of dim 3/],
    ["a projection of the wrong dim", [x, { rows: 2, dim: 3, projection: new Float32Array(8) }], RangeError,
      /^features: projection has length 8, expected a positive multiple of dim 3/],
    ["zero features", [x, { rows: 2, dim: 3, projection: w, features: 0 }], RangeError, /^features: features must be an integer >= 1, got 0$/],
    ["features that disagree with the projection", [x, { rows: 2, dim: 3, projection: w, features: 5 }], RangeError,
      /^features: projection has length 12, expected 15 \(features 5 × dim 3\)$/],
    ["features without projection", [x, { rows: 2, dim: 3, kind: "relu", features: 4 }], RangeError,
      /^features: features is 4, but no projection was given/],
    ["an unknown kind", [x, { rows: 2, dim: 3, projection: w, kind: "softmax" }], RangeError,
      /^features: kind must be one of "positive", "hyperbolic", "trig", "relu", "elu\+1", "exp", "abs", "identity", got "softmax"$/],
    ["an unknown role", [x, { rows: 2, dim: 3, projection: w, role: "value" }], RangeError,
      /^features: role must be one of "query", "key", "none", got "value"$/],
    ["a negative epsilon", [x, { rows: 2, dim: 3, projection: w, epsilon: -1e-6 }], RangeError, /^features: epsilon must be >= 0, got -0.000001$/],
    ["an infinite epsilon", [x, { rows: 2, dim: 3, projection: w, epsilon: Infinity }], RangeError, /^features: epsilon must be finite, got Infinity$/],
    ["keyShift with role query", [x, { rows: 2, dim: 3, projection: w, role: "query", keyShift: 1 }], RangeError,
      /^features: keyShift is 1, but it applies only to role "key", got role "query"$/],
    ["keyShift for relu", [x, { rows: 2, dim: 3, projection: w, kind: "relu", role: "key", keyShift: 1 }], RangeError,
      /^features: keyShift is 1, but kind "relu" has no exponent to shift/],
    ["a NaN keyShift", [x, { rows: 2, dim: 3, projection: w, role: "key", keyShift: NaN }], RangeError, /^features: keyShift must be finite, got NaN$/],
    ["a string returnStabilizer", [x, { rows: 2, dim: 3, projection: w, returnStabilizer: "yes" }], TypeError,
      /^features: returnStabilizer must be a boolean, got "yes"$/],
    ["a short out", [x, { rows: 2, dim: 3, projection: w, kind: "trig", out: new Float32Array(8) }], RangeError,
      /^features: out has length 8, expected 16 \(rows 2 × 8 features of kind "trig"\)$/],
    ["out overlapping x", [x, { rows: 2, dim: 3, kind: "identity", out: x }], RangeError, /^features: out overlaps x or projection in memory/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.features(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.features(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }
});
