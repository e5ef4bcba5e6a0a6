// gemv: y = alpha·op(A)·x + beta·y for a row-major m×n matrix A, where
// op(A) is A or Aᵀ. Validation and shape bookkeeping live here; the backend
// only receives a checked plan.

import {
  optionalBoolean,
  requireFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireNoOverlap,
  requireOptions,
} from "../validate.js";

/** Options of `gemv`. Sizes count elements. */
export interface GemvOptions {
  /** Rows of the stored A. */
  m: number;
  /** Columns of the stored A. */
  n: number;
  /** Use Aᵀ: x then has m entries and y has n (default false). */
  trans?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** Scale of the existing y (default 0; needs `y` when not 0). */
  beta?: number;
  /** Output, overwritten in place; a new array is returned when omitted. Must not overlap a or x. */
  y?: Float32Array;
}

/** A validated gemv call. */
export interface GemvPlan {
  a: Float32Array;
  x: Float32Array;
  y: Float32Array;
  m: number;
  n: number;
  trans: boolean;
  alpha: number;
  beta: number;
}

/** Validates a gemv call and fills in the defaults. */
export function planGemv(a: unknown, x: unknown, options: unknown): GemvPlan {
  const op = "gemv";
  const opts = requireOptions<GemvOptions>(op, options);
  const arrayA = requireFloat32Array(op, "a", a);
  const arrayX = requireFloat32Array(op, "x", x);
  const m = requireInteger(op, "m", opts.m);
  const n = requireInteger(op, "n", opts.n);
  const trans = optionalBoolean(op, "trans", opts.trans, false);
  const alpha = opts.alpha === undefined ? 1 : requireFinite(op, "alpha", opts.alpha);
  const beta = opts.beta === undefined ? 0 : requireFinite(op, "beta", opts.beta);

  const xLength = trans ? m : n;
  const yLength = trans ? n : m;
  requireFitsInMemory(op, m * n + xLength + yLength,
    `a, x and y (${m * n} + ${xLength} + ${yLength} float32 values)`);
  requireFloat32Length(op, "a", arrayA, m * n, `m ${m} × n ${n}`);
  const xRule = trans ? `m, the rows of A, because trans is true` : `n, the columns of A`;
  requireFloat32Length(op, "x", arrayX, xLength, xRule);

  let arrayY: Float32Array;
  if (opts.y === undefined) {
    if (beta !== 0) {
      throw new RangeError(`${op}: beta is ${beta}, but no y was given to scale; pass y or leave beta at 0`);
    }
    arrayY = new Float32Array(yLength);
  } else {
    const yRule = trans ? `n, the columns of A, because trans is true` : `m, the rows of A`;
    arrayY = requireFloat32Length(op, "y", opts.y, yLength, yRule);
    requireNoOverlap(op, "y", arrayY, "a", arrayA);
    requireNoOverlap(op, "y", arrayY, "x", arrayX);
  }
  return { a: arrayA, x: arrayX, y: arrayY, m, n, trans, alpha, beta };
}
