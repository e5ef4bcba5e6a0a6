// GEMM across the thread pool by panels of C. The larger of m and n is cut
// into one contiguous panel per thread, at multiples of the build's tile
// (MR rows or NR columns), and each thread runs f32_gemm on its panel with
// its own packing buffers. Each element of C is then computed by the same
// microkernel with the same k-slices as on one thread, and the edge tiles
// stay where they are on one thread, so results are bit-identical to the
// single-threaded GEMM for every thread count. The partition depends only on
// the shape and the thread count.

import type { WasmBackend } from "../backend.js";
import type { KernelCall } from "./pool.js";

/** f32_gemm arguments in kernel order: batch, m, n, k, alpha, a, lda, strideA, transA, b, ldb, strideB, transB, beta, c, ldc, strideC. */
export type GemmArgs = [
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
];

/**
 * Products below this many floating-point operations (2·batch·m·n·k) run on
 * the calling thread: waking the workers costs tens of microseconds, about
 * what 2 MFLOP take on one core.
 */
export const PARALLEL_MIN_FLOPS = 2 ** 21;

/** Splits `units` into `parts` contiguous ranges whose sizes differ by at most one; returns the starts and the end. */
export function splitEvenly(units: number, parts: number): number[] {
  const bounds: number[] = [];
  for (let t = 0; t <= parts; t++) bounds.push(Math.floor((t * units) / parts));
  return bounds;
}

/** Returns the f32_gemm call of each thread's panel; threads without a panel get no call. */
export function gemmPanels(args: GemmArgs, threads: number, mr: number, nr: number): KernelCall[][] {
  const [batch, m, n, k, alpha, a, lda, strideA, transA, b, ldb, strideB, transB, beta, c, ldc, strideC] = args;
  const byColumns = n >= m;
  const tile = byColumns ? nr : mr;
  const extent = byColumns ? n : m;
  const bounds = splitEvenly(Math.ceil(extent / tile), threads);
  const tasks: KernelCall[][] = [];
  for (let t = 0; t < threads; t++) {
    const start = bounds[t] * tile;
    const end = Math.min(bounds[t + 1] * tile, extent);
    if (end <= start) {
      tasks.push([]);
      continue;
    }
    let panel: GemmArgs;
    if (byColumns) {
      // op(B)(p, j) = b[j·bCol + p·bK] with bCol = ldb for transposed B, else 1.
      const bColumn = transB ? ldb : 1;
      panel = [batch, m, end - start, k, alpha, a, lda, strideA, transA,
        b + start * bColumn * 4, ldb, strideB, transB, beta, c + start * 4, ldc, strideC];
    } else {
      // op(A)(i, p) = a[i·aRow + p·aK] with aRow = 1 for transposed A, else lda.
      const aRow = transA ? 1 : lda;
      panel = [batch, end - start, n, k, alpha, a + start * aRow * 4, lda, strideA, transA,
        b, ldb, strideB, transB, beta, c + start * ldc * 4, ldc, strideC];
    }
    tasks.push([{ kernel: "f32_gemm", args: panel }]);
  }
  return tasks;
}

/** The build's register tile, read once per backend. */
const tiles = new WeakMap<WasmBackend, { mr: number; nr: number }>();

function tileOf(backend: WasmBackend): { mr: number; nr: number } {
  let tile = tiles.get(backend);
  if (tile === undefined) {
    const value = (name: string) => (backend.exports[name] as WebAssembly.Global).value as number;
    tile = { mr: value("f32_gemm_MR"), nr: value("f32_gemm_NR") };
    tiles.set(backend, tile);
  }
  return tile;
}

/** Runs f32_gemm on every thread of the backend's pool, or on the calling thread for small products or without a pool. */
export function gemm(backend: WasmBackend, ...args: GemmArgs): void {
  const [batch, m, n, k] = args;
  const threads = backend.threads;
  if (threads > 1 && 2 * batch * m * n * k >= PARALLEL_MIN_FLOPS && Math.max(m, n) > 1) {
    const { mr, nr } = tileOf(backend);
    backend.pool!.run(gemmPanels(args, threads, mr, nr));
    return;
  }
  backend.kernel<(...gemmArgs: GemmArgs) => void>("f32_gemm")(...args);
}
