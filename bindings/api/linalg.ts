// qr and triangularSolve: dense factorizations and solves on row-major
// float32 matrices. Validation and shape bookkeeping live here; the backend
// only receives a checked plan.

import {
  describe,
  optionalBoolean,
  requireChoice,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireOptions,
} from "../validate.js";

/** Options of `qr`. Sizes count elements. */
export interface QrOptions {
  /** Rows of A (at least 1). */
  rows: number;
  /** Columns of A (at least 1). */
  cols: number;
  /**
   * "thin" (default): Q is rows×k and R is k×cols with k = min(rows, cols).
   * "full": Q is rows×rows and R is rows×cols.
   */
  mode?: "thin" | "full";
  /** Output for Q, overwritten; a new array is returned when omitted. */
  q?: Float32Array;
  /** Output for R, overwritten; a new array is returned when omitted. */
  r?: Float32Array;
}

/** Result of `qr`: A = Q·R with orthonormal columns in Q and upper triangular R, both row-major. */
export interface QrResult {
  q: Float32Array;
  r: Float32Array;
}

/** A validated qr call. */
export interface QrPlan {
  a: Float32Array;
  q: Float32Array;
  r: Float32Array;
  rows: number;
  cols: number;
  /** Number of Householder reflections, min(rows, cols). */
  k: number;
  /** Columns of Q: k (thin) or rows (full). */
  qCols: number;
  /** Rows of R: k (thin) or rows (full). */
  rRows: number;
}

/** Options of `triangularSolve`. Sizes count elements. */
export interface TriangularSolveOptions {
  /** Order of the triangular matrix A (at least 1). */
  n: number;
  /** Columns of B and X (at least 1). */
  cols: number;
  /** Read the lower triangle of A (true) or the upper one (false). */
  lower: boolean;
  /** Solve Aᵀ·X = B instead of A·X = B (default false). */
  transpose?: boolean;
  /** Take the diagonal of A as all ones without reading it (default false). */
  unitDiagonal?: boolean;
  /** Output for X, overwritten; a new array is returned when omitted. */
  x?: Float32Array;
}

/** A validated triangularSolve call. */
export interface TriangularSolvePlan {
  a: Float32Array;
  b: Float32Array;
  x: Float32Array;
  n: number;
  cols: number;
  lower: boolean;
  transpose: boolean;
  unitDiagonal: boolean;
}

function overlaps(x: Float32Array, y: Float32Array): boolean {
  if (x.buffer !== y.buffer) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

/** Returns `value` as a Float32Array of `length` elements, or a new one when it is undefined. */
function outputArray(op: string, name: string, value: unknown, length: number, rule: string): Float32Array {
  if (value === undefined) return new Float32Array(length);
  return requireFloat32Length(op, name, value, length, rule);
}

/** Validates a qr call and allocates the outputs that were not passed. */
export function planQr(a: unknown, options: unknown): QrPlan {
  const op = "qr";
  const opts = requireOptions<QrOptions>(op, options);
  const arrayA = requireFloat32Array(op, "a", a);
  const rows = requireInteger(op, "rows", opts.rows, 1);
  const cols = requireInteger(op, "cols", opts.cols, 1);
  const mode = requireChoice(op, "mode", opts.mode ?? "thin", ["thin", "full"] as const);
  const k = Math.min(rows, cols);
  const qCols = mode === "full" ? rows : k;
  const rRows = mode === "full" ? rows : k;

  // The backend allocates A, tau (k), workspace (5·rows + 16) and Q at once,
  // A and Q with up to 31 floats of padding per row (see ops/linalg.ts).
  const workspace = k + 5 * rows + 16 + 62 * rows;
  requireFitsInMemory(op, rows * cols + workspace + rows * qCols,
    `a, q and workspace (${rows * cols} + ${rows * qCols} + ${workspace} float32 values)`);
  if (arrayA.length !== rows * cols) {
    throw new RangeError(`${op}: a has length ${arrayA.length}, expected ${rows * cols} (rows ${rows} × cols ${cols})`);
  }
  const q = outputArray(op, "q", opts.q, rows * qCols, `${mode} Q is ${rows}×${qCols}`);
  const r = outputArray(op, "r", opts.r, rRows * cols, `${mode} R is ${rRows}×${cols}`);
  if (overlaps(q, arrayA) || overlaps(r, arrayA) || overlaps(q, r)) {
    throw new RangeError(`${op}: q, r and a overlap in memory; pass separate arrays`);
  }
  return { a: arrayA, q, r, rows, cols, k, qCols, rRows };
}

/** Validates a triangularSolve call, including a nonzero finite diagonal, and allocates x if needed. */
export function planTriangularSolve(a: unknown, b: unknown, options: unknown): TriangularSolvePlan {
  const op = "triangularSolve";
  const opts = requireOptions<TriangularSolveOptions>(op, options);
  const arrayA = requireFloat32Array(op, "a", a);
  const arrayB = requireFloat32Array(op, "b", b);
  const n = requireInteger(op, "n", opts.n, 1);
  const cols = requireInteger(op, "cols", opts.cols, 1);
  if (typeof opts.lower !== "boolean") {
    throw new TypeError(`${op}: lower must be a boolean (true reads the lower triangle of a), got ${describe(opts.lower)}`);
  }
  const lower = opts.lower;
  const transpose = optionalBoolean(op, "transpose", opts.transpose, false);
  const unitDiagonal = optionalBoolean(op, "unitDiagonal", opts.unitDiagonal, false);

  requireFitsInMemory(op, n * n + n * cols, `a and b (${n * n} + ${n * cols} float32 values)`);
  if (arrayA.length !== n * n) {
    throw new RangeError(`${op}: a has length ${arrayA.length}, expected ${n * n} (n ${n} × n ${n})`);
  }
  if (arrayB.length !== n * cols) {
    throw new RangeError(`${op}: b has length ${arrayB.length}, expected ${n * cols} (n ${n} × cols ${cols})`);
  }
  const x = outputArray(op, "x", opts.x, n * cols, `X is ${n}×${cols}`);
  if (overlaps(x, arrayA) || overlaps(x, arrayB)) {
    throw new RangeError(`${op}: x overlaps a or b in memory; pass a separate output array`);
  }

  // The kernel divides by the diagonal without checking it.
  if (!unitDiagonal) {
    for (let i = 0; i < n; i++) {
      const d = arrayA[i * n + i];
      if (d === 0 || !Number.isFinite(d)) {
        throw new RangeError(
          `${op}: diagonal entry ${i} of a (a[${i * n + i}]) is ${d}, so the triangular matrix is ` +
            `${d === 0 ? "singular" : "not finite"}; pass a matrix with a nonzero finite diagonal, or unitDiagonal: true`,
        );
      }
    }
  }
  return { a: arrayA, b: arrayB, x, n, cols, lower, transpose, unitDiagonal };
}
