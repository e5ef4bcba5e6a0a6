// Hybrid random features (Choromanski et al., "Hybrid Random Features",
// ICLR 2022): an estimate of the softmax kernel SM(x, y) = exp(xᵀy) that
// mixes two unbiased base estimates with a weight λ(x, y) that is itself
// estimated with random features,
//
//   Ŝ = (1 − λ̂)·Ŝ1 + λ̂·Ŝ2,   λ̂ = a + b·ρ(x)ᵀρ(y)/divisor,
//
// where ρ are unnormalized weight features:
//   "angular":  ρ(x) = sign(Ω_λ x) (m_λ values), λ̂ = ½ − Σ signs/(2m_λ),
//               an unbiased estimate of θ/π for the angle θ between x and y;
//   "gaussian": ρ(x) = [sin(Ω_λ x/σ); cos(Ω_λ x/σ)] (2m_λ values),
//               λ̂ = Σ cos(ω_lᵀ(x − y)/σ)/m_λ, an unbiased estimate of
//               exp(−‖x − y‖²/(2σ²)) that can leave [0, 1].
// With λ̂ independent of the base estimates, E Ŝ = SM. "angular-hybrid" is
// the trig base weighted 1 − λ and the hyperbolic base weighted λ: at θ = 0
// the signs always agree (λ̂ = 0) and trig is exact there, and at θ = π
// λ̂ = 1 and the hyperbolic estimate cosh(ωᵀ(x + y)) = cosh(0) is exact.
//
// Tensor-product linearization: with (uᵀv)(sᵀt) = (u⊗s)ᵀ(v⊗t),
//   Ψ_q(x) = [ (1−a)φ1(x) ; −(b/divisor)·ρ(x)⊗φ1(x) ; a·φ2(x) ; (b/divisor)·ρ(x)⊗φ2(x) ],
//   Ψ_k(y) = [ φ1(y) ; ρ(y)⊗φ1(y) ; φ2(y) ; ρ(y)⊗φ2(y) ],
// so Ψ_q(x)ᵀΨ_k(y) = Ŝ exactly, with (1 + D_λ)(D1 + D2) features, where
// D = m (positive) or 2m (hyperbolic, trig) and D_λ = m_λ or 2m_λ. Block k
// of ρ⊗φ is ρ_k·φ. This file validates the hybrid specification and plans
// the map; docs/kernels.md describes both for users.

import {
  planFeatureMap,
  type FeatureMap,
  type FeatureRole,
} from "./features.js";
import {
  describe,
  optionalBoolean,
  requireFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireNoOverlap,
  requireOptions,
} from "../validate.js";

/** The unbiased softmax-kernel estimators a hybrid can mix (docs/features.md gives their maps). */
export type BaseEstimator = "positive" | "hyperbolic" | "trig";

export const BASE_ESTIMATORS: readonly BaseEstimator[] = ["positive", "hyperbolic", "trig"];

/** The Gaussian weight λ(x, y) = exp(−‖x − y‖²/(2σ²)). */
export interface GaussianLambda {
  kind: "gaussian";
  /** σ > 0, the bandwidth, in the units of x. */
  sigma: number;
}

/** The weight λ of the second base: "angular" (θ/π) or a Gaussian kernel. */
export type HybridLambda = "angular" | GaussianLambda;

/** A general hybrid: base 1 weighted 1 − λ, base 2 weighted λ. */
export interface HybridSpec {
  hybrid: readonly [BaseEstimator, BaseEstimator];
  lambda: HybridLambda;
}

/** Shorthand for `{ hybrid: ["trig", "hyperbolic"], lambda: "angular" }`. */
export const ANGULAR_HYBRID = "angular-hybrid";

/** The three independent projections of a hybrid, each (rows × dim), row-major. */
export interface HybridProjection {
  /** Projection of the first base map (m1 × dim). */
  base1: Float32Array;
  /** Projection of the second base map (m2 × dim). */
  base2: Float32Array;
  /** Projection Ω_λ of the weight features (m_λ × dim). */
  lambda: Float32Array;
}

/** A validated hybrid specification with the constants of λ̂ = a + b·ρ(x)ᵀρ(y)/divisor (divisor set per m_λ). */
export interface HybridPlan {
  bases: [BaseEstimator, BaseEstimator];
  lambda: "angular" | "gaussian";
  /** σ of the Gaussian weight; 1 for the angular weight. */
  sigma: number;
  a: number;
  b: number;
}

/** Returns the number of features of a base map with m projection rows. */
export function baseOutputs(kind: BaseEstimator, m: number): number {
  return kind === "positive" ? m : 2 * m;
}

/** Returns D_λ, the number of weight features for m_λ projection rows. */
export function lambdaOutputs(plan: HybridPlan, lambdaFeatures: number): number {
  return plan.lambda === "angular" ? lambdaFeatures : 2 * lambdaFeatures;
}

/** Returns the divisor of λ̂: 2m_λ for the angular weight, m_λ for the Gaussian one. */
export function lambdaDivisor(plan: HybridPlan, lambdaFeatures: number): number {
  return plan.lambda === "angular" ? 2 * lambdaFeatures : lambdaFeatures;
}

/** Returns true when `value` names a hybrid ("angular-hybrid" or an object with a `hybrid` entry). */
export function isHybrid(value: unknown): boolean {
  return value === ANGULAR_HYBRID || (value !== null && typeof value === "object" && !Array.isArray(value) && "hybrid" in value);
}

const LAMBDA_RULE = `"angular" or { kind: "gaussian", sigma } with sigma > 0`;

/** Validates a hybrid specification (see isHybrid); `name` is the option's name in messages. */
export function parseHybrid(op: string, name: string, value: unknown): HybridPlan {
  if (value === ANGULAR_HYBRID) return { bases: ["trig", "hyperbolic"], lambda: "angular", sigma: 1, a: 0.5, b: -1 };
  const spec = requireOptions<Partial<HybridSpec>>(op, value);
  const bases = spec.hybrid as unknown;
  const baseList = BASE_ESTIMATORS.map((b) => JSON.stringify(b)).join(", ");
  if (!Array.isArray(bases) || bases.length !== 2) {
    throw new TypeError(`${op}: ${name}.hybrid must be an array of two base estimators (${baseList}), got ${describe(bases)}`);
  }
  for (let k = 0; k < 2; k++) {
    if (!(BASE_ESTIMATORS as readonly unknown[]).includes(bases[k])) {
      throw new RangeError(`${op}: ${name}.hybrid[${k}] must be one of ${baseList}, got ${describe(bases[k])}`);
    }
  }
  const lambda = spec.lambda as unknown;
  if (lambda === "angular") return { bases: [bases[0], bases[1]], lambda: "angular", sigma: 1, a: 0.5, b: -1 };
  if (lambda === undefined) {
    throw new TypeError(`${op}: ${name}.lambda is missing; pass ${LAMBDA_RULE}`);
  }
  if (lambda === null || typeof lambda !== "object" || (lambda as { kind?: unknown }).kind !== "gaussian") {
    throw new RangeError(`${op}: ${name}.lambda must be ${LAMBDA_RULE}, got ${describe(lambda)}`);
  }
  const sigma = requireFinite(op, `${name}.lambda.sigma`, (lambda as { sigma?: unknown }).sigma);
  if (!(sigma > 0)) throw new RangeError(`${op}: ${name}.lambda.sigma must be > 0, got ${sigma}`);
  return { bases: [bases[0], bases[1]], lambda: "gaussian", sigma, a: 0, b: 1 };
}

/** Row counts of the three projections of a hybrid. */
export interface HybridShape {
  features1: number;
  features2: number;
  lambdaFeatures: number;
}

/** Requires a projection with a positive multiple of dim values (or exactly features·dim when features is given); returns its row count. */
export function requireProjectionRows(op: string, name: string, value: unknown, dim: number, features: number | undefined): number {
  const array = requireFloat32Array(op, name, value);
  if (features !== undefined) {
    if (array.length !== features * dim) {
      throw new RangeError(`${op}: ${name} has length ${array.length}, expected ${features * dim} (features ${features} × dim ${dim})`);
    }
    return features;
  }
  if (array.length === 0 || array.length % dim !== 0) {
    throw new RangeError(
      `${op}: ${name} has length ${array.length}, expected a positive multiple of dim ${dim} (features × dim, at least one row)`,
    );
  }
  return array.length / dim;
}

/**
 * Validates the `{ base1, base2, lambda }` projections of a hybrid; `features`
 * (both bases) and `lambdaFeatures`, when given, must match their lengths.
 */
export function requireHybridProjection(
  op: string, value: unknown, dim: number, features: number | undefined, lambdaFeatures: number | undefined,
): HybridProjection & HybridShape {
  if (value === null || typeof value !== "object" || value instanceof Float32Array || Array.isArray(value)) {
    throw new TypeError(
      `${op}: projection of a hybrid must be an object { base1, base2, lambda } of three Float32Arrays, got ${describe(value)}`,
    );
  }
  const parts = value as Partial<HybridProjection>;
  const features1 = requireProjectionRows(op, "projection.base1", parts.base1, dim, features);
  const features2 = requireProjectionRows(op, "projection.base2", parts.base2, dim, features);
  const rowsLambda = requireProjectionRows(op, "projection.lambda", parts.lambda, dim, lambdaFeatures);
  return {
    base1: parts.base1 as Float32Array,
    base2: parts.base2 as Float32Array,
    lambda: parts.lambda as Float32Array,
    features1,
    features2,
    lambdaFeatures: rowsLambda,
  };
}

/** The hybrid map as the kernels need it, shared with the attention ops. */
export interface HybridFeatureMap {
  hybrid: HybridPlan;
  dim: number;
  /** The two base maps, with the role and key shift of the call and ε = 0. */
  bases: [FeatureMap, FeatureMap];
  lambdaFeatures: number;
  /** D_λ: m_λ (angular) or 2m_λ (Gaussian). */
  lambdaOutputs: number;
  /** (1 + D_λ)·(D1 + D2). */
  outputs: number;
  role: FeatureRole;
  /** Float32 coefficients c0..c3 of the tensor kernel: query [1−a, −b/divisor, a, b/divisor], key [1, 1, 1, 1]. */
  coefficients: [number, number, number, number];
}

/** Settings of a hybrid map, as the attention ops pass them. */
export interface HybridFeatureMapSettings extends HybridShape {
  dim: number;
  kind: unknown;
  role?: unknown;
  keyShift?: unknown;
  epsilon?: unknown;
}

/** Validates the settings of a hybrid map; dim and the row counts must already be checked. */
export function planHybridFeatureMap(op: string, settings: HybridFeatureMapSettings): HybridFeatureMap {
  const hybrid = parseHybrid(op, "kind", settings.kind);
  if (settings.epsilon !== undefined && settings.epsilon !== 0) {
    throw new RangeError(
      `${op}: epsilon is ${describe(settings.epsilon)}, but hybrid maps take no ε: their features take both signs, ` +
        "so ε cannot keep the attention normalizer positive; omit epsilon and guard the normalizer instead",
    );
  }
  if (settings.role !== "query" && settings.role !== "key") {
    throw new RangeError(
      `${op}: role must be "query" (Ψ_q) or "key" (Ψ_k) for a hybrid kind, because the two maps differ, got ${describe(settings.role)}`,
    );
  }
  const { dim, features1, features2, lambdaFeatures } = settings;
  const common = { dim, role: settings.role, keyShift: settings.keyShift, epsilon: 0 };
  const bases: [FeatureMap, FeatureMap] = [
    planFeatureMap(op, { ...common, features: features1, kind: hybrid.bases[0] }),
    planFeatureMap(op, { ...common, features: features2, kind: hybrid.bases[1] }),
  ];
  const role = bases[0].role;
  const outputsLambda = lambdaOutputs(hybrid, lambdaFeatures);
  const outputs = (1 + outputsLambda) * (bases[0].outputs + bases[1].outputs);
  const weight = hybrid.b / lambdaDivisor(hybrid, lambdaFeatures);
  const coefficients: [number, number, number, number] = role === "query"
    ? [Math.fround(1 - hybrid.a), Math.fround(-weight), Math.fround(hybrid.a), Math.fround(weight)]
    : [1, 1, 1, 1];
  return { hybrid, dim, bases, lambdaFeatures, lambdaOutputs: outputsLambda, outputs, role, coefficients };
}

/** Float32 values of scratch that writeHybridFeatures needs for `rows` rows. */
export function hybridScratchElements(map: HybridFeatureMap, rows: number): number {
  // Both base maps, the weight features, both row-shift vectors and a zero vector.
  return rows * (map.bases[0].outputs + map.bases[1].outputs + map.lambdaOutputs + 3);
}

/** Options of `features` with a hybrid kind. */
export interface HybridFeaturesOptions {
  rows: number;
  dim: number;
  /** "angular-hybrid" or a general hybrid. */
  kind: typeof ANGULAR_HYBRID | HybridSpec;
  /** The three projections. */
  projection: HybridProjection;
  /** Rows of each base projection, checked against their lengths when given. */
  features?: number;
  /** Rows of the weight projection, checked against its length when given. */
  lambdaFeatures?: number;
  /** "query" gives Ψ_q with a per-row shift, "key" gives Ψ_k with one shift for the call; required. */
  role: "query" | "key";
  /** With role "key", this shift (rounded to float32) replaces the call's largest exponent. */
  keyShift?: number;
  /** Must be 0 or omitted: hybrid maps take no ε. */
  epsilon?: number;
  returnStabilizer?: boolean;
  out?: Float32Array;
}

/** A validated hybrid features call. */
export interface HybridFeaturesPlan {
  x: Float32Array;
  rows: number;
  projection: HybridProjection;
  map: HybridFeatureMap;
  out: Float32Array;
  returnStabilizer: boolean;
}

/** Validates a features call with a hybrid kind. */
export function planHybridFeatures(x: unknown, options: unknown): HybridFeaturesPlan {
  const op = "features";
  const opts = requireOptions<HybridFeaturesOptions>(op, options);
  const arrayX = requireFloat32Array(op, "x", x);
  const rows = requireInteger(op, "rows", opts.rows);
  const dim = requireInteger(op, "dim", opts.dim, 1);
  if (arrayX.length !== rows * dim) {
    throw new RangeError(`${op}: x has length ${arrayX.length}, expected ${rows * dim} (rows ${rows} × dim ${dim})`);
  }
  const features = opts.features === undefined ? undefined : requireInteger(op, "features", opts.features, 1);
  const lambdaFeatures = opts.lambdaFeatures === undefined ? undefined : requireInteger(op, "lambdaFeatures", opts.lambdaFeatures, 1);
  if (opts.projection === undefined) {
    throw new TypeError(`${op}: projection is missing; a hybrid kind needs { base1, base2, lambda } (see kernel.projection())`);
  }
  const projection = requireHybridProjection(op, opts.projection, dim, features, lambdaFeatures);
  const map = planHybridFeatureMap(op, {
    dim, kind: opts.kind, role: opts.role, keyShift: opts.keyShift, epsilon: opts.epsilon,
    features1: projection.features1, features2: projection.features2, lambdaFeatures: projection.lambdaFeatures,
  });
  const returnStabilizer = optionalBoolean(op, "returnStabilizer", opts.returnStabilizer, false);
  const outLength = rows * map.outputs;
  const inputs = arrayX.length + projection.base1.length + projection.base2.length + projection.lambda.length;
  const scratch = hybridScratchElements(map, rows);
  requireFitsInMemory(op, inputs + outLength + scratch + rows,
    `x, projections, features and scratch (${inputs} + ${outLength} + ${scratch + rows} float32 values)`);

  let out: Float32Array;
  if (opts.out === undefined) {
    out = new Float32Array(outLength);
  } else {
    out = requireFloat32Length(op, "out", opts.out, outLength, `rows ${rows} × ${map.outputs} hybrid features`);
    requireNoOverlap(op, "out", out, "x", arrayX);
    requireNoOverlap(op, "out", out, "projection.base1", projection.base1);
    requireNoOverlap(op, "out", out, "projection.base2", projection.base2);
    requireNoOverlap(op, "out", out, "projection.lambda", projection.lambda);
  }
  return { x: arrayX, rows, projection, map, out, returnStabilizer };
}

/** Returns "hybrid" when a features call names a hybrid kind, else "plain" (planFeatures reports invalid options). */
export function featuresRoute(options: unknown): "hybrid" | "plain" {
  if (options === null || typeof options !== "object") return "plain";
  return isHybrid((options as { kind?: unknown }).kind) ? "hybrid" : "plain";
}
