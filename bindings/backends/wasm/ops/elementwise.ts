// Runs a validated elementwise plan (exp, expFast, sin or cos) on the WASM backend.

import type { ElementwisePlan } from "../../../api/elementwise.js";
import type { WasmBackend } from "../backend.js";

type ElementwiseKernel = (n: number, x: number, out: number) => void;

const KERNELS = { exp: "f32_exp", expFast: "f32_exp_fast", sin: "f32_sin", cos: "f32_cos" } as const;

/** Copies x in, runs the function's kernel in place, copies the result into plan.out. */
export function runElementwise(backend: WasmBackend, plan: ElementwisePlan): Float32Array {
  const kernel = backend.kernel<ElementwiseKernel>(KERNELS[plan.fn]);
  return backend.withScope(plan.fn, (scope) => {
    const x = scope.copyIn(plan.x);
    kernel(plan.x.length, x, x);
    plan.out.set(backend.f32(x, plan.x.length));
    return plan.out;
  });
}
