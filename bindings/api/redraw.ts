// redrawPolicy: when to replace the random projection during training.
// Random-feature attention is trained with projections that are redrawn
// periodically. The policy counts training calls and switches to the next
// draw of the same seed every `redrawEvery` of them. Draw t is exactly
// `projection({ ...options, draw: t })`, so the sequence of matrices
// depends only on the seed, never on the data, and a run can be resumed
// from (draw, stepsSinceRedraw).

import { DRAW_LIMIT, planProjection, type ProjectionOptions, type ProjectionPlan } from "./projection.js";
import { describe, requireInteger, requireOptions } from "../validate.js";

/** Options of `redrawPolicy`: those of `projection` (without `out`), plus the schedule. */
export interface RedrawPolicyOptions extends Omit<ProjectionOptions, "out"> {
  /**
   * Number of counted training steps after which the next draw replaces
   * the current one, an integer >= 0. 0 turns automatic redraws off, so
   * only `redraw()` changes the matrix.
   */
  redrawEvery: number;
  /** Training steps already counted since the current draw was made (default 0), for resuming. */
  stepsSinceRedraw?: number;
}

/** The position of a policy, enough to resume it with the same options. */
export interface RedrawPolicyState {
  /** Index of the current draw. */
  draw: number;
  /** Training steps counted since the current draw was made. */
  stepsSinceRedraw: number;
  /** Whether `step()` counts (training) or not (evaluation). */
  training: boolean;
}

/** A validated redrawPolicy request. */
export interface RedrawPolicyPlan {
  projection: ProjectionPlan;
  redrawEvery: number;
  stepsSinceRedraw: number;
}

/** Validates redrawPolicy options. */
export function planRedrawPolicy(options: unknown): RedrawPolicyPlan {
  const op = "redrawPolicy";
  const opts = requireOptions<RedrawPolicyOptions & { out?: unknown }>(op, options);
  if (opts.out !== undefined) {
    throw new TypeError(`${op}: out is not an option here, got ${describe(opts.out)}; the policy allocates a new matrix at each redraw`);
  }
  const projection = planProjection(opts, op);
  if (opts.redrawEvery === undefined) {
    throw new TypeError(`${op}: redrawEvery is missing; pass the number of training steps between redraws (0 for explicit redraws only)`);
  }
  const redrawEvery = requireInteger(op, "redrawEvery", opts.redrawEvery);
  const stepsSinceRedraw = opts.stepsSinceRedraw === undefined ? 0 : requireInteger(op, "stepsSinceRedraw", opts.stepsSinceRedraw);
  if (redrawEvery > 0 && stepsSinceRedraw >= redrawEvery) {
    throw new RangeError(
      `${op}: stepsSinceRedraw is ${stepsSinceRedraw}, but must be below redrawEvery ${redrawEvery} (a redraw would already have happened)`,
    );
  }
  return { projection, redrawEvery, stepsSinceRedraw };
}

/**
 * The current projection of a training run and the schedule that replaces
 * it. Created by `favor.redrawPolicy`; every method is synchronous.
 */
export class RedrawPolicy {
  private current: Float32Array;
  private drawIndex: number;
  private steps: number;
  private isTraining = true;

  /** `drawProjection(t)` returns draw t of the plan's seed. */
  constructor(
    private readonly plan: RedrawPolicyPlan,
    private readonly drawProjection: (draw: number) => Float32Array,
  ) {
    this.drawIndex = plan.projection.draw;
    this.steps = plan.stepsSinceRedraw;
    this.current = drawProjection(this.drawIndex);
  }

  /**
   * The current features × dim matrix. A redraw replaces it with a new
   * array and leaves the old one unchanged; do not modify it in place.
   */
  get projection(): Float32Array {
    return this.current;
  }

  /** Index of the current draw: the `draw` option of `projection` that reproduces it. */
  get draw(): number {
    return this.drawIndex;
  }

  /** Training steps counted since the current draw was made. */
  get stepsSinceRedraw(): number {
    return this.steps;
  }

  /** Steps between automatic redraws (0: none). */
  get redrawEvery(): number {
    return this.plan.redrawEvery;
  }

  /** True in training mode, false in evaluation mode. */
  get training(): boolean {
    return this.isTraining;
  }

  /** The position of the policy, to resume it later with the same options. */
  get state(): RedrawPolicyState {
    return { draw: this.drawIndex, stepsSinceRedraw: this.steps, training: this.isTraining };
  }

  /**
   * Counts one training call. In training mode, the redrawEvery-th counted
   * step since the last redraw replaces the projection with the next draw
   * and returns true. In evaluation mode nothing is counted and the
   * projection stays frozen. Returns whether the projection changed.
   */
  step(): boolean {
    if (!this.isTraining) return false;
    this.steps++;
    if (this.plan.redrawEvery > 0 && this.steps >= this.plan.redrawEvery) {
      this.redraw();
      return true;
    }
    return false;
  }

  /**
   * Replaces the projection with the next draw now, in either mode, and
   * restarts the step count. Returns the new matrix.
   */
  redraw(): Float32Array {
    const next = this.drawIndex + 1;
    if (next >= DRAW_LIMIT) {
      throw new RangeError(`redrawPolicy: draw ${this.drawIndex} is the last of the seed's 2^32 draws; start a policy with another seed`);
    }
    this.current = this.drawProjection(next);
    this.drawIndex = next;
    this.steps = 0;
    return this.current;
  }

  /** Switches to training mode, where `step()` counts; returns the policy. */
  train(): this {
    this.isTraining = true;
    return this;
  }

  /** Switches to evaluation mode, where the projection is frozen; returns the policy. */
  eval(): this {
    this.isTraining = false;
    return this;
  }
}
