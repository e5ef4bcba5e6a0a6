// Products of Householder reflections applied one at a time: the slow,
// obvious path that the CWY paths are tested and timed against.
//
//   f32_householder_product_sequential(n, k, ut, q, work):
//     Q = H(u_0)·H(u_1)·…·H(u_{k−1}), n×n, by Q ← H(u_j)·Q for j = k−1 … 0
//     starting from Q = I.
//   f32_householder_apply_sequential(n, k, ut, x, cols, transpose, work):
//     X ← Q·X (reflections k−1 … 0) or X ← Qᵀ·X (reflections 0 … k−1, since
//     each H is symmetric), with X n×cols.
//
// Layout: row-major. ut is k×n with u_j in row j (contiguous), q is n×n and
// x is n×cols, all with rows packed (leading dimension = columns). work has
// room for 16·n + k float32 values (a PANEL-column panel and the taus). The
// vectors need not have unit norm: each step uses tau = 2/(u_jᵀu_j),
// computed in float32, so H(u_j) = I − tau·u_j·u_jᵀ. A zero vector gives
// tau = Infinity and NaN output (the bindings reject zero vectors). ut,
// work and q or x must not overlap.
//
// Order of work: a reflection changes each column of the matrix on its own,
// so the columns are taken in panels of PANEL (16). Each panel is copied
// into `work` with rows PANEL floats (64 bytes) apart, all k reflections
// are applied to it in order, one call of applyReflectorLeft each, and it
// is copied back. Every column therefore gets the same
// reflections, with the same operations in the same order, as when each
// reflection is applied to the whole matrix before the next. That was this
// file's earlier loop order, and the results are bit-identical to it on
// every build. Walking the matrix itself, the row stride of a 512- or
// 1024-column matrix (2 or 4 KiB) maps a 16-column strip onto a few cache
// sets, so the second pass over a strip missed the caches. That ran about 2
// (n = 512) and 6 (n = 1024) times slower per flop than at n = 520 or 1000.
// The packed panel (16·n floats, 32 KiB at n = 512) has no such stride.
// k steps cost 4·n·cols·k flops.

import { applyReflectorLeft } from "../linalg/householder";

/** Columns per panel: one 16-column SIMD strip of applyReflectorLeft, or four 4-column scalar strips. */
const PANEL: i32 = 16;

/** Writes Q = H(u_0)·…·H(u_{k−1}) into the n×n matrix q (see the file header). */
export function f32_householder_product_sequential(n: i32, k: i32, ut: usize, q: usize, work: usize): void {
  const panel = work;
  const taus = work + ((<usize>n * <usize>PANEL) << 2);
  computeTaus(n, k, ut, taus);
  for (let c0 = 0; c0 < n; c0 += PANEL) {
    const width = min(PANEL, n - c0);
    // Columns c0 … c0 + width − 1 of the identity.
    memory.fill(panel, 0, (<usize>n * <usize>PANEL) << 2);
    for (let c = 0; c < width; c++) store<f32>(panel + ((<usize>(c0 + c) * <usize>PANEL + <usize>c) << 2), 1);
    for (let j = k - 1; j >= 0; j--) reflect(n, width, ut, j, taus, panel);
    copyRows(n, width, panel, PANEL, q + (<usize>c0 << 2), n);
  }
}

/** Overwrites the n×cols matrix x with Q·x, or Qᵀ·x when transpose is set (see the file header). */
export function f32_householder_apply_sequential(
  n: i32, k: i32, ut: usize, x: usize, cols: i32, transpose: bool, work: usize,
): void {
  const panel = work;
  const taus = work + ((<usize>n * <usize>PANEL) << 2);
  computeTaus(n, k, ut, taus);
  for (let c0 = 0; c0 < cols; c0 += PANEL) {
    const width = min(PANEL, cols - c0);
    const columns = x + (<usize>c0 << 2);
    copyRows(n, width, columns, cols, panel, PANEL);
    for (let step = 0; step < k; step++) reflect(n, width, ut, transpose ? step : k - 1 - step, taus, panel);
    copyRows(n, width, panel, PANEL, columns, cols);
  }
}

/** Writes tau_j = 2/(u_jᵀu_j), summed in float32 in index order, for the k rows of ut. */
function computeTaus(n: i32, k: i32, ut: usize, taus: usize): void {
  for (let j = 0; j < k; j++) {
    const u = ut + ((<usize>j * <usize>n) << 2);
    let uu: f32 = 0;
    for (let i = 0; i < n; i++) {
      const value = load<f32>(u + (<usize>i << 2));
      uu += value * value;
    }
    store<f32>(taus + (<usize>j << 2), 2 / uu);
  }
}

/** Applies H(u_j) to the n×width panel (row stride PANEL). */
// @ts-ignore: decorator
@inline function reflect(n: i32, width: i32, ut: usize, j: i32, taus: usize, panel: usize): void {
  applyReflectorLeft(n, width, panel, PANEL, ut + ((<usize>j * <usize>n) << 2), load<f32>(taus + (<usize>j << 2)));
}

/** Copies the first `width` entries of each of `rows` rows from `from` (row stride ldFrom) to `to` (row stride ldTo). */
function copyRows(rows: i32, width: i32, from: usize, ldFrom: i32, to: usize, ldTo: i32): void {
  const bytes = <usize>width << 2;
  for (let i = 0; i < rows; i++) {
    memory.copy(to + ((<usize>i * <usize>ldTo) << 2), from + ((<usize>i * <usize>ldFrom) << 2), bytes);
  }
}
