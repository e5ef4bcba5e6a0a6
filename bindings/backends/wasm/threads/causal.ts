// Causal linear attention across the thread pool, in chunk-parallel form
// within segments. The chunks are the same as on one thread (job.chunk
// positions each). The sequence is walked in segments of `segmentChunks`
// chunks, and each segment runs these steps with one contiguous range of its
// chunks per thread (splitEvenly):
//   1. per chunk c, in parallel: key features K′_c at the chunk's own shift
//      s_c (stored for step 4), [V_c 1], and the chunk state
//      U_c = K′_cᵀ[V_c 1] at shift s_c;
//   2. per thread, in parallel: the sum of its chunk states, each rescaled
//      to the largest shift of the range;
//   3. on the calling thread, in float64: the state entering each thread's
//      range, a prefix over the thread sums in thread order that starts from
//      the state carried in from the previous segment and ends with the
//      state carried out to the next one;
//   4. per thread, in parallel: the chunk loop of the single-threaded form,
//      starting from the entering state and adding the stored U_c instead
//      of recomputing it: out_c = Q′_c·T + tril(Q′_c K′_cᵀ)·[V_c 1], then
//      T += U_c, with T, K′_c and U_c rescaled to the running shift.
// Every segment reuses the same scratch, so the memory of the op beyond its
// inputs and output does not depend on the sequence length. The thread
// count changes only how chunk states are grouped in the sums (and the
// segment size), so results differ from one thread's in the last bits, and
// for a given thread count they are the same on every run (fixed segments,
// partition and order).
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
import { SourceScratch } from "./source-scratch.js";
import { BackwardKernels, chunkStateProduct, type CompensatedState } from "../ops/attention-backward.js";
import type { KernelCall } from "./pool.js";

type Kernel = (...args: number[]) => number;

/** Returns true when causal attention over `length` positions should run on the pool. */
export function useParallelCausal(backend: WasmBackend, source: FeatureSource, length: number, chunk: number): boolean {
  return backend.threads > 1 && source.recordable === true && Math.ceil(length / chunk) >= 2 * backend.threads;
}

/**
 * Positions per segment, unless a thread would then get fewer than 4 chunks.
 * A segment of 4096 positions gives each of 2 threads 32 chunks of 64, so
 * the serial step 3 and the three wake-ups of the pool per segment stay
 * small next to the chunk work, while the segment's stored key features
 * (4 MiB at r = 256) and chunk states stay a few MiB.
 */
export const SEGMENT_POSITIONS = 4096;

let segmentPositions = SEGMENT_POSITIONS;

/**
 * Sets the positions per segment for tests, so that short sequences span
 * several segments; null restores SEGMENT_POSITIONS.
 */
export function setSegmentPositionsForTests(positions: number | null): void {
  segmentPositions = positions ?? SEGMENT_POSITIONS;
}

/** Returns the chunks per segment for chunks of `chunk` positions on `threads` threads. */
export function segmentChunks(chunk: number, threads: number): number {
  return Math.max(Math.ceil(segmentPositions / chunk), 4 * threads);
}

/** The scratch of the segmented chunk-parallel form, allocated once per op call, and its per-head loop. */
export class ParallelCausal {
  private readonly threads: number;
  private readonly r: number;
  private readonly stateSize: number;
  /** Chunks per segment. */
  private readonly segment: number;
  private readonly keyFeatures: number;
  private readonly values: number;
  private readonly states: number;
  private readonly sums: number;
  private readonly queryPositions: number;
  private readonly keyPositions: number;
  private readonly perThread: { queryFeatures: number; numerators: number; products: number }[] = [];
  /** The buffers that source.allocate took for each thread, handed back to it on later calls. */
  private readonly sourceScratch: SourceScratch;
  private readonly kernels: Record<"gemm" | "gather" | "maskedProduct" | "divide" | "scale" | "axpy" | "fill", Kernel>;
  /** With an end state only: the backward pass's kernels and, per thread, r floats of scratch for chunkStateProduct. */
  private readonly backwardKernels: BackwardKernels | null = null;
  private readonly columnScratch: number[] = [];

  /**
   * With `endState` (attentionWithState), step 1 computes each chunk state
   * as attentionBackward computes its chunk products, with the [V 1] column
   * as column sums. A new step adds the chunk states to endState in chunk
   * order (addInRanges, split over the threads by elements). So endState
   * ends as the backward pass's own first pass would leave it.
   */
  constructor(
    private readonly backend: WasmBackend,
    scope: Scope,
    private readonly source: FeatureSource,
    private readonly dv: number,
    private readonly length: number,
    private readonly chunk: number,
    private readonly endState: CompensatedState | null = null,
  ) {
    this.threads = backend.threads;
    this.r = source.outputs;
    this.stateSize = this.r * (dv + 1);
    this.segment = Math.min(segmentChunks(chunk, this.threads), Math.ceil(length / chunk));
    // A segment contains at most segment·chunk positions, and its keys are
    // the real keys among those positions, so there are no more keys than that.
    const rows = Math.min(this.segment * chunk, length);
    this.keyFeatures = scope.allocF32(rows * this.r);
    this.values = scope.allocF32(rows * (dv + 1));
    this.states = scope.allocF32(this.segment * this.stateSize);
    this.sums = scope.allocF32(this.threads * this.stateSize);
    this.queryPositions = scope.allocBytes(rows * 4);
    this.keyPositions = scope.allocBytes(rows * 4);
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
    if (endState !== null) {
      this.backwardKernels = new BackwardKernels(backend);
      for (let t = 0; t < this.threads; t++) this.columnScratch.push(scope.allocF32(this.r));
    }
    // Take every thread's source scratch now, so nothing is allocated while workers run.
    this.sourceScratch = new SourceScratch(backend, scope, source, chunk, this.threads);
  }

  /**
   * Causal attention for one head (the source has selected it): visible
   * lists the real keys in increasing order; v, out are byte pointers with
   * row strides ldv, ldo in elements.
   */
  runHead(visible: Int32Array, v: number, ldv: number, out: number, ldo: number): void {
    const chunks = Math.ceil(this.length / this.chunk);
    // The state after the segments so far, in float64 at shift carried.shift.
    const carried = { state: new Float64Array(this.stateSize), shift: -Infinity };
    let keyStart = 0;
    for (let first = 0; first < chunks; first += this.segment) {
      keyStart = this.runSegment(visible, keyStart, first, Math.min(first + this.segment, chunks), carried, v, ldv, out, ldo);
    }
  }

  /** Runs body(from, to) on every thread for its range of the state's elements (starting at multiples of 4). */
  private runElementRanges(body: (from: number, to: number) => void): void {
    const quads = Math.ceil(this.stateSize / 4);
    const bounds = splitEvenly(quads, this.threads).map((q) => Math.min(4 * q, this.stateSize));
    const tasks: KernelCall[][] = [[]];
    for (let t = 1; t < this.threads; t++) {
      tasks.push(bounds[t + 1] > bounds[t] ? this.backend.record(() => body(bounds[t], bounds[t + 1])) : []);
    }
    this.backend.pool!.run(tasks, () => {
      if (bounds[1] > bounds[0]) body(bounds[0], bounds[1]);
    });
  }

  /**
   * Runs steps 1 to 4 for chunks [first, last), whose keys start at
   * visible[keyStart], from the carried state, and leaves the state after
   * the segment in `carried`. Returns the index in visible of the next
   * segment's first key.
   */
  private runSegment(
    visible: Int32Array, keyStart: number, first: number, last: number,
    carried: { state: Float64Array; shift: number },
    v: number, ldv: number, out: number, ldo: number,
  ): number {
    const { backend, chunk, threads, r, dv, stateSize } = this;
    const { gemm, gather, scale, axpy } = this.kernels;
    const chunks = last - first;
    const segmentStart = first * chunk;
    const segmentEnd = Math.min(last * chunk, this.length);

    // Keys of the segment's chunk c (0-based in the segment): visible[keyStart + keyFrom[c] … keyStart + keyFrom[c + 1]).
    const keyFrom = new Int32Array(chunks + 1);
    for (let c = 0, at = keyStart; c < chunks; c++) {
      const end = Math.min((first + c + 1) * chunk, this.length);
      while (at < visible.length && visible[at] < end) at++;
      keyFrom[c + 1] = at - keyStart;
    }
    const keyCount = keyFrom[chunks];
    const queryView = new Int32Array(backend.exports.memory.buffer, this.queryPositions, segmentEnd - segmentStart);
    for (let i = 0; i < queryView.length; i++) queryView[i] = segmentStart + i;
    new Int32Array(backend.exports.memory.buffer, this.keyPositions, keyCount).set(visible.subarray(keyStart, keyStart + keyCount));

    const bounds = splitEvenly(chunks, threads);
    const keyRows = (c: number) => this.keyFeatures + keyFrom[c] * r * 4;
    const valueRows = (c: number) => this.values + keyFrom[c] * (dv + 1) * 4;
    const keyPositions = (c: number) => this.keyPositions + keyFrom[c] * 4;
    const state = (c: number) => this.states + c * stateSize * 4;

    // Step 1: chunk key features, values and states.
    const shiftTickets: { thread: number; value: number }[] = [];
    const step1 = this.sourceScratch.split((t) => {
      for (let c = bounds[t]; c < bounds[t + 1]; c++) {
        const count = keyFrom[c + 1] - keyFrom[c];
        if (count === 0) {
          shiftTickets[c] = { thread: t, value: -Infinity };
          continue;
        }
        shiftTickets[c] = { thread: t, value: this.source.keyFeatures(keyPositions(c), count, keyRows(c)) };
        gather(count, keyPositions(c), v, ldv, dv, 1, valueRows(c), dv + 1, 1);
        if (this.endState === null) {
          gemm(1, r, dv + 1, count, 1, keyRows(c), r, 0, 1, valueRows(c), dv + 1, 0, 0, 0, state(c), dv + 1, 0);
        } else {
          // The backward pass's own product, so that the chunk states have its bits.
          chunkStateProduct(this.backwardKernels!, r, dv, count, keyRows(c), valueRows(c), state(c), this.columnScratch[t]);
        }
      }
    });
    const results1 = backend.pool!.run(step1.tasks, step1.own);
    const shifts = shiftTickets.map((ticket) => recordedResult(ticket.value, results1[ticket.thread]));
    if (this.endState !== null) {
      const products: number[] = [];
      const productShifts: number[] = [];
      for (let c = 0; c < chunks; c++) {
        if (keyFrom[c + 1] === keyFrom[c]) continue;
        products.push(state(c));
        productShifts.push(shifts[c]);
      }
      this.endState.addInRanges(products, productShifts, (body) => this.runElementRanges(body));
    }

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
    // carried state plus the sums of the threads before it), in thread
    // order, in float64; the total becomes the carried state.
    const entering: number[] = [];
    const running = carried.state;
    let runningShift = carried.shift;
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
    carried.shift = runningShift;

    // Step 4: the chunk loop of each range from its entering state.
    const step4 = this.sourceScratch.split((t) => {
      const scratch = this.perThread[t];
      const total = this.sums + t * stateSize * 4;
      let shift = entering[t];
      for (let c = bounds[t]; c < bounds[t + 1]; c++) {
        const start = (first + c) * chunk;
        const count = Math.min(chunk, this.length - start);
        const keyCount = keyFrom[c + 1] - keyFrom[c];
        const next = Math.max(shift, shifts[c]);
        if (shift !== -Infinity && next > shift) scale(stateSize, total, Math.exp(shift - next));
        if (keyCount > 0 && shifts[c] < next) scale(keyCount * r, keyRows(c), Math.exp(shifts[c] - next));
        this.source.queryFeatures(this.queryPositions + (start - segmentStart) * 4, count, scratch.queryFeatures);
        // [num den] = Q′_c·T, zero while T is empty.
        gemm(1, count, dv + 1, r, 1, scratch.queryFeatures, r, 0, 0, total, dv + 1, 0, 0, 0, scratch.numerators, dv + 1, 0);
        if (keyCount > 0) {
          gemm(1, count, keyCount, r, 1, scratch.queryFeatures, r, 0, 0, keyRows(c), r, 0, 1, 0, scratch.products, keyCount, 0);
          this.kernels.maskedProduct(
            count, start, keyCount, keyPositions(c), scratch.products, keyCount,
            valueRows(c), dv + 1, dv + 1, scratch.numerators, dv + 1,
          );
          axpy(stateSize, Math.exp(shifts[c] - next), state(c), total);
        }
        this.kernels.divide(count, dv, scratch.numerators, dv + 1, out + start * ldo * 4, ldo);
        shift = next;
      }
    });
    backend.pool!.run(step4.tasks, step4.own);
    return keyStart + keyCount;
  }
}
