// odeToOde.forward and odeToOde.backward: the ODEtoODE flows (main flow
// x_{i+1} = x_i + h·f(W_i·x_i), weights W_{i+1} = W_i·Γ(h·b_i) on the
// orthogonal group) and their gradients. Validation, defaults and the
// params layout of each generator live here; docs/odetoode.md has the
// mathematics. The backend receives a checked plan.

import {
  describe,
  optionalBoolean,
  requireAllFinite,
  requireChoice,
  requireFinite,
  requireFitsInMemory,
  requireFloat32Array,
  requireFloat32Length,
  requireInteger,
  requireOptions,
} from "../validate.js";

/**
 * Where the skew-symmetric generator b_i comes from (ψ, N and Λ are read
 * from `params`, row-major):
 * - "constant": b = ψ − ψᵀ for one dim×dim ψ; params contains ψ.
 * - "time-varying": b_i = ψ_k − ψ_kᵀ with k = ⌊i·pieces/steps⌋, a piecewise
 *   constant schedule over `pieces` equal stretches of time; params contains
 *   ψ_0 … ψ_{pieces−1} back to back (pieces = steps gives one ψ per step).
 * - "isospectral": b(W) = [WᵀNW, Λ] = WᵀNW·Λ − Λ·WᵀNW with symmetric N, Λ;
 *   params contains P_N then P_Λ (dim×dim each), and N = (P_N + P_Nᵀ)/2,
 *   Λ = (P_Λ + P_Λᵀ)/2, so any square input is accepted and dparams is the
 *   gradient with respect to the entries of P_N and P_Λ.
 */
export type OdeGenerator = "constant" | "time-varying" | "isospectral";
/** The activation f of the main flow; every one but gelu has |f′| ≤ 1. */
export type OdeActivation = "tanh" | "relu" | "gelu" | "identity";
/** Γ: the Cayley map (I − A/2)⁻¹(I + A/2) or the matrix exponential. */
export type OdeStepper = "cayley" | "exp";

/** Options of `odeToOde.forward`. Sizes count elements. */
export interface OdeForwardOptions {
  /** Rows of x0: independent samples that share the weight flow (at least 1). */
  batch: number;
  /** State dimension d: x is batch×d and W is d×d (at least 1). */
  dim: number;
  /** Number of steps N (at least 1); the flows run to time T = N·h. */
  steps: number;
  /** Step size h > 0. */
  h: number;
  /** W_0, dim×dim. The flow keeps W_iᵀW_i = W_0ᵀW_0, so an orthogonal W_0 keeps W_i orthogonal. */
  w0: Float32Array;
  generator: OdeGenerator;
  /** Generator parameters; the length and layout depend on the generator (see OdeGenerator). */
  params: Float32Array;
  /** Number of pieces of the time-varying schedule, 1 … steps (default steps); only for "time-varying". */
  pieces?: number;
  activation: OdeActivation;
  stepper: OdeStepper;
  /** Also return x_0 … x_N (default false). */
  returnTrajectory?: boolean;
}

/** Result of `odeToOde.forward`. */
export interface OdeForwardResult {
  /** x_N, batch×dim. */
  xT: Float32Array;
  /** W_N, dim×dim. */
  wT: Float32Array;
  /** x_0 … x_N, (steps + 1)×batch×dim, when returnTrajectory is true. */
  trajectory?: Float32Array;
}

/** Options of `odeToOde.backward`: the forward options (without returnTrajectory) and the memory strategy. */
export interface OdeBackwardOptions extends Omit<OdeForwardOptions, "returnTrajectory"> {
  /**
   * Steps per stored checkpoint, 1 … steps (default ⌈√steps⌉). The backward
   * pass keeps one x (and, with wRecovery "checkpoints", one W) per
   * checkpoint and recomputes each stretch of this many steps from it.
   */
  checkpointEvery?: number;
  /** Keep every x_i, W_i and Γ_i of one forward pass instead of checkpoints (default false), for comparison. */
  storeTrajectory?: boolean;
  /**
   * How checkpointed runs get W_i back: "reverse" recovers W_i = W_{i+1}·Γ_iᵀ
   * from W_N (constant and time-varying generators only, and their default);
   * "checkpoints" stores W with each checkpoint and recomputes forward (the
   * only choice for isospectral, whose Γ_i depends on W_i).
   */
  wRecovery?: "reverse" | "checkpoints";
  /** Also return ‖∂L/∂x_i‖_F for i = 0 … steps (default false). */
  returnGradNorms?: boolean;
}

/** Result of `odeToOde.backward`: Euclidean gradients of L with respect to every entry. */
export interface OdeBackwardResult {
  /** ∂L/∂x0, batch×dim. */
  dx0: Float32Array;
  /** ∂L/∂w0, dim×dim. */
  dw0: Float32Array;
  /** ∂L/∂params, laid out like params. */
  dparams: Float32Array;
  /** ‖∂L/∂x_i‖_F for i = 0 … steps, when returnGradNorms is true. */
  gradNorms?: Float32Array;
}

/** Activation codes of assembly/ode/activation.ts. */
export const ACTIVATION_CODES: Record<OdeActivation, number> = { identity: 0, tanh: 1, relu: 2, gelu: 3 };

/** A validated odeToOde.forward call. */
export interface OdePlan {
  op: string;
  x0: Float32Array;
  w0: Float32Array;
  params: Float32Array;
  batch: number;
  dim: number;
  steps: number;
  h: number;
  generator: OdeGenerator;
  /** Pieces of the schedule: 1 for "constant", the option for "time-varying", 0 for "isospectral". */
  pieces: number;
  activation: OdeActivation;
  stepper: OdeStepper;
  returnTrajectory: boolean;
}

/** A validated odeToOde.backward call. */
export interface OdeBackwardPlan extends OdePlan {
  gradXT: Float32Array;
  /** Steps per segment: checkpointEvery, or steps when storeTrajectory is set. */
  checkpointEvery: number;
  storeTrajectory: boolean;
  wRecovery: "reverse" | "checkpoints";
  returnGradNorms: boolean;
}

const GENERATORS = ["constant", "time-varying", "isospectral"] as const;
const ACTIVATIONS = ["tanh", "relu", "gelu", "identity"] as const;
const STEPPERS = ["cayley", "exp"] as const;

/** Float32 values of the stepper's workspace: expm's Padé buffers, or I − A/2 and its pivots. */
function stepperWorkspace(stepper: OdeStepper, dim: number): number {
  return stepper === "exp" ? 10 * dim * dim + dim : dim * dim + dim;
}

function planCommon(op: string, x0: unknown, opts: OdeForwardOptions): OdePlan {
  const arrayX0 = requireFloat32Array(op, "x0", x0);
  const batch = requireInteger(op, "batch", opts.batch, 1);
  const dim = requireInteger(op, "dim", opts.dim, 1);
  const steps = requireInteger(op, "steps", opts.steps, 1);
  const h = requireFinite(op, "h", opts.h);
  if (!(h > 0)) throw new RangeError(`${op}: h must be positive, got ${h}`);
  const generator = requireChoice(op, "generator", opts.generator, GENERATORS);
  const activation = requireChoice(op, "activation", opts.activation, ACTIVATIONS);
  const stepper = requireChoice(op, "stepper", opts.stepper, STEPPERS);

  let pieces: number;
  if (generator === "time-varying") {
    pieces = opts.pieces === undefined ? steps : requireInteger(op, "pieces", opts.pieces, 1);
    if (pieces > steps) {
      throw new RangeError(`${op}: pieces is ${pieces}, but a schedule cannot have more pieces than the ${steps} steps`);
    }
  } else {
    if (opts.pieces !== undefined) {
      throw new RangeError(`${op}: pieces is ${describe(opts.pieces)}, but only the "time-varying" generator has pieces (generator is "${generator}")`);
    }
    pieces = generator === "constant" ? 1 : 0;
  }

  const size = dim * dim;
  const paramsLength = generator === "isospectral" ? 2 * size : pieces * size;
  requireFitsInMemory(op, 2 * batch * dim + 12 * size + paramsLength + stepperWorkspace(stepper, dim),
    `x, w, params and workspace (${2 * batch * dim + 12 * size + paramsLength + stepperWorkspace(stepper, dim)} float32 values)`);

  requireFloat32Length(op, "x0", arrayX0, batch * dim, `batch ${batch} × dim ${dim}`);
  requireAllFinite(op, "x0", arrayX0);
  const w0 = requireFloat32Length(op, "w0", opts.w0, size, `dim ${dim} × dim ${dim}`);
  requireAllFinite(op, "w0", w0);
  const paramsRule = generator === "isospectral"
    ? `P_N and P_Λ, 2 × dim ${dim} × dim ${dim}, for the isospectral generator`
    : generator === "constant"
      ? `one ψ of dim ${dim} × dim ${dim} for the constant generator`
      : `pieces ${pieces} × dim ${dim} × dim ${dim} for the time-varying generator`;
  const params = requireFloat32Length(op, "params", opts.params, paramsLength, paramsRule);
  requireAllFinite(op, "params", params);

  return {
    op, x0: arrayX0, w0, params, batch, dim, steps, h, generator, pieces, activation, stepper,
    returnTrajectory: false,
  };
}

/** Validates an odeToOde.forward call. */
export function planOdeForward(x0: unknown, options: unknown): OdePlan {
  const op = "odeToOde.forward";
  const opts = requireOptions<OdeForwardOptions>(op, options);
  const plan = planCommon(op, x0, opts);
  plan.returnTrajectory = optionalBoolean(op, "returnTrajectory", opts.returnTrajectory, false);
  if (plan.returnTrajectory) {
    requireFitsInMemory(op, (plan.steps + 1) * plan.batch * plan.dim,
      `the trajectory ((steps ${plan.steps} + 1) × batch ${plan.batch} × dim ${plan.dim} float32 values)`);
  }
  return plan;
}

/**
 * Float32 values the backward pass allocates for `segment` steps per segment
 * and `checkpoints` checkpoints (see ops/ode.ts): states and gradients,
 * d×d temporaries, the stepper and Fréchet workspaces, the checkpoints and
 * the segment buffers.
 */
export function odeBackwardValues(plan: OdePlan, segment: number, checkpoints: number, storeW: boolean): number {
  const bd = plan.batch * plan.dim;
  const size = plan.dim * plan.dim;
  const frechet = plan.stepper === "exp" ? 48 * size + 2 * plan.dim : 0;
  return 6 * bd + 24 * size + 2 * plan.params.length + stepperWorkspace(plan.stepper, plan.dim) + frechet +
    checkpoints * (bd + (storeW ? size : 0)) + segment * (bd + 3 * size);
}

/** Validates an odeToOde.backward call and resolves the memory strategy. */
export function planOdeBackward(x0: unknown, gradXT: unknown, options: unknown): OdeBackwardPlan {
  const op = "odeToOde.backward";
  const opts = requireOptions<OdeBackwardOptions>(op, options);
  if ((opts as OdeForwardOptions).returnTrajectory !== undefined) {
    throw new RangeError(`${op}: returnTrajectory is a forward option; backward returns gradients (use returnGradNorms for per-step norms)`);
  }
  const plan = planCommon(op, x0, opts);
  const grad = requireFloat32Length(op, "gradXT", requireFloat32Array(op, "gradXT", gradXT),
    plan.batch * plan.dim, `batch ${plan.batch} × dim ${plan.dim}, like x_T`);
  requireAllFinite(op, "gradXT", grad);

  const storeTrajectory = optionalBoolean(op, "storeTrajectory", opts.storeTrajectory, false);
  const returnGradNorms = optionalBoolean(op, "returnGradNorms", opts.returnGradNorms, false);
  let checkpointEvery: number;
  let wRecovery: "reverse" | "checkpoints";
  if (storeTrajectory) {
    if (opts.checkpointEvery !== undefined || opts.wRecovery !== undefined) {
      throw new RangeError(`${op}: checkpointEvery and wRecovery apply to checkpointed runs; leave them out with storeTrajectory: true`);
    }
    checkpointEvery = plan.steps;
    wRecovery = "checkpoints";
  } else {
    checkpointEvery = opts.checkpointEvery === undefined
      ? Math.ceil(Math.sqrt(plan.steps))
      : requireInteger(op, "checkpointEvery", opts.checkpointEvery, 1);
    if (checkpointEvery > plan.steps) {
      throw new RangeError(`${op}: checkpointEvery is ${checkpointEvery}, more than the ${plan.steps} steps`);
    }
    const fallback = plan.generator === "isospectral" ? "checkpoints" : "reverse";
    wRecovery = requireChoice(op, "wRecovery", opts.wRecovery ?? fallback, ["reverse", "checkpoints"] as const);
    if (wRecovery === "reverse" && plan.generator === "isospectral") {
      throw new RangeError(
        `${op}: wRecovery "reverse" needs Γ_i before W_i is known, but the isospectral generator's Γ_i depends on W_i; use "checkpoints"`,
      );
    }
  }
  const checkpoints = Math.ceil(plan.steps / checkpointEvery);
  const values = odeBackwardValues(plan, checkpointEvery, checkpoints, wRecovery === "checkpoints");
  requireFitsInMemory(op, values, `checkpoints, segment buffers and gradients (${values} float32 values)`);
  return { ...plan, gradXT: grad, checkpointEvery, storeTrajectory, wRecovery, returnGradNorms };
}
