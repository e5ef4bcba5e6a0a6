// Runs validated qr and triangularSolve plans on the WASM backend.

import type { QrPlan, QrResult, TriangularSolvePlan } from "../../../api/linalg.js";
import type { WasmBackend } from "../backend.js";

type GeqrfKernel = (m: number, n: number, a: number, lda: number, tau: number, work: number) => void;
type OrgqrKernel = (
  m: number, qcols: number, k: number, a: number, lda: number, tau: number, q: number, ldq: number, work: number,
) => void;
type TrsmKernel = (
  n: number, cols: number, a: number, lda: number, b: number, ldb: number,
  lower: number, transpose: number, unitDiagonal: number,
) => void;

/**
 * Row stride for a matrix with `cols` columns inside WASM memory. The QR
 * kernels and f32_householder_reflect_to_axes walk strips of a few columns
 * down all rows, twice per block of reflections. When a row is within 16 bytes of a multiple of 1 KiB long,
 * the rows of a strip fall on a few cache sets, and the second pass misses
 * the caches. With 512 columns, for example, every row of a strip maps to
 * 2 of the 64 first-level sets. Those matrices get a stride of an odd number of
 * 64-byte lines (16 floats modulo 32), which maps consecutive rows to
 * distinct sets. Other widths keep packed rows: padding 1000 columns to
 * 1008 measured no faster.
 */
export function paddedStride(cols: number): number {
  const remainder = cols % 256;
  const nearKibibyte = cols >= 252 && (remainder <= 4 || remainder >= 252);
  return nearKibibyte ? cols + ((48 - (cols % 32)) % 32) : cols;
}

/** Factors plan.a with f32_geqrf, forms Q with f32_orgqr, and fills plan.q and plan.r. */
export function runQr(backend: WasmBackend, plan: QrPlan): QrResult {
  const geqrf = backend.kernel<GeqrfKernel>("f32_geqrf");
  const orgqr = backend.kernel<OrgqrKernel>("f32_orgqr");
  const { rows, cols, k, qCols, rRows } = plan;
  return backend.withScope("qr", (scope) => {
    const lda = paddedStride(cols);
    const ldq = paddedStride(qCols);
    const a = scope.allocF32(rows * lda);
    const tau = scope.allocF32(k);
    // f32_geqrf and f32_orgqr need 5·rows + 16 values of workspace.
    const work = scope.allocF32(5 * rows + 16);
    const q = scope.allocF32(rows * ldq);
    const aIn = backend.f32(a, rows * lda);
    for (let i = 0; i < rows; i++) aIn.set(plan.a.subarray(i * cols, (i + 1) * cols), i * lda);
    geqrf(rows, cols, a, lda, tau, work);
    orgqr(rows, qCols, k, a, lda, tau, q, ldq, work);

    const qOut = backend.f32(q, rows * ldq);
    for (let i = 0; i < rows; i++) plan.q.set(qOut.subarray(i * ldq, i * ldq + qCols), i * qCols);
    // R is the upper triangle of the factored A; rows k and beyond (full
    // mode with rows > cols) are zero.
    const factored = backend.f32(a, rows * lda);
    const r = plan.r;
    r.fill(0);
    for (let i = 0; i < Math.min(rRows, k); i++) {
      r.set(factored.subarray(i * lda + i, i * lda + cols), i * cols + i);
    }
    return { q: plan.q, r };
  });
}

/** Copies A and B in, solves with f32_trsm (X in place of B), copies X out into plan.x. */
export function runTriangularSolve(backend: WasmBackend, plan: TriangularSolvePlan): Float32Array {
  const trsm = backend.kernel<TrsmKernel>("f32_trsm");
  const { n, cols } = plan;
  return backend.withScope("triangularSolve", (scope) => {
    const a = scope.copyIn(plan.a);
    const b = scope.copyIn(plan.b);
    trsm(n, cols, a, n, b, cols, plan.lower ? 1 : 0, plan.transpose ? 1 : 0, plan.unitDiagonal ? 1 : 0);
    plan.x.set(backend.f32(b, n * cols));
    return plan.x;
  });
}
