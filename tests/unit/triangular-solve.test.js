// triangularSolve against float64 residuals and the float64 reference on
// every WASM build, plus the argument checks.
//
// Tolerance: substitution is backward stable componentwise. Row i computes
// x_i = (b_i − Σ_p t_ip·x_p) / t_ii with at most n − 1 products, n − 1
// subtractions and one division, each rounded once (a fused multiply-add
// rounds less), so the computed X̂ solves (T + ΔT)·X̂ = B exactly with
// |ΔT| ≤ γ_n·|T|, γ_n = n·u/(1 − n·u), u = 2⁻²⁴, for any summation order.
// Hence:
//   residual:      |T·X̂ − B| = |ΔT·X̂| ≤ γ_n·|T|·|X̂|
//   forward error: X̂ − X = −T⁻¹·ΔT·X̂, so |X̂ − X| ≤ γ_n·|T⁻¹|·|T|·|X̂|
// (T = op(A)). The checks use γ_{n+1}: the extra u absorbs the float64
// rounding of the residual and of the reference (about n·2⁻⁵³ relative).
// The test matrices have |diagonal| in [1, 2] and off-diagonal entries in
// [−1/n, 1/n], so they are well conditioned and X̂ stays of order |B|.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { absInverse, multiply, triangularResidual, triangularSolveReference } from "../reference/linalg.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertClose, assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";

function gamma(n) {
  return (n * F32_EPS) / (1 - n * F32_EPS);
}

const COMBINATIONS = [];
for (const lower of [true, false]) {
  for (const transpose of [false, true]) {
    for (const unitDiagonal of [false, true]) COMBINATIONS.push({ lower, transpose, unitDiagonal });
  }
}

/**
 * A well-conditioned n×n matrix for `lower`: the named triangle random, the
 * other triangle NaN so a stray read shows up, and the diagonal NaN too when
 * unitDiagonal means it is not read.
 */
function triangularMatrix(n, { lower, unitDiagonal }, seed) {
  const values = seededFloats(n * n, seed, 1 / n);
  const diagonal = seededFloats(n, seed + 1);
  const a = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < n; c++) {
      const inTriangle = lower ? c < i : c > i;
      a[i * n + c] = inTriangle ? values[i * n + c] : NaN;
    }
    const d = diagonal[i];
    a[i * n + i] = unitDiagonal ? NaN : Math.sign(d || 1) * (1 + Math.abs(d));
  }
  return a;
}

function describeCase({ n, cols, lower, transpose, unitDiagonal }) {
  return `n=${n} cols=${cols} lower=${lower} transpose=${transpose} unitDiagonal=${unitDiagonal}`;
}

for (const build of ALL_BUILDS) {
  describe(`triangularSolve (${build})`, { skip: skipReason(build) }, () => {
    test("small known solves", async () => {
      const favor = await favorFor(build);
      // A = [2 0; 1 4] (lower) with b = (2, 9): A·x = b gives x = (1, 2), and
      // Aᵀ·x = b with Aᵀ = [2 1; 0 4] gives x = (−0.125, 2.25). Both are exact.
      const a = new Float32Array([2, 0, 1, 4]);
      const b = new Float32Array([2, 9]);
      assert.deepEqual(Array.from(await favor.triangularSolve(a, b, { n: 2, cols: 1, lower: true })), [1, 2]);
      assert.deepEqual(Array.from(favor.sync.triangularSolve(a, b, { n: 2, cols: 1, lower: true, transpose: true })), [-0.125, 2.25]);
      // The same numbers as an upper matrix: U = Aᵀ.
      const u = new Float32Array([2, 1, 0, 4]);
      assert.deepEqual(Array.from(favor.sync.triangularSolve(u, b, { n: 2, cols: 1, lower: false })), [-0.125, 2.25]);
      assert.deepEqual(Array.from(favor.sync.triangularSolve(u, b, { n: 2, cols: 1, lower: false, transpose: true })), [1, 2]);
      // Unit diagonal: [1 0; 1 1]·x = (2, 9) gives x = (2, 7).
      assert.deepEqual(Array.from(favor.sync.triangularSolve(a, b, { n: 2, cols: 1, lower: true, unitDiagonal: true })), [2, 7]);
    });

    test("all triangles and transposes, cols 1 to 17", async () => {
      const favor = await favorFor(build);
      let seed = 1;
      for (const n of [1, 2, 3, 4, 5, 7, 8, 16, 17, 31, 33, 64, 65]) {
        for (const combination of COMBINATIONS) {
          const a = triangularMatrix(n, combination, seed++);
          const inverse = absInverse(a, { n, ...combination });
          for (let cols = 1; cols <= 17; cols++) {
            checkSolve(favor, a, inverse, { n, cols, ...combination }, seed++);
          }
        }
      }
    });

    test("n = 200 with several column counts", async () => {
      const favor = await favorFor(build);
      const n = 200;
      let seed = 500;
      for (const combination of COMBINATIONS) {
        const a = triangularMatrix(n, combination, seed++);
        const inverse = absInverse(a, { n, ...combination });
        for (const cols of [1, 4, 16, 17]) checkSolve(favor, a, inverse, { n, cols, ...combination }, seed++);
      }
    });

    test("unit diagonal equals an explicit diagonal of ones", async () => {
      const favor = await favorFor(build);
      const n = 23;
      const cols = 9;
      for (const { lower, transpose } of COMBINATIONS) {
        const a = triangularMatrix(n, { lower, unitDiagonal: true }, 900);
        const ones = a.slice();
        for (let i = 0; i < n; i++) ones[i * n + i] = 1;
        const b = seededFloats(n * cols, 901);
        const implicit = favor.sync.triangularSolve(a, b, { n, cols, lower, transpose, unitDiagonal: true });
        const explicit = favor.sync.triangularSolve(ones, b, { n, cols, lower, transpose });
        // Division by 1 is exact, so both paths give the same bits.
        assertSameBits(implicit, explicit, `lower=${lower} transpose=${transpose}`);
      }
    });

    test("zero diagonal is allowed with unitDiagonal", async () => {
      const favor = await favorFor(build);
      const x = favor.sync.triangularSolve(new Float32Array([0, 0, 3, 0]), new Float32Array([1, 5]), { n: 2, cols: 1, lower: true, unitDiagonal: true });
      assert.deepEqual(Array.from(x), [1, 2]);
    });
  });
}

/** Solves with a NaN-filled x and checks the residual, the forward error and the unchanged inputs. */
function checkSolve(favor, a, inverse, options, seed) {
  const { n, cols } = options;
  const context = describeCase(options);
  const b = seededFloats(n * cols, seed);
  const aCopy = a.slice();
  const bCopy = b.slice();
  const x = nanFilled(n * cols);
  const result = favor.sync.triangularSolve(a, b, { ...options, x });
  assert.equal(result, x, `${context}: the result is not the x passed`);
  assertSameBits(a, aCopy, `${context}: a changed`);
  assertSameBits(b, bCopy, `${context}: b changed`);

  const g = gamma(n + 1);
  const { residual, magnitude } = triangularResidual(a, b, x, options);
  assertClose(residual, new Float64Array(residual.length), magnitude.map((value) => g * value), `${context}: residual`);
  const reference = triangularSolveReference(a, b, options);
  const forwardBound = multiply(inverse, magnitude, n, cols).map((value) => g * value);
  assertClose(x, reference, forwardBound, `${context}: forward error`);
}

describe("triangularSolve argument checks", () => {
  const eye = () => new Float32Array([1, 0, 0, 1]);
  const b2 = () => new Float32Array(2);
  const base = { n: 2, cols: 1, lower: true };
  const cases = [
    ["a plain Array for a", [[1, 0, 0, 1], b2(), base], TypeError, /^triangularSolve: a must be a Float32Array, got an Array of length 4$/],
    ["a Float64Array for b", [eye(), new Float64Array(2), base], TypeError, /^triangularSolve: b must be a Float32Array, got a Float64Array of length 2$/],
    ["a wrong length for a", [new Float32Array(3), b2(), base], RangeError, /^triangularSolve: a has length 3, expected 4 \(n 2 × n 2\)$/],
    ["a wrong length for b", [eye(), new Float32Array(3), base], RangeError, /^triangularSolve: b has length 3, expected 2 \(n 2 × cols 1\)$/],
    ["zero n", [new Float32Array(0), new Float32Array(0), { ...base, n: 0 }], RangeError, /^triangularSolve: n must be an integer >= 1, got 0$/],
    ["a negative n", [eye(), b2(), { ...base, n: -2 }], RangeError, /^triangularSolve: n must be an integer >= 1, got -2$/],
    ["a NaN cols", [eye(), b2(), { ...base, cols: NaN }], RangeError, /^triangularSolve: cols must be an integer >= 1, got NaN$/],
    ["a fractional cols", [eye(), b2(), { ...base, cols: 0.5 }], RangeError, /^triangularSolve: cols must be an integer >= 1, got 0.5$/],
    ["a string n", [eye(), b2(), { ...base, n: "2" }], TypeError, /^triangularSolve: n must be a number, got "2"$/],
    ["a missing lower", [eye(), b2(), { n: 2, cols: 1 }], TypeError, /^triangularSolve: lower must be a boolean \(true reads the lower triangle of a\), got undefined$/],
    ["a string lower", [eye(), b2(), { ...base, lower: "true" }], TypeError, /^triangularSolve: lower must be a boolean .*, got "true"$/],
    ["a numeric transpose", [eye(), b2(), { ...base, transpose: 1 }], TypeError, /^triangularSolve: transpose must be a boolean, got 1$/],
    ["a null unitDiagonal", [eye(), b2(), { ...base, unitDiagonal: null }], TypeError, /^triangularSolve: unitDiagonal must be a boolean, got null$/],
    ["a zero diagonal entry", [new Float32Array([1, 0, 5, 0]), b2(), base], RangeError,
      /^triangularSolve: diagonal entry 1 of a \(a\[3\]\) is 0, so the triangular matrix is singular; pass a matrix with a nonzero finite diagonal, or unitDiagonal: true$/],
    ["a negative zero diagonal entry", [new Float32Array([-0, 0, 5, 1]), b2(), base], RangeError, /^triangularSolve: diagonal entry 0 of a \(a\[0\]\) is 0, so the triangular matrix is singular/],
    ["a NaN diagonal entry", [new Float32Array([1, 0, 0, NaN]), b2(), { ...base, lower: false }], RangeError,
      /^triangularSolve: diagonal entry 1 of a \(a\[3\]\) is NaN, so the triangular matrix is not finite/],
    ["an infinite diagonal entry", [new Float32Array([Infinity, 0, 0, 1]), b2(), base], RangeError,
      /^triangularSolve: diagonal entry 0 of a \(a\[0\]\) is Infinity, so the triangular matrix is not finite/],
    ["a short x", [eye(), b2(), { ...base, x: new Float32Array(1) }], RangeError, /^triangularSolve: x has length 1, expected 2 \(X is 2×1\)$/],
    ["sizes past 4 GiB", [new Float32Array(0), new Float32Array(0), { ...base, n: 40000, cols: 1 }], RangeError,
      /^triangularSolve: a and b .* need \d+ bytes, more than the 4 GiB/],
    ["missing options", [eye(), b2()], TypeError, /^triangularSolve: options must be an object, got undefined$/],
  ];
  for (const [name, args, type, pattern] of cases) {
    test(`rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.triangularSolve(...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.triangularSolve(...args), (error) => error instanceof type && pattern.test(error.message));
    });
  }

  test("rejects x overlapping b", async () => {
    const favor = await favorFor("scalar");
    const b = new Float32Array(2);
    assert.throws(() => favor.sync.triangularSolve(new Float32Array([1, 0, 0, 1]), b, { ...base, x: b }),
      (error) => error instanceof RangeError && /^triangularSolve: x overlaps a or b in memory; pass a separate output array$/.test(error.message));
  });
});
