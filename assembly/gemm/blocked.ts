// f32_gemm: the blocked GEMM. Same contract as f32_gemm_reference
// (reference.ts): for each of `batch` matrices, C = alpha·op(A)·op(B) + beta·C,
// row-major, leading dimensions and batch strides in elements, stride 0 =
// one matrix shared by every batch item, beta 0 ignores the old C, and C
// must not alias A or B. Only the m×n region of each C is written, so gaps
// from ldc > n or strideC > m·ldc keep their contents.
//
// Structure (the BLIS loop nest): the outer loops walk NC-wide column blocks
// of C and, inside them, KC-deep slices of k, and pack op(B)[pc:pc+kc,
// jc:jc+nc] into NR-column panels. For each MC-tall row block they pack
// op(A)[ic:ic+mc, pc:pc+kc] into MR-row panels, and the microkernel then
// walks the block in MR×NR tiles.
// The first k-slice applies beta, later ones add to C (beta 1), so beta is
// applied exactly once. The packing buffers have a fixed maximum size (set
// by MC, NC, KC and the tile), so they are allocated once, on the first call
// or by f32_gemm_reserve, and kept: a later call never grows memory, which
// keeps the caller's Float32Array views of memory.buffer attached.
//
// The microkernel stores its tile unscaled. When alpha is 1 and the slice's
// beta is 0 a full tile goes straight to C; otherwise (and for edge tiles)
// it goes to a scratch tile, and updateTile writes alpha·tile + beta·C.
//
// Accumulation order differs from the reference (k is split into KC-deep
// slices, and the relaxed build fuses multiply-adds), so results agree with
// it within the usual k·eps·Σ|a·b| rounding bound, not bit for bit.

import { madd } from "../isa";
import { f32_gemm_5x8__simd } from "./gen/f32_gemm_5x8__simd";
import { f32_gemm_6x8__relaxed } from "./gen/f32_gemm_6x8__relaxed";
import { f32_gemm_4x2__scalar } from "./gen/f32_gemm_4x2__scalar";
import { packBlock } from "./pack";

// Tile and block sizes were measured with throwaway builds of this file
// (interleaved rounds, medians, GFLOP/s at 512³ / 1024³, NN) on the 2-core
// AMD EPYC development machine with Node 20.20. Other CPUs and engines may
// prefer other values.
//   Tiles, relaxed build: 6×8 52.9 / 54.6, 5×8 50.1 / 51.8, 4×8 50.6 / 51.2.
//   Tiles, simd build:    5×8 41.6 / 42.2, 4×8 39.3 / 40.2, 6×8 27.7 / 28.2
//   (6×8 needs one vector register more than V8 has, for the separate product).
//   Tiles, scalar build at 384³: 3×3 8.1, 4×2 7.9, 2×4 7.6, 4×4 6.4; the
//   first three are within the noise of a shared machine, and 4×2 keeps MR 4.
// More accumulators than 4×8's eight pay off, most likely because eight
// independent chains only just cover a 4-cycle multiply-add latency at two
// multiply-adds per cycle (the latency is an assumption, not measured here).

/** Rows of a register tile: 6 in the relaxed build, 5 in the simd build, 4 in the scalar build. */
export const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : (ASC_FEATURE_SIMD ? 5 : 4);
/** Columns of a register tile: two f32x4 vectors in SIMD builds, two scalars otherwise. */
export const NR: i32 = ASC_FEATURE_SIMD ? 8 : 2;
/**
 * Depth of a k-slice. A packed B panel (KC·NR floats, 16 KiB for NR 8) stays
 * in a 32 KiB L1 data cache while the A panels of the block stream past it.
 * Measured, simd build at 1024³: KC 256 39.8, 384 40.9, 512 41.8, 768 41.2.
 */
export const KC: i32 = 512;
/**
 * Rows of a packed A block: MC·KC floats (240 KiB), which stays in a 512 KiB
 * or larger L2 cache. A multiple of 4, 5 and 6, so every build's panels are
 * full. Measured, simd build at 1024³: MC 60 41.8, 120 41.8, 240 41.6.
 */
export const MC: i32 = 120;
/**
 * Columns of a packed B block: KC·NC floats (2 MiB), for a shared L3 cache.
 * Only products with n > NC see it. Measured at 240×8192×512, relaxed / simd:
 * NC 1024 52.1 / 40.4, 2048 51.7 / 39.9, 4096 50.9 / 39.9, 8192 50.5 / 39.8.
 */
export const NC: i32 = 1024;

/** Bytes of the scratch tile, sized for the largest tile of the three builds (6×8). */
export const SCRATCH_TILE_BYTES: i32 = 6 * 8 * 4;
// Edge tiles and scaled tiles go through this scratch tile, rows NR floats
// apart. It is a variable because each thread of the threaded build points
// it at its own tile (f32_gemm_use_buffers): static data is shared by every
// instance on one memory.
let scratch: usize = memory.data(SCRATCH_TILE_BYTES, 16);

/** Runs this build's microkernel: f32_gemm_6x8__relaxed, f32_gemm_5x8__simd or f32_gemm_4x2__scalar. */
// @ts-ignore: decorator
@inline export function microkernel(kc: i32, a: usize, b: usize, c: usize, ldc: i32): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    f32_gemm_6x8__relaxed(kc, a, b, c, ldc);
  } else if (ASC_FEATURE_SIMD) {
    f32_gemm_5x8__simd(kc, a, b, c, ldc);
  } else {
    f32_gemm_4x2__scalar(kc, a, b, c, ldc);
  }
}

function roundUp(value: i32, multiple: i32): i32 {
  return (value + multiple - 1) / multiple * multiple;
}

// Persistent packing buffers of the largest size any call needs:
// roundUp(MC, MR)·KC floats for A and roundUp(NC, NR)·KC floats for B
// (about 240 KiB and 2 MiB).
let packABuffer: usize = 0;
let packBBuffer: usize = 0;

/**
 * Allocates the packing buffers now rather than on the first f32_gemm call.
 * The bindings call it when they instantiate the module, so that no op that
 * holds views of memory.buffer sees memory grow inside a GEMM call.
 */
export function f32_gemm_reserve(): void {
  if (packABuffer != 0) return;
  packABuffer = heap.alloc(<usize>(roundUp(MC, MR) * KC) << 2);
  packBBuffer = heap.alloc(<usize>(roundUp(NC, NR) * KC) << 2);
}

/** Bytes of the A packing buffer that f32_gemm_use_buffers expects. */
export function f32_gemm_pack_a_bytes(): i32 {
  return roundUp(MC, MR) * KC * 4;
}

/** Bytes of the B packing buffer that f32_gemm_use_buffers expects. */
export function f32_gemm_pack_b_bytes(): i32 {
  return roundUp(NC, NR) * KC * 4;
}

/**
 * Makes this instance's f32_gemm use the given packing buffers and scratch
 * tile (f32_gemm_pack_a_bytes, f32_gemm_pack_b_bytes and SCRATCH_TILE_BYTES
 * bytes, 16-byte aligned) instead of allocating its own. A worker instance of
 * the threaded build calls it before its first GEMM, because it shares the
 * main instance's memory and must never allocate: the allocator is not
 * thread-safe, and its state lives in each instance's globals.
 */
export function f32_gemm_use_buffers(packA: usize, packB: usize, scratchTile: usize): void {
  packABuffer = packA;
  packBBuffer = packB;
  scratch = scratchTile;
}

/** Returns the packing buffer for A blocks, allocated by f32_gemm_reserve (0 before). */
export function packBufferA(): usize {
  return packABuffer;
}

/** Returns the packing buffer for B blocks, allocated by f32_gemm_reserve (0 before). */
export function packBufferB(): usize {
  return packBBuffer;
}

/** Computes C = alpha·op(A)·op(B) + beta·C for a batch; see the file header for the contract. */
export function f32_gemm(
  batch: i32, m: i32, n: i32, k: i32, alpha: f32,
  a: usize, lda: i32, strideA: i32, transA: bool,
  b: usize, ldb: i32, strideB: i32, transB: bool,
  beta: f32, c: usize, ldc: i32, strideC: i32,
): void {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (let item = 0; item < batch; item++) {
      scaleC(c + (<usize>item * <usize>strideC << 2), m, n, ldc, beta);
    }
    return;
  }

  f32_gemm_reserve();
  const packA = packABuffer;
  const packB = packBBuffer;

  // op(A)(i, p) = a[i·aRow + p·aK] and op(B)(p, j) = b[j·bCol + p·bK], in elements.
  const aRow = transA ? 1 : lda;
  const aK = transA ? lda : 1;
  const bCol = transB ? ldb : 1;
  const bK = transB ? 1 : ldb;
  // A shared matrix that fits in one block is packed for the first item only.
  const sharedA = strideA == 0 && m <= MC && n <= NC && k <= KC;
  const sharedB = strideB == 0 && n <= NC && k <= KC;

  for (let item = 0; item < batch; item++) {
    const aBase = a + (<usize>item * <usize>strideA << 2);
    const bBase = b + (<usize>item * <usize>strideB << 2);
    const cBase = c + (<usize>item * <usize>strideC << 2);
    for (let jc = 0; jc < n; jc += NC) {
      const nc = min(NC, n - jc);
      for (let pc = 0; pc < k; pc += KC) {
        const kc = min(KC, k - pc);
        const betaSlice: f32 = pc == 0 ? beta : 1;
        if (item == 0 || !sharedB) {
          const bBlock = bBase + (<usize>(jc * bCol + pc * bK) << 2);
          packBlock(packB, bBlock, bCol, bK, nc, NR, kc);
        }
        for (let ic = 0; ic < m; ic += MC) {
          const mc = min(MC, m - ic);
          if (item == 0 || !sharedA) {
            const aBlock = aBase + (<usize>(ic * aRow + pc * aK) << 2);
            packBlock(packA, aBlock, aRow, aK, mc, MR, kc);
          }
          const cBlock = cBase + (<usize>(ic * ldc + jc) << 2);
          multiplyBlock(mc, nc, kc, packA, packB, cBlock, ldc, alpha, betaSlice);
        }
      }
    }
  }
}

/** Runs the microkernel over one packed mc×nc block of C. */
export function multiplyBlock(
  mc: i32, nc: i32, kc: i32, packA: usize, packB: usize,
  c: usize, ldc: i32, alpha: f32, beta: f32,
): void {
  const aPanelBytes = <usize>(kc * MR) << 2;
  const bPanelBytes = <usize>(kc * NR) << 2;
  const unscaled = alpha == 1 && beta == 0;
  let bPanel = packB;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    let aPanel = packA;
    for (let ir = 0; ir < mc; ir += MR) {
      const mr = min(MR, mc - ir);
      const tile = c + (<usize>(ir * ldc + jr) << 2);
      if (unscaled && mr == MR && nr == NR) {
        microkernel(kc, aPanel, bPanel, tile, ldc);
      } else {
        microkernel(kc, aPanel, bPanel, scratch, NR);
        updateTile(tile, ldc, mr, nr, alpha, beta);
      }
      aPanel += aPanelBytes;
    }
    bPanel += bPanelBytes;
  }
}

/** Writes alpha·scratch + beta·C over the valid mr×nr part of a tile; beta 0 does not read C. */
function updateTile(c: usize, ldc: i32, mr: i32, nr: i32, alpha: f32, beta: f32): void {
  if (ASC_FEATURE_SIMD) {
    if (nr == NR) {
      const va = f32x4.splat(alpha);
      const vb = f32x4.splat(beta);
      for (let i = 0; i < mr; i++) {
        const from = scratch + (<usize>(i * NR) << 2);
        const to = c + (<usize>(i * ldc) << 2);
        for (let offset: usize = 0; offset < <usize>(NR << 2); offset += 16) {
          const product = v128.load(from + offset);
          const scaled = beta == 0 ? f32x4.mul(va, product) : madd(va, product, f32x4.mul(vb, v128.load(to + offset)));
          v128.store(to + offset, scaled);
        }
      }
      return;
    }
  }
  for (let i = 0; i < mr; i++) {
    const from = scratch + (<usize>(i * NR) << 2);
    const to = c + (<usize>(i * ldc) << 2);
    for (let j = 0; j < nr; j++) {
      const scaled = alpha * load<f32>(from + (<usize>j << 2));
      const cj = to + (<usize>j << 2);
      store<f32>(cj, beta == 0 ? scaled : scaled + beta * load<f32>(cj));
    }
  }
}

/** Sets C = beta·C over the m×n region (k = 0: the product is empty); beta 0 writes zeros without reading. */
function scaleC(c: usize, m: i32, n: i32, ldc: i32, beta: f32): void {
  for (let i = 0; i < m; i++) {
    const row = c + (<usize>(i * ldc) << 2);
    for (let j = 0; j < n; j++) {
      const cj = row + (<usize>j << 2);
      store<f32>(cj, beta == 0 ? 0 : beta * load<f32>(cj));
    }
  }
}
