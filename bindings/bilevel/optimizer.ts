// bilevel.optimizer: SGD or Adam on the outer parameters θ, with each step's
// gradient from bilevel.gradient. Step k (0-based) takes its Bernoulli draw
// from uniform draw k of the seed's stream, so a run is reproducible for a
// seed and equals calling bilevel.gradient with offset k at every step.

import {
  requireTask,
  type BilevelAdaptiveState,
  type BilevelAsyncTask,
  type BilevelGradientPlan,
  type BilevelGradientResult,
  type BilevelOptimizerPlan,
  type BilevelTask,
} from "../api/bilevel.js";
import { describe } from "../validate.js";
import { createAdaptiveState } from "./adaptive.js";
import { bilevelGradient, driveAsync, driveSync, type CallbackRequest, type UniformSource } from "./gradient.js";

/** The result of one optimizer step: the gradient result plus the step's index and learning rate. */
export interface BilevelStepResult extends BilevelGradientResult {
  /** 0-based index of this step. */
  step: number;
  learningRate: number;
}

/** An optimizer with synchronous callbacks. */
export interface BilevelOptimizer {
  /** The caller's θ array, updated in place by each step. */
  readonly theta: Float32Array;
  /** Number of steps taken. */
  readonly steps: number;
  /** q of the next step: the fixed q, the adaptive rule's current q, 0 for "fom" or 1 for "exact". */
  readonly q: number;
  /** The adaptive rule's state when q is "adaptive", otherwise null. */
  readonly adaptiveState: BilevelAdaptiveState | null;
  /** Computes the gradient for `task` at θ and updates θ in place. */
  step(task: BilevelTask): BilevelStepResult;
}

/** An optimizer whose callbacks may return Promises. */
export interface BilevelAsyncOptimizer {
  readonly theta: Float32Array;
  readonly steps: number;
  readonly q: number;
  readonly adaptiveState: BilevelAdaptiveState | null;
  /** Computes the gradient for `task` at θ and updates θ in place; one step at a time. */
  step(task: BilevelAsyncTask): Promise<BilevelStepResult>;
}

/** Number of uniform draws fetched from the generator at a time. */
const DRAW_BLOCK = 1024;

/** Serves uniform draws k = 0, 1, … of one seed from blocks fetched through the WASM generator. */
class UniformBlocks {
  private start = 0n;
  private block: Float32Array = new Float32Array(0);

  constructor(private readonly source: UniformSource, private readonly seed: bigint) {}

  draw(index: bigint): number {
    if (index < this.start || index >= this.start + BigInt(this.block.length)) {
      this.start = index;
      this.block = this.source(DRAW_BLOCK, this.seed, index);
    }
    return this.block[Number(index - this.start)]!;
  }
}

/** The optimizer's state and the update rules, shared by the sync and async forms. */
class OptimizerCore {
  steps = 0;
  readonly adaptiveState: BilevelAdaptiveState | null;
  private readonly draws: UniformBlocks;
  private readonly firstMoment: Float32Array | null;
  private readonly secondMoment: Float32Array | null;
  /** Adam's β1^t and β2^t for the bias correction. */
  private beta1Power = 1;
  private beta2Power = 1;

  constructor(readonly op: string, readonly plan: BilevelOptimizerPlan, uniform: UniformSource) {
    this.adaptiveState = plan.adaptive === null ? null : createAdaptiveState(plan.adaptive);
    this.draws = new UniformBlocks(uniform, plan.seed);
    const adam = plan.optimizer === "adam";
    this.firstMoment = adam ? new Float32Array(plan.theta.length) : null;
    this.secondMoment = adam ? new Float32Array(plan.theta.length) : null;
  }

  get q(): number {
    if (this.plan.method === "fom") return 0;
    if (this.plan.method === "exact") return 1;
    return this.adaptiveState === null ? this.plan.q! : this.adaptiveState.q;
  }

  /** Computes one gradient and applies the update; yields a request per callback call. */
  *run(task: unknown): Generator<CallbackRequest, BilevelStepResult, unknown> {
    const { op, plan } = this;
    requireTask(op, task, plan.method);
    const theta = plan.theta;
    for (let i = 0; i < theta.length; i++) {
      if (!Number.isFinite(theta[i])) {
        throw new RangeError(`${op}: theta[${i}] is ${theta[i]} before step ${this.steps}; parameters must be finite`);
      }
    }
    const step = this.steps;
    const learningRate = this.learningRate(step);
    const gradientPlan: BilevelGradientPlan = {
      op,
      theta: theta.slice(),
      n: theta.length,
      innerSteps: plan.innerSteps,
      innerRate: plan.innerRate,
      method: plan.method,
      q: plan.q,
      adaptiveState: this.adaptiveState,
      seed: plan.seed,
      offset: BigInt(step),
      storeTrajectory: plan.storeTrajectory,
    };
    const uniform: UniformSource = (_count, _seed, offset) => new Float32Array([this.draws.draw(offset)]);
    const result = yield* bilevelGradient(gradientPlan, uniform);
    this.apply(result.gradient, learningRate, step);
    this.steps++;
    return { ...result, step, learningRate };
  }

  private learningRate(step: number): number {
    const rate = this.plan.learningRate;
    if (typeof rate === "number") return rate;
    const value = rate(step);
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`${this.op}: learningRate(${step}) returned ${describe(value)}; it must return a finite number >= 0`);
    }
    return value;
  }

  /** Updates θ in place; raises a RangeError and leaves θ and the moments unchanged if an update is not finite. */
  private apply(gradient: Float32Array, learningRate: number, step: number): void {
    const theta = this.plan.theta;
    const n = theta.length;
    const update = new Float64Array(n);
    let m: Float64Array | null = null;
    let v: Float64Array | null = null;
    if (this.plan.optimizer === "sgd") {
      for (let i = 0; i < n; i++) update[i] = learningRate * gradient[i]!;
    } else {
      const { beta1, beta2, epsilon } = this.plan;
      m = new Float64Array(n);
      v = new Float64Array(n);
      const beta1Power = this.beta1Power * beta1;
      const beta2Power = this.beta2Power * beta2;
      for (let i = 0; i < n; i++) {
        const g = gradient[i]!;
        m[i] = beta1 * this.firstMoment![i]! + (1 - beta1) * g;
        v[i] = beta2 * this.secondMoment![i]! + (1 - beta2) * g * g;
        const mHat = Math.fround(m[i]!) / (1 - beta1Power);
        const vHat = Math.fround(v[i]!) / (1 - beta2Power);
        update[i] = (learningRate * mHat) / (Math.sqrt(vHat) + epsilon);
      }
    }
    for (let i = 0; i < n; i++) {
      const next = Math.fround(theta[i]! - update[i]!);
      if (!Number.isFinite(next)) {
        throw new RangeError(`${this.op}: step ${step} would make theta[${i}] ${next}; lower learningRate`);
      }
    }
    if (m !== null && v !== null) {
      this.firstMoment!.set(m);
      this.secondMoment!.set(v);
      this.beta1Power *= this.plan.beta1;
      this.beta2Power *= this.plan.beta2;
    }
    for (let i = 0; i < n; i++) theta[i] = theta[i]! - update[i]!;
  }
}

/** Creates a synchronous optimizer from a validated plan. */
export function createOptimizer(plan: BilevelOptimizerPlan, uniform: UniformSource): BilevelOptimizer {
  const core = new OptimizerCore("bilevel.optimizer.step", plan, uniform);
  return {
    theta: plan.theta,
    get steps() {
      return core.steps;
    },
    get q() {
      return core.q;
    },
    adaptiveState: core.adaptiveState,
    step: (task) => driveSync(core.run(task), task),
  };
}

/** Creates an optimizer whose callbacks may return Promises. */
export function createAsyncOptimizer(plan: BilevelOptimizerPlan, uniform: UniformSource): BilevelAsyncOptimizer {
  const core = new OptimizerCore("bilevel.optimizer.step", plan, uniform);
  let running = false;
  return {
    theta: plan.theta,
    get steps() {
      return core.steps;
    },
    get q() {
      return core.q;
    },
    adaptiveState: core.adaptiveState,
    step: async (task) => {
      if (running) {
        throw new Error(`${core.op}: step ${core.steps} was called while the previous step is still running; await each step`);
      }
      running = true;
      try {
        return await driveAsync(core.run(task), task as object);
      } finally {
        running = false;
      }
    },
  };
}
