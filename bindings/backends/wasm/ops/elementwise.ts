// Runs a validated elementwise plan (exp, sin or cos) on the WASM backend.

import type { ElementwisePlan } from "../../../api/elementwise.js";
import type { WasmBackend } from "../backend.js";

type ElementwiseKernel = (n: number, x: number, out: number) => void;

/** Copies x in, runs f32_<fn> in place, copies the result into plan.out. */
export function runElementwise(backend: WasmBackend, plan: ElementwisePlan): Float32Array {
  const kernel = backend.kernel<ElementwiseKernel>(`f32_${plan.fn}`);
  return backend.withScope(plan.fn, (scope) => {
    const x = scope.copyIn(plan.x);
    kernel(plan.x.length, x, x);
    plan.out.set(backend.f32(x, plan.x.length));
    return plan.out;
  });
}
