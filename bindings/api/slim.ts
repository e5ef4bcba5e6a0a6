// slim: a stack of causal Performer layers trained slice by slice with
// memory that does not grow with the sequence (the sub-linear memory
// Performer, SLiM: Likhosherstov et al., "Sub-Linear Memory: How to Make
// Performers SLiM", NeurIPS 2021). Validation, the parameter layout and
// the optimizer settings live here; bindings/slim/model.ts runs the
// passes and docs/backward.md describes the model.

import { FEATURE_KINDS, planFeatureMap, type FeatureKind, type FeatureMap } from "./features.js";
import { requireUint64, type RandomSeed } from "./random.js";
import {
  describe,
  optionalBoolean,
  optionalInteger,
  requireChoice,
  requireFinite,
  requireInteger,
  requireOptions,
} from "../validate.js";

/** Options of `slim.createModel`. */
export interface SlimModelOptions {
  /** Number of token ids; tokens are integers in [0, vocab). */
  vocab: number;
  /** Width of the residual stream; a multiple of heads. */
  dModel: number;
  /** Attention heads per layer (headDim = dModel/heads). */
  heads: number;
  /** Number of layers (at least 1). */
  layers: number;
  /** Random features m per head (default 64); 0 only for the generalized kernels. */
  features?: number;
  /** Feature map of the attention (default "positive"). */
  kernel?: FeatureKind;
  /** Hidden width of the MLP after each attention block (default 4·dModel); 0 leaves it out. */
  mlp?: number;
  /** Pre-norm layer normalization before attention, MLP and output (default true). */
  layerNorm?: boolean;
  /** Positions per attention chunk inside a slice (default 64). */
  chunk?: number;
  /**
   * S, the previous tokens mixed into each input row (default 0): the first
   * layer reads x_t = e(t) + Σ_{s=1..S} c_s ∘ e(t − s), a causal depthwise
   * convolution of the embeddings with learned weights c_s ("input.shift").
   * Attention alone does not see order beyond causality; this gives the
   * model its recent context directly.
   */
  tokenShift?: number;
  /** Seed of the initial parameters and of the random projections. */
  seed: RandomSeed;
}

/** A checked model configuration. */
export interface SlimModelConfig {
  vocab: number;
  dModel: number;
  heads: number;
  headDim: number;
  layers: number;
  features: number;
  kernel: FeatureKind;
  mlp: number;
  layerNorm: boolean;
  chunk: number;
  tokenShift: number;
  seed: bigint;
  /** The query and key feature maps of one head (dim = headDim). */
  query: FeatureMap;
  key: FeatureMap;
}

/** Specification of a parameter tensor: its name, shape and initial values (Gaussian with a standard deviation, or a constant). */
export interface ParameterSpec {
  name: string;
  rows: number;
  cols: number;
  init: { normal: number } | { constant: number };
}

/** The default positions per slice of loss and lossAndGradients. */
export const DEFAULT_SLICE = 256;

/** Validates createModel options. */
export function planSlimModel(options: unknown): SlimModelConfig {
  const op = "slim.createModel";
  const opts = requireOptions<SlimModelOptions>(op, options);
  const vocab = requireInteger(op, "vocab", opts.vocab, 1);
  const dModel = requireInteger(op, "dModel", opts.dModel, 1);
  const heads = requireInteger(op, "heads", opts.heads, 1);
  const layers = requireInteger(op, "layers", opts.layers, 1);
  if (dModel % heads !== 0) {
    throw new RangeError(`${op}: dModel ${dModel} is not a multiple of heads ${heads}; each head takes dModel/heads columns`);
  }
  const headDim = dModel / heads;
  const features = optionalInteger(op, "features", opts.features, 64);
  const kernel = requireChoice(op, "kernel", opts.kernel ?? "positive", FEATURE_KINDS);
  const mlp = optionalInteger(op, "mlp", opts.mlp, 4 * dModel);
  const layerNorm = optionalBoolean(op, "layerNorm", opts.layerNorm, true);
  const chunk = optionalInteger(op, "chunk", opts.chunk, 64, 1);
  const tokenShift = optionalInteger(op, "tokenShift", opts.tokenShift, 0);
  if (opts.seed === undefined) {
    throw new TypeError(`${op}: seed is missing; pass a number in [0, 2^53 − 1] or a bigint in [0, 2^64 − 1]`);
  }
  const seed = requireUint64(op, "seed", opts.seed);
  const settings = { dim: headDim, features, kind: kernel, epsilon: 0 };
  return {
    vocab, dModel, heads, headDim, layers, features, kernel, mlp, layerNorm, chunk, tokenShift, seed,
    query: planFeatureMap(op, { ...settings, role: "query" }),
    key: planFeatureMap(op, { ...settings, role: "key" }),
  };
}

/**
 * Lists the parameter tensors in order. Names: "embedding" (vocab×dModel);
 * "input.shift" (tokenShift×dModel, row s − 1 holding c_s) when tokenShift > 0;
 * per layer ℓ "layers.ℓ.norm1.gain|bias", "layers.ℓ.attention.wq|wk|wv|wo"
 * (dModel×dModel, applied as x·W), "layers.ℓ.norm2.gain|bias",
 * "layers.ℓ.mlp.w1" (dModel×mlp), "b1", "w2" (mlp×dModel), "b2"; then
 * "norm.gain|bias" and "output.weight" (dModel×vocab), "output.bias".
 * Initialization: embedding N(0, 1); wq, wk, wv, w1 N(0, 1/fanIn);
 * wo and w2 N(0, 1/(2·layers·fanIn)) so the residual stream keeps its size
 * with depth; output.weight N(0, 1/dModel); input.shift 0, so training
 * starts from the model without it; gains 1, biases 0.
 */
export function parameterSpecs(config: SlimModelConfig): ParameterSpec[] {
  const { vocab, dModel, layers, mlp, layerNorm } = config;
  const specs: ParameterSpec[] = [{ name: "embedding", rows: vocab, cols: dModel, init: { normal: 1 } }];
  if (config.tokenShift > 0) specs.push({ name: "input.shift", rows: config.tokenShift, cols: dModel, init: { constant: 0 } });
  const square = { normal: 1 / Math.sqrt(dModel) };
  const residual = (fanIn: number) => ({ normal: 1 / Math.sqrt(2 * layers * fanIn) });
  const norm = (prefix: string) => {
    if (!layerNorm) return;
    specs.push({ name: `${prefix}.gain`, rows: 1, cols: dModel, init: { constant: 1 } });
    specs.push({ name: `${prefix}.bias`, rows: 1, cols: dModel, init: { constant: 0 } });
  };
  for (let layer = 0; layer < layers; layer++) {
    const p = `layers.${layer}`;
    norm(`${p}.norm1`);
    for (const w of ["wq", "wk", "wv"]) specs.push({ name: `${p}.attention.${w}`, rows: dModel, cols: dModel, init: square });
    specs.push({ name: `${p}.attention.wo`, rows: dModel, cols: dModel, init: residual(dModel) });
    if (mlp > 0) {
      norm(`${p}.norm2`);
      specs.push({ name: `${p}.mlp.w1`, rows: dModel, cols: mlp, init: square });
      specs.push({ name: `${p}.mlp.b1`, rows: 1, cols: mlp, init: { constant: 0 } });
      specs.push({ name: `${p}.mlp.w2`, rows: mlp, cols: dModel, init: residual(mlp) });
      specs.push({ name: `${p}.mlp.b2`, rows: 1, cols: dModel, init: { constant: 0 } });
    }
  }
  norm("norm");
  specs.push({ name: "output.weight", rows: dModel, cols: vocab, init: { normal: 1 / Math.sqrt(dModel) } });
  specs.push({ name: "output.bias", rows: 1, cols: vocab, init: { constant: 0 } });
  return specs;
}

/** Requires token ids: an integer typed array or an Array of integers in [0, vocab), at least two of them. */
export function requireTokens(op: string, tokens: unknown, vocab: number): ArrayLike<number> {
  const integerArray = tokens instanceof Int32Array || tokens instanceof Uint32Array || tokens instanceof Uint16Array ||
    tokens instanceof Int16Array || tokens instanceof Uint8Array || tokens instanceof Int8Array;
  if (!integerArray && !Array.isArray(tokens)) {
    throw new TypeError(`${op}: tokens must be an integer typed array or an Array of token ids, got ${describe(tokens)}`);
  }
  const list = tokens as ArrayLike<number>;
  if (list.length < 2) {
    throw new RangeError(`${op}: tokens has length ${list.length}, expected at least 2 (each token predicts the next one)`);
  }
  for (let i = 0; i < list.length; i++) {
    const id = list[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new RangeError(`${op}: tokens[${i}] is ${describe(id)}, expected an integer in [0, ${vocab}) (vocab ${vocab})`);
    }
  }
  return list;
}

/** Options of `loss` and `lossAndGradients`. */
export interface SlimPassOptions {
  /** Positions per slice (default 256): activation memory grows with this, not with the sequence. */
  slice?: number;
}

/** Returns the checked slice length. */
export function planSlice(op: string, options: unknown): number {
  if (options === undefined) return DEFAULT_SLICE;
  const opts = requireOptions<SlimPassOptions>(op, options);
  return optionalInteger(op, "slice", opts.slice, DEFAULT_SLICE, 1);
}

/** Options of `slim.adam`. */
export interface AdamOptions {
  /** Step size (default 1e-3). */
  learningRate?: number;
  /** Decay of the first moment (default 0.9). */
  beta1?: number;
  /** Decay of the second moment (default 0.999). */
  beta2?: number;
  /** Added to √v (default 1e-8). */
  epsilon?: number;
  /** Decoupled weight decay per step, as a fraction of learningRate (AdamW; default 0). */
  weightDecay?: number;
  /** Rescale the gradients so their global L2 norm is at most this (default: no clipping). */
  clipNorm?: number;
}

/** Options of `slim.sgd`. */
export interface SgdOptions {
  /** Step size (default 1e-2). */
  learningRate?: number;
  /** Momentum (default 0, plain SGD). */
  momentum?: number;
  /** Rescale the gradients so their global L2 norm is at most this (default: no clipping). */
  clipNorm?: number;
}

/** Requires a finite number in [min, max) (or [min, max] when inclusive); returns it or the fallback. */
function optionalInRange(op: string, name: string, value: unknown, fallback: number, min: number, max: number, rule: string): number {
  if (value === undefined) return fallback;
  const number = requireFinite(op, name, value);
  if (!(number >= min && number < max)) throw new RangeError(`${op}: ${name} must be ${rule}, got ${number}`);
  return number;
}

/** Checked Adam settings. */
export interface AdamPlan {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  clipNorm: number;
}

/** Validates slim.adam options. */
export function planAdam(options: unknown): AdamPlan {
  const op = "slim.adam";
  const opts = options === undefined ? {} : requireOptions<AdamOptions>(op, options);
  return {
    learningRate: optionalInRange(op, "learningRate", opts.learningRate, 1e-3, Number.MIN_VALUE, Infinity, "> 0"),
    beta1: optionalInRange(op, "beta1", opts.beta1, 0.9, 0, 1, "in [0, 1)"),
    beta2: optionalInRange(op, "beta2", opts.beta2, 0.999, 0, 1, "in [0, 1)"),
    epsilon: optionalInRange(op, "epsilon", opts.epsilon, 1e-8, Number.MIN_VALUE, Infinity, "> 0"),
    weightDecay: optionalInRange(op, "weightDecay", opts.weightDecay, 0, 0, Infinity, ">= 0"),
    clipNorm: optionalInRange(op, "clipNorm", opts.clipNorm, Infinity, Number.MIN_VALUE, Infinity, "> 0"),
  };
}

/** Checked SGD settings. */
export interface SgdPlan {
  learningRate: number;
  momentum: number;
  clipNorm: number;
}

/** Validates slim.sgd options. */
export function planSgd(options: unknown): SgdPlan {
  const op = "slim.sgd";
  const opts = options === undefined ? {} : requireOptions<SgdOptions>(op, options);
  return {
    learningRate: optionalInRange(op, "learningRate", opts.learningRate, 1e-2, Number.MIN_VALUE, Infinity, "> 0"),
    momentum: optionalInRange(op, "momentum", opts.momentum, 0, 0, 1, "in [0, 1)"),
    clipNorm: optionalInRange(op, "clipNorm", opts.clipNorm, Infinity, Number.MIN_VALUE, Infinity, "> 0"),
  };
}
