// expm and cayley: functions of a square row-major float32 matrix, on the
// `linalg` namespace. Validation lives here; the backend receives a checked
// plan and composes GEMM, LU and the helpers in assembly/linalg/.

import {
  requireAllFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireNoOverlap,
  requireOptions,
} from "../validate.js";

/** Options of `linalg.expm` and `linalg.cayley`. */
export interface MatrixFunctionOptions {
  /** Order of the square matrix A (at least 1). */
  n: number;
  /** Output of n·n values, overwritten; a new array is returned when omitted. Must not overlap a. */
  out?: Float32Array;
}

/** A validated expm or cayley call. */
export interface MatrixFunctionPlan {
  a: Float32Array;
  out: Float32Array;
  n: number;
}

/** The workspace of expm, in float32 values: the Padé temporaries, the squaring buffer and the pivots (see ops/matrix-functions.ts). */
export function expmWorkspaceValues(n: number): number {
  return 10 * n * n + n;
}

function planMatrixFunction(op: string, a: unknown, options: unknown): MatrixFunctionPlan {
  const opts = requireOptions<MatrixFunctionOptions>(op, options);
  const arrayA = requireFloat32Array(op, "a", a);
  const n = requireInteger(op, "n", opts.n, 1);
  requireFitsInMemory(op, 2 * n * n + expmWorkspaceValues(n), `a, out and workspace (${12 * n * n + n} float32 values)`);
  requireFloat32Length(op, "a", arrayA, n * n, `n ${n} × n ${n}`);
  requireAllFinite(op, "a", arrayA);
  let out: Float32Array;
  if (opts.out === undefined) {
    out = new Float32Array(n * n);
  } else {
    out = requireFloat32Length(op, "out", opts.out, n * n, `n ${n} × n ${n}`);
    requireNoOverlap(op, "out", out, "a", arrayA);
  }
  return { a: arrayA, out, n };
}

/** Validates a linalg.expm call. */
export function planExpm(a: unknown, options: unknown): MatrixFunctionPlan {
  return planMatrixFunction("linalg.expm", a, options);
}

/** Validates a linalg.cayley call; singularity of I − A/2 is found (and raised) while solving. */
export function planCayley(a: unknown, options: unknown): MatrixFunctionPlan {
  return planMatrixFunction("linalg.cayley", a, options);
}
