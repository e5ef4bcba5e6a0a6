// Bidirectional linear attention across the thread pool. The key rows are
// cut into the blocks of the single-threaded form (BLOCK_ROWS rows of the
// visible keys) and each thread takes one contiguous range of blocks:
//   1. per key block b, in parallel: the key features K′_b at the block's
//      own shift s_b, [V_b 1], and the block state U_b = K′_bᵀ[V_b 1];
//   2. per thread, in parallel: the sum of its block states, rescaled to
//      the largest shift of its range;
//   3. on the calling thread, in thread order and in float64: the total
//      state T = Σ sums at the largest shift of all;
//   4. per query block, in parallel: [num den] = Q′_block·T and out = num/den.
// The thread count changes only how block states are grouped in the sums,
// so results differ from one thread's in the last bits, and for a given
// thread count they are the same on every run. Like causal.ts, the workers'
// kernel calls are recorded through the op's recordable FeatureSource.

import type { Scope, WasmBackend } from "../backend.js";
import { recordedResult } from "../backend.js";
import type { FeatureSource } from "../ops/linear-attention.js";
import { splitEvenly } from "./gemm.js";
import { SourceScratch } from "./source-scratch.js";
import type { KernelCall } from "./pool.js";

type Kernel = (...args: number[]) => number;

/** Returns true when bidirectional attention with `keys` key rows and `length` query rows should run on the pool. */
export function useParallelBidirectional(
  backend: WasmBackend, source: FeatureSource, length: number, keys: number, rows: number,
): boolean {
  const blocks = Math.min(Math.ceil(length / rows), Math.ceil(keys / rows));
  return backend.threads > 1 && source.recordable === true && blocks >= backend.threads;
}

/** Per-thread scratch of the parallel bidirectional form, allocated once per op call, and its per-head loop. */
export class ParallelBidirectional {
  private readonly threads: number;
  private readonly r: number;
  private readonly stateSize: number;
  private readonly states: number;
  private readonly sums: number;
  private readonly total: number;
  private readonly queryPositions: number;
  private readonly keyPositions: number;
  private readonly perThread: { features: number; values: number; numerators: number }[] = [];
  private readonly sourceScratch: SourceScratch;
  private readonly kernels: Record<"gemm" | "gather" | "divide" | "add" | "fill", Kernel>;

  constructor(
    private readonly backend: WasmBackend,
    scope: Scope,
    private readonly source: FeatureSource,
    private readonly dv: number,
    private readonly length: number,
    keyLength: number,
    private readonly rows: number,
  ) {
    this.threads = backend.threads;
    this.r = source.outputs;
    this.stateSize = this.r * (dv + 1);
    this.states = scope.allocF32(Math.ceil(keyLength / rows) * this.stateSize);
    this.sums = scope.allocF32(this.threads * this.stateSize);
    this.total = scope.allocF32(this.stateSize);
    this.queryPositions = scope.allocBytes(length * 4);
    this.keyPositions = scope.allocBytes(keyLength * 4);
    for (let t = 0; t < this.threads; t++) {
      this.perThread.push({
        features: scope.allocF32(rows * this.r),
        values: scope.allocF32(rows * (dv + 1)),
        numerators: scope.allocF32(rows * (dv + 1)),
      });
    }
    const kernel = (name: string) => backend.kernel<Kernel>(name);
    this.kernels = {
      gemm: kernel("f32_gemm"),
      gather: kernel("f32_attention_gather_rows"),
      divide: kernel("f32_attention_divide_rows"),
      add: kernel("f32_state_add_scaled"),
      fill: kernel("f32_fill"),
    };
    // Take every thread's source scratch now, so nothing is allocated while workers run.
    this.sourceScratch = new SourceScratch(backend, scope, source, rows, this.threads);
  }

  /**
   * Attention for one head (the source has selected it). visible lists the
   * real keys in increasing order. v and out are byte pointers whose rows
   * are ldv and ldo elements apart.
   */
  runHead(visible: Int32Array, v: number, ldv: number, out: number, ldo: number): void {
    const { backend, rows, threads, r, dv, stateSize } = this;
    const { gemm, gather, divide, add, fill } = this.kernels;
    const memory = backend.exports.memory.buffer;
    new Int32Array(memory, this.queryPositions, this.length).set(Int32Array.from({ length: this.length }, (_, i) => i));
    new Int32Array(memory, this.keyPositions, visible.length).set(visible);
    const keyBlocks = Math.ceil(visible.length / rows);
    const state = (b: number) => this.states + b * stateSize * 4;

    // Step 1: block key features, values and states.
    const keyBounds = splitEvenly(keyBlocks, threads);
    const shiftTickets: { thread: number; value: number }[] = [];
    const step1 = this.sourceScratch.split((t) => {
      const scratch = this.perThread[t];
      for (let b = keyBounds[t]; b < keyBounds[t + 1]; b++) {
        const count = Math.min(rows, visible.length - b * rows);
        const positions = this.keyPositions + b * rows * 4;
        shiftTickets[b] = { thread: t, value: this.source.keyFeatures(positions, count, scratch.features) };
        gather(count, positions, v, ldv, dv, 1, scratch.values, dv + 1, 1);
        gemm(1, r, dv + 1, count, 1, scratch.features, r, 0, 1, scratch.values, dv + 1, 0, 0, 0, state(b), dv + 1, 0);
      }
    });
    const results1 = backend.pool!.run(step1.tasks, step1.own);
    const shifts = shiftTickets.map((ticket) => recordedResult(ticket.value, results1[ticket.thread]));

    // Step 2: each thread's sum of its block states at the largest shift of its range.
    const rangeShift: number[] = [];
    const step2: KernelCall[][] = [];
    for (let t = 0; t < threads; t++) {
      let top = -Infinity;
      for (let b = keyBounds[t]; b < keyBounds[t + 1]; b++) top = Math.max(top, shifts[b]);
      rangeShift.push(top);
      const sum = this.sums + t * stateSize * 4;
      step2.push(backend.record(() => {
        fill(stateSize, 0, sum);
        for (let b = keyBounds[t]; b < keyBounds[t + 1]; b++) add(stateSize, Math.exp(shifts[b] - top), state(b), sum);
      }));
    }
    backend.pool!.run(step2);

    // Step 3: T = Σ_t sums[t]·exp(top_t − S) with S the largest shift, in float64 and thread order.
    const largest = Math.max(...rangeShift);
    const totalState = new Float64Array(stateSize);
    for (let t = 0; t < threads; t++) {
      if (rangeShift[t] === -Infinity) continue;
      const factor = Math.exp(rangeShift[t] - largest);
      const sum = backend.f32(this.sums + t * stateSize * 4, stateSize);
      for (let i = 0; i < stateSize; i++) totalState[i] += factor * sum[i];
    }
    backend.f32(this.total, stateSize).set(totalState);

    // Step 4: query blocks.
    const queryBounds = splitEvenly(Math.ceil(this.length / rows), threads);
    const step4 = this.sourceScratch.split((t) => {
      const scratch = this.perThread[t];
      for (let b = queryBounds[t]; b < queryBounds[t + 1]; b++) {
        const start = b * rows;
        const count = Math.min(rows, this.length - start);
        this.source.queryFeatures(this.queryPositions + start * 4, count, scratch.features);
        gemm(1, count, dv + 1, r, 1, scratch.features, r, 0, 0, this.total, dv + 1, 0, 0, 0, scratch.numerators, dv + 1, 0);
        divide(count, dv, scratch.numerators, dv + 1, out + start * ldo * 4, ldo);
      }
    });
    backend.pool!.run(step4.tasks, step4.own);
  }
}
