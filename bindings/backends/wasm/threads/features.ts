// Feature maps across the thread pool by rows. Each thread computes the
// features of one contiguous range of rows with writeFeatures: its rows of
// the projection product (a row panel of the GEMM, bit-identical to one
// thread), the row norms and the map. Every mode but one treats rows
// independently, so the result is bit-identical to one thread, and the
// returned largest exponent is the maximum of the threads' (exact). The
// exception is role "key" without keyShift: there one shift, the largest
// exponent of all rows, applies to every row, so those calls stay on one
// thread. NOTE: key-role maps without keyShift are not threaded.

import { EXPONENTIAL_KINDS, type FeatureMap } from "../../../api/features.js";
import type { WasmBackend } from "../backend.js";
import { recordedResult } from "../backend.js";
import { writeFeatures } from "../ops/features.js";
import { PARALLEL_MIN_FLOPS, splitEvenly } from "./gemm.js";
import type { KernelCall } from "./pool.js";

/** Returns true when writeFeatures for `rows` rows of `map` should run on the pool. */
function useParallelFeatures(backend: WasmBackend, map: FeatureMap, rows: number): boolean {
  const sharedShift = map.role === "key" && map.keyShift === null && EXPONENTIAL_KINDS.includes(map.kind);
  // Without a projection, writeFeatures copies rows in JavaScript, which cannot be recorded.
  return backend.threads > 1 && rows >= backend.threads && map.features > 0 && !sharedShift &&
    2 * rows * map.features * map.dim >= PARALLEL_MIN_FLOPS;
}

/** writeFeatures (same arguments and result), split by rows over the thread pool when that pays. */
export function writeFeaturesByRows(
  backend: WasmBackend, map: FeatureMap, rows: number,
  x: number, ldx: number, projection: number, out: number, ldo: number, shift: number,
): number {
  if (!useParallelFeatures(backend, map, rows)) return writeFeatures(backend, map, rows, x, ldx, projection, out, ldo, shift);
  const threads = backend.threads;
  const bounds = splitEvenly(rows, threads);
  const range = (t: number) => {
    const start = bounds[t];
    return writeFeatures(
      backend, map, bounds[t + 1] - start, x + start * ldx * 4, ldx, projection, out + start * ldo * 4, ldo, shift + start * 4,
    );
  };
  const tickets: number[] = [-Infinity];
  const tasks: KernelCall[][] = [[]];
  for (let t = 1; t < threads; t++) {
    tasks.push(backend.record(() => {
      tickets[t] = range(t);
    }));
  }
  const results = backend.pool!.run(tasks, () => {
    tickets[0] = range(0);
  });
  let largest = -Infinity;
  for (let t = 0; t < threads; t++) largest = Math.max(largest, recordedResult(tickets[t], results[t]));
  return largest;
}
