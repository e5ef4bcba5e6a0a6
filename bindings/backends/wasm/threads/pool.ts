// The thread pool: workers that share the main instance's memory and run
// jobs (lists of kernel calls on pointers the main thread allocated). The
// calling thread is thread 0 and runs its own part of every job, so a pool
// of `size` threads has size − 1 workers. `run` returns only after every
// worker has finished, also when a kernel throws, so no worker still writes
// into buffers that the op's scope is about to free.
//
// Waiting: the calling thread blocks in Atomics.wait where the engine allows
// it (Node, Deno, inside a Web Worker). A browser's main thread may not
// block, so there it spins on Atomics.load until the workers finish, which
// keeps favor.sync synchronous there as well.
//
// A worker that stops after it started (it exited, an error escaped its
// loop, it was terminated) retires the pool: the job in flight throws, and
// later calls run on the calling thread alone, after a logged warning. The
// pool detects a stop in three ways. The worker marks its slot DEAD on its
// way out (worker.ts). The runtime's exit and error events arrive between
// calls. While waiting, the calling thread wakes every PROBE_INTERVAL_MS to
// query whether the worker's thread still runs (Node only, see node-host.ts).

import { log } from "../../../log.js";
import type { WasmBackend } from "../backend.js";
import {
  COMMAND_WORDS, DEAD, DONE, LENGTH, MESSAGE, MESSAGE_BYTES, QUIT, REQUEST, RESULT_WORDS, SLOT_INTS, STATE, STATUS,
  type WorkerInit, type WorkerReply,
} from "./protocol.js";

/** One kernel call: the exported kernel's name and its arguments (sizes, pointers, scalars). */
export interface KernelCall {
  kernel: string;
  args: number[];
}

/** A started worker, whatever the runtime's Worker type is. */
export interface WorkerHandle {
  postMessage(message: WorkerInit): void;
  /** Registers the handler of the worker's one reply. */
  onReply(handler: (reply: WorkerReply) => void): void;
  /** Registers the handler of a load or runtime error of the worker script, and of its exit where the runtime reports one. */
  onError(handler: (message: string) => void): void;
  /**
   * Returns false once the worker's thread has stopped. It must not need the
   * event loop, because the calling thread queries it while it blocks. Absent where
   * the runtime has no such query (Web Workers).
   */
  running?(): boolean;
  terminate(): void;
}

/** The worker API of one runtime, supplied by the runtime entries in bindings/runtime. */
export interface ThreadHost {
  /** Logical processors available to this process. */
  hardwareConcurrency(): number;
  /** Threads when createFavor gets no threads option; the hardware concurrency where this is absent. */
  defaultThreads?(): number;
  /** Starts a module worker running the script at `url`. */
  spawn(url: URL): WorkerHandle;
}

/** Milliseconds a worker has to instantiate the module and reply. */
const START_TIMEOUT_MS = 15000;

/** Milliseconds between two checks of a worker's thread while the calling thread waits for its job. */
const PROBE_INTERVAL_MS = 50;

let workerScriptOverride: URL | null = null;

/** Replaces the worker script for tests (a script that fails to start); null restores the package's own. */
export function setWorkerScriptForTests(url: URL | null): void {
  workerScriptOverride = url;
}

/** Returns true when this thread may block in Atomics.wait. */
function callerCanBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Reserves a worker's scratch in the main instance: the arguments of f32_thread_use_scratch. */
function reserveScratch(backend: WasmBackend): [number, number, number, number] {
  const bytes = (name: string) => backend.kernel<() => number>(name)();
  return [
    backend.allocBytes("createFavor", bytes("f32_gemm_pack_a_bytes")),
    backend.allocBytes("createFavor", bytes("f32_gemm_pack_b_bytes")),
    backend.allocBytes("createFavor", (backend.exports.f32_gemm_scratch_bytes as WebAssembly.Global).value as number),
    backend.allocBytes("createFavor", 16),
  ];
}

export class ThreadPool {
  private readonly control: Int32Array;
  private readonly commands: Float64Array;
  private readonly messages: Uint8Array;
  private readonly results: Float64Array;
  private readonly kernelIndex = new Map<string, number>();
  private readonly canBlock = callerCanBlock();
  private disposed = false;
  /** The reason the pool retired after a worker stopped, or null. */
  private stopReason: string | null = null;

  private constructor(
    private readonly backend: WasmBackend,
    private readonly workers: WorkerHandle[],
    private readonly buffers: number[],
    shared: { control: SharedArrayBuffer; commands: SharedArrayBuffer; messages: SharedArrayBuffer; results: SharedArrayBuffer },
    kernels: string[],
  ) {
    this.control = new Int32Array(shared.control);
    this.commands = new Float64Array(shared.commands);
    this.messages = new Uint8Array(shared.messages);
    this.results = new Float64Array(shared.results);
    kernels.forEach((name, index) => this.kernelIndex.set(name, index));
  }

  /**
   * Starts `size − 1` workers on the backend's shared memory. Returns null,
   * after logging a warning with the reason, when any worker fails to start;
   * the caller then runs single-threaded.
   */
  static async start(backend: WasmBackend, host: ThreadHost, size: number): Promise<ThreadPool | null> {
    const count = size - 1;
    const memory = backend.exports.memory;
    const kernels = WebAssembly.Module.exports(backend.module).filter((entry) => entry.kind === "function").map((entry) => entry.name);
    const shared = {
      control: new SharedArrayBuffer(count * SLOT_INTS * 4),
      commands: new SharedArrayBuffer(count * COMMAND_WORDS * 8),
      messages: new SharedArrayBuffer(count * MESSAGE_BYTES),
      results: new SharedArrayBuffer(count * RESULT_WORDS * 8),
    };
    const buffers: number[] = [];
    const workers: WorkerHandle[] = [];
    // Set once every worker is ready; from then on a worker's error or exit retires the pool.
    let pool: ThreadPool | null = null;
    const url = workerScriptOverride ?? new URL("./worker.js", import.meta.url);
    try {
      const started: Promise<void>[] = [];
      for (let slot = 0; slot < count; slot++) {
        const scratch = reserveScratch(backend);
        buffers.push(...scratch);
        const worker = host.spawn(url);
        workers.push(worker);
        started.push(new Promise<void>((resolve, reject) => {
          // The timer also keeps a Node process alive while its unref'd workers start.
          const timer = setTimeout(() => reject(new Error(`worker ${slot + 1} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
          worker.onReply((reply) => {
            clearTimeout(timer);
            if (reply.type === "ready") resolve();
            else reject(new Error(`worker ${slot + 1} failed to start: ${reply.message}`));
          });
          worker.onError((message) => {
            if (pool !== null) {
              pool.workerStopped(slot, message);
              return;
            }
            clearTimeout(timer);
            reject(new Error(`worker ${slot + 1} failed to start: ${message}`));
          });
        }));
        worker.postMessage({ type: "init", module: backend.module, memory, ...shared, slot, kernels, scratch });
      }
      await Promise.all(started);
    } catch (error) {
      for (const worker of workers) worker.terminate();
      for (const ptr of buffers) backend.exports.free(ptr);
      const reason = (error as Error)?.message ?? String(error);
      log.warn(() => `createFavor: running on one thread instead of ${size}, because ${reason}`);
      return null;
    }
    pool = new ThreadPool(backend, workers, buffers, shared, kernels);
    return pool;
  }

  /** Returns the handle of worker `slot` (0-based), for tests that stop a worker. */
  workerForTests(slot: number): WorkerHandle {
    return this.workers[slot];
  }

  /** The reason a worker stopped and the pool retired, or null while all workers run. */
  get stopped(): string | null {
    return this.stopReason;
  }

  /** Threads of the pool, the calling thread included. */
  get size(): number {
    return this.disposed ? 1 : this.workers.length + 1;
  }

  /**
   * Runs tasks[0] on the calling thread and tasks[t] on worker t, and
   * returns when all are done, with the return value of every call (0 for
   * kernels that return nothing), by thread. A task list longer than a
   * worker's command buffer runs in several rounds. Rethrows the first
   * kernel error (the calling thread's, then the workers' in order), after
   * every worker has stopped. With `own`, the calling thread runs that
   * function instead of tasks[0] (which must be empty) once the workers
   * have their first lists, so it can call kernels directly instead of
   * recording them. Throws an Error that names the worker when a worker
   * stops during the job, after the other workers have finished, and
   * retires the pool.
   */
  run(tasks: KernelCall[][], own?: () => void): number[][] {
    if (!this.disposed) this.checkWorkers();
    // The op planned for more threads than remain (a worker stopped since): its
    // lists are independent of each other, so the calling thread runs them in turn.
    if (this.disposed && this.stopReason !== null) return this.runInTurn(tasks, own);
    let pendingOwn = own;
    if (tasks.length > this.size) throw new Error(`favor-wasm: ${tasks.length} tasks for a pool of ${this.size} threads`);
    const results: number[][] = tasks.map(() => []);
    const next = tasks.map(() => 0);
    let firstError: unknown = null;
    let stopError: Error | null = null;
    while (firstError === null && stopError === null && (pendingOwn !== undefined || next.some((index, t) => index < tasks[t].length))) {
      const posted: { slot: number; thread: number; from: number; to: number }[] = [];
      for (let t = 1; t < tasks.length; t++) {
        if (next[t] >= tasks[t].length) continue;
        const slot = t - 1;
        const to = this.encode(slot, tasks[t], next[t]);
        if (to === next[t]) throw new Error(`favor-wasm: a ${tasks[t][to].kernel} call has more arguments than the command buffer can contain; this is a bug in favor-wasm`);
        const base = slot * SLOT_INTS;
        const sequence = (Atomics.load(this.control, base + REQUEST) + 1) & 0x3fffffff;
        Atomics.store(this.control, base + REQUEST, sequence);
        Atomics.notify(this.control, base + REQUEST);
        posted.push({ slot, thread: t, from: next[t], to });
        next[t] = to;
      }
      // The calling thread takes as many calls as the largest worker share of this round, or all it has left.
      const share = posted.length === 0 ? Infinity : Math.max(...posted.map((job) => job.to - job.from));
      const ownCalls = tasks[0] ?? [];
      const ownEnd = Math.min(ownCalls.length, next[0] + share);
      try {
        if (pendingOwn !== undefined) {
          const first = pendingOwn;
          pendingOwn = undefined;
          first();
        }
        for (; next[0] < ownEnd; next[0]++) {
          const call = ownCalls[next[0]];
          const value = this.backend.kernel<(...args: number[]) => unknown>(call.kernel)(...call.args);
          results[0].push(typeof value === "number" ? value : 0);
        }
      } catch (error) {
        firstError = error;
      }
      for (const job of posted) {
        const failure = this.wait(job.slot);
        if (failure === "stopped") {
          stopError ??= this.stoppedDuringJob(job.slot);
          continue;
        }
        if (failure !== null && firstError === null) firstError = failure;
        const words = this.results.subarray(job.slot * RESULT_WORDS, job.slot * RESULT_WORDS + (job.to - job.from));
        for (const value of words) results[job.thread].push(value);
      }
    }
    if (stopError !== null) {
      // Every other worker has finished its part, so none writes into the op's buffers any more.
      this.retire();
      throw stopError;
    }
    if (firstError !== null) throw firstError;
    return results;
  }

  /** Runs own (or tasks[0]) and then every worker's list on the calling thread; the same contract as `run`. */
  private runInTurn(tasks: KernelCall[][], own?: () => void): number[][] {
    own?.();
    return tasks.map((calls) =>
      calls.map((call) => {
        const value = this.backend.kernel<(...args: number[]) => unknown>(call.kernel)(...call.args);
        return typeof value === "number" ? value : 0;
      }));
  }

  /** Retires the pool when a worker has reported its stop or its thread no longer runs. */
  private checkWorkers(): void {
    for (let slot = 0; slot < this.workers.length; slot++) {
      const reason = this.stopOf(slot);
      if (reason !== null) {
        this.workerStopped(slot, reason);
        return;
      }
    }
  }

  /** Returns why worker `slot` stopped, from its DEAD mark or the host's query, or null while it runs. */
  private stopOf(slot: number): string | null {
    const base = slot * SLOT_INTS;
    if (Atomics.load(this.control, base + STATE) === DEAD) return this.messageOf(slot);
    if (this.workers[slot].running?.() === false) return "its thread stopped (terminated or crashed)";
    return null;
  }

  private messageOf(slot: number): string {
    const length = this.control[slot * SLOT_INTS + MESSAGE];
    return new TextDecoder().decode(this.messages.slice(slot * MESSAGE_BYTES, slot * MESSAGE_BYTES + length));
  }

  /** Returns the error of a job that lost worker `slot`, and records the reason for the warning. */
  private stoppedDuringJob(slot: number): Error {
    const reason = this.stopOf(slot) ?? "its thread stopped";
    this.stopReason ??= `worker ${slot + 1} stopped during a job: ${reason}`;
    return new Error(
      `favor-wasm: worker ${slot + 1} stopped during a job (${reason}); the op has no result, and later calls run on one thread`);
  }

  /**
   * Retires the pool after worker `slot` stopped between jobs (its exit or
   * error event, or a check at the start of a job). Ignored after dispose.
   */
  workerStopped(slot: number, reason: string): void {
    if (this.disposed) return;
    this.stopReason = `worker ${slot + 1} stopped: ${reason}`;
    this.retire();
  }

  /** Ends the remaining workers and logs why later calls run on one thread. */
  private retire(): void {
    const threads = this.workers.length + 1;
    const reason = this.stopReason;
    this.dispose();
    log.warn(() => `favor-wasm: running on one thread instead of ${threads} from now on, because ${reason}`);
  }

  /**
   * Waits until worker `slot` finishes its latest job. Returns its kernel
   * error, null, or "stopped" when the worker stopped before it finished.
   */
  private wait(slot: number): Error | null | "stopped" {
    const base = slot * SLOT_INTS;
    const sequence = Atomics.load(this.control, base + REQUEST);
    let nextProbe = Date.now() + PROBE_INTERVAL_MS;
    for (;;) {
      const done = Atomics.load(this.control, base + DONE);
      if (done === sequence) break;
      if (Atomics.load(this.control, base + STATE) === DEAD) return "stopped";
      if (this.canBlock) {
        if (Atomics.wait(this.control, base + DONE, done, PROBE_INTERVAL_MS) !== "timed-out") continue;
      } else if (Date.now() < nextProbe) {
        continue;
      }
      nextProbe = Date.now() + PROBE_INTERVAL_MS;
      // Checked again after the query, so a job that finished meanwhile still counts.
      if (this.workers[slot].running?.() === false && Atomics.load(this.control, base + DONE) !== sequence) return "stopped";
    }
    if (this.control[base + STATUS] === 0) return null;
    return new Error(`favor-wasm: a kernel failed on worker ${slot + 1}: ${this.messageOf(slot)}`);
  }

  /** Writes calls[from …] into the worker's command buffer until it is full; returns the index after the last call written. */
  private encode(slot: number, calls: KernelCall[], from: number): number {
    const words = this.commands.subarray(slot * COMMAND_WORDS, (slot + 1) * COMMAND_WORDS);
    let at = 0;
    let index = from;
    for (; index < calls.length; index++) {
      const call = calls[index];
      const kernel = this.kernelIndex.get(call.kernel);
      if (kernel === undefined) throw new Error(`favor-wasm: kernel ${call.kernel} is missing from the threaded binary`);
      if (at + 2 + call.args.length > COMMAND_WORDS) break;
      words[at] = kernel;
      words[at + 1] = call.args.length;
      words.set(call.args, at + 2);
      at += 2 + call.args.length;
    }
    this.control[slot * SLOT_INTS + LENGTH] = at;
    return index;
  }

  /** Ends the workers and frees their buffers; later jobs run on the calling thread alone. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (let slot = 0; slot < this.workers.length; slot++) {
      Atomics.store(this.control, slot * SLOT_INTS + REQUEST, QUIT);
      Atomics.notify(this.control, slot * SLOT_INTS + REQUEST);
    }
    for (const worker of this.workers) worker.terminate();
    for (const ptr of this.buffers) this.backend.exports.free(ptr);
    this.workers.length = 0;
  }
}
