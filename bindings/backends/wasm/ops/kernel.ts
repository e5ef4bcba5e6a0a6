// Runs validated kernel.softmax / kernel.gaussian plans on the WASM backend.
//
// Estimators: for each base map φ the runner computes the features of X and
// Y with a per-row shift (as for queries, ε = 0), so no exponential
// overflows, multiplies them with f32_gemm, and undoes the shifts per pair
// in float64 (f32_scale_by_exp):
//   Ŝ(x_i, y_j) = (φ̃(x_i)ᵀφ̃(y_j))·exp(s_i + t_j),
// where φ̃ are the shifted features and s_i, t_j the shifts. The Gaussian
// kernel multiplies by exp(−‖x_i‖²/2 − ‖y_j‖²/2) in the same exponent.
// Hybrids compute both base products and the weight product ρ(X)ρ(Y)ᵀ and
// combine them per pair (f32_hybrid_combine), which costs
// O(rowsX·rowsY·(D1 + D2 + D_λ)) instead of the O(rowsX·rowsY·D1·D_λ) of
// the tensor-product map.

import { baseOutputs, lambdaDivisor, lambdaOutputs, type BaseEstimator } from "../../../api/hybrid.js";
import { planFeatureMap } from "../../../api/features.js";
import type { KernelPlan, KernelProjectionPlan, ProjectionSource } from "../../../api/kernel.js";
import type { HybridProjection } from "../../../api/hybrid.js";
import type { Scope, WasmBackend } from "../backend.js";
import { writeFeatures } from "./features.js";
import { writeLambdaFeatures } from "./hybrid.js";
import { runProjection, writeProjection } from "./projection.js";

type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;
type ExactKernel = (rowsX: number, rowsY: number, dim: number, x: number, ldx: number, y: number, ldy: number, gaussian: number, out: number, ldo: number) => void;
type HalfNormsKernel = (rows: number, dim: number, x: number, ldx: number, out: number) => void;
type ScaleKernel = (rows: number, cols: number, c: number, ldc: number, sx: number, sy: number, hx: number, hy: number, gaussian: number) => void;
type CombineKernel = (
  rows: number, cols: number, out: number, ldo: number,
  d1: number, ld1: number, s1x: number, s1y: number,
  d2: number, ld2: number, s2x: number, s2y: number,
  lam: number, ldl: number, a: number, b: number, divisor: number,
  hx: number, hy: number, gaussian: number,
) => void;

/** Returns a pointer to the projection in WASM memory: copied from the caller or drawn from the seed. */
function loadProjection(backend: WasmBackend, scope: Scope, source: ProjectionSource, dim: number): number {
  if ("given" in source) return scope.copyIn(source.given);
  const pointer = scope.allocF32(source.rows * dim);
  writeProjection(backend, scope, source.drawn, pointer);
  return pointer;
}

/** Pointers and sizes shared by the estimate steps of one call. */
interface Inputs {
  rowsX: number;
  rowsY: number;
  dim: number;
  x: number;
  y: number;
}

/**
 * Writes φ̃(X)·φ̃(Y)ᵀ (rowsX × rowsY, row stride rowsY) at `product` and
 * returns the row shifts of X and Y.
 */
function baseProduct(
  backend: WasmBackend, scope: Scope, op: string, inputs: Inputs, kind: BaseEstimator, projection: number, rows: number, product: number,
): { sx: number; sy: number } {
  const { rowsX, rowsY, dim } = inputs;
  const map = planFeatureMap(op, { dim, features: rows, kind, role: "query", epsilon: 0 });
  const r = baseOutputs(kind, rows);
  const a = scope.allocF32(rowsX * r);
  const b = scope.allocF32(rowsY * r);
  const sx = scope.allocF32(rowsX);
  const sy = scope.allocF32(rowsY);
  writeFeatures(backend, map, rowsX, inputs.x, dim, projection, a, r, sx);
  writeFeatures(backend, map, rowsY, inputs.y, dim, projection, b, r, sy);
  backend.kernel<GemmKernel>("f32_gemm")(1, rowsX, rowsY, r, 1, a, r, 0, 0, b, r, 0, 1, 0, product, rowsY, 0);
  return { sx, sy };
}

/** Computes the kernel matrix and copies it into plan.out. */
export function runKernel(backend: WasmBackend, plan: KernelPlan): Float32Array {
  const { op, rowsX, rowsY, dim, estimator } = plan;
  const gaussian = plan.gaussian ? 1 : 0;
  const outLength = rowsX * rowsY;
  return backend.withScope(op, (scope) => {
    const inputs: Inputs = { rowsX, rowsY, dim, x: scope.copyIn(plan.x), y: scope.copyIn(plan.y) };
    const out = scope.allocF32(outLength);

    if (estimator.type === "exact") {
      backend.kernel<ExactKernel>("f32_kernel_exact")(rowsX, rowsY, dim, inputs.x, dim, inputs.y, dim, gaussian, out, rowsY);
    } else {
      const halfNorms = backend.kernel<HalfNormsKernel>("f32_half_squared_norms");
      const hx = scope.allocF32(rowsX);
      const hy = scope.allocF32(rowsY);
      halfNorms(rowsX, dim, inputs.x, dim, hx);
      halfNorms(rowsY, dim, inputs.y, dim, hy);

      if (estimator.type === "base") {
        const w = loadProjection(backend, scope, estimator.projection, dim);
        const { sx, sy } = baseProduct(backend, scope, op, inputs, estimator.kind, w, estimator.projection.rows, out);
        backend.kernel<ScaleKernel>("f32_scale_by_exp")(rowsX, rowsY, out, rowsY, sx, sy, hx, hy, gaussian);
      } else {
        const { hybrid } = estimator;
        const w1 = loadProjection(backend, scope, estimator.base1, dim);
        const w2 = loadProjection(backend, scope, estimator.base2, dim);
        const wl = loadProjection(backend, scope, estimator.lambda, dim);
        const second = scope.allocF32(outLength);
        const weights = scope.allocF32(outLength);
        const first = baseProduct(backend, scope, op, inputs, hybrid.bases[0], w1, estimator.base1.rows, out);
        const other = baseProduct(backend, scope, op, inputs, hybrid.bases[1], w2, estimator.base2.rows, second);

        const m = estimator.lambda.rows;
        const dl = lambdaOutputs(hybrid, m);
        const rx = scope.allocF32(rowsX * dl);
        const ry = scope.allocF32(rowsY * dl);
        const zeros = scope.allocF32(Math.max(rowsX, rowsY));
        backend.f32(zeros, Math.max(rowsX, rowsY)).fill(0);
        writeLambdaFeatures(backend, hybrid, dim, m, rowsX, inputs.x, dim, wl, rx, dl, zeros);
        writeLambdaFeatures(backend, hybrid, dim, m, rowsY, inputs.y, dim, wl, ry, dl, zeros);
        backend.kernel<GemmKernel>("f32_gemm")(1, rowsX, rowsY, dl, 1, rx, dl, 0, 0, ry, dl, 0, 1, 0, weights, rowsY, 0);
        backend.kernel<CombineKernel>("f32_hybrid_combine")(
          rowsX, rowsY, out, rowsY,
          out, rowsY, first.sx, first.sy,
          second, rowsY, other.sx, other.sy,
          weights, rowsY, hybrid.a, hybrid.b, lambdaDivisor(hybrid, m),
          hx, hy, gaussian,
        );
      }
    }
    plan.out.set(backend.f32(out, outLength));
    return plan.out;
  });
}

/** Draws the projections of kernel.projection. */
export function runKernelProjection(backend: WasmBackend, plan: KernelProjectionPlan): Float32Array | HybridProjection {
  if (plan.type === "base") return runProjection(backend, plan.projection);
  return {
    base1: runProjection(backend, plan.base1),
    base2: runProjection(backend, plan.base2),
    lambda: runProjection(backend, plan.lambda),
  };
}
