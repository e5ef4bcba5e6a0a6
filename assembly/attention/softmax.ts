// f32_attention_softmax: exact scaled dot-product attention for one head,
// streamed over key blocks with an online softmax, so that no queries×keys
// matrix is ever stored:
//   out_i = Σ_j softmax_j(scale·q_i·k_j) v_j   over the keys j visible to query i.
//
// Layout: row-major rows of q (queries×dim, row stride ldq), k (rows of dim,
// ldk), v (rows of valueDim, ldv) and out (queries×valueDim, ldo); sizes and
// strides in elements. The visible keys are the rows keyPos[0..keys) of k and
// v (increasing positions); other rows are never read, so padded keys may
// hold anything. With `contiguous`, keyPos[j] == j for every j and the blocks
// are read in place instead of gathered. With `causal`, query i (position i)
// sees only keys whose position is <= i.
//
// Method, per block of BLOCK_QUERIES queries: keep for each query row the
// running maximum m and sum l of its scores, and accumulate into out. For
// each block of BLOCK_KEYS keys: S = scale·Q·Kᵀ (f32_gemm); m' = max(m,
// max_j S_j); p_j = exp(S_j − m'); l = l·exp(m − m') + Σ p_j; out =
// out·exp(m − m') + P·V. Every exponent is <= 0, so finite scores never
// overflow, and at the end out_i /= l_i. A query that sees no key (every
// key padded, or all later than it) gets a row of zeros. Causally masked
// entries are neither exponentiated nor multiplied (f32_attention_masked_product),
// so a later key cannot reach an earlier query even through NaN.
//
// work must hold f32_attention_softmax_work(dim, valueDim) floats and must
// not overlap any argument. out must not overlap q, k or v.

import { HAS_SIMD } from "../isa";
import { f32_gemm } from "../index";
import { expF32, expF32x4 } from "../math/exp";
import { f32_attention_gather_rows, f32_attention_masked_product, f32_attention_scale } from "./rows";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;
/** Query rows per block: the rows of the score tile. */
export const BLOCK_QUERIES: i32 = 64;
/** Keys per block: the columns of the score tile. */
export const BLOCK_KEYS: i32 = 256;

/** Returns the number of floats of scratch f32_attention_softmax needs. */
export function f32_attention_softmax_work(dim: i32, valueDim: i32): i32 {
  return BLOCK_QUERIES * BLOCK_KEYS + 2 * BLOCK_QUERIES + BLOCK_KEYS * (dim + valueDim);
}

/** Replaces x[c] by exp(x[c] − shift) for c < n and returns their sum. */
function expShiftedSum(n: i32, x: usize, shift: f32): f32 {
  let sum: f32 = 0;
  let c = 0;
  if (HAS_SIMD) {
    const shiftLanes = f32x4.splat(shift);
    let lanes = f32x4.splat(0);
    for (; c + 4 <= n; c += 4) {
      const at = x + <usize>c * F32_BYTES;
      const terms = expF32x4(f32x4.sub(v128.load(at), shiftLanes));
      v128.store(at, terms);
      lanes = f32x4.add(lanes, terms);
    }
    sum = (f32x4.extract_lane(lanes, 0) + f32x4.extract_lane(lanes, 2)) +
      (f32x4.extract_lane(lanes, 1) + f32x4.extract_lane(lanes, 3));
  }
  for (; c < n; c++) {
    const at = x + <usize>c * F32_BYTES;
    const term = expF32(load<f32>(at) - shift);
    store<f32>(at, term);
    sum += term;
  }
  return sum;
}

/** Returns the maximum of n floats, NaN when any is NaN, -Infinity when n is 0. */
function rowMax(n: i32, x: usize): f32 {
  let m: f32 = -Infinity;
  let c = 0;
  if (HAS_SIMD) {
    if (n >= 4) {
      let lanes = f32x4.splat(-Infinity);
      for (; c + 4 <= n; c += 4) lanes = f32x4.max(lanes, v128.load(x + <usize>c * F32_BYTES));
      m = max<f32>(
        max<f32>(f32x4.extract_lane(lanes, 0), f32x4.extract_lane(lanes, 1)),
        max<f32>(f32x4.extract_lane(lanes, 2), f32x4.extract_lane(lanes, 3)),
      );
    }
  }
  for (; c < n; c++) m = max<f32>(m, load<f32>(x + <usize>c * F32_BYTES));
  return m;
}

export function f32_attention_softmax(
  queries: i32, keys: i32, keyPos: usize, contiguous: bool, dim: i32, valueDim: i32, scale: f32, causal: bool,
  q: usize, ldq: i32, k: usize, ldk: i32, v: usize, ldv: i32, out: usize, ldo: i32, work: usize,
): void {
  const scores = work;
  const runningMax = scores + <usize>(BLOCK_QUERIES * BLOCK_KEYS) * F32_BYTES;
  const runningSum = runningMax + <usize>BLOCK_QUERIES * F32_BYTES;
  const kBlock = runningSum + <usize>BLOCK_QUERIES * F32_BYTES;
  const vBlock = kBlock + <usize>(BLOCK_KEYS * dim) * F32_BYTES;
  const outRowBytes = <usize>ldo * F32_BYTES;

  for (let i0 = 0; i0 < queries; i0 += BLOCK_QUERIES) {
    const rows = min(BLOCK_QUERIES, queries - i0);
    const lastQuery = i0 + rows - 1;
    const outBlock = out + <usize>i0 * outRowBytes;
    for (let r = 0; r < rows; r++) {
      store<f32>(runningMax + <usize>r * F32_BYTES, -Infinity);
      store<f32>(runningSum + <usize>r * F32_BYTES, 0);
      memory.fill(outBlock + <usize>r * outRowBytes, 0, <usize>valueDim * F32_BYTES);
    }

    for (let j0 = 0; j0 < keys; j0 += BLOCK_KEYS) {
      const firstKeyPos = load<i32>(keyPos + (<usize>j0 << 2));
      if (causal && firstKeyPos > lastQuery) break;
      const cols = min(BLOCK_KEYS, keys - j0);
      const blockPos = keyPos + (<usize>j0 << 2);

      // The key and value rows of this block, in place or gathered.
      let kRows = k + <usize>j0 * <usize>ldk * F32_BYTES;
      let ldkRows = ldk;
      let vRows = v + <usize>j0 * <usize>ldv * F32_BYTES;
      let ldvRows = ldv;
      if (!contiguous) {
        f32_attention_gather_rows(cols, blockPos, k, ldk, dim, 1, kBlock, dim, false);
        f32_attention_gather_rows(cols, blockPos, v, ldv, valueDim, 1, vBlock, valueDim, false);
        kRows = kBlock;
        ldkRows = dim;
        vRows = vBlock;
        ldvRows = valueDim;
      }

      // scores (rows×cols, row stride BLOCK_KEYS) = scale·Q_block·K_blockᵀ.
      f32_gemm(
        1, rows, cols, dim, scale,
        q + <usize>i0 * <usize>ldq * F32_BYTES, ldq, 0, false,
        kRows, ldkRows, 0, true,
        0, scores, BLOCK_KEYS, 0,
      );

      // Some entries are masked when the last key is later than the first query.
      const masked = causal && load<i32>(blockPos + (<usize>(cols - 1) << 2)) > i0;
      let visible = cols;
      if (masked) visible = 0;
      for (let r = 0; r < rows; r++) {
        if (masked) {
          while (visible < cols && load<i32>(blockPos + (<usize>visible << 2)) <= i0 + r) visible++;
        }
        if (visible == 0) continue;
        const row = scores + <usize>(r * BLOCK_KEYS) * F32_BYTES;
        const oldMax = load<f32>(runningMax + <usize>r * F32_BYTES);
        const newMax = max<f32>(oldMax, rowMax(visible, row));
        // Only scores of -Infinity so far: nothing has weight yet.
        if (newMax == -Infinity) {
          memory.fill(row, 0, <usize>visible * F32_BYTES);
          continue;
        }
        const sum = expShiftedSum(visible, row, newMax);
        // exp(-Infinity) = 0 on the first visible block, when out is still 0.
        const rescale = expF32(oldMax - newMax);
        const sumAt = runningSum + <usize>r * F32_BYTES;
        store<f32>(sumAt, load<f32>(sumAt) * rescale + sum);
        store<f32>(runningMax + <usize>r * F32_BYTES, newMax);
        if (rescale != 1) f32_attention_scale(valueDim, outBlock + <usize>r * outRowBytes, rescale);
      }

      // out_block += P·V_block, reading only the visible entries of P.
      if (masked) {
        f32_attention_masked_product(rows, i0, cols, blockPos, scores, BLOCK_KEYS, vRows, ldvRows, valueDim, outBlock, ldo);
      } else {
        f32_gemm(1, rows, valueDim, cols, 1, scores, BLOCK_KEYS, 0, false, vRows, ldvRows, 0, false, 1, outBlock, ldo, 0);
      }
    }

    for (let r = 0; r < rows; r++) {
      const sum = load<f32>(runningSum + <usize>r * F32_BYTES);
      const outRow = outBlock + <usize>r * outRowBytes;
      // The sum is 0 only when the query saw no key; out is still 0 then.
      // Otherwise it is at least exp(0) = 1 from the maximum score (or NaN).
      if (sum != 0) {
        for (let c = 0; c < valueDim; c++) {
          const at = outRow + <usize>c * F32_BYTES;
          store<f32>(at, load<f32>(at) / sum);
        }
      }
    }
  }
}
