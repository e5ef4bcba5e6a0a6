// Gradients of the attention ops: attentionBackward (FAVOR+, every mode of
// `attention`) and softmaxAttentionBackward (the exact baseline). Validation
// and defaults live here; docs/backward.md gives the formulas and the
// measurements behind the defaults, and bindings/backends/wasm/ops/
// attention-backward.ts and softmax-backward.ts run the plans.

import {
  ATTENTION_OPTIONS,
  DEFAULT_CHUNK,
  featureOutputs,
  planAttention,
  planFeatureSettings,
  planShape,
  requireCausal,
  requireQkv,
  requireTensor,
  type AttentionOptions,
  type AttentionPlan,
  type AttentionShape,
  type AttentionShapeOptions,
  type FeatureSettings,
} from "./attention.js";
import type { HybridProjection } from "./hybrid.js";
import {
  describe,
  optionalBoolean,
  optionalInteger,
  requireChoice,
  requireFinite,
  requireFitsInMemory,
  requireOptions,
  warnUnknownOptions,
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
  /**
   * The end state that `attentionWithState` returned for the same q, k, v
   * and options. The backward pass then starts from it instead of
   * recomputing it (one pass over the keys fewer). Only with the default
   * start states (stateCheckpoints 0, statePrecision "compensated").
   */
  endState?: AttentionEndState;
}

/**
 * The state that `attentionWithState` keeps for `attentionBackward`: per
 * batch item and head, the attention state after the last key,
 * Σ φ(k_j)[v_j 1]ᵀ (features × (valueDim + 1) values). Causal attention
 * keeps it as float64 pairs (hi + lo) at a reference shift, because the
 * backward pass subtracts chunk products from it. Bidirectional attention
 * keeps it as float32 at the running key shift. Its size does not depend on
 * the length. Treat it as opaque: attentionBackward checks that it belongs
 * to the call.
 */
export interface AttentionEndState {
  readonly kind: typeof END_STATE_KIND;
  readonly causal: boolean;
  /** The options and shape it was made for, compared with the backward call's. */
  readonly signature: Readonly<Record<string, string | number | boolean | null>>;
  /** Values per head: features × (valueDim + 1). */
  readonly stateSize: number;
  /** Causal: high parts, batch·heads·stateSize. Bidirectional: the float32 states. */
  readonly hi: Float64Array | Float32Array;
  /** Causal: low parts; bidirectional: empty. */
  readonly lo: Float64Array;
  /** Per head: the reference shift (causal) or the running key shift (bidirectional); −Infinity while empty. */
  readonly shifts: Float64Array;
  /** Hash of hi, lo and shifts (endStateChecksum), so that a state changed after it was made is rejected. */
  readonly checksum: string;
}

/** Returns the hash that AttentionEndState.checksum records for these arrays. */
export function endStateChecksum(hi: Float64Array | Float32Array, lo: Float64Array, shifts: Float64Array): string {
  return [hi, lo, shifts].map((array) => contentHash(new Float32Array(array.buffer, array.byteOffset, array.byteLength / 4))).join("-");
}

export const END_STATE_KIND = "favor-wasm.attention-end-state";

/** Result of `attentionWithState`. */
export interface AttentionWithState {
  /** The output of `attention` for the same call, within float32 rounding. */
  out: Float32Array;
  endState: AttentionEndState;
}

/** A validated attentionWithState call: an attention plan and the signature its end state records. */
export interface AttentionWithStatePlan extends AttentionPlan {
  signature: Record<string, string | number | boolean | null>;
}

/** FNV-1a over the 32-bit words (or bytes) of an array, as 8 hex digits; "none" for null. */
function contentHash(array: Float32Array | Uint8Array | null): string {
  if (array === null) return "none";
  let h = 0x811c9dc5;
  if (array instanceof Float32Array) {
    const words = new Int32Array(array.buffer, array.byteOffset, array.length);
    for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  } else {
    for (let i = 0; i < array.length; i++) h = Math.imul(h ^ array[i], 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

function projectionHash(features: FeatureSettings): string {
  const given = features.hybrid !== null ? features.hybrid.projection : features.projection;
  if (given === null) return "drawn";
  if (given instanceof Float32Array) return contentHash(given);
  return [given.base1, given.base2, given.lambda].map(contentHash).join("-");
}

/**
 * Returns what an end state depends on besides its content: the shape, the
 * mode and chunk, the feature maps, hashes of a given projection and of the
 * padding mask, and for bidirectional attention hashes of k and v. Causal
 * states need no hash of k and v, because the backward pass subtracts every
 * chunk's product from the state and checks that nothing is left.
 */
function endStateSignature(
  shape: AttentionShape, causal: boolean, chunk: number, features: FeatureSettings, k: Float32Array, v: Float32Array,
): Record<string, string | number | boolean | null> {
  const { batch, heads, length, keyLength, dim, valueDim, layout } = shape;
  const maps = features.hybrid !== null
    ? { query: features.hybrid.query, key: features.hybrid.key, perHead: features.hybrid.perHead, draws: features.hybrid.draws }
    : { query: features.query, key: features.key, perHead: features.perHead, draw: features.draw };
  return {
    batch, heads, length, keyLength, dim, valueDim, layout, causal,
    chunk: causal ? chunk : null,
    kernel: features.hybrid !== null ? "hybrid" : features.query.kind,
    features: featureOutputs(features),
    // A projection plan's op name and output buffer do not identify the draw.
    maps: contentHash(new TextEncoder().encode(
      JSON.stringify(maps, (key, value) => (key === "op" || key === "out" ? undefined : value)),
    )),
    projection: projectionHash(features),
    keyPaddingMask: contentHash(shape.keyPaddingMask),
    k: causal ? null : contentHash(k),
    v: causal ? null : contentHash(v),
  };
}

/** Validates an attentionWithState call: the options of `attention`. */
export function planAttentionWithState(q: unknown, k: unknown, v: unknown, options: unknown): AttentionWithStatePlan {
  // The backward pass's own settings may ride along: the same options object often serves both calls.
  const plan = planAttention(q, k, v, options, "attentionWithState", [...ATTENTION_OPTIONS, ...BACKWARD_ONLY_OPTIONS]);
  return { ...plan, signature: endStateSignature(plan.shape, plan.causal, plan.chunk, plan.features, plan.k, plan.v) };
}

/** Checks that `endState` is an end state made for this call; returns it. */
function requireEndState(
  op: string, value: unknown, shape: AttentionShape, causal: boolean, chunk: number, features: FeatureSettings,
  k: Float32Array, v: Float32Array, stateCheckpoints: number, statePrecision: StatePrecision,
): AttentionEndState {
  const state = value as AttentionEndState;
  if (value === null || typeof value !== "object" || state.kind !== END_STATE_KIND) {
    throw new TypeError(`${op}: endState must be the endState that attentionWithState returned, got ${describe(value)}`);
  }
  const damaged = endStateDamage(op);
  if (state.signature === null || typeof state.signature !== "object") throw damaged(`signature is ${describe(state.signature)}`);
  // A state made for the other mode has other arrays; the signature check below names the mode.
  if (state.causal === causal) requireIntactEndState(op, state, shape.batch * shape.heads, featureOutputs(features) * (shape.valueDim + 1));

  if (causal && (stateCheckpoints !== 0 || statePrecision !== "compensated")) {
    throw new RangeError(
      `${op}: endState needs the default start states (stateCheckpoints 0, statePrecision "compensated"), ` +
      `got stateCheckpoints ${stateCheckpoints} and statePrecision "${statePrecision}"`,
    );
  }

  const expected = endStateSignature(shape, causal, chunk, features, k, v);
  for (const key of Object.keys(expected)) {
    const recorded = state.signature[key];
    if (recorded === expected[key]) continue;
    let reason = `it was made with ${key} ${describe(recorded)}, this call has ${key} ${describe(expected[key])}`;
    if (key === "k" || key === "v" || key === "keyPaddingMask" || key === "projection") {
      reason = `its ${key} differs from this call's (content hash ${describe(recorded)} against ${describe(expected[key])})`;
    } else if (key === "maps") {
      reason = "its feature maps differ from this call's (their settings or the seed of the drawn projection)";
    }
    throw new RangeError(`${op}: endState does not belong to this call: ${reason}`);
  }
  return state;
}

/** Returns a maker of the TypeError for an end state whose parts are missing or of the wrong kind. */
function endStateDamage(op: string): (reason: string) => TypeError {
  return (reason) => new TypeError(
    `${op}: endState is damaged: ${reason}; pass the object that attentionWithState returned ` +
    "(structuredClone keeps it intact, JSON does not)",
  );
}

/** Checks an end state's arrays (types and lengths for `slots` heads) and its checksum. */
function requireIntactEndState(op: string, state: AttentionEndState, slots: number, stateSize: number): void {
  const damaged = endStateDamage(op);
  const arrays: [string, unknown, Float64ArrayConstructor | Float32ArrayConstructor, number][] = [
    ["hi", state.hi, state.causal ? Float64Array : Float32Array, slots * stateSize],
    ["lo", state.lo, Float64Array, state.causal ? slots * stateSize : 0],
    ["shifts", state.shifts, Float64Array, slots],
  ];
  for (const [name, array, type, length] of arrays) {
    if (!(array instanceof type) || array.length !== length) {
      throw damaged(`${name} is ${describe(array)}, expected a ${type.name} of length ${length}`);
    }
  }

  if (state.checksum !== endStateChecksum(state.hi, state.lo, state.shifts)) {
    throw new RangeError(
      `${op}: endState was changed after attentionWithState returned it (its checksum no longer matches its values); ` +
      "pass the endState unchanged",
    );
  }
}

/** The options of attentionBackward beyond those of attention, endState aside. */
const BACKWARD_ONLY_OPTIONS = ["returnProjectionGradient", "stateCheckpoints", "statePrecision"];

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
  endState: AttentionEndState | null;
}

/** Validates an attentionBackward call. */
export function planAttentionBackward(q: unknown, k: unknown, v: unknown, gradOut: unknown, options: unknown): AttentionBackwardPlan {
  const op = "attentionBackward";
  const opts = requireOptions<AttentionBackwardOptions>(op, options);
  warnUnknownOptions(op, opts, [...ATTENTION_OPTIONS, ...BACKWARD_ONLY_OPTIONS, "endState"]);
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
  const endState = opts.endState === undefined
    ? null
    : requireEndState(op, opts.endState, shape, causal, chunk, features, arrayK, arrayV, stateCheckpoints, statePrecision);
  return {
    op, shape, q: arrayQ, k: arrayK, v: arrayV, gradOut: arrayG, causal, chunk, features,
    returnProjectionGradient, stateCheckpoints, statePrecision, endState,
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
