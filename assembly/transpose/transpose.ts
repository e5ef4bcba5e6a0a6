// f32_transpose: out = aᵀ for each of `batch` row-major rows×cols matrices
// stored back to back (sizes in elements). Item b of a starts at element
// b·rows·cols and is read as a[i][j]; item b of out starts at the same
// element offset and is written as out[j][i] (cols×rows). a and out must not
// overlap. Values are copied bit for bit, NaN payloads included.
//
// The matrix is walked in TILE×TILE tiles, so the rows read from a and the
// rows written to out both stay in cache while a tile is copied. Inside a
// tile the SIMD binaries transpose 4×4 blocks in registers with four loads,
// eight shuffles and four stores. Tile edges that are not a multiple of 4 are
// copied one element at a time.

import { HAS_SIMD } from "../isa";

// @ts-ignore: decorator
@inline const F32_BYTES: usize = 4;
// 16 float32 values are 64 bytes, a common cache-line size, so a full tile
// uses whole lines of both a and out. NOTE: not tuned by a benchmark yet.
// @ts-ignore: decorator
@inline const TILE: i32 = 16;

/** Copies a[i][j] to out[j][i] for i in [i0, i1), j in [j0, j1), one element at a time. */
// @ts-ignore: decorator
@inline function copyScalar(rows: i32, cols: i32, a: usize, out: usize, i0: i32, i1: i32, j0: i32, j1: i32): void {
  for (let i = i0; i < i1; i++) {
    for (let j = j0; j < j1; j++) {
      const value = load<u32>(a + (<usize>i * <usize>cols + <usize>j) * F32_BYTES);
      store<u32>(out + (<usize>j * <usize>rows + <usize>i) * F32_BYTES, value);
    }
  }
}

/** Transposes the 4×4 block at a[i..i+4][j..j+4] into out[j..j+4][i..i+4]. */
// @ts-ignore: decorator
@inline function transposeBlock4x4(rows: i32, cols: i32, a: usize, out: usize, i: i32, j: i32): void {
  const rowStride = <usize>cols * F32_BYTES;
  const source = a + (<usize>i * <usize>cols + <usize>j) * F32_BYTES;
  const r0 = v128.load(source);
  const r1 = v128.load(source + rowStride);
  const r2 = v128.load(source + 2 * rowStride);
  const r3 = v128.load(source + 3 * rowStride);
  // t0 = [a00 a10 a01 a11], t1 = [a02 a12 a03 a13], t2 = [a20 a30 a21 a31], t3 = [a22 a32 a23 a33].
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  const outStride = <usize>rows * F32_BYTES;
  const target = out + (<usize>j * <usize>rows + <usize>i) * F32_BYTES;
  v128.store(target, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(target + outStride, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(target + 2 * outStride, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(target + 3 * outStride, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

/** Transposes one rows×cols matrix. */
function transposeOne(rows: i32, cols: i32, a: usize, out: usize): void {
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    const i1 = min(i0 + TILE, rows);
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = min(j0 + TILE, cols);
      if (HAS_SIMD) {
        // The largest multiples of 4 inside the tile, counted from its corner.
        const i4 = i0 + ((i1 - i0) & ~3);
        const j4 = j0 + ((j1 - j0) & ~3);
        for (let i = i0; i < i4; i += 4) {
          for (let j = j0; j < j4; j += 4) transposeBlock4x4(rows, cols, a, out, i, j);
        }
        copyScalar(rows, cols, a, out, i0, i4, j4, j1);
        copyScalar(rows, cols, a, out, i4, i1, j0, j1);
      } else {
        copyScalar(rows, cols, a, out, i0, i1, j0, j1);
      }
    }
  }
}

export function f32_transpose(batch: i32, rows: i32, cols: i32, a: usize, out: usize): void {
  const itemBytes = <usize>rows * <usize>cols * F32_BYTES;
  for (let item = 0; item < batch; item++) {
    const offset = <usize>item * itemBytes;
    transposeOne(rows, cols, a + offset, out + offset);
  }
}
