// The backward pass of FAVOR+ attention (ops/attention-backward.ts) across
// the thread pool. The products and feature maps are those of the
// single-threaded passes. What changes is which thread runs them and how
// the partial sums that cross blocks or chunks are added.
//
// Bidirectional, per head:
//   A. per key block b, in parallel: K′_b at the block's own shift s_b, [V_b 1]
//      and U_b = K′_bᵀ[V_b 1]; per thread, the sum of its blocks' U_b at the
//      largest shift of its range; on the calling thread, in thread order and
//      in float64, the total T = K′ᵀ[V 1] at the largest shift S;
//   B. per query block, in parallel: Ĝ, Q̄′ = ĜTᵀ and dq, and per thread the
//      partial T̄_t = Σ Q′ᵀĜ over its blocks; T̄ = Σ_t T̄_t on the calling
//      thread in thread order and in float64;
//   C. per key block, in parallel: K′ at shift S, K̄′ = [V 1]·T̄ᵀ, Ū = K′T̄,
//      and dk, dv (the rows of different blocks are disjoint).
// Causal, per head, in segments of segmentChunks(chunk, threads) chunks
// (the forward's segments, threads/causal.ts), so the working memory does
// not grow with the length:
//   pass 1, per segment in order: the chunk products P_c = K′_cᵀ[V_c 1] in
//      parallel, each at its chunk's shift b_c and with exactly the kernels
//      of keyBlockProduct, then added to the running state in chunk order
//      (a compensated state splits the additions over the threads by state
//      elements, CompensatedState.addInRanges). The end state is then the
//      single-threaded one, bit for bit.
//   pass 2, per segment in reverse:
//      (a) per chunk, in parallel: K′_c, [V_c 1] and P_c again;
//      (b) calling thread, chunks in reverse: the state minus P_c is the start
//          state T0_c; σ_c = max(b_c, log of its largest entry), as in
//          causalHeadBackward; T0_c read at σ_c is stored per chunk;
//      (c) per chunk, in parallel: Q′_c, P, P̄, Ĝ_c, Q̄′_c and dq; the parts
//          P̄ᵀQ′_c and PᵀĜ_c of K̄′_c and Ū_c; the chunk's term Q′_cᵀĜ_c of R;
//      (d) calling thread, chunks in reverse: R after each chunk, with
//          R ← R·e^{σ_c − σ_{c+1}}, then R ← R + Q′_cᵀĜ_c, in float32;
//      (e) per chunk, in parallel: K̄′_c += [V_c 1]Rᵀ, Ū_c += K′_cR, dk, dv.
// Steps (b) and (d), and pass 1's additions to a float32 state, are the
// serial work: O(r·(dv + 1)) per chunk.
//
// Causal dq, dk and dv are bit-identical to one thread's while a chunk fits
// in one k-slice of f32_gemm (chunk <= 512): R adds each chunk's term with a
// separate float32 addition where one thread passes beta 1 to the GEMM, and
// the GEMM adds C to the finished sum of a slice, which rounds the same way.
// Two sums differ from one thread's in the last bits: the bidirectional
// state sums are grouped by thread, and each thread has its own
// projection-gradient accumulator, added in thread order after each head.
// For a given thread count the partition and every order of addition are
// fixed, so every run gives the same bits.
//
// The workers' kernel calls are recorded on the calling thread
// (WasmBackend.record). FeatureRows only call kernels when the maps have a
// projection, and every position list is written before recording starts,
// so nothing reads or writes memory from JavaScript inside a recorded body.
// For the pointwise kinds, writeFeatures fills the row shifts with zeros
// from JavaScript at record time. That write reaches only the recording
// thread's own shift buffer, which no backward kernel reads.

import type { FeatureSettings } from "../../../api/attention.js";
import type { Scope, WasmBackend } from "../backend.js";
import { recordedResult } from "../backend.js";
import {
  BACKWARD_BLOCK_ROWS,
  BackwardScratch,
  CompensatedState,
  FeatureRows,
  chunkGradientWithoutR,
  chunkProduct,
  chunkShift,
  scatterInputGradient,
  type BackwardKernels,
  type HeadTensors,
  type RowFeatures,
  type RunningState,
} from "../ops/attention-backward.js";
import { segmentChunks } from "./causal.js";
import { splitEvenly } from "./gemm.js";
import type { KernelCall } from "./pool.js";

/** The op's sizes and settings that both threaded backward forms read. */
export interface ParallelBackwardSettings {
  features: FeatureSettings;
  valueDim: number;
  /** Query rows per head. */
  length: number;
  /** Key rows per head. */
  keyLength: number;
  /** Factor on the input rows before the map (d^{-1/4}). */
  inputScale: number;
  /** True for the maps whose key features carry a block shift. */
  exponential: boolean;
  /** Floats of one head's projection (m·dim); the size of each thread's projection-gradient accumulator. */
  projectionSize: number;
  /** True when the op returns the projection gradient. */
  projectionGradient: boolean;
}

/** A threaded backward form: runs one head; `state` is the causal running state (null when bidirectional). */
export interface ParallelBackward {
  runHead(h: HeadTensors, visible: Int32Array, state: RunningState | null): void;
}

/** Returns true when the maps only call kernels, so their calls can be recorded for a worker. */
function recordableMaps(features: FeatureSettings): boolean {
  return features.hybrid === null && features.query.features > 0 && features.key.features > 0;
}

/**
 * Returns the threaded form of the backward pass when it applies, or null
 * for the single-threaded loops. Both forms need maps that have a
 * projection and are not hybrid. The causal form also needs the default
 * start states (subtraction, no checkpoints) and at least 2 chunks per
 * thread. The bidirectional form needs at least one block of
 * BACKWARD_BLOCK_ROWS query rows and of key rows per thread.
 */
export function parallelAttentionBackward(
  backend: WasmBackend, scope: Scope, kernels: BackwardKernels, settings: ParallelBackwardSettings,
  causal: { chunk: number; stateCheckpoints: number } | null,
): ParallelBackward | null {
  const threads = backend.threads;
  if (threads < 2 || !recordableMaps(settings.features)) return null;
  if (causal !== null) {
    const chunk = Math.min(causal.chunk, settings.length);
    if (causal.stateCheckpoints !== 0 || Math.ceil(settings.length / chunk) < 2 * threads) return null;
    return new ParallelCausalBackward(backend, scope, kernels, settings, chunk);
  }
  const rows = BACKWARD_BLOCK_ROWS;
  const blocks = Math.min(Math.ceil(settings.length / rows), Math.ceil(settings.keyLength / rows));
  if (blocks < threads) return null;
  return new ParallelBidirectionalBackward(backend, scope, kernels, settings);
}

/**
 * Records body(t) for every worker thread t and returns those lists with
 * the calling thread's part, which runs body(0) directly.
 */
function split(backend: WasmBackend, threads: number, body: (thread: number) => void): { tasks: KernelCall[][]; own: () => void } {
  const tasks: KernelCall[][] = [[]];
  for (let t = 1; t < threads; t++) tasks.push(backend.record(() => body(t)));
  return { tasks, own: () => body(0) };
}

/** A returned value of a recorded (or direct) kernel call, and the thread that made it. */
interface Ticket {
  thread: number;
  value: number;
}

/** Each thread's projection-gradient accumulator, zeroed per head and added into the head's gradient in thread order. */
class ProjectionGradients {
  private readonly accumulators: number[] = [];

  constructor(private readonly backend: WasmBackend, scope: Scope, threads: number, private readonly size: number, enabled: boolean) {
    if (!enabled) return;
    for (let t = 0; t < threads; t++) this.accumulators.push(scope.allocF32(size));
  }

  /** Returns h with thread t's accumulator in place of the head's projection gradient, for each thread. */
  tensorsPerThread(h: HeadTensors, threads: number): HeadTensors[] {
    const list: HeadTensors[] = [];
    for (let t = 0; t < threads; t++) {
      list.push(h.dprojection === 0 ? h : { ...h, dprojection: this.accumulators[t] });
    }
    if (h.dprojection !== 0) {
      for (const ptr of this.accumulators) this.backend.f32(ptr, this.size).fill(0);
    }
    return list;
  }

  /** Adds the accumulators into the head's gradient in thread order, in float64, rounding once. */
  reduce(h: HeadTensors): void {
    if (h.dprojection === 0) return;
    const sum = Float64Array.from(this.backend.f32(h.dprojection, this.size));
    for (const ptr of this.accumulators) {
      const part = this.backend.f32(ptr, this.size);
      for (let i = 0; i < this.size; i++) sum[i] += part[i];
    }
    this.backend.f32(h.dprojection, this.size).set(sum);
  }
}

/** Writes `values` as int32 into WASM memory at ptr. */
function writeInts(backend: WasmBackend, ptr: number, values: ArrayLike<number>): void {
  new Int32Array(backend.exports.memory.buffer, ptr, values.length).set(values);
}

/** The bidirectional backward pass by key blocks and query blocks (steps A to C in the file header). */
export class ParallelBidirectionalBackward implements ParallelBackward {
  private readonly threads: number;
  private readonly r: number;
  private readonly dv1: number;
  private readonly stateSize: number;
  private readonly perThread: BackwardScratch[] = [];
  /** One state per key block of the longest head. */
  private readonly states: number;
  /** T = K′ᵀ[V 1] of the current head (r×(dv+1)), at the shift that totalState returns. */
  readonly total: number;
  private readonly totalGradient: number;
  private readonly queryPositions: number;
  private readonly keyPositions: number;
  private readonly projectionGradients: ProjectionGradients;

  constructor(
    private readonly backend: WasmBackend,
    scope: Scope,
    private readonly kernels: BackwardKernels,
    private readonly settings: ParallelBackwardSettings,
  ) {
    const { features, valueDim, length, keyLength, inputScale } = settings;
    const rows = BACKWARD_BLOCK_ROWS;
    this.threads = backend.threads;
    for (let t = 0; t < this.threads; t++) {
      this.perThread.push(new BackwardScratch(kernels, scope, features, rows, valueDim, inputScale, false));
    }
    this.r = this.perThread[0].r;
    this.dv1 = valueDim + 1;
    this.stateSize = this.r * this.dv1;
    this.states = scope.allocF32(Math.ceil(keyLength / rows) * this.stateSize);
    this.total = scope.allocF32(this.stateSize);
    this.totalGradient = scope.allocF32(this.stateSize);
    this.queryPositions = scope.allocBytes(length * 4);
    this.keyPositions = scope.allocBytes(keyLength * 4);
    this.projectionGradients = new ProjectionGradients(backend, scope, this.threads, settings.projectionSize, settings.projectionGradient);
    writeInts(backend, this.queryPositions, Int32Array.from({ length }, (_, i) => i));
  }

  runHead(h: HeadTensors, visible: Int32Array): void {
    const shift = this.totalState(h, visible);
    this.gradients(h, visible, shift);
  }

  /**
   * Pass A: writes T = K′ᵀ[V 1] of the head's visible keys into `total`
   * and returns its shift (the largest block shift, −Infinity without
   * keys, 0 for kinds without an exponent).
   */
  totalState(h: HeadTensors, visible: Int32Array): number {
    const { backend, kernels: k, threads, r, dv1, stateSize } = this;
    const { valueDim, exponential } = this.settings;
    const rows = BACKWARD_BLOCK_ROWS;
    const pool = backend.pool!;
    writeInts(backend, this.keyPositions, visible);
    const keyBounds = splitEvenly(Math.ceil(visible.length / rows), threads);
    const state = (b: number) => this.states + b * stateSize * 4;
    const keyPositions = (b: number) => this.keyPositions + b * rows * 4;
    const keyCount = (b: number) => Math.min(rows, visible.length - b * rows);

    // A: each key block's U_b = K′_bᵀ[V_b 1] at its own shift.
    const tickets: Ticket[] = [];
    const stepA = split(backend, threads, (t) => {
      const s = this.perThread[t];
      for (let b = keyBounds[t]; b < keyBounds[t + 1]; b++) {
        const count = keyCount(b);
        tickets[b] = { thread: t, value: s.key.compute(h.k, h.ldk, keyPositions(b), count, h.projection) };
        k.gather(count, keyPositions(b), h.v, h.ldv, valueDim, 1, s.u, dv1, 1);
        k.product(r, dv1, count, s.key.f, r, true, s.u, dv1, false, 0, state(b), dv1);
      }
    });
    const resultsA = pool.run(stepA.tasks, stepA.own);
    const shifts = tickets.map((ticket) => (exponential ? recordedResult(ticket.value, resultsA[ticket.thread]) : 0));

    // Each thread's sum of its blocks at the largest shift of its range, into its rg.
    const rangeShift: number[] = [];
    const sums: KernelCall[][] = [];
    for (let t = 0; t < threads; t++) {
      let top = -Infinity;
      for (let b = keyBounds[t]; b < keyBounds[t + 1]; b++) top = Math.max(top, shifts[b]);
      rangeShift.push(top);
      const sum = this.perThread[t].rg;
      sums.push(backend.record(() => {
        for (let b = keyBounds[t]; b < keyBounds[t + 1]; b++) {
          const factor = Math.exp(shifts[b] - top);
          if (b === keyBounds[t]) k.scaleCopy(stateSize, factor, state(b), sum);
          else k.axpy(stateSize, factor, state(b), sum);
        }
      }));
    }
    pool.run(sums);

    // T = Σ_t e^{top_t − S}·sum_t at the largest shift S, in thread order and float64.
    const largest = Math.max(...rangeShift);
    const total = new Float64Array(stateSize);
    for (let t = 0; t < threads; t++) {
      if (keyBounds[t] === keyBounds[t + 1]) continue;
      const factor = Math.exp(rangeShift[t] - largest);
      const sum = backend.f32(this.perThread[t].rg, stateSize);
      for (let i = 0; i < stateSize; i++) total[i] += factor * sum[i];
    }
    backend.f32(this.total, stateSize).set(total);
    return largest;
  }

  /**
   * Passes B and C: dq, dk, dv and the head's projection gradient from T in
   * `total` at shift `shift` (as totalState leaves them).
   */
  gradients(h: HeadTensors, visible: Int32Array, shift: number): void {
    const { backend, kernels: k, threads, r, dv1, stateSize } = this;
    const { length, valueDim, exponential } = this.settings;
    const rows = BACKWARD_BLOCK_ROWS;
    const pool = backend.pool!;
    const perThreadTensors = this.projectionGradients.tensorsPerThread(h, threads);
    writeInts(backend, this.keyPositions, visible);
    const keyBounds = splitEvenly(Math.ceil(visible.length / rows), threads);
    const keyPositions = (b: number) => this.keyPositions + b * rows * 4;
    const keyCount = (b: number) => Math.min(rows, visible.length - b * rows);

    // B: query blocks. Q̄′ = ĜTᵀ and each thread's T̄_t = Σ Q′ᵀĜ in its rg.
    const queryBounds = splitEvenly(Math.ceil(length / rows), threads);
    const stepB = split(backend, threads, (t) => {
      const s = this.perThread[t];
      const ht = perThreadTensors[t];
      for (let b = queryBounds[t]; b < queryBounds[t + 1]; b++) {
        const i0 = b * rows;
        const count = Math.min(rows, length - i0);
        const positions = this.queryPositions + i0 * 4;
        s.query.compute(h.q, h.ldq, positions, count, h.projection);
        k.product(count, dv1, r, s.query.f, r, false, this.total, dv1, false, 0, s.num, dv1);
        k.outputGradient(count, valueDim, s.num, dv1, h.g + i0 * h.ldg * 4, h.ldg, s.gh, dv1);
        k.product(r, dv1, count, s.query.f, r, true, s.gh, dv1, false, b === queryBounds[t] ? 0 : 1, s.rg, dv1);
        k.product(count, r, dv1, s.gh, dv1, false, this.total, dv1, true, 0, s.dqf, r);
        s.query.backward(count, s.dqf, r, h.projection, ht.dprojection);
        scatterInputGradient(k, s.query, positions, count, h.dq, h.lddq);
      }
    });
    pool.run(stepB.tasks, stepB.own);

    const totalGradient = new Float64Array(stateSize);
    for (let t = 0; t < threads; t++) {
      if (queryBounds[t] === queryBounds[t + 1]) continue;
      const part = backend.f32(this.perThread[t].rg, stateSize);
      for (let i = 0; i < stateSize; i++) totalGradient[i] += part[i];
    }
    backend.f32(this.totalGradient, stateSize).set(totalGradient);

    // C: key blocks at the shift S of T. K̄′ = [V 1]·T̄ᵀ, Ū = K′T̄.
    const keyShift = exponential && shift !== -Infinity ? shift : undefined;
    const stepC = split(backend, threads, (t) => {
      const s = this.perThread[t];
      const ht = perThreadTensors[t];
      for (let b = keyBounds[t]; b < keyBounds[t + 1]; b++) {
        const count = keyCount(b);
        const positions = keyPositions(b);
        s.key.compute(h.k, h.ldk, positions, count, h.projection, keyShift);
        k.gather(count, positions, h.v, h.ldv, valueDim, 1, s.u, dv1, 1);
        k.product(count, r, dv1, s.u, dv1, false, this.totalGradient, dv1, true, 0, s.dkf, r);
        k.product(count, valueDim, r, s.key.f, r, false, this.totalGradient, dv1, false, 0, s.du, dv1);
        s.key.backward(count, s.dkf, r, h.projection, ht.dprojection);
        scatterInputGradient(k, s.key, positions, count, h.dk, h.lddk);
        k.scatter(count, positions, s.du, dv1, valueDim, 1, h.dv, h.lddv, 0);
      }
    });
    pool.run(stepC.tasks, stepC.own);

    this.projectionGradients.reduce(h);
  }
}

/** One thread's scratch for the query side of a causal chunk. */
interface CausalThreadScratch {
  query: FeatureRows;
  p: number;
  pbar: number;
  gh: number;
  dqf: number;
  zs: number;
}

/**
 * The causal backward pass in segments (pass 1 and steps (a) to (e) in the
 * file header). The scratch is allocated once per op call for one segment
 * and reused for every segment and head.
 */
export class ParallelCausalBackward implements ParallelBackward {
  private readonly threads: number;
  private readonly r: number;
  private readonly dv1: number;
  private readonly stateSize: number;
  /** Chunks per segment. */
  private readonly segment: number;
  private readonly perThread: CausalThreadScratch[] = [];
  /** Per chunk of a segment: key rows (inputs, features and their gradient scratch). */
  private readonly keys: FeatureRows[] = [];
  /** Per chunk slot: [V 1] (chunk×(dv+1)). */
  private readonly values: number;
  /** Per chunk slot: P̄ᵀQ′ and then K̄′ (chunk×r). */
  private readonly keyGradients: number;
  /** Per chunk slot: PᵀĜ and then Ū (chunk×(dv+1)). */
  private readonly valueGradients: number;
  /** Per chunk slot: P_c, then the start state T0_c at σ_c, then R after the chunk at σ_c (r×(dv+1)). */
  private readonly startStates: number;
  /** Per chunk slot: the chunk's term Q′_cᵀĜ_c of R (r×(dv+1)). */
  private readonly stateGradients: number;
  /** R after the chunks walked so far (r×(dv+1)). */
  private readonly gradient: number;
  private readonly addScaled: (n: number, alpha: number, x: number, y: number) => void;
  private readonly queryPositions: number;
  private readonly keyPositions: number;
  private readonly projectionGradients: ProjectionGradients;

  constructor(
    private readonly backend: WasmBackend,
    scope: Scope,
    private readonly kernels: BackwardKernels,
    private readonly settings: ParallelBackwardSettings,
    private readonly chunk: number,
  ) {
    const { features, valueDim, length, inputScale } = settings;
    this.threads = backend.threads;
    this.r = features.query.outputs;
    this.dv1 = valueDim + 1;
    this.stateSize = this.r * this.dv1;
    this.segment = Math.min(segmentChunks(chunk, this.threads), Math.ceil(length / chunk));
    const { r, dv1, segment, stateSize } = this;
    for (let t = 0; t < this.threads; t++) {
      this.perThread.push({
        query: new FeatureRows(kernels, scope, features.query, chunk, inputScale),
        p: scope.allocF32(chunk * chunk),
        pbar: scope.allocF32(chunk * chunk),
        gh: scope.allocF32(chunk * dv1),
        dqf: scope.allocF32(chunk * r),
        zs: scope.allocF32(r),
      });
    }
    for (let c = 0; c < segment; c++) this.keys.push(new FeatureRows(kernels, scope, features.key, chunk, inputScale));
    this.values = scope.allocF32(segment * chunk * dv1);
    this.keyGradients = scope.allocF32(segment * chunk * r);
    this.valueGradients = scope.allocF32(segment * chunk * dv1);
    this.startStates = scope.allocF32(segment * stateSize);
    this.stateGradients = scope.allocF32(segment * stateSize);
    this.gradient = scope.allocF32(stateSize);
    this.addScaled = backend.kernel("f32_state_add_scaled");
    this.queryPositions = scope.allocBytes(segment * chunk * 4);
    this.keyPositions = scope.allocBytes(segment * chunk * 4);
    this.projectionGradients = new ProjectionGradients(backend, scope, this.threads, settings.projectionSize, settings.projectionGradient);
  }

  runHead(h: HeadTensors, visible: Int32Array, state: RunningState | null): void {
    if (state === null) throw new Error("favor-wasm: the causal backward pass needs a running state; this is a bug in favor-wasm");
    this.endState(h, visible, state);
    this.walk(h, visible, state);
  }

  /** Pass 1: resets `state` and adds every chunk's product in chunk order, leaving the state after the last chunk. */
  endState(h: HeadTensors, visible: Int32Array, state: RunningState): void {
    const bounds = this.keyBounds(visible);
    const chunks = bounds.length - 1;
    state.reset();
    for (let first = 0; first < chunks; first += this.segment) {
      const last = Math.min(first + this.segment, chunks);
      const shifts = this.chunkProducts(h, visible, bounds, first, last);
      const products: number[] = [];
      const productShifts: number[] = [];
      for (let c = first; c < last; c++) {
        if (bounds[c + 1] === bounds[c]) continue;
        products.push(this.slot(this.startStates, c - first));
        productShifts.push(shifts[c - first]);
      }
      if (state instanceof CompensatedState) {
        // The same additions as add, split over the threads by state elements.
        state.addInRanges(products, productShifts, (body) => this.runElementRanges(body));
      } else {
        for (let i = 0; i < products.length; i++) state.add(products[i], productShifts[i], 1);
      }
    }
  }

  /** Runs body(from, to) on every thread for its range of the state's elements (ranges start at multiples of 4). */
  private runElementRanges(body: (from: number, to: number) => void): void {
    const { backend, threads, stateSize } = this;
    const bounds = splitEvenly(Math.ceil(stateSize / 4), threads).map((quads) => Math.min(4 * quads, stateSize));
    const tasks: KernelCall[][] = [[]];
    for (let t = 1; t < threads; t++) {
      tasks.push(bounds[t + 1] > bounds[t] ? backend.record(() => body(bounds[t], bounds[t + 1])) : []);
    }
    backend.pool!.run(tasks, () => {
      if (bounds[1] > bounds[0]) body(bounds[0], bounds[1]);
    });
  }

  /**
   * Pass 2: walks the chunks in reverse from the end state in `state`,
   * writing dq, dk, dv and this head's share of the projection gradient.
   */
  walk(h: HeadTensors, visible: Int32Array, state: RunningState): void {
    const perThreadTensors = this.projectionGradients.tensorsPerThread(h, this.threads);
    const bounds = this.keyBounds(visible);
    const chunks = bounds.length - 1;
    // R after the chunks walked so far is in `gradient`, at the shift of the last of them (NaN before the first).
    this.backend.f32(this.gradient, this.stateSize).fill(0);
    const carried = { shift: NaN };
    const segments = Math.ceil(chunks / this.segment);
    for (let index = segments - 1; index >= 0; index--) {
      const first = index * this.segment;
      const last = Math.min(first + this.segment, chunks);
      this.walkSegment(h, perThreadTensors, visible, bounds, first, last, state, carried);
    }
    this.projectionGradients.reduce(h);
  }

  /** Returns keyBounds with chunk c's visible keys at visible[keyBounds[c]] … visible[keyBounds[c + 1] − 1]. */
  private keyBounds(visible: Int32Array): Int32Array {
    const { chunk } = this;
    const length = this.settings.length;
    const chunks = Math.ceil(length / chunk);
    const bounds = new Int32Array(chunks + 1);
    for (let c = 0, j = 0; c < chunks; c++) {
      const end = Math.min((c + 1) * chunk, length);
      while (j < visible.length && visible[j] < end) j++;
      bounds[c + 1] = j;
    }
    return bounds;
  }

  /** Returns the byte pointer of chunk slot `slot` in a per-slot buffer of stateSize floats. */
  private slot(buffer: number, slot: number): number {
    return buffer + slot * this.stateSize * 4;
  }

  /**
   * Writes the position lists of chunks [first, last), and computes in
   * parallel each chunk's key features (at its own shift), [V 1] and P_c
   * (in its startStates slot) with chunkProduct, as keyBlockProduct does. Returns
   * the shifts b_c (0 for kinds without an exponent), indexed from first.
   */
  private chunkProducts(h: HeadTensors, visible: Int32Array, bounds: Int32Array, first: number, last: number): number[] {
    const { backend, kernels: k, chunk, dv1, threads } = this;
    const { length, valueDim, exponential } = this.settings;
    const start = first * chunk;
    const end = Math.min(last * chunk, length);
    writeInts(backend, this.queryPositions, Int32Array.from({ length: end - start }, (_, i) => start + i));
    writeInts(backend, this.keyPositions, visible.subarray(bounds[first], bounds[last]));

    const ranges = splitEvenly(last - first, threads);
    const tickets: Ticket[] = [];
    const step = split(backend, threads, (t) => {
      const zs = this.perThread[t].zs;
      for (let c = first + ranges[t]; c < first + ranges[t + 1]; c++) {
        const count = bounds[c + 1] - bounds[c];
        if (count === 0) continue;
        const key = this.keys[c - first];
        const positions = this.keyPositions + (bounds[c] - bounds[first]) * 4;
        const values = this.values + (c - first) * chunk * dv1 * 4;
        const product = this.slot(this.startStates, c - first);
        // The shift is read through the ticket; chunkProduct's exponential flag is applied below.
        tickets[c - first] = { thread: t, value: chunkProduct(k, key, h, positions, count, valueDim, values, product, zs, true) };
      }
    });
    const results = backend.pool!.run(step.tasks, step.own);
    const shifts: number[] = [];
    for (let c = first; c < last; c++) {
      const ticket = tickets[c - first];
      if (ticket === undefined) {
        shifts.push(-Infinity);
      } else {
        shifts.push(exponential ? recordedResult(ticket.value, results[ticket.thread]) : 0);
      }
    }
    return shifts;
  }

  /** Runs steps (a) to (e) for chunks [first, last), carrying R to the segment before. */
  private walkSegment(
    h: HeadTensors, perThreadTensors: HeadTensors[], visible: Int32Array, bounds: Int32Array, first: number, last: number,
    state: RunningState, carried: { shift: number },
  ): void {
    const { backend, kernels: k, chunk, r, dv1, threads, stateSize } = this;
    const { length, valueDim: dv, exponential } = this.settings;
    const pool = backend.pool!;
    const ranges = splitEvenly(last - first, threads);
    const keyCount = (c: number) => bounds[c + 1] - bounds[c];
    const keyPositions = (c: number) => this.keyPositions + (bounds[c] - bounds[first]) * 4;
    const values = (c: number) => this.values + (c - first) * chunk * dv1 * 4;
    const keyGradient = (c: number) => this.keyGradients + (c - first) * chunk * r * 4;
    const valueGradient = (c: number) => this.valueGradients + (c - first) * chunk * dv1 * 4;
    const startState = (c: number) => this.slot(this.startStates, c - first);
    const stateGradient = (c: number) => this.slot(this.stateGradients, c - first);

    // (a) K′_c, [V_c 1] and P_c.
    const blockShifts = this.chunkProducts(h, visible, bounds, first, last);

    // (b) The start states, chunks in reverse: subtract P_c, pick σ_c, read T0_c at σ_c over P_c.
    const shifts = new Float64Array(last - first);
    for (let c = last - 1; c >= first; c--) {
      const blockShift = blockShifts[c - first];
      if (keyCount(c) > 0) state.add(startState(c), blockShift, -1);
      const shift = chunkShift(state, blockShift, exponential);
      state.read(shift, startState(c));
      shifts[c - first] = shift;
    }

    // (c) Per chunk: Ĝ, P̄, Q̄′ and dq; P̄ᵀQ′ and PᵀĜ; the chunk's term Q′ᵀĜ of R.
    const stepC = split(backend, threads, (t) => {
      const s = this.perThread[t];
      const ht = perThreadTensors[t];
      for (let c = first + ranges[t]; c < first + ranges[t + 1]; c++) {
        const start = c * chunk;
        const rows = Math.min(chunk, length - start);
        const keys = keyCount(c);
        const key = this.keys[c - first];
        const t0 = startState(c);
        const qf = s.query.f;
        const kf = key.f;
        const queryPositions = this.queryPositions + (start - first * chunk) * 4;
        if (keys > 0 && exponential) key.scaleFeatures(keys, Math.exp(blockShifts[c - first] - shifts[c - first]));
        s.query.compute(h.q, h.ldq, queryPositions, rows, h.projection);

        chunkGradientWithoutR(k, s, h, start, rows, keys, dv, kf, keyPositions(c), values(c), t0, keyGradient(c), valueGradient(c));

        // The chunk's term of R: Q′ᵀĜ, its last column as weighted column sums.
        k.product(r, dv, rows, qf, r, true, s.gh, dv1, false, 0, stateGradient(c), dv1);
        k.columnSums(rows, r, qf, r, s.gh + dv * 4, dv1, 0, stateGradient(c) + dv * 4, dv1, s.zs);

        s.query.backward(rows, s.dqf, r, h.projection, ht.dprojection);
        scatterInputGradient(k, s.query, queryPositions, rows, h.dq, h.lddq);
      }
    });
    pool.run(stepC.tasks, stepC.own);

    // (d) R after each chunk, chunks in reverse, with the kernels of the
    // single-threaded walk: it is copied into the chunk's startStates slot
    // (T0_c is no longer needed), then the chunk's term is added.
    for (let c = last - 1; c >= first; c--) {
      const shift = shifts[c - first];
      if (!Number.isNaN(carried.shift) && shift !== carried.shift) {
        k.scale(stateSize, this.gradient, Math.exp(shift - carried.shift));
      }
      backend.f32(startState(c), stateSize).set(backend.f32(this.gradient, stateSize));
      this.addScaled(stateSize, 1, stateGradient(c), this.gradient);
      carried.shift = shift;
    }

    // (e) Per chunk with keys: K̄′ += [V 1]·Rᵀ, Ū += K′R, dk and dv.
    const stepE = split(backend, threads, (t) => {
      const ht = perThreadTensors[t];
      for (let c = first + ranges[t]; c < first + ranges[t + 1]; c++) {
        const keys = keyCount(c);
        if (keys === 0) continue;
        const key = this.keys[c - first];
        const after = startState(c);
        k.product(keys, r, dv1, values(c), dv1, false, after, dv1, true, 1, keyGradient(c), r);
        k.product(keys, dv, r, key.f, r, false, after, dv1, false, 1, valueGradient(c), dv1);
        key.backward(keys, keyGradient(c), r, h.projection, ht.dprojection);
        scatterInputGradient(k, key, keyPositions(c), keys, h.dk, h.lddk);
        k.scatter(keys, keyPositions(c), valueGradient(c), dv1, dv, 1, h.dv, h.lddv, 0);
      }
    });
    pool.run(stepE.tasks, stepE.own);
  }
}
