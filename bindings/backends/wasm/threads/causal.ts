// Causal linear attention across the thread pool, in chunk-parallel form.
// The chunks are the same as on one thread (job.chunk positions each), and
// each thread takes one contiguous range of chunks (splitEvenly):
//   1. per chunk c, in parallel: key features K′_c at the chunk's own shift
//      s_c (stored for step 3), [V_c 1], and the chunk state
//      U_c = K′_cᵀ[V_c 1] at shift s_c;
//   2. per thread, in parallel: the sum of its chunk states, each rescaled
//      to the largest shift of the range;
//   3. on the calling thread: the state entering each thread's range, a
//      prefix over the thread sums in thread order;
//   4. per thread, in parallel: the chunk loop of the single-threaded form,
//      starting from the entering state and adding the stored U_c instead
//      of recomputing it: out_c = Q′_c·T + tril(Q′_c K′_cᵀ)·[V_c 1], then
//      T += U_c, with T, K′_c and U_c rescaled to the running shift.
// The thread count changes only how chunk states are grouped in the sums,
// so results differ from one thread's in the last bits, and for a given
// thread count they are the same on every run (fixed partition and order).
//
// The workers' kernel calls of steps 1, 2 and 4 are recorded on the calling
// thread (WasmBackend.record) through the op's own FeatureSource. So the
// source has to be recordable: it may only call kernels, and never read or
// write memory from JavaScript in between. The calling thread runs the same
// code directly for its own range.

import type { Scope, WasmBackend } from "../backend.js";
import { recordedResult } from "../backend.js";
import type { FeatureSource } from "../ops/linear-attention.js";
import { splitEvenly } from "./gemm.js";
import type { KernelCall } from "./pool.js";

type Kernel = (...args: number[]) => number;

/** Returns true when causal attention over `length` positions should run on the pool. */
export function useParallelCausal(backend: WasmBackend, source: FeatureSource, length: number, chunk: number): boolean {
  return backend.threads > 1 && source.recordable === true && Math.ceil(length / chunk) >= 2 * backend.threads;
}

/** The scratch of the chunk-parallel form, allocated once per op call, and its per-head loop. */
export class ParallelCausal {
  private readonly threads: number;
  private readonly r: number;
  private readonly stateSize: number;
  private readonly chunks: number;
  private readonly keyFeatures: number;
  private readonly values: number;
  private readonly states: number;
  private readonly sums: number;
  private readonly queryPositions: number;
  private readonly keyPositions: number;
  private readonly perThread: { queryFeatures: number; numerators: number; products: number }[] = [];
  private readonly kernels: Record<"gemm" | "gather" | "maskedProduct" | "divide" | "scale" | "axpy" | "fill", Kernel>;

  constructor(
    private readonly backend: WasmBackend,
    private readonly scope: Scope,
    private readonly source: FeatureSource,
    private readonly dv: number,
    private readonly length: number,
    keyLength: number,
    private readonly chunk: number,
  ) {
    this.threads = backend.threads;
    this.r = source.outputs;
    this.stateSize = this.r * (dv + 1);
    this.chunks = Math.ceil(length / chunk);
    this.keyFeatures = scope.allocF32(keyLength * this.r);
    this.values = scope.allocF32(keyLength * (dv + 1));
    this.states = scope.allocF32(this.chunks * this.stateSize);
    this.sums = scope.allocF32(this.threads * this.stateSize);
    this.queryPositions = scope.allocBytes(length * 4);
    this.keyPositions = scope.allocBytes(keyLength * 4);
    for (let t = 0; t < this.threads; t++) {
      this.perThread.push({
        queryFeatures: scope.allocF32(chunk * this.r),
        numerators: scope.allocF32(chunk * (dv + 1)),
        products: scope.allocF32(chunk * chunk),
      });
    }
    const kernel = (name: string) => backend.kernel<Kernel>(name);
    this.kernels = {
      gemm: kernel("f32_gemm"),
      gather: kernel("f32_attention_gather_rows"),
      maskedProduct: kernel("f32_attention_masked_product"),
      divide: kernel("f32_attention_divide_rows"),
      scale: kernel("f32_attention_scale"),
      axpy: kernel("f32_state_add_scaled"),
      fill: kernel("f32_fill"),
    };
  }

  /**
   * Records body(t) for each worker thread t, each with its own feature
   * scratch, and returns those lists with the calling thread's part, which
   * runs body(0) directly once the workers have started. A ticket returned
   * by a kernel in body(0) is then already the real value.
   */
  private split(body: (thread: number) => void): { tasks: KernelCall[][]; own: () => void } {
    const tasks: KernelCall[][] = [[]];
    for (let t = 1; t < this.threads; t++) {
      this.source.allocate(this.scope, this.chunk);
      tasks.push(this.backend.record(() => body(t)));
    }
    const own = () => {
      this.source.allocate(this.scope, this.chunk);
      body(0);
    };
    return { tasks, own };
  }

  /**
   * Causal attention for one head (the source has selected it): visible
   * lists the real keys in increasing order; v, out are byte pointers with
   * row strides ldv, ldo in elements.
   */
  runHead(visible: Int32Array, v: number, ldv: number, out: number, ldo: number): void {
    const { backend, chunk, chunks, threads, r, dv, stateSize } = this;
    const { gemm, gather, scale, axpy } = this.kernels;
    new Int32Array(backend.exports.memory.buffer, this.queryPositions, this.length).set(
      Int32Array.from({ length: this.length }, (_, i) => i),
    );
    new Int32Array(backend.exports.memory.buffer, this.keyPositions, visible.length).set(visible);

    // Keys of chunk c: visible[keyFrom[c] … keyFrom[c + 1]).
    const keyFrom = new Int32Array(chunks + 1);
    for (let c = 0, at = 0; c < chunks; c++) {
      const end = Math.min((c + 1) * chunk, this.length);
      while (at < visible.length && visible[at] < end) at++;
      keyFrom[c + 1] = at;
    }
    const bounds = splitEvenly(chunks, threads);
    const keyRows = (c: number) => this.keyFeatures + keyFrom[c] * r * 4;
    const valueRows = (c: number) => this.values + keyFrom[c] * (dv + 1) * 4;
    const state = (c: number) => this.states + c * stateSize * 4;

    // Step 1: chunk key features, values and states.
    const shiftTickets: { thread: number; value: number }[] = [];
    const step1 = this.split((t) => {
      for (let c = bounds[t]; c < bounds[t + 1]; c++) {
        const count = keyFrom[c + 1] - keyFrom[c];
        if (count === 0) {
          shiftTickets[c] = { thread: t, value: -Infinity };
          continue;
        }
        const positions = this.keyPositions + keyFrom[c] * 4;
        shiftTickets[c] = { thread: t, value: this.source.keyFeatures(positions, count, keyRows(c)) };
        gather(count, positions, v, ldv, dv, 1, valueRows(c), dv + 1, 1);
        gemm(1, r, dv + 1, count, 1, keyRows(c), r, 0, 1, valueRows(c), dv + 1, 0, 0, 0, state(c), dv + 1, 0);
      }
    });
    const results1 = backend.pool!.run(step1.tasks, step1.own);
    const shifts = shiftTickets.map((ticket) => recordedResult(ticket.value, results1[ticket.thread]));

    // Step 2: each thread's sum of its chunk states at the largest shift of its range.
    const rangeShift: number[] = [];
    const step2: KernelCall[][] = [];
    for (let t = 0; t < threads; t++) {
      let top = -Infinity;
      for (let c = bounds[t]; c < bounds[t + 1]; c++) top = Math.max(top, shifts[c]);
      rangeShift.push(top);
      const sum = this.sums + t * stateSize * 4;
      step2.push(backend.record(() => {
        this.kernels.fill(stateSize, 0, sum);
        for (let c = bounds[t]; c < bounds[t + 1]; c++) {
          if (shifts[c] !== -Infinity) axpy(stateSize, Math.exp(shifts[c] - top), state(c), sum);
        }
      }));
    }
    backend.pool!.run(step2);

    // Step 3: replace each thread's sum by the state entering its range (the
    // sums of the threads before it), in thread order, in float64.
    const entering: number[] = [];
    const running = new Float64Array(stateSize);
    let runningShift = -Infinity;
    for (let t = 0; t < threads; t++) {
      const sum = backend.f32(this.sums + t * stateSize * 4, stateSize);
      const own = Float64Array.from(sum);
      sum.set(running);
      entering.push(runningShift);
      const top = rangeShift[t];
      if (top === -Infinity) continue;
      const next = Math.max(runningShift, top);
      if (runningShift !== -Infinity && next > runningShift) {
        const factor = Math.exp(runningShift - next);
        for (let i = 0; i < stateSize; i++) running[i] *= factor;
      }
      const factor = Math.exp(top - next);
      for (let i = 0; i < stateSize; i++) running[i] += factor * own[i];
      runningShift = next;
    }

    // Step 4: the chunk loop of each range from its entering state.
    const step4 = this.split((t) => {
      const scratch = this.perThread[t];
      const total = this.sums + t * stateSize * 4;
      let shift = entering[t];
      for (let c = bounds[t]; c < bounds[t + 1]; c++) {
        const start = c * chunk;
        const count = Math.min(chunk, this.length - start);
        const keyCount = keyFrom[c + 1] - keyFrom[c];
        const next = Math.max(shift, shifts[c]);
        if (shift !== -Infinity && next > shift) scale(stateSize, total, Math.exp(shift - next));
        if (keyCount > 0 && shifts[c] < next) scale(keyCount * r, keyRows(c), Math.exp(shifts[c] - next));
        this.source.queryFeatures(this.queryPositions + start * 4, count, scratch.queryFeatures);
        // [num den] = Q′_c·T, zero while T is empty.
        gemm(1, count, dv + 1, r, 1, scratch.queryFeatures, r, 0, 0, total, dv + 1, 0, 0, 0, scratch.numerators, dv + 1, 0);
        if (keyCount > 0) {
          gemm(1, count, keyCount, r, 1, scratch.queryFeatures, r, 0, 0, keyRows(c), r, 0, 1, 0, scratch.products, keyCount, 0);
          this.kernels.maskedProduct(
            count, start, keyCount, this.keyPositions + keyFrom[c] * 4, scratch.products, keyCount,
            valueRows(c), dv + 1, dv + 1, scratch.numerators, dv + 1,
          );
          axpy(stateSize, Math.exp(shifts[c] - next), state(c), total);
        }
        this.kernels.divide(count, dv, scratch.numerators, dv + 1, out + start * ldo * 4, ldo);
        shift = next;
      }
    });
    backend.pool!.run(step4.tasks, step4.own);
  }
}
