#!/usr/bin/env node
// Recomputes θ_m, the largest ‖A‖₁ for which the degree-m Padé approximant
// r_m of e^x meets the float32 backward error bound used by linalg.expm
// (bindings/backends/wasm/ops/matrix-functions.ts, EXPM_THETA):
//
//   r_m(A) = e^(A + ΔA) with ΔA = h(A), h(x) = log(e^(−x)·r_m(x)) = Σ c_k x^k,
//   ‖ΔA‖₁/‖A‖₁ ≤ Σ |c_k|·θ^(k−1) ≤ u = 2⁻²⁴ for ‖A‖₁ ≤ θ.
//
// With r_m = p_m(x)/p_m(−x), h(x) = −x + 2·odd(log p_m)(x), so the series of
// log p_m is computed in exact rational arithmetic (BigInt) from
// k·ℓ_k = k·a_k − Σ_{j<k} j·ℓ_j·a_{k−j}, and θ is found by bisection on the
// truncated sum. Usage: node scripts/expm-theta.mjs [terms] (default 120).

const terms = Number(process.argv[2] ?? 120);
const UNIT_ROUNDOFF = 2 ** -24;

function gcd(a, b) {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** A reduced fraction num/den with den > 0. */
function fraction(num, den = 1n) {
  if (den < 0n) [num, den] = [-num, -den];
  const g = gcd(num, den) || 1n;
  return { num: num / g, den: den / g };
}
const add = (x, y) => fraction(x.num * y.den + y.num * x.den, x.den * y.den);
const mul = (x, y) => fraction(x.num * y.num, x.den * y.den);

/** Converts a fraction to a float64 (64 quotient bits, then scaled), so huge numerators and denominators do not overflow. */
function toNumber({ num, den }) {
  if (num === 0n) return 0;
  const sign = num < 0n ? -1 : 1;
  const magnitude = num < 0n ? -num : num;
  const exponent = magnitude.toString(2).length - den.toString(2).length;
  const shift = 64 - exponent;
  const quotient = shift >= 0 ? (magnitude << BigInt(shift)) / den : magnitude / (den << BigInt(-shift));
  return sign * Number(quotient) * 2 ** -shift;
}

function factorial(k) {
  let out = 1n;
  for (let i = 2n; i <= BigInt(k); i++) out *= i;
  return out;
}

/** Returns [c_1 … c_terms] of h(x) for the degree-m Padé approximant, as float64. */
function backwardErrorSeries(m) {
  // a_j = (2m − j)!·m! / ((2m)!·j!·(m − j)!), a_0 = 1.
  const a = [];
  for (let j = 0; j <= terms; j++) {
    a.push(j <= m ? fraction(factorial(2 * m - j) * factorial(m), factorial(2 * m) * factorial(j) * factorial(m - j)) : fraction(0n));
  }
  const log = [fraction(0n)];
  for (let k = 1; k <= terms; k++) {
    let sum = mul(fraction(BigInt(k)), a[k]);
    for (let j = 1; j < k; j++) {
      if (a[k - j].num === 0n) continue;
      sum = add(sum, mul(fraction(-BigInt(j)), mul(log[j], a[k - j])));
    }
    log.push(fraction(sum.num, sum.den * BigInt(k)));
  }
  const c = [];
  for (let k = 1; k <= terms; k++) {
    const odd = k % 2 === 1 ? mul(fraction(2n), log[k]) : fraction(0n);
    c.push(toNumber(k === 1 ? add(odd, fraction(-1n)) : odd));
  }
  return c;
}

for (const m of [3, 5, 7]) {
  const c = backwardErrorSeries(m).map(Math.abs);
  const bound = (theta) => c.reduce((sum, ck, index) => sum + ck * theta ** index, 0);
  let low = 0;
  let high = 10;
  for (let iteration = 0; iteration < 200; iteration++) {
    const middle = (low + high) / 2;
    if (bound(middle) > UNIT_ROUNDOFF) high = middle;
    else low = middle;
  }
  console.log(`m = ${m}: θ = ${low.toPrecision(16)} (first nonzero term c_${2 * m + 1} = ${c[2 * m].toExponential(4)})`);
}
