// projection: the random matrix W (features × dim) of a random-feature map,
// drawn from the seeded normal stream (bindings/api/random.ts). Validation
// and the stream layout live here; docs/features.md describes both for users.
//
// Stream layout. Draw t of a seed (the `draw` option, 0 ≤ t < 2^32) reads
// the seed's normal stream from offset t·2^32, so successive draws never
// share a number. Within a draw:
//   - "iid": row i is draws i·dim … (i+1)·dim − 1.
//   - "orthogonal-cwy": block b reads dim² draws from b·dim² to build the
//     Householder vectors of one Haar matrix (householder.randomOrthogonal's
//     layout), and the chi vectors of all rows, dim draws per row, start at
//     2^31 within the slot.
//   - "orthogonal": block b (rows b·dim … b·dim + dim − 1) starts at draw
//     b·2·dim². Its row j reads 2·dim draws from b·2·dim² + 2·j·dim: the
//     first dim are column j of the block's Gaussian matrix G, the next dim
//     are the Gaussian vector whose norm row j takes under norms "chi".
// A draw spans at most 2·features·dim < 2^31 numbers (the output has fewer
// than 2^30 elements), so it fits in its 2^32 slot. Row j of a block depends
// only on columns 0..j of G and its own norm vector, so a request for more
// features starts with the rows of a request for fewer.

import { requireUint64, type RandomSeed } from "./random.js";
import {
  describe,
  requireChoice,
  requireFitsInMemory,
  requireFloat32Length,
  requireInteger,
  requireOptions,
} from "../validate.js";

/**
 * Row construction. "iid": independent Gaussian rows. "orthogonal": rows
 * in blocks of dim orthonormal directions from the QR factorization of a
 * Gaussian matrix, each block exactly Haar-distributed and independent of
 * the others. "orthogonal-cwy": the same block structure, but each block is
 * a product of dim Householder reflections accumulated in compact WY form
 * (householder.randomOrthogonal), Haar-distributed on the orthogonal
 * matrices with determinant (−1)^dim.
 */
export type ProjectionKind = "iid" | "orthogonal" | "orthogonal-cwy";

/** Every supported kind; a new kind is added here and in the runner's table (ops/projection.ts). */
export const PROJECTION_KINDS: readonly ProjectionKind[] = ["iid", "orthogonal", "orthogonal-cwy"];

/**
 * Row norms. "chi": each row has the norm of a Gaussian vector in R^dim, so
 * each row is marginally N(0, I) (the unbiased estimator of the softmax
 * kernel). For "iid" rows are already Gaussian and are left as drawn; for
 * "orthogonal" each row is rescaled to the norm of a fresh Gaussian vector.
 * "sqrt-d": every row is rescaled to norm √dim (the regularized softmax
 * kernel).
 */
export type ProjectionNorms = "chi" | "sqrt-d";

export const PROJECTION_NORMS: readonly ProjectionNorms[] = ["chi", "sqrt-d"];

/** The largest draw index plus one: draw t uses the stream offsets t·2^32 … t·2^32 + 2^32 − 1. */
export const DRAW_LIMIT = 2 ** 32;

/** Options of `projection`. */
export interface ProjectionOptions {
  /** Number of rows m (at least 1). */
  features: number;
  /** Number of columns, the input dimension d (at least 1). */
  dim: number;
  /** "orthogonal" (default) or "iid". */
  kind?: ProjectionKind;
  /** "chi" (default) or "sqrt-d". */
  norms?: ProjectionNorms;
  /** Generator seed: a number in [0, 2^53 − 1] or a bigint in [0, 2^64 − 1]. */
  seed: RandomSeed;
  /** Index of the draw in the seed's sequence of matrices, an integer in [0, 2^32 − 1] (default 0). */
  draw?: number;
  /** Output (features × dim, row-major), overwritten; a new array is returned when omitted. */
  out?: Float32Array;
}

/** A validated projection request. */
export interface ProjectionPlan {
  op: string;
  features: number;
  dim: number;
  kind: ProjectionKind;
  norms: ProjectionNorms;
  key0: number;
  key1: number;
  draw: number;
  out: Float32Array;
}

/** Requires a draw index: an integer in [0, 2^32 − 1]. */
export function requireDrawIndex(op: string, name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`${op}: ${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 0 || value >= DRAW_LIMIT) {
    throw new RangeError(`${op}: ${name} must be an integer in [0, 2^32 − 1], got ${value}`);
  }
  return value;
}

/** Float32 values of scratch memory the runner allocates besides the output. */
export function projectionScratch(kind: ProjectionKind, features: number, dim: number): number {
  if (kind === "iid") return 0;
  if (kind === "orthogonal-cwy") {
    // The sampled blocks (features rounded up to whole blocks, times dim),
    // sampleOrthogonalCwy's seven dim×dim and two dim-sized work buffers,
    // and the chi vectors (features×dim).
    return Math.ceil(features / dim) * dim * dim + 8 * dim * dim + 2 * dim + features * dim;
  }
  const k = Math.min(features, dim);
  // Draws of one block (2·k·dim) and f32_orthonormal_rows's work (2·dim·k + dim + 2·k).
  return 4 * k * dim + dim + 2 * k;
}

/** Validates a projection request; `op` names the calling op in messages. */
export function planProjection(options: unknown, op = "projection"): ProjectionPlan {
  const opts = requireOptions<ProjectionOptions>(op, options);
  const features = requireInteger(op, "features", opts.features, 1);
  const dim = requireInteger(op, "dim", opts.dim, 1);
  const kind = requireChoice(op, "kind", opts.kind ?? "orthogonal", PROJECTION_KINDS);
  const norms = requireChoice(op, "norms", opts.norms ?? "chi", PROJECTION_NORMS);
  if (opts.seed === undefined) {
    throw new TypeError(`${op}: seed is missing; pass a number in [0, 2^53 − 1] or a bigint in [0, 2^64 − 1]`);
  }
  const key = requireUint64(op, "seed", opts.seed);
  const draw = opts.draw === undefined ? 0 : requireDrawIndex(op, "draw", opts.draw);

  const elements = features * dim;
  const scratch = projectionScratch(kind, features, dim);
  requireFitsInMemory(op, elements + scratch, `the ${features}×${dim} projection and its scratch (${elements} + ${scratch} float32 values)`);
  let out: Float32Array;
  if (opts.out === undefined) {
    out = new Float32Array(elements);
  } else {
    out = requireFloat32Length(op, "out", opts.out, elements, `features ${features} × dim ${dim}`);
  }
  return {
    op,
    features,
    dim,
    kind,
    norms,
    key0: Number(key & 0xffffffffn),
    key1: Number(key >> 32n),
    draw,
    out,
  };
}
