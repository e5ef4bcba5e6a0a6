// softmax and logsumexp over each row of a row-major rows×cols matrix.
// Validation and shape bookkeeping live here; the backend only receives a
// checked plan. The kernels' handling of NaN and infinite entries is
// documented on the option types below.

import {
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireNoOverlap,
  requireOptions,
} from "../validate.js";

/**
 * Options of `softmax`: out[i][j] = exp(x[i][j] - m_i) / Σ_l exp(x[i][l] - m_i)
 * with m_i the maximum of row i, so no finite input overflows. A row with a
 * NaN or a +Infinity entry comes back as all NaN; a row whose entries are
 * all -Infinity comes back as all 0; -Infinity entries in other rows get 0.
 */
export interface SoftmaxOptions {
  /** Number of rows. */
  rows: number;
  /** Entries per row, at least 1. */
  cols: number;
  /** Output of rows·cols values, overwritten; a new array is returned when omitted. May be x itself. */
  out?: Float32Array;
}

/**
 * Options of `logsumexp`: out[i] = m_i + log Σ_j exp(x[i][j] - m_i) with m_i
 * the maximum of row i. A row with a NaN gives NaN, else a row with a
 * +Infinity gives +Infinity, and a row of only -Infinity gives -Infinity.
 */
export interface LogsumexpOptions {
  /** Number of rows. */
  rows: number;
  /** Entries per row, at least 1. */
  cols: number;
  /** Output of rows values, overwritten; a new array is returned when omitted. Must not overlap x. */
  out?: Float32Array;
}

/** A validated softmax or logsumexp call. */
export interface RowwisePlan {
  x: Float32Array;
  out: Float32Array;
  rows: number;
  cols: number;
}

function planRows(op: string, x: unknown, options: unknown, outPerRow: "cols" | "one"): RowwisePlan {
  const opts = requireOptions<SoftmaxOptions>(op, options);
  const arrayX = requireFloat32Array(op, "x", x);
  const rows = requireInteger(op, "rows", opts.rows);
  const cols = requireInteger(op, "cols", opts.cols, 1);

  const length = rows * cols;
  const outLength = outPerRow === "cols" ? length : rows;
  requireFitsInMemory(op, length + outLength, `x and out (${length} + ${outLength} float32 values)`);
  requireFloat32Length(op, "x", arrayX, length, `rows ${rows} × cols ${cols}`);

  let out: Float32Array;
  if (opts.out === undefined) {
    out = new Float32Array(outLength);
  } else if (outPerRow === "cols") {
    out = requireFloat32Length(op, "out", opts.out, outLength, `rows ${rows} × cols ${cols}`);
    // The kernel runs in place, so out may be exactly x, but not a shifted view of it.
    const sameView = out.buffer === arrayX.buffer && out.byteOffset === arrayX.byteOffset;
    if (!sameView) requireNoOverlap(op, "out", out, "x", arrayX);
  } else {
    out = requireFloat32Length(op, "out", opts.out, outLength, `one value per row, rows ${rows}`);
    requireNoOverlap(op, "out", out, "x", arrayX);
  }
  return { x: arrayX, out, rows, cols };
}

/** Validates a softmax call and fills in the defaults. */
export function planSoftmax(x: unknown, options: unknown): RowwisePlan {
  return planRows("softmax", x, options, "cols");
}

/** Validates a logsumexp call and fills in the defaults. */
export function planLogsumexp(x: unknown, options: unknown): RowwisePlan {
  return planRows("logsumexp", x, options, "one");
}
