// householder.* on every WASM build against the float64 references in
// tests/reference/householder.js, plus the argument checks.
//
// Forward tolerance. Each path rounds sums of length n (Gram matrix, Vᵀ·X,
// the k reflections' inner products) and of length k (triangular solve,
// V·Z), whose terms are bounded by the unit columns and by |S⁻¹|. A first
// order error model therefore gives |ΔQ_ij| ≤ c·(n + k)·u per entry of an
// orthogonal result (u = 2⁻²⁴), and |Δ(Q·x)_i| ≤ c·(n + k)·u·‖x‖₂ for a
// column x. The checks use c = 4 (FORWARD_C). Random rounding errors add
// like √(n + k) rather than n + k, so large shapes sit far below the bound.
// The largest ratios of error to (n + k)·u (to (n + k)·u·‖x‖₂ for apply)
// measured on the shapes below, on all three builds, were 0.88 for product
// (3×3), 0.44 for stiefel (3×2) and 1.37 for apply (2×1, 5 columns). All
// three came from the smallest shapes, where the few roundings of the
// normalization weigh most. Nearly parallel vectors make the CWY sums cancel, which
// docs/householder.md measures. A wrong reflection, order or transpose
// gives errors of order 1.
//
// Gradient tolerance. The formula ∂L/∂V = −Ḡ·V·S⁻ᵀ − Ḡᵀ·V·S⁻¹ + V·M sums
// terms that can cancel, so each entry's rounding error is a multiple of u
// times the magnitude of the terms, gradientScale64 (|Ḡ|·|A| + |Ḡ|ᵀ·|B| +
// |V|·|M̂|, see the reference), with sums of length n and k as above:
// tolerance = 4·(n + k)·u·scale. The largest measured ratios of error to
// (n + k)·u·scale were 0.17 (product, 2×1), 0.12 (stiefel, 2×1) and 0.16
// (apply, 3×1), and ∂L/∂X of apply reached 1.08 of the apply bound (2×2).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  abs64,
  applyGradient64,
  applyReference,
  centralDifferences,
  determinant64,
  gradientScale64,
  identity64,
  inner64,
  matmul64,
  maxAbs,
  maxAbsDifference,
  orthogonalityError,
  productGradient64,
  productReference,
  haarVectors64,
  stiefelGradient64,
  stiefelReference,
  transpose64,
} from "../reference/householder.js";
import { ALL_BUILDS, favorFor, skipReason } from "../helpers/builds.js";
import { F32_EPS, assertClose, assertSameBits, nanFilled, seededFloats } from "../helpers/numeric.js";

/** Float64 results shared by the three builds, keyed by case. */
const referenceCache = new Map();

/** Returns compute() for `key`, computing it once for all builds. */
function cached(key, compute) {
  if (!referenceCache.has(key)) referenceCache.set(key, compute());
  return referenceCache.get(key);
}

const FORWARD_C = 4;
const GRADIENT_C = 4;

function forwardTolerance(n, k) {
  return FORWARD_C * (n + k) * F32_EPS;
}

/** n ∈ {1, 2, 3, 17, 64, 256} with k ∈ {1, n − 1, n}, plus k around the 64-row solve blocks. */
const SHAPES = [];
for (const n of [1, 2, 3, 17, 64, 256]) {
  for (const k of new Set([1, n - 1, n])) if (k >= 1) SHAPES.push([n, k]);
}
SHAPES.push([130, 63], [130, 65], [130, 128], [130, 129], [130, 130]);

/**
 * Returns an n×k V with uniform entries whose columns are scaled by
 * 10^(j mod 5 − 2), so column norms span 0.01 … 100 and the normalization
 * and the final division by ‖v‖ are exercised.
 */
function vectors(n, k, seed) {
  const v = seededFloats(n * k, seed);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) v[i * k + j] *= 10 ** ((j % 5) - 2);
  }
  return v;
}

/** Asserts that fn throws a RangeError whose message matches `pattern`. */
function assertRangeError(fn, pattern, context) {
  assert.throws(fn, (error) => error instanceof RangeError && pattern.test(error.message), context);
}

/** Returns the Euclidean norm of column c of an n×cols matrix. */
function columnNorm(x, n, cols, c) {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i * cols + c] ** 2;
  return Math.sqrt(sum);
}

/** Asserts every column of `actual` is within 4·(n + k)·u·‖x_c‖₂ of `expected` (n×cols). */
function assertColumnsClose(actual, expected, x, n, k, cols, context) {
  const bound = new Float64Array(n * cols);
  for (let c = 0; c < cols; c++) {
    const limit = forwardTolerance(n, k) * columnNorm(x, n, cols, c);
    for (let i = 0; i < n; i++) bound[i * cols + c] = limit;
  }
  assertClose(actual, expected, bound, context);
}

/** Asserts a computed gradient against the float64 formula with the tolerance of the file header. */
function assertGradient(actual, expected, scale, n, k, context) {
  assertClose(actual, expected, GRADIENT_C * (n + k) * F32_EPS * scale, context);
}

/** Returns |Xa|·|Xb|ᵀ (n×n), the magnitude bound of Ḡ = Xa·Xbᵀ. */
function outerAbs(xa, xb, n, cols) {
  return matmul64(abs64(xa), transpose64(abs64(xb), n, cols), n, cols, n);
}

/** Pads an n×k matrix with n − k zero columns. */
function padColumns(a, n, k) {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) out[i * n + j] = a[i * k + j];
  }
  return out;
}

/** Asserts v_jᵀ·(∂L/∂V)_j = 0 for every column, within ‖v_j‖₂·‖e_j‖₂ for an error |e_ij| ≤ the gradient tolerance. */
function assertScaleInvariant(v, dv, n, k, entryTolerance, context) {
  for (let j = 0; j < k; j++) {
    let dot = 0;
    for (let i = 0; i < n; i++) dot += v[i * k + j] * dv[i * k + j];
    // The exact gradient is orthogonal to v_j, so only the error e of the
    // computed one contributes: |v_jᵀe| ≤ ‖v_j‖₂·√n·max|e_i|.
    const limit = columnNorm(v, n, k, j) * Math.sqrt(n) * entryTolerance;
    assert.ok(Math.abs(dot) <= limit, `${context}: v_${j}ᵀ·dv_${j} = ${dot}, above ${limit}`);
  }
}

for (const build of ALL_BUILDS) {
  describe(`householder forward (${build})`, { skip: skipReason(build) }, () => {
    test("known 2×2 products", async () => {
      const favor = await favorFor(build);
      // H(e_0) = diag(−1, 1); H((1, 1)) swaps and negates: [[0, −1], [−1, 0]].
      assertClose(favor.sync.householder.product(new Float32Array([3, 0]), { n: 2, k: 1 }), [-1, 0, 0, 1], 0, "H(e_0)");
      assertClose(favor.sync.householder.product(new Float32Array([1, 1]), { n: 2, k: 1 }), [0, -1, -1, 0], 2 * F32_EPS, "H((1, 1))");
      // H(e_0)·H((1, 1)) = diag(−1, 1)·[[0, −1], [−1, 0]] = [[0, 1], [−1, 0]].
      const q = await favor.householder.product(new Float32Array([1, 1, 0, 1]), { n: 2, k: 2 });
      assertClose(q, [0, 1, -1, 0], 4 * F32_EPS, "H(e_0)·H((1, 1))");
    });

    test("product, CWY and sequential, equals float64", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of SHAPES) {
        const v = vectors(n, k, 10 * n + k);
        const vCopy = v.slice();
        const expected = cached(`product ${n} ${k}`, () => productReference(v, n, k));
        for (const method of ["cwy", "sequential"]) {
          const context = `${n}×${k} ${method}`;
          const q = nanFilled(n * n);
          const result = favor.sync.householder.product(v, { n, k, method, q });
          assert.equal(result, q, `${context}: q is not the array passed`);
          assertClose(q, expected, forwardTolerance(n, k), context);
          assertSameBits(v, vCopy, `${context}: v changed`);
        }
      }
    });

    test("product is orthogonal with det (−1)^k", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of SHAPES) {
        const q = favor.sync.householder.product(vectors(n, k, 20 * n + k), { n, k });
        const context = `${n}×${k}`;
        // ‖Q̂ᵀQ̂ − I‖: Q̂ = Q + E with |E_ij| ≤ t gives |(Q̂ᵀQ̂ − I)_ij| ≤ 2·‖E e_j‖₂ + ‖E‖² ≤ 2√n·t + n·t².
        const t = forwardTolerance(n, k);
        const orthogonality = orthogonalityError(q, n, n);
        assert.ok(orthogonality <= 2 * Math.sqrt(n) * t + n * t * t, `${context}: max |QᵀQ − I| = ${orthogonality}`);
        // det(Q̂)² = det(Q̂ᵀQ̂) is a product of n eigenvalues within n·ε of 1
        // (ε = max |Q̂ᵀQ̂ − I|), so |det Q̂| − 1 is at most about n²·ε.
        const det = determinant64(q, n);
        const expected = k % 2 === 0 ? 1 : -1;
        assert.equal(Math.sign(det), expected, `${context}: det Q = ${det}, expected sign ${expected}`);
        assert.ok(Math.abs(Math.abs(det) - 1) <= n * n * orthogonality + 1e-12, `${context}: |det Q| = ${Math.abs(det)}`);
      }
    });

    test("stiefel equals float64 and has orthonormal columns", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of SHAPES) {
        const v = vectors(n, k, 30 * n + k);
        const vCopy = v.slice();
        const context = `${n}×${k}`;
        const omega = nanFilled(n * k);
        const result = await favor.householder.stiefel(v, { n, k, omega });
        assert.equal(result, omega, `${context}: omega is not the array passed`);
        assertClose(omega, cached(`stiefel ${n} ${k}`, () => stiefelReference(v, n, k)), forwardTolerance(n, k), context);
        const t = forwardTolerance(n, k);
        const orthogonality = orthogonalityError(omega, n, k);
        assert.ok(orthogonality <= 2 * Math.sqrt(n) * t + n * t * t, `${context}: max |ΩᵀΩ − I| = ${orthogonality}`);
        assertSameBits(v, vCopy, `${context}: v changed`);
      }
    });

    test("apply equals product·X and productᵀ·X", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of SHAPES) {
        const v = vectors(n, k, 40 * n + k);
        for (const cols of [1, 5]) {
          const x = seededFloats(n * cols, 50 * n + k + cols);
          const vCopy = v.slice();
          const xCopy = x.slice();
          for (const transpose of [false, true]) {
            const expected = cached(`apply ${n} ${k} ${cols} ${transpose}`, () => applyReference(v, x, n, k, cols, transpose));
            for (const method of ["cwy", "sequential"]) {
              const context = `${n}×${k} cols ${cols} ${transpose ? "Qᵀ·X" : "Q·X"} ${method}`;
              const out = nanFilled(n * cols);
              const result = favor.sync.householder.apply(v, x, { n, k, cols, transpose, method, out });
              assert.equal(result, out, `${context}: out is not the array passed`);
              assertColumnsClose(out, expected, x, n, k, cols, context);
            }
          }
          assertSameBits(v, vCopy, `${n}×${k}: v changed`);
          assertSameBits(x, xCopy, `${n}×${k}: x changed`);
        }
      }
    });

    test("sequential paths across their 16-column panels", async () => {
      const favor = await favorFor(build);
      // The sequential kernels copy 16 columns at a time into a packed
      // panel, apply every reflection there and copy it back. Column counts
      // below, at and past one and two panels, and n = 512 and 1024 (row
      // strides of 2 and 4 KiB in X and Q), check that each column lands
      // where it came from. A column copied to the
      // wrong place or left out gives errors of order 1.
      for (const [n, k, colsList] of [[16, 16, [15, 16, 17]], [33, 7, [31, 32, 33, 47]], [512, 3, [1, 17]], [1024, 2, [16, 20]]]) {
        const v = vectors(n, k, 60 * n + k);
        const expected = cached(`product ${n} ${k}`, () => productReference(v, n, k));
        const q = nanFilled(n * n);
        favor.sync.householder.product(v, { n, k, method: "sequential", q });
        assertClose(q, expected, forwardTolerance(n, k), `${n}×${k} product`);
        for (const cols of colsList) {
          const x = seededFloats(n * cols, 70 * n + cols);
          const xCopy = x.slice();
          for (const transpose of [false, true]) {
            const context = `${n}×${k} cols ${cols} ${transpose ? "Qᵀ·X" : "Q·X"} sequential`;
            const out = nanFilled(n * cols);
            favor.sync.householder.apply(v, x, { n, k, cols, transpose, method: "sequential", out });
            assertColumnsClose(out, applyReference(v, x, n, k, cols, transpose), x, n, k, cols, context);
          }
          assertSameBits(x, xCopy, `${n}×${k} cols ${cols}: x changed`);
        }
      }
    });

    test("apply matches the product matrix", async () => {
      const favor = await favorFor(build);
      // One panel of the blocked apply (k < 64), and three with a partial
      // last panel (64 + 64 + 12), against the unblocked CWY product.
      for (const [n, k, cols] of [[40, 23, 7], [150, 140, 9]]) {
        const v = vectors(n, k, 5 + n);
        const x = seededFloats(n * cols, 6 + n);
        const q = favor.sync.householder.product(v, { n, k });
        for (const transpose of [false, true]) {
          const viaQ = matmul64(transpose ? transpose64(q, n, n) : q, x, n, n, cols);
          const out = favor.sync.householder.apply(v, x, { n, k, cols, transpose });
          // Both sides carry the forward error once, hence twice the bound.
          const bound = new Float64Array(n * cols);
          for (let c = 0; c < cols; c++) {
            for (let i = 0; i < n; i++) bound[i * cols + c] = 2 * forwardTolerance(n, k) * columnNorm(x, n, cols, c);
          }
          assertClose(out, viaQ, bound, `${n}×${k} cols ${cols} ${transpose ? "Qᵀ·X" : "Q·X"}`);
        }
      }
    });

    test("column scale does not change the result", async () => {
      const favor = await favorFor(build);
      // H(c·v) = H(v). Scaling by 2^±60 is exact and keeps the largest
      // entry inside [2^-100, 2^100], where the normalization multiplies by
      // 1/max|v|, so Q comes back bit for bit. At 2^±120 the entries would
      // overflow or underflow when squared unscaled, and the normalization
      // divides instead, so Q is only checked against float64.
      const n = 33;
      const k = 20;
      const v = seededFloats(n * k, 8);
      const plain = favor.sync.householder.product(v, { n, k });
      for (const exponent of [60, -60]) {
        const scaled = v.map((value) => value * 2 ** exponent);
        assertSameBits(favor.sync.householder.product(scaled, { n, k }), plain, `2^${exponent}`);
      }
      for (const exponent of [120, -120, -140]) {
        // At 2^-140 the entries are subnormal and keep fewer bits, so the
        // reference uses the rounded input.
        const scaled = v.map((value) => value * 2 ** exponent);
        const expected = productReference(scaled, n, k);
        assertClose(favor.sync.householder.product(scaled, { n, k }), expected, forwardTolerance(n, k), `2^${exponent}`);
      }
      // A column of 1e-30 next to one of 1e30 (not powers of two).
      const mixed = v.slice();
      for (let i = 0; i < n; i++) {
        mixed[i * k] *= 1e-30;
        mixed[i * k + 1] *= 1e30;
      }
      assertClose(favor.sync.householder.product(mixed, { n, k }), productReference(mixed, n, k), forwardTolerance(n, k), "1e±30");
    });

    test("NaN in v propagates", async () => {
      const favor = await favorFor(build);
      const q = favor.sync.householder.product(new Float32Array([1, NaN, 2, 3]), { n: 2, k: 2 });
      assert.ok(q.some(Number.isNaN), "no NaN in q");
    });

    test("repeated calls keep the memory size", async () => {
      const favor = await favorFor(build);
      const n = 70;
      const k = 70;
      const v = vectors(n, k, 3);
      const g = seededFloats(n * n, 4);
      const run = () => {
        favor.sync.householder.product(v, { n, k });
        favor.sync.householder.backward(v, g, { n, k, mode: "product" });
      };
      run();
      const before = favor.info.memoryBytes;
      for (let i = 0; i < 3; i++) run();
      assert.equal(favor.info.memoryBytes, before);
    });
  });

  describe(`householder backward (${build})`, { skip: skipReason(build) }, () => {
    test("product gradient equals the float64 formula", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of SHAPES) {
        const v = vectors(n, k, 60 * n + k);
        const g = seededFloats(n * n, 70 * n + k);
        const vCopy = v.slice();
        const gCopy = g.slice();
        const context = `${n}×${k}`;
        const dv = nanFilled(n * k);
        const result = favor.sync.householder.backward(v, g, { n, k, mode: "product", dv });
        assert.equal(result.dv, dv, `${context}: dv is not the array passed`);
        assert.equal(result.dx, undefined, `${context}: dx returned`);
        const [expected, scale] = cached(`product gradient ${n} ${k}`,
          () => [productGradient64(v, g, n, k), gradientScale64(v, abs64(g), n, k)]);
        assertGradient(dv, expected, scale, n, k, context);
        assertScaleInvariant(v, dv, n, k, GRADIENT_C * (n + k) * F32_EPS * scale, context);
        assertSameBits(v, vCopy, `${context}: v changed`);
        assertSameBits(g, gCopy, `${context}: gradOutput changed`);
      }
    });

    test("stiefel gradient equals the float64 formula", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of SHAPES) {
        const v = vectors(n, k, 80 * n + k);
        const g = seededFloats(n * k, 90 * n + k);
        const context = `${n}×${k}`;
        const dv = nanFilled(n * k);
        await favor.householder.backward(v, g, { n, k, mode: "stiefel", dv });
        const [expected, scale] = cached(`stiefel gradient ${n} ${k}`,
          () => [stiefelGradient64(v, g, n, k), gradientScale64(v, padColumns(abs64(g), n, k), n, k)]);
        assertGradient(dv, expected, scale, n, k, context);
        assertScaleInvariant(v, dv, n, k, GRADIENT_C * (n + k) * F32_EPS * scale, context);
      }
    });

    test("apply gradients equal the float64 formula", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of SHAPES) {
        const v = vectors(n, k, 100 * n + k);
        for (const cols of [1, 6]) {
          const x = seededFloats(n * cols, 110 * n + k);
          const g = seededFloats(n * cols, 120 * n + k);
          const xCopy = x.slice();
          const gCopy = g.slice();
          for (const transpose of [false, true]) {
            const context = `${n}×${k} cols ${cols}${transpose ? " transposed" : ""}`;
            const dv = nanFilled(n * k);
            const dx = nanFilled(n * cols);
            const result = favor.sync.householder.backward(v, g, { n, k, mode: "apply", x, cols, transpose, dv, dx });
            assert.equal(result.dv, dv, `${context}: dv is not the array passed`);
            assert.equal(result.dx, dx, `${context}: dx is not the array passed`);
            const [expected, scale] = cached(`apply gradient ${n} ${k} ${cols} ${transpose}`, () => [
              applyGradient64(v, g, x, n, k, cols, transpose),
              gradientScale64(v, transpose ? outerAbs(x, g, n, cols) : outerAbs(g, x, n, cols), n, k),
            ]);
            assertGradient(dv, expected.dv, scale, n, k, `${context}: dv`);
            assertScaleInvariant(v, dv, n, k, GRADIENT_C * (n + k) * F32_EPS * scale, context);
            // ∂L/∂X = op(Q)ᵀ·Ḡ is an apply of Ḡ, with the apply tolerance.
            assertColumnsClose(dx, expected.dx, g, n, k, cols, `${context}: dx`);
          }
          assertSameBits(x, xCopy, `${n}×${k}: x changed`);
          assertSameBits(g, gCopy, `${n}×${k}: gradOutput changed`);
        }
      }
    });

    test("gradients match central differences of the float64 forward", async () => {
      const favor = await favorFor(build);
      // Central differences of the float64 forward with step h = 1e-4 on
      // entries of size ≤ 1 err by about h²·|f‴|/6 + 1e-16·|L|/h, below 1e-7
      // of the gradient scale here. The check first confirms that for the
      // float64 formula (FD_TOLERANCE·scale), then compares the float32
      // backward with the differences at the float32 tolerance plus that.
      const FD_TOLERANCE = 1e-6;
      const h = 1e-4;
      for (const [n, k] of [[2, 1], [3, 3], [5, 4], [17, 16], [17, 17], [64, 63]]) {
        const v = seededFloats(n * k, 200 + n + k);
        // Every entry for small shapes, six spread entries for 64×63.
        const indices = n * k <= 300 ? Array.from({ length: n * k }, (_, i) => i) : [0, 1, 700, 2001, 3333, n * k - 1];
        const cols = 3;
        const x = seededFloats(n * cols, 300 + n);
        const cases = [
          ["product", seededFloats(n * n, 400 + n), (p, g) => inner64(g, productReference(p, n, k))],
          ["stiefel", seededFloats(n * k, 500 + n), (p, g) => inner64(g, stiefelReference(p, n, k))],
          ["apply", seededFloats(n * cols, 600 + n), (p, g) => inner64(g, applyReference(p, x, n, k, cols))],
          ["apply transposed", seededFloats(n * cols, 700 + n), (p, g) => inner64(g, applyReference(p, x, n, k, cols, true))],
        ];
        for (const [name, g, loss] of cases) {
          const context = `${n}×${k} ${name}`;
          const transpose = name === "apply transposed";
          const options = name.startsWith("apply")
            ? { n, k, mode: "apply", x, cols, transpose }
            : { n, k, mode: name };
          const { dv } = favor.sync.householder.backward(v, g, options);
          const fd = centralDifferences((p) => loss(p, g), v, indices, h);
          const gbarAbs = name === "product" ? abs64(g)
            : name === "stiefel" ? padColumns(abs64(g), n, k)
              : transpose ? outerAbs(x, g, n, cols) : outerAbs(g, x, n, cols);
          const scale = gradientScale64(v, gbarAbs, n, k);
          const formula = name === "product" ? productGradient64(v, g, n, k)
            : name === "stiefel" ? stiefelGradient64(v, g, n, k)
              : applyGradient64(v, g, x, n, k, cols, transpose).dv;
          const picked = (values) => indices.map((i) => values[i]);
          assertClose(picked(formula), fd, FD_TOLERANCE * scale, `${context}: float64 formula vs differences`);
          assertClose(picked(dv), fd, (GRADIENT_C * (n + k) * F32_EPS + FD_TOLERANCE) * scale, `${context}: float32 vs differences`);
        }
        // ∂L/∂X of apply against differences in x.
        const g = seededFloats(n * cols, 800 + n);
        const { dx } = favor.sync.householder.backward(v, g, { n, k, mode: "apply", x, cols });
        const xIndices = Array.from({ length: Math.min(n * cols, 40) }, (_, i) => i);
        const fdx = centralDifferences((p) => inner64(g, applyReference(v, p, n, k, cols)), x, xIndices, h);
        assertClose(xIndices.map((i) => dx[i]), fdx, forwardTolerance(n, k) * Math.sqrt(n) + FD_TOLERANCE, `${n}×${k}: dx vs differences`);
      }
    });

    test("n = 1 gives a zero gradient", async () => {
      const favor = await favorFor(build);
      // Q = [−1] for every v, so nothing depends on v.
      const { dv } = favor.sync.householder.backward(new Float32Array([2]), new Float32Array([5]), { n: 1, k: 1, mode: "product" });
      assert.equal(dv[0], 0);
    });
  });

  describe(`householder fromOrthogonal and randomOrthogonal (${build})`, { skip: skipReason(build) }, () => {
    test("round trip Q → V → product(V)", async () => {
      const favor = await favorFor(build);
      for (const n of new Set(SHAPES.filter(([rows, k]) => rows === k).map(([rows]) => rows))) {
        const q = favor.sync.householder.product(vectors(n, n, 900 + n), { n, k: n });
        const qCopy = q.slice();
        const v = nanFilled(n * n);
        const result = favor.sync.householder.fromOrthogonal(q, { n, k: n, v });
        assert.equal(result, v, `${n}: v is not the array passed`);
        assertSameBits(q, qCopy, `${n}: q changed`);
        for (let j = 0; j < n; j++) {
          for (let i = 0; i < j; i++) assert.equal(v[i * n + j], 0, `${n}: v[${i}][${j}] above the diagonal`);
          assert.ok(Math.abs(columnNorm(v, n, n, j) - 1) <= 4 * n * F32_EPS, `${n}: column ${j} is not a unit vector`);
        }
        // The QR of q and the product each add one forward error.
        assertClose(favor.sync.householder.product(v, { n, k: n }), q, 3 * forwardTolerance(n, n), `${n}: product(V)`);
      }
    });

    test("round trip Ω → V → stiefel(V)", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of SHAPES) {
        const omega = favor.sync.householder.stiefel(vectors(n, k, 1000 + n + k), { n, k });
        const v = favor.sync.householder.fromOrthogonal(omega, { n, k });
        assertClose(favor.sync.householder.stiefel(v, { n, k }), omega, 3 * forwardTolerance(n, k), `${n}×${k}`);
      }
    });

    test("round trip with padded row strides", async () => {
      const favor = await favorFor(build);
      // The backend stores q with rows 272 (k = 260) or 528 (k = 512)
      // floats apart. A row copied in at the wrong stride gives V for a
      // different matrix, and stiefel(V) then misses Ω by order 1.
      for (const [n, k] of [[300, 260], [520, 512]]) {
        const omega = favor.sync.householder.stiefel(vectors(n, k, 1100 + n + k), { n, k });
        const v = favor.sync.householder.fromOrthogonal(omega, { n, k });
        assertClose(favor.sync.householder.stiefel(v, { n, k }), omega, 3 * forwardTolerance(n, k), `${n}×${k}`);
      }
    });

    test("identity columns take the e_{j+1} reflections", async () => {
      const favor = await favorFor(build);
      for (const [n, k] of [[2, 1], [5, 3], [6, 6], [9, 8]]) {
        // Every column is already +e_j, so each step reflects across e_{j+1}
        // and the next column, now −e_{j+1}, is reflected back.
        const e = new Float32Array(identity64(n, k));
        const v = favor.sync.householder.fromOrthogonal(e, { n, k });
        assertClose(favor.sync.householder.stiefel(v, { n, k }), e, 0, `${n}×${k}`);
      }
    });

    test("wrong determinant is rejected, and n − 1 columns recover q", async () => {
      const favor = await favorFor(build);
      for (const n of [2, 3, 8, 17]) {
        // n − 1 reflections give det (−1)^(n−1), the sign n reflections cannot reach.
        const q = favor.sync.householder.product(vectors(n, n - 1, 1100 + n), { n, k: n - 1 });
        const found = n % 2 === 0 ? "−1" : "\\+1";
        const reachable = n % 2 === 0 ? "\\+1" : "−1";
        const pattern = new RegExp(
          `^householder\\.fromOrthogonal: q has determinant ${found}, but a product of n = ${n} Householder reflections ` +
            `has determinant \\(−1\\)\\^${n} = ${reachable}; pass its first ${n - 1} columns with k = ${n - 1}, ` +
            `whose ${n - 1} reflections multiply to q itself$`,
        );
        assertRangeError(() => favor.sync.householder.fromOrthogonal(q, { n, k: n }), pattern, `${n}: message`);
        const firstColumns = new Float32Array(n * (n - 1));
        for (let i = 0; i < n; i++) firstColumns.set(q.subarray(i * n, i * n + n - 1), i * (n - 1));
        const v = favor.sync.householder.fromOrthogonal(firstColumns, { n, k: n - 1 });
        assertClose(favor.sync.householder.product(v, { n, k: n - 1 }), q, 3 * forwardTolerance(n, n), `${n}: product of n − 1`);
      }
      assertRangeError(() => favor.sync.householder.fromOrthogonal(new Float32Array([1]), { n: 1, k: 1 }),
        /^householder\.fromOrthogonal: q has determinant \+1, but a product of n = 1 Householder reflections has determinant \(−1\)\^1 = −1; in one dimension the only reflection is \[−1\]$/);
      assertClose(favor.sync.householder.fromOrthogonal(new Float32Array([-1]), { n: 1, k: 1 }), [1], 0, "n = 1");
    });

    test("non-orthogonal input is rejected", async () => {
      const favor = await favorFor(build);
      const q = favor.sync.householder.product(vectors(6, 6, 7), { n: 6, k: 6 });
      const bent = q.slice();
      bent[7] += 0.01;
      assertRangeError(() => favor.sync.householder.fromOrthogonal(bent, { n: 6, k: 6 }),
        /^householder\.fromOrthogonal: q is not orthogonal: max \|\(qᵀq − I\)_ij\| is 0\.0\d+, above the tolerance 0\.001; pass an orthogonal matrix \(or raise options\.tolerance\)$/);
      // The same matrix passes with a looser tolerance.
      favor.sync.householder.fromOrthogonal(bent, { n: 6, k: 6, tolerance: 0.05 });
      const tall = new Float32Array([1, 0, 0, 1, 0, 0.5]);
      assertRangeError(() => favor.sync.householder.fromOrthogonal(tall, { n: 3, k: 2 }),
        /^householder\.fromOrthogonal: the columns of q are not orthonormal: max \|\(qᵀq − I\)_ij\| is 0\.25/);
      const withNaN = q.slice();
      withNaN[3] = NaN;
      assertRangeError(() => favor.sync.householder.fromOrthogonal(withNaN, { n: 6, k: 6 }), /is NaN, above the tolerance/);
    });

    test("randomOrthogonal equals the reference product of the stream", async () => {
      const favor = await favorFor(build);
      for (const n of [1, 2, 3, 8, 17, 64]) {
        for (const [seed, offset] of [[7, 0], [2n ** 63n + 5n, 1234]]) {
          const context = `n ${n} seed ${seed} offset ${offset}`;
          const q = nanFilled(n * n);
          const result = favor.sync.householder.randomOrthogonal({ n, seed, offset, q });
          assert.equal(result, q, `${context}: q is not the array passed`);
          const g = favor.sync.random.normal(n * n, seed, { offset });
          const expected = productReference(haarVectors64(g, n), n, n);
          assertClose(q, expected, forwardTolerance(n, n), context);
          const det = determinant64(q, n);
          assert.equal(Math.sign(det), n % 2 === 0 ? 1 : -1, `${context}: det ${det}`);
        }
      }
      // The same seed gives the same bits, the Promise form included.
      const a = favor.sync.householder.randomOrthogonal({ n: 9, seed: 3 });
      assertSameBits(await favor.householder.randomOrthogonal({ n: 9, seed: 3n }), a, "seed 3");
      assert.ok(maxAbsDifference(favor.sync.householder.randomOrthogonal({ n: 9, seed: 4 }), a) > 0.1, "seeds 3 and 4 agree");
    });

    test("sampleOrthogonalCwy stacks blocks of the stream", async () => {
      const favor = await favorFor(build);
      const { WasmBackend } = await import("../../dist/backends/wasm/backend.js");
      const { sampleOrthogonalCwy } = await import("../../dist/backends/wasm/ops/householder.js");
      const module = await WebAssembly.compile(readFileSync(new URL(`../../build/favor.${build}.wasm`, import.meta.url)));
      const backend = await WasmBackend.create(module);
      const d = 6;
      const rows = 15;
      const sampled = backend.withScope("test", (scope) => {
        const pointer = sampleOrthogonalCwy(backend, scope, d, rows, { key0: 11, key1: 0, offsetLo: 100, offsetHi: 0 });
        return backend.f32(pointer, rows * d).slice();
      });
      // Block b is randomOrthogonal with offset 100 + b·d²; the last keeps 3 rows.
      for (let b = 0; b < 3; b++) {
        const block = favor.sync.householder.randomOrthogonal({ n: d, seed: 11, offset: 100 + b * d * d });
        const keep = Math.min(d, rows - b * d);
        assertSameBits(sampled.subarray(b * d * d, b * d * d + keep * d), block.subarray(0, keep * d), `block ${b}`);
      }
    });
  });
}

describe("householder randomOrthogonal statistics", () => {
  // Haar measure on {Q ∈ O(n): det Q = (−1)^n} is invariant under rotations
  // on both sides, so for n ≥ 2 E[Q_ij] = 0 and E[Q_ij²] = 1/n, and for n ≥ 3
  // E[tr Q] = 0 and E[(tr Q)²] = 1 (the trace of the defining representation
  // of SO(n) has mean 0 and second moment 1). The checks allow 4.5 standard
  // errors of the sample means (two-sided normal tail 6.8e-6 each), with the
  // variances Var Q_ij = 1/n, Var Q_ij² = 3/(n(n+2)) − 1/n², Var tr = 1 and
  // Var tr² = E[tr⁴] − 1, where E[tr⁴] = 3 for n ≥ 5 and 4 on SO(4) (the
  // determinant adds one invariant of degree 4; a float64 simulation with
  // 2·10⁵ Gram–Schmidt samples gave 4.01 for n = 4 and 2.99 for n = 8).
  // V with Gaussian entries instead of the positive-axis vectors fails the
  // trace check: its E[tr Q] = n·(1 − 2/n)^n, 0.80 for n = 8.
  const Z = 4.5;
  test("moments match Haar measure", async () => {
    const favor = await favorFor("scalar");
    const draws = 4000;
    for (const n of [4, 8]) {
      let trace = 0;
      let traceSquared = 0;
      let entry = 0;
      let entrySquared = 0;
      for (let r = 0; r < draws; r++) {
        const q = favor.sync.householder.randomOrthogonal({ n, seed: 99, offset: r * n * n });
        let t = 0;
        for (let i = 0; i < n; i++) t += q[i * n + i];
        trace += t;
        traceSquared += t * t;
        // Entry (1, 2) as a fixed off-diagonal representative.
        entry += q[n + 2];
        entrySquared += q[n + 2] ** 2;
      }
      const mean = (sum) => sum / draws;
      const se = (variance) => Z * Math.sqrt(variance / draws);
      assert.ok(Math.abs(mean(trace)) <= se(1), `n ${n}: E[tr Q] = ${mean(trace)}`);
      const fourthMoment = n === 4 ? 4 : 3;
      assert.ok(Math.abs(mean(traceSquared) - 1) <= se(fourthMoment - 1), `n ${n}: E[(tr Q)²] = ${mean(traceSquared)}`);
      assert.ok(Math.abs(mean(entry)) <= se(1 / n), `n ${n}: E[Q_12] = ${mean(entry)}`);
      const varianceOfSquare = 3 / (n * (n + 2)) - 1 / (n * n);
      assert.ok(Math.abs(mean(entrySquared) - 1 / n) <= se(varianceOfSquare), `n ${n}: E[Q_12²] = ${mean(entrySquared)}`);
    }
  });

  test("n = 2 rotation angle is uniform", async () => {
    const favor = await favorFor("scalar");
    // det = +1, so Q is a rotation by θ; Haar on SO(2) means θ uniform on
    // (−π, π]. Kolmogorov–Smirnov with the DKW–Massart bound at α = 1e-4.
    const draws = 4000;
    const angles = [];
    for (let r = 0; r < draws; r++) {
      const q = favor.sync.householder.randomOrthogonal({ n: 2, seed: 5, offset: 4 * r });
      angles.push(Math.atan2(q[2], q[0]));
    }
    angles.sort((a, b) => a - b);
    let distance = 0;
    for (let i = 0; i < draws; i++) {
      const cdf = (angles[i] + Math.PI) / (2 * Math.PI);
      distance = Math.max(distance, Math.abs(cdf - i / draws), Math.abs(cdf - (i + 1) / draws));
    }
    const bound = Math.sqrt(Math.log(2 / 1e-4) / (2 * draws));
    assert.ok(distance <= bound, `KS distance ${distance} > ${bound}`);
  });
});

describe("householder argument checks", () => {
  const v6 = () => new Float32Array([1, 2, 3, 4, 5, 6]);
  const cases = [
    ["product", "a plain Array for v", () => [[1, 2], { n: 2, k: 1 }], TypeError,
      /^householder\.product: v must be a Float32Array, got an Array of length 2$/],
    ["product", "a wrong length for v", () => [new Float32Array(5), { n: 3, k: 2 }], RangeError,
      /^householder\.product: v has length 5, expected 6 \(n 3 × k 2, one vector per column\)$/],
    ["product", "a zero column", () => [new Float32Array([1, 0, 2, 0, 3, 0]), { n: 3, k: 2 }], RangeError,
      /^householder\.product: column 1 of v is all zeros, but every Householder vector must be nonzero \(H\(v\) = I − 2·v·vᵀ\/\(vᵀv\) is undefined for v = 0\)$/],
    ["product", "k = 0", () => [new Float32Array(0), { n: 3, k: 0 }], RangeError,
      /^householder\.product: k must be an integer >= 1, got 0$/],
    ["product", "k above n", () => [v6(), { n: 2, k: 3 }], RangeError,
      /^householder\.product: k is 3, but must be at most n = 2 \(at most n reflections of n-dimensional space\)$/],
    ["product", "n = 0", () => [new Float32Array(0), { n: 0, k: 0 }], RangeError,
      /^householder\.product: n must be an integer >= 1, got 0$/],
    ["product", "a string n", () => [v6(), { n: "3", k: 2 }], TypeError,
      /^householder\.product: n must be a number, got "3"$/],
    ["product", "an unknown method", () => [v6(), { n: 3, k: 2, method: "wy" }], RangeError,
      /^householder\.product: method must be one of "cwy", "sequential", got "wy"$/],
    ["product", "a short q", () => [v6(), { n: 3, k: 2, q: new Float32Array(6) }], RangeError,
      /^householder\.product: q has length 6, expected 9 \(Q is 3×3\)$/],
    ["product", "q aliasing v", () => { const b = new Float32Array(12); b.set([1, 2, 3, 4, 5, 6]); return [b.subarray(0, 6), { n: 3, k: 2, q: b.subarray(3) }]; }, RangeError,
      /^householder\.product: q overlaps an input array in memory; pass a separate output array$/],
    ["product", "sizes past 4 GiB", () => [new Float32Array(0), { n: 40000, k: 40000 }], RangeError,
      /^householder\.product: v, q and workspace for n 40000, k 40000 need \d+ bytes, more than the 4 GiB/],
    ["product", "missing options", () => [v6()], TypeError,
      /^householder\.product: options must be an object, got undefined$/],
    ["stiefel", "a short omega", () => [v6(), { n: 3, k: 2, omega: new Float32Array(9) }], RangeError,
      /^householder\.stiefel: omega has length 9, expected 6 \(Ω is 3×2\)$/],
    ["stiefel", "a Float64Array v", () => [new Float64Array(6), { n: 3, k: 2 }], TypeError,
      /^householder\.stiefel: v must be a Float32Array, got a Float64Array of length 6$/],
    ["apply", "missing cols", () => [v6(), new Float32Array(3), { n: 3, k: 2 }], TypeError,
      /^householder\.apply: cols must be a number, got undefined$/],
    ["apply", "a wrong x length", () => [v6(), new Float32Array(4), { n: 3, k: 2, cols: 1 }], RangeError,
      /^householder\.apply: x has length 4, expected 3 \(n 3 × cols 1\)$/],
    ["apply", "a string transpose", () => [v6(), new Float32Array(3), { n: 3, k: 2, cols: 1, transpose: "yes" }], TypeError,
      /^householder\.apply: transpose must be a boolean, got "yes"$/],
    ["apply", "out aliasing x", () => { const x = new Float32Array(3); return [v6(), x, { n: 3, k: 2, cols: 1, out: x }]; }, RangeError,
      /^householder\.apply: out overlaps an input array in memory; pass a separate output array$/],
    ["backward", "a missing mode", () => [v6(), new Float32Array(9), { n: 3, k: 2 }], RangeError,
      /^householder\.backward: mode must be one of "product", "stiefel", "apply", got undefined$/],
    ["backward", "a product gradient of the wrong size", () => [v6(), new Float32Array(6), { n: 3, k: 2, mode: "product" }], RangeError,
      /^householder\.backward: gradOutput has length 6, expected 9 \(∂L\/∂Q is 3×3\)$/],
    ["backward", "a stiefel gradient of the wrong size", () => [v6(), new Float32Array(9), { n: 3, k: 2, mode: "stiefel" }], RangeError,
      /^householder\.backward: gradOutput has length 9, expected 6 \(∂L\/∂Ω is 3×2\)$/],
    ["backward", "apply without x", () => [v6(), new Float32Array(3), { n: 3, k: 2, mode: "apply", cols: 1 }], TypeError,
      /^householder\.backward: x is missing; mode "apply" needs the X of the forward call \(n×cols Float32Array\)$/],
    ["backward", "x with mode product", () => [v6(), new Float32Array(9), { n: 3, k: 2, mode: "product", x: new Float32Array(3) }], TypeError,
      /^householder\.backward: x is only used with mode "apply", but mode is "product"; remove it$/],
    ["backward", "a wrong dx length", () => [v6(), new Float32Array(3), { n: 3, k: 2, mode: "apply", cols: 1, x: new Float32Array(3), dx: new Float32Array(2) }], RangeError,
      /^householder\.backward: dx has length 2, expected 3 \(∂L\/∂X is 3×1\)$/],
    ["fromOrthogonal", "a wrong q length", () => [new Float32Array(5), { n: 3, k: 2 }], RangeError,
      /^householder\.fromOrthogonal: q has length 5, expected 6 \(n 3 × k 2\)$/],
    ["fromOrthogonal", "a zero tolerance", () => [new Float32Array(4), { n: 2, k: 2, tolerance: 0 }], RangeError,
      /^householder\.fromOrthogonal: tolerance must be positive, got 0$/],
    ["fromOrthogonal", "an infinite tolerance", () => [new Float32Array(4), { n: 2, k: 2, tolerance: Infinity }], RangeError,
      /^householder\.fromOrthogonal: tolerance must be finite, got Infinity$/],
    ["randomOrthogonal", "a missing seed", () => [{ n: 3 }], TypeError,
      /^householder\.randomOrthogonal: seed is missing; pass a number in \[0, 2\^53 − 1\] or a bigint in \[0, 2\^64 − 1\]$/],
    ["randomOrthogonal", "a negative seed", () => [{ n: 3, seed: -1 }], RangeError,
      /^householder\.randomOrthogonal: seed must be an integer in \[0, 2\^53 − 1\] \(or a bigint up to 2\^64 − 1\), got -1$/],
    ["randomOrthogonal", "an offset past the stream", () => [{ n: 3, seed: 1, offset: 2n ** 64n - 5n }], RangeError,
      /^householder\.randomOrthogonal: offset 18446744073709551611n plus the 9 draws of one matrix runs past the end of the stream \(2\^64 draws per seed\); use a smaller offset or another seed$/],
    ["randomOrthogonal", "a short q", () => [{ n: 3, seed: 1, q: new Float32Array(3) }], RangeError,
      /^householder\.randomOrthogonal: q has length 3, expected 9 \(Q is 3×3\)$/],
  ];
  for (const [op, name, args, type, pattern] of cases) {
    test(`${op} rejects ${name}`, async () => {
      const favor = await favorFor("scalar");
      assert.throws(() => favor.sync.householder[op](...args()), (error) => error instanceof type && pattern.test(error.message));
      await assert.rejects(favor.householder[op](...args()), (error) => error instanceof type && pattern.test(error.message));
    });
  }
});
