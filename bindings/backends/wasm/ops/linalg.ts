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

/** Factors plan.a with f32_geqrf, forms Q with f32_orgqr, and fills plan.q and plan.r. */
export function runQr(backend: WasmBackend, plan: QrPlan): QrResult {
  const geqrf = backend.kernel<GeqrfKernel>("f32_geqrf");
  const orgqr = backend.kernel<OrgqrKernel>("f32_orgqr");
  const { rows, cols, k, qCols, rRows } = plan;
  return backend.withScope("qr", (scope) => {
    const a = scope.copyIn(plan.a);
    const tau = scope.allocF32(k);
    // f32_geqrf and f32_orgqr need 5·rows + 16 values of workspace.
    const work = scope.allocF32(5 * rows + 16);
    const q = scope.allocF32(rows * qCols);
    geqrf(rows, cols, a, cols, tau, work);
    orgqr(rows, qCols, k, a, cols, tau, q, qCols, work);

    plan.q.set(backend.f32(q, rows * qCols));
    // R is the upper triangle of the factored A; rows k and beyond (full
    // mode with rows > cols) are zero.
    const factored = backend.f32(a, rows * cols);
    const r = plan.r;
    r.fill(0);
    for (let i = 0; i < Math.min(rRows, k); i++) {
      r.set(factored.subarray(i * cols + i, (i + 1) * cols), i * cols + i);
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
