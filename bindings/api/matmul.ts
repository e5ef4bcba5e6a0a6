// matmul: C = alpha·op(A)·op(B) + beta·C, optionally for a batch of
// matrices stored back to back. Validation and shape bookkeeping live
// here; the backend only receives a checked plan.

import {
  optionalBoolean,
  optionalInteger,
  requireFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireInteger,
  requireOptions,
} from "../validate.js";

/** Options of `matmul`. Sizes, leading dimensions and strides count elements. */
export interface MatmulOptions {
  /** Rows of op(A) and of C. */
  m: number;
  /** Columns of op(A) and rows of op(B). */
  k: number;
  /** Columns of op(B) and of C. */
  n: number;
  /** Use Aᵀ: A is stored as k×m. */
  transA?: boolean;
  /** Use Bᵀ: B is stored as n×k. */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** Scale of the existing C (default 0; needs `c` when not 0). */
  beta?: number;
  /** Output, overwritten in place; a new array is returned when omitted. */
  c?: Float32Array;
  /** Number of matrices in A, B and C (default 1). */
  batch?: number;
  /** Row stride of the stored A (default: its column count). */
  lda?: number;
  /** Row stride of the stored B (default: its column count). */
  ldb?: number;
  /** Row stride of C (default n). */
  ldc?: number;
  /** Distance between batch items of A (default: rows·lda; 0 shares one A across the batch). */
  strideA?: number;
  /** Distance between batch items of B (default: rows·ldb; 0 shares one B across the batch). */
  strideB?: number;
  /** Distance between batch items of C (default m·ldc). */
  strideC?: number;
}

/** A validated matmul call. */
export interface MatmulPlan {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  batch: number;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  transA: boolean;
  transB: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  strideA: number;
  strideB: number;
  strideC: number;
  /** Elements of A, B and C that the kernel reads or writes (the copied extents). */
  extentA: number;
  extentB: number;
  extentC: number;
}

/** Returns the number of elements a strided batch of rows×cols matrices spans. */
function extent(batch: number, rows: number, cols: number, ld: number, stride: number): number {
  if (batch === 0 || rows === 0 || cols === 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

function checkLayout(
  op: string, name: string, array: Float32Array, batch: number, rows: number, cols: number,
  ld: number, stride: number, explicit: boolean,
): number {
  const ldName = `ld${name.toLowerCase()}`;
  if (ld < cols) {
    throw new RangeError(`${op}: ${ldName} is ${ld}, but must be at least the ${cols} columns of the stored ${name}`);
  }
  const needed = extent(batch, rows, cols, ld, stride);
  if (!explicit && array.length !== needed) {
    throw new RangeError(
      `${op}: ${name.toLowerCase()} has length ${array.length}, expected ${needed} ` +
        `(batch ${batch} × ${rows} rows × ${cols} columns of the stored ${name})`,
    );
  }
  if (explicit && array.length < needed) {
    throw new RangeError(
      `${op}: ${name.toLowerCase()} has length ${array.length}, but its strides reach element ${needed - 1} ` +
        `(batch ${batch}, ${rows}×${cols}, ${ldName} ${ld}, stride ${stride})`,
    );
  }
  return needed;
}

/** Validates a matmul call and fills in the defaults. */
export function planMatmul(a: unknown, b: unknown, options: unknown): MatmulPlan {
  const op = "matmul";
  const opts = requireOptions<MatmulOptions>(op, options);
  const arrayA = requireFloat32Array(op, "a", a);
  const arrayB = requireFloat32Array(op, "b", b);
  const m = requireInteger(op, "m", opts.m);
  const k = requireInteger(op, "k", opts.k);
  const n = requireInteger(op, "n", opts.n);
  const batch = optionalInteger(op, "batch", opts.batch, 1, 1);
  const transA = optionalBoolean(op, "transA", opts.transA, false);
  const transB = optionalBoolean(op, "transB", opts.transB, false);
  const alpha = opts.alpha === undefined ? 1 : requireFinite(op, "alpha", opts.alpha);
  const beta = opts.beta === undefined ? 0 : requireFinite(op, "beta", opts.beta);

  // Stored shapes: A is m×k (k×m with transA), B is k×n (n×k with transB).
  const rowsA = transA ? k : m;
  const colsA = transA ? m : k;
  const rowsB = transB ? n : k;
  const colsB = transB ? k : n;
  const lda = optionalInteger(op, "lda", opts.lda, colsA);
  const ldb = optionalInteger(op, "ldb", opts.ldb, colsB);
  const ldc = optionalInteger(op, "ldc", opts.ldc, n);
  const strideA = optionalInteger(op, "strideA", opts.strideA, rowsA * lda);
  const strideB = optionalInteger(op, "strideB", opts.strideB, rowsB * ldb);
  const strideC = optionalInteger(op, "strideC", opts.strideC, m * ldc);

  const extentA = checkLayout(op, "A", arrayA, batch, rowsA, colsA, lda, strideA,
    opts.lda !== undefined || opts.strideA !== undefined);
  const extentB = checkLayout(op, "B", arrayB, batch, rowsB, colsB, ldb, strideB,
    opts.ldb !== undefined || opts.strideB !== undefined);
  if (batch > 1 && strideC < m * ldc && m > 0 && n > 0) {
    throw new RangeError(`${op}: strideC is ${strideC}, but batch items of C must not overlap (at least m·ldc = ${m * ldc})`);
  }

  const extentOfC = extent(batch, m, n, ldc, strideC);
  requireFitsInMemory(op, extentA + extentB + extentOfC,
    `a, b and c (${extentA} + ${extentB} + ${extentOfC} float32 values)`);

  let arrayC: Float32Array;
  const explicitC = opts.ldc !== undefined || opts.strideC !== undefined;
  if (opts.c === undefined) {
    if (beta !== 0) {
      throw new RangeError(`${op}: beta is ${beta}, but no c was given to scale; pass c or leave beta at 0`);
    }
    arrayC = new Float32Array(extentOfC);
  } else {
    arrayC = requireFloat32Array(op, "c", opts.c);
  }
  const extentC = checkLayout(op, "C", arrayC, batch, m, n, ldc, strideC, explicitC);
  if (arrayC.buffer === arrayA.buffer || arrayC.buffer === arrayB.buffer) {
    if (overlaps(arrayC, arrayA) || overlaps(arrayC, arrayB)) {
      throw new RangeError(`${op}: c overlaps a or b in memory; pass a separate output array`);
    }
  }

  return {
    a: arrayA, b: arrayB, c: arrayC, batch, m, n, k, alpha, beta, transA, transB,
    lda, ldb, ldc, strideA, strideB, strideC, extentA, extentB, extentC,
  };
}

function overlaps(x: Float32Array, y: Float32Array): boolean {
  if (x.buffer !== y.buffer) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}
