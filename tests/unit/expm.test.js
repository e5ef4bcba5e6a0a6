// linalg.expm and linalg.cayley against float64 references on every WASM
// build, the known answers, orthogonality on skew-symmetric input, and the
// argument checks. u = 2⁻²⁴ is the float32 unit roundoff.
//
// Tolerances (normwise, 1-norm, relative to the reference):
// - expm: 4·u·(‖A‖₁ + n·2^s·e^(‖A‖₁/2^s)) with s squarings. The Padé
//   degree and scaling make the truncation's backward error at most
//   u·‖A‖₁ (docs/odetoode.md), and exp's relative condition number is at
//   least ‖A‖ (equal for normal A): the u·‖A‖₁ term. Evaluating P and Q
//   from the positive Padé coefficients costs an error of order
//   n·u·p_m(‖A_s‖₁) with A_s = A/2^s, and the solve with Q = p_m(−A_s)
//   divides by as little as p_m(−‖A_s‖₁), so R_s carries a relative error of
//   order n·u·p_m(‖A_s‖₁)/p_m(−‖A_s‖₁) = n·u/r_m(−‖A_s‖₁) ≈ n·u·e^‖A_s‖₁
//   (the scalar A = −3.9 reaches 31·u of it); each squaring doubles it.
//   Measured: at most 1.09·u·(‖A‖₁ + n) for the random matrices below, and
//   the tolerance is looser than that by the factor e^‖A_s‖₁ ≤ e^3.93.
// - cayley: 4·u·(cond₁(I − A/2) + n), the forward error of an LU solve.
// - Skew-symmetric A: ‖X̂ᵀX̂ − I‖_F ≤ 4·n·u·2^s for expm with s squarings
//   (each squaring doubles the defect of the approximant) and
//   ≤ 4·n·u·(1 + ‖A‖₁/2) for cayley (the solve's error scales with
//   cond(I − A/2) ≤ 1 + ‖A‖₂/2). Measured: at most half of each bound for
//   n ≤ 33, ‖A‖₁ from 1e-3 to 1e3.
// - det X̂ = +1 up to |det X̂ − 1| ≤ √n·‖X̂ᵀX̂ − I‖_F: det(X̂)² = det(I + F)
//   with F = X̂ᵀX̂ − I, so |det X̂ − 1| ≈ |tr F|/2 ≤ √n·‖F‖_F/2; the factor 2
//   covers the second-order terms.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  cayleyReference,
  determinant,
  expmReference,
  identity,
  norm1,
  orthogonalityError,
  solve,
} from "../reference/ode.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { fillNewBuffersWithNaN } from "../helpers/memory.js";
import { F32_EPS, assertClose, seededFloats } from "../helpers/numeric.js";

const THETA_7 = 3.925724846433284;

/** Returns a random n×n matrix scaled to 1-norm `norm`. */
function randomMatrix(n, norm, seed) {
  const raw = seededFloats(n * n, seed);
  const scale = norm / norm1(raw, n);
  return raw.map((v) => v * scale);
}

/** Returns a random skew-symmetric n×n matrix ψ − ψᵀ scaled to 1-norm `norm` (zero for n = 1). */
function randomSkew(n, norm, seed) {
  const raw = seededFloats(n * n, seed);
  const skew = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) skew[i * n + j] = raw[i * n + j] - raw[j * n + i];
  const current = norm1(skew, n);
  return current === 0 ? skew : skew.map((v) => (v * norm) / current);
}

function relativeError1(actual, expected, n) {
  const difference = Array.from(actual, (v, i) => v - expected[i]);
  return norm1(difference, n) / norm1(expected, n);
}

function expmSquarings(a, n) {
  const norm = norm1(a, n);
  return norm > THETA_7 ? Math.ceil(Math.log2(norm / THETA_7)) : 0;
}

/** Returns the expm tolerance of the file header, relative and normwise. */
function expmTolerance(a, n) {
  const norm = norm1(a, n);
  const s = expmSquarings(a, n);
  return 4 * F32_EPS * (norm + n * 2 ** s * Math.exp(norm / 2 ** s));
}

for (const build of ALL_BUILDS) {
  describe(`linalg.expm and linalg.cayley (${build})`, { skip: skipReason(build) }, () => {
    test("zero and identity known answers", async () => {
      const favor = await favorFor(build);
      for (const n of [1, 2, 5]) {
        const zero = new Float32Array(n * n);
        assert.deepEqual(Array.from(await favor.linalg.expm(zero, { n })), Array.from(identity(n)), `expm(0), n=${n}`);
        assert.deepEqual(Array.from(await favor.linalg.cayley(zero, { n })), Array.from(identity(n)), `cayley(0), n=${n}`);
      }
      // A nilpotent A = [[0, 1], [0, 0]] has A² = 0, so every Padé
      // approximant gives exactly I + A after one exact triangular solve.
      assert.deepEqual(Array.from(favor.sync.linalg.expm(new Float32Array([0, 1, 0, 0]), { n: 2 })), [1, 1, 0, 1]);
      // cayley of the same A: (I − A/2)⁻¹ = I + A/2, times I + A/2 = I + A.
      assert.deepEqual(Array.from(favor.sync.linalg.cayley(new Float32Array([0, 1, 0, 0]), { n: 2 })), [1, 1, 0, 1]);
    });

    test("2×2 rotations known answers", async () => {
      const favor = await favorFor(build);
      for (const theta of [0.5, 1, Math.PI / 2, 3, Math.PI, 10]) {
        const a = new Float32Array([0, -theta, theta, 0]);
        const angle = Math.fround(theta);
        // exp([[0, −θ], [θ, 0]]) is the rotation by θ.
        const rotation = [Math.cos(angle), -Math.sin(angle), Math.sin(angle), Math.cos(angle)];
        const squarings = expmSquarings(a, 2);
        assertClose(favor.sync.linalg.expm(a, { n: 2 }), rotation, 4 * F32_EPS * (angle + 2) * 2 ** squarings, `expm rotation θ=${theta}`);
        // cayley of it is the rotation by 2·atan(θ/2): cos = (1 − θ²/4)/(1 + θ²/4), sin = θ/(1 + θ²/4).
        const q = (angle * angle) / 4;
        const cayley = [(1 - q) / (1 + q), -angle / (1 + q), angle / (1 + q), (1 - q) / (1 + q)];
        assertClose(favor.sync.linalg.cayley(a, { n: 2 }), cayley, 8 * F32_EPS * (1 + angle / 2), `cayley rotation θ=${theta}`);
      }
    });

    test("diagonal matrices", async () => {
      const favor = await favorFor(build);
      const values = [-9.5, -2, -0.25, 0, 0.125, 1, 3.5, 8];
      const n = values.length;
      const a = new Float32Array(n * n);
      values.forEach((v, i) => { a[i * n + i] = v; });
      const e = favor.sync.linalg.expm(a, { n });
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const expected = i === j ? Math.exp(values[i]) : 0;
          const bound = i === j ? expmTolerance(a, n) * expected : 0;
          assert.ok(Math.abs(e[i * n + j] - expected) <= bound, `exp(diag)[${i}][${j}] = ${e[i * n + j]}, expected ${expected}`);
        }
      }
    });

    test("expm of random matrices, norms 0.1 to 10", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      let seed = 1;
      for (const n of [1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 33]) {
        for (const norm of [0.1, 0.4, 1, 1.9, 3.9, 7, 10]) {
          const a = randomMatrix(n, norm, seed++);
          const copy = a.slice();
          const out = new Float32Array(n * n).fill(NaN);
          favor.sync.linalg.expm(a, { n, out });
          const error = relativeError1(out, expmReference(a, n), n);
          const bound = expmTolerance(a, n);
          assert.ok(error <= bound, `n=${n} ‖A‖₁=${norm}: relative error ${error} > ${bound}`);
          assert.deepEqual(a, copy, "a changed");
        }
      }
    });

    test("cayley of random matrices", async () => {
      const favor = await favorFor(build);
      fillNewBuffersWithNaN(favor);
      let seed = 500;
      for (const n of [1, 2, 3, 5, 8, 16, 17, 33]) {
        for (const norm of [0.1, 0.5, 1, 1.5]) {
          const a = randomMatrix(n, norm, seed++);
          const copy = a.slice();
          const out = favor.sync.linalg.cayley(a, { n });
          const minus = Array.from(a, (v, i) => (i % (n + 1) === 0 ? 1 : 0) - v / 2);
          const condition = norm1(minus, n) * norm1(solve(minus, identity(n), n, n), n);
          const error = relativeError1(out, cayleyReference(a, n), n);
          const bound = 4 * F32_EPS * (condition + n);
          assert.ok(error <= bound, `n=${n} ‖A‖₁=${norm}: relative error ${error} > ${bound}`);
          assert.deepEqual(a, copy, "a changed");
        }
      }
    });

    test("skew-symmetric input maps into SO(n)", async () => {
      const favor = await favorFor(build);
      let seed = 900;
      for (const n of [1, 2, 3, 4, 5, 8, 16, 17, 33]) {
        for (const norm of [1e-3, 0.1, 1, 3, 10, 100, 1000]) {
          const a = randomSkew(n, norm, seed++);
          const expm = favor.sync.linalg.expm(a, { n });
          const cayley = favor.sync.linalg.cayley(a, { n });
          const expmDefect = orthogonalityError(expm, n);
          const cayleyDefect = orthogonalityError(cayley, n);
          const expmBound = 4 * n * F32_EPS * 2 ** expmSquarings(a, n);
          const cayleyBound = 4 * n * F32_EPS * (1 + norm1(a, n) / 2);
          assert.ok(expmDefect <= expmBound, `expm n=${n} ‖A‖₁=${norm}: ‖XᵀX − I‖ = ${expmDefect} > ${expmBound}`);
          assert.ok(cayleyDefect <= cayleyBound, `cayley n=${n} ‖A‖₁=${norm}: ‖XᵀX − I‖ = ${cayleyDefect} > ${cayleyBound}`);
          for (const [name, x, defect] of [["expm", expm, expmDefect], ["cayley", cayley, cayleyDefect]]) {
            const det = determinant(x, n);
            assert.ok(Math.abs(det - 1) <= Math.sqrt(n) * defect + 1e-15, `${name} n=${n} ‖A‖₁=${norm}: det ${det}`);
          }
        }
      }
    });

    test("cayley rejects singular I − A/2", async () => {
      const favor = await favorFor(build);
      // A = 2·I makes I − A/2 zero; A = diag(2, 0) zeroes its first pivot only.
      const pattern = /linalg\.cayley: I − A\/2 is singular \(LU with partial pivoting found a zero pivot in column 0\)/;
      assert.throws(() => favor.sync.linalg.cayley(new Float32Array([2, 0, 0, 2]), { n: 2 }), (e) => e instanceof RangeError && pattern.test(e.message));
      assert.throws(() => favor.sync.linalg.cayley(new Float32Array([2, 0, 0, 0]), { n: 2 }), (e) => e instanceof RangeError && pattern.test(e.message));
      // An eigenvalue 2 hidden off the diagonal: A = [[1, 1], [1, 1]] has eigenvalues 0 and 2.
      assert.throws(() => favor.sync.linalg.cayley(new Float32Array([1, 1, 1, 1]), { n: 2 }), /column 1\)/);
      await assert.rejects(favor.linalg.cayley(new Float32Array([2]), { n: 1 }), RangeError);
    });

    test("expm rejects an overflowing result", async () => {
      const favor = await favorFor(build);
      assert.throws(() => favor.sync.linalg.expm(new Float32Array([100]), { n: 1 }),
        (e) => e instanceof RangeError && /linalg\.expm: the result is not finite at entry 0 \(Infinity\); e\^A overflows float32/.test(e.message));
    });

    test("memory returns to its size after repeated calls", async () => {
      const favor = await favorFor(build);
      const a = randomMatrix(24, 5, 4242);
      favor.sync.linalg.expm(a, { n: 24 });
      favor.sync.linalg.cayley(a.map((v) => v / 5), { n: 24 });
      const before = favor.info.memoryBytes;
      for (let i = 0; i < 20; i++) {
        favor.sync.linalg.expm(a, { n: 24 });
        favor.sync.linalg.cayley(a.map((v) => v / 5), { n: 24 });
      }
      assert.equal(favor.info.memoryBytes, before);
    });
  });
}

describe("linalg.expm and linalg.cayley argument checks", () => {
  const cases = [
    ["a plain Array", "expm", [[1], { n: 1 }], TypeError, /^linalg\.expm: a must be a Float32Array, got an Array of length 1$/],
    ["a wrong length", "expm", [new Float32Array(3), { n: 2 }], RangeError, /^linalg\.expm: a has length 3, expected 4 \(n 2 × n 2\)$/],
    ["n of 0", "cayley", [new Float32Array(0), { n: 0 }], RangeError, /^linalg\.cayley: n must be an integer >= 1, got 0$/],
    ["a fractional n", "expm", [new Float32Array(4), { n: 1.5 }], RangeError, /^linalg\.expm: n must be an integer >= 1, got 1.5$/],
    ["a NaN entry", "cayley", [new Float32Array([0, NaN, 0, 0]), { n: 2 }], RangeError, /^linalg\.cayley: a\[1\] is NaN; every entry must be finite$/],
    ["an infinite entry", "expm", [new Float32Array([Infinity]), { n: 1 }], RangeError, /^linalg\.expm: a\[0\] is Infinity; every entry must be finite$/],
    ["a short out", "expm", [new Float32Array(4), { n: 2, out: new Float32Array(3) }], RangeError, /^linalg\.expm: out has length 3, expected 4 \(n 2 × n 2\)$/],
    ["out overlapping a", "cayley", (() => { const buffer = new Float32Array(6); return [buffer.subarray(0, 4), { n: 2, out: buffer.subarray(2, 6) }]; })(), RangeError, /^linalg\.cayley: out overlaps a in memory; pass a separate output array$/],
    ["missing options", "expm", [new Float32Array(1)], TypeError, /^linalg\.expm: options must be an object, got undefined$/],
    ["sizes past 4 GiB", "expm", [new Float32Array(0), { n: 30000 }], RangeError, /^linalg\.expm: a, out and workspace \(\d+ float32 values\) need \d+ bytes, more than the 4 GiB/],
  ];
  for (const [name, fn, args, type, pattern] of cases) {
    test(`${fn} rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.linalg[fn](...args), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.linalg[fn](...args), type);
    });
  }
});
