// Runs a validated random-number plan on the WASM backend.

import type { RandomPlan } from "../../../api/random.js";
import type { WasmBackend } from "../backend.js";

type RandomKernel = (out: number, count: number, offsetLo: number, offsetHi: number, key0: number, key1: number) => void;

const KERNELS = { uniform: "f32_random_uniform", normal: "f32_random_normal" } as const;

/** Fills a scratch buffer with the plan's draws and returns them in a new Float32Array. */
export function runRandom(backend: WasmBackend, plan: RandomPlan): Float32Array {
  const result = new Float32Array(plan.count);
  if (plan.count === 0) return result;
  const kernel = backend.kernel<RandomKernel>(KERNELS[plan.distribution]);
  return backend.withScope(plan.op, (scope) => {
    const out = scope.allocF32(plan.count);
    kernel(out, plan.count, plan.offsetLo, plan.offsetHi, plan.key0, plan.key1);
    result.set(backend.f32(out, plan.count));
    return result;
  });
}
