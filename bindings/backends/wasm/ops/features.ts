// Runs a validated features plan on the WASM backend. writeFeatures is the
// part that works on buffers already in WASM memory and allocates nothing,
// so attention ops can call it per block of rows inside their own scope.

import type { FeatureMap, FeaturesPlan, FeaturesWithStabilizer } from "../../../api/features.js";
import type { WasmBackend } from "../backend.js";
import { writeFeaturesByRows } from "../threads/features.js";

type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;
type HalfNormsKernel = (rows: number, dim: number, x: number, ldx: number, out: number) => void;
type ExpMapKernel = (
  rows: number, m: number, z: number, ldz: number, rowScalars: number,
  subtractNorms: number, mirrored: number, scale: number, epsilon: number, mode: number, givenShift: number,
) => number;
type TrigMapKernel = (
  rows: number, m: number, z: number, ldz: number, rowScalars: number,
  scale: number, epsilon: number, mode: number, givenShift: number,
) => number;
type ProjectedKernel = (
  kind: number, rows: number, dim: number, x: number, ldx: number, projection: number, m: number,
  z: number, ldz: number, rowScalars: number, scale: number, epsilon: number, mode: number, givenShift: number,
) => number;
type PointwiseKernel = (kind: number, rows: number, r: number, z: number, ldz: number, scale: number, epsilon: number) => void;

// Stabilizer modes and pointwise codes of assembly/features/maps.ts.
const SHIFT_NONE = 0;
const SHIFT_PER_ROW = 1;
const SHIFT_MAX = 2;
const SHIFT_GIVEN = 3;
const POINTWISE_CODES = { relu: 0, "elu+1": 1, abs: 2, identity: 3 } as const;
// Kind codes of f32_features_projected (assembly/features/projected.ts).
const PROJECTED_CODES = { positive: 0, hyperbolic: 1, exp: 2, trig: 3 } as const;

function shiftMode(map: FeatureMap): number {
  if (map.role === "query") return SHIFT_PER_ROW;
  if (map.role === "key") return map.keyShift === null ? SHIFT_MAX : SHIFT_GIVEN;
  return SHIFT_NONE;
}

/**
 * Writes the features of `rows` rows of X into WASM memory and returns the
 * largest exponent before shifting (−Infinity for kinds without one).
 *   x:          rows×dim input, row stride ldx (elements);
 *   projection: m×dim W, contiguous (ignored when map.features is 0);
 *   out:        rows×map.outputs result, row stride ldo >= map.outputs;
 *   shift:      room for `rows` float32 values; receives the row shifts.
 * out must not overlap x, projection or shift. Nothing is allocated, so
 * views taken before the call stay valid.
 */
export function writeFeatures(
  backend: WasmBackend, map: FeatureMap, rows: number,
  x: number, ldx: number, projection: number, out: number, ldo: number, shift: number,
): number {
  const { kind, dim, features: m, scale, epsilon } = map;
  const mode = shiftMode(map);
  const givenShift = map.keyShift ?? 0;
  if (m > 0 && (kind === "positive" || kind === "hyperbolic" || kind === "exp" || kind === "trig")) {
    // The product X·Wᵀ, the half squared norms and the map in one kernel,
    // block by block while each block of the product is in cache.
    return backend.kernel<ProjectedKernel>("f32_features_projected")(
      PROJECTED_CODES[kind], rows, dim, x, ldx, projection, m, out, ldo, shift, scale, epsilon, mode, givenShift,
    );
  }
  if (m > 0) {
    // z = X·Wᵀ into the first m columns of each output row.
    backend.kernel<GemmKernel>("f32_gemm")(1, rows, m, dim, 1, x, ldx, 0, 0, projection, dim, 0, 1, 0, out, ldo, 0);
  } else {
    const memory = new Float32Array(backend.exports.memory.buffer);
    for (let i = 0; i < rows; i++) {
      const from = x / 4 + i * ldx;
      memory.copyWithin(out / 4 + i * ldo, from, from + dim);
    }
  }
  const width = m > 0 ? m : dim;

  if (kind === "positive" || kind === "hyperbolic" || kind === "trig") {
    backend.kernel<HalfNormsKernel>("f32_half_squared_norms")(rows, dim, x, ldx, shift);
  }
  switch (kind) {
    case "positive":
    case "hyperbolic":
    case "exp":
      return backend.kernel<ExpMapKernel>("f32_features_exp")(
        rows, width, out, ldo, shift, kind === "exp" ? 0 : 1, kind === "hyperbolic" ? 1 : 0, scale, epsilon, mode, givenShift,
      );
    case "trig":
      return backend.kernel<TrigMapKernel>("f32_features_trig")(rows, width, out, ldo, shift, scale, epsilon, mode, givenShift);
    default:
      backend.kernel<PointwiseKernel>("f32_features_pointwise")(POINTWISE_CODES[kind], rows, width, out, ldo, scale, epsilon);
      new Float32Array(backend.exports.memory.buffer, shift, rows).fill(0);
      return -Infinity;
  }
}

/** Copies X (and W) in, computes the features, copies them out into plan.out. */
export function runFeatures(backend: WasmBackend, plan: FeaturesPlan): Float32Array | FeaturesWithStabilizer {
  const { rows, map } = plan;
  const outLength = rows * map.outputs;
  return backend.withScope("features", (scope) => {
    const x = scope.copyIn(plan.x);
    const projection = plan.projection === null ? 0 : scope.copyIn(plan.projection);
    const out = scope.allocF32(outLength);
    const shift = scope.allocF32(rows);
    const maxExponent = writeFeaturesByRows(backend, map, rows, x, map.dim, projection, out, map.outputs, shift);
    plan.out.set(backend.f32(out, outLength));
    if (!plan.returnStabilizer) return plan.out;
    return { features: plan.out, shift: backend.f32(shift, rows).slice(), maxExponent };
  });
}
