// f32_csrmm and f32_csr_sddmm: products of a sparse matrix in compressed
// sparse row (CSR) form with dense row-major matrices. Sizes, leading
// dimensions and indices count elements; pointers are byte addresses.
//
// CSR layout of a sparse matrix S with `rows` rows:
//   rowOffsets  rows + 1 int32 values, rowOffsets[0] = 0, non-decreasing;
//               row i stores entries p = rowOffsets[i] … rowOffsets[i+1] − 1;
//   columns     int32 column index of entry p;
//   values      float32 value of entry p (f32_csrmm only).
//
//   f32_csrmm:      C[i][0..n) = alpha · Σ_p values[p]·B[columns[p]][0..n)
//                   (C = alpha·S·B; a row without entries gives a zero row);
//   f32_csr_sddmm:  out[p] = alpha · Σ_{l<n} A[i][l]·B[columns[p]][l] for
//                   every entry p of row i (the sampled dense-dense product:
//                   A·Bᵀ evaluated only where S has an entry).
//
// Assumes (the bindings check): every column index addresses a row of B,
// the leading dimensions are at least n, and C or out overlaps none of the
// inputs.
//
// Every build returns the same bits. No multiply-add is fused. csrmm adds
// the terms of each output element in entry order p, and its SIMD lanes are
// independent output elements, so the lanes do what the scalar loop does.
// sddmm adds term l of the first n − n mod 4 terms to partial sum l mod 4,
// combines them as (s0 + s2) + (s1 + s3), then adds the last n mod 4 terms in
// order. The SIMD binaries keep the four partial sums in one vector.

import { HAS_SIMD } from "../isa";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;
// @ts-ignore: decorator
@inline const I32_BYTES: usize = 4;

/** Returns the byte address of element `index` of a float32 or int32 array. */
// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + <usize>index * F32_BYTES;
}

/** Returns the byte address of row `row` of a matrix with leading dimension ld. */
// @ts-ignore: decorator
@inline function rowAt(base: usize, row: i32, ld: i32): usize {
  return base + <usize>row * <usize>ld * F32_BYTES;
}

export function f32_csrmm(
  rows: i32, n: i32, rowOffsets: usize, columns: usize, values: usize,
  alpha: f32, b: usize, ldb: i32, c: usize, ldc: i32,
): void {
  for (let i = 0; i < rows; i++) {
    const first = load<i32>(rowOffsets + <usize>i * I32_BYTES);
    const end = load<i32>(rowOffsets + <usize>(i + 1) * I32_BYTES);
    const out = rowAt(c, i, ldc);
    let j = 0;
    if (HAS_SIMD) {
      const scale = f32x4.splat(alpha);
      // Sixteen output columns stay in four registers while the row's entries stream past.
      for (; j + 16 <= n; j += 16) {
        let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
        for (let p = first; p < end; p++) {
          const value = f32x4.splat(load<f32>(at(values, p)));
          const source = at(rowAt(b, load<i32>(at(columns, p)), ldb), j);
          acc0 = f32x4.add(acc0, f32x4.mul(value, v128.load(source)));
          acc1 = f32x4.add(acc1, f32x4.mul(value, v128.load(source, 16)));
          acc2 = f32x4.add(acc2, f32x4.mul(value, v128.load(source, 32)));
          acc3 = f32x4.add(acc3, f32x4.mul(value, v128.load(source, 48)));
        }
        const target = at(out, j);
        v128.store(target, f32x4.mul(scale, acc0));
        v128.store(target, f32x4.mul(scale, acc1), 16);
        v128.store(target, f32x4.mul(scale, acc2), 32);
        v128.store(target, f32x4.mul(scale, acc3), 48);
      }
      for (; j + 4 <= n; j += 4) {
        let acc = f32x4.splat(0);
        for (let p = first; p < end; p++) {
          const value = f32x4.splat(load<f32>(at(values, p)));
          acc = f32x4.add(acc, f32x4.mul(value, v128.load(at(rowAt(b, load<i32>(at(columns, p)), ldb), j))));
        }
        v128.store(at(out, j), f32x4.mul(scale, acc));
      }
    }
    // Remaining columns (all columns in the scalar binary).
    for (; j < n; j++) {
      let acc: f32 = 0;
      for (let p = first; p < end; p++) {
        acc += load<f32>(at(values, p)) * load<f32>(at(rowAt(b, load<i32>(at(columns, p)), ldb), j));
      }
      store<f32>(at(out, j), alpha * acc);
    }
  }
}

/** Returns Σ_{l<n} x[l]·y[l] in the order described at the top of this file. */
// @ts-ignore: decorator
@inline function dot(n: i32, x: usize, y: usize): f32 {
  const n4 = n & ~3;
  let sum: f32 = 0;
  if (HAS_SIMD) {
    let lanes = f32x4.splat(0);
    for (let l = 0; l < n4; l += 4) {
      lanes = f32x4.add(lanes, f32x4.mul(v128.load(at(x, l)), v128.load(at(y, l))));
    }
    // [s0 + s2, s1 + s3, …], then lane 0 + lane 1.
    const folded = f32x4.add(lanes, v128.shuffle<f32>(lanes, lanes, 2, 3, 0, 1));
    sum = f32x4.extract_lane(folded, 0) + f32x4.extract_lane(folded, 1);
  } else {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (let l = 0; l < n4; l += 4) {
      s0 += load<f32>(at(x, l)) * load<f32>(at(y, l));
      s1 += load<f32>(at(x, l + 1)) * load<f32>(at(y, l + 1));
      s2 += load<f32>(at(x, l + 2)) * load<f32>(at(y, l + 2));
      s3 += load<f32>(at(x, l + 3)) * load<f32>(at(y, l + 3));
    }
    sum = (s0 + s2) + (s1 + s3);
  }
  for (let l = n4; l < n; l++) sum += load<f32>(at(x, l)) * load<f32>(at(y, l));
  return sum;
}

export function f32_csr_sddmm(
  rows: i32, n: i32, rowOffsets: usize, columns: usize,
  alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, out: usize,
): void {
  for (let i = 0; i < rows; i++) {
    const first = load<i32>(rowOffsets + <usize>i * I32_BYTES);
    const end = load<i32>(rowOffsets + <usize>(i + 1) * I32_BYTES);
    const rowA = rowAt(a, i, lda);
    for (let p = first; p < end; p++) {
      const rowB = rowAt(b, load<i32>(at(columns, p)), ldb);
      store<f32>(at(out, p), alpha * dot(n, rowA, rowB));
    }
  }
}
