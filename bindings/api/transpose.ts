// transpose: out = aᵀ for one row-major matrix or a batch of them stored
// back to back. Validation and shape bookkeeping live here; the backend only
// receives a checked plan.

import {
  optionalInteger,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireNoOverlap,
  requireOptions,
} from "../validate.js";

/** Options of `transpose`. Sizes count elements. */
export interface TransposeOptions {
  /** Rows of each input matrix (columns of each output matrix). */
  rows: number;
  /** Columns of each input matrix (rows of each output matrix). */
  cols: number;
  /** Number of matrices stored back to back in a and out (default 1). */
  batch?: number;
  /** Output of batch·rows·cols values, overwritten; a new array is returned when omitted. Must not overlap a. */
  out?: Float32Array;
}

/** A validated transpose call. */
export interface TransposePlan {
  a: Float32Array;
  out: Float32Array;
  batch: number;
  rows: number;
  cols: number;
  /** batch·rows·cols, the length of a and of out. */
  length: number;
}

/** Validates a transpose call and fills in the defaults. */
export function planTranspose(a: unknown, options: unknown): TransposePlan {
  const op = "transpose";
  const opts = requireOptions<TransposeOptions>(op, options);
  const arrayA = requireFloat32Array(op, "a", a);
  const rows = requireInteger(op, "rows", opts.rows);
  const cols = requireInteger(op, "cols", opts.cols);
  const batch = optionalInteger(op, "batch", opts.batch, 1, 1);

  const length = batch * rows * cols;
  requireFitsInMemory(op, 2 * length, `a and out (${length} + ${length} float32 values)`);
  requireFloat32Length(op, "a", arrayA, length, `batch ${batch} × rows ${rows} × cols ${cols}`);

  let out: Float32Array;
  if (opts.out === undefined) {
    out = new Float32Array(length);
  } else {
    out = requireFloat32Length(op, "out", opts.out, length, `batch ${batch} × cols ${cols} × rows ${rows}`);
    requireNoOverlap(op, "out", out, "a", arrayA);
  }
  return { a: arrayA, out, batch, rows, cols, length };
}
