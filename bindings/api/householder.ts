// householder.*: orthogonal matrices as products of Householder reflections
// H(v) = I − 2·v·vᵀ/(vᵀv), evaluated by the compact WY (CWY) transform
//   H(v_0)·…·H(v_{k−1}) = I − V·S⁻¹·Vᵀ,  S = 𝒫(VᵀV) = striu(VᵀV) + ½·diag(VᵀV),
// its truncated form T-CWY for matrices with orthonormal columns, their
// gradients, the inverse map from an orthogonal matrix to vectors, and
// Haar-distributed samples. Validation and shape bookkeeping live here;
// bindings/backends/wasm/ops/householder.ts runs the plans, and
// docs/householder.md describes the formulas and conventions.

import { requireUint64, type RandomSeed } from "./random.js";
import {
  optionalBoolean,
  requireChoice,
  requireFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireOptions,
} from "../validate.js";

/** Evaluation method of a product of reflections: the CWY formula, or one reflection at a time. */
export type HouseholderMethod = "cwy" | "sequential";

/** Options of `householder.product`. Sizes count elements. */
export interface HouseholderProductOptions {
  /** Dimension: Q is n×n and v is n×k (at least 1). */
  n: number;
  /** Number of reflections, 1 ≤ k ≤ n. */
  k: number;
  /** "cwy" (default): I − V·S⁻¹·Vᵀ by GEMMs and a triangular solve. "sequential": one reflection at a time. */
  method?: HouseholderMethod;
  /** Output for Q (n×n), overwritten; a new array is returned when omitted. */
  q?: Float32Array;
}

/** Options of `householder.stiefel`. */
export interface HouseholderStiefelOptions {
  n: number;
  k: number;
  /** Output for Ω (n×k), overwritten; a new array is returned when omitted. */
  omega?: Float32Array;
}

/** Options of `householder.apply`. */
export interface HouseholderApplyOptions {
  n: number;
  k: number;
  /** Columns of X (at least 1). */
  cols: number;
  /** Compute Qᵀ·X instead of Q·X (default false). */
  transpose?: boolean;
  /**
   * "cwy" (default): the CWY form in panels of 64 reflections, each two GEMMs
   * and a 64×64 triangular solve. "sequential": one reflection at a time.
   */
  method?: HouseholderMethod;
  /** Output (n×cols), overwritten; a new array is returned when omitted. */
  out?: Float32Array;
}

/** Which forward op a gradient belongs to. */
export type HouseholderBackwardMode = "product" | "stiefel" | "apply";

/** Options of `householder.backward`. */
export interface HouseholderBackwardOptions {
  n: number;
  k: number;
  /** The forward op: gradOutput is ∂L/∂Q (n×n), ∂L/∂Ω (n×k) or ∂L/∂(op(Q)·X) (n×cols). */
  mode: HouseholderBackwardMode;
  /** Mode "apply" only: the X of the forward call (n×cols). */
  x?: Float32Array;
  /** Mode "apply" only: columns of X. */
  cols?: number;
  /** Mode "apply" only: the forward call computed Qᵀ·X (default false). */
  transpose?: boolean;
  /** Output for ∂L/∂V (n×k), overwritten; a new array is returned when omitted. */
  dv?: Float32Array;
  /** Mode "apply" only: output for ∂L/∂X (n×cols). */
  dx?: Float32Array;
}

/** Gradients returned by `householder.backward`; dx only for mode "apply". */
export interface HouseholderBackwardResult {
  dv: Float32Array;
  dx?: Float32Array;
}

/** Options of `householder.fromOrthogonal`. */
export interface HouseholderFromOrthogonalOptions {
  /** Rows of q (at least 1). */
  n: number;
  /** Columns of q and number of vectors returned, 1 ≤ k ≤ n. */
  k: number;
  /** Largest accepted |(qᵀq − I)_ij|, computed in float32 (default 1e-3). */
  tolerance?: number;
  /** Output for V (n×k), overwritten; a new array is returned when omitted. */
  v?: Float32Array;
}

/** Options of `householder.randomOrthogonal`. */
export interface HouseholderRandomOrthogonalOptions {
  /** Dimension of Q (at least 1). */
  n: number;
  /** Generator seed: a number in [0, 2^53 − 1] or a bigint in [0, 2^64 − 1]. */
  seed: RandomSeed;
  /** First draw of the seed's normal stream to use (default 0); the call uses n² draws. */
  offset?: number | bigint;
  /** Output for Q (n×n), overwritten; a new array is returned when omitted. */
  q?: Float32Array;
}

/** A validated product, stiefel or apply call. */
export interface HouseholderForwardPlan {
  op: string;
  v: Float32Array;
  n: number;
  k: number;
  method: HouseholderMethod;
  /** X for apply; absent for product and stiefel. */
  x?: Float32Array;
  /** Columns of the output: n (product), k (stiefel) or cols (apply). */
  cols: number;
  transpose: boolean;
  out: Float32Array;
}

/** A validated backward call. */
export interface HouseholderBackwardPlan {
  v: Float32Array;
  gradOutput: Float32Array;
  n: number;
  k: number;
  mode: HouseholderBackwardMode;
  /** X for mode "apply". */
  x?: Float32Array;
  /** Columns of gradOutput: n, k or cols. */
  cols: number;
  transpose: boolean;
  dv: Float32Array;
  dx?: Float32Array;
}

/** A validated fromOrthogonal call. */
export interface HouseholderFromOrthogonalPlan {
  q: Float32Array;
  n: number;
  k: number;
  tolerance: number;
  v: Float32Array;
}

/** A validated randomOrthogonal call, with seed and offset split into u32 words. */
export interface HouseholderRandomOrthogonalPlan {
  n: number;
  key0: number;
  key1: number;
  offsetLo: number;
  offsetHi: number;
  q: Float32Array;
}

/** Default `tolerance` of fromOrthogonal on max |(qᵀq − I)_ij|. */
export const DEFAULT_ORTHOGONALITY_TOLERANCE = 1e-3;

function overlaps(x: Float32Array, y: Float32Array): boolean {
  if (x.buffer !== y.buffer) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

/** Rejects an output that shares memory with any input. */
function requireSeparate(op: string, name: string, output: Float32Array, inputs: (Float32Array | undefined)[]): void {
  for (const input of inputs) {
    if (input !== undefined && overlaps(output, input)) {
      throw new RangeError(`${op}: ${name} overlaps an input array in memory; pass a separate output array`);
    }
  }
}

/** Returns `value` as a Float32Array of `length` elements, or a new one when it is undefined. */
function outputArray(op: string, name: string, value: unknown, length: number, rule: string): Float32Array {
  if (value === undefined) return new Float32Array(length);
  return requireFloat32Length(op, name, value, length, rule);
}

/** Checks n ≥ 1 and 1 ≤ k ≤ n; returns both. */
function requireSizes(op: string, opts: { n?: unknown; k?: unknown }): { n: number; k: number } {
  const n = requireInteger(op, "n", opts.n, 1);
  const k = requireInteger(op, "k", opts.k, 1);
  if (k > n) {
    throw new RangeError(`${op}: k is ${k}, but must be at most n = ${n} (at most n reflections of n-dimensional space)`);
  }
  return { n, k };
}

/**
 * Checks the n×k Float32Array v and rejects a column of zeros, for which
 * H(v) = I − 2·v·vᵀ/(vᵀv) is undefined. NaN counts as nonzero and propagates.
 */
function requireVectors(op: string, value: unknown, n: number, k: number): Float32Array {
  const v = requireFloat32Array(op, "v", value);
  if (v.length !== n * k) {
    throw new RangeError(`${op}: v has length ${v.length}, expected ${n * k} (n ${n} × k ${k}, one vector per column)`);
  }
  const nonzero = new Uint8Array(k);
  let found = 0;
  for (let i = 0; i < n && found < k; i++) {
    for (let j = 0; j < k; j++) {
      if (nonzero[j] === 0 && v[i * k + j] !== 0) {
        nonzero[j] = 1;
        found++;
      }
    }
  }
  if (found < k) {
    const j = nonzero.indexOf(0);
    throw new RangeError(
      `${op}: column ${j} of v is all zeros, but every Householder vector must be nonzero ` +
        "(H(v) = I − 2·v·vᵀ/(vᵀv) is undefined for v = 0)",
    );
  }
  return v;
}

/** Validates a householder.product call. */
export function planProduct(v: unknown, options: unknown): HouseholderForwardPlan {
  const op = "householder.product";
  const opts = requireOptions<HouseholderProductOptions>(op, options);
  const { n, k } = requireSizes(op, opts);
  const method = requireChoice(op, "method", opts.method ?? "cwy", ["cwy", "sequential"] as const);
  // V, Uᵀ and W (n·k each), S (k²) and Q (n²); the sequential method's panel (16·n).
  requireFitsInMemory(op, 3 * n * k + k * k + n * n + k + 16 * n, `v, q and workspace for n ${n}, k ${k}`);
  const vectors = requireVectors(op, v, n, k);
  const out = outputArray(op, "q", opts.q, n * n, `Q is ${n}×${n}`);
  requireSeparate(op, "q", out, [vectors]);
  return { op, v: vectors, n, k, method, cols: n, transpose: false, out };
}

/** Validates a householder.stiefel call. */
export function planStiefel(v: unknown, options: unknown): HouseholderForwardPlan {
  const op = "householder.stiefel";
  const opts = requireOptions<HouseholderStiefelOptions>(op, options);
  const { n, k } = requireSizes(op, opts);
  requireFitsInMemory(op, 3 * n * k + 2 * k * k + k, `v, omega and workspace for n ${n}, k ${k}`);
  const vectors = requireVectors(op, v, n, k);
  const out = outputArray(op, "omega", opts.omega, n * k, `Ω is ${n}×${k}`);
  requireSeparate(op, "omega", out, [vectors]);
  return { op, v: vectors, n, k, method: "cwy", cols: k, transpose: false, out };
}

/** Validates a householder.apply call. */
export function planApply(v: unknown, x: unknown, options: unknown): HouseholderForwardPlan {
  const op = "householder.apply";
  const opts = requireOptions<HouseholderApplyOptions>(op, options);
  const { n, k } = requireSizes(op, opts);
  const cols = requireInteger(op, "cols", opts.cols, 1);
  const transpose = optionalBoolean(op, "transpose", opts.transpose, false);
  const method = requireChoice(op, "method", opts.method ?? "cwy", ["cwy", "sequential"] as const);
  // The last 16·n: the sequential method's panel.
  requireFitsInMemory(op, 2 * n * k + k * k + k + n * cols + k * cols + 16 * n,
    `v, x and workspace for n ${n}, k ${k}, cols ${cols}`);
  const vectors = requireVectors(op, v, n, k);
  const arrayX = requireFloat32Array(op, "x", x);
  if (arrayX.length !== n * cols) {
    throw new RangeError(`${op}: x has length ${arrayX.length}, expected ${n * cols} (n ${n} × cols ${cols})`);
  }
  const out = outputArray(op, "out", opts.out, n * cols, `the output is ${n}×${cols}`);
  requireSeparate(op, "out", out, [vectors, arrayX]);
  return { op, v: vectors, n, k, method, x: arrayX, cols, transpose, out };
}

/** Validates a householder.backward call. */
export function planBackward(v: unknown, gradOutput: unknown, options: unknown): HouseholderBackwardPlan {
  const op = "householder.backward";
  const opts = requireOptions<HouseholderBackwardOptions>(op, options);
  const { n, k } = requireSizes(op, opts);
  const mode = requireChoice(op, "mode", opts.mode, ["product", "stiefel", "apply"] as const);
  if (mode !== "apply") {
    for (const name of ["x", "cols", "transpose", "dx"] as const) {
      if (opts[name] !== undefined) {
        throw new TypeError(`${op}: ${name} is only used with mode "apply", but mode is "${mode}"; remove it`);
      }
    }
  }
  const cols = mode === "product" ? n : mode === "stiefel" ? k : requireInteger(op, "cols", opts.cols, 1);
  const transpose = optionalBoolean(op, "transpose", opts.transpose, false);
  // V, Uᵀ, ∂L/∂Uᵀ and ∂L/∂V (n·k each), Y (k·cols), Z (k·n in product mode,
  // k·cols otherwise), S and M (k² each), the norms, gradOutput and X.
  const workspace = 4 * n * k + k * cols + k * (mode === "product" ? n : cols) + 2 * k * k + k;
  requireFitsInMemory(op, workspace + n * cols * (mode === "apply" ? 2 : 1),
    `v, gradOutput and workspace for n ${n}, k ${k}`);
  const vectors = requireVectors(op, v, n, k);

  const gradShape = mode === "product" ? `∂L/∂Q is ${n}×${n}` : mode === "stiefel" ? `∂L/∂Ω is ${n}×${k}` : `the output is ${n}×${cols}`;
  const arrayGrad = requireFloat32Length(op, "gradOutput", gradOutput, n * cols, gradShape);
  let arrayX: Float32Array | undefined;
  if (mode === "apply") {
    if (opts.x === undefined) {
      throw new TypeError(`${op}: x is missing; mode "apply" needs the X of the forward call (n×cols Float32Array)`);
    }
    arrayX = requireFloat32Length(op, "x", opts.x, n * cols, `X is ${n}×${cols}`);
  }
  const dv = outputArray(op, "dv", opts.dv, n * k, `∂L/∂V is ${n}×${k}`);
  requireSeparate(op, "dv", dv, [vectors, arrayGrad, arrayX]);
  let dx: Float32Array | undefined;
  if (mode === "apply") {
    dx = outputArray(op, "dx", opts.dx, n * cols, `∂L/∂X is ${n}×${cols}`);
    requireSeparate(op, "dx", dx, [vectors, arrayGrad, arrayX, dv]);
  }
  return { v: vectors, gradOutput: arrayGrad, n, k, mode, x: arrayX, cols, transpose, dv, dx };
}

/** Validates a householder.fromOrthogonal call; the orthogonality check itself runs on the backend. */
export function planFromOrthogonal(q: unknown, options: unknown): HouseholderFromOrthogonalPlan {
  const op = "householder.fromOrthogonal";
  const opts = requireOptions<HouseholderFromOrthogonalOptions>(op, options);
  const { n, k } = requireSizes(op, opts);
  let tolerance = DEFAULT_ORTHOGONALITY_TOLERANCE;
  if (opts.tolerance !== undefined) {
    tolerance = requireFinite(op, "tolerance", opts.tolerance);
    if (!(tolerance > 0)) throw new RangeError(`${op}: tolerance must be positive, got ${tolerance}`);
  }
  // The last 31·n: padding of q's rows in the backend (paddedStride in ops/linalg.ts).
  requireFitsInMemory(op, 2 * n * k + k * k + n + 31 * n, `q, v and workspace for n ${n}, k ${k}`);
  const arrayQ = requireFloat32Array(op, "q", q);
  if (arrayQ.length !== n * k) {
    throw new RangeError(`${op}: q has length ${arrayQ.length}, expected ${n * k} (n ${n} × k ${k})`);
  }
  const v = outputArray(op, "v", opts.v, n * k, `V is ${n}×${k}`);
  requireSeparate(op, "v", v, [arrayQ]);
  return { q: arrayQ, n, k, tolerance, v };
}

/** Raised by the backend when q fails the orthogonality check. */
export function notOrthogonalError(n: number, k: number, deviation: number, tolerance: number): RangeError {
  const what = n === k ? "q is not orthogonal" : "the columns of q are not orthonormal";
  return new RangeError(
    `householder.fromOrthogonal: ${what}: max |(qᵀq − I)_ij| is ${deviation}, above the tolerance ${tolerance}; ` +
      "pass an orthogonal matrix (or raise options.tolerance)",
  );
}

/** Raised by the backend when a square q has the determinant that n reflections cannot reach. */
export function wrongDeterminantError(n: number): RangeError {
  const reachable = n % 2 === 0 ? "+1" : "−1";
  const found = n % 2 === 0 ? "−1" : "+1";
  const advice = n > 1
    ? `; pass its first ${n - 1} columns with k = ${n - 1}, whose ${n - 1} reflections multiply to q itself`
    : "; in one dimension the only reflection is [−1]";
  return new RangeError(
    `householder.fromOrthogonal: q has determinant ${found}, but a product of n = ${n} Householder reflections ` +
      `has determinant (−1)^${n} = ${reachable}${advice}`,
  );
}

/** Validates a householder.randomOrthogonal call. */
export function planRandomOrthogonal(options: unknown): HouseholderRandomOrthogonalPlan {
  const op = "householder.randomOrthogonal";
  const opts = requireOptions<HouseholderRandomOrthogonalOptions>(op, options);
  const n = requireInteger(op, "n", opts.n, 1);
  // Q, G, V, Uᵀ, S and W (n² each), the norms and a work vector.
  requireFitsInMemory(op, 6 * n * n + 2 * n, `q and workspace for n ${n}`);
  if (opts.seed === undefined) {
    throw new TypeError(`${op}: seed is missing; pass a number in [0, 2^53 − 1] or a bigint in [0, 2^64 − 1]`);
  }
  const key = requireUint64(op, "seed", opts.seed);
  const offset = opts.offset === undefined ? 0n : requireUint64(op, "offset", opts.offset);
  const draws = BigInt(n) * BigInt(n);
  if (offset + draws > 1n << 64n) {
    throw new RangeError(
      `${op}: offset ${offset}n plus the ${draws} draws of one matrix runs past the end of the stream ` +
        "(2^64 draws per seed); use a smaller offset or another seed",
    );
  }
  const q = outputArray(op, "q", opts.q, n * n, `Q is ${n}×${n}`);
  return {
    n,
    key0: Number(key & 0xffffffffn),
    key1: Number(key >> 32n),
    offsetLo: Number(offset & 0xffffffffn),
    offsetHi: Number(offset >> 32n),
    q,
  };
}

