// Runs a validated transpose plan on the WASM backend.

import type { TransposePlan } from "../../../api/transpose.js";
import type { WasmBackend } from "../backend.js";

type TransposeKernel = (batch: number, rows: number, cols: number, a: number, out: number) => void;

/** Copies a in, runs f32_transpose, copies the result into plan.out. */
export function runTranspose(backend: WasmBackend, plan: TransposePlan): Float32Array {
  const transpose = backend.kernel<TransposeKernel>("f32_transpose");
  return backend.withScope("transpose", (scope) => {
    const a = scope.copyIn(plan.a);
    const out = scope.allocF32(plan.length);
    transpose(plan.batch, plan.rows, plan.cols, a, out);
    plan.out.set(backend.f32(out, plan.length));
    return plan.out;
  });
}
