// Runs a validated projection plan on the WASM backend: draws the Gaussian
// numbers with f32_random_normal in the layout of bindings/api/projection.ts,
// orthonormalizes each block and sets the row norms. Every step is plain
// float32 arithmetic, so all builds return the same bits.

import type { ProjectionKind, ProjectionPlan } from "../../../api/projection.js";
import type { Scope, WasmBackend } from "../backend.js";
import { sampleOrthogonalCwy } from "./householder.js";

type NormalKernel = (out: number, count: number, offsetLo: number, offsetHi: number, key0: number, key1: number) => void;
type OrthonormalRowsKernel = (k: number, d: number, g: number, ldg: number, out: number, ldo: number, work: number) => void;
type RescaleRowsKernel = (k: number, d: number, w: number, ldw: number, chi: number, ldchi: number) => void;

/**
 * How one block kind turns the Gaussian columns of a block into orthonormal
 * rows: `rows` rows of `dim` values at `out` (row stride dim) from the
 * columns at `draws` (row j of draws contains column j, row stride 2·dim).
 * Another block construction (for example products of Householder
 * reflections) becomes a new kind by adding an entry here, a name in
 * PROJECTION_KINDS and its scratch size in projectionScratch.
 */
type BlockOrthonormalizer = (backend: WasmBackend, rows: number, dim: number, draws: number, out: number, work: number) => void;

const BLOCK_ORTHONORMALIZERS: Record<Exclude<ProjectionKind, "iid" | "orthogonal-cwy">, BlockOrthonormalizer> = {
  orthogonal: (backend, rows, dim, draws, out, work) => {
    backend.kernel<OrthonormalRowsKernel>("f32_orthonormal_rows")(rows, dim, draws, 2 * dim, out, dim, work);
  },
};

/**
 * Writes the plan's features×dim matrix at `out` in WASM memory, allocating
 * scratch in `scope`. The attention ops call this to keep W resident.
 */
export function writeProjection(backend: WasmBackend, scope: Scope, plan: ProjectionPlan, out: number): void {
  const normal = backend.kernel<NormalKernel>("f32_random_normal");
  const rescale = backend.kernel<RescaleRowsKernel>("f32_rescale_rows");
  const { features, dim, key0, key1, draw } = plan;

  if (plan.kind === "iid") {
    normal(out, features * dim, 0, draw, key0, key1);
    if (plan.norms === "sqrt-d") rescale(features, dim, out, dim, 0, 0);
    return;
  }

  if (plan.kind === "orthogonal-cwy") {
    // Whole Haar blocks from Householder products; their rows have unit norm
    // and are rescaled like the other kinds. The GEMMs inside the product use
    // relaxed multiply-add in the relaxed build, so this kind is reproducible
    // bit for bit per build, not across builds.
    const blocks = sampleOrthogonalCwy(backend, scope, dim, features, { key0, key1, offsetLo: 0, offsetHi: draw });
    backend.f32(out, features * dim).set(backend.f32(blocks, features * dim));
    if (plan.norms === "chi") {
      const chi = scope.allocF32(features * dim);
      normal(chi, features * dim, 2 ** 31, draw, key0, key1);
      rescale(features, dim, out, dim, chi, dim);
    } else {
      rescale(features, dim, out, dim, 0, 0);
    }
    return;
  }

  const orthonormalize = BLOCK_ORTHONORMALIZERS[plan.kind];
  const blockRows = Math.min(features, dim);
  const draws = scope.allocF32(2 * blockRows * dim);
  const work = scope.allocF32(2 * dim * blockRows + dim + 2 * blockRows);
  for (let first = 0; first < features; first += dim) {
    const rows = Math.min(dim, features - first);
    // Block b = first/dim starts at stream offset b·2·dim² = 2·first·dim < 2^31.
    normal(draws, 2 * rows * dim, 2 * first * dim, draw, key0, key1);
    const block = out + first * dim * 4;
    orthonormalize(backend, rows, dim, draws, block, work);
    rescale(rows, dim, block, dim, plan.norms === "chi" ? draws + dim * 4 : 0, 2 * dim);
  }
}

/** Draws the matrix into WASM memory and copies it out into plan.out. */
export function runProjection(backend: WasmBackend, plan: ProjectionPlan): Float32Array {
  return backend.withScope(plan.op, (scope) => {
    const elements = plan.features * plan.dim;
    const out = scope.allocF32(elements);
    writeProjection(backend, scope, plan, out);
    plan.out.set(backend.f32(out, elements));
    return plan.out;
  });
}
