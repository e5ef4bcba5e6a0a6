// Kernels behind the hybrid random-feature maps (bindings/api/hybrid.ts):
// the sign features of the angular weight, and the tensor-product map that
// turns two base feature maps and the weight features into one map whose
// dot products equal the hybrid estimate. Row strides are in elements.
//
// f32_features_sign(rows, m, z, ldz): z_il ← sign(z_il) in place, with
//   sign(±0) = +1 and NaN kept as NaN. The sign features carry no scale, so
//   Σ_l sign(ω_lᵀx)·sign(ω_lᵀy) is an exact integer count.
//
// f32_hybrid_tensor(rows, d1, p1, ldp1, d2, p2, ldp2, dl, rho, ldr,
//                   s1, s2, shift, c0, c1, c2, c3, out, ldo):
//   Inputs per row i: P1 (d1 values, the first base map shifted by s1_i),
//   P2 (d2 values, the second base map shifted by s2_i), ρ (dl values, the
//   weight features). The row's common shift is S_i = max(s1_i, s2_i),
//   written to shift[i], and the base maps are rescaled to it with
//   f1 = exp(s1_i − S_i) <= 1 and f2 = exp(s2_i − S_i) <= 1. Output row
//   ((1 + dl)·(d1 + d2) values):
//     [ c0·f1·P1 | (c1·f1·ρ_0)·P1 | … | (c1·f1·ρ_{dl−1})·P1 |
//       c2·f2·P2 | (c3·f2·ρ_0)·P2 | … | (c3·f2·ρ_{dl−1})·P2 ]
//   i.e. block k of ρ⊗P is ρ_k times the whole base map. Each coefficient is
//   formed in float32 in the order written, then multiplies P with one
//   rounding, on the vector and scalar paths alike, so all builds return the
//   same bits. out must not overlap the inputs; shift may be s1 or s2.
//
// f32_hybrid_tensor_backward(rows, d1, p1, ldp1, d2, p2, ldp2, dl, rho, ldr,
//                            s1, s2, shift, c0, c1, c2, c3, factor,
//                            g, ldg, dp1, lddp1, dp2, lddp2, drho, lddr):
//   The vector-Jacobian product of f32_hybrid_tensor for output rows that
//   were multiplied by `factor` after it ran (the attention ops rescale key
//   blocks). With f_k recomputed from s1, s2 and the row's shift exactly as
//   the forward kernel formed them, e1 = factor·f1, e2 = factor·f2 and g the
//   gradient of one output row split into its blocks G1_0 … G1_dl (d1
//   values each) and G2_0 … G2_dl (d2 values each):
//     dP1  = c0·e1·G1_0 + Σ_k c1·e1·ρ_k·G1_{k+1}
//     dP2  = c2·e2·G2_0 + Σ_k c3·e2·ρ_k·G2_{k+1}
//     dρ_k = c1·e1·(G1_{k+1}·P1) + c3·e2·(G2_{k+1}·P2)
//   Nothing may overlap except the three inputs of the scale (s1, s2, shift).

import { HAS_SIMD } from "../isa";
import { expF32 } from "../math/exp";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

/** Replaces each value by its sign, +1 for ±0 (see the file header). */
export function f32_features_sign(rows: i32, m: i32, z: usize, ldz: i32): void {
  for (let i = 0; i < rows; i++) {
    const row = z + <usize>i * <usize>ldz * F32_BYTES;
    let l = 0;
    if (HAS_SIMD) {
      const plus = f32x4.splat(1);
      const minus = f32x4.splat(-1);
      const zero = f32x4.splat(0);
      for (; l + 4 <= m; l += 4) {
        const p = row + <usize>l * F32_BYTES;
        const v = v128.load(p);
        const signs = v128.bitselect(minus, plus, f32x4.lt(v, zero));
        v128.store(p, v128.bitselect(v, signs, f32x4.ne(v, v)));
      }
    }
    for (; l < m; l++) {
      const p = row + <usize>l * F32_BYTES;
      const v = load<f32>(p);
      store<f32>(p, v != v ? v : (v < 0 ? <f32>-1 : <f32>1));
    }
  }
}

/** Writes coefficient·source[l] for l < n at target. */
function scaledCopy(n: i32, source: usize, target: usize, coefficient: f32): void {
  let l = 0;
  if (HAS_SIMD) {
    const c = f32x4.splat(coefficient);
    for (; l + 4 <= n; l += 4) {
      const offset = <usize>l * F32_BYTES;
      v128.store(target + offset, f32x4.mul(c, v128.load(source + offset)));
    }
  }
  for (; l < n; l++) {
    const offset = <usize>l * F32_BYTES;
    store<f32>(target + offset, coefficient * load<f32>(source + offset));
  }
}

/** Writes the tensor-product hybrid features of each row (see the file header). */
export function f32_hybrid_tensor(
  rows: i32, d1: i32, p1: usize, ldp1: i32, d2: i32, p2: usize, ldp2: i32, dl: i32, rho: usize, ldr: i32,
  s1: usize, s2: usize, shift: usize, c0: f32, c1: f32, c2: f32, c3: f32, out: usize, ldo: i32,
): void {
  for (let i = 0; i < rows; i++) {
    const rowOffset = <usize>i * F32_BYTES;
    const shift1 = load<f32>(s1 + rowOffset);
    const shift2 = load<f32>(s2 + rowOffset);
    const common = max<f32>(shift1, shift2);
    const f1 = expF32(shift1 - common);
    const f2 = expF32(shift2 - common);
    store<f32>(shift + rowOffset, common);

    const base1 = p1 + <usize>i * <usize>ldp1 * F32_BYTES;
    const base2 = p2 + <usize>i * <usize>ldp2 * F32_BYTES;
    const weights = rho + <usize>i * <usize>ldr * F32_BYTES;
    let target = out + <usize>i * <usize>ldo * F32_BYTES;

    scaledCopy(d1, base1, target, c0 * f1);
    target += <usize>d1 * F32_BYTES;
    const scaled1 = c1 * f1;
    for (let k = 0; k < dl; k++) {
      scaledCopy(d1, base1, target, scaled1 * load<f32>(weights + <usize>k * F32_BYTES));
      target += <usize>d1 * F32_BYTES;
    }
    scaledCopy(d2, base2, target, c2 * f2);
    target += <usize>d2 * F32_BYTES;
    const scaled2 = c3 * f2;
    for (let k = 0; k < dl; k++) {
      scaledCopy(d2, base2, target, scaled2 * load<f32>(weights + <usize>k * F32_BYTES));
      target += <usize>d2 * F32_BYTES;
    }
  }
}

/** One base map's part of f32_hybrid_tensor_backward: its dP row, and its terms of dρ added to drho. */
function blockGradient(
  n: i32, g: usize, blocks: i32, weights: usize, first: f32, scaled: f32, base: usize, target: usize, drho: usize,
): void {
  // The first block: target = first·G_0.
  scaledCopy(n, g, target, first);
  for (let k = 0; k < blocks; k++) {
    const block = g + <usize>(k + 1) * <usize>n * F32_BYTES;
    const coefficient = scaled * load<f32>(weights + <usize>k * F32_BYTES);
    let dot: f32 = 0;
    let l = 0;
    if (HAS_SIMD) {
      const c = f32x4.splat(coefficient);
      let acc = f32x4.splat(0);
      for (; l + 4 <= n; l += 4) {
        const offset = <usize>l * F32_BYTES;
        const gv = v128.load(block + offset);
        v128.store(target + offset, f32x4.add(v128.load(target + offset), f32x4.mul(c, gv)));
        acc = f32x4.add(acc, f32x4.mul(gv, v128.load(base + offset)));
      }
      dot = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    }
    for (; l < n; l++) {
      const offset = <usize>l * F32_BYTES;
      const gl = load<f32>(block + offset);
      store<f32>(target + offset, load<f32>(target + offset) + coefficient * gl);
      dot += gl * load<f32>(base + offset);
    }
    const at = drho + <usize>k * F32_BYTES;
    store<f32>(at, load<f32>(at) + scaled * dot);
  }
}

/** Writes the gradients of the base maps and the weight features of each row (see the file header). */
export function f32_hybrid_tensor_backward(
  rows: i32, d1: i32, p1: usize, ldp1: i32, d2: i32, p2: usize, ldp2: i32, dl: i32, rho: usize, ldr: i32,
  s1: usize, s2: usize, shift: usize, c0: f32, c1: f32, c2: f32, c3: f32, factor: f32,
  g: usize, ldg: i32, dp1: usize, lddp1: i32, dp2: usize, lddp2: i32, drho: usize, lddr: i32,
): void {
  for (let i = 0; i < rows; i++) {
    const rowOffset = <usize>i * F32_BYTES;
    const common = load<f32>(shift + rowOffset);
    const e1 = factor * expF32(load<f32>(s1 + rowOffset) - common);
    const e2 = factor * expF32(load<f32>(s2 + rowOffset) - common);
    const weights = rho + <usize>i * <usize>ldr * F32_BYTES;
    const gradRho = drho + <usize>i * <usize>lddr * F32_BYTES;
    for (let k = 0; k < dl; k++) store<f32>(gradRho + <usize>k * F32_BYTES, 0);
    const gRow = g + <usize>i * <usize>ldg * F32_BYTES;
    blockGradient(
      d1, gRow, dl, weights, c0 * e1, c1 * e1,
      p1 + <usize>i * <usize>ldp1 * F32_BYTES, dp1 + <usize>i * <usize>lddp1 * F32_BYTES, gradRho,
    );
    blockGradient(
      d2, gRow + <usize>(1 + dl) * <usize>d1 * F32_BYTES, dl, weights, c2 * e2, c3 * e2,
      p2 + <usize>i * <usize>ldp2 * F32_BYTES, dp2 + <usize>i * <usize>lddp2 * F32_BYTES, gradRho,
    );
  }
}
