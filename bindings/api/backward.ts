// Gradients of the attention ops: attentionBackward (FAVOR+, every mode of
// `attention`) and softmaxAttentionBackward (the exact baseline). Validation
// and defaults live here; docs/backward.md gives the formulas and the
// measurements behind the defaults, and bindings/backends/wasm/ops/
// attention-backward.ts and softmax-backward.ts run the plans.

import {
  DEFAULT_CHUNK,
  planFeatureSettings,
  planShape,
  requireCausal,
  requireQkv,
  requireTensor,
  type AttentionOptions,
  type AttentionShape,
  type AttentionShapeOptions,
  type FeatureSettings,
} from "./attention.js";
import type { HybridProjection } from "./hybrid.js";
import {
  optionalBoolean,
  optionalInteger,
  requireChoice,
  requireFinite,
  requireFitsInMemory,
  requireOptions,
} from "../validate.js";

/** Precisions of the running causal state (docs/backward.md, "Start states"). */
export const STATE_PRECISIONS = ["compensated", "float32"] as const;
export type StatePrecision = (typeof STATE_PRECISIONS)[number];

/** Options of `attentionBackward`: those of `attention` plus the backward-only settings. */
export interface AttentionBackwardOptions extends AttentionOptions {
  /** Also return dprojection, the gradient w.r.t. the projection (default false). */
  returnProjectionGradient?: boolean;
  /**
   * Causal only. 0 (default) rebuilds each chunk's start state by
   * subtracting the chunk's contribution from the end state; n >= 1 stores
   * the state at every n-th chunk during the recomputed forward pass and
   * recomputes the chunks in between.
   */
  stateCheckpoints?: number;
  /**
   * Causal only. "compensated" (default) accumulates the running state as
   * float64 pairs (about 106 bits), so that subtraction gives back the
   * start state. "float32" keeps a float32 state, as the forward op does.
   */
  statePrecision?: StatePrecision;
}

/** Result of `attentionBackward`, in the layout of the inputs. */
export interface AttentionGradients {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
  /**
   * Present when returnProjectionGradient is true: the gradient w.r.t. the
   * projection, in its shape; for a hybrid kernel { base1, base2, lambda }
   * (lambda is all zeros for the angular weight, whose sign features have
   * zero derivative almost everywhere).
   */
  dprojection?: Float32Array | HybridProjection;
}

/** A validated attentionBackward call. */
export interface AttentionBackwardPlan {
  op: string;
  shape: AttentionShape;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  gradOut: Float32Array;
  causal: boolean;
  chunk: number;
  features: FeatureSettings;
  returnProjectionGradient: boolean;
  stateCheckpoints: number;
  statePrecision: StatePrecision;
}

/** Validates an attentionBackward call. */
export function planAttentionBackward(q: unknown, k: unknown, v: unknown, gradOut: unknown, options: unknown): AttentionBackwardPlan {
  const op = "attentionBackward";
  const opts = requireOptions<AttentionBackwardOptions>(op, options);
  const shape = planShape(op, opts);
  const causal = requireCausal(op, opts.causal, shape);
  const chunk = optionalInteger(op, "chunk", opts.chunk, DEFAULT_CHUNK, 1);
  const features = planFeatureSettings(op, opts, shape.heads, shape.dim);
  const returnProjectionGradient = optionalBoolean(op, "returnProjectionGradient", opts.returnProjectionGradient, false);
  if (returnProjectionGradient && features.query.features === 0) {
    throw new RangeError(`${op}: returnProjectionGradient is true but features is 0, so there is no projection to differentiate`);
  }
  const stateCheckpoints = optionalInteger(op, "stateCheckpoints", opts.stateCheckpoints, 0);
  const statePrecision = requireChoice(op, "statePrecision", opts.statePrecision ?? "compensated", STATE_PRECISIONS);
  if (!causal && (opts.stateCheckpoints !== undefined || opts.statePrecision !== undefined)) {
    throw new RangeError(
      `${op}: stateCheckpoints and statePrecision apply only to causal attention; remove them or pass causal: true`,
    );
  }
  const [arrayQ, arrayK, arrayV] = requireQkv(op, q, k, v, shape);
  const arrayG = requireTensor(op, "gradOut", gradOut, shape, shape.length, "length", shape.valueDim, "valueDim");
  const total = 2 * (arrayQ.length + arrayK.length + arrayV.length) + arrayG.length;
  requireFitsInMemory(op, total, `q, k, v, gradOut and their gradients (${total} float32 values)`);
  return {
    op, shape, q: arrayQ, k: arrayK, v: arrayV, gradOut: arrayG, causal, chunk, features,
    returnProjectionGradient, stateCheckpoints, statePrecision,
  };
}

/** Options of `softmaxAttentionBackward`: those of `softmaxAttention`. */
export interface SoftmaxAttentionBackwardOptions extends AttentionShapeOptions {
  /** Query i sees only keys j <= i (needs keyLength equal to length). */
  causal: boolean;
  /** Factor on q·k before the softmax (default 1/√dim). */
  scale?: number;
}

/** Result of `softmaxAttentionBackward`, in the layout of the inputs. */
export interface SoftmaxAttentionGradients {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/** A validated softmaxAttentionBackward call. */
export interface SoftmaxAttentionBackwardPlan {
  op: string;
  shape: AttentionShape;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  gradOut: Float32Array;
  causal: boolean;
  scale: number;
}

/** Validates a softmaxAttentionBackward call. */
export function planSoftmaxAttentionBackward(
  q: unknown, k: unknown, v: unknown, gradOut: unknown, options: unknown,
): SoftmaxAttentionBackwardPlan {
  const op = "softmaxAttentionBackward";
  const opts = requireOptions<SoftmaxAttentionBackwardOptions>(op, options);
  const shape = planShape(op, opts);
  const causal = requireCausal(op, opts.causal, shape);
  const scale = opts.scale === undefined ? 1 / Math.sqrt(shape.dim) : requireFinite(op, "scale", opts.scale);
  const [arrayQ, arrayK, arrayV] = requireQkv(op, q, k, v, shape);
  const arrayG = requireTensor(op, "gradOut", gradOut, shape, shape.length, "length", shape.valueDim, "valueDim");
  const total = 2 * (arrayQ.length + arrayK.length + arrayV.length) + arrayG.length + 2 * shape.length;
  requireFitsInMemory(op, total, `q, k, v, gradOut, their gradients and two statistics per query (${total} float32 values)`);
  return { op, shape, q: arrayQ, k: arrayK, v: arrayV, gradOut: arrayG, causal, scale };
}
