// Row kernels shared by the attention ops: gathering the visible rows of a
// head into a contiguous block, the causally masked product inside a block,
// and the guarded division that forms outputs.
//
// Layout: row-major, sizes and leading dimensions in elements, pointers in
// bytes. Row positions are i32 arrays in increasing order. None of these
// kernels allocates, and none lets an output overlap an input unless its
// contract says so.

import { HAS_SIMD, madd } from "../isa";
import { f32_gemm } from "../index";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

/**
 * The smallest positive normal float32, 2^-126. A denominator at or below it
 * (zero, negative, or so small that it has lost precision as a subnormal)
 * gives an output row of zeros; see f32_attention_divide_rows.
 */
// @ts-ignore: decorator
@inline export const DENOMINATOR_FLOOR: f32 = 1.17549435e-38;

/**
 * Rows of a query block that f32_attention_masked_product handles with one
 * GEMM before it walks the diagonal entry by entry.
 */
// @ts-ignore: decorator
@inline const MASK_TILE: i32 = 16;

/**
 * Copies rows index[0..count) of src into dst, multiplied by `scale`:
 *   dst[r][c] = scale·src[index[r]][c]   for c < cols.
 * With `ones`, dst[r][cols] = 1 as well (the [V 1] block whose last column
 * sums the denominator). src rows are lds apart, dst rows ldd apart. Rows
 * not listed in index are never read, so padded rows may hold anything.
 */
export function f32_attention_gather_rows(
  count: i32, index: usize, src: usize, lds: i32, cols: i32, scale: f32,
  dst: usize, ldd: i32, ones: bool,
): void {
  for (let r = 0; r < count; r++) {
    const row = load<i32>(index + (<usize>r << 2));
    const from = src + <usize>row * <usize>lds * F32_BYTES;
    const to = dst + <usize>r * <usize>ldd * F32_BYTES;
    let c = 0;
    if (HAS_SIMD) {
      const s = f32x4.splat(scale);
      for (; c + 4 <= cols; c += 4) {
        v128.store(to + <usize>c * F32_BYTES, f32x4.mul(v128.load(from + <usize>c * F32_BYTES), s));
      }
    }
    for (; c < cols; c++) store<f32>(to + <usize>c * F32_BYTES, load<f32>(from + <usize>c * F32_BYTES) * scale);
    if (ones) store<f32>(to + <usize>cols * F32_BYTES, 1);
  }
}

/**
 * C += M ∘ A · B with the causal mask M: for query row i (position
 * queryStart + i, i < rows) and key j (position keyPos[j], j < keys),
 * M[i][j] = 1 when keyPos[j] <= queryStart + i and 0 otherwise.
 *
 * A is rows×keys (row stride lda), B is keys×n (ldb), C is rows×n (ldc).
 * Entries of A and rows of B outside the mask are never read, so a masked
 * key whose values are NaN or Infinity does not reach an earlier query.
 * The fully visible part of each MASK_TILE-row strip goes through f32_gemm
 * and the rest through a multiply-add loop over the visible entries only.
 * keyPos must be increasing.
 */
export function f32_attention_masked_product(
  rows: i32, queryStart: i32, keys: i32, keyPos: usize,
  a: usize, lda: i32, b: usize, ldb: i32, n: i32, c: usize, ldc: i32,
): void {
  // Keys [0, full) are visible to every row of the strip; [full, seen) to some.
  let full = 0;
  let seen = 0;
  for (let i0 = 0; i0 < rows; i0 += MASK_TILE) {
    const i1 = min(i0 + MASK_TILE, rows);
    const firstQuery = queryStart + i0;
    const lastQuery = queryStart + i1 - 1;
    while (full < keys && load<i32>(keyPos + (<usize>full << 2)) <= firstQuery) full++;
    if (seen < full) seen = full;
    while (seen < keys && load<i32>(keyPos + (<usize>seen << 2)) <= lastQuery) seen++;

    if (full > 0) {
      f32_gemm(
        1, i1 - i0, n, full, 1,
        a + <usize>i0 * <usize>lda * F32_BYTES, lda, 0, false,
        b, ldb, 0, false,
        1, c + <usize>i0 * <usize>ldc * F32_BYTES, ldc, 0,
      );
    }
    for (let i = i0; i < i1; i++) {
      const query = queryStart + i;
      const aRow = a + <usize>i * <usize>lda * F32_BYTES;
      const cRow = c + <usize>i * <usize>ldc * F32_BYTES;
      for (let j = full; j < seen; j++) {
        if (load<i32>(keyPos + (<usize>j << 2)) > query) break;
        addScaledRow(n, load<f32>(aRow + <usize>j * F32_BYTES), b + <usize>j * <usize>ldb * F32_BYTES, cRow);
      }
    }
  }
}

/** y += alpha·x for n floats. */
// @ts-ignore: decorator
@inline function addScaledRow(n: i32, alpha: f32, x: usize, y: usize): void {
  let c = 0;
  if (HAS_SIMD) {
    const s = f32x4.splat(alpha);
    for (; c + 4 <= n; c += 4) {
      const at = y + <usize>c * F32_BYTES;
      v128.store(at, madd(s, v128.load(x + <usize>c * F32_BYTES), v128.load(at)));
    }
  }
  for (; c < n; c++) {
    const at = y + <usize>c * F32_BYTES;
    store<f32>(at, alpha * load<f32>(x + <usize>c * F32_BYTES) + load<f32>(at));
  }
}

/**
 * out[i][c] = num[i][c] / num[i][n] for i < rows, c < n: each num row holds n
 * numerator values followed by the denominator. A row whose denominator is
 * not above DENOMINATOR_FLOOR (zero, negative, subnormal, or -Infinity) is
 * written as zeros. A NaN denominator fails that test as well, but is passed
 * through as a division so that NaN inputs stay visible as NaN outputs.
 * num rows are ldn apart and out rows ldo apart; out may not overlap num.
 */
export function f32_attention_divide_rows(rows: i32, n: i32, num: usize, ldn: i32, out: usize, ldo: i32): void {
  for (let i = 0; i < rows; i++) {
    const numRow = num + <usize>i * <usize>ldn * F32_BYTES;
    const outRow = out + <usize>i * <usize>ldo * F32_BYTES;
    const den = load<f32>(numRow + <usize>n * F32_BYTES);
    if (den <= DENOMINATOR_FLOOR) {
      for (let c = 0; c < n; c++) store<f32>(outRow + <usize>c * F32_BYTES, 0);
      continue;
    }
    // A true division rather than a multiplication by 1/den, so that a
    // numerator equal to its denominator gives exactly 1.
    let c = 0;
    if (HAS_SIMD) {
      const s = f32x4.splat(den);
      for (; c + 4 <= n; c += 4) {
        v128.store(outRow + <usize>c * F32_BYTES, f32x4.div(v128.load(numRow + <usize>c * F32_BYTES), s));
      }
    }
    for (; c < n; c++) store<f32>(outRow + <usize>c * F32_BYTES, load<f32>(numRow + <usize>c * F32_BYTES) / den);
  }
}

/** x[i] *= scale for n floats. */
export function f32_attention_scale(n: i32, x: usize, scale: f32): void {
  let i = 0;
  if (HAS_SIMD) {
    const s = f32x4.splat(scale);
    for (; i + 4 <= n; i += 4) v128.store(x + <usize>i * F32_BYTES, f32x4.mul(v128.load(x + <usize>i * F32_BYTES), s));
  }
  for (; i < n; i++) store<f32>(x + <usize>i * F32_BYTES, load<f32>(x + <usize>i * F32_BYTES) * scale);
}

/**
 * x[i] = 1/x[i] for n floats, or 0 where x[i] is not above DENOMINATOR_FLOOR
 * (the same guard as f32_attention_divide_rows, so a row normalizer that
 * gives an output row of zeros also gives no weight in attention scores).
 */
export function f32_attention_reciprocal_rows(n: i32, x: usize): void {
  for (let i = 0; i < n; i++) {
    const at = x + <usize>i * F32_BYTES;
    const value = load<f32>(at);
    store<f32>(at, value <= DENOMINATOR_FLOOR ? 0 : 1 / value);
  }
}
