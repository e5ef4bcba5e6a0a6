// Runs a validated gemv plan on the WASM backend.

import type { GemvPlan } from "../../../api/gemv.js";
import type { WasmBackend } from "../backend.js";

type GemvKernel = (
  m: number, n: number, alpha: number, a: number, trans: number, x: number, beta: number, y: number,
) => void;

/** Copies A, x and y in, runs f32_gemv, copies y out into plan.y. */
export function runGemv(backend: WasmBackend, plan: GemvPlan): Float32Array {
  const gemv = backend.kernel<GemvKernel>("f32_gemv");
  return backend.withScope("gemv", (scope) => {
    const a = scope.copyIn(plan.a);
    const x = scope.copyIn(plan.x);
    // y is copied in even when beta is 0; the kernel then ignores its contents.
    const y = scope.copyIn(plan.y);
    gemv(plan.m, plan.n, plan.alpha, a, plan.trans ? 1 : 0, x, plan.beta, y);
    plan.y.set(backend.f32(y, plan.y.length));
    return plan.y;
  });
}
