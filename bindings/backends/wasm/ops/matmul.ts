// Runs a validated matmul plan on the WASM backend.

import type { MatmulPlan } from "../../../api/matmul.js";
import type { WasmBackend } from "../backend.js";
import { gemm as threadedGemm } from "../threads/gemm.js";

type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;

/** The GEMM kernels a plan can run on: the blocked SIMD one and the scalar reference. */
export type GemmKernelName = "f32_gemm" | "f32_gemm_reference";

/** Copies A, B (and C when beta is not 0) in, runs the kernel, copies C out into plan.c. */
export function runMatmul(backend: WasmBackend, plan: MatmulPlan, kernelName: GemmKernelName = "f32_gemm"): Float32Array {
  const gemm = backend.kernel<GemmKernel>(kernelName);
  return backend.withScope("matmul", (scope) => {
    const a = scope.allocF32(plan.extentA);
    const b = scope.allocF32(plan.extentB);
    const c = scope.allocF32(plan.extentC);
    backend.f32(a, plan.extentA).set(plan.a.subarray(0, plan.extentA));
    backend.f32(b, plan.extentB).set(plan.b.subarray(0, plan.extentB));
    // C is copied in even when beta is 0, so elements between rows (ldc > n)
    // and between batch items come back unchanged.
    backend.f32(c, plan.extentC).set(plan.c.subarray(0, plan.extentC));
    // The blocked GEMM spreads over the thread pool when there is one; the reference stays on one thread.
    const run = kernelName === "f32_gemm" ? (...args: Parameters<GemmKernel>) => threadedGemm(backend, ...args) : gemm;
    run(
      plan.batch, plan.m, plan.n, plan.k, plan.alpha,
      a, plan.lda, plan.strideA, plan.transA ? 1 : 0,
      b, plan.ldb, plan.strideB, plan.transB ? 1 : 0,
      plan.beta, c, plan.ldc, plan.strideC,
    );
    plan.c.set(backend.f32(c, plan.extentC));
    return plan.c;
  });
}
