// favor.projection with kind "orthogonal-cwy": blocks are Householder
// products accumulated in compact WY form (householder.randomOrthogonal).
//
// Tolerances, with u = 2^-24 and d the dimension:
//   - The CWY product is orthogonal to about (n + k)·u = 2·d·u per entry
//     (householder tests measure at most 0.88·(n + k)·u), so unit rows of
//     one block satisfy |u_i·u_j| <= 8·d·u.
//   - Norms: rescaling to a d-term float32 norm target gives a relative
//     error of at most (d + 4)·u, plus the 2·d·u orthogonality error of the
//     unit row it rescales.
//   - Across builds the relaxed build fuses multiply-adds inside the GEMMs,
//     so rows agree within the same 8·d·u, not bit for bit.
// The sampler's distribution (Haar on the determinant (−1)^d component) is
// tested statistically in householder.test.js.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertClose, assertSameBits } from "../helpers/numeric.js";

const SHAPES = [[1, 1], [2, 2], [3, 2], [5, 3], [16, 16], [17, 16], [40, 16], [64, 64], [65, 64]];

function row(w, dim, i) {
  return Array.from(w.subarray(i * dim, (i + 1) * dim));
}

function dot(a, b) {
  return a.reduce((sum, value, i) => sum + value * b[i], 0);
}

for (const build of ALL_BUILDS) {
  describe(`projection orthogonal-cwy (${build})`, { skip: skipReason(build) }, () => {
    test("blocks orthonormal with sqrt-d norms", async () => {
      const favor = await favorFor(build);
      for (const [features, dim] of SHAPES) {
        const w = favor.sync.projection({ features, dim, kind: "orthogonal-cwy", norms: "sqrt-d", seed: 7 });
        assert.equal(w.length, features * dim);
        const target = Math.sqrt(dim);
        for (let i = 0; i < features; i++) {
          const ri = row(w, dim, i);
          const length = Math.sqrt(dot(ri, ri));
          assert.ok(Math.abs(length - target) <= (3 * dim + 4) * F32_EPS * target,
            `${features}x${dim} row ${i}: norm ${length}, expected ${target}`);
          const blockStart = Math.floor(i / dim) * dim;
          for (let j = blockStart; j < i; j++) {
            const cosine = dot(ri, row(w, dim, j)) / dim;
            assert.ok(Math.abs(cosine) <= 8 * dim * F32_EPS, `${features}x${dim} rows ${j}, ${i}: cosine ${cosine}`);
          }
        }
      }
    });

    test("chi norms come from the stream", async () => {
      const favor = await favorFor(build);
      const features = 10, dim = 4, seed = 3;
      const w = favor.sync.projection({ features, dim, kind: "orthogonal-cwy", norms: "chi", seed });
      // The chi vectors start at offset 2^31 of draw 0's slot.
      const chi = favor.sync.random.normal(features * dim, seed, { offset: 2 ** 31 });
      for (let i = 0; i < features; i++) {
        const expected = Math.sqrt(dot(row(chi, dim, i), row(chi, dim, i)));
        const actual = Math.sqrt(dot(row(w, dim, i), row(w, dim, i)));
        assert.ok(Math.abs(actual - expected) <= (3 * dim + 4) * F32_EPS * expected, `row ${i}: norm ${actual}, expected ${expected}`);
      }
    });

    test("same seed same bits, new seed differs", async () => {
      const favor = await favorFor(build);
      const options = { features: 20, dim: 8, kind: "orthogonal-cwy", norms: "chi", seed: 11 };
      assertSameBits(favor.sync.projection(options), favor.sync.projection(options), "repeat");
      const other = favor.sync.projection({ ...options, seed: 12 });
      assert.notDeepEqual(Array.from(other), Array.from(favor.sync.projection(options)));
      const nextDraw = favor.sync.projection({ ...options, draw: 1 });
      assert.notDeepEqual(Array.from(nextDraw), Array.from(favor.sync.projection(options)));
    });
  });
}

describe("projection orthogonal-cwy across builds", () => {
  test("builds agree within rounding", async () => {
    const scalar = await favorFor("scalar");
    for (const build of ["simd", "relaxed"]) {
      const favor = await favorFor(build);
      if (!favor) continue;
      const dim = 16;
      const options = { features: 40, dim, kind: "orthogonal-cwy", norms: "sqrt-d", seed: 5 };
      const expected = scalar.sync.projection(options);
      assertClose(favor.sync.projection(options), expected, 8 * dim * F32_EPS * Math.sqrt(dim), `${build} vs scalar`);
    }
  });

  test("rows are unbiased directions", async () => {
    // Each entry of a Haar row direction has mean 0 and variance 1/d. Over
    // n = 2000 independent seeds the mean of entry (0, 0) has standard error
    // sqrt(1/(d·n)); 4.5 standard errors bound a false failure below 1e-5.
    const favor = await favorFor("simd") ?? await favorFor("scalar");
    const dim = 4, draws = 2000;
    let sum = 0;
    for (let seed = 0; seed < draws; seed++) {
      const w = favor.sync.projection({ features: dim, dim, kind: "orthogonal-cwy", norms: "sqrt-d", seed });
      sum += w[0] / Math.sqrt(dim);
    }
    const mean = sum / draws;
    assert.ok(Math.abs(mean) <= 4.5 * Math.sqrt(1 / (dim * draws)), `mean of entry (0, 0) is ${mean}`);
  });
});
