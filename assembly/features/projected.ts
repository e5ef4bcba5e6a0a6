// f32_features_projected: a projected random-feature map in one call, the
// GEMM z = X·Wᵀ and the map of maps.ts applied block by block while each
// block of z is still in cache.
//
//   kind:       PROJECTED_POSITIVE, PROJECTED_HYPERBOLIC, PROJECTED_EXP or
//               PROJECTED_TRIG (the maps of f32_features_exp and
//               f32_features_trig);
//   x:          rows×dim input, row stride ldx (elements);
//   w:          m×dim projection W, contiguous;
//   z:          rows×r output (r = m, or 2m for hyperbolic and trig), row
//               stride ldz >= r; must not overlap x, w or rowScalars;
//   rowScalars: `rows` float32 values; receives h_i = ‖x_i‖²/2 and then the
//               row shifts, as in maps.ts;
//   scale, epsilon, mode, givenShift: as in maps.ts.
// Returns what f32_features_exp or f32_features_trig returns.
//
// The output is bit for bit what f32_gemm followed by
// f32_half_squared_norms and the map kernel writes: when dim <= KC and
// m <= NC, f32_gemm packs W once and computes z in blocks of MC rows with
// multiplyBlock, which is what this kernel does too, and the map kernels
// treat every row alone. Each block is mapped right after its product, so
// the map reads it from cache instead of memory. Larger shapes call f32_gemm
// and the map kernel on the whole matrix.
// SHIFT_MAX for the exponential kinds needs the largest exponent of the call
// before the first exp, so the blocks only record their largest exponent
// and a second pass over z applies the map. The trigonometric SHIFT_MAX
// shift is the largest h_i, known before the product.

import { f32_gemm, f32_gemm_reserve, multiplyBlock, packBufferA, packBufferB, KC, MC, MR, NC, NR } from "../gemm/blocked";
import { packBlock } from "../gemm/pack";
import {
  SHIFT_GIVEN, SHIFT_MAX, expMapRows, f32_features_exp, f32_features_trig, f32_half_squared_norms,
  largestExponentOfRows, largestHalfNorm, trigMapRows,
} from "./maps";

export const PROJECTED_POSITIVE: i32 = 0;
export const PROJECTED_HYPERBOLIC: i32 = 1;
export const PROJECTED_EXP: i32 = 2;
export const PROJECTED_TRIG: i32 = 3;

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;

/** Computes the map of `kind` of the rows of x; see the file header. */
export function f32_features_projected(
  kind: i32, rows: i32, dim: i32, x: usize, ldx: i32, w: usize, m: i32,
  z: usize, ldz: i32, rowScalars: usize, scale: f32, epsilon: f32, mode: i32, givenShift: f32,
): f32 {
  const subtractNorms = kind != PROJECTED_EXP;
  const mirrored = kind == PROJECTED_HYPERBOLIC;
  if (subtractNorms) f32_half_squared_norms(rows, dim, x, ldx, rowScalars);
  if (rows <= 0) return -Infinity;

  if (dim > KC || m > NC) {
    f32_gemm(1, rows, m, dim, 1, x, ldx, 0, false, w, dim, 0, true, 0, z, ldz, 0);
    if (kind == PROJECTED_TRIG) return f32_features_trig(rows, m, z, ldz, rowScalars, scale, epsilon, mode, givenShift);
    return f32_features_exp(rows, m, z, ldz, rowScalars, subtractNorms, mirrored, scale, epsilon, mode, givenShift);
  }

  // op(B)(p, j) = w[j·dim + p]: W packed as f32_gemm packs it for transB.
  f32_gemm_reserve();
  const packA = packBufferA();
  const packB = packBufferB();
  packBlock(packB, w, dim, 1, m, NR, dim);

  const largestH = kind == PROJECTED_TRIG ? largestHalfNorm(rows, rowScalars) : <f32>0;
  const shift: f32 = mode == SHIFT_GIVEN ? givenShift : 0;
  let largest: f32 = -Infinity;
  for (let first = 0; first < rows; first += MC) {
    const count = min(MC, rows - first);
    packBlock(packA, x + <usize>first * <usize>ldx * F32_BYTES, ldx, 1, count, MR, dim);
    multiplyBlock(count, m, dim, packA, packB, z + <usize>first * <usize>ldz * F32_BYTES, ldz, 1, 0);
    const end = first + count;
    if (kind == PROJECTED_TRIG) {
      trigMapRows(first, end, m, z, ldz, rowScalars, scale, epsilon, mode, givenShift, largestH);
    } else if (mode == SHIFT_MAX) {
      largest = max<f32>(largest, largestExponentOfRows(first, end, m, z, ldz, rowScalars, subtractNorms, mirrored));
    } else {
      largest = max<f32>(largest, expMapRows(first, end, m, z, ldz, rowScalars, subtractNorms, mirrored, scale, epsilon, mode, shift));
    }
  }
  if (kind == PROJECTED_TRIG) return largestH;
  if (mode == SHIFT_MAX) {
    expMapRows(0, rows, m, z, ldz, rowScalars, subtractNorms, mirrored, scale, epsilon, mode, largest);
  }
  return largest;
}
