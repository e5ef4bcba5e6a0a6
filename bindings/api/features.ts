// features: random-feature maps φ(x) for the rows of X, the kernel side of
// Performer (FAVOR+) attention (Choromanski et al., "Rethinking Attention
// with Performers", ICLR 2021). Validation, defaults and the normalization
// of each map live here; docs/features.md states the formulas, stabilizers
// and ε for users, and assembly/features/maps.ts computes them.

import {
  describe,
  optionalBoolean,
  requireChoice,
  requireFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireOptions,
} from "../validate.js";

/**
 * Feature maps. With m projection rows ω_l and h = ‖x‖²/2:
 * "positive" (r = m): m^{-1/2}·exp(ωᵀx − h);
 * "hyperbolic" (r = 2m): (2m)^{-1/2}·exp(−h)·[exp(ωᵀx); exp(−ωᵀx)];
 * "trig" (r = 2m): m^{-1/2}·exp(h)·[sin(ωᵀx); cos(ωᵀx)];
 * "relu", "elu+1", "exp", "abs", "identity": m^{-1/2}·f(ωᵀx) (r = m), or
 * f(x) when no projection is given (r = dim).
 */
export type FeatureKind = "positive" | "hyperbolic" | "trig" | "relu" | "elu+1" | "exp" | "abs" | "identity";

export const FEATURE_KINDS: readonly FeatureKind[] = ["positive", "hyperbolic", "trig", "relu", "elu+1", "exp", "abs", "identity"];

/** Kinds that need a projection. */
const PROJECTED_KINDS: readonly FeatureKind[] = ["positive", "hyperbolic", "trig"];

/** Kinds with an exponent, to which the query and key stabilizers apply. */
export const EXPONENTIAL_KINDS: readonly FeatureKind[] = ["positive", "hyperbolic", "trig", "exp"];

/**
 * Stabilizer choice: "query" subtracts a constant per row, "key" one
 * constant for the whole call, and "none" (the default) keeps the exact map.
 */
export type FeatureRole = "query" | "key" | "none";

export const FEATURE_ROLES: readonly FeatureRole[] = ["query", "key", "none"];

/** Options of `features`. Sizes count elements. */
export interface FeaturesOptions {
  /** Rows of X (at least 0). */
  rows: number;
  /** Columns of X, the input dimension (at least 1). */
  dim: number;
  /** The m×dim projection W (for example from `projection`); optional for the generalized kinds. */
  projection?: Float32Array;
  /** m, the projection's row count, checked against its length when given. */
  features?: number;
  /** Feature map (default "positive"). */
  kind?: FeatureKind;
  /** Stabilizer (default "none", the exact map). */
  role?: FeatureRole;
  /**
   * ε added before scaling: φ = scale·(map + ε). Default 0 with role "none";
   * with role "query" or "key": 1e-6 for positive, hyperbolic and exp, 1e-3
   * for relu, elu+1, abs and identity, 0 for trig.
   */
  epsilon?: number;
  /** With role "key", use this constant (rounded to float32) as the shift instead of the call's largest exponent. */
  keyShift?: number;
  /** Return `{ features, shift, maxExponent }` instead of the features alone. */
  returnStabilizer?: boolean;
  /** Output (rows × r), overwritten; a new array is returned when omitted. */
  out?: Float32Array;
}

/** Result of `features` with `returnStabilizer: true`. */
export interface FeaturesWithStabilizer {
  /** rows × r features. */
  features: Float32Array;
  /**
   * shift[i]: the constant subtracted from the exponents of row i, so the
   * features equal the exact map times exp(−shift[i]) (plus the scaled ε).
   * One value repeated for keys, 0 for role "none" and for the kinds
   * without an exponent.
   */
  shift: Float32Array;
  /** The largest exponent before shifting (−Infinity when rows is 0, and for kinds without an exponent). */
  maxExponent: number;
}

/** The part of a features call that the kernels need, shared with the attention ops. */
export interface FeatureMap {
  kind: FeatureKind;
  /** Input dimension. */
  dim: number;
  /** Projection rows m, or 0 when the map applies to x itself. */
  features: number;
  /** Output columns r: m, 2m (hyperbolic, trig) or dim (no projection). */
  outputs: number;
  /** The normalization factor in front of the map, as a float32 value. */
  scale: number;
  epsilon: number;
  role: FeatureRole;
  /** The caller's key shift, or null to use the call's largest exponent. */
  keyShift: number | null;
}

/** A validated features call. */
export interface FeaturesPlan {
  x: Float32Array;
  rows: number;
  projection: Float32Array | null;
  map: FeatureMap;
  out: Float32Array;
  returnStabilizer: boolean;
}

/** Settings of a feature map, as the attention ops pass them. */
export interface FeatureMapSettings {
  dim: number;
  /** Projection rows m, or 0 for no projection. */
  features: number;
  kind?: unknown;
  role?: unknown;
  epsilon?: unknown;
  keyShift?: unknown;
}

/** Returns the default ε of a kind and role (see FeaturesOptions.epsilon). */
export function defaultEpsilon(kind: FeatureKind, role: FeatureRole): number {
  if (role === "none" || kind === "trig") return 0;
  if (kind === "positive" || kind === "hyperbolic" || kind === "exp") return 1e-6;
  return 1e-3;
}

/** Validates the map settings and derives r and the scale; dim and features must already be checked. */
export function planFeatureMap(op: string, settings: FeatureMapSettings): FeatureMap {
  const { dim, features } = settings;
  const kind = requireChoice(op, "kind", settings.kind ?? "positive", FEATURE_KINDS);
  const role = requireChoice(op, "role", settings.role ?? "none", FEATURE_ROLES);
  if (features === 0 && PROJECTED_KINDS.includes(kind)) {
    throw new TypeError(`${op}: projection is missing; kind "${kind}" needs an m×dim projection (see projection())`);
  }
  let epsilon = defaultEpsilon(kind, role);
  if (settings.epsilon !== undefined) {
    epsilon = requireFinite(op, "epsilon", settings.epsilon);
    if (epsilon < 0) throw new RangeError(`${op}: epsilon must be >= 0, got ${epsilon}`);
  }
  let keyShift: number | null = null;
  if (settings.keyShift !== undefined) {
    const value = requireFinite(op, "keyShift", settings.keyShift);
    if (role !== "key") {
      throw new RangeError(`${op}: keyShift is ${value}, but it applies only to role "key", got role ${JSON.stringify(role)}`);
    }
    if (!EXPONENTIAL_KINDS.includes(kind)) {
      throw new RangeError(
        `${op}: keyShift is ${value}, but kind ${JSON.stringify(kind)} has no exponent to shift ` +
          `(keyShift applies to ${EXPONENTIAL_KINDS.map((k) => JSON.stringify(k)).join(", ")})`,
      );
    }
    // The kernels compute in float32; store the value they will use.
    keyShift = Math.fround(value);
  }

  let outputs = features;
  if (features === 0) outputs = dim;
  else if (kind === "hyperbolic" || kind === "trig") outputs = 2 * features;
  let scale = 1;
  if (features > 0) scale = Math.fround(1 / Math.sqrt(kind === "hyperbolic" ? 2 * features : features));
  return { kind, dim, features, outputs, scale, epsilon, role, keyShift };
}

function overlaps(x: Float32Array, y: Float32Array): boolean {
  if (x.buffer !== y.buffer) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

/** Validates a features call and allocates the output if none was given. */
export function planFeatures(x: unknown, options: unknown): FeaturesPlan {
  const op = "features";
  const opts = requireOptions<FeaturesOptions>(op, options);
  const arrayX = requireFloat32Array(op, "x", x);
  const rows = requireInteger(op, "rows", opts.rows);
  const dim = requireInteger(op, "dim", opts.dim, 1);
  if (arrayX.length !== rows * dim) {
    throw new RangeError(`${op}: x has length ${arrayX.length}, expected ${rows * dim} (rows ${rows} × dim ${dim})`);
  }

  let projection: Float32Array | null = null;
  let features = 0;
  if (opts.projection !== undefined) {
    projection = requireFloat32Array(op, "projection", opts.projection);
    if (opts.features !== undefined) {
      features = requireInteger(op, "features", opts.features, 1);
      if (projection.length !== features * dim) {
        throw new RangeError(
          `${op}: projection has length ${projection.length}, expected ${features * dim} (features ${features} × dim ${dim})`,
        );
      }
    } else {
      if (projection.length === 0 || projection.length % dim !== 0) {
        throw new RangeError(
          `${op}: projection has length ${projection.length}, expected a positive multiple of dim ${dim} (features × dim, at least one row)`,
        );
      }
      features = projection.length / dim;
    }
  } else if (opts.features !== undefined) {
    throw new RangeError(`${op}: features is ${describe(opts.features)}, but no projection was given; pass the projection it describes`);
  }

  const map = planFeatureMap(op, { dim, features, kind: opts.kind, role: opts.role, epsilon: opts.epsilon, keyShift: opts.keyShift });
  const returnStabilizer = optionalBoolean(op, "returnStabilizer", opts.returnStabilizer, false);
  const outLength = rows * map.outputs;
  requireFitsInMemory(op, arrayX.length + features * dim + outLength + rows,
    `x, projection, features and row shifts (${arrayX.length} + ${features * dim} + ${outLength} + ${rows} float32 values)`);

  let out: Float32Array;
  if (opts.out === undefined) {
    out = new Float32Array(outLength);
  } else {
    out = requireFloat32Length(op, "out", opts.out, outLength, `rows ${rows} × ${map.outputs} features of kind "${map.kind}"`);
    if (overlaps(out, arrayX) || (projection !== null && overlaps(out, projection))) {
      throw new RangeError(`${op}: out overlaps x or projection in memory; pass a separate output array`);
    }
  }
  return { x: arrayX, rows, projection, map, out, returnStabilizer };
}
