// sparsePattern: inputs X for fixed self-attention weights W_Q, W_K such that
// softmax(X·W_Q·(X·W_K)ᵀ/√d) reproduces a given sparse attention pattern A,
// with d growing like log L (Likhosherstov, Choromanski and Weller, "On the
// Expressive Power of Self-Attention Matrices", arXiv 2106.03764).
// Validation and planning live here; docs/sparse-pattern.md describes the
// construction, the precision measures and the choices made.
//
// Construction for an L×L pattern A with positive entries on its support:
//   B_ij = ln(A_ij / min_{j′ ∈ row i} A_ij′) + Δ on the support, 0 elsewhere;
//   G    = L×d with column c = normal draws c·L … c·L + L − 1 of the seed, times 1/√d;
//   X    = [√d·B·G, G] (L×2d),  W_Q = [I; 0],  W_K = [0; I] (2d×d),
// so X·W_Q·(X·W_K)ᵀ/√d = B·G·Gᵀ, whose expectation over G is B.

import { requireUint64, type RandomSeed } from "./random.js";
import {
  describe,
  optionalBoolean,
  optionalInteger,
  requireChoice,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireOptions,
} from "../validate.js";

/**
 * A sparse L×L attention pattern in compressed sparse row (CSR) form. Row i
 * has the nonzeros p = rowOffsets[i] … rowOffsets[i+1] − 1 at columns[p]
 * with weight values[p]. Every row needs at least one nonzero, columns lie in
 * [0, L) and do not repeat within a row (any order), and values are finite
 * and > 0. Only the ratios within a row matter, because softmax normalizes
 * each row.
 */
export interface SparsePattern {
  /** L + 1 offsets: rowOffsets[0] = 0, strictly increasing, rowOffsets[L] = number of nonzeros. */
  rowOffsets: Int32Array;
  /** Column of each nonzero. */
  columns: Int32Array;
  /** Weight of each nonzero. */
  values: Float32Array;
}

/** Options of `sparsePattern.construct`. */
export interface SparsePatternConstructOptions {
  /** Sequence length L: the pattern has L rows and L columns. */
  length: number;
  /** Query/key dimension d >= 1; x has 2d columns. */
  d: number;
  /** Logit margin Δ > 0 between the smallest weight of a row and its zeros (default 6). */
  delta?: number;
  /** Seed of the normal stream that fills G (default 0): a safe integer number or a bigint below 2^64. */
  seed?: RandomSeed;
}

/** The inputs and fixed weights that `sparsePattern.construct` returns. */
export interface SparsePatternConstruction {
  /** L×2d row-major inputs X = [√d·B·G, G]. */
  x: Float32Array;
  /** 2d×d row-major query weights [I; 0]; the same for every pattern and seed. */
  wq: Float32Array;
  /** 2d×d row-major key weights [0; I]; the same for every pattern and seed. */
  wk: Float32Array;
}

/** Options of `sparsePattern.evaluate`. */
export interface SparsePatternEvaluateOptions {
  /** Query/key dimension d: columns of wq and wk, and the √d of the attention scale. */
  d: number;
  /** Columns of x and rows of wq and wk (default 2d, the construction's width). */
  width?: number;
  /** Measure the off-support leakage as well (default true). It costs O(L²·d) time. */
  leakage?: boolean;
  /** Keys per block of the leakage pass (default 256); memory grows with L × blockSize. */
  blockSize?: number;
}

/**
 * Precision of the attention matrix M = softmax(x·wq·(x·wk)ᵀ/√d) against
 * the pattern A. For nonzeros j, j′ of row i the log-ratio distortion is
 * |ln(M_ij/M_ij′) − ln(A_ij/A_ij′)|.
 */
export interface SparsePatternEvaluation {
  /** The largest log-ratio distortion over all rows and pairs of nonzeros (0 when no row has two). */
  maxDistortion: number;
  /** The mean log-ratio distortion over all pairs of nonzeros in the same row (0 when there are none). */
  meanDistortion: number;
  /** Number of pairs of nonzeros in the same row: Σ_i k_i(k_i − 1)/2. */
  pairs: number;
  /** max over rows of (largest off-support M_ij′) / (smallest support M_ij); 0 when no row has a zero. Absent with leakage: false. */
  leakage?: number;
  /** max over rows of the probability mass M puts off the support. Absent with leakage: false. */
  maxOffSupportMass?: number;
  /** Mean over rows of the probability mass M puts off the support. Absent with leakage: false. */
  meanOffSupportMass?: number;
}

/** Options of `sparsePattern.requiredDim`. */
export interface SparsePatternRequiredDimOptions {
  /** Target distortion: the search accepts d when the aggregated distortion is <= epsilon. */
  epsilon: number;
  /** The distortion of `evaluate` to target: "max" (default) or "mean". */
  distortion?: "max" | "mean";
  /** Number of seeds judged at each d (default 5): trial t uses seed + t. */
  trials?: number;
  /** Combination of the trials' distortions: "median" (default), "mean" or "max" (every trial must pass). */
  aggregate?: "median" | "mean" | "max";
  /** First seed (default 0). */
  seed?: RandomSeed;
  /** Logit margin Δ of the construction (default 6). */
  delta?: number;
  /** Smallest d tried (default 1). */
  minDim?: number;
  /** Largest d tried (default 4096, or minDim when larger); a RangeError reports a target not reached there. */
  maxDim?: number;
}

/** One d the search judged. */
export interface SparsePatternDimTrial {
  d: number;
  /** The aggregated distortion at d. */
  value: number;
  /** The distortion of each trial, in seed order. */
  values: number[];
}

/** The result of `sparsePattern.requiredDim`. */
export interface SparsePatternRequiredDim {
  /** The smallest d found whose aggregated distortion is <= epsilon (see docs/sparse-pattern.md on monotonicity). */
  d: number;
  /** The aggregated distortion at d. */
  value: number;
  /** Every d judged, in search order. */
  evaluations: SparsePatternDimTrial[];
}

/** The default logit margin Δ: zeros start e^-6 ≈ 0.25% below the smallest weight of their row. */
export const DEFAULT_DELTA = 6;
/** The default number of keys per block in the leakage pass. */
export const DEFAULT_BLOCK_SIZE = 256;
/** The default largest d that requiredDim tries. */
export const DEFAULT_MAX_DIM = 4096;

/** A validated pattern, with the natural logarithm of every weight. */
export interface PatternPlan {
  length: number;
  nonzeros: number;
  rowOffsets: Int32Array;
  columns: Int32Array;
  values: Float32Array;
  /** ln values[p] in float64. */
  logValues: Float64Array;
}

export interface ConstructPlan {
  pattern: PatternPlan;
  d: number;
  seed: bigint;
  /** The float32 logits B of each nonzero (row minimum normalized, plus Δ). */
  logits: Float32Array;
}

export interface EvaluatePlan {
  op: string;
  pattern: PatternPlan;
  x: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  d: number;
  width: number;
  leakage: boolean;
  blockSize: number;
  /** True when wq and wk are the construction's [I; 0] and [0; I]: queries and keys are then column slices of x. */
  fixedWeights: boolean;
}

export interface RequiredDimPlan {
  pattern: PatternPlan;
  logits: Float32Array;
  epsilon: number;
  distortion: "max" | "mean";
  trials: number;
  aggregate: "median" | "mean" | "max";
  seed: bigint;
  minDim: number;
  maxDim: number;
}

const UINT64_MAX = (1n << 64n) - 1n;

function requireInt32Array(op: string, name: string, value: unknown): Int32Array {
  if (!(value instanceof Int32Array)) {
    throw new TypeError(`${op}: ${name} must be an Int32Array, got ${describe(value)}`);
  }
  return value;
}

function requirePositiveFinite(op: string, name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`${op}: ${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${op}: ${name} must be finite and > 0, got ${value}`);
  }
  return value;
}

/**
 * Validates a CSR pattern and returns it with the log of every weight.
 * `length`, when given, must match the pattern's row count.
 */
export function planPattern(op: string, pattern: unknown, length?: number): PatternPlan {
  if (pattern === null || typeof pattern !== "object" || Array.isArray(pattern) || ArrayBuffer.isView(pattern)) {
    throw new TypeError(`${op}: pattern must be an object { rowOffsets, columns, values } (CSR), got ${describe(pattern)}`);
  }
  const fields = pattern as Partial<SparsePattern>;
  const rowOffsets = requireInt32Array(op, "pattern.rowOffsets", fields.rowOffsets);
  const columns = requireInt32Array(op, "pattern.columns", fields.columns);
  const values = requireFloat32Array(op, "pattern.values", fields.values);

  if (length !== undefined && rowOffsets.length !== length + 1) {
    throw new RangeError(`${op}: pattern.rowOffsets has length ${rowOffsets.length}, expected ${length + 1} (length ${length} + 1)`);
  }
  if (rowOffsets.length < 2) {
    throw new RangeError(`${op}: pattern.rowOffsets has length ${rowOffsets.length}, but a pattern needs at least one row (length L + 1 >= 2)`);
  }
  const rows = rowOffsets.length - 1;
  if (rowOffsets[0] !== 0) {
    throw new RangeError(`${op}: pattern.rowOffsets[0] is ${rowOffsets[0]}, expected 0`);
  }
  for (let i = 0; i < rows; i++) {
    const first = rowOffsets[i];
    const end = rowOffsets[i + 1];
    if (end === first) {
      throw new RangeError(
        `${op}: pattern row ${i} has no nonzeros (rowOffsets[${i}] = rowOffsets[${i + 1}] = ${first}); every row needs at least one`,
      );
    }
    if (end < first) {
      throw new RangeError(`${op}: pattern.rowOffsets decreases at row ${i} (rowOffsets[${i}] = ${first} > rowOffsets[${i + 1}] = ${end})`);
    }
  }
  const nonzeros = rowOffsets[rows];
  if (columns.length !== nonzeros) {
    throw new RangeError(`${op}: pattern.columns has length ${columns.length}, expected ${nonzeros} (rowOffsets[${rows}], the number of nonzeros)`);
  }
  if (values.length !== nonzeros) {
    throw new RangeError(`${op}: pattern.values has length ${values.length}, expected ${nonzeros} (rowOffsets[${rows}], the number of nonzeros)`);
  }

  // lastRow[c] is the last row that used column c, and lastEntry[c] the entry where it did.
  const lastRow = new Int32Array(rows).fill(-1);
  const lastEntry = new Int32Array(rows);
  const logValues = new Float64Array(nonzeros);
  for (let i = 0; i < rows; i++) {
    for (let p = rowOffsets[i]; p < rowOffsets[i + 1]; p++) {
      const column = columns[p];
      if (column < 0 || column >= rows) {
        throw new RangeError(`${op}: pattern.columns[${p}] is ${column} (row ${i}), outside [0, ${rows})`);
      }
      if (lastRow[column] === i) {
        throw new RangeError(`${op}: pattern row ${i} repeats column ${column} (columns[${lastEntry[column]}] and columns[${p}])`);
      }
      lastRow[column] = i;
      lastEntry[column] = p;
      const value = values[p];
      if (!(Number.isFinite(value) && value > 0)) {
        throw new RangeError(
          `${op}: pattern.values[${p}] is ${value} (row ${i}, column ${column}), but every weight must be finite and > 0`,
        );
      }
      logValues[p] = Math.log(value);
    }
  }
  return { length: rows, nonzeros, rowOffsets, columns, values, logValues };
}

/** Returns the float32 logits B_p = ln(A_p / smallest weight of its row) + Δ. */
function logitsOf(pattern: PatternPlan, delta: number): Float32Array {
  const logits = new Float32Array(pattern.nonzeros);
  for (let i = 0; i < pattern.length; i++) {
    const first = pattern.rowOffsets[i];
    const end = pattern.rowOffsets[i + 1];
    let rowMin = Infinity;
    for (let p = first; p < end; p++) rowMin = Math.min(rowMin, pattern.logValues[p]);
    for (let p = first; p < end; p++) logits[p] = pattern.logValues[p] - rowMin + delta;
  }
  return logits;
}

function optionalDelta(op: string, value: unknown): number {
  return value === undefined ? DEFAULT_DELTA : requirePositiveFinite(op, "delta", value);
}

/** Float32 values that construct (and each requiredDim trial) keeps in WASM memory at once. */
export function constructElements(length: number, d: number, nonzeros: number): number {
  // x (L×2d), the draws and their transpose (d·L each), the logits, a trial's
  // support logits, and the two index arrays.
  return 4 * length * d + 4 * nonzeros + length + 1;
}

/** Checks that one construction at dimension d fits in WASM memory. */
export function requireTrialFits(op: string, pattern: PatternPlan, d: number): void {
  requireFitsInMemory(op, constructElements(pattern.length, d, pattern.nonzeros),
    `x, the normal draws and the pattern (length ${pattern.length}, d ${d}, ${pattern.nonzeros} nonzeros)`);
}

/** Validates a construct call. */
export function planConstruct(pattern: unknown, options: unknown): ConstructPlan {
  const op = "sparsePattern.construct";
  const opts = requireOptions<SparsePatternConstructOptions>(op, options);
  const length = requireInteger(op, "length", opts.length, 1);
  const d = requireInteger(op, "d", opts.d, 1);
  const delta = optionalDelta(op, opts.delta);
  const seed = opts.seed === undefined ? 0n : requireUint64(op, "seed", opts.seed);
  const checked = planPattern(op, pattern, length);
  requireTrialFits(op, checked, d);
  return { pattern: checked, d, seed, logits: logitsOf(checked, delta) };
}

/** Returns the construction's weights: [I; 0] (query) or [0; I] (key), 2d×d row-major. */
export function fixedWeights(d: number, which: "query" | "key"): Float32Array {
  const weights = new Float32Array(2 * d * d);
  const firstRow = which === "query" ? 0 : d;
  for (let c = 0; c < d; c++) weights[(firstRow + c) * d + c] = 1;
  return weights;
}

function equalsFixed(weights: Float32Array, d: number, which: "query" | "key"): boolean {
  const firstRow = which === "query" ? 0 : d;
  for (let r = 0; r < 2 * d; r++) {
    for (let c = 0; c < d; c++) {
      const expected = r === firstRow + c ? 1 : 0;
      if (weights[r * d + c] !== expected) return false;
    }
  }
  return true;
}

/** Validates an evaluate call. */
export function planEvaluate(pattern: unknown, x: unknown, wq: unknown, wk: unknown, options: unknown): EvaluatePlan {
  const op = "sparsePattern.evaluate";
  const opts = requireOptions<SparsePatternEvaluateOptions>(op, options);
  const d = requireInteger(op, "d", opts.d, 1);
  const width = optionalInteger(op, "width", opts.width, 2 * d, 1);
  const leakage = optionalBoolean(op, "leakage", opts.leakage, true);
  const blockSize = optionalInteger(op, "blockSize", opts.blockSize, DEFAULT_BLOCK_SIZE, 1);
  const checked = planPattern(op, pattern);
  const length = checked.length;
  const arrayX = requireFloat32Length(op, "x", x, length * width, `length ${length} × width ${width}`);
  const arrayWq = requireFloat32Length(op, "wq", wq, width * d, `width ${width} × d ${d}`);
  const arrayWk = requireFloat32Length(op, "wk", wk, width * d, `width ${width} × d ${d}`);

  const fixed = width === 2 * d && equalsFixed(arrayWq, d, "query") && equalsFixed(arrayWk, d, "key");
  const block = Math.min(blockSize, length);
  // x, the support logits and the pattern; queries and keys unless they are slices of x; one block of logits.
  const elements = length * width + 3 * checked.nonzeros + length + 1 +
    (fixed ? 0 : 2 * width * d + 2 * length * d) + (leakage ? length * block + length : 0);
  requireFitsInMemory(op, elements, `x, the weights, queries, keys and one block of logits (${elements} float32 values)`);
  return { op, pattern: checked, x: arrayX, wq: arrayWq, wk: arrayWk, d, width, leakage, blockSize: block, fixedWeights: fixed };
}

/** Validates a requiredDim call. */
export function planRequiredDim(pattern: unknown, options: unknown): RequiredDimPlan {
  const op = "sparsePattern.requiredDim";
  const opts = requireOptions<SparsePatternRequiredDimOptions>(op, options);
  if (opts.epsilon === undefined) {
    throw new TypeError(`${op}: epsilon is missing; pass the target distortion, a number > 0`);
  }
  const epsilon = requirePositiveFinite(op, "epsilon", opts.epsilon);
  const distortion = requireChoice(op, "distortion", opts.distortion ?? "max", ["max", "mean"] as const);
  const aggregate = requireChoice(op, "aggregate", opts.aggregate ?? "median", ["median", "mean", "max"] as const);
  const trials = optionalInteger(op, "trials", opts.trials, 5, 1);
  const seed = opts.seed === undefined ? 0n : requireUint64(op, "seed", opts.seed);
  if (seed + BigInt(trials) - 1n > UINT64_MAX) {
    throw new RangeError(`${op}: seed ${seed}n plus ${trials} trials runs past the largest seed 2^64 − 1; use a smaller seed`);
  }
  const delta = optionalDelta(op, opts.delta);
  const minDim = optionalInteger(op, "minDim", opts.minDim, 1, 1);
  const maxDim = optionalInteger(op, "maxDim", opts.maxDim, Math.max(DEFAULT_MAX_DIM, minDim), 1);
  if (maxDim < minDim) {
    throw new RangeError(`${op}: maxDim ${maxDim} is below minDim ${minDim}`);
  }
  const checked = planPattern(op, pattern);
  // Larger d are checked as the search reaches them (requireTrialFits).
  requireTrialFits(op, checked, minDim);
  return { pattern: checked, logits: logitsOf(checked, delta), epsilon, distortion, trials, aggregate, seed, minDim, maxDim };
}
