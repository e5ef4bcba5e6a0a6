// Runs validated softmaxAttentionBackward plans: the gradient of exact
// attention softmax(scale·QKᵀ)V, streamed over tiles of TILE_QUERIES ×
// TILE_KEYS scores so that memory is O(length·dim). Like FlashAttention it
// recomputes the scores instead of storing them; the formulas are in
// assembly/attention/softmax-backward.ts.
// Per head, with key tiles in the outer loop:
//   pass A: S = scale·Q_b K_tᵀ and dP = G_b V_tᵀ per tile, folded into the
//           per-query statistics, which become lse and D;
//   pass B: the same tiles again, turned into P and dS, then
//           dV_t += Pᵀ G_b, dK_t += scale·dSᵀ Q_b, dQ_b += scale·dS K_t.
// Key tiles are gathered from the visible (unpadded) keys, so padded keys
// are never read and their gradients stay exactly 0. The tile products are
// f32_gemm calls; tiles a causal query block cannot see are skipped.

import type { SoftmaxAttentionBackwardPlan, SoftmaxAttentionGradients } from "../../../api/backward.js";
import { headRows } from "../../../api/attention.js";
import type { WasmBackend } from "../backend.js";
import { BackwardKernels } from "./attention-backward.js";
import { visibleRows } from "./linear-attention.js";

type StatsKernel = (
  rows: number, queryStart: number, keys: number, keyPos: number, causal: number,
  s: number, lds: number, dp: number, lddp: number, rowMax: number, rowSum: number, rowDot: number,
) => void;
type FinishKernel = (rows: number, rowMax: number, rowSum: number, rowDot: number) => void;
type ScoresKernel = (
  rows: number, queryStart: number, keys: number, keyPos: number, causal: number,
  s: number, lds: number, dp: number, lddp: number, lse: number, rowDot: number,
) => void;

/** Query rows per score tile. */
const TILE_QUERIES = 64;
/** Keys per score tile. */
const TILE_KEYS = 256;

/** Runs softmaxAttentionBackward for every batch item and head. */
export function runSoftmaxAttentionBackward(backend: WasmBackend, plan: SoftmaxAttentionBackwardPlan): SoftmaxAttentionGradients {
  const { shape, scale, causal } = plan;
  const { batch, heads, length, keyLength, dim, valueDim } = shape;
  const stats = backend.kernel<StatsKernel>("f32_softmax_backward_stats");
  const finish = backend.kernel<FinishKernel>("f32_softmax_backward_finish");
  const scores = backend.kernel<ScoresKernel>("f32_softmax_backward_scores");
  const k = new BackwardKernels(backend);
  return backend.withScope(plan.op, (scope) => {
    const q = scope.copyIn(plan.q);
    const kk = scope.copyIn(plan.k);
    const v = scope.copyIn(plan.v);
    const g = scope.copyIn(plan.gradOut);
    const dq = scope.allocF32(plan.q.length);
    const dk = scope.allocF32(plan.k.length);
    const dv = scope.allocF32(plan.v.length);
    const tileKeys = Math.min(TILE_KEYS, keyLength);
    const tileQueries = Math.min(TILE_QUERIES, length);
    const s = scope.allocF32(tileQueries * tileKeys);
    const dp = scope.allocF32(tileQueries * tileKeys);
    const kt = scope.allocF32(tileKeys * dim);
    const vt = scope.allocF32(tileKeys * valueDim);
    const dkt = scope.allocF32(tileKeys * dim);
    const dvt = scope.allocF32(tileKeys * valueDim);
    const keyPos = scope.allocBytes(tileKeys * 4);
    const rowMax = scope.allocF32(length);
    const rowSum = scope.allocF32(length);
    const rowDot = scope.allocF32(length);
    backend.f32(dq, plan.q.length).fill(0);
    backend.f32(dk, plan.k.length).fill(0);
    backend.f32(dv, plan.v.length).fill(0);

    for (let item = 0; item < batch; item++) {
      const visible = visibleRows(shape, item);
      for (let head = 0; head < heads; head++) {
        const qRows = headRows(shape, item, head, length, dim);
        const kRows = headRows(shape, item, head, keyLength, dim);
        const vRows = headRows(shape, item, head, keyLength, valueDim);
        const gRows = headRows(shape, item, head, length, valueDim);
        const qHead = q + qRows.offset * 4;
        const gHead = g + gRows.offset * 4;
        const dqHead = dq + qRows.offset * 4;

        /** Gathers key tile [j0, j0 + count) and returns the first query block that sees any of it. */
        const loadTile = (j0: number, count: number): number => {
          new Int32Array(backend.exports.memory.buffer, keyPos, count).set(visible.subarray(j0, j0 + count));
          k.gather(count, keyPos, kk + kRows.offset * 4, kRows.ld, dim, 1, kt, dim, 0);
          k.gather(count, keyPos, v + vRows.offset * 4, vRows.ld, valueDim, 1, vt, valueDim, 0);
          return causal ? Math.floor(visible[j0] / tileQueries) * tileQueries : 0;
        };
        /** S = scale·Q_b K_tᵀ and dP = G_b V_tᵀ for query rows [i0, i0 + rows). */
        const tile = (i0: number, rows: number, count: number): void => {
          k.product(rows, count, dim, qHead + i0 * qRows.ld * 4, qRows.ld, false, kt, dim, true, 0, s, count, scale);
          k.product(rows, count, valueDim, gHead + i0 * gRows.ld * 4, gRows.ld, false, vt, valueDim, true, 0, dp, count);
        };

        // Pass A: lse and D per query.
        backend.f32(rowMax, length).fill(-Infinity);
        backend.f32(rowSum, length).fill(0);
        backend.f32(rowDot, length).fill(0);
        for (let j0 = 0; j0 < visible.length; j0 += tileKeys) {
          const count = Math.min(tileKeys, visible.length - j0);
          const firstBlock = loadTile(j0, count);
          for (let i0 = firstBlock; i0 < length; i0 += tileQueries) {
            const rows = Math.min(tileQueries, length - i0);
            tile(i0, rows, count);
            stats(rows, i0, count, keyPos, causal ? 1 : 0, s, count, dp, count, rowMax + i0 * 4, rowSum + i0 * 4, rowDot + i0 * 4);
          }
        }
        finish(length, rowMax, rowSum, rowDot);

        // Pass B: the gradients.
        for (let j0 = 0; j0 < visible.length; j0 += tileKeys) {
          const count = Math.min(tileKeys, visible.length - j0);
          const firstBlock = loadTile(j0, count);
          backend.f32(dkt, count * dim).fill(0);
          backend.f32(dvt, count * valueDim).fill(0);
          for (let i0 = firstBlock; i0 < length; i0 += tileQueries) {
            const rows = Math.min(tileQueries, length - i0);
            tile(i0, rows, count);
            scores(rows, i0, count, keyPos, causal ? 1 : 0, s, count, dp, count, rowMax + i0 * 4, rowDot + i0 * 4);
            k.product(count, valueDim, rows, s, count, true, gHead + i0 * gRows.ld * 4, gRows.ld, false, 1, dvt, valueDim);
            k.product(count, dim, rows, dp, count, true, qHead + i0 * qRows.ld * 4, qRows.ld, false, 1, dkt, dim, scale);
            k.product(rows, dim, count, dp, count, false, kt, dim, false, 1, dqHead + i0 * qRows.ld * 4, qRows.ld, scale);
          }
          k.scatter(count, keyPos, dkt, dim, dim, 1, dk + kRows.offset * 4, kRows.ld, 0);
          k.scatter(count, keyPos, dvt, valueDim, valueDim, 1, dv + vRows.offset * 4, vRows.ld, 0);
        }
      }
    }
    return {
      dq: backend.f32(dq, plan.q.length).slice(),
      dk: backend.f32(dk, plan.k.length).slice(),
      dv: backend.f32(dv, plan.v.length).slice(),
    };
  });
}
