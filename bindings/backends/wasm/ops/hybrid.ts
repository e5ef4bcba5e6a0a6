// Runs hybrid feature maps on the WASM backend. writeHybridFeatures works on
// buffers already in WASM memory and allocates nothing, so attention ops can
// call it per block of rows inside their own scope, as with writeFeatures.

import { hybridScratchElements, type HybridFeatureMap, type HybridFeaturesPlan, type HybridPlan } from "../../../api/hybrid.js";
import type { FeaturesWithStabilizer } from "../../../api/features.js";
import type { WasmBackend } from "../backend.js";
import { writeFeatures } from "./features.js";

type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;
type SignKernel = (rows: number, m: number, z: number, ldz: number) => void;
type TrigMapKernel = (
  rows: number, m: number, z: number, ldz: number, rowScalars: number,
  scale: number, epsilon: number, mode: number, givenShift: number,
) => number;
type TensorKernel = (
  rows: number, d1: number, p1: number, ldp1: number, d2: number, p2: number, ldp2: number, dl: number, rho: number, ldr: number,
  s1: number, s2: number, shift: number, c0: number, c1: number, c2: number, c3: number, out: number, ldo: number,
) => void;

/** SHIFT_NONE of assembly/features/maps.ts. */
const SHIFT_NONE = 0;

/** Pointers to the three projections of a hybrid in WASM memory (contiguous rows × dim). */
export interface HybridProjectionPointers {
  base1: number;
  base2: number;
  lambda: number;
}

/**
 * Writes the unnormalized weight features ρ of `rows` rows: sign(Ω_λ x)
 * (angular) or [sin(Ω_λ x/σ); cos(Ω_λ x/σ)] (Gaussian), at `out` with row
 * stride ldo. `zeros` must hold `rows` float32 zeros (the trig kernel reads
 * them as the half norms and writes zeros back).
 */
export function writeLambdaFeatures(
  backend: WasmBackend, hybrid: HybridPlan, dim: number, lambdaFeatures: number, rows: number,
  x: number, ldx: number, projection: number, out: number, ldo: number, zeros: number,
): void {
  const alpha = hybrid.lambda === "gaussian" ? Math.fround(1 / hybrid.sigma) : 1;
  backend.kernel<GemmKernel>("f32_gemm")(1, rows, lambdaFeatures, dim, alpha, x, ldx, 0, 0, projection, dim, 0, 1, 0, out, ldo, 0);
  if (hybrid.lambda === "angular") {
    backend.kernel<SignKernel>("f32_features_sign")(rows, lambdaFeatures, out, ldo);
  } else {
    backend.kernel<TrigMapKernel>("f32_features_trig")(rows, lambdaFeatures, out, ldo, zeros, 1, 0, SHIFT_NONE, 0);
  }
}

/**
 * Writes the hybrid features Ψ of `rows` rows of X into WASM memory and
 * returns the largest exponent of both base maps before shifting.
 *   x:        rows×dim input, row stride ldx (elements);
 *   out:      rows×map.outputs result, row stride ldo >= map.outputs;
 *   shift:    room for `rows` float32 values; receives each row's shift;
 *   scratch:  hybridScratchElements(map, rows) float32 values.
 * out, shift and scratch must not overlap each other, x or the projections.
 * Nothing is allocated, so views taken before the call stay valid.
 */
export function writeHybridFeatures(
  backend: WasmBackend, map: HybridFeatureMap, rows: number, x: number, ldx: number,
  projections: HybridProjectionPointers, out: number, ldo: number, shift: number, scratch: number,
): number {
  const [map1, map2] = map.bases;
  const d1 = map1.outputs;
  const d2 = map2.outputs;
  const dl = map.lambdaOutputs;
  const p1 = scratch;
  const p2 = p1 + rows * d1 * 4;
  const rho = p2 + rows * d2 * 4;
  const s1 = rho + rows * dl * 4;
  const s2 = s1 + rows * 4;
  const zeros = s2 + rows * 4;

  const largest1 = writeFeatures(backend, map1, rows, x, ldx, projections.base1, p1, d1, s1);
  const largest2 = writeFeatures(backend, map2, rows, x, ldx, projections.base2, p2, d2, s2);
  backend.f32(zeros, rows).fill(0);
  writeLambdaFeatures(backend, map.hybrid, map.dim, map.lambdaFeatures, rows, x, ldx, projections.lambda, rho, dl, zeros);
  const [c0, c1, c2, c3] = map.coefficients;
  backend.kernel<TensorKernel>("f32_hybrid_tensor")(rows, d1, p1, d1, d2, p2, d2, dl, rho, dl, s1, s2, shift, c0, c1, c2, c3, out, ldo);
  return Math.max(largest1, largest2);
}

/** Copies X and the projections in, computes Ψ, and copies it out into plan.out. */
export function runHybridFeatures(backend: WasmBackend, plan: HybridFeaturesPlan): Float32Array | FeaturesWithStabilizer {
  const { rows, map, projection } = plan;
  const outLength = rows * map.outputs;
  return backend.withScope("features", (scope) => {
    const x = scope.copyIn(plan.x);
    const pointers = {
      base1: scope.copyIn(projection.base1),
      base2: scope.copyIn(projection.base2),
      lambda: scope.copyIn(projection.lambda),
    };
    const out = scope.allocF32(outLength);
    const shift = scope.allocF32(rows);
    const scratch = scope.allocF32(hybridScratchElements(map, rows));
    const maxExponent = writeHybridFeatures(backend, map, rows, x, map.dim, pointers, out, map.outputs, shift, scratch);
    plan.out.set(backend.f32(out, outLength));
    if (!plan.returnStabilizer) return plan.out;
    return { features: plan.out, shift: backend.f32(shift, rows).slice(), maxExponent };
  });
}
