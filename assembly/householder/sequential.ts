// Products of Householder reflections applied one at a time: the slow,
// obvious path that the CWY paths are tested and timed against.
//
//   f32_householder_product_sequential(n, k, ut, q):
//     Q = H(u_0)·H(u_1)·…·H(u_{k−1}), n×n, by Q ← H(u_j)·Q for j = k−1 … 0
//     starting from Q = I.
//   f32_householder_apply_sequential(n, k, ut, x, cols, transpose):
//     X ← Q·X (reflections k−1 … 0) or X ← Qᵀ·X (reflections 0 … k−1, since
//     each H is symmetric), with X n×cols.
//
// Layout: row-major. ut is k×n with u_j in row j (contiguous), q is n×n and
// x is n×cols, all with rows packed (leading dimension = columns). The
// vectors need not have unit norm: each step uses tau = 2/(u_jᵀu_j),
// computed in float32, so H(u_j) = I − tau·u_j·u_jᵀ. A zero vector gives
// tau = Infinity and NaN output (the bindings reject zero vectors). ut must
// not overlap q or x.
//
// Each step is one call of applyReflectorLeft, which reads the n×cols
// matrix twice (w = uᵀ·X, then X − tau·u·w) in strips of columns, so k steps
// cost 4·n·cols·k flops in k dependent passes over the matrix.

import { applyReflectorLeft } from "../linalg/householder";
import { f32_householder_eye } from "./triangle";

/** Writes Q = H(u_0)·…·H(u_{k−1}) into the n×n matrix q (see the file header). */
export function f32_householder_product_sequential(n: i32, k: i32, ut: usize, q: usize): void {
  f32_householder_eye(n, n, q, n);
  for (let j = k - 1; j >= 0; j--) reflect(n, n, ut + ((<usize>j * <usize>n) << 2), q);
}

/** Overwrites the n×cols matrix x with Q·x, or Qᵀ·x when transpose is set (see the file header). */
export function f32_householder_apply_sequential(n: i32, k: i32, ut: usize, x: usize, cols: i32, transpose: bool): void {
  for (let step = 0; step < k; step++) {
    const j = transpose ? step : k - 1 - step;
    reflect(n, cols, ut + ((<usize>j * <usize>n) << 2), x);
  }
}

/** Applies H(u) = I − (2/uᵀu)·u·uᵀ to the n×cols matrix x (row stride cols). */
function reflect(n: i32, cols: i32, u: usize, x: usize): void {
  let uu: f32 = 0;
  for (let i = 0; i < n; i++) {
    const value = load<f32>(u + (<usize>i << 2));
    uu += value * value;
  }
  applyReflectorLeft(n, cols, x, cols, u, 2 / uu);
}
