// Optimizers for the SLiM runner's parameters: Adam (with decoupled weight
// decay, AdamW) and SGD with momentum, both with optional clipping of the
// gradients' global L2 norm. They update the parameter Float32Arrays in
// place and keep their moments in JavaScript memory.

import type { AdamPlan, SgdPlan } from "../api/slim.js";
import { describe } from "../validate.js";

/** An optimizer over a fixed set of named parameters. */
export interface SlimOptimizer {
  /** Applies one update for these gradients (same names and lengths as the parameters); returns the gradients' L2 norm before clipping. */
  step(gradients: Record<string, Float32Array>): number;
  /** Number of steps taken. */
  readonly steps: number;
}

function checkGradients(op: string, parameters: Record<string, Float32Array>, gradients: unknown): Record<string, Float32Array> {
  if (gradients === null || typeof gradients !== "object") {
    throw new TypeError(`${op}: gradients must be an object of Float32Arrays by parameter name, got ${describe(gradients)}`);
  }
  const record = gradients as Record<string, unknown>;
  for (const name of Object.keys(parameters)) {
    const g = record[name];
    if (!(g instanceof Float32Array)) {
      throw new TypeError(`${op}: gradients.${name} must be a Float32Array, got ${describe(g)}`);
    }
    if (g.length !== parameters[name].length) {
      throw new RangeError(`${op}: gradients.${name} has length ${g.length}, expected ${parameters[name].length} (the parameter's length)`);
    }
  }
  return record as Record<string, Float32Array>;
}

/** Requires an object of Float32Arrays by name (for example model.parameters). */
export function requireParameters(op: string, value: unknown): Record<string, Float32Array> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`${op}: parameters must be an object of Float32Arrays by name (for example model.parameters), got ${describe(value)}`);
  }
  for (const [name, array] of Object.entries(value)) {
    if (!(array instanceof Float32Array)) {
      throw new TypeError(`${op}: parameters.${name} must be a Float32Array, got ${describe(array)}`);
    }
  }
  return value as Record<string, Float32Array>;
}

/** Returns the global L2 norm of the gradients and the factor that clips it to clipNorm (1 when below). */
function clipFactor(parameters: Record<string, Float32Array>, gradients: Record<string, Float32Array>, clipNorm: number): [number, number] {
  let sum = 0;
  for (const name of Object.keys(parameters)) for (const g of gradients[name]) sum += g * g;
  const norm = Math.sqrt(sum);
  return [norm, norm > clipNorm ? clipNorm / norm : 1];
}

/**
 * Adam: m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g²,
 * θ ← θ − lr·(m/(1 − β1^t)) / (√(v/(1 − β2^t)) + ε) − lr·weightDecay·θ.
 */
export function createAdam(parameters: Record<string, Float32Array>, plan: AdamPlan): SlimOptimizer {
  const first = new Map<string, Float32Array>();
  const second = new Map<string, Float32Array>();
  for (const [name, value] of Object.entries(parameters)) {
    first.set(name, new Float32Array(value.length));
    second.set(name, new Float32Array(value.length));
  }
  let steps = 0;
  return {
    get steps() {
      return steps;
    },
    step(gradients) {
      const checked = checkGradients("slim.adam: step", parameters, gradients);
      const [norm, factor] = clipFactor(parameters, checked, plan.clipNorm);
      steps++;
      const { learningRate, beta1, beta2, epsilon, weightDecay } = plan;
      const correction1 = 1 - beta1 ** steps;
      const correction2 = 1 - beta2 ** steps;
      for (const [name, theta] of Object.entries(parameters)) {
        const g = checked[name];
        const m = first.get(name)!;
        const v = second.get(name)!;
        for (let i = 0; i < theta.length; i++) {
          const gi = g[i] * factor;
          m[i] = beta1 * m[i] + (1 - beta1) * gi;
          v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
          const update = (m[i] / correction1) / (Math.sqrt(v[i] / correction2) + epsilon);
          theta[i] -= learningRate * (update + weightDecay * theta[i]);
        }
      }
      return norm;
    },
  };
}

/** SGD with momentum: u ← momentum·u + g, θ ← θ − lr·u. */
export function createSgd(parameters: Record<string, Float32Array>, plan: SgdPlan): SlimOptimizer {
  const velocity = new Map<string, Float32Array>();
  for (const [name, value] of Object.entries(parameters)) velocity.set(name, new Float32Array(value.length));
  let steps = 0;
  return {
    get steps() {
      return steps;
    },
    step(gradients) {
      const checked = checkGradients("slim.sgd: step", parameters, gradients);
      const [norm, factor] = clipFactor(parameters, checked, plan.clipNorm);
      steps++;
      for (const [name, theta] of Object.entries(parameters)) {
        const g = checked[name];
        const u = velocity.get(name)!;
        for (let i = 0; i < theta.length; i++) {
          u[i] = plan.momentum * u[i] + g[i] * factor;
          theta[i] -= plan.learningRate * u[i];
        }
      }
      return norm;
    },
  };
}
