// bilevel.gradient, bilevel.optimizer and bilevel.adaptiveState: argument
// checks, defaults and the public types of the bilevel (meta-learning)
// gradient estimators. The algorithms live in bindings/bilevel/.
//
// Setting: an outer parameter θ, r inner gradient steps
// θ_0 = θ, θ_j = θ_{j−1} − α·∇L_in(θ_{j−1}), and the objective L_out(θ_r).
// Its gradient g_E = (I − αH_0)⋯(I − αH_{r−1})·∇L_out(θ_r) with
// H_j = ∇²L_in(θ_j); the first-order estimate g_F = ∇L_out(θ_r); the
// unbiased first-order estimate ĝ = g_F + (ξ/q)(g_E − g_F), ξ ~ Bernoulli(q).

import { requireUint64 } from "./random.js";
import {
  describe,
  optionalBoolean,
  requireChoice,
  requireFinite,
  requireFloat32Array,
  requireInteger,
  requireOptions,
} from "../validate.js";
import type { RandomSeed } from "./random.js";

/** The estimator of the gradient of L_out(θ_r) with respect to θ that `bilevel.gradient` computes. */
export type BilevelMethod = "fom" | "exact" | "ufom";

/** A value a callback may return: the array, or (asynchronous API only) a Promise of it. */
export type MaybePromise<T> = T | PromiseLike<T>;

/**
 * One task of a bilevel problem, as three callbacks on float32 parameter
 * vectors of the length of θ. `step` is the inner step j (0 … r − 1): a
 * callback must return the same values for the same (arguments, step),
 * because the exact gradient recomputes inner steps. The arrays passed in
 * belong to the library and are overwritten after the callback returns:
 * a callback may read or modify them but must copy what it keeps. A
 * callback may return the same array on every call, because the library
 * copies or consumes the result before the next call.
 */
export interface BilevelTask {
  /** Returns ∇L_in(θ_j) at the inner iterate `theta` = θ_j. */
  innerGrad(theta: Float32Array, step: number): Float32Array;
  /** Returns ∇²L_in(θ_j)·vector, the Hessian-vector product at θ_j. Not called by method "fom". */
  innerHvp?(theta: Float32Array, vector: Float32Array, step: number): Float32Array;
  /** Returns ∇L_out(θ_r) at the final inner iterate. */
  outerGrad(theta: Float32Array): Float32Array;
}

/** The task of the Promise-returning API: each callback may also return a Promise of its array. */
export interface BilevelAsyncTask {
  innerGrad(theta: Float32Array, step: number): MaybePromise<Float32Array>;
  innerHvp?(theta: Float32Array, vector: Float32Array, step: number): MaybePromise<Float32Array>;
  outerGrad(theta: Float32Array): MaybePromise<Float32Array>;
}

/** Options of `bilevel.adaptiveState`. */
export interface BilevelAdaptiveOptions {
  /** Smallest q the rule may choose, in (0, 1] (default 0.05). */
  qMin?: number;
  /** EMA factor β in [0, 1) for the estimates of D² and V² (default 0.9). */
  beta?: number;
  /** q used until the first exact gradient has been observed, in [qMin, 1] (default 1). */
  qInitial?: number;
  /** Cost of one innerHvp call in units of one innerGrad or outerGrad call, > 0 (default 1). */
  hvpCost?: number;
}

/**
 * The state of the adaptive q rule, updated in place by every call that
 * computes an exact gradient. `biasSquared` and `normSquared` are NaN until
 * the first update.
 */
export interface BilevelAdaptiveState {
  /** q for the next draw. */
  q: number;
  readonly qMin: number;
  readonly beta: number;
  readonly hvpCost: number;
  /** EMA of ‖g_E − g_F‖² (D̂²). */
  biasSquared: number;
  /** EMA of ‖g_E‖² (V̂²). */
  normSquared: number;
  /** EMA of the cost ratio c_E / c_F measured from callback counts. */
  costRatio: number;
  /** Number of exact gradients observed. */
  updates: number;
}

/** Options of `bilevel.gradient`. */
export interface BilevelGradientOptions {
  /** Number r of inner steps, an integer >= 1. */
  innerSteps: number;
  /** Inner learning rate α, finite and > 0. */
  innerRate: number;
  method: BilevelMethod;
  /** Method "ufom" only: probability q in (0, 1] of computing g_E, or "adaptive" (needs adaptiveState). */
  q?: number | "adaptive";
  /** Method "ufom" only: seed of the Philox stream of the Bernoulli draw. */
  seed?: RandomSeed;
  /** Method "ufom" only: index of the uniform draw in the seed's stream (default 0). */
  offset?: number | bigint;
  /** q "adaptive" only: the state made by `bilevel.adaptiveState`, updated in place. */
  adaptiveState?: BilevelAdaptiveState;
  /** Store θ_0 … θ_{r−1} (r parameter copies, r innerGrad calls) instead of recomputing them (r(r − 1)/2 extra calls). Default false. */
  storeTrajectory?: boolean;
}

/** Callback calls made by one gradient. */
export interface BilevelCost {
  innerGrad: number;
  innerHvp: number;
  outerGrad: number;
}

/** The result of `bilevel.gradient`. */
export interface BilevelGradientResult {
  /** The estimate: g_F for "fom", g_E for "exact", ĝ for "ufom". A new array. */
  gradient: Float32Array;
  /** g_F = ∇L_out(θ_r). */
  firstOrder: Float32Array;
  /** g_E when it was computed, otherwise null. */
  exact: Float32Array | null;
  exactComputed: boolean;
  /**
   * Probability with which g_E was computed: 0 for "fom", 1 for "exact",
   * and for "ufom" the requested q rounded up to a multiple of 2^-24, the
   * exact probability of the draw, by which ĝ divides.
   */
  q: number;
  cost: BilevelCost;
  /** θ-sized Float32Arrays the call allocated, the returned ones included. */
  parameterBuffers: number;
}

/** Options of `bilevel.optimizer`. */
export interface BilevelOptimizerOptions extends Omit<BilevelGradientOptions, "offset" | "adaptiveState">, BilevelAdaptiveOptions {
  /** Outer parameters θ, updated in place by every step. */
  theta: Float32Array;
  /** Update rule (default "sgd"). */
  optimizer?: "sgd" | "adam";
  /** Outer learning rate, or a function of the 0-based step index returning it. */
  learningRate: number | ((step: number) => number);
  /** Adam's first-moment decay (default 0.9). */
  beta1?: number;
  /** Adam's second-moment decay (default 0.999). */
  beta2?: number;
  /** Adam's denominator offset (default 1e-8). */
  epsilon?: number;
}

/** Internal form of a validated gradient call. */
export interface BilevelGradientPlan {
  op: string;
  /** θ_0, copied so the caller may change its array while asynchronous callbacks run. */
  theta: Float32Array;
  n: number;
  innerSteps: number;
  innerRate: number;
  method: BilevelMethod;
  /** Fixed q for "ufom" (before rounding), or null when adaptive or not "ufom". */
  q: number | null;
  adaptiveState: BilevelAdaptiveState | null;
  seed: bigint;
  offset: bigint;
  storeTrajectory: boolean;
}

/** Internal form of validated optimizer options. */
export interface BilevelOptimizerPlan {
  theta: Float32Array;
  optimizer: "sgd" | "adam";
  learningRate: number | ((step: number) => number);
  beta1: number;
  beta2: number;
  epsilon: number;
  innerSteps: number;
  innerRate: number;
  method: BilevelMethod;
  q: number | null;
  adaptive: Required<BilevelAdaptiveOptions> | null;
  seed: bigint;
  storeTrajectory: boolean;
}

const METHODS = ["fom", "exact", "ufom"] as const;
const OPTIMIZERS = ["sgd", "adam"] as const;

/** Requires a finite number in the given interval; `open` marks the open ends. */
function requireInterval(
  op: string, name: string, value: unknown, low: number, high: number, lowOpen: boolean, highOpen: boolean,
): number {
  const number = requireFinite(op, name, value);
  const aboveLow = lowOpen ? number > low : number >= low;
  const belowHigh = highOpen ? number < high : number <= high;
  if (!aboveLow || !belowHigh) {
    const interval = `${lowOpen ? "(" : "["}${low}, ${high}${highOpen ? ")" : "]"}`;
    throw new RangeError(`${op}: ${name} must be in ${interval}, got ${number}`);
  }
  return number;
}

/** Requires a non-empty Float32Array of finite values; returns it. */
function requireParameters(op: string, name: string, value: unknown): Float32Array {
  const theta = requireFloat32Array(op, name, value);
  if (theta.length === 0) {
    throw new RangeError(`${op}: ${name} is empty; pass at least one parameter`);
  }
  for (let i = 0; i < theta.length; i++) {
    if (!Number.isFinite(theta[i])) {
      throw new RangeError(`${op}: ${name}[${i}] is ${theta[i]}; parameters must be finite`);
    }
  }
  return theta;
}

/** Checks that `task` has the callbacks `method` calls. */
export function requireTask(op: string, task: unknown, method: BilevelMethod): void {
  if (task === null || typeof task !== "object") {
    throw new TypeError(`${op}: task must be an object with innerGrad, innerHvp and outerGrad functions, got ${describe(task)}`);
  }
  const names = method === "fom" ? ["innerGrad", "outerGrad"] : ["innerGrad", "innerHvp", "outerGrad"];
  for (const name of names) {
    const callback = (task as Record<string, unknown>)[name];
    if (typeof callback !== "function") {
      const reason = name === "innerHvp" ? ` (method "${method}" needs Hessian-vector products)` : "";
      throw new TypeError(`${op}: task.${name} must be a function${reason}, got ${describe(callback)}`);
    }
  }
}

/**
 * Checks an array returned by a callback: a Float32Array of length n with
 * finite values. `where` names the call, for example "innerGrad at step 3".
 */
export function requireCallbackOutput(op: string, where: string, value: unknown, n: number): Float32Array {
  if (!(value instanceof Float32Array)) {
    const isPromise = value !== null && typeof value === "object" && typeof (value as PromiseLike<unknown>).then === "function";
    const hint = isPromise ? "; asynchronous callbacks need the Promise-returning favor.bilevel API, not favor.sync.bilevel" : "";
    throw new TypeError(`${op}: ${where} returned ${isPromise ? "a Promise" : describe(value)}, expected a Float32Array of length ${n}${hint}`);
  }
  if (value.length !== n) {
    throw new RangeError(`${op}: ${where} returned a Float32Array of length ${value.length}, expected ${n} (the length of theta)`);
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(value[i])) {
      throw new RangeError(`${op}: ${where} returned ${value[i]} at index ${i}; callbacks must return finite values`);
    }
  }
  return value;
}

/** Validates adaptive-rule options and fills in the defaults. */
export function planAdaptiveOptions(op: string, options: BilevelAdaptiveOptions): Required<BilevelAdaptiveOptions> {
  const qMin = options.qMin === undefined ? 0.05 : requireInterval(op, "qMin", options.qMin, 0, 1, true, false);
  const beta = options.beta === undefined ? 0.9 : requireInterval(op, "beta", options.beta, 0, 1, false, true);
  const qInitial = options.qInitial === undefined ? 1 : requireInterval(op, "qInitial", options.qInitial, qMin, 1, false, false);
  const hvpCost = options.hvpCost === undefined ? 1 : requireFinite(op, "hvpCost", options.hvpCost);
  if (hvpCost <= 0) {
    throw new RangeError(`${op}: hvpCost must be > 0, got ${hvpCost}`);
  }
  return { qMin, beta, qInitial, hvpCost };
}

/** Validates the options shared by `bilevel.gradient` and `bilevel.optimizer`. */
function planCommon(op: string, opts: BilevelGradientOptions, adaptiveSource: "state" | "options") {
  const innerSteps = requireInteger(op, "innerSteps", opts.innerSteps, 1);
  const innerRate = requireFinite(op, "innerRate", opts.innerRate);
  if (innerRate <= 0) {
    throw new RangeError(`${op}: innerRate must be > 0, got ${innerRate}`);
  }
  if (opts.method === undefined) {
    throw new TypeError(`${op}: method is missing; pass "fom", "exact" or "ufom"`);
  }
  const method = requireChoice(op, "method", opts.method, METHODS);
  const storeTrajectory = optionalBoolean(op, "storeTrajectory", opts.storeTrajectory, false);

  let q: number | null = null;
  let adaptive = false;
  let seed = 0n;
  if (method === "ufom") {
    if (opts.q === undefined) {
      throw new TypeError(`${op}: q is missing; method "ufom" needs q in (0, 1] or "adaptive"`);
    }
    if (opts.q === "adaptive") {
      adaptive = true;
    } else if (typeof opts.q !== "number") {
      throw new TypeError(`${op}: q must be a number in (0, 1] or "adaptive", got ${describe(opts.q)}`);
    } else if (!(opts.q > 0 && opts.q <= 1)) {
      throw new RangeError(`${op}: q must be in (0, 1] (the probability of computing the exact gradient), got ${opts.q}`);
    } else {
      q = opts.q;
    }
    if (opts.seed === undefined) {
      throw new TypeError(`${op}: seed is missing; method "ufom" draws its Bernoulli variable from a seeded stream`);
    }
    seed = requireUint64(op, "seed", opts.seed);
  }
  if (adaptive && adaptiveSource === "state" && opts.adaptiveState === undefined) {
    throw new TypeError(`${op}: q is "adaptive" but adaptiveState is missing; create one with bilevel.adaptiveState()`);
  }
  return { innerSteps, innerRate, method, storeTrajectory, q, adaptive, seed };
}

/** Checks that `value` is a state made by `bilevel.adaptiveState` and not corrupted since. */
function requireAdaptiveState(op: string, value: unknown): BilevelAdaptiveState {
  const state = value as BilevelAdaptiveState;
  if (value === null || typeof value !== "object" || typeof state.q !== "number" || typeof state.updates !== "number") {
    throw new TypeError(`${op}: adaptiveState must be an object made by bilevel.adaptiveState(), got ${describe(value)}`);
  }
  if (!(state.q >= state.qMin && state.q <= 1)) {
    throw new RangeError(`${op}: adaptiveState.q is ${state.q}, outside [qMin ${state.qMin}, 1]`);
  }
  return state;
}

/** Validates a `bilevel.gradient` call and fills in the defaults. */
export function planBilevelGradient(op: string, theta: unknown, task: unknown, options: unknown): BilevelGradientPlan {
  const opts = requireOptions<BilevelGradientOptions>(op, options);
  const parameters = requireParameters(op, "theta", theta);
  const common = planCommon(op, opts, "state");
  requireTask(op, task, common.method);
  const offset = common.method === "ufom" && opts.offset !== undefined ? requireUint64(op, "offset", opts.offset) : 0n;
  const adaptiveState = common.adaptive ? requireAdaptiveState(op, opts.adaptiveState) : null;
  return {
    op,
    theta: parameters.slice(),
    n: parameters.length,
    innerSteps: common.innerSteps,
    innerRate: common.innerRate,
    method: common.method,
    q: common.q,
    adaptiveState,
    seed: common.seed,
    offset,
    storeTrajectory: common.storeTrajectory,
  };
}

/** Validates `bilevel.optimizer` options and fills in the defaults. */
export function planBilevelOptimizer(op: string, options: unknown): BilevelOptimizerPlan {
  const opts = requireOptions<BilevelOptimizerOptions>(op, options);
  const theta = requireParameters(op, "theta", opts.theta);
  const common = planCommon(op, opts, "options");
  const optimizer = requireChoice(op, "optimizer", opts.optimizer ?? "sgd", OPTIMIZERS);
  let learningRate: number | ((step: number) => number);
  if (typeof opts.learningRate === "function") {
    learningRate = opts.learningRate;
  } else {
    if (opts.learningRate === undefined) {
      throw new TypeError(`${op}: learningRate is missing; pass a number > 0 or a function of the step index`);
    }
    learningRate = requireFinite(op, "learningRate", opts.learningRate);
    if (learningRate <= 0) {
      throw new RangeError(`${op}: learningRate must be > 0, got ${learningRate}`);
    }
  }
  const beta1 = opts.beta1 === undefined ? 0.9 : requireInterval(op, "beta1", opts.beta1, 0, 1, false, true);
  const beta2 = opts.beta2 === undefined ? 0.999 : requireInterval(op, "beta2", opts.beta2, 0, 1, false, true);
  const epsilon = opts.epsilon === undefined ? 1e-8 : requireInterval(op, "epsilon", opts.epsilon, 0, Infinity, true, true);
  const adaptive = common.adaptive ? planAdaptiveOptions(op, opts) : null;
  return {
    theta,
    optimizer,
    learningRate,
    beta1,
    beta2,
    epsilon,
    innerSteps: common.innerSteps,
    innerRate: common.innerRate,
    method: common.method,
    q: common.q,
    adaptive,
    seed: common.seed,
    storeTrajectory: common.storeTrajectory,
  };
}
