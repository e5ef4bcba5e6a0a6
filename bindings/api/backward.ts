// Gradients of the attention ops: attentionBackward (FAVOR+, every mode of
// `attention`) and softmaxAttentionBackward (the exact baseline). Validation
// and defaults live here; docs/backward.md gives the formulas and the
// measurements behind the defaults, and bindings/backends/wasm/ops/
// attention-backward.ts and softmax-backward.ts run the plans.

import {
  planShape,
  requireCausal,
  requireQkv,
  requireTensor,
  type AttentionShape,
  type AttentionShapeOptions,
} from "./attention.js";
import { FEATURE_KINDS, planFeatureMap, type FeatureKind, type FeatureMap } from "./features.js";
import { planProjection, type ProjectionPlan } from "./projection.js";
import type { RandomSeed } from "./random.js";
import {
  optionalBoolean,
  optionalInteger,
  requireChoice,
  requireFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireInteger,
  requireOptions,
} from "../validate.js";

/** The default number of positions per causal chunk, the same as the forward op's. */
export const DEFAULT_BACKWARD_CHUNK = 64;

/** How the backward pass keeps the running causal state: see StatePrecision in docs/backward.md. */
export const STATE_PRECISIONS = ["compensated", "float32"] as const;
export type StatePrecision = (typeof STATE_PRECISIONS)[number];

/** Options of `attentionBackward`: those of `attention` plus the backward-only settings. */
export interface AttentionBackwardOptions extends AttentionShapeOptions {
  /** Query i sees only keys j <= i (needs keyLength equal to length). */
  causal: boolean;
  /** The feature map φ, as for `attention`. */
  kernel: FeatureKind;
  /** m, the number of random projections; 0 applies a generalized kernel to the scaled rows (r = dim). */
  features: number;
  /** features×dim (shared by every head) or heads×features×dim (one per head). */
  projection?: Float32Array;
  /** Seed of the projection drawn when none is given (orthogonal rows, chi norms, draw 0). */
  seed?: RandomSeed;
  /** Positions per causal chunk (default 64). Gradients do not depend on it beyond rounding. */
  chunk?: number;
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
   * float64 pairs (about 106 bits), so subtraction gives back the start
   * state; "float32" keeps a float32 state, as the forward op does.
   */
  statePrecision?: StatePrecision;
}

/** Result of `attentionBackward`, in the layout of the inputs. */
export interface AttentionGradients {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
  /** Present when returnProjectionGradient is true: the gradient w.r.t. the projection, in its shape. */
  dprojection?: Float32Array;
}

/** Validated feature settings: the query and key maps and where the projection comes from. */
export interface BackwardFeatureSettings {
  query: FeatureMap;
  key: FeatureMap;
  /** The caller's projection, or null (drawn from `draw`, or none when features is 0). */
  projection: Float32Array | null;
  /** True when the projection holds one matrix per head. */
  perHead: boolean;
  /** The projection to draw when none is given, or null. */
  draw: ProjectionPlan | null;
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
  features: BackwardFeatureSettings;
  returnProjectionGradient: boolean;
  stateCheckpoints: number;
  statePrecision: StatePrecision;
}

/**
 * Validates the feature options the way `attention` does: kernel and
 * features are required, a projection is features×dim or
 * heads×features×dim, and without one a seed draws it. Both maps use the
 * attention stabilizers (per-row query shift, key shift) and ε = 0.
 */
export function planBackwardFeatures(
  op: string, opts: AttentionBackwardOptions, heads: number, dim: number,
): BackwardFeatureSettings {
  if (opts.kernel === undefined) {
    throw new TypeError(`${op}: kernel is missing; pass one of ${FEATURE_KINDS.map((k) => JSON.stringify(k)).join(", ")}`);
  }
  const kind = requireChoice(op, "kernel", opts.kernel, FEATURE_KINDS);
  if (opts.features === undefined) {
    throw new TypeError(`${op}: features is missing; pass the number of random projections m (for example 256)`);
  }
  const features = requireInteger(op, "features", opts.features);
  let projection: Float32Array | null = null;
  let perHead = false;
  let draw: ProjectionPlan | null = null;
  if (opts.projection !== undefined) {
    projection = requireFloat32Array(op, "projection", opts.projection);
    if (features === 0) {
      throw new RangeError(`${op}: features is 0 but a projection was given; pass its row count as features`);
    }
    if (projection.length === heads * features * dim && heads > 1) {
      perHead = true;
    } else if (projection.length !== features * dim) {
      throw new RangeError(
        `${op}: projection has length ${projection.length}, expected ${features * dim} (features ${features} × dim ${dim}, ` +
          `shared by every head) or ${heads * features * dim} (heads ${heads} × features ${features} × dim ${dim})`,
      );
    }
  } else if (features > 0) {
    if (opts.seed === undefined) {
      throw new TypeError(`${op}: seed is missing; pass a seed to draw the random projection, or pass projection`);
    }
    draw = planProjection({ features, dim, seed: opts.seed }, op);
  }
  const settings = { dim, features, kind, epsilon: 0 };
  return {
    query: planFeatureMap(op, { ...settings, role: "query" }),
    key: planFeatureMap(op, { ...settings, role: "key" }),
    projection,
    perHead,
    draw,
  };
}

/** Validates an attentionBackward call. */
export function planAttentionBackward(q: unknown, k: unknown, v: unknown, gradOut: unknown, options: unknown): AttentionBackwardPlan {
  const op = "attentionBackward";
  const opts = requireOptions<AttentionBackwardOptions>(op, options);
  const shape = planShape(op, opts);
  const causal = requireCausal(op, opts.causal, shape);
  const chunk = optionalInteger(op, "chunk", opts.chunk, DEFAULT_BACKWARD_CHUNK, 1);
  const features = planBackwardFeatures(op, opts, shape.heads, shape.dim);
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
