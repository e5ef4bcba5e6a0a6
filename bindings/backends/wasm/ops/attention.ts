// Runs validated attention plans on the WASM backend. Every op copies its
// inputs into one scope, runs the kernels per batch item and head on views
// of that memory, and copies the output out once.

import {
  featureOutputs,
  headRows,
  planCausalStep,
  type AttentionPlan,
  type AttentionScoresPlan,
  type CausalStatePlan,
  type SoftmaxAttentionPlan,
} from "../../../api/attention.js";
import type { WasmBackend } from "../backend.js";
import { favorFeatures } from "./favor-features.js";
import { CausalStateStore, runAttentionScores as runScores, runLinearAttention, visibleRows } from "./linear-attention.js";
import { runProjection } from "./projection.js";

type SoftmaxAttentionKernel = (
  queries: number, keys: number, keyPos: number, contiguous: number, dim: number, valueDim: number,
  scale: number, causal: number,
  q: number, ldq: number, k: number, ldk: number, v: number, ldv: number, out: number, ldo: number, work: number,
) => void;

/** Exact softmax attention: one f32_attention_softmax call per batch item and head. */
export function runSoftmaxAttention(backend: WasmBackend, plan: SoftmaxAttentionPlan): Float32Array {
  const { shape } = plan;
  const kernel = backend.kernel<SoftmaxAttentionKernel>("f32_attention_softmax");
  const workSize = backend.kernel<(dim: number, valueDim: number) => number>("f32_attention_softmax_work");
  return backend.withScope(plan.op, (scope) => {
    const q = scope.copyIn(plan.q);
    const k = scope.copyIn(plan.k);
    const v = scope.copyIn(plan.v);
    const out = scope.allocF32(plan.out.length);
    const keyPos = scope.allocBytes(shape.keyLength * 4);
    const work = scope.allocF32(workSize(shape.dim, shape.valueDim));
    for (let item = 0; item < shape.batch; item++) {
      const visible = visibleRows(shape, item);
      new Int32Array(backend.exports.memory.buffer, keyPos, visible.length).set(visible);
      for (let head = 0; head < shape.heads; head++) {
        const qRows = headRows(shape, item, head, shape.length, shape.dim);
        const kRows = headRows(shape, item, head, shape.keyLength, shape.dim);
        const vRows = headRows(shape, item, head, shape.keyLength, shape.valueDim);
        const outRows = headRows(shape, item, head, shape.length, shape.valueDim);
        kernel(
          shape.length, visible.length, keyPos, visible.length === shape.keyLength ? 1 : 0,
          shape.dim, shape.valueDim, plan.scale, plan.causal ? 1 : 0,
          q + qRows.offset * 4, qRows.ld, k + kRows.offset * 4, kRows.ld,
          v + vRows.offset * 4, vRows.ld, out + outRows.offset * 4, outRows.ld, work,
        );
      }
    }
    plan.out.set(backend.f32(out, plan.out.length));
    return plan.out;
  });
}

/** FAVOR+ attention: feature maps block by block, then the bidirectional or chunked causal loop. */
export function runAttention(backend: WasmBackend, plan: AttentionPlan): Float32Array {
  const { shape } = plan;
  return runLinearAttention(
    backend,
    { op: plan.op, shape, v: plan.v, out: plan.out, causal: plan.causal, chunk: plan.chunk },
    favorFeatures(backend, shape, plan.q, plan.k, plan.features),
  );
}

/** Implicit attention scores: column sums of D⁻¹Q′K′ᵀ per batch item and head. */
export function runAttentionScores(backend: WasmBackend, plan: AttentionScoresPlan): Float32Array {
  return runScores(backend, { op: plan.op, shape: plan.shape, out: plan.out }, favorFeatures(backend, plan.shape, plan.q, plan.k, plan.features));
}

/**
 * Streaming causal FAVOR+ attention. The projection is drawn once when the
 * state is created (when none was given), so every step uses the same one.
 */
export class CausalState {
  private readonly store: CausalStateStore;
  private readonly plan: CausalStatePlan;

  constructor(private readonly backend: WasmBackend, plan: CausalStatePlan) {
    const { features } = plan;
    const projection = features.draw === null ? features.projection : runProjection(backend, features.draw);
    let hybrid = features.hybrid;
    if (hybrid !== null && hybrid.draws !== null) {
      const { draws } = hybrid;
      const drawn = { base1: runProjection(backend, draws.base1), base2: runProjection(backend, draws.base2), lambda: runProjection(backend, draws.lambda) };
      hybrid = { ...hybrid, projection: drawn, draws: null };
    }
    this.plan = { ...plan, features: { ...features, projection, draw: null, hybrid } };
    this.store = new CausalStateStore(plan.batch, plan.heads, featureOutputs(features), plan.valueDim);
  }

  /** Tokens consumed since creation or the last reset. */
  get position(): number {
    return this.store.position;
  }

  /** Forgets every token; the next step starts a new sequence. */
  reset(): void {
    this.store.reset();
  }

  /** Feeds the next tokens and returns their outputs (see CausalStateSync.step). */
  step(q: unknown, k: unknown, v: unknown, options?: unknown): Float32Array {
    const step = planCausalStep(this.plan, q, k, v, options);
    return this.store.step(
      this.backend,
      { op: "causalState.step", shape: step.shape, v: step.v, out: step.out, chunk: this.plan.chunk },
      favorFeatures(this.backend, step.shape, step.q, step.k, this.plan.features),
    );
  }
}
