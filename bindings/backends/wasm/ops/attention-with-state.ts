// Runs attentionWithState: FAVOR+ attention that also returns, per batch
// item and head, the state after the last key, so that attentionBackward
// can start from it instead of recomputing it.
//
// The causal loop is the one the backward pass and the SLiM runner use:
// each chunk's key features at the chunk's own shift b_c, its product
// P_c = K′_cᵀ[V_c 1] (keyBlockProduct), the outputs from the start state
// read at σ_c = max(b_c, log of the state's largest entry)
// (causalChunkForward), and then P_c added to a compensated float64 state.
// The backward pass computes every P_c with the same kernels from the same
// inputs, so subtracting them from this end state gives back each chunk's
// start state, as its own first pass would. Bidirectional attention keeps
// T = K′ᵀ[V 1] at the running key shift (float32), as the backward pass's
// pass A computes it.
//
// On a threaded backend, causal calls that the attention op would split
// over the threads run in its chunk-parallel form (threads/causal.ts). That
// form then computes the chunk products with the backward pass's kernels
// and adds them to the compensated end state in chunk order. Bidirectional
// calls, hybrid and projection-free maps run on the calling thread.

import { featureOutputs, headRows } from "../../../api/attention.js";
import { END_STATE_KIND, endStateChecksum, type AttentionEndState, type AttentionWithState, type AttentionWithStatePlan } from "../../../api/backward.js";
import { EXPONENTIAL_KINDS } from "../../../api/features.js";
import type { Scope, WasmBackend } from "../backend.js";
import { ParallelCausal, useParallelCausal } from "../threads/causal.js";
import { favorFeatures } from "./favor-features.js";
import {
  BACKWARD_BLOCK_ROWS,
  BackwardKernels,
  BackwardScratch,
  CompensatedState,
  bidirectionalKeyState,
  causalChunkForward,
  headTensors,
  keyBlockProduct,
  readChunkStart,
  residentProjection,
  type HeadTensors,
} from "./attention-backward.js";
import { hybridProjectionRows } from "./hybrid-backward.js";
import { visibleRows } from "./linear-attention.js";

/** Runs a validated attentionWithState call. */
export function runAttentionWithState(backend: WasmBackend, plan: AttentionWithStatePlan): AttentionWithState {
  const { shape, features, causal } = plan;
  const { batch, heads, length, dim, valueDim } = shape;
  const r = featureOutputs(features);
  const stateSize = r * (valueDim + 1);
  const slots = batch * heads;
  const hi = causal ? new Float64Array(slots * stateSize) : new Float32Array(slots * stateSize);
  const lo = new Float64Array(causal ? slots * stateSize : 0);
  const shifts = new Float64Array(slots);
  backend.withScope(plan.op, (scope) => {
    if (causal && backend.threads > 1 && runParallelCausal(backend, scope, plan, hi as Float64Array, lo, shifts)) return;
    const ptrs = { q: scope.copyIn(plan.q), k: scope.copyIn(plan.k), v: scope.copyIn(plan.v), g: 0, dq: 0, dk: 0, dv: 0 };
    const out = scope.allocF32(plan.out.length);
    const projection = residentProjection(backend, scope, features, heads);
    const hybrid = features.hybrid;
    const m = hybrid !== null ? hybridProjectionRows(hybrid.query) : features.query.features;
    const perHead = hybrid !== null ? hybrid.perHead : features.perHead;
    const kernels = new BackwardKernels(backend);
    const rows = causal ? Math.min(plan.chunk, length) : BACKWARD_BLOCK_ROWS;
    const scratch = new BackwardScratch(kernels, scope, features, rows, valueDim, Math.fround(dim ** -0.25), causal);
    const state = causal ? new CompensatedState(kernels, scope, stateSize) : null;
    const exponential = EXPONENTIAL_KINDS.includes(features.key.kind);

    for (let item = 0; item < batch; item++) {
      const visible = visibleRows(shape, item);
      for (let head = 0; head < heads; head++) {
        const slot = item * heads + head;
        const h = headTensors(shape, item, head, ptrs, projection === 0 ? 0 : projection + (perHead ? head * m * dim * 4 : 0), 0);
        const o = headRows(shape, item, head, length, valueDim);
        if (state !== null) {
          causalHeadForward(scratch, h, state, exponential, visible, length, rows, out + o.offset * 4, o.ld);
          shifts[slot] = state.exportTo(hi as Float64Array, lo, slot * stateSize);
        } else {
          shifts[slot] = bidirectionalKeyState(scratch, h, exponential, visible);
          (hi as Float32Array).set(backend.f32(scratch.t0, stateSize), slot * stateSize);
          bidirectionalOutputs(scratch, h, length, out + o.offset * 4, o.ld);
        }
      }
    }
    plan.out.set(backend.f32(out, plan.out.length));
  });
  const checksum = endStateChecksum(hi, lo, shifts);
  const endState: AttentionEndState = { kind: END_STATE_KIND, causal, signature: Object.freeze(plan.signature), stateSize, hi, lo, shifts, checksum };
  return { out: plan.out, endState: Object.freeze(endState) };
}

/**
 * Runs causal attentionWithState on the thread pool (threads/causal.ts with
 * the end state) when the attention op would run there, and returns false
 * otherwise. The checks before the feature source mirror useParallelCausal,
 * so a call that stays on one thread copies nothing here.
 */
function runParallelCausal(
  backend: WasmBackend, scope: Scope, plan: AttentionWithStatePlan, hi: Float64Array, lo: Float64Array, shifts: Float64Array,
): boolean {
  const { shape, features } = plan;
  const { length, valueDim } = shape;
  const chunk = Math.min(plan.chunk, length);
  if (features.hybrid !== null || features.query.features === 0 || Math.ceil(length / chunk) < 2 * backend.threads) return false;
  const source = favorFeatures(backend, shape, plan.q, plan.k, features)(scope);
  if (!useParallelCausal(backend, source, length, chunk)) return false;
  const v = scope.copyIn(plan.v);
  const out = scope.allocF32(plan.out.length);
  const stateSize = featureOutputs(features) * (valueDim + 1);
  const state = new CompensatedState(new BackwardKernels(backend), scope, stateSize);
  const parallel = new ParallelCausal(backend, scope, source, valueDim, length, chunk, state);
  for (let item = 0; item < shape.batch; item++) {
    const visible = visibleRows(shape, item);
    for (let head = 0; head < shape.heads; head++) {
      const slot = item * shape.heads + head;
      source.selectHead(item, head);
      state.reset();
      const vRows = headRows(shape, item, head, shape.keyLength, valueDim);
      const outRows = headRows(shape, item, head, length, valueDim);
      parallel.runHead(visible, v + vRows.offset * 4, vRows.ld, out + outRows.offset * 4, outRows.ld);
      shifts[slot] = state.exportTo(hi, lo, slot * stateSize);
    }
  }
  plan.out.set(backend.f32(out, plan.out.length));
  return true;
}

/** Causal attention of one head in chunks, leaving the end state in `state`. */
function causalHeadForward(
  s: BackwardScratch, h: HeadTensors, state: CompensatedState, exponential: boolean,
  visible: Int32Array, length: number, chunk: number, out: number, ldo: number,
): void {
  state.reset();
  for (let start = 0, j = 0; start < length; start += chunk) {
    const rows = Math.min(chunk, length - start);
    const from = j;
    while (j < visible.length && visible[j] < start + rows) j++;
    const keys = j - from;
    let blockShift = -Infinity;
    if (keys > 0) {
      s.writePositions(s.keyPositions, visible, from, keys);
      blockShift = keyBlockProduct(s, h, exponential, keys);
    }
    readChunkStart(s, state, blockShift, keys, exponential);
    causalChunkForward(s, h, start, rows, keys, out, ldo);
    if (keys > 0) state.add(s.pc, blockShift, 1);
  }
}

/** Bidirectional outputs of one head from T in s.t0, in blocks of query rows. */
function bidirectionalOutputs(s: BackwardScratch, h: HeadTensors, length: number, out: number, ldo: number): void {
  const k = s.kernels;
  const { r, dv1, rows: block } = s;
  for (let i0 = 0; i0 < length; i0 += block) {
    const count = Math.min(block, length - i0);
    s.writeRange(s.queryPositions, i0, count);
    s.query.compute(h.q, h.ldq, s.queryPositions, count, h.projection);
    k.product(count, dv1, r, s.query.f, r, false, s.t0, dv1, false, 0, s.num, dv1);
    k.divide(count, s.valueDim, s.num, dv1, out + i0 * ldo * 4, ldo);
  }
}
