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
} from "../validate.js";

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
