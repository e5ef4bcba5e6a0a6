// Linear attention on feature matrices, the part of FAVOR+ after the feature
// map. For one head with query features Q′ (length×r), key features K′
// (keyLength×r) and values V (keyLength×dv):
//   bidirectional: T = K′ᵀ[V 1] (r×(dv+1)), [num den] = Q′T, out = num/den;
//   causal:        out_i = Σ_{j<=i} (q′_i·k′_j)[v_j 1] split the same way.
// Causal attention runs in chunks of C positions: inside a chunk the masked
// product tril(Q′_c K′_cᵀ)·[V_c 1], across chunks the running state
// T = Σ k′_j[v_j 1]ᵀ, so out_c = Q′_c·T + tril(Q′_c K′_cᵀ)·[V_c 1]. Every
// product goes through f32_gemm (the masked one through
// f32_attention_masked_product), and memory beyond the inputs and the output
// is a few blocks of rows plus T, whatever the length.
//
// Stabilizers. A FeatureSource may return key features scaled by exp(−s)
// for a shift s of its choosing per block (the largest exponent of the
// block, so that nothing overflows). The state T always holds features at
// one running shift S, the largest block shift so far: a block with s < S is
// multiplied by exp(s − S), and when s > S the state is multiplied by
// exp(S − s) first. Query features carry a per-row factor. Both factors are
// common to a row's numerator and denominator, so they cancel in out =
// num/den without any additive ε.
//
// Denominator guard: a row whose den is not above 2^-126 (zero, negative,
// or subnormal) is written as zeros (f32_attention_divide_rows).

import { headRows, type AttentionShape } from "../../../api/attention.js";
import type { Scope, WasmBackend } from "../backend.js";
import { ParallelBidirectional, useParallelBidirectional } from "../threads/bidirectional.js";
import { ParallelCausal, useParallelCausal } from "../threads/causal.js";

type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;
type GatherKernel = (
  count: number, index: number, src: number, lds: number, cols: number, scale: number,
  dst: number, ldd: number, ones: number,
) => void;
type MaskedProductKernel = (
  rows: number, queryStart: number, keys: number, keyPos: number,
  a: number, lda: number, b: number, ldb: number, n: number, c: number, ldc: number,
) => void;
type DivideKernel = (rows: number, n: number, num: number, ldn: number, out: number, ldo: number) => void;
type ScaleKernel = (n: number, x: number, scale: number) => void;
type ReciprocalKernel = (n: number, x: number) => void;

/**
 * Rows per block of the bidirectional form and of attentionScores. The
 * scratch is about 2·BLOCK_ROWS·(r + dv + dim) floats (1.5 MiB for r = 256,
 * dv = dim = 64); larger blocks were not faster in bench/attention.mjs on
 * the 2-core development machine, whose load made timings vary by ±40%.
 */
export const BLOCK_ROWS = 512;

/**
 * Computes feature rows inside an op's scope. Positions are row indices of
 * the current head, in an i32 buffer of WASM memory.
 */
export interface FeatureSource {
  /** Features per row (r). */
  readonly outputs: number;
  /** Allocates the scratch for blocks of up to `rows` rows; called once, before anything else. */
  allocate(scope: Scope, rows: number): void;
  /** Makes the following calls read the rows of this batch item and head. */
  selectHead(item: number, head: number): void;
  /** Writes the query features of the listed rows into out (count×r, contiguous). */
  queryFeatures(positions: number, count: number, out: number): void;
  /**
   * Writes the key features of the listed rows, multiplied by exp(−shift),
   * into out (count×r) and returns shift: the given one, or one the source
   * chooses. Sources without a stabilizer return 0.
   */
  keyFeatures(positions: number, count: number, out: number, shift?: number): number;
  /**
   * True when the methods above only call kernels through backend.kernel and
   * touch memory no other way, so their calls can be recorded and run on a
   * worker thread (threads/causal.ts).
   */
  readonly recordable?: boolean;
}

/** What runLinearAttention needs besides the feature source. */
export interface LinearAttentionJob {
  op: string;
  shape: AttentionShape;
  v: Float32Array;
  out: Float32Array;
  causal: boolean;
  /** Positions per causal chunk. */
  chunk: number;
}

/** The state of one head: T = Σ k′_j[v_j 1]ᵀ at a running key shift. */
export interface HeadState {
  /** r×(dv+1) floats in WASM memory. */
  t: number;
  /** The running shift S of the key features in T; −Infinity while T is empty. */
  shift: number;
}

/** Kernels and scratch buffers shared by the loops below. */
export class LinearAttentionContext {
  readonly gemm: GemmKernel;
  readonly gather: GatherKernel;
  readonly maskedProduct: MaskedProductKernel;
  readonly divide: DivideKernel;
  readonly scale: ScaleKernel;
  readonly r: number;
  readonly dv: number;
  readonly rows: number;
  readonly queryFeatures: number;
  readonly keyFeatures: number;
  readonly values: number;
  readonly numerators: number;
  readonly products: number;
  readonly queryPositions: number;
  readonly keyPositions: number;

  constructor(
    readonly backend: WasmBackend,
    scope: Scope,
    readonly source: FeatureSource,
    valueDim: number,
    rows: number,
    causalRows: number,
  ) {
    this.gemm = backend.kernel<GemmKernel>("f32_gemm");
    this.gather = backend.kernel<GatherKernel>("f32_attention_gather_rows");
    this.maskedProduct = backend.kernel<MaskedProductKernel>("f32_attention_masked_product");
    this.divide = backend.kernel<DivideKernel>("f32_attention_divide_rows");
    this.scale = backend.kernel<ScaleKernel>("f32_attention_scale");
    this.r = source.outputs;
    this.dv = valueDim;
    this.rows = rows;
    source.allocate(scope, rows);
    this.queryFeatures = scope.allocF32(rows * this.r);
    this.keyFeatures = scope.allocF32(rows * this.r);
    this.values = scope.allocF32(rows * (valueDim + 1));
    this.numerators = scope.allocF32(rows * (valueDim + 1));
    this.products = scope.allocF32(causalRows * causalRows);
    this.queryPositions = scope.allocBytes(rows * 4);
    this.keyPositions = scope.allocBytes(rows * 4);
  }

  /** Writes row indices into one of the position buffers. */
  writePositions(ptr: number, positions: ArrayLike<number>, from: number, count: number): void {
    const view = new Int32Array(this.backend.exports.memory.buffer, ptr, count);
    for (let i = 0; i < count; i++) view[i] = positions[from + i];
  }

  /** Writes the consecutive row indices start … start + count − 1. */
  writeRange(ptr: number, start: number, count: number): void {
    const view = new Int32Array(this.backend.exports.memory.buffer, ptr, count);
    for (let i = 0; i < count; i++) view[i] = start + i;
  }

  /** Computes the key features of the listed keys and brings them and the state to one shift. */
  keysAtStateShift(state: HeadState, count: number): void {
    const blockShift = this.source.keyFeatures(this.keyPositions, count, this.keyFeatures);
    if (blockShift > state.shift) {
      // exp(−Infinity) would be 0, and T is empty then anyway.
      if (state.shift !== -Infinity) this.scale(this.r * (this.dv + 1), state.t, Math.exp(state.shift - blockShift));
      state.shift = blockShift;
    } else if (blockShift < state.shift) {
      this.scale(count * this.r, this.keyFeatures, Math.exp(blockShift - state.shift));
    }
  }

  /** Gathers [v_j 1] for the listed keys into the values buffer. */
  gatherValues(v: number, ldv: number, count: number): void {
    this.gather(count, this.keyPositions, v, ldv, this.dv, 1, this.values, this.dv + 1, 1);
  }

  /** T += K′ᵀ[V 1] for the keys now in the key buffers. */
  accumulate(state: HeadState, count: number): void {
    const { r, dv } = this;
    this.gemm(1, r, dv + 1, count, 1, this.keyFeatures, r, 0, 1, this.values, dv + 1, 0, 0, 1, state.t, dv + 1, 0);
  }
}

/** Bidirectional attention for one head: accumulate T over key blocks, then form outputs block by block. */
export function bidirectionalHead(
  ctx: LinearAttentionContext, state: HeadState, visible: Int32Array, length: number,
  v: number, ldv: number, out: number, ldo: number,
): void {
  const { r, dv, rows } = ctx;
  for (let j0 = 0; j0 < visible.length; j0 += rows) {
    const count = Math.min(rows, visible.length - j0);
    ctx.writePositions(ctx.keyPositions, visible, j0, count);
    ctx.keysAtStateShift(state, count);
    ctx.gatherValues(v, ldv, count);
    ctx.accumulate(state, count);
  }
  for (let i0 = 0; i0 < length; i0 += rows) {
    const count = Math.min(rows, length - i0);
    ctx.writeRange(ctx.queryPositions, i0, count);
    ctx.source.queryFeatures(ctx.queryPositions, count, ctx.queryFeatures);
    // [num den] (count×(dv+1)) = Q′_block·T.
    ctx.gemm(1, count, dv + 1, r, 1, ctx.queryFeatures, r, 0, 0, state.t, dv + 1, 0, 0, 0, ctx.numerators, dv + 1, 0);
    ctx.divide(count, dv, ctx.numerators, dv + 1, out + i0 * ldo * 4, ldo);
  }
}

/**
 * Causal attention for the query rows [start, end) of one head, whose
 * visible keys among the same rows are keys[keyFrom … keyTo): the chunk step
 * out_c = Q′_c·T + tril(Q′_c K′_cᵀ)·[V_c 1], then T += K′_cᵀ[V_c 1].
 * end − start may not exceed the context's causal rows.
 */
export function causalChunk(
  ctx: LinearAttentionContext, state: HeadState, start: number, end: number,
  keys: Int32Array, keyFrom: number, keyTo: number,
  v: number, ldv: number, out: number, ldo: number,
): void {
  const { r, dv } = ctx;
  const count = end - start;
  const keyCount = keyTo - keyFrom;
  ctx.writeRange(ctx.queryPositions, start, count);
  ctx.source.queryFeatures(ctx.queryPositions, count, ctx.queryFeatures);
  if (keyCount > 0) {
    ctx.writePositions(ctx.keyPositions, keys, keyFrom, keyCount);
    ctx.keysAtStateShift(state, keyCount);
    ctx.gatherValues(v, ldv, keyCount);
  }
  // [num den] = Q′_c·T: the keys of earlier chunks (zero while T is empty).
  ctx.gemm(1, count, dv + 1, r, 1, ctx.queryFeatures, r, 0, 0, state.t, dv + 1, 0, 0, 0, ctx.numerators, dv + 1, 0);
  if (keyCount > 0) {
    // products (count×keyCount) = Q′_c·K′_cᵀ; only its causal part is read.
    ctx.gemm(1, count, keyCount, r, 1, ctx.queryFeatures, r, 0, 0, ctx.keyFeatures, r, 0, 1, 0, ctx.products, keyCount, 0);
    ctx.maskedProduct(count, start, keyCount, ctx.keyPositions, ctx.products, keyCount, ctx.values, dv + 1, dv + 1, ctx.numerators, dv + 1);
    ctx.accumulate(state, keyCount);
  }
  ctx.divide(count, dv, ctx.numerators, dv + 1, out + start * ldo * 4, ldo);
}

/** Causal attention for one head in chunks of `chunk` positions. */
export function causalHead(
  ctx: LinearAttentionContext, state: HeadState, visible: Int32Array, length: number, chunk: number,
  v: number, ldv: number, out: number, ldo: number,
): void {
  let keyFrom = 0;
  for (let start = 0; start < length; start += chunk) {
    const end = Math.min(start + chunk, length);
    let keyTo = keyFrom;
    while (keyTo < visible.length && visible[keyTo] < end) keyTo++;
    causalChunk(ctx, state, start, end, visible, keyFrom, keyTo, v, ldv, out, ldo);
    keyFrom = keyTo;
  }
}

/**
 * Implicit attention scores of one head, the column sums of D⁻¹Q′K′ᵀ
 * without forming it, in three passes over the rows:
 *   1. z = K′ᵀ1 (r) over the visible keys, at the running key shift S;
 *   2. n_i = q′_i·z, u = Σ_i q′_i/n_i (a row with n_i <= 2^-126 gets no
 *      weight, the same guard that makes its attention output 0);
 *   3. s_j = k′_j·u with the key features recomputed at the final S.
 * Every query row with weight sums to 1, so Σ_j s_j is the number of such
 * rows. Padded keys get 0. state.t holds z (r floats) and u holds r floats.
 */
export function scoresHead(
  ctx: LinearAttentionContext, state: HeadState, u: number, visible: Int32Array, length: number, scores: Float32Array,
): void {
  const { r, rows } = ctx;
  const reciprocal = ctx.backend.kernel<ReciprocalKernel>("f32_attention_reciprocal_rows");
  // Pass 1: state.t (r×1) = K′ᵀ·1, with the values buffer holding a column of ones.
  for (let j0 = 0; j0 < visible.length; j0 += rows) {
    const count = Math.min(rows, visible.length - j0);
    ctx.writePositions(ctx.keyPositions, visible, j0, count);
    ctx.keysAtStateShift(state, count);
    ctx.gather(count, ctx.keyPositions, 0, 0, 0, 1, ctx.values, 1, 1);
    ctx.gemm(1, r, 1, count, 1, ctx.keyFeatures, r, 0, 1, ctx.values, 1, 0, 0, 1, state.t, 1, 0);
  }
  // Pass 2: n = Q′z, then u = Q′ᵀ(1/n).
  ctx.backend.f32(u, r).fill(0);
  for (let i0 = 0; i0 < length; i0 += rows) {
    const count = Math.min(rows, length - i0);
    ctx.writeRange(ctx.queryPositions, i0, count);
    ctx.source.queryFeatures(ctx.queryPositions, count, ctx.queryFeatures);
    ctx.gemm(1, count, 1, r, 1, ctx.queryFeatures, r, 0, 0, state.t, 1, 0, 0, 0, ctx.numerators, 1, 0);
    reciprocal(count, ctx.numerators);
    ctx.gemm(1, r, 1, count, 1, ctx.queryFeatures, r, 0, 1, ctx.numerators, 1, 0, 0, 1, u, 1, 0);
  }
  // Pass 3: s = K′u at the final shift.
  scores.fill(0);
  for (let j0 = 0; j0 < visible.length; j0 += rows) {
    const count = Math.min(rows, visible.length - j0);
    ctx.writePositions(ctx.keyPositions, visible, j0, count);
    ctx.source.keyFeatures(ctx.keyPositions, count, ctx.keyFeatures, state.shift);
    ctx.gemm(1, count, 1, r, 1, ctx.keyFeatures, r, 0, 0, u, 1, 0, 0, 0, ctx.numerators, 1, 0);
    const values = ctx.backend.f32(ctx.numerators, count);
    for (let j = 0; j < count; j++) scores[visible[j0 + j]] = values[j];
  }
}

/** Lists the real keys of batch item `item` (all of them without a padding mask). */
export function visibleRows(shape: AttentionShape, item: number): Int32Array {
  const { keyLength, keyPaddingMask: mask } = shape;
  if (mask === null) return Int32Array.from({ length: keyLength }, (_, j) => j);
  const rows: number[] = [];
  for (let j = 0; j < keyLength; j++) if (mask[item * keyLength + j] === 0) rows.push(j);
  return Int32Array.from(rows);
}

/**
 * Runs linear attention for every batch item and head: copies V in,
 * allocates the output, the state and the scratch in one scope, and calls
 * the bidirectional or the chunked causal loop per head.
 */
export function runLinearAttention(
  backend: WasmBackend, job: LinearAttentionJob, makeSource: (scope: Scope) => FeatureSource,
): Float32Array {
  const { shape } = job;
  const dv = shape.valueDim;
  const length = shape.length;
  return backend.withScope(job.op, (scope) => {
    const v = scope.copyIn(job.v);
    const out = scope.allocF32(job.out.length);
    const source = makeSource(scope);
    const chunk = Math.min(job.chunk, length);
    const rows = job.causal ? chunk : BLOCK_ROWS;
    const ctx = new LinearAttentionContext(backend, scope, source, dv, rows, job.causal ? chunk : 0);
    const t = scope.allocF32(source.outputs * (dv + 1));
    let parallel: ParallelCausal | ParallelBidirectional | null = null;
    if (job.causal && useParallelCausal(backend, source, length, chunk)) {
      parallel = new ParallelCausal(backend, scope, source, dv, length, chunk);
    } else if (!job.causal && useParallelBidirectional(backend, source, length, shape.keyLength, BLOCK_ROWS)) {
      parallel = new ParallelBidirectional(backend, scope, source, dv, length, shape.keyLength, BLOCK_ROWS);
    }
    for (let item = 0; item < shape.batch; item++) {
      const visible = visibleRows(shape, item);
      for (let head = 0; head < shape.heads; head++) {
        source.selectHead(item, head);
        if (parallel !== null) {
          const vRows = headRows(shape, item, head, shape.keyLength, dv);
          const outRows = headRows(shape, item, head, length, dv);
          parallel.runHead(visible, v + vRows.offset * 4, vRows.ld, out + outRows.offset * 4, outRows.ld);
          continue;
        }
        backend.f32(t, source.outputs * (dv + 1)).fill(0);
        const state: HeadState = { t, shift: -Infinity };
        const vRows = headRows(shape, item, head, shape.keyLength, dv);
        const outRows = headRows(shape, item, head, length, dv);
        const vHead = v + vRows.offset * 4;
        const outHead = out + outRows.offset * 4;
        if (job.causal) {
          causalHead(ctx, state, visible, length, chunk, vHead, vRows.ld, outHead, outRows.ld);
        } else {
          bidirectionalHead(ctx, state, visible, length, vHead, vRows.ld, outHead, outRows.ld);
        }
      }
    }
    job.out.set(backend.f32(out, job.out.length));
    return job.out;
  });
}

/**
 * A FeatureSource that reads given feature matrices instead of computing a
 * map, for tests of the linear-attention loops. qf and kf hold the features
 * of every head in layout "bhld": [batch, heads, length, r] and
 * [batch, heads, keyLength, r]. Key features carry no shift.
 */
export function givenFeatures(
  backend: WasmBackend, shape: AttentionShape, qf: Float32Array, kf: Float32Array, r: number,
): (scope: Scope) => FeatureSource {
  return (scope) => {
    const q = scope.copyIn(qf);
    const k = scope.copyIn(kf);
    const gather = backend.kernel<GatherKernel>("f32_attention_gather_rows");
    let qHead = 0;
    let kHead = 0;
    return {
      outputs: r,
      recordable: true,
      allocate: () => {},
      selectHead: (item, head) => {
        qHead = q + (item * shape.heads + head) * shape.length * r * 4;
        kHead = k + (item * shape.heads + head) * shape.keyLength * r * 4;
      },
      queryFeatures: (positions, count, out) => gather(count, positions, qHead, r, r, 1, out, r, 0),
      keyFeatures: (positions, count, out) => {
        gather(count, positions, kHead, r, r, 1, out, r, 0);
        return 0;
      },
    };
  };
}

/** What runAttentionScores needs besides the feature source. */
export interface AttentionScoresJob {
  op: string;
  shape: AttentionShape;
  /** batch × heads × keyLength scores, overwritten. */
  out: Float32Array;
}

/** Computes the implicit attention scores of every batch item and head into job.out. */
export function runAttentionScores(
  backend: WasmBackend, job: AttentionScoresJob, makeSource: (scope: Scope) => FeatureSource,
): Float32Array {
  const { shape } = job;
  return backend.withScope(job.op, (scope) => {
    const source = makeSource(scope);
    const ctx = new LinearAttentionContext(backend, scope, source, 0, BLOCK_ROWS, 0);
    const z = scope.allocF32(source.outputs);
    const u = scope.allocF32(source.outputs);
    for (let item = 0; item < shape.batch; item++) {
      const visible = visibleRows(shape, item);
      for (let head = 0; head < shape.heads; head++) {
        source.selectHead(item, head);
        backend.f32(z, source.outputs).fill(0);
        const offset = (item * shape.heads + head) * shape.keyLength;
        scoresHead(ctx, { t: z, shift: -Infinity }, u, visible, shape.length, job.out.subarray(offset, offset + shape.keyLength));
      }
    }
    return job.out;
  });
}

/** What one streaming step needs besides the feature source: the new tokens' values and the output. */
export interface CausalStepJob {
  op: string;
  /** Shape of the new tokens: length = keyLength = tokens in this step. */
  shape: AttentionShape;
  v: Float32Array;
  out: Float32Array;
  /** Positions per chunk when a step brings many tokens. */
  chunk: number;
}

/**
 * The running state of causal attention for every batch item and head,
 * kept in JavaScript memory between steps: T (r×(dv+1)) and its key shift
 * per head. A step copies each head's state into WASM memory, runs the
 * chunked causal loop over the new tokens, and copies it back, so the
 * result equals one causal call over the whole sequence up to rounding.
 */
export class CausalStateStore {
  readonly t: Float32Array;
  readonly shifts: Float64Array;
  /** Tokens consumed so far. */
  position = 0;

  constructor(
    readonly batch: number,
    readonly heads: number,
    readonly outputs: number,
    readonly valueDim: number,
  ) {
    this.t = new Float32Array(batch * heads * outputs * (valueDim + 1));
    this.shifts = new Float64Array(batch * heads).fill(-Infinity);
  }

  /** Forgets every token: the next step starts a new sequence. */
  reset(): void {
    this.t.fill(0);
    this.shifts.fill(-Infinity);
    this.position = 0;
  }

  /** Runs one step and returns job.out. A step that throws leaves the state as it was. */
  step(backend: WasmBackend, job: CausalStepJob, makeSource: (scope: Scope) => FeatureSource): Float32Array {
    const { shape } = job;
    const size = this.outputs * (this.valueDim + 1);
    const nextT = this.t.slice();
    const nextShifts = this.shifts.slice();
    const result = backend.withScope(job.op, (scope) => {
      const v = scope.copyIn(job.v);
      const out = scope.allocF32(job.out.length);
      const source = makeSource(scope);
      const chunk = Math.min(job.chunk, shape.length);
      const ctx = new LinearAttentionContext(backend, scope, source, this.valueDim, chunk, chunk);
      const t = scope.allocF32(size);
      for (let item = 0; item < shape.batch; item++) {
        const visible = visibleRows(shape, item);
        for (let head = 0; head < shape.heads; head++) {
          const index = item * shape.heads + head;
          source.selectHead(item, head);
          backend.f32(t, size).set(nextT.subarray(index * size, (index + 1) * size));
          const state: HeadState = { t, shift: nextShifts[index] };
          const vRows = headRows(shape, item, head, shape.length, this.valueDim);
          const outRows = headRows(shape, item, head, shape.length, this.valueDim);
          causalHead(ctx, state, visible, shape.length, chunk, v + vRows.offset * 4, vRows.ld, out + outRows.offset * 4, outRows.ld);
          nextT.set(backend.f32(t, size), index * size);
          nextShifts[index] = state.shift;
        }
      }
      job.out.set(backend.f32(out, job.out.length));
      return job.out;
    });
    this.t.set(nextT);
    this.shifts.set(nextShifts);
    this.position += shape.length;
    return result;
  }
}
