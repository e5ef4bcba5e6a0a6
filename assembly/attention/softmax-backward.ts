// Row kernels of the exact softmax-attention backward pass, which the
// bindings run between f32_gemm calls on score tiles (bindings/backends/
// wasm/ops/softmax-backward.ts). With S = scale·Q·Kᵀ, P = softmax_rows(S),
// O = P·V and the output gradient G:
//   dP = G·Vᵀ,  D_i = Σ_j P_ij·dP_ij (= g_i·o_i),  dS = P ∘ (dP − D),
//   dQ = scale·dS·K,  dK = scale·dSᵀ·Q,  dV = Pᵀ·G.
// The first pass over key tiles collects per query row the running maximum
// m, the sum l = Σ exp(S − m) and d = Σ exp(S − m)·dP
// (f32_softmax_backward_stats), and f32_softmax_backward_finish turns them
// into lse = m + log l and D = d/l. The second pass recomputes each tile and
// turns (S, dP) into (P, dS) in place (f32_softmax_backward_scores).
//
// Visibility: key j of a tile (position keyPos[j], increasing) is visible
// to query row i (position queryStart + i) unless `causal` and keyPos[j] >
// queryStart + i. Invisible entries are never exponentiated and come out as
// P = dS = 0. Tiles are row-major, sizes and strides in elements.

import { expF32 } from "../math/exp";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

/** Number of keys of the tile that query position `query` sees. */
// @ts-ignore: decorator
@inline function visibleCount(query: i32, keys: i32, keyPos: usize, causal: bool): i32 {
  if (!causal) return keys;
  let j = keys;
  while (j > 0 && load<i32>(keyPos + (<usize>(j - 1) << 2)) > query) j--;
  return j;
}

/**
 * Updates the running row statistics with one tile: for each row i and each
 * visible j, m_i' = max(m_i, S_ij), l_i = l_i·exp(m_i − m_i') + Σ_j
 * exp(S_ij − m_i'), d_i = d_i·exp(m_i − m_i') + Σ_j exp(S_ij − m_i')·dP_ij.
 * Start with m = −Infinity and l = d = 0.
 */
export function f32_softmax_backward_stats(
  rows: i32, queryStart: i32, keys: i32, keyPos: usize, causal: bool,
  s: usize, lds: i32, dp: usize, lddp: i32, rowMax: usize, rowSum: usize, rowDot: usize,
): void {
  for (let i = 0; i < rows; i++) {
    const count = visibleCount(queryStart + i, keys, keyPos, causal);
    if (count == 0) continue;
    const sRow = s + <usize>i * <usize>lds * F32_BYTES;
    const dpRow = dp + <usize>i * <usize>lddp * F32_BYTES;
    const old = load<f32>(rowMax + <usize>i * F32_BYTES);
    let best = old;
    for (let j = 0; j < count; j++) best = max(best, load<f32>(sRow + <usize>j * F32_BYTES));
    // A row whose scores are all −Infinity so far keeps zero sums.
    if (best == -Infinity) continue;
    const rescale: f32 = old == -Infinity ? 0 : expF32(old - best);
    let sum: f32 = 0;
    let dot: f32 = 0;
    for (let j = 0; j < count; j++) {
      const p = expF32(load<f32>(sRow + <usize>j * F32_BYTES) - best);
      sum += p;
      dot += p * load<f32>(dpRow + <usize>j * F32_BYTES);
    }
    store<f32>(rowMax + <usize>i * F32_BYTES, best);
    store<f32>(rowSum + <usize>i * F32_BYTES, load<f32>(rowSum + <usize>i * F32_BYTES) * rescale + sum);
    store<f32>(rowDot + <usize>i * F32_BYTES, load<f32>(rowDot + <usize>i * F32_BYTES) * rescale + dot);
  }
}

/**
 * Turns the statistics into lse (written over rowMax) and D (over rowDot).
 * A row that saw no key (l = 0) gets lse = +Infinity and D = 0, so its P
 * and dS are 0 everywhere, matching its output row of zeros.
 */
export function f32_softmax_backward_finish(rows: i32, rowMax: usize, rowSum: usize, rowDot: usize): void {
  for (let i = 0; i < rows; i++) {
    const l = load<f32>(rowSum + <usize>i * F32_BYTES);
    if (l > 0) {
      store<f32>(rowMax + <usize>i * F32_BYTES, load<f32>(rowMax + <usize>i * F32_BYTES) + <f32>Math.log(<f64>l));
      store<f32>(rowDot + <usize>i * F32_BYTES, load<f32>(rowDot + <usize>i * F32_BYTES) / l);
    } else {
      store<f32>(rowMax + <usize>i * F32_BYTES, Infinity);
      store<f32>(rowDot + <usize>i * F32_BYTES, 0);
    }
  }
}

/**
 * Replaces S by P = exp(S − lse_i) and dP by dS = P·(dP − D_i) for the
 * visible entries, and both by 0 elsewhere (row i, key j < keys).
 */
export function f32_softmax_backward_scores(
  rows: i32, queryStart: i32, keys: i32, keyPos: usize, causal: bool,
  s: usize, lds: i32, dp: usize, lddp: i32, lse: usize, rowDot: usize,
): void {
  for (let i = 0; i < rows; i++) {
    const count = visibleCount(queryStart + i, keys, keyPos, causal);
    const sRow = s + <usize>i * <usize>lds * F32_BYTES;
    const dpRow = dp + <usize>i * <usize>lddp * F32_BYTES;
    const shift = load<f32>(lse + <usize>i * F32_BYTES);
    const dot = load<f32>(rowDot + <usize>i * F32_BYTES);
    for (let j = 0; j < count; j++) {
      const sAt = sRow + <usize>j * F32_BYTES;
      const dpAt = dpRow + <usize>j * F32_BYTES;
      const p = expF32(load<f32>(sAt) - shift);
      store<f32>(sAt, p);
      store<f32>(dpAt, p * (load<f32>(dpAt) - dot));
    }
    for (let j = count; j < keys; j++) {
      store<f32>(sRow + <usize>j * F32_BYTES, 0);
      store<f32>(dpRow + <usize>j * F32_BYTES, 0);
    }
  }
}
