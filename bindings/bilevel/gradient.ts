// The bilevel gradient estimators: first-order (FOM), exact, and unbiased
// first-order (UFOM). The algorithm is a generator that yields one request
// per user callback, so the same code runs under a synchronous driver
// (favor.sync.bilevel) and an asynchronous one whose callbacks may return
// Promises (favor.bilevel).
//
// Arithmetic: every update is evaluated in float64 from float32 operands and
// rounded once to float32 when stored, e.g. θ_j[i] = fl32(θ_{j−1}[i] − α·g[i]).
// The vectors are touched once per callback (O(n) work beside a callback of
// at least O(n)), so they stay in JavaScript and never round-trip through
// WASM memory.
//
// Memory: the exact gradient runs the backward recursion
//   u ← ∇L_out(θ_r);  for j = r − 1 … 0: u ← u − α·H_j·u,
// and regenerates θ_j by re-running j inner steps from θ_0, so it keeps a
// fixed number of parameter vectors for any r, at the price of
// r(r − 1)/2 extra innerGrad calls. With storeTrajectory it stores
// θ_0 … θ_{r−1} instead (r vectors, no extra calls). Both paths run the same
// float32 operations in the same order, so they return the same bits.

import {
  requireCallbackOutput,
  type BilevelCost,
  type BilevelGradientPlan,
  type BilevelGradientResult,
} from "../api/bilevel.js";
import { updateAdaptiveState } from "./adaptive.js";

/** One callback call the algorithm needs; the driver passes the callback's return value back to the generator. */
export type CallbackRequest =
  | { kind: "innerGrad"; theta: Float32Array; step: number }
  | { kind: "innerHvp"; theta: Float32Array; vector: Float32Array; step: number }
  | { kind: "outerGrad"; theta: Float32Array; step: number };

/** Returns `count` uniform draws on [0, 1) starting at `offset` of the stream of `seed`. */
export type UniformSource = (count: number, seed: bigint, offset: bigint) => Float32Array;

/** 2^24: uniform draws are multiples of 2^-24. */
const UNIFORM_STEPS = 16777216;

/**
 * Rounds q up to the next multiple of 2^-24. For a uniform u on the grid
 * {0, 2^-24, …, 1 − 2^-24}, P(u < p) is then exactly p, so dividing by p
 * keeps the estimator unbiased.
 */
export function drawProbability(q: number): number {
  return Math.ceil(q * UNIFORM_STEPS) / UNIFORM_STEPS;
}

/** Counts θ-sized allocations, so the result can report the memory a path used. */
class ParameterBuffers {
  /** `count` starts at the buffers made before the call, such as the plan's copy of θ_0. */
  constructor(readonly n: number, public count: number) {}

  allocate(): Float32Array {
    this.count++;
    return new Float32Array(this.n);
  }

  copy(source: Float32Array): Float32Array {
    const buffer = this.allocate();
    buffer.set(source);
    return buffer;
  }
}

/** Per-call state shared by the helper generators. */
interface Context {
  plan: BilevelGradientPlan;
  cost: BilevelCost;
  /** The array handed to callbacks as θ, refilled before each call. */
  thetaArgument: Float32Array;
  /** The array handed to innerHvp as the vector; allocated on first use. */
  vectorArgument: Float32Array | null;
  buffers: ParameterBuffers;
}

/** Requests one callback call and returns its checked output. */
function* call(
  context: Context, kind: CallbackRequest["kind"], theta: Float32Array, step: number, vector?: Float32Array,
): Generator<CallbackRequest, Float32Array, unknown> {
  context.thetaArgument.set(theta);
  context.cost[kind]++;
  let output: unknown;
  if (kind === "innerHvp") {
    context.vectorArgument ??= context.buffers.allocate();
    context.vectorArgument.set(vector!);
    output = yield { kind, theta: context.thetaArgument, vector: context.vectorArgument, step };
  } else {
    output = yield { kind, theta: context.thetaArgument, step } as CallbackRequest;
  }
  return requireCallbackOutput(context.plan.op, `${kind} at step ${step}`, output, context.plan.n);
}

/**
 * Runs `steps` inner steps from θ_0 into `current`. When `trajectory` is
 * given, stores θ_j in trajectory[j] before step j.
 */
function* innerSteps(
  context: Context, current: Float32Array, steps: number, trajectory: Float32Array[] | null,
): Generator<CallbackRequest, void, unknown> {
  const alpha = context.plan.innerRate;
  current.set(context.plan.theta);
  for (let j = 0; j < steps; j++) {
    if (trajectory !== null) trajectory[j]!.set(current);
    const gradient = yield* call(context, "innerGrad", current, j);
    for (let i = 0; i < current.length; i++) current[i] = current[i]! - alpha * gradient[i]!;
  }
}

/** Draws ξ for "ufom" and returns whether g_E is needed, with the probability used. */
function chooseExact(plan: BilevelGradientPlan, uniform: UniformSource): { exact: boolean; q: number } {
  if (plan.method === "fom") return { exact: false, q: 0 };
  if (plan.method === "exact") return { exact: true, q: 1 };
  const q = drawProbability(plan.adaptiveState === null ? plan.q! : plan.adaptiveState.q);
  const u = uniform(1, plan.seed, plan.offset)[0]!;
  return { exact: u < q, q };
}

/** Computes one gradient estimate; yields a request per callback call. */
export function* bilevelGradient(
  plan: BilevelGradientPlan, uniform: UniformSource,
): Generator<CallbackRequest, BilevelGradientResult, unknown> {
  const r = plan.innerSteps;
  const alpha = plan.innerRate;
  // One buffer exists already: plan.theta, the copy of θ_0 made by the plan.
  const buffers = new ParameterBuffers(plan.n, 1);
  const context: Context = {
    plan,
    cost: { innerGrad: 0, innerHvp: 0, outerGrad: 0 },
    thetaArgument: buffers.allocate(),
    vectorArgument: null,
    buffers,
  };
  const choice = chooseExact(plan, uniform);

  // Forward pass: θ_r and g_F. Only a step that needs g_E stores the trajectory.
  const current = buffers.allocate();
  let trajectory: Float32Array[] | null = null;
  if (choice.exact && plan.storeTrajectory) {
    trajectory = [];
    for (let j = 0; j < r; j++) trajectory.push(buffers.allocate());
  }
  yield* innerSteps(context, current, r, trajectory);
  const firstOrder = buffers.copy(yield* call(context, "outerGrad", current, r));
  const firstOrderCost = context.cost.innerGrad + context.cost.outerGrad;

  let exact: Float32Array | null = null;
  if (choice.exact) {
    // Backward recursion u ← (I − α·H_j)·u for j = r − 1 … 0.
    exact = buffers.copy(firstOrder);
    for (let j = r - 1; j >= 0; j--) {
      let thetaJ: Float32Array;
      if (trajectory !== null) {
        thetaJ = trajectory[j]!;
      } else {
        yield* innerSteps(context, current, j, null);
        thetaJ = current;
      }
      const product = yield* call(context, "innerHvp", thetaJ, j, exact);
      for (let i = 0; i < exact.length; i++) exact[i] = exact[i]! - alpha * product[i]!;
    }
  }

  const gradient = buffers.allocate();
  if (exact === null) {
    gradient.set(firstOrder);
  } else {
    // ĝ = g_E/q + (1 − 1/q)·g_F: equal to g_F + (g_E − g_F)/q, and exactly g_E when q = 1.
    const scale = 1 / choice.q;
    const firstOrderScale = 1 - scale;
    for (let i = 0; i < gradient.length; i++) gradient[i] = exact[i]! * scale + firstOrderScale * firstOrder[i]!;
  }

  if (exact !== null && plan.adaptiveState !== null) {
    const hvpCost = plan.adaptiveState.hvpCost;
    const exactCost = context.cost.innerGrad + context.cost.outerGrad - firstOrderCost + hvpCost * context.cost.innerHvp;
    updateAdaptiveState(plan.adaptiveState, firstOrder, exact, firstOrderCost, exactCost);
  }

  return {
    gradient,
    firstOrder,
    exact,
    exactComputed: exact !== null,
    q: choice.q,
    cost: context.cost,
    parameterBuffers: buffers.count,
  };
}

/** Calls the task's callback for one request. */
function invoke(task: Record<string, Function>, request: CallbackRequest): unknown {
  switch (request.kind) {
    case "innerGrad":
      return task.innerGrad!(request.theta, request.step);
    case "innerHvp":
      return task.innerHvp!(request.theta, request.vector, request.step);
    case "outerGrad":
      return task.outerGrad!(request.theta);
  }
}

/** Runs a request generator with synchronous callbacks. */
export function driveSync<T>(steps: Generator<CallbackRequest, T, unknown>, task: object): T {
  let next = steps.next();
  while (!next.done) next = steps.next(invoke(task as Record<string, Function>, next.value));
  return next.value;
}

/** Runs a request generator, awaiting callbacks that return Promises. */
export async function driveAsync<T>(steps: Generator<CallbackRequest, T, unknown>, task: object): Promise<T> {
  let next = steps.next();
  while (!next.done) next = steps.next(await invoke(task as Record<string, Function>, next.value));
  return next.value;
}
