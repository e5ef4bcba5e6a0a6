// Statistical checks of favor.projection with fixed seeds, on every build
// (the builds return the same bits, so they see the same samples). Each
// bound is chosen so that a correct generator fails it with probability at
// most about 1e-4, as in random-stats.test.js: moments use 4.5 standard
// errors (two-sided normal tail 6.8e-6), and Kolmogorov–Smirnov distances
// use the Dvoretzky–Kiefer–Wolfowitz inequality with Massart's constant,
// P(D_n > ε) <= 2·exp(−2nε²), at α = 1e-4, which holds for every n.
//
// What the checks target: an orthogonal block must be exactly Haar
// distributed, so every row direction is uniform on the sphere and the
// determinant of a square block is +1 or −1 with probability 1/2 each.
// Householder QR without the sign fix fails both: for d = 2 the first row
// points into a fixed half-plane and the determinant is always −1.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";

const Z = 4.5;
const ALPHA = 1e-4;

function ksBound(n, alpha) {
  return Math.sqrt(Math.log(2 / alpha) / (2 * n));
}

function ksDistance(values, cdf) {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  let distance = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(sorted[i]);
    distance = Math.max(distance, (i + 1) / n - f, f - i / n);
  }
  return distance;
}

/** CDF of the chi-squared law with an even number k of degrees of freedom: 1 − e^{−x/2}·Σ_{j<k/2} (x/2)^j / j!. */
function chiSquaredCdfEven(x, k) {
  if (x <= 0) return 0;
  const half = x / 2;
  let term = 1;
  let sum = 1;
  for (let j = 1; j < k / 2; j++) {
    term *= half / j;
    sum += term;
  }
  return 1 - Math.exp(-half) * sum;
}

function meanAndVariance(values) {
  let sum = 0;
  for (const value of values) sum += value;
  const mean = sum / values.length;
  let squares = 0;
  for (const value of values) squares += (value - mean) ** 2;
  return { mean, variance: squares / (values.length - 1) };
}

function squaredNorm(w, dim, row) {
  let sum = 0;
  for (let k = 0; k < dim; k++) sum += w[row * dim + k] ** 2;
  return sum;
}

for (const build of ALL_BUILDS) {
  describe(`projection statistics (${build})`, { skip: skipReason(build) }, () => {
    test("chi norms follow the chi(d) law", async () => {
      // Squared norms of rows with norms "chi" are chi-squared with d degrees
      // of freedom: mean d, variance 2d, and the sample variance has variance
      // (μ4 − σ⁴)/n with μ4 = 12d(d + 4), σ⁴ = 4d².
      const favor = await favorFor(build);
      const dim = 16;
      for (const kind of ["orthogonal", "iid"]) {
        const squares = [];
        for (let seed = 0; seed < 400; seed++) {
          const w = favor.sync.projection({ features: 2 * dim, dim, kind, norms: "chi", seed });
          for (let row = 0; row < 2 * dim; row++) squares.push(squaredNorm(w, dim, row));
        }
        const n = squares.length;
        const { mean, variance } = meanAndVariance(squares);
        const meanLimit = Z * Math.sqrt(2 * dim / n);
        assert.ok(Math.abs(mean - dim) <= meanLimit, `${kind}: mean squared norm ${mean}, expected ${dim} ± ${meanLimit}`);
        const varianceLimit = Z * Math.sqrt((12 * dim * (dim + 4) - 4 * dim * dim) / n);
        assert.ok(Math.abs(variance - 2 * dim) <= varianceLimit,
          `${kind}: variance of squared norms ${variance}, expected ${2 * dim} ± ${varianceLimit}`);
        const distance = ksDistance(squares, (x) => chiSquaredCdfEven(x, dim));
        assert.ok(distance <= ksBound(n, ALPHA), `${kind}: KS distance to chi-squared(${dim}) ${distance} > ${ksBound(n, ALPHA)}`);
      }
    });

    test("d = 2: row angles uniform, determinant sign balanced", async () => {
      // 10^4 draws of one seed; the critical KS distance at α = 1e-4 is
      // √(ln(2·10^4)/(2·10^4)) = 0.0223.
      const favor = await favorFor(build);
      const draws = 10000;
      const firstAngles = [];
      const secondAngles = [];
      let positive = 0;
      for (let draw = 0; draw < draws; draw++) {
        const w = favor.sync.projection({ features: 2, dim: 2, norms: "sqrt-d", seed: 7, draw });
        firstAngles.push(Math.atan2(w[1], w[0]));
        secondAngles.push(Math.atan2(w[3], w[2]));
        if (w[0] * w[3] - w[1] * w[2] > 0) positive++;
      }
      const uniformAngle = (x) => (x + Math.PI) / (2 * Math.PI);
      const limit = ksBound(draws, ALPHA);
      const first = ksDistance(firstAngles, uniformAngle);
      assert.ok(first <= limit, `first-row angle: KS distance ${first} > ${limit}`);
      const second = ksDistance(secondAngles, uniformAngle);
      assert.ok(second <= limit, `second-row angle: KS distance ${second} > ${limit}`);
      const fraction = positive / draws;
      const fractionLimit = Z * Math.sqrt(0.25 / draws);
      assert.ok(Math.abs(fraction - 0.5) <= fractionLimit, `determinant > 0 in ${fraction} of blocks, expected 0.5 ± ${fractionLimit}`);
    });

    test("d = 3: every row direction is uniform on the sphere", async () => {
      // For a uniform direction on the 2-sphere each coordinate is uniform on
      // [−1, 1] (Archimedes). One call with 5000 independent blocks.
      const favor = await favorFor(build);
      const dim = 3;
      const blocks = 5000;
      for (const kind of ["orthogonal", "iid"]) {
        const w = favor.sync.projection({ features: blocks * dim, dim, kind, norms: "sqrt-d", seed: 11 });
        for (let row = 0; row < dim; row++) {
          for (let coordinate = 0; coordinate < dim; coordinate++) {
            const values = [];
            for (let b = 0; b < blocks; b++) values.push(w[(b * dim + row) * dim + coordinate] / Math.sqrt(dim));
            const distance = ksDistance(values, (x) => (x + 1) / 2);
            assert.ok(distance <= ksBound(blocks, ALPHA),
              `${kind}: row ${row} coordinate ${coordinate}: KS distance ${distance} > ${ksBound(blocks, ALPHA)}`);
          }
        }
      }
    });

    test("consecutive blocks are uncorrelated", async () => {
      // Pearson correlation of matching entries in blocks b and b + 1; for
      // independent blocks it has standard error 1/√n.
      const favor = await favorFor(build);
      const dim = 4;
      const blocks = 4001;
      const w = favor.sync.projection({ features: blocks * dim, dim, norms: "sqrt-d", seed: 13 });
      const n = (blocks - 1) * dim * dim;
      let sxy = 0, sxx = 0, syy = 0;
      for (let b = 0; b + 1 < blocks; b++) {
        for (let i = 0; i < dim * dim; i++) {
          const x = w[b * dim * dim + i];
          const y = w[(b + 1) * dim * dim + i];
          sxy += x * y;
          sxx += x * x;
          syy += y * y;
        }
      }
      // Entries have mean 0 by symmetry, so the raw moments estimate the correlation.
      const correlation = sxy / Math.sqrt(sxx * syy);
      assert.ok(Math.abs(correlation) <= Z / Math.sqrt(n), `correlation ${correlation} > ${Z / Math.sqrt(n)}`);
    });
  });
}
