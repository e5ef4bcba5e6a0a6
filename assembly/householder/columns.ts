// Moves Householder vectors between the layout users pass (V, n×k row-major,
// one vector per column) and the layout the CWY kernels work in (Uᵀ, k×n
// row-major, one unit vector per row, so each vector is contiguous).
//
//   f32_householder_normalize(n, k, v, ut, norms): ut[j][i] = v[i][j]/‖v_j‖
//   and norms[j] = ‖v_j‖. H(v) = H(c·v) for every c ≠ 0, so the reflections
//   are unchanged, and no later step squares an entry of V: a column of
//   norm 1e30 or 1e-30 works like a unit one.
//   f32_householder_scatter_gradient(n, k, dut, norms, dv):
//   dv[i][j] = dut[j][i]/norms[j], the chain rule through u = v/‖v‖ for a
//   gradient dut = ∂L/∂Uᵀ that is already orthogonal to each u_j (see
//   bindings/backends/wasm/ops/householder.ts).
//
// Sizes are in elements. v and dv are n×k, ut and dut are k×n, and norms
// has k entries. Outputs must not overlap inputs. Norms are computed from entries
// scaled by the largest |entry| of the column (as in f32_geqrf), so they
// neither overflow nor underflow, and are accurate while the norm itself is
// a normal float32. A zero column gives NaN (0/0), so the bindings reject
// it first. NaN or infinite entries give NaN in their column. The SIMD builds
// sum squares in four lanes, so their norms can differ from the scalar
// build's in the last bit.

import { f32_transpose } from "../transpose/transpose";

/** Number of rows and columns of the square tiles the gradient scatter walks in. */
const TILE: i32 = 16;

/** Writes ut = vᵀ scaled to unit rows and norms[j] = ‖v_j‖ (see the file header). */
export function f32_householder_normalize(n: i32, k: i32, v: usize, ut: usize, norms: usize): void {
  f32_transpose(1, n, k, v, ut);
  for (let j = 0; j < k; j++) {
    const row = ut + ((<usize>j * <usize>n) << 2);
    const scale = maxAbs(n, row);
    let norm: f32;
    if (scale >= SMALLEST_FAST_SCALE && scale <= LARGEST_FAST_SCALE) {
      // 1/scale and the factor below are normal floats here, so multiplying
      // costs the same two roundings per entry as dividing twice.
      const inverse: f32 = 1 / scale;
      const root = sqrt<f32>(scaledSumOfSquares(n, row, inverse));
      scaleInPlace(n, row, inverse / root);
      norm = scale * root;
    } else {
      // Tiny, huge, zero or NaN columns: divide, so nothing overflows.
      let sumOfSquares: f32 = 0;
      for (let i = 0; i < n; i++) {
        const x = load<f32>(row + (<usize>i << 2)) / scale;
        sumOfSquares += x * x;
      }
      // sumOfSquares lies in [1, n] for a finite nonzero column.
      const root = sqrt<f32>(sumOfSquares);
      for (let i = 0; i < n; i++) {
        const p = row + (<usize>i << 2);
        store<f32>(p, load<f32>(p) / scale / root);
      }
      norm = scale * root;
    }
    store<f32>(norms + (<usize>j << 2), norm);
  }
}

/** Columns whose largest |entry| lies in [2^-100, 2^100] take the multiplying path. */
const SMALLEST_FAST_SCALE: f32 = 7.888609052210118e-31;
const LARGEST_FAST_SCALE: f32 = 1.2676506002282294e30;

/** Returns max |x_i| of the n values at x, or NaN when one of them is NaN. */
function maxAbs(n: i32, x: usize): f32 {
  let i = 0;
  let result: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    // f32x4.max returns NaN when either lane is NaN, like the scalar max.
    let lanes = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) lanes = f32x4.max(lanes, f32x4.abs(v128.load(x + (<usize>i << 2))));
    result = max(max(f32x4.extract_lane(lanes, 0), f32x4.extract_lane(lanes, 1)),
      max(f32x4.extract_lane(lanes, 2), f32x4.extract_lane(lanes, 3)));
  }
  for (; i < n; i++) result = max(result, abs(load<f32>(x + (<usize>i << 2))));
  return result;
}

/** Returns Σ (x_i·factor)² over the n values at x. */
function scaledSumOfSquares(n: i32, x: usize, factor: f32): f32 {
  let i = 0;
  let result: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    const f = f32x4.splat(factor);
    let lanes = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const y = f32x4.mul(v128.load(x + (<usize>i << 2)), f);
      lanes = f32x4.add(lanes, f32x4.mul(y, y));
    }
    result = (f32x4.extract_lane(lanes, 0) + f32x4.extract_lane(lanes, 1)) +
      (f32x4.extract_lane(lanes, 2) + f32x4.extract_lane(lanes, 3));
  }
  for (; i < n; i++) {
    const y = load<f32>(x + (<usize>i << 2)) * factor;
    result += y * y;
  }
  return result;
}

/** Multiplies the n values at x by factor in place. */
function scaleInPlace(n: i32, x: usize, factor: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const f = f32x4.splat(factor);
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      v128.store(p, f32x4.mul(v128.load(p), f));
    }
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * factor);
  }
}

/** Writes dv[i][j] = dut[j][i] / norms[j] (see the file header). */
export function f32_householder_scatter_gradient(n: i32, k: i32, dut: usize, norms: usize, dv: usize): void {
  for (let j0 = 0; j0 < k; j0 += TILE) {
    const j1 = min(j0 + TILE, k);
    for (let i0 = 0; i0 < n; i0 += TILE) {
      const i1 = min(i0 + TILE, n);
      for (let j = j0; j < j1; j++) {
        const norm = load<f32>(norms + (<usize>j << 2));
        for (let i = i0; i < i1; i++) {
          const value = load<f32>(dut + ((<usize>j * <usize>n + <usize>i) << 2));
          store<f32>(dv + ((<usize>i * <usize>k + <usize>j) << 2), value / norm);
        }
      }
    }
  }
}
