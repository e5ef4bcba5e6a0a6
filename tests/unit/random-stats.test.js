// Statistical checks of random.uniform and random.normal on every build,
// with fixed seeds. Each bound is chosen so that a correct generator fails
// it with probability at most about 1e-4: moments use 4.5 standard errors
// (two-sided normal tail 6.8e-6), Kolmogorov–Smirnov distances use the
// Dvoretzky–Kiefer–Wolfowitz inequality with Massart's constant,
// P(D_n > ε) <= 2·exp(−2nε²), at α = 1e-4, which holds for every n rather
// than only asymptotically.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { normalCdf, erfc, erfAbramowitzStegun } from "../reference/normal.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";

const Z = 4.5;
const ALPHA = 1e-4;
const MILLION = 1000000;
const TEN_MILLION = 10000000;
/** Largest |normal draw|: √(−2·ln 2^-53) for the smallest u1 = 2^-53, rounded up to float32. */
const NORMAL_MAX = Math.fround(Math.sqrt(-2 * Math.log(2 ** -53))) * (1 + 2 ** -23);

/** Returns the DKW–Massart bound ε with P(D_n > ε) <= α. */
function ksBound(n, alpha) {
  return Math.sqrt(Math.log(2 / alpha) / (2 * n));
}

/** Returns the sample mean and the central moments m2, m3, m4 (divided by n), in float64. */
function moments(values) {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  let m2 = 0, m3 = 0, m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i] - mean;
    const d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  return { mean, m2: m2 / n, m3: m3 / n, m4: m4 / n };
}

/** Returns the Kolmogorov–Smirnov distance sup |F_n(x) − cdf(x)|; ties are handled because both ends of a run are visited. */
function ksDistance(values, cdf) {
  const sorted = Float32Array.from(values).sort();
  const n = sorted.length;
  let distance = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(sorted[i]);
    distance = Math.max(distance, (i + 1) / n - f, f - i / n);
  }
  return distance;
}

/** Returns the Pearson correlation of x[i] and y[i + lag]. */
function correlation(x, y, lag = 0) {
  const n = Math.min(x.length, y.length - lag);
  let sx = 0, sy = 0;
  for (let i = 0; i < n; i++) {
    sx += x[i];
    sy += y[i + lag];
  }
  const mx = sx / n, my = sy / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx, dy = y[i + lag] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / Math.sqrt(sxx * syy);
}

function assertWithin(actual, expected, bound, what) {
  assert.ok(Math.abs(actual - expected) <= bound, `${what}: ${actual}, expected ${expected} ± ${bound}`);
}

describe("normal CDF reference", () => {
  test("known values", () => {
    // Published values of erf(1), erfc(3) and Φ(−4), to 15 or more digits.
    assertWithin(1 - erfc(1), 0.8427007929497149, 1e-15, "erf(1)");
    assertWithin(erfc(3) / 2.209049699858544e-5, 1, 1e-14, "erfc(3) relative");
    assertWithin(normalCdf(-4) / 3.167124183311992e-5, 1, 1e-9, "Φ(−4) relative");
    assertWithin(normalCdf(0), 0.5, 0, "Φ(0)");
  });

  test("agrees with Abramowitz–Stegun 7.1.26", () => {
    // Two independent formulas: their difference must stay within the
    // 1.5e-7 error stated for 7.1.26 plus 1e-13 for the series.
    for (let x = -6; x <= 6; x += 1 / 512) {
      assertWithin(1 - erfc(x), erfAbramowitzStegun(x), 1.5e-7 + 1e-13, `erf(${x})`);
    }
  });
});

for (const build of ALL_BUILDS) {
  describe(`random statistics (${build})`, { skip: skipReason(build) }, () => {
    test("uniform mean and variance", async () => {
      // The draws are k·2^-24 with k uniform on 0 … 2^24 − 1: mean
      // 1/2 − 2^-25, variance (1 − 2^-48)/12, fourth central moment
      // about 1/80. Standard errors: √(σ²/n) for the mean and
      // √((μ4 − σ⁴)/n) for the variance.
      const favor = await favorFor(build);
      const { mean, m2 } = moments(favor.sync.random.uniform(MILLION, 101));
      const variance = (1 - 2 ** -48) / 12;
      assertWithin(mean, 0.5 - 2 ** -25, Z * Math.sqrt(variance / MILLION), "mean");
      assertWithin(m2, variance, Z * Math.sqrt((1 / 80 - variance ** 2) / MILLION), "variance");
    });

    test("uniform Kolmogorov–Smirnov", async () => {
      // Against F(x) = x; the discrete grid adds at most 2^-24 to the distance.
      const favor = await favorFor(build);
      const distance = ksDistance(favor.sync.random.uniform(MILLION, 102), (x) => x);
      assert.ok(distance <= ksBound(MILLION, ALPHA) + 2 ** -24, `D = ${distance}`);
    });

    test("uniform range over 10^7 draws", async () => {
      const favor = await favorFor(build);
      const values = favor.sync.random.uniform(TEN_MILLION, 103);
      let min = Infinity, max = -Infinity;
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (!Number.isFinite(value)) assert.fail(`index ${i}: ${value}`);
        if (value < min) min = value;
        if (value > max) max = value;
      }
      assert.ok(min >= 0, `min ${min}`);
      assert.ok(max <= 1 - 2 ** -24, `max ${max}`);
    });

    test("normal moments", async () => {
      // Standard errors for n standard normal draws: mean 1/√n, variance
      // √(2/n), skewness √(6/n), excess kurtosis √(24/n) (large-n forms).
      const favor = await favorFor(build);
      const { mean, m2, m3, m4 } = moments(favor.sync.random.normal(MILLION, 201));
      assertWithin(mean, 0, Z / Math.sqrt(MILLION), "mean");
      assertWithin(m2, 1, Z * Math.sqrt(2 / MILLION), "variance");
      assertWithin(m3 / m2 ** 1.5, 0, Z * Math.sqrt(6 / MILLION), "skewness");
      assertWithin(m4 / (m2 * m2) - 3, 0, Z * Math.sqrt(24 / MILLION), "excess kurtosis");
    });

    test("normal Kolmogorov–Smirnov", async () => {
      // Against Φ. Rounding draws to float32 moves their CDF by at most
      // max φ(x)·|x|·2^-24 < 1.5e-8, and the reference Φ is accurate to
      // 1e-13; 1e-7 covers both.
      const favor = await favorFor(build);
      const distance = ksDistance(favor.sync.random.normal(MILLION, 202), normalCdf);
      assert.ok(distance <= ksBound(MILLION, ALPHA) + 1e-7, `D = ${distance}`);
    });

    test("normal tails and range over 10^7 draws", async () => {
      // Counts beyond 3σ and 4σ are binomial(n, p) with p = erfc(k/√2);
      // bound: 4.5 binomial standard deviations √(n·p·(1 − p)).
      const favor = await favorFor(build);
      const values = favor.sync.random.normal(TEN_MILLION, 203);
      let beyond3 = 0, beyond4 = 0;
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        const magnitude = Math.abs(value);
        if (!Number.isFinite(value)) assert.fail(`index ${i}: ${value}`);
        if (magnitude > NORMAL_MAX) assert.fail(`index ${i}: |${value}| > ${NORMAL_MAX}`);
        if (magnitude > 3) beyond3++;
        if (magnitude > 4) beyond4++;
      }
      for (const [k, count] of [[3, beyond3], [4, beyond4]]) {
        const p = erfc(k / Math.SQRT2);
        const expected = TEN_MILLION * p;
        assertWithin(count, expected, Z * Math.sqrt(expected * (1 - p)), `draws beyond ${k}σ`);
      }
    });

    test("different seeds are uncorrelated", async () => {
      // For independent streams the sample correlation has standard error
      // 1/√n. Seeds differ in one bit of key word 0 or word 1, or are the
      // extremes of the range.
      const favor = await favorFor(build);
      const seeds = [0, 1, 2 ** 32, 2 ** 53 - 1, 2n ** 64n - 1n];
      const bound = Z / Math.sqrt(MILLION);
      for (const distribution of ["uniform", "normal"]) {
        const streams = seeds.map((seed) => favor.sync.random[distribution](MILLION, seed));
        for (let a = 0; a < seeds.length; a++) {
          for (let b = a + 1; b < seeds.length; b++) {
            assertWithin(correlation(streams[a], streams[b]), 0, bound, `${distribution} seeds ${seeds[a]} and ${seeds[b]}`);
          }
        }
      }
    });

    test("draws within a stream are uncorrelated", async () => {
      // Lags 1-4 pair draws from the same Philox block (4 uniform words, or
      // the cosine and sine of one Box–Muller pair) and from neighbouring
      // blocks. The standard error is 1/√n, as above.
      const favor = await favorFor(build);
      const bound = Z / Math.sqrt(MILLION);
      for (const distribution of ["uniform", "normal"]) {
        const values = favor.sync.random[distribution](MILLION + 4, 301);
        for (const lag of [1, 2, 3, 4]) {
          assertWithin(correlation(values, values, lag), 0, bound, `${distribution} lag ${lag}`);
        }
      }
      // Squares catch a dependence that leaves the plain correlation at 0,
      // as with cos and sin of one angle.
      const normal = favor.sync.random.normal(MILLION, 302);
      const squares = normal.map((x) => x * x);
      assertWithin(correlation(squares, squares, 1), 0, bound, "normal squares lag 1");
    });
  });
}
