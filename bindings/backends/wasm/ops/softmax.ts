// Runs validated softmax and logsumexp plans on the WASM backend.

import type { RowwisePlan } from "../../../api/softmax.js";
import type { WasmBackend } from "../backend.js";

type RowwiseKernel = (rows: number, cols: number, x: number, out: number) => void;

/** Copies x in, runs f32_softmax_rows in place, copies the result into plan.out. */
export function runSoftmax(backend: WasmBackend, plan: RowwisePlan): Float32Array {
  const softmax = backend.kernel<RowwiseKernel>("f32_softmax_rows");
  return backend.withScope("softmax", (scope) => {
    const x = scope.copyIn(plan.x);
    softmax(plan.rows, plan.cols, x, x);
    plan.out.set(backend.f32(x, plan.out.length));
    return plan.out;
  });
}

/** Copies x in, runs f32_logsumexp_rows, copies the row results into plan.out. */
export function runLogsumexp(backend: WasmBackend, plan: RowwisePlan): Float32Array {
  const logsumexp = backend.kernel<RowwiseKernel>("f32_logsumexp_rows");
  return backend.withScope("logsumexp", (scope) => {
    const x = scope.copyIn(plan.x);
    const out = scope.allocF32(plan.rows);
    logsumexp(plan.rows, plan.cols, x, out);
    plan.out.set(backend.f32(out, plan.rows));
    return plan.out;
  });
}
