// kernel.softmax and kernel.gaussian: the matrix of kernel values
// k(x_i, y_j) for every pair of rows, exact or estimated with random
// features, and kernel.projection, which draws the projections an
// estimator uses. Validation and the seed layout live here;
// docs/kernels.md describes the estimators for users.
//
// Seed layout. Without an explicit projection, the projections come from
// `projection({ features, dim, kind: projectionKind, norms, seed, draw })`:
//   - positive, hyperbolic, trig: draw t (the `draw` option, default 0);
//   - hybrids: base 1 from draw 3t, base 2 from draw 3t + 1 and the weight
//     projection (lambdaFeatures rows) from draw 3t + 2.
// Distinct draws read disjoint ranges of the seed's normal stream
// (bindings/api/projection.ts), so the three projections of a hybrid are
// independent, as its unbiasedness requires.

import {
  baseOutputs,
  BASE_ESTIMATORS,
  isHybrid,
  lambdaOutputs,
  parseHybrid,
  requireHybridProjection,
  requireProjectionRows,
  type BaseEstimator,
  type HybridPlan,
  type HybridProjection,
  type HybridSpec,
} from "./hybrid.js";
import {
  DRAW_LIMIT,
  planProjection,
  PROJECTION_KINDS,
  PROJECTION_NORMS,
  requireDrawIndex,
  type ProjectionKind,
  type ProjectionNorms,
  type ProjectionPlan,
} from "./projection.js";
import type { RandomSeed } from "./random.js";
import {
  describe,
  requireChoice,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireNoOverlap,
  requireOptions,
} from "../validate.js";

/** Estimators of kernel.softmax and kernel.gaussian. */
export type KernelEstimator = "exact" | BaseEstimator | "angular-hybrid" | HybridSpec;

const ESTIMATOR_RULE = `"exact", "positive", "hyperbolic", "trig", "angular-hybrid" or { hybrid: [base1, base2], lambda }`;

/** Draw options: how the projections of an estimator come from a seed. */
export interface KernelDrawOptions {
  /** m, the projection rows of each base map (at least 1). */
  features?: number;
  /** m_λ, the rows of a hybrid's weight projection (default: features). */
  lambdaFeatures?: number;
  /** Generator seed (see projection()). */
  seed?: RandomSeed;
  /** Index t of the draw (default 0); hybrids use draws 3t, 3t + 1 and 3t + 2. */
  draw?: number;
  /** Row construction of every projection, a `projection` kind (default "orthogonal"). */
  projectionKind?: ProjectionKind;
  /** Row norms: "chi" (default, unbiased for the softmax kernel) or "sqrt-d". */
  norms?: ProjectionNorms;
}

/** Options of kernel.softmax and kernel.gaussian. */
export interface KernelOptions extends KernelDrawOptions {
  /** Rows of x (at least 0). */
  rowsX: number;
  /** Rows of y (at least 0). */
  rowsY: number;
  /** Columns of x and y (at least 1). */
  dim: number;
  /** The estimator (required). */
  estimator: KernelEstimator;
  /**
   * Explicit projections instead of a seed: an m×dim Float32Array for
   * positive, hyperbolic and trig, `{ base1, base2, lambda }` for hybrids.
   */
  projection?: Float32Array | HybridProjection;
  /** Output (rowsX × rowsY), overwritten; a new array is returned when omitted. */
  out?: Float32Array;
}

/** Options of kernel.projection. */
export interface KernelProjectionOptions extends KernelDrawOptions {
  /** A random estimator (not "exact"). */
  estimator: Exclude<KernelEstimator, "exact">;
  /** Columns of the projections, the input dimension (at least 1). */
  dim: number;
  features: number;
  seed: RandomSeed;
}

/** Source of one projection: the caller's array or a draw of the seed. */
export type ProjectionSource = { given: Float32Array; rows: number } | { drawn: ProjectionPlan; rows: number };

/** A validated random estimator: one base, or a hybrid with its three projections. */
export type EstimatorPlan =
  | { type: "exact" }
  | { type: "base"; kind: BaseEstimator; projection: ProjectionSource }
  | { type: "hybrid"; hybrid: HybridPlan; base1: ProjectionSource; base2: ProjectionSource; lambda: ProjectionSource };

/** A validated kernel call. */
export interface KernelPlan {
  op: string;
  gaussian: boolean;
  x: Float32Array;
  y: Float32Array;
  rowsX: number;
  rowsY: number;
  dim: number;
  estimator: EstimatorPlan;
  out: Float32Array;
}

/** The draws of a seed that an estimator uses: draw t for one base, 3t … 3t + 2 for hybrids. */
export const HYBRID_DRAW_LIMIT = Math.floor((DRAW_LIMIT - 3) / 3) + 1;

type ParsedEstimator = { type: "exact" } | { type: "base"; kind: BaseEstimator } | { type: "hybrid"; hybrid: HybridPlan };

function parseEstimator(op: string, value: unknown): ParsedEstimator {
  if (value === undefined) throw new TypeError(`${op}: estimator is missing; pass ${ESTIMATOR_RULE}`);
  if (value === "exact") return { type: "exact" };
  if ((BASE_ESTIMATORS as readonly unknown[]).includes(value)) return { type: "base", kind: value as BaseEstimator };
  if (isHybrid(value)) return { type: "hybrid", hybrid: parseHybrid(op, "estimator", value) };
  throw new RangeError(`${op}: estimator must be ${ESTIMATOR_RULE}, got ${describe(value)}`);
}

/** Validates the draw options and returns the projections drawn from the seed. */
function planDraws(op: string, parsed: Exclude<ParsedEstimator, { type: "exact" }>, dim: number, opts: KernelDrawOptions) {
  if (opts.features === undefined) {
    throw new TypeError(`${op}: features is missing; pass the number of random features m (an integer >= 1) or a projection`);
  }
  const features = requireInteger(op, "features", opts.features, 1);
  if (opts.seed === undefined) {
    throw new TypeError(`${op}: seed is missing; pass a seed (a number in [0, 2^53 − 1] or a bigint) or a projection`);
  }
  const kind = requireChoice(op, "projectionKind", opts.projectionKind ?? "orthogonal", PROJECTION_KINDS);
  const norms = requireChoice(op, "norms", opts.norms ?? "chi", PROJECTION_NORMS);
  const draw = opts.draw === undefined ? 0 : requireDrawIndex(op, "draw", opts.draw);
  const source = (rows: number, index: number): ProjectionSource => ({
    drawn: planProjection({ features: rows, dim, kind, norms, seed: opts.seed as RandomSeed, draw: index }, op),
    rows,
  });

  if (parsed.type === "base") {
    if (opts.lambdaFeatures !== undefined) {
      throw new RangeError(`${op}: lambdaFeatures is ${describe(opts.lambdaFeatures)}, but it applies only to hybrid estimators`);
    }
    return { type: "base" as const, kind: parsed.kind, projection: source(features, draw) };
  }
  const rowsLambda = opts.lambdaFeatures === undefined ? features : requireInteger(op, "lambdaFeatures", opts.lambdaFeatures, 1);
  if (draw >= HYBRID_DRAW_LIMIT) {
    throw new RangeError(
      `${op}: draw must be an integer in [0, ${HYBRID_DRAW_LIMIT - 1}] for a hybrid estimator, which uses draws ` +
        `3·draw, 3·draw + 1 and 3·draw + 2 of the seed; got ${draw}`,
    );
  }
  return {
    type: "hybrid" as const,
    hybrid: parsed.hybrid,
    base1: source(features, 3 * draw),
    base2: source(features, 3 * draw + 1),
    lambda: source(rowsLambda, 3 * draw + 2),
  };
}

/** Validates explicit projections; rejects draw options next to them. */
function planGiven(op: string, parsed: Exclude<ParsedEstimator, { type: "exact" }>, dim: number, opts: KernelOptions): EstimatorPlan {
  for (const name of ["seed", "draw", "projectionKind", "norms"] as const) {
    if (opts[name] !== undefined) {
      throw new RangeError(`${op}: ${name} is ${describe(opts[name])}, but projection is given too; pass either projection or the draw options`);
    }
  }
  const features = opts.features === undefined ? undefined : requireInteger(op, "features", opts.features, 1);
  if (parsed.type === "base") {
    if (opts.lambdaFeatures !== undefined) {
      throw new RangeError(`${op}: lambdaFeatures is ${describe(opts.lambdaFeatures)}, but it applies only to hybrid estimators`);
    }
    if (!(opts.projection instanceof Float32Array)) {
      throw new TypeError(`${op}: projection of estimator "${parsed.kind}" must be a Float32Array (features × dim), got ${describe(opts.projection)}`);
    }
    const rows = requireProjectionRows(op, "projection", opts.projection, dim, features);
    return { type: "base", kind: parsed.kind, projection: { given: opts.projection, rows } };
  }
  const lambdaFeatures = opts.lambdaFeatures === undefined ? undefined : requireInteger(op, "lambdaFeatures", opts.lambdaFeatures, 1);
  const parts = requireHybridProjection(op, opts.projection, dim, features, lambdaFeatures);
  return {
    type: "hybrid",
    hybrid: parsed.hybrid,
    base1: { given: parts.base1, rows: parts.features1 },
    base2: { given: parts.base2, rows: parts.features2 },
    lambda: { given: parts.lambda, rows: parts.lambdaFeatures },
  };
}

/** Float32 values the runner allocates for an estimator, besides x, y and the output. */
function scratchElements(estimator: EstimatorPlan, rowsX: number, rowsY: number, dim: number): number {
  const rows = rowsX + rowsY;
  if (estimator.type === "exact") return 0;
  // Half squared norms, row shifts and projections of every part.
  let total = 2 * rows;
  const base = (kind: BaseEstimator, source: ProjectionSource) => {
    total += source.rows * dim + baseOutputs(kind, source.rows) * rows + rows;
    if ("drawn" in source) total += 4 * Math.min(source.rows, dim) * dim + dim + 2 * Math.min(source.rows, dim);
  };
  if (estimator.type === "base") {
    base(estimator.kind, estimator.projection);
    return total;
  }
  base(estimator.hybrid.bases[0], estimator.base1);
  base(estimator.hybrid.bases[1], estimator.base2);
  total += estimator.lambda.rows * dim + lambdaOutputs(estimator.hybrid, estimator.lambda.rows) * rows + rows;
  // The second base's estimates and the weight products (rowsX × rowsY each).
  return total + 2 * rowsX * rowsY;
}

/** Validates a kernel.softmax (gaussian false) or kernel.gaussian call. */
export function planKernel(gaussian: boolean, x: unknown, y: unknown, options: unknown): KernelPlan {
  const op = gaussian ? "kernel.gaussian" : "kernel.softmax";
  const opts = requireOptions<KernelOptions>(op, options);
  const arrayX = requireFloat32Array(op, "x", x);
  const arrayY = requireFloat32Array(op, "y", y);
  const rowsX = requireInteger(op, "rowsX", opts.rowsX);
  const rowsY = requireInteger(op, "rowsY", opts.rowsY);
  const dim = requireInteger(op, "dim", opts.dim, 1);
  if (arrayX.length !== rowsX * dim) {
    throw new RangeError(`${op}: x has length ${arrayX.length}, expected ${rowsX * dim} (rowsX ${rowsX} × dim ${dim})`);
  }
  if (arrayY.length !== rowsY * dim) {
    throw new RangeError(`${op}: y has length ${arrayY.length}, expected ${rowsY * dim} (rowsY ${rowsY} × dim ${dim})`);
  }

  const parsed = parseEstimator(op, opts.estimator);
  let estimator: EstimatorPlan = { type: "exact" };
  if (parsed.type !== "exact") {
    estimator = opts.projection === undefined ? planDraws(op, parsed, dim, opts) : planGiven(op, parsed, dim, opts);
  }

  const outLength = rowsX * rowsY;
  const scratch = scratchElements(estimator, rowsX, rowsY, dim);
  requireFitsInMemory(op, arrayX.length + arrayY.length + outLength + scratch,
    `x, y, the ${rowsX}×${rowsY} output and scratch (${arrayX.length} + ${arrayY.length} + ${outLength} + ${scratch} float32 values)`);
  let out: Float32Array;
  if (opts.out === undefined) {
    out = new Float32Array(outLength);
  } else {
    out = requireFloat32Length(op, "out", opts.out, outLength, `rowsX ${rowsX} × rowsY ${rowsY}`);
    requireNoOverlap(op, "out", out, "x", arrayX);
    requireNoOverlap(op, "out", out, "y", arrayY);
  }
  return { op, gaussian, x: arrayX, y: arrayY, rowsX, rowsY, dim, estimator, out };
}

/** A validated kernel.projection call. */
export type KernelProjectionPlan =
  | { type: "base"; projection: ProjectionPlan }
  | { type: "hybrid"; base1: ProjectionPlan; base2: ProjectionPlan; lambda: ProjectionPlan };

/** Validates kernel.projection: the projections kernel.softmax would draw for the same options. */
export function planKernelProjection(options: unknown): KernelProjectionPlan {
  const op = "kernel.projection";
  const opts = requireOptions<KernelProjectionOptions>(op, options);
  const dim = requireInteger(op, "dim", opts.dim, 1);
  const parsed = parseEstimator(op, opts.estimator);
  if (parsed.type === "exact") {
    throw new RangeError(`${op}: estimator "exact" uses no projection; pass a random estimator`);
  }
  const planned = planDraws(op, parsed, dim, opts);
  const take = (source: ProjectionSource): ProjectionPlan => (source as { drawn: ProjectionPlan }).drawn;
  if (planned.type === "base") return { type: "base", projection: take(planned.projection) };
  return { type: "hybrid", base1: take(planned.base1), base2: take(planned.base2), lambda: take(planned.lambda) };
}
