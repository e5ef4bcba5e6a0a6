#!/usr/bin/env node
// Fits the polynomial cores of assembly/math/exp.ts and assembly/math/sincos.ts
// and prints their coefficients as float32 hex words, followed by the
// range-reduction constants. Not part of the build: run it when a
// polynomial's degree or interval changes, then paste the output.
//
// Each core approximates a smooth remainder q(t) on an interval, with the
// leading Taylor terms kept exact outside the polynomial:
//   exp:  e^r   ≈ 1 + r + r²·Q(r),        |r| ≤ ln(2)/2
//   sin:  sin a ≈ a + a³·S(a²),           0 ≤ a ≤ π/4
//   cos:  cos a ≈ 1 − a²/2 + a⁴·C(a²),    0 ≤ a ≤ π/4
// The fit minimizes the maximum relative error of the whole function on a
// dense grid with Lawson's iteratively reweighted least squares, in float64.
// The coefficients are then rounded to float32 and the relative error of the
// rounded polynomial is reported (evaluated in float64, so it excludes the
// float32 rounding of the evaluation itself).

const GRID = 4001;
const LAWSON_STEPS = 200;

/** Solves the dense linear system m·x = v by Gaussian elimination with partial pivoting. */
function solve(m, v) {
  const n = v.length;
  const a = m.map((row, i) => [...row, v[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) if (Math.abs(a[row][col]) > Math.abs(a[pivot][col])) pivot = row;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    for (let row = col + 1; row < n; row++) {
      const factor = a[row][col] / a[col][col];
      for (let k = col; k <= n; k++) a[row][k] -= factor * a[col][k];
    }
  }
  const x = new Array(n).fill(0);
  for (let row = n - 1; row >= 0; row--) {
    let sum = a[row][n];
    for (let k = row + 1; k < n; k++) sum -= a[row][k] * x[k];
    x[row] = sum / a[row][row];
  }
  return x;
}

/**
 * Fits q(t) ≈ Σ c_j t^j on [lo, hi] minimizing max_i |weight(t_i)·(poly(t_i) − target(t_i))|.
 * The basis is scaled to [-1, 1] (or [0, 1]) to keep the normal equations well conditioned.
 */
function fitMinimax(target, weight, lo, hi, degree) {
  const scale = Math.max(Math.abs(lo), Math.abs(hi));
  const ts = [];
  for (let i = 0; i < GRID; i++) {
    // Chebyshev-distributed points cluster near the ends, where minimax errors peak.
    const u = Math.cos((Math.PI * (i + 0.5)) / GRID);
    ts.push(lo + ((u + 1) / 2) * (hi - lo));
  }
  const rows = ts.map((t) => Array.from({ length: degree + 1 }, (_, j) => (t / scale) ** j));
  const targets = ts.map(target);
  const weights = ts.map(weight);
  let lawson = ts.map(() => 1 / ts.length);
  let coefficients = [];
  for (let step = 0; step < LAWSON_STEPS; step++) {
    const normal = Array.from({ length: degree + 1 }, () => new Array(degree + 1).fill(0));
    const rhs = new Array(degree + 1).fill(0);
    ts.forEach((_, i) => {
      const w = lawson[i] * weights[i] * weights[i];
      for (let j = 0; j <= degree; j++) {
        rhs[j] += w * rows[i][j] * targets[i];
        for (let k = 0; k <= degree; k++) normal[j][k] += w * rows[i][j] * rows[i][k];
      }
    });
    const scaled = solve(normal, rhs);
    coefficients = scaled.map((c, j) => c / scale ** j);
    const errors = ts.map((t, i) => Math.abs(weights[i] * (horner(coefficients, t) - targets[i])));
    const total = errors.reduce((sum, e, i) => sum + lawson[i] * e, 0);
    lawson = lawson.map((l, i) => (l * errors[i]) / total);
  }
  return coefficients;
}

function horner(coefficients, t) {
  let sum = 0;
  for (let j = coefficients.length - 1; j >= 0; j--) sum = sum * t + coefficients[j];
  return sum;
}

function f32Hex(value) {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  return `0x${view.getUint32(0).toString(16).toUpperCase().padStart(8, "0")}`;
}

function report(name, coefficients, whole, exact, lo, hi) {
  const rounded = coefficients.map(Math.fround);
  let maxRelative = 0;
  for (let i = 0; i <= 100000; i++) {
    const x = lo + ((hi - lo) * i) / 100000;
    if (x === 0) continue;
    maxRelative = Math.max(maxRelative, Math.abs(whole(rounded, x) / exact(x) - 1));
  }
  console.log(`${name}: max relative error of the float32-rounded polynomial ${maxRelative.toExponential(3)} ` +
    `(${(maxRelative / 2 ** -24).toFixed(4)} units of 2^-24)`);
  rounded.forEach((c, j) => console.log(`  c${j} = ${f32Hex(c)} // ${c}`));
}

// exp: e^r = 1 + r + r²·Q(r); relative error weight r²/e^r.
const LN2_HALF = Math.LN2 / 2;
const expQ = fitMinimax(
  (r) => (r === 0 ? 0.5 : (Math.expm1(r) - r) / (r * r)),
  (r) => (r * r) / Math.exp(r),
  -LN2_HALF * 1.01, LN2_HALF * 1.01, 4,
);
report("exp Q(r)", expQ, (c, r) => 1 + r + r * r * horner(c, r), Math.exp, -LN2_HALF, LN2_HALF);

// sin: sin a = a + a³·S(a²) with z = a²; relative error weight a³/sin a.
const PI_4 = Math.PI / 4;
const sinS = fitMinimax(
  (z) => (z === 0 ? -1 / 6 : (Math.sin(Math.sqrt(z)) - Math.sqrt(z)) / (z * Math.sqrt(z))),
  (z) => (z === 0 ? 0 : (z * Math.sqrt(z)) / Math.sin(Math.sqrt(z))),
  0, (PI_4 * 1.01) ** 2, 3,
);
report("sin S(z)", sinS, (c, a) => a + a * a * a * horner(c, a * a), Math.sin, 0, PI_4);

// cos: cos a = 1 − a²/2 + a⁴·C(a²) with z = a²; relative error weight a⁴/cos a.
const cosC = fitMinimax(
  (z) => (z === 0 ? 1 / 24 : (Math.cos(Math.sqrt(z)) - 1 + z / 2) / (z * z)),
  (z) => (z * z) / Math.cos(Math.sqrt(z)),
  0, (PI_4 * 1.01) ** 2, 3,
);
report("cos C(z)", cosC, (c, a) => 1 - (a * a) / 2 + a ** 4 * horner(c, a * a), Math.cos, 0, PI_4);

// Range-reduction constants, computed from decimal expansions of ln 2 and π
// with BigInt so that the low parts are exact to the last bit.
const DIGITS = 60n;
const TEN = 10n ** DIGITS;
const LN2_DIGITS = 693147180559945309417232121458176568075500134360255254120680n; // ln 2 · 10^60
const PI_DIGITS = 3141592653589793238462643383279502884197169399375105820974944n; // π · 10^60

/** Rounds numerator / (10^60 · 2^shift) to the nearest float64 (Number(bigint) rounds to nearest). */
function ratioToDouble(numerator, shift) {
  const extra = 200n;
  const scaled = (numerator * 2n ** extra) / TEN;
  return Number(scaled) * 2 ** -Number(extra + shift);
}

function f64Hex(value) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return `0x${view.getBigUint64(0).toString(16).toUpperCase().padStart(16, "0")}`;
}

// exp: ln 2 = LN2_HI + LN2_LO with LN2_HI on 16 significant bits, so k·LN2_HI
// is exact for |k| < 2^8.
const ln2HiUnits = BigInt(Math.round(Math.LN2 * 2 ** 16)); // LN2_HI · 2^16
const ln2Lo = Math.fround(ratioToDouble(LN2_DIGITS * 2n ** 16n - ln2HiUnits * TEN, 16n));
console.log(`exp: LN2_HI = ${f32Hex(Number(ln2HiUnits) / 2 ** 16)} // ${Number(ln2HiUnits) / 2 ** 16}`);
console.log(`exp: LN2_LO = ${f32Hex(ln2Lo)} // ${ln2Lo}`);
console.log(`exp: LOG2E = ${f32Hex(Math.LOG2E)} // ${Math.fround(Math.LOG2E)}`);

// sin/cos: π/2 = PIO2_HI + PIO2_LO in float64 with PIO2_HI on 33 significant
// bits, so k·PIO2_HI is exact for |k| < 2^20.
const pio2HiUnits = (PI_DIGITS * 2n ** 32n + TEN) / (2n * TEN); // round(π/2 · 2^32)
const pio2Lo = ratioToDouble(PI_DIGITS * 2n ** 31n - pio2HiUnits * TEN, 32n);
console.log(`sincos: PIO2_HI = ${f64Hex(Number(pio2HiUnits) / 2 ** 32)} // ${Number(pio2HiUnits) / 2 ** 32}`);
console.log(`sincos: PIO2_LO = ${f64Hex(pio2Lo)} // ${pio2Lo}`);
console.log(`sincos: TWO_OVER_PI = ${f64Hex(2 / Math.PI)} // ${2 / Math.PI}`);
