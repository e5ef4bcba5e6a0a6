// Attention ops: softmaxAttention (exact, streamed), attention (FAVOR+),
// causalState (streaming decode), attentionScores and topK. Validation and
// shape bookkeeping live here; the backend only receives checked plans.
//
// Tensors are row-major Float32Arrays in one of two layouts:
//   "bhld": [batch, heads, length, dim]
//   "blhd": [batch, length, heads, dim]
// Outputs use the layout of the inputs, with valueDim in place of dim.

import {
  describe,
  optionalBoolean,
  optionalInteger,
  requireChoice,
  requireFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireInteger,
  requireOptions,
  warnUnknownOptions,
} from "../validate.js";
import { FEATURE_KINDS, planFeatureMap, type FeatureKind, type FeatureMap } from "./features.js";
import {
  ANGULAR_HYBRID,
  isHybrid,
  parseHybrid,
  planHybridFeatureMap,
  type HybridFeatureMap,
  type HybridProjection,
  type HybridSpec,
} from "./hybrid.js";
import { planProjection, type ProjectionPlan } from "./projection.js";
import type { RandomSeed } from "./random.js";

/** The two tensor layouts. */
export const ATTENTION_LAYOUTS = ["bhld", "blhd"] as const;
export type AttentionLayout = (typeof ATTENTION_LAYOUTS)[number];

/** Shape options shared by every attention op. Sizes count elements. */
export interface AttentionShapeOptions {
  /** Number of independent sequences (at least 1). */
  batch: number;
  /** Heads per sequence (at least 1). */
  heads: number;
  /** Query positions per sequence (at least 1). */
  length: number;
  /** Key and value positions per sequence (default `length`). */
  keyLength?: number;
  /** Width of each query and key row (at least 1). */
  dim: number;
  /** Width of each value and output row (default `dim`). */
  valueDim?: number;
  /** "bhld" ([batch, heads, length, dim]) or "blhd" ([batch, length, heads, dim]). */
  layout: AttentionLayout;
  /**
   * batch × keyLength flags, 1 for a padded key and 0 for a real one. Padded
   * keys and values are never read, so they may hold anything (NaN included).
   */
  keyPaddingMask?: Uint8Array;
}

/** Options of `softmaxAttention`. */
export interface SoftmaxAttentionOptions extends AttentionShapeOptions {
  /** Query i sees only keys j <= i (needs keyLength equal to length). */
  causal: boolean;
  /** Factor on q·k before the softmax (default 1/√dim). */
  scale?: number;
}

/** A checked shape: every size filled in, the mask checked. */
export interface AttentionShape {
  batch: number;
  heads: number;
  length: number;
  keyLength: number;
  dim: number;
  valueDim: number;
  layout: AttentionLayout;
  keyPaddingMask: Uint8Array | null;
}

/** A validated softmaxAttention call. */
export interface SoftmaxAttentionPlan {
  op: string;
  shape: AttentionShape;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  out: Float32Array;
  causal: boolean;
  scale: number;
}

/** Returns the element offset of row 0 of head `head` of batch item `item`, and the row stride. */
export function headRows(shape: AttentionShape, item: number, head: number, length: number, width: number): { offset: number; ld: number } {
  if (shape.layout === "bhld") {
    return { offset: (item * shape.heads + head) * length * width, ld: width };
  }
  return { offset: (item * length * shape.heads + head) * width, ld: shape.heads * width };
}

function layoutRule(shape: AttentionShape, rows: number, rowsName: string, width: number, widthName: string): string {
  const sizes = shape.layout === "bhld"
    ? [`batch ${shape.batch}`, `heads ${shape.heads}`, `${rowsName} ${rows}`, `${widthName} ${width}`]
    : [`batch ${shape.batch}`, `${rowsName} ${rows}`, `heads ${shape.heads}`, `${widthName} ${width}`];
  return `${sizes.join(" × ")}, layout "${shape.layout}"`;
}

/** Requires a Float32Array holding batch × heads × rows × width values. */
export function requireTensor(
  op: string, name: string, value: unknown, shape: AttentionShape,
  rows: number, rowsName: string, width: number, widthName: string,
): Float32Array {
  const array = requireFloat32Array(op, name, value);
  const expected = shape.batch * shape.heads * rows * width;
  if (array.length !== expected) {
    throw new RangeError(
      `${op}: ${name} has length ${array.length}, expected ${expected} (${layoutRule(shape, rows, rowsName, width, widthName)})`,
    );
  }
  return array;
}

/** Requires a padding mask of batch × keyLength zeros and ones. */
export function requireKeyPaddingMask(op: string, value: unknown, batch: number, keyLength: number, name = "keyPaddingMask"): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${op}: ${name} must be a Uint8Array (1 = padded, 0 = real key), got ${describe(value)}`);
  }
  if (value.length !== batch * keyLength) {
    throw new RangeError(
      `${op}: ${name} has length ${value.length}, expected ${batch * keyLength} (batch ${batch} × keyLength ${keyLength})`,
    );
  }
  for (let i = 0; i < value.length; i++) {
    if (value[i] > 1) {
      throw new RangeError(`${op}: ${name}[${i}] is ${value[i]}, expected 0 (real key) or 1 (padded key)`);
    }
  }
  return value;
}

/** Validates the shape options shared by the attention ops. */
export function planShape(op: string, opts: AttentionShapeOptions, defaults: { keyLength?: number } = {}): AttentionShape {
  const batch = requireInteger(op, "batch", opts.batch, 1);
  const heads = requireInteger(op, "heads", opts.heads, 1);
  const length = requireInteger(op, "length", opts.length, 1);
  const keyLength = optionalInteger(op, "keyLength", opts.keyLength, defaults.keyLength ?? length, 1);
  const dim = requireInteger(op, "dim", opts.dim, 1);
  const valueDim = optionalInteger(op, "valueDim", opts.valueDim, dim, 1);
  if (opts.layout === undefined) {
    throw new TypeError(`${op}: layout is missing; pass "bhld" ([batch, heads, length, dim]) or "blhd" ([batch, length, heads, dim])`);
  }
  const layout = requireChoice(op, "layout", opts.layout, ATTENTION_LAYOUTS);
  const keyPaddingMask = opts.keyPaddingMask === undefined ? null : requireKeyPaddingMask(op, opts.keyPaddingMask, batch, keyLength);
  return { batch, heads, length, keyLength, dim, valueDim, layout, keyPaddingMask };
}

/** Requires `causal` as a boolean and, when true, keyLength equal to length. */
export function requireCausal(op: string, value: unknown, shape: AttentionShape): boolean {
  if (value === undefined) {
    throw new TypeError(`${op}: causal is missing; pass true (query i sees keys j <= i) or false (every query sees every key)`);
  }
  const causal = optionalBoolean(op, "causal", value, false);
  if (causal && shape.keyLength !== shape.length) {
    throw new RangeError(
      `${op}: keyLength is ${shape.keyLength} but length is ${shape.length}; causal attention needs keyLength equal to length`,
    );
  }
  return causal;
}

/** Requires q (queries), k (keys) and v (values) of the given shape. */
export function requireQkv(op: string, q: unknown, k: unknown, v: unknown, shape: AttentionShape): [Float32Array, Float32Array, Float32Array] {
  return [
    requireTensor(op, "q", q, shape, shape.length, "length", shape.dim, "dim"),
    requireTensor(op, "k", k, shape, shape.keyLength, "keyLength", shape.dim, "dim"),
    requireTensor(op, "v", v, shape, shape.keyLength, "keyLength", shape.valueDim, "valueDim"),
  ];
}

/** Validates a softmaxAttention call. */
export function planSoftmaxAttention(q: unknown, k: unknown, v: unknown, options: unknown): SoftmaxAttentionPlan {
  const op = "softmaxAttention";
  const opts = requireOptions<SoftmaxAttentionOptions>(op, options);
  const shape = planShape(op, opts);
  const causal = requireCausal(op, opts.causal, shape);
  const scale = opts.scale === undefined ? 1 / Math.sqrt(shape.dim) : requireFinite(op, "scale", opts.scale);
  const [arrayQ, arrayK, arrayV] = requireQkv(op, q, k, v, shape);
  const outLength = shape.batch * shape.heads * shape.length * shape.valueDim;
  requireFitsInMemory(op, arrayQ.length + arrayK.length + arrayV.length + outLength,
    `q, k, v and the output (${arrayQ.length} + ${arrayK.length} + ${arrayV.length} + ${outLength} float32 values)`);
  return { op, shape, q: arrayQ, k: arrayK, v: arrayV, out: new Float32Array(outLength), causal, scale };
}

/** Options of `attention` (FAVOR+). */
export interface AttentionOptions extends AttentionShapeOptions {
  /** Query i sees only keys j <= i (needs keyLength equal to length). */
  causal: boolean;
  /**
   * The feature map φ: "positive" (FAVOR+), "hyperbolic", "trig", a
   * generalized kernel "relu", "elu+1", "exp", "abs", "identity", or a
   * hybrid ("angular-hybrid" or { hybrid: [base1, base2], lambda }).
   */
  kernel: AttentionKernel;
  /**
   * m, the number of random projections (r = m features, 2m for hyperbolic
   * and trig). 0 applies a generalized kernel to the scaled rows themselves
   * (r = dim, no projection).
   */
  features: number;
  /** m_λ, rows of a hybrid's weight projection; required for hybrids (r = (1 + D_λ)(D1 + D2)). */
  lambdaFeatures?: number;
  /**
   * An explicit projection: features×dim shared by every head, or
   * heads×features×dim, one per head. Hybrids take { base1, base2, lambda }
   * with each part shared or per head alike. Makes the op deterministic.
   */
  projection?: Float32Array | HybridProjection;
  /** Seed of the projection drawn when none is given (orthogonal rows with chi norms, draw 0; hybrids draws 0, 1, 2). */
  seed?: RandomSeed;
  /** Positions per causal chunk (default 64). */
  chunk?: number;
}

/** A feature map of the attention ops: a plain map or a hybrid. */
export type AttentionKernel = FeatureKind | typeof ANGULAR_HYBRID | HybridSpec;

/** Feature-map settings shared by attention, causalState and attentionScores. */
export interface FeatureSettingsOptions {
  kernel: AttentionKernel;
  features: number;
  lambdaFeatures?: number;
  projection?: Float32Array | HybridProjection;
  seed?: RandomSeed;
}

/** Validated hybrid settings: Ψ_q, Ψ_k and where their three projections come from. */
export interface HybridSettings {
  query: HybridFeatureMap;
  key: HybridFeatureMap;
  /** The caller's projections, or null (drawn from `seed`). */
  projection: HybridProjection | null;
  /** True when every part holds one projection per head. */
  perHead: boolean;
  /** Draws 0, 1 and 2 of the seed (the layout of kernel.projection with draw 0), or null. */
  draws: { base1: ProjectionPlan; base2: ProjectionPlan; lambda: ProjectionPlan } | null;
}

/** Validated feature settings: the two maps and where the projection comes from. */
export interface FeatureSettings {
  query: FeatureMap;
  key: FeatureMap;
  /** The caller's projection, or null (drawn from `seed`, or none when features is 0). */
  projection: Float32Array | null;
  perHead: boolean;
  /** The projection to draw when none is given, or null. */
  draw: ProjectionPlan | null;
  /** The hybrid map, or null for a plain kernel (then query and key above are used). */
  hybrid: HybridSettings | null;
}

/** Returns r, the features per row of the settings' maps. */
export function featureOutputs(settings: FeatureSettings): number {
  return settings.hybrid === null ? settings.query.outputs : settings.hybrid.query.outputs;
}

/** The default number of positions per causal chunk. */
export const DEFAULT_CHUNK = 64;

/** Validates the feature-map options of an attention op. */
export function planFeatureSettings(op: string, opts: FeatureSettingsOptions, heads: number, dim: number): FeatureSettings {
  if (isHybrid(opts.kernel)) return planHybridSettings(op, opts, heads, dim);
  if (opts.lambdaFeatures !== undefined) {
    throw new RangeError(`${op}: lambdaFeatures is ${describe(opts.lambdaFeatures)}, but it applies only to hybrid kernels`);
  }
  const choices = FEATURE_KINDS.map((k) => JSON.stringify(k)).join(", ") +
    ', or a hybrid ("angular-hybrid" or { hybrid: [base1, base2], lambda })';
  if (opts.kernel === undefined) {
    throw new TypeError(`${op}: kernel is missing; pass one of ${choices}`);
  }
  if (!(FEATURE_KINDS as readonly unknown[]).includes(opts.kernel)) {
    throw new RangeError(`${op}: kernel must be one of ${choices}, got ${describe(opts.kernel)}`);
  }
  const kind = opts.kernel as (typeof FEATURE_KINDS)[number];
  if (opts.features === undefined) {
    throw new TypeError(`${op}: features is missing; pass the number of random projections m (for example 256)`);
  }
  const features = requireInteger(op, "features", opts.features);
  let projection: Float32Array | null = null;
  let perHead = false;
  let draw: ProjectionPlan | null = null;
  if (opts.projection !== undefined) {
    projection = requireFloat32Array(op, "projection", opts.projection as unknown);
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
    hybrid: null,
  };
}

/** Requires one part of a hybrid projection: rows×dim shared by every head, or heads×rows×dim; returns true when per head. */
function requireHybridPart(op: string, name: string, value: unknown, rows: number, rowsName: string, heads: number, dim: number): boolean {
  const array = requireFloat32Array(op, `projection.${name}`, value);
  if (array.length === heads * rows * dim && heads > 1) return true;
  if (array.length !== rows * dim) {
    throw new RangeError(
      `${op}: projection.${name} has length ${array.length}, expected ${rows * dim} (${rowsName} ${rows} × dim ${dim}, ` +
        `shared by every head) or ${heads * rows * dim} (heads ${heads} × ${rowsName} ${rows} × dim ${dim})`,
    );
  }
  return false;
}

/**
 * Validates hybrid feature settings: features (m of both bases, >= 1),
 * lambdaFeatures (m_λ, required because r grows with m·m_λ), and the
 * projections { base1, base2, lambda } or a seed.
 */
function planHybridSettings(op: string, opts: FeatureSettingsOptions, heads: number, dim: number): FeatureSettings {
  // Reports a malformed spec under the option's name before anything else.
  parseHybrid(op, "kernel", opts.kernel);
  if (opts.features === undefined) {
    throw new TypeError(`${op}: features is missing; pass m, the projection rows of each base map of the hybrid (for example 16)`);
  }
  const features = requireInteger(op, "features", opts.features, 1);
  if (opts.lambdaFeatures === undefined) {
    throw new TypeError(
      `${op}: lambdaFeatures is missing; a hybrid kernel needs m_λ, the rows of its weight projection ` +
        "(for example 8); there is no default because the feature count (1 + D_λ)(D1 + D2) grows with m·m_λ",
    );
  }
  const lambdaFeatures = requireInteger(op, "lambdaFeatures", opts.lambdaFeatures, 1);
  let projection: HybridProjection | null = null;
  let perHead = false;
  let draws: HybridSettings["draws"] = null;
  if (opts.projection !== undefined) {
    const value = opts.projection as unknown;
    if (value === null || typeof value !== "object" || value instanceof Float32Array || Array.isArray(value)) {
      throw new TypeError(
        `${op}: projection of a hybrid kernel must be an object { base1, base2, lambda } of three Float32Arrays, got ${describe(value)}`,
      );
    }
    const parts = value as Partial<HybridProjection>;
    const flags = [
      requireHybridPart(op, "base1", parts.base1, features, "features", heads, dim),
      requireHybridPart(op, "base2", parts.base2, features, "features", heads, dim),
      requireHybridPart(op, "lambda", parts.lambda, lambdaFeatures, "lambdaFeatures", heads, dim),
    ];
    if (flags.some((flag) => flag !== flags[0])) {
      throw new RangeError(
        `${op}: projection.base1, base2 and lambda must all be shared by every head or all hold one projection per head ` +
          `(per head: ${flags.join(", ")})`,
      );
    }
    perHead = flags[0];
    projection = { base1: parts.base1 as Float32Array, base2: parts.base2 as Float32Array, lambda: parts.lambda as Float32Array };
  } else {
    if (opts.seed === undefined) {
      throw new TypeError(`${op}: seed is missing; pass a seed to draw the hybrid's projections, or pass projection { base1, base2, lambda }`);
    }
    draws = {
      base1: planProjection({ features, dim, seed: opts.seed, draw: 0 }, op),
      base2: planProjection({ features, dim, seed: opts.seed, draw: 1 }, op),
      lambda: planProjection({ features: lambdaFeatures, dim, seed: opts.seed, draw: 2 }, op),
    };
  }
  const settings = { dim, kind: opts.kernel, features1: features, features2: features, lambdaFeatures, epsilon: 0 };
  const query = planHybridFeatureMap(op, { ...settings, role: "query" });
  const key = planHybridFeatureMap(op, { ...settings, role: "key" });
  return {
    query: query.bases[0],
    key: key.bases[0],
    projection: null,
    perHead,
    draw: null,
    hybrid: { query, key, projection, perHead, draws },
  };
}

/** A validated attention call. */
export interface AttentionPlan {
  op: string;
  shape: AttentionShape;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  out: Float32Array;
  causal: boolean;
  chunk: number;
  features: FeatureSettings;
}

/** The option names of `attention` (and `attentionWithState`). */
export const ATTENTION_OPTIONS = [
  "batch", "heads", "length", "keyLength", "dim", "valueDim", "layout", "keyPaddingMask",
  "causal", "kernel", "features", "lambdaFeatures", "projection", "seed", "chunk",
] as const;

/** Validates an attention call. */
export function planAttention(
  q: unknown, k: unknown, v: unknown, options: unknown, op = "attention", known: readonly string[] = ATTENTION_OPTIONS,
): AttentionPlan {
  const opts = requireOptions<AttentionOptions>(op, options);
  warnUnknownOptions(op, opts, known);
  const shape = planShape(op, opts);
  const causal = requireCausal(op, opts.causal, shape);
  const chunk = optionalInteger(op, "chunk", opts.chunk, DEFAULT_CHUNK, 1);
  const features = planFeatureSettings(op, opts, shape.heads, shape.dim);
  const [arrayQ, arrayK, arrayV] = requireQkv(op, q, k, v, shape);
  const outLength = shape.batch * shape.heads * shape.length * shape.valueDim;
  requireFitsInMemory(op, arrayQ.length + arrayK.length + arrayV.length + outLength,
    `q, k, v and the output (${arrayQ.length} + ${arrayK.length} + ${arrayV.length} + ${outLength} float32 values)`);
  return { op, shape, q: arrayQ, k: arrayK, v: arrayV, out: new Float32Array(outLength), causal, chunk, features };
}

/** Options of `attentionScores`: the shape and feature settings of `attention`, without values. */
export interface AttentionScoresOptions extends Omit<AttentionShapeOptions, "valueDim">, FeatureSettingsOptions {}

/** A validated attentionScores call. */
export interface AttentionScoresPlan {
  op: string;
  shape: AttentionShape;
  q: Float32Array;
  k: Float32Array;
  /** batch × heads × keyLength scores. */
  out: Float32Array;
  features: FeatureSettings;
}

/** Validates an attentionScores call. */
export function planAttentionScores(q: unknown, k: unknown, options: unknown): AttentionScoresPlan {
  const op = "attentionScores";
  const opts = requireOptions<AttentionScoresOptions>(op, options);
  if ((opts as { causal?: unknown }).causal === true) {
    throw new RangeError(`${op}: causal is true, but scores are column sums of bidirectional attention; omit causal`);
  }
  const shape = planShape(op, opts);
  const features = planFeatureSettings(op, opts, shape.heads, shape.dim);
  const arrayQ = requireTensor(op, "q", q, shape, shape.length, "length", shape.dim, "dim");
  const arrayK = requireTensor(op, "k", k, shape, shape.keyLength, "keyLength", shape.dim, "dim");
  const outLength = shape.batch * shape.heads * shape.keyLength;
  requireFitsInMemory(op, arrayQ.length + arrayK.length, `q and k (${arrayQ.length} + ${arrayK.length} float32 values)`);
  return { op, shape, q: arrayQ, k: arrayK, out: new Float32Array(outLength), features };
}

/** Options of `causalState`: a causal FAVOR+ attention fed a few tokens at a time. */
export interface CausalStateOptions extends FeatureSettingsOptions {
  batch: number;
  heads: number;
  dim: number;
  valueDim?: number;
  /** Layout of every step's q, k, v and output, with length = tokens in the step. */
  layout: AttentionLayout;
  /** Positions per chunk when a step brings many tokens (default 64). */
  chunk?: number;
}

/** Options of one `step`. */
export interface CausalStepOptions {
  /** batch × tokens flags for the new keys, 1 = padded (never read, no effect on later tokens). */
  keyPaddingMask?: Uint8Array;
}

/** A validated causalState call. */
export interface CausalStatePlan {
  batch: number;
  heads: number;
  dim: number;
  valueDim: number;
  layout: AttentionLayout;
  chunk: number;
  features: FeatureSettings;
}

/** Validates a causalState call. */
export function planCausalState(options: unknown): CausalStatePlan {
  const op = "causalState";
  const opts = requireOptions<CausalStateOptions>(op, options);
  const batch = requireInteger(op, "batch", opts.batch, 1);
  const heads = requireInteger(op, "heads", opts.heads, 1);
  const dim = requireInteger(op, "dim", opts.dim, 1);
  const valueDim = optionalInteger(op, "valueDim", opts.valueDim, dim, 1);
  if (opts.layout === undefined) {
    throw new TypeError(`${op}: layout is missing; pass "bhld" ([batch, heads, tokens, dim]) or "blhd" ([batch, tokens, heads, dim])`);
  }
  const layout = requireChoice(op, "layout", opts.layout, ATTENTION_LAYOUTS);
  const chunk = optionalInteger(op, "chunk", opts.chunk, DEFAULT_CHUNK, 1);
  const features = planFeatureSettings(op, opts, heads, dim);
  return { batch, heads, dim, valueDim, layout, chunk, features };
}

/** A validated step: the new tokens as an attention shape with length = keyLength = tokens. */
export interface CausalStepPlan {
  shape: AttentionShape;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  out: Float32Array;
}

/** Validates one step of a causal state; the token count comes from the length of q. */
export function planCausalStep(state: CausalStatePlan, q: unknown, k: unknown, v: unknown, options: unknown): CausalStepPlan {
  const op = "causalState.step";
  const opts = options === undefined ? {} : requireOptions<CausalStepOptions>(op, options);
  const arrayQ = requireFloat32Array(op, "q", q);
  const perToken = state.batch * state.heads * state.dim;
  const tokens = arrayQ.length / perToken;
  if (!Number.isInteger(tokens) || tokens < 1) {
    throw new RangeError(
      `${op}: q has length ${arrayQ.length}, expected a positive multiple of ${perToken} ` +
        `(batch ${state.batch} × heads ${state.heads} × dim ${state.dim}, times the number of new tokens)`,
    );
  }
  const shape: AttentionShape = {
    batch: state.batch, heads: state.heads, length: tokens, keyLength: tokens, dim: state.dim, valueDim: state.valueDim,
    layout: state.layout, keyPaddingMask: null,
  };
  if (opts.keyPaddingMask !== undefined) shape.keyPaddingMask = requireKeyPaddingMask(op, opts.keyPaddingMask, state.batch, tokens);
  const [, arrayK, arrayV] = requireQkv(op, arrayQ, k, v, shape);
  const outLength = state.batch * state.heads * tokens * state.valueDim;
  requireFitsInMemory(op, arrayQ.length + arrayK.length + arrayV.length + outLength,
    `q, k, v and the output (${arrayQ.length} + ${arrayK.length} + ${arrayV.length} + ${outLength} float32 values)`);
  return { shape, q: arrayQ, k: arrayK, v: arrayV, out: new Float32Array(outLength) };
}

/** A validated topK call. */
export interface TopKPlan {
  scores: Float32Array;
  count: number;
}

/** Validates a topK call: count may not exceed the number of scores, and no score may be NaN. */
export function planTopK(scores: unknown, count: unknown): TopKPlan {
  const op = "topK";
  const array = requireFloat32Array(op, "scores", scores);
  const checkedCount = requireInteger(op, "count", count);
  if (checkedCount > array.length) {
    throw new RangeError(`${op}: count is ${checkedCount}, but scores has only ${array.length} values`);
  }
  for (let i = 0; i < array.length; i++) {
    if (Number.isNaN(array[i])) {
      throw new RangeError(`${op}: scores[${i}] is NaN; scores must be numbers to be ranked`);
    }
  }
  return { scores: array, count: checkedCount };
}

/**
 * Returns the indices of the `count` largest scores, largest first; equal
 * scores keep increasing index order (a stable sort by decreasing score).
 */
export function runTopK(plan: TopKPlan): Int32Array {
  const { scores, count } = plan;
  const order = new Int32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  // Array.prototype.sort is stable (ES2019), and ties compare as 0. Explicit
  // comparisons rather than a difference, because Infinity − Infinity is NaN.
  const sorted = Array.from(order).sort((a, b) => (scores[a] > scores[b] ? -1 : scores[a] < scores[b] ? 1 : 0));
  return Int32Array.from(sorted.slice(0, count));
}
