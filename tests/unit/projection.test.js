// favor.projection on every WASM build: the rows against the Gaussian draws
// they come from (stream layout, orthogonality, sign convention, norms), bit
// identity across builds, and argument checks. Statistical properties are in
// projection-stats.test.js.
//
// Tolerances, with u = 2^-24 and d the dimension:
//   - Householder QR in float32 returns rows that are orthonormal to about
//     d·u; the check |u_i·u_j| <= ORTHOGONALITY (1e-5, which is 2.6·d·u at
//     d = 64, the largest d here) on unit directions.
//   - Row j of a block is orthogonal to the Gaussian columns g_0..g_{j−1}
//     (the QR factor R is upper triangular), up to the orthogonality error
//     plus the backward error of the factorization, both O(d·u)·‖g_i‖:
//     |u_j·g_i| <= 4·d·u·‖g_i‖. The sign fix makes u_j·g_j = R[j][j] > 0.
//     Measured on the shapes below: at most 0.83·d·u for both quantities.
//   - Norms: the target norm is a d-term float32 sum of squares, a square
//     root and a rescaling, so the relative error is at most (d + 4)·u
//     (measured at most 0.91·d·u).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { orthogonalInputs, projectionDraws } from "../reference/features.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertSameBits, nanFilled } from "../helpers/numeric.js";

const ORTHOGONALITY = 1e-5;
const SHAPES = [
  [1, 1], [3, 1], [1, 2], [2, 2], [5, 2], [3, 3], [7, 3], [4, 4],
  [3, 16], [16, 16], [17, 16], [40, 16], [5, 64], [64, 64], [100, 64],
];

function rowOf(w, dim, i) {
  return w.subarray(i * dim, (i + 1) * dim);
}

function dot(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function norm(a) {
  return Math.sqrt(dot(a, a));
}

/** FNV-1a over the float32 bit patterns, for golden values. */
function hashBits(values) {
  let hash = 0x811c9dc5;
  for (const word of new Uint32Array(values.buffer, values.byteOffset, values.length)) {
    for (let shift = 0; shift < 32; shift += 8) {
      hash ^= (word >>> shift) & 0xff;
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
  }
  return hash;
}

/** Checks one orthogonal projection against its Gaussian columns and norm vectors. */
function checkOrthogonal(w, { features, dim, norms, seed, draw = 0 }, context) {
  const { columns, normVectors } = orthogonalInputs({ features, dim, seed, draw });
  for (let first = 0; first < features; first += dim) {
    const rows = Math.min(dim, features - first);
    const directions = [];
    for (let j = 0; j < rows; j++) {
      const row = rowOf(w, dim, first + j);
      const length = norm(row);
      const target = norms === "chi" ? norm(normVectors[first + j]) : Math.sqrt(dim);
      const normError = Math.abs(length - target);
      assert.ok(normError <= (dim + 4) * F32_EPS * target,
        `${context}: row ${first + j} has norm ${length}, expected ${target} (error ${normError})`);
      directions.push(Array.from(row, (value) => value / length));
    }
    for (let j = 0; j < rows; j++) {
      for (let i = 0; i < rows; i++) {
        const g = columns[first + i];
        if (i !== j) {
          const cosine = Math.abs(dot(directions[i], directions[j]));
          assert.ok(cosine <= ORTHOGONALITY, `${context}: rows ${first + i} and ${first + j} have |cos| ${cosine} > ${ORTHOGONALITY}`);
        }
        if (i < j) {
          const leak = Math.abs(dot(directions[j], g));
          const limit = 4 * dim * F32_EPS * norm(g);
          assert.ok(leak <= limit, `${context}: row ${first + j} · column ${i} of block ${first / dim} is ${leak} > ${limit}`);
        }
      }
      const diagonal = dot(directions[j], columns[first + j]);
      assert.ok(diagonal > 0, `${context}: row ${first + j} · its own column is ${diagonal}, expected > 0 (sign of R[j][j])`);
    }
  }
}

for (const build of ALL_BUILDS) {
  describe(`projection (${build})`, { skip: skipReason(build) }, () => {
    test("orthogonal rows match their Gaussian columns", async () => {
      const favor = await favorFor(build);
      let seed = 100;
      for (const [features, dim] of SHAPES) {
        for (const norms of ["chi", "sqrt-d"]) {
          const out = nanFilled(features * dim);
          const w = favor.sync.projection({ features, dim, kind: "orthogonal", norms, seed, out });
          assert.equal(w, out, "the result is the given out array");
          checkOrthogonal(w, { features, dim, norms, seed }, `m=${features} d=${dim} ${norms}`);
          seed++;
        }
      }
    });

    test("orthogonal is the default kind and chi the default norms", async () => {
      const favor = await favorFor(build);
      const explicit = favor.sync.projection({ features: 9, dim: 4, kind: "orthogonal", norms: "chi", seed: 5 });
      const implicit = favor.sync.projection({ features: 9, dim: 4, seed: 5 });
      assertSameBits(implicit, explicit, "defaults");
    });

    test("draw t reads the stream from t·2^32", async () => {
      const favor = await favorFor(build);
      const features = 6, dim = 4, seed = 77, draw = 3;
      const w = favor.sync.projection({ features, dim, seed, draw });
      checkOrthogonal(w, { features, dim, norms: "chi", seed, draw }, "draw 3");
    });

    test("iid rows are the Gaussian draws", async () => {
      const favor = await favorFor(build);
      for (const [features, dim] of [[1, 1], [5, 3], [17, 16], [3, 64]]) {
        const draws = projectionDraws(features * dim, 9, 0, 0);
        const w = favor.sync.projection({ features, dim, kind: "iid", seed: 9, out: nanFilled(features * dim) });
        // The kernel rounds a float64 Box–Muller value once; the reference
        // uses the host's Math, so allow one float32 step.
        for (let i = 0; i < w.length; i++) {
          assert.ok(Math.abs(w[i] - draws[i]) <= 2 * F32_EPS * Math.abs(draws[i]), `m=${features} d=${dim} index ${i}: ${w[i]} vs ${draws[i]}`);
        }
        const scaled = favor.sync.projection({ features, dim, kind: "iid", norms: "sqrt-d", seed: 9 });
        for (let i = 0; i < features; i++) {
          const row = rowOf(scaled, dim, i);
          const gaussian = rowOf(draws, dim, i);
          const length = norm(row);
          assert.ok(Math.abs(length - Math.sqrt(dim)) <= (dim + 4) * F32_EPS * Math.sqrt(dim), `sqrt-d row ${i} norm ${length}`);
          const cosine = dot(row, gaussian) / (length * norm(gaussian));
          assert.ok(cosine >= 1 - 4 * dim * F32_EPS, `sqrt-d row ${i} turned away from its draw (cos ${cosine})`);
        }
      }
    });

    test("sqrt-d blocks satisfy W·Wᵀ = d·I", async () => {
      const favor = await favorFor(build);
      for (const dim of [2, 3, 16, 64]) {
        const features = 2 * dim + 1;
        const w = favor.sync.projection({ features, dim, norms: "sqrt-d", seed: dim });
        for (let first = 0; first < features; first += dim) {
          const rows = Math.min(dim, features - first);
          for (let i = 0; i < rows; i++) {
            for (let j = 0; j < rows; j++) {
              const value = dot(rowOf(w, dim, first + i), rowOf(w, dim, first + j));
              const expected = i === j ? dim : 0;
              // Norms within (d + 4)·u relative, directions within ORTHOGONALITY.
              const limit = dim * (ORTHOGONALITY + 2 * (dim + 4) * F32_EPS);
              assert.ok(Math.abs(value - expected) <= limit, `d=${dim} block ${first / dim} (${i}, ${j}): ${value} vs ${expected}`);
            }
          }
        }
      }
    });

    test("more features extend fewer", async () => {
      const favor = await favorFor(build);
      for (const kind of ["orthogonal", "iid"]) {
        for (const norms of ["chi", "sqrt-d"]) {
          const small = favor.sync.projection({ features: 5, dim: 4, kind, norms, seed: 3 });
          const large = favor.sync.projection({ features: 11, dim: 4, kind, norms, seed: 3 });
          assertSameBits(large.subarray(0, 20), small, `${kind} ${norms}`);
        }
      }
    });

    test("blocks, seeds and draws differ", async () => {
      const favor = await favorFor(build);
      const dim = 8;
      const w = favor.sync.projection({ features: 3 * dim, dim, norms: "sqrt-d", seed: 1 });
      for (let a = 0; a < 3; a++) {
        for (let b = a + 1; b < 3; b++) {
          let difference = 0;
          for (let i = 0; i < dim * dim; i++) difference = Math.max(difference, Math.abs(w[a * dim * dim + i] - w[b * dim * dim + i]));
          assert.ok(difference > 0.1, `blocks ${a} and ${b} differ by at most ${difference}`);
        }
      }
      const base = favor.sync.projection({ features: 8, dim: 4, seed: 1 });
      const again = favor.sync.projection({ features: 8, dim: 4, seed: 1 });
      assertSameBits(again, base, "same seed");
      const others = [
        favor.sync.projection({ features: 8, dim: 4, seed: 2 }),
        favor.sync.projection({ features: 8, dim: 4, seed: 1, draw: 1 }),
        favor.sync.projection({ features: 8, dim: 4, seed: 2n ** 32n + 1n }),
      ];
      for (const [index, other] of others.entries()) {
        assert.ok(other.some((value, i) => value !== base[i]), `variant ${index} equals seed 1, draw 0`);
      }
    });

    test("a seed as number and bigint give the same matrix", async () => {
      const favor = await favorFor(build);
      assertSameBits(
        favor.sync.projection({ features: 5, dim: 3, seed: 12345 }),
        favor.sync.projection({ features: 5, dim: 3, seed: 12345n }),
        "number vs bigint",
      );
    });

    test("golden bits for seed 42", async () => {
      // Pins the stream layout and the arithmetic: every build and runtime
      // must produce these bits. Recorded from the scalar build.
      const favor = await favorFor(build);
      assert.equal(hashBits(favor.sync.projection({ features: 6, dim: 4, seed: 42 })), GOLDEN.orthogonalChi);
      assert.equal(hashBits(favor.sync.projection({ features: 6, dim: 4, seed: 42, norms: "sqrt-d" })), GOLDEN.orthogonalSqrtD);
      assert.equal(hashBits(favor.sync.projection({ features: 6, dim: 4, seed: 42, kind: "iid" })), GOLDEN.iid);
    });

    test("async form resolves to the same matrix", async () => {
      const favor = await favorFor(build);
      const w = await favor.projection({ features: 7, dim: 3, seed: 8 });
      assertSameBits(w, favor.sync.projection({ features: 7, dim: 3, seed: 8 }), "async");
    });
  });
}

const GOLDEN = { orthogonalChi: 0x65056ff3, orthogonalSqrtD: 0xaa444cf3, iid: 0x2fb36f17 };

describe("projection bits across builds", () => {
  const builds = ALL_BUILDS.filter((build) => !skipReason(build));
  test("every build returns the same bits", { skip: builds.length < 2 ? "fewer than two builds run here" : false }, async () => {
    const favors = await Promise.all(builds.map(favorFor));
    let seed = 500;
    for (const [features, dim] of [...SHAPES, [256, 64], [33, 32], [130, 128]]) {
      for (const kind of ["orthogonal", "iid"]) {
        for (const norms of ["chi", "sqrt-d"]) {
          const options = { features, dim, kind, norms, seed: seed++ };
          const first = favors[0].sync.projection(options);
          for (let b = 1; b < favors.length; b++) {
            assertSameBits(favors[b].sync.projection(options), first, `${builds[b]} vs ${builds[0]}: m=${features} d=${dim} ${kind} ${norms}`);
          }
        }
      }
    }
  });
});

describe("projection argument checks", () => {
  const cases = [
    ["missing options", [undefined], TypeError, /^projection: options must be an object, got undefined$/],
    ["zero features", [{ features: 0, dim: 4, seed: 1 }], RangeError, /^projection: features must be an integer >= 1, got 0$/],
    ["a fractional dim", [{ features: 2, dim: 2.5, seed: 1 }], RangeError, /^projection: dim must be an integer >= 1, got 2.5$/],
    ["a string dim", [{ features: 2, dim: "4", seed: 1 }], TypeError, /^projection: dim must be a number, got "4"$/],
    ["an unknown kind", [{ features: 2, dim: 4, seed: 1, kind: "gaussian" }], RangeError,
      /^projection: kind must be one of "iid", "orthogonal", "orthogonal-cwy", got "gaussian"$/],
    ["unknown norms", [{ features: 2, dim: 4, seed: 1, norms: "unit" }], RangeError,
      /^projection: norms must be one of "chi", "sqrt-d", got "unit"$/],
    ["a missing seed", [{ features: 2, dim: 4 }], TypeError, /^projection: seed is missing; pass a number/],
    ["a negative seed", [{ features: 2, dim: 4, seed: -1 }], RangeError, /^projection: seed must be an integer in \[0, 2\^53 − 1\]/],
    ["a draw of 2^32", [{ features: 2, dim: 4, seed: 1, draw: 2 ** 32 }], RangeError,
      /^projection: draw must be an integer in \[0, 2\^32 − 1\], got 4294967296$/],
    ["a wrong out length", [{ features: 2, dim: 4, seed: 1, out: new Float32Array(7) }], RangeError,
      /^projection: out has length 7, expected 8 \(features 2 × dim 4\)$/],
    ["a Float64Array out", [{ features: 2, dim: 4, seed: 1, out: new Float64Array(8) }], TypeError,
      /^projection: out must be a Float32Array, got a Float64Array of length 8$/],
    ["sizes past 4 GiB", [{ features: 65536, dim: 16384, seed: 1 }], RangeError, /^projection: the 65536×16384 projection and its scratch .* more than the 4 GiB/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.projection(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.projection(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }
});
