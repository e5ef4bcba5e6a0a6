// Float64 error function and standard normal CDF for the statistical tests.
//
// erfc uses the Maclaurin series of erf for |x| < 3 and the Laplace
// continued fraction of erfc for |x| >= 3, both summed to float64 rounding:
// the series' largest term for |x| < 3 is below 200, so cancellation costs
// at most about 200·2^-53 ≈ 3e-14 absolute error, and the continued fraction
// converges to relative error below 1e-15 for x >= 3 within 200 terms.
// erfAbramowitzStegun is the independent check: formula 7.1.26 of Abramowitz
// and Stegun, Handbook of Mathematical Functions (1964), whose stated
// absolute error is at most 1.5e-7.

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

function erfSeries(x) {
  // erf(x) = 2/√π · Σ (−1)^n x^(2n+1) / (n! (2n+1))
  let term = x;
  let sum = x;
  const x2 = x * x;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const next = sum + term / (2 * n + 1);
    if (next === sum) break;
    sum = next;
  }
  return TWO_OVER_SQRT_PI * sum;
}

function erfcContinuedFraction(x) {
  // erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))),
  // for x > 0, evaluated bottom-up from a fixed depth.
  let tail = x;
  for (let n = 200; n >= 1; n--) tail = x + (n / 2) / tail;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / tail;
}

/** Returns erfc(x): absolute error about 3e-14 for |x| < 3, relative error about 1e-15 beyond. */
export function erfc(x) {
  if (Number.isNaN(x)) return NaN;
  if (x >= 3) return erfcContinuedFraction(x);
  if (x <= -3) return 2 - erfcContinuedFraction(-x);
  return 1 - erfSeries(x);
}

/** Returns erf(x) by formula 7.1.26 of Abramowitz and Stegun, absolute error at most 1.5e-7. */
export function erfAbramowitzStegun(x) {
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign * (1 - poly * Math.exp(-ax * ax));
}

/** Returns Φ(x), the standard normal CDF, from erfc. */
export function normalCdf(x) {
  return 0.5 * erfc(-x / Math.SQRT2);
}
