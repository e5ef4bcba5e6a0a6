// Row kernels of the attention backward pass (bindings/backends/wasm/ops/
// attention-backward.ts runs them between f32_gemm calls):
//   f32_features_backward          the per-row coefficients of ∂φ/∂x
//   f32_attention_output_gradient  gradient of out = num/den w.r.t. [num den]
//   f32_attention_chunk_gradient   the same for a causal chunk, without num
//   f32_weighted_column_sums       Σ_i w_i·x_i into a strided column
//   f32_attention_causal_mask      zero the entries a causal query cannot see
//   f32_attention_scatter_rows     write (or add) block rows back to a tensor
//   f32_rows_add_scaled            y_i += c_i·x_i
//   f64_state_accumulate, f64_state_read, f64_state_scale, f64_max_abs
//                                  the compensated (double-double) running state
//   f32_max_abs, f32_axpy, f32_scale_copy
//                                  the float32 running state and buffer copies
//
// Layout: row-major, sizes and leading dimensions in elements, pointers in
// bytes. Row positions are i32 arrays. No kernel allocates. Outputs may not
// overlap inputs unless a kernel's contract allows it.

import { HAS_SIMD } from "../isa";
import { expF32 } from "../math/exp";
import { DENOMINATOR_FLOOR } from "./rows";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;
// @ts-ignore: decorator
@inline const F64_BYTES: usize = 8;

// Kind codes of f32_features_backward, in the order of FEATURE_KINDS in
// bindings/api/features.ts.
export const KIND_POSITIVE: i32 = 0;
export const KIND_HYPERBOLIC: i32 = 1;
export const KIND_TRIG: i32 = 2;
export const KIND_RELU: i32 = 3;
export const KIND_ELU_PLUS_ONE: i32 = 4;
export const KIND_EXP: i32 = 5;
export const KIND_ABS: i32 = 6;
export const KIND_IDENTITY: i32 = 7;

// @ts-ignore: decorator
@inline function f32At(base: usize, index: i32): f32 {
  return load<f32>(base + <usize>index * F32_BYTES);
}

/**
 * Coefficients of the feature-map gradient. For rows×r features φ (as the
 * forward map wrote them, stabilizer shift and ε included) and their
 * gradient φ̄, writes the rows×m matrix A and the row vector b such that
 *   x̄_i = Σ_l A_il·ω_l + b_i·x_i        (with a projection W, rows ω_l)
 *   x̄_i = A_i + b_i·x_i                 (without one: m = dim, ω_l = e_l)
 * is the gradient w.r.t. the map's input row x_i, with the shift treated as
 * a constant. With φ̃ = φ − scale·ε (the map without its additive ε):
 *   positive    A_l = φ̄_l·φ̃_l                              b = −Σ_l φ̄_l·φ̃_l
 *   hyperbolic  A_l = φ̄_l·φ̃_l − φ̄_{m+l}·φ̃_{m+l}             b = −Σ_{l<2m} φ̄_l·φ̃_l
 *   trig        A_l = φ̄_l·φ̃_{m+l} − φ̄_{m+l}·φ̃_l             b = +Σ_{l<2m} φ̄_l·φ̃_l
 *   exp         A_l = φ̄_l·φ̃_l                              b = 0
 *   relu        A_l = φ̄_l·scale·[z_l > 0]                    b = 0
 *   elu+1       A_l = φ̄_l·scale·(z_l > 0 ? 1 : exp(z_l))     b = 0
 *   abs         A_l = φ̄_l·scale·sign(z_l), sign(0) = 0       b = 0
 *   identity    A_l = φ̄_l·scale                              b = 0
 * z (rows×m, ldz) is the pre-activation ω_l·x (or x itself) and is read only
 * by relu, elu+1 and abs. At the kinks of relu and abs the kernel returns
 * the subgradient 0. The SIMD builds sum b in four lanes, so their b can
 * differ from the scalar build's in the last bits.
 */
export function f32_features_backward(
  kind: i32, rows: i32, m: i32,
  phi: usize, ldphi: i32, dphi: usize, lddphi: i32, z: usize, ldz: i32,
  scale: f32, epsilon: f32, coeff: usize, ldc: i32, rowCoeff: usize,
): void {
  const offset: f32 = scale * epsilon;
  for (let i = 0; i < rows; i++) {
    const f = phi + <usize>i * <usize>ldphi * F32_BYTES;
    const g = dphi + <usize>i * <usize>lddphi * F32_BYTES;
    const a = coeff + <usize>i * <usize>ldc * F32_BYTES;
    const zRow = z + <usize>i * <usize>ldz * F32_BYTES;
    let b: f32 = 0;
    let l = 0;
    if (HAS_SIMD && (kind == KIND_POSITIVE || kind == KIND_EXP || kind == KIND_HYPERBOLIC || kind == KIND_TRIG)) {
      const shift = f32x4.splat(offset);
      let sum = f32x4.splat(0);
      for (; l + 4 <= m; l += 4) {
        const at = <usize>l * F32_BYTES;
        const upper = <usize>(m + l) * F32_BYTES;
        if (kind == KIND_TRIG) {
          const sinPart = f32x4.sub(v128.load(f + at), shift);
          const cosPart = f32x4.sub(v128.load(f + upper), shift);
          const gSin = v128.load(g + at);
          const gCos = v128.load(g + upper);
          v128.store(a + at, f32x4.sub(f32x4.mul(gSin, cosPart), f32x4.mul(gCos, sinPart)));
          sum = f32x4.add(sum, f32x4.add(f32x4.mul(gSin, sinPart), f32x4.mul(gCos, cosPart)));
        } else if (kind == KIND_HYPERBOLIC) {
          const plus = f32x4.mul(v128.load(g + at), f32x4.sub(v128.load(f + at), shift));
          const minus = f32x4.mul(v128.load(g + upper), f32x4.sub(v128.load(f + upper), shift));
          v128.store(a + at, f32x4.sub(plus, minus));
          sum = f32x4.sub(sum, f32x4.add(plus, minus));
        } else {
          const term = f32x4.mul(v128.load(g + at), f32x4.sub(v128.load(f + at), shift));
          v128.store(a + at, term);
          sum = f32x4.sub(sum, term);
        }
      }
      b = (f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1)) + (f32x4.extract_lane(sum, 2) + f32x4.extract_lane(sum, 3));
    }
    if (kind == KIND_POSITIVE || kind == KIND_EXP) {
      for (; l < m; l++) {
        const term = f32At(g, l) * (f32At(f, l) - offset);
        store<f32>(a + <usize>l * F32_BYTES, term);
        b -= term;
      }
      if (kind == KIND_EXP) b = 0;
    } else if (kind == KIND_HYPERBOLIC) {
      for (; l < m; l++) {
        const plus = f32At(g, l) * (f32At(f, l) - offset);
        const minus = f32At(g, m + l) * (f32At(f, m + l) - offset);
        store<f32>(a + <usize>l * F32_BYTES, plus - minus);
        b -= plus + minus;
      }
    } else if (kind == KIND_TRIG) {
      for (; l < m; l++) {
        const sinPart = f32At(f, l) - offset;
        const cosPart = f32At(f, m + l) - offset;
        const gSin = f32At(g, l);
        const gCos = f32At(g, m + l);
        store<f32>(a + <usize>l * F32_BYTES, gSin * cosPart - gCos * sinPart);
        b += gSin * sinPart + gCos * cosPart;
      }
    } else {
      for (; l < m; l++) {
        const zl = f32At(zRow, l);
        let slope: f32 = scale;
        if (kind == KIND_RELU) {
          slope = zl > 0 ? scale : 0;
        } else if (kind == KIND_ELU_PLUS_ONE) {
          slope = zl > 0 ? scale : scale * expF32(zl);
        } else if (kind == KIND_ABS) {
          slope = zl > 0 ? scale : (zl < 0 ? -scale : 0);
        }
        store<f32>(a + <usize>l * F32_BYTES, f32At(g, l) * slope);
      }
    }
    store<f32>(rowCoeff + <usize>i * F32_BYTES, b);
  }
}

/**
 * Writes the gradient of out = num/den w.r.t. the row [num den]. Each num
 * row contains n numerator values followed by the denominator, and g the n
 * output gradients. Writes out[i] = [g/den, −(g·(num/den))/den] (n + 1 values).
 * A row whose denominator is not above DENOMINATOR_FLOOR gave an output of
 * zeros in the forward pass (f32_attention_divide_rows), a constant, so its
 * gradient row is zero. A NaN denominator is passed through as NaN.
 */
export function f32_attention_output_gradient(
  rows: i32, n: i32, num: usize, ldn: i32, g: usize, ldg: i32, out: usize, ldo: i32,
): void {
  for (let i = 0; i < rows; i++) {
    const numRow = num + <usize>i * <usize>ldn * F32_BYTES;
    const gRow = g + <usize>i * <usize>ldg * F32_BYTES;
    const outRow = out + <usize>i * <usize>ldo * F32_BYTES;
    const den = f32At(numRow, n);
    if (den <= DENOMINATOR_FLOOR) {
      for (let c = 0; c <= n; c++) store<f32>(outRow + <usize>c * F32_BYTES, 0);
      continue;
    }
    let dot: f32 = 0;
    for (let c = 0; c < n; c++) {
      const gc = f32At(gRow, c);
      dot += gc * (f32At(numRow, c) / den);
      store<f32>(outRow + <usize>c * F32_BYTES, gc / den);
    }
    store<f32>(outRow + <usize>n * F32_BYTES, -dot / den);
  }
}

/**
 * Forms the row gradients of one causal chunk without its numerator. For
 * query rows i < rows (position queryStart + i) with features q′_i, the
 * chunk's start state T0 = [S0 z0] (r×(dv+1)), the masked scores
 * P = M∘(Q′K′ᵀ) (rows×keys) and the output gradient g_i (dv values), the
 * forward pass had num_i = S0ᵀq′_i + Σ_j P_ij v_j and
 * den_i = z0·q′_i + Σ_j P_ij. With the two products the caller forms
 * first, A = G·S0ᵀ (rows×r) and W = G·Vᵀ (rows×keys),
 *   g_i·num_i = q′_i·A_i + Σ_j P_ij W_ij,   s_i = (g_i·num_i/den_i)/den_i,
 * and the kernel writes, in place of A and W,
 *   Ĝ_i  = [g_i/den_i, −s_i]                 (gh, dv + 1 values)
 *   P̄_ij = M_ij·(W_ij/den_i − s_i)            (= M∘(ĜUᵀ), over W)
 *   Q̄′_i = A_i/den_i − s_i·z0                 (= ĜT0ᵀ, over A)
 * so the numerator Q′T0 + P·U is never formed. As in
 * f32_attention_output_gradient, a row whose den is not above
 * DENOMINATOR_FLOOR gets zeros, and a NaN den gives NaN. z0 is read with
 * stride ldz into zs (r floats of scratch). M_ij = [keyPos[j] <=
 * queryStart + i], keyPos increasing.
 */
export function f32_attention_chunk_gradient(
  rows: i32, keys: i32, queryStart: i32, keyPos: usize, r: i32, dv: i32,
  qf: usize, ldq: i32, a: usize, lda: i32, p: usize, ldp: i32, w: usize, ldw: i32,
  g: usize, ldg: i32, z0: usize, ldz: i32, zs: usize, gh: usize, ldgh: i32,
): void {
  for (let l = 0; l < r; l++) store<f32>(zs + <usize>l * F32_BYTES, load<f32>(z0 + <usize>l * <usize>ldz * F32_BYTES));
  for (let i = 0; i < rows; i++) {
    const qRow = qf + <usize>i * <usize>ldq * F32_BYTES;
    const aRow = a + <usize>i * <usize>lda * F32_BYTES;
    const pRow = p + <usize>i * <usize>ldp * F32_BYTES;
    const wRow = w + <usize>i * <usize>ldw * F32_BYTES;
    const gRow = g + <usize>i * <usize>ldg * F32_BYTES;
    const ghRow = gh + <usize>i * <usize>ldgh * F32_BYTES;
    // Sums over the r features: q′·A and q′·z0.
    let dot: f32 = 0;
    let den: f32 = 0;
    let l = 0;
    if (HAS_SIMD) {
      let dotLanes = f32x4.splat(0);
      let denLanes = f32x4.splat(0);
      for (; l + 4 <= r; l += 4) {
        const at = <usize>l * F32_BYTES;
        const q = v128.load(qRow + at);
        dotLanes = f32x4.add(dotLanes, f32x4.mul(q, v128.load(aRow + at)));
        denLanes = f32x4.add(denLanes, f32x4.mul(q, v128.load(zs + at)));
      }
      dot = (f32x4.extract_lane(dotLanes, 0) + f32x4.extract_lane(dotLanes, 1))
        + (f32x4.extract_lane(dotLanes, 2) + f32x4.extract_lane(dotLanes, 3));
      den = (f32x4.extract_lane(denLanes, 0) + f32x4.extract_lane(denLanes, 1))
        + (f32x4.extract_lane(denLanes, 2) + f32x4.extract_lane(denLanes, 3));
    }
    for (; l < r; l++) {
      const q = f32At(qRow, l);
      dot += q * f32At(aRow, l);
      den += q * f32At(zs, l);
    }
    // The in-chunk keys (P is already masked).
    for (let j = 0; j < keys; j++) {
      const pij = f32At(pRow, j);
      den += pij;
      dot += pij * f32At(wRow, j);
    }
    if (den <= DENOMINATOR_FLOOR) {
      for (let c = 0; c <= dv; c++) store<f32>(ghRow + <usize>c * F32_BYTES, 0);
      for (let j = 0; j < keys; j++) store<f32>(wRow + <usize>j * F32_BYTES, 0);
      for (let k = 0; k < r; k++) store<f32>(aRow + <usize>k * F32_BYTES, 0);
      continue;
    }
    const s = (dot / den) / den;
    for (let c = 0; c < dv; c++) store<f32>(ghRow + <usize>c * F32_BYTES, f32At(gRow, c) / den);
    store<f32>(ghRow + <usize>dv * F32_BYTES, -s);
    const query = queryStart + i;
    for (let j = 0; j < keys; j++) {
      const at = wRow + <usize>j * F32_BYTES;
      const visible = load<i32>(keyPos + (<usize>j << 2)) <= query;
      store<f32>(at, visible ? load<f32>(at) / den - s : 0);
    }
    l = 0;
    if (HAS_SIMD) {
      const d = f32x4.splat(den);
      const sv = f32x4.splat(s);
      for (; l + 4 <= r; l += 4) {
        const at = <usize>l * F32_BYTES;
        v128.store(aRow + at, f32x4.sub(f32x4.div(v128.load(aRow + at), d), f32x4.mul(sv, v128.load(zs + at))));
      }
    }
    for (; l < r; l++) {
      const at = aRow + <usize>l * F32_BYTES;
      store<f32>(at, load<f32>(at) / den - s * f32At(zs, l));
    }
  }
}

/**
 * Zeroes a[i][j] wherever key j is later than query i: keyPos[j] >
 * queryStart + i (i < rows, j < keys). keyPos must be increasing.
 */
export function f32_attention_causal_mask(rows: i32, queryStart: i32, keys: i32, keyPos: usize, a: usize, lda: i32): void {
  for (let i = 0; i < rows; i++) {
    const query = queryStart + i;
    const row = a + <usize>i * <usize>lda * F32_BYTES;
    let j = keys;
    while (j > 0 && load<i32>(keyPos + (<usize>(j - 1) << 2)) > query) j--;
    for (; j < keys; j++) store<f32>(row + <usize>j * F32_BYTES, 0);
  }
}

/**
 * Writes block rows back to the rows index[0..count) of dst:
 *   dst[index[r]][c] = scale·src[r][c]           (accumulate = false)
 *   dst[index[r]][c] = dst[index[r]][c] + scale·src[r][c]   (accumulate = true)
 * for c < cols. src rows are lds apart, dst rows ldd apart; they may not overlap.
 */
export function f32_attention_scatter_rows(
  count: i32, index: usize, src: usize, lds: i32, cols: i32, scale: f32, dst: usize, ldd: i32, accumulate: bool,
): void {
  for (let r = 0; r < count; r++) {
    const row = load<i32>(index + (<usize>r << 2));
    const from = src + <usize>r * <usize>lds * F32_BYTES;
    const to = dst + <usize>row * <usize>ldd * F32_BYTES;
    if (accumulate) {
      for (let c = 0; c < cols; c++) {
        const at = to + <usize>c * F32_BYTES;
        store<f32>(at, load<f32>(at) + scale * f32At(from, c));
      }
    } else {
      for (let c = 0; c < cols; c++) store<f32>(to + <usize>c * F32_BYTES, scale * f32At(from, c));
    }
  }
}

/**
 * Writes the weighted column sums of a rows×cols matrix x into a strided
 * column: out[l·ldo] = t_l (beta 0, the old value is not read) or
 * out[l·ldo] + t_l (beta 1), where t_l = Σ_i w_i·x[i][l] summed in row
 * order, with w_i = weights[i·ldw], or 1 when weights is 0. t goes through
 * `sums` (cols floats of scratch). The backward pass uses it for the last
 * column of K′ᵀ[V 1] and of Q′ᵀĜ, so that the GEMMs before it have n = dv
 * instead of dv + 1 (one partly used column tile less).
 */
export function f32_weighted_column_sums(
  rows: i32, cols: i32, x: usize, ldx: i32, weights: usize, ldw: i32, beta: i32, out: usize, ldo: i32, sums: usize,
): void {
  for (let l = 0; l < cols; l++) store<f32>(sums + <usize>l * F32_BYTES, 0);
  for (let i = 0; i < rows; i++) {
    const row = x + <usize>i * <usize>ldx * F32_BYTES;
    const w: f32 = weights == 0 ? 1 : load<f32>(weights + <usize>i * <usize>ldw * F32_BYTES);
    let l = 0;
    if (HAS_SIMD) {
      const wv = f32x4.splat(w);
      for (; l + 4 <= cols; l += 4) {
        const at = <usize>l * F32_BYTES;
        v128.store(sums + at, f32x4.add(v128.load(sums + at), f32x4.mul(wv, v128.load(row + at))));
      }
    }
    for (; l < cols; l++) {
      const at = sums + <usize>l * F32_BYTES;
      store<f32>(at, load<f32>(at) + w * f32At(row, l));
    }
  }
  for (let l = 0; l < cols; l++) {
    const at = out + <usize>l * <usize>ldo * F32_BYTES;
    const t = f32At(sums, l);
    store<f32>(at, beta == 0 ? t : load<f32>(at) + t);
  }
}

/** y_i += c_i·x_i for rows i < rows of cols values (x rows ldx apart, y rows ldy apart). */
export function f32_rows_add_scaled(rows: i32, cols: i32, coefficients: usize, x: usize, ldx: i32, y: usize, ldy: i32): void {
  for (let i = 0; i < rows; i++) {
    const c = f32At(coefficients, i);
    if (c == 0) continue;
    const xRow = x + <usize>i * <usize>ldx * F32_BYTES;
    const yRow = y + <usize>i * <usize>ldy * F32_BYTES;
    for (let k = 0; k < cols; k++) {
      const at = yRow + <usize>k * F32_BYTES;
      store<f32>(at, load<f32>(at) + c * f32At(xRow, k));
    }
  }
}

/**
 * Adds factor·p[e] (p float32, factor float64) to the double-double values
 * (hi[e], lo[e]) for e < n, with Knuth's TwoSum, so hi + lo keeps about 106
 * bits. Adding a term and later adding the same term times −1 returns the
 * pair to its old value up to one rounding of 2^-106 relative to |hi|,
 * which is what lets the backward pass rebuild a chunk's start state by
 * subtraction without the cancellation of a float32 state. Returns the
 * largest |hi[e]| after the update (0 for n = 0, NaN if any is NaN), as
 * f64_max_abs would. The vector paths run the same IEEE additions four and
 * then two values at a time (no fused operations), so every build stores
 * the same bits.
 */
export function f64_state_accumulate(n: i32, p: usize, factor: f64, hi: usize, lo: usize): f64 {
  let e = 0;
  let best: f64 = 0;
  if (HAS_SIMD) {
    const f = f64x2.splat(factor);
    let largest = f64x2.splat(0);
    let largest2 = f64x2.splat(0);
    // Four values per iteration: one 16-byte load of p and two independent
    // TwoSum chains, which keeps more operations in flight.
    for (; e + 4 <= n; e += 4) {
      const quad = v128.load(p + <usize>e * F32_BYTES);
      const hiAt = hi + <usize>e * F64_BYTES;
      const loAt = lo + <usize>e * F64_BYTES;
      const x1 = f64x2.mul(f64x2.promote_low_f32x4(quad), f);
      const x2 = f64x2.mul(f64x2.promote_low_f32x4(i32x4.shuffle(quad, quad, 2, 3, 2, 3)), f);
      const a1 = v128.load(hiAt);
      const a2 = v128.load(hiAt, 16);
      const sum1 = f64x2.add(a1, x1);
      const sum2 = f64x2.add(a2, x2);
      const b1 = f64x2.sub(sum1, a1);
      const b2 = f64x2.sub(sum2, a2);
      const err1 = f64x2.add(f64x2.sub(a1, f64x2.sub(sum1, b1)), f64x2.sub(x1, b1));
      const err2 = f64x2.add(f64x2.sub(a2, f64x2.sub(sum2, b2)), f64x2.sub(x2, b2));
      const t1 = f64x2.add(v128.load(loAt), err1);
      const t2 = f64x2.add(v128.load(loAt, 16), err2);
      const h1 = f64x2.add(sum1, t1);
      const h2 = f64x2.add(sum2, t2);
      v128.store(hiAt, h1);
      v128.store(hiAt, h2, 16);
      v128.store(loAt, f64x2.sub(t1, f64x2.sub(h1, sum1)));
      v128.store(loAt, f64x2.sub(t2, f64x2.sub(h2, sum2)), 16);
      largest = f64x2.max(largest, f64x2.abs(h1));
      largest2 = f64x2.max(largest2, f64x2.abs(h2));
    }
    largest = f64x2.max(largest, largest2);
    for (; e + 2 <= n; e += 2) {
      const x = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(p + <usize>e * F32_BYTES)), f);
      const hiAt = hi + <usize>e * F64_BYTES;
      const loAt = lo + <usize>e * F64_BYTES;
      const a = v128.load(hiAt);
      const sum = f64x2.add(a, x);
      const bv = f64x2.sub(sum, a);
      const err = f64x2.add(f64x2.sub(a, f64x2.sub(sum, bv)), f64x2.sub(x, bv));
      const t = f64x2.add(v128.load(loAt), err);
      const h = f64x2.add(sum, t);
      v128.store(hiAt, h);
      v128.store(loAt, f64x2.sub(t, f64x2.sub(h, sum)));
      // f64x2.max returns NaN when either input is NaN.
      largest = f64x2.max(largest, f64x2.abs(h));
    }
    // f64.max, like f64x2.max, returns NaN when either input is NaN.
    best = max<f64>(f64x2.extract_lane(largest, 0), f64x2.extract_lane(largest, 1));
  }
  for (; e < n; e++) {
    const x = <f64>load<f32>(p + <usize>e * F32_BYTES) * factor;
    const hiAt = hi + <usize>e * F64_BYTES;
    const loAt = lo + <usize>e * F64_BYTES;
    const a = load<f64>(hiAt);
    // TwoSum: s + err == a + x exactly.
    const s = a + x;
    const bv = s - a;
    const err = (a - (s - bv)) + (x - bv);
    const t = load<f64>(loAt) + err;
    // FastTwoSum renormalizes so that |lo| <= ulp(hi)/2.
    const h = s + t;
    store<f64>(hiAt, h);
    store<f64>(loAt, t - (h - s));
    const v = abs<f64>(h);
    if (v > best || v != v) best = v;
  }
  return best;
}

/** out[e] = float32((hi[e] + lo[e])·factor) for e < n. */
export function f64_state_read(n: i32, hi: usize, lo: usize, factor: f64, out: usize): void {
  let e = 0;
  if (HAS_SIMD) {
    const f = f64x2.splat(factor);
    for (; e + 2 <= n; e += 2) {
      const value = f64x2.mul(f64x2.add(v128.load(hi + <usize>e * F64_BYTES), v128.load(lo + <usize>e * F64_BYTES)), f);
      v128.store64_lane(out + <usize>e * F32_BYTES, f32x4.demote_f64x2_zero(value), 0);
    }
  }
  for (; e < n; e++) {
    const value = (load<f64>(hi + <usize>e * F64_BYTES) + load<f64>(lo + <usize>e * F64_BYTES)) * factor;
    store<f32>(out + <usize>e * F32_BYTES, <f32>value);
  }
}

/** Multiplies the double-double values by factor (one rounding each, used only when the reference shift moves). */
export function f64_state_scale(n: i32, hi: usize, lo: usize, factor: f64): void {
  for (let e = 0; e < n; e++) {
    const hiAt = hi + <usize>e * F64_BYTES;
    const loAt = lo + <usize>e * F64_BYTES;
    const h = load<f64>(hiAt) * factor;
    const l = load<f64>(loAt) * factor;
    const s = h + l;
    store<f64>(hiAt, s);
    store<f64>(loAt, l - (s - h));
  }
}

/** Returns max |x[e]| over e < n float64 values (0 for n = 0, NaN if any is NaN). */
export function f64_max_abs(n: i32, x: usize): f64 {
  let best: f64 = 0;
  let e = 0;
  if (HAS_SIMD) {
    let largest = f64x2.splat(0);
    for (; e + 2 <= n; e += 2) largest = f64x2.max(largest, f64x2.abs(v128.load(x + <usize>e * F64_BYTES)));
    best = max<f64>(f64x2.extract_lane(largest, 0), f64x2.extract_lane(largest, 1));
  }
  for (; e < n; e++) {
    const v = abs<f64>(load<f64>(x + <usize>e * F64_BYTES));
    if (v > best || v != v) best = v;
  }
  return best;
}

/** Returns max |x[e]| over e < n float32 values (0 for n = 0, NaN if any is NaN). */
export function f32_max_abs(n: i32, x: usize): f32 {
  let best: f32 = 0;
  for (let e = 0; e < n; e++) {
    const v = abs<f32>(f32At(x, e));
    if (v > best || v != v) best = v;
  }
  return best;
}

/** y[e] += alpha·x[e] for e < n; x and y may not overlap. */
export function f32_axpy(n: i32, alpha: f32, x: usize, y: usize): void {
  for (let e = 0; e < n; e++) {
    const at = y + <usize>e * F32_BYTES;
    store<f32>(at, load<f32>(at) + alpha * f32At(x, e));
  }
}

/** y[e] = alpha·x[e] for e < n; x and y may not overlap. */
export function f32_scale_copy(n: i32, alpha: f32, x: usize, y: usize): void {
  for (let e = 0; e < n; e++) store<f32>(y + <usize>e * F32_BYTES, alpha * f32At(x, e));
}
