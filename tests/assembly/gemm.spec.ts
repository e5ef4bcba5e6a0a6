// Kernel-level specs of the blocked GEMM: packing, the build's microkernel
// on packed panels, and scaled and edge tiles, each against
// f32_gemm_reference or the source elements. The
// bound for a k-term f32 dot product is (k + 2)·eps·Σ|alpha·a·b| + |beta·c|
// with eps = 2^-24, as in tests/unit/matmul.test.js.

import { alloc, free } from "../../assembly/memory";
import { f32_gemm_reference } from "../../assembly/gemm/reference";
import { f32_gemm, microkernel, KC, MR, NR } from "../../assembly/gemm/blocked";
import { packBlock, packPanel } from "../../assembly/gemm/pack";

const EPS: f64 = 5.9604644775390625e-8;

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

/** Allocates `count` floats filled from a small linear congruential sequence in [-1, 1). */
function seeded(count: i32, seed: u32): usize {
  const ptr = alloc(<usize>count << 2);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = state * 1664525 + 1013904223;
    store<f32>(ptr + (<usize>i << 2), <f32>(<f64>(state >>> 8) / 8388608.0 - 1.0));
  }
  return ptr;
}

function copyOf(src: usize, count: i32): usize {
  const ptr = alloc(<usize>count << 2);
  memory.copy(ptr, src, <usize>count << 2);
  return ptr;
}

/**
 * Returns the number of elements of `c` (m rows of n, ldc apart, dense A
 * m×k and B k×n) that differ from `expected` by more than the rounding bound,
 * with the old C in `old` for the beta term.
 */
function countMismatches(
  c: usize, expected: usize, old: usize, a: usize, b: usize,
  m: i32, n: i32, k: i32, ldc: i32, alpha: f32, beta: f32,
): i32 {
  let bad = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let magnitude: f64 = 0;
      for (let p = 0; p < k; p++) magnitude += Math.abs(<f64>at(a, i * k + p) * <f64>at(b, p * n + j));
      magnitude = Math.abs(<f64>alpha) * magnitude + (beta == 0 ? 0 : Math.abs(<f64>beta * <f64>at(old, i * ldc + j)));
      const error = Math.abs(<f64>at(c, i * ldc + j) - <f64>at(expected, i * ldc + j));
      if (!(error <= <f64>(k + 2) * EPS * magnitude)) bad++;
    }
  }
  return bad;
}

/** Counts elements in the gaps (columns n..ldc-1 of each row, and past the last row) that changed. */
function countChangedGaps(c: usize, old: usize, m: i32, n: i32, ldc: i32, total: i32): i32 {
  let changed = 0;
  for (let index = 0; index < total; index++) {
    const inRegion = index / ldc < m && index % ldc < n;
    if (!inRegion && reinterpret<u32>(at(c, index)) != reinterpret<u32>(at(old, index))) changed++;
  }
  return changed;
}

/**
 * Packs a panel of `width` rows (`rows` valid, kc k-steps) from a source with
 * the given strides and returns how many panel elements differ from the
 * source element, or from zero past `rows`.
 */
function countPackErrors(width: i32, rows: i32, kc: i32, rowStride: i32, kStride: i32, seed: u32): i32 {
  const src = seeded((rows - 1) * rowStride + (kc - 1) * kStride + 1, seed);
  const dst = seeded(width * kc, seed + 1);
  packPanel(dst, src, rowStride, kStride, rows, width, kc);
  let errors = 0;
  for (let p = 0; p < kc; p++) {
    for (let r = 0; r < width; r++) {
      const expected: f32 = r < rows ? at(src, r * rowStride + p * kStride) : 0;
      if (reinterpret<u32>(at(dst, p * width + r)) != reinterpret<u32>(expected)) errors++;
    }
  }
  free(src);
  free(dst);
  return errors;
}

describe("packPanel", () => {
  test("transposed layout, full panels", () => {
    // kStride 1; kc 11 leaves a 3-step tail after the 4×4 blocks.
    expect<i32>(countPackErrors(MR, MR, 11, 13, 1, 1)).toBe(0, "MR-row panel");
    expect<i32>(countPackErrors(NR, NR, 11, 13, 1, 3)).toBe(0, "NR-row panel");
  });

  test("contiguous layout, full panels", () => {
    // rowStride 1, k-steps NR + 3 elements apart.
    expect<i32>(countPackErrors(MR, MR, 6, 1, NR + 3, 5)).toBe(0, "MR-row panel");
    expect<i32>(countPackErrors(NR, NR, 6, 1, NR + 3, 7)).toBe(0, "NR-row panel");
  });

  test("partial panels zero-pad", () => {
    expect<i32>(countPackErrors(MR, MR - 1, 5, 7, 1, 9)).toBe(0, "transposed, one row short");
    expect<i32>(countPackErrors(NR, 1, 5, 1, NR + 1, 11)).toBe(0, "contiguous, one valid row");
  });
});

describe("microkernel", () => {
  test("full tile matches the reference", () => {
    const k = 37, ldc = NR + 3;
    const a = seeded(MR * k, 5);
    const b = seeded(k * NR, 6);
    const packedA = alloc(<usize>(MR * k) << 2);
    const packedB = alloc(<usize>(k * NR) << 2);
    packBlock(packedA, a, k, 1, MR, MR, k);
    packBlock(packedB, b, 1, NR, NR, NR, k);
    const c = seeded(MR * ldc, 7);
    const old = copyOf(c, MR * ldc);
    const expected = copyOf(c, MR * ldc);
    microkernel(k, packedA, packedB, c, ldc);
    f32_gemm_reference(1, MR, NR, k, 1, a, k, 0, false, b, NR, 0, false, 0, expected, ldc, 0);
    expect<i32>(countMismatches(c, expected, old, a, b, MR, NR, k, ldc, 1, 0)).toBe(0, "elements outside the bound");
    expect<i32>(countChangedGaps(c, old, MR, NR, ldc, MR * ldc)).toBe(0, "gap elements written");
    free(a); free(b); free(packedA); free(packedB); free(c); free(old); free(expected);
  });

  test("kc 0 stores a zero tile", () => {
    const c = seeded(MR * NR, 8);
    microkernel(0, 0, 0, c, NR);
    for (let i = 0; i < MR * NR; i++) expect<f32>(at(c, i)).toBe(0, "element " + i.toString());
    free(c);
  });
});

describe("f32_gemm tiles", () => {
  test("scaled full tiles match the reference", () => {
    // alpha and beta send full tiles through the scratch tile and updateTile.
    const m = 2 * MR, n = 2 * NR, k = 7;
    const a = seeded(m * k, 14);
    const b = seeded(k * n, 15);
    const c = seeded(m * n, 16);
    const old = copyOf(c, m * n);
    const expected = copyOf(c, m * n);
    f32_gemm(1, m, n, k, -0.5, a, k, 0, false, b, n, 0, false, 0.25, c, n, 0);
    f32_gemm_reference(1, m, n, k, -0.5, a, k, 0, false, b, n, 0, false, 0.25, expected, n, 0);
    expect<i32>(countMismatches(c, expected, old, a, b, m, n, k, n, -0.5, 0.25)).toBe(0, "elements outside the bound");
    free(a); free(b); free(c); free(old); free(expected);
  });

  test("partial tiles over several k-slices keep gaps", () => {
    // m and n one past a tile, k one past a slice, and 2 gap columns per row.
    const m = MR + 1, n = NR + 1, k = KC + 1, ldc = n + 2;
    const a = seeded(m * k, 9);
    const b = seeded(k * n, 10);
    const c = seeded(m * ldc, 11);
    const old = copyOf(c, m * ldc);
    const expected = copyOf(c, m * ldc);
    f32_gemm(1, m, n, k, -0.5, a, k, 0, false, b, n, 0, false, 1, c, ldc, 0);
    f32_gemm_reference(1, m, n, k, -0.5, a, k, 0, false, b, n, 0, false, 1, expected, ldc, 0);
    expect<i32>(countMismatches(c, expected, old, a, b, m, n, k, ldc, -0.5, 1)).toBe(0, "elements outside the bound");
    expect<i32>(countChangedGaps(c, old, m, n, ldc, m * ldc)).toBe(0, "gap elements written");
    free(a); free(b); free(c); free(old); free(expected);
  });

  test("beta 0 ignores NaN in partial tiles", () => {
    const m = MR - 1, n = NR + 2, k = 3;
    const a = seeded(m * k, 12);
    const b = seeded(k * n, 13);
    const c = alloc(<usize>(m * n) << 2);
    for (let i = 0; i < m * n; i++) store<f32>(c + (<usize>i << 2), NaN);
    const expected = alloc(<usize>(m * n) << 2);
    f32_gemm(1, m, n, k, 1, a, k, 0, false, b, n, 0, false, 0, c, n, 0);
    f32_gemm_reference(1, m, n, k, 1, a, k, 0, false, b, n, 0, false, 0, expected, n, 0);
    expect<i32>(countMismatches(c, expected, expected, a, b, m, n, k, n, 1, 0)).toBe(0, "elements outside the bound");
    free(a); free(b); free(c); free(expected);
  });
});
