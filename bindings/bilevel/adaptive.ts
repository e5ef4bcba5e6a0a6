// The adaptive rule for the probability q of the unbiased first-order
// estimator. With D² ≥ E‖g_E − g_F‖², V² ≥ E‖g_E‖² and a cost per outer
// step of c_F + q·c_E, the SGD error bounds scale with
// (V² − D² + D²/q)·(c_F + q·c_E), which is smallest at
//   q* = min{1, sqrt(c_F·D² / (c_E·(V² − D²)))}, and q* = 1 when V² ≤ D².
// The rule replaces D² and V² by exponential moving averages of the values
// seen at each step that computed g_E, and clips q* to [qMin, 1].

import type { BilevelAdaptiveOptions, BilevelAdaptiveState } from "../api/bilevel.js";

/** Creates an adaptive state from validated options. */
export function createAdaptiveState(options: Required<BilevelAdaptiveOptions>): BilevelAdaptiveState {
  return {
    q: options.qInitial,
    qMin: options.qMin,
    beta: options.beta,
    hvpCost: options.hvpCost,
    biasSquared: NaN,
    normSquared: NaN,
    costRatio: NaN,
    updates: 0,
  };
}

/** Returns q* for the given estimates and cost ratio c_E / c_F, before clipping. */
export function optimalQ(biasSquared: number, normSquared: number, costRatio: number): number {
  if (normSquared <= biasSquared) return 1;
  return Math.min(1, Math.sqrt(biasSquared / (costRatio * (normSquared - biasSquared))));
}

/**
 * Updates the state after a step that computed both estimates: the EMAs of
 * ‖g_E − g_F‖², ‖g_E‖² and c_E / c_F (the first observation initializes
 * each EMA), then q. `firstOrderCost` and `exactCost` are the weighted
 * callback counts of the first-order part and of the extra exact part.
 */
export function updateAdaptiveState(
  state: BilevelAdaptiveState, firstOrder: Float32Array, exact: Float32Array, firstOrderCost: number, exactCost: number,
): void {
  let bias = 0;
  let norm = 0;
  for (let i = 0; i < exact.length; i++) {
    const difference = exact[i] - firstOrder[i];
    bias += difference * difference;
    norm += exact[i] * exact[i];
  }
  const ratio = exactCost / firstOrderCost;
  if (state.updates === 0) {
    state.biasSquared = bias;
    state.normSquared = norm;
    state.costRatio = ratio;
  } else {
    const beta = state.beta;
    state.biasSquared = beta * state.biasSquared + (1 - beta) * bias;
    state.normSquared = beta * state.normSquared + (1 - beta) * norm;
    state.costRatio = beta * state.costRatio + (1 - beta) * ratio;
  }
  state.updates++;
  const q = optimalQ(state.biasSquared, state.normSquared, state.costRatio);
  state.q = Math.min(1, Math.max(state.qMin, q));
}
