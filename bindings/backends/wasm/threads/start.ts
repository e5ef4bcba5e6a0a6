// createFavor's thread setup: how many threads, and the threaded backend
// with its worker pool. Every way threads can be unavailable ends in the
// single-threaded build. Reasons that the caller could fix are logged as
// warnings: no cross-origin isolation, a shared memory the engine rejects,
// a worker that fails to start. Reasons by design are logged at debug
// level: the scalar build, a runtime without workers, binaries passed
// through the wasm option.

import { log } from "../../../log.js";
import { describe, requireInteger } from "../../../validate.js";
import { WasmBackend } from "../backend.js";
import type { WasmBuild } from "../features.js";
import { compileSource, type WasmLoader } from "../source.js";
import {
  createSharedMemory, DEFAULT_MAX_SHARED_MEMORY, LIMIT_SHARED_MEMORY, PAGE_BYTES, threadedBuildFor,
  threadsUnavailableReason,
} from "./binary.js";
import { ThreadPool } from "./pool.js";

/** Upper bound of the threads option, far above any core count a WASM engine reports. */
export const MAX_THREADS = 256;

/** The validated thread options of createFavor. */
export interface ThreadPlan {
  /** Threads wanted, the calling thread included. */
  count: number;
  /** Maximum bytes of the shared memory, a multiple of the page size. */
  maxSharedMemory: number;
}

/** Validates the threads and maxSharedMemory options and fills in the defaults. */
export function planThreads(
  op: string, options: { threads?: number; maxSharedMemory?: number }, loader: WasmLoader,
): ThreadPlan {
  let count = 1;
  if (options.threads !== undefined) {
    count = requireInteger(op, "threads", options.threads, 1);
    if (count > MAX_THREADS) throw new RangeError(`${op}: threads must be at most ${MAX_THREADS}, got ${count}`);
  } else if (loader.threadHost !== undefined) {
    const host = loader.threadHost;
    const requested = host.defaultThreads?.() ?? host.hardwareConcurrency();
    count = Math.max(1, Math.min(MAX_THREADS, Math.floor(requested) || 1));
  }
  let maxSharedMemory = DEFAULT_MAX_SHARED_MEMORY;
  if (options.maxSharedMemory !== undefined) {
    const value: unknown = options.maxSharedMemory;
    if (typeof value !== "number") throw new TypeError(`${op}: maxSharedMemory must be a number, got ${describe(value)}`);
    const minimum = 16 * PAGE_BYTES;
    if (!Number.isInteger(value) || value < minimum || value > LIMIT_SHARED_MEMORY) {
      throw new RangeError(
        `${op}: maxSharedMemory must be an integer number of bytes from ${minimum} (1 MiB) to ${LIMIT_SHARED_MEMORY} (4 GiB), got ${value}`,
      );
    }
    maxSharedMemory = Math.floor(value / PAGE_BYTES) * PAGE_BYTES;
  }
  return { count, maxSharedMemory };
}

/**
 * Loads the threaded twin of `build` on a new shared memory and starts
 * plan.count − 1 workers. Returns null, after logging why, when threads are
 * unavailable; the caller then loads the single-threaded build.
 */
export async function startThreadedBackend(loader: WasmLoader, build: WasmBuild, plan: ThreadPlan): Promise<WasmBackend | null> {
  const fallback = `running on one thread instead of ${plan.count}`;
  const threaded = threadedBuildFor(build);
  if (threaded === null) {
    log.debug(() => `createFavor: ${fallback}, because the ${build} build has no threaded variant`);
    return null;
  }
  const host = loader.threadHost;
  if (host === undefined || loader.packagedThreadedBinary === undefined) {
    log.debug(() => `createFavor: ${fallback}, because the ${loader.runtime} runtime has no worker threads here`);
    return null;
  }

  const reason = threadsUnavailableReason();
  if (reason !== null) {
    log.warn(() => `createFavor: ${fallback}, because ${reason}`);
    return null;
  }
  let memory: WebAssembly.Memory;
  try {
    memory = createSharedMemory(plan.maxSharedMemory);
  } catch (error) {
    log.warn(() =>
      `createFavor: ${fallback}, because the engine rejected a shared memory of ${plan.maxSharedMemory} bytes ` +
      `(${(error as Error)?.message ?? error}); a smaller maxSharedMemory may work`);
    return null;
  }

  const module = await compileSource(loader.packagedThreadedBinary(threaded), `the ${threaded} binary`, loader);
  const backend = await WasmBackend.createThreaded(module, memory);
  backend.sharedMemoryMax = plan.maxSharedMemory;
  const pool = await ThreadPool.start(backend, host, plan.count);
  if (pool === null) return null;
  backend.pool = pool;
  log.debug(() => `createFavor: ${plan.count} threads on the ${threaded} build (${loader.runtime})`);
  return backend;
}
