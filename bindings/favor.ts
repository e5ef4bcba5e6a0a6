// createFavor and the Favor object: the public surface. Each op validates
// its arguments (bindings/api), then runs on the backend. The synchronous
// forms live on `favor.sync`; the same ops on `favor` return Promises so
// code written against them also runs on asynchronous backends.

import {
  planAdaptiveOptions,
  planBilevelGradient,
  planBilevelOptimizer,
  type BilevelAdaptiveOptions,
  type BilevelAdaptiveState,
  type BilevelAsyncTask,
  type BilevelGradientOptions,
  type BilevelGradientResult,
  type BilevelOptimizerOptions,
  type BilevelTask,
} from "./api/bilevel.js";
import { planGemv, type GemvOptions } from "./api/gemv.js";
import { planMatmul, type MatmulOptions } from "./api/matmul.js";
import { planRandom, type RandomOptions, type RandomSeed } from "./api/random.js";
import { planLogsumexp, planSoftmax, type LogsumexpOptions, type SoftmaxOptions } from "./api/softmax.js";
import { planTranspose, type TransposeOptions } from "./api/transpose.js";
import { WasmBackend } from "./backends/wasm/backend.js";
import { bestBuild, supportedBuilds, WASM_BUILDS, type WasmBuild } from "./backends/wasm/features.js";
import { runGemv } from "./backends/wasm/ops/gemv.js";
import { runMatmul } from "./backends/wasm/ops/matmul.js";
import { runRandom } from "./backends/wasm/ops/random.js";
import { compileSource, type WasmLoader, type WasmSource } from "./backends/wasm/source.js";
import {
  planQr,
  planTriangularSolve,
  type QrOptions,
  type QrResult,
  type TriangularSolveOptions,
} from "./api/linalg.js";
import { runQr, runTriangularSolve } from "./backends/wasm/ops/linalg.js";
import {
  planAttention,
  planAttentionScores,
  planCausalState,
  planSoftmaxAttention,
  planTopK,
  runTopK,
  type AttentionOptions,
  type AttentionScoresOptions,
  type CausalStateOptions,
  type CausalStepOptions,
  type SoftmaxAttentionOptions,
} from "./api/attention.js";
import { CausalState, runAttention, runAttentionScores, runSoftmaxAttention } from "./backends/wasm/ops/attention.js";
import { runLogsumexp, runSoftmax } from "./backends/wasm/ops/softmax.js";
import { planCayley, planExpm, type MatrixFunctionOptions } from "./api/matrix-functions.js";
import { runCayley, runExpm } from "./backends/wasm/ops/matrix-functions.js";
import {
  planOdeBackward,
  planOdeForward,
  type OdeBackwardOptions,
  type OdeBackwardResult,
  type OdeForwardOptions,
  type OdeForwardResult,
} from "./api/ode.js";
import { runOdeBackward, runOdeForward } from "./backends/wasm/ops/ode.js";
import { runTranspose } from "./backends/wasm/ops/transpose.js";
import { createAdaptiveState } from "./bilevel/adaptive.js";
import { bilevelGradient, driveAsync, driveSync, type UniformSource } from "./bilevel/gradient.js";
import {
  createAsyncOptimizer,
  createOptimizer,
  type BilevelAsyncOptimizer,
  type BilevelOptimizer,
} from "./bilevel/optimizer.js";
import {
  planConstruct,
  planEvaluate,
  planRequiredDim,
  type SparsePattern,
  type SparsePatternConstructOptions,
  type SparsePatternConstruction,
  type SparsePatternEvaluateOptions,
  type SparsePatternEvaluation,
  type SparsePatternRequiredDim,
  type SparsePatternRequiredDimOptions,
} from "./api/sparse-pattern.js";
import { runConstruct, runEvaluate, runRequiredDim } from "./backends/wasm/ops/sparse-pattern.js";
import { attachBackend } from "./internal.js";
import { planFeatures, type FeaturesOptions, type FeaturesWithStabilizer } from "./api/features.js";
import { planProjection, type ProjectionOptions } from "./api/projection.js";
import { planRedrawPolicy, RedrawPolicy, type RedrawPolicyOptions } from "./api/redraw.js";
import { runFeatures } from "./backends/wasm/ops/features.js";
import {
  planAttentionBackward,
  planSoftmaxAttentionBackward,
  planAttentionWithState,
  type AttentionWithState,
  type AttentionBackwardOptions,
  type AttentionGradients,
  type SoftmaxAttentionBackwardOptions,
  type SoftmaxAttentionGradients,
} from "./api/backward.js";
import { runAttentionBackward } from "./backends/wasm/ops/attention-backward.js";
import { runAttentionWithState } from "./backends/wasm/ops/attention-with-state.js";
import { runSoftmaxAttentionBackward } from "./backends/wasm/ops/softmax-backward.js";
import { planAdam, planSgd, planSlimModel, type AdamOptions, type SgdOptions, type SlimModelOptions } from "./api/slim.js";
import { asyncModel, SlimModel, type SlimModelAsync } from "./slim/model.js";
import { createAdam, createSgd, requireParameters, type SlimOptimizer } from "./slim/optimizers.js";
import { runProjection } from "./backends/wasm/ops/projection.js";
import {
  planApply as planHouseholderApply,
  planBackward as planHouseholderBackward,
  planFromOrthogonal as planHouseholderFromOrthogonal,
  planProduct as planHouseholderProduct,
  planRandomOrthogonal as planHouseholderRandomOrthogonal,
  planStiefel as planHouseholderStiefel,
  type HouseholderApplyOptions,
  type HouseholderBackwardOptions,
  type HouseholderBackwardResult,
  type HouseholderFromOrthogonalOptions,
  type HouseholderProductOptions,
  type HouseholderRandomOrthogonalOptions,
  type HouseholderStiefelOptions,
} from "./api/householder.js";
import {
  runHouseholderBackward,
  runHouseholderForward,
  runHouseholderFromOrthogonal,
  runHouseholderRandomOrthogonal,
} from "./backends/wasm/ops/householder.js";
import { featuresRoute, planHybridFeatures, type HybridFeaturesOptions, type HybridProjection } from "./api/hybrid.js";
import { planKernel, planKernelProjection, type KernelOptions, type KernelProjectionOptions } from "./api/kernel.js";
import { runHybridFeatures } from "./backends/wasm/ops/hybrid.js";
import { runKernel, runKernelProjection } from "./backends/wasm/ops/kernel.js";
import { log } from "./log.js";
import { describe, requireChoice, requireFinite, requireInteger } from "./validate.js";
import type { FavorGpu, GpuMatmulOptions, GpuTensor } from "./backends/webgpu/ops.js";
import { startThreadedBackend, planThreads } from "./backends/wasm/threads/start.js";

/** Options of `createFavor`. */
export interface CreateFavorOptions {
  /**
   * Compute backend. "wasm" (default) runs everything in WebAssembly;
   * "webgpu" runs matmul, features, attention, attentionBackward and
   * householder.apply on a WebGPU device and needs an adapter; "auto" uses
   * WebGPU for large enough calls of those ops when an adapter exists.
   * docs/webgpu.md lists which ops run where.
   */
  backend?: "auto" | "wasm" | "webgpu";
  /** WebGPU settings, read when backend is "webgpu" or "auto". */
  webgpu?: {
    /** Replaces navigator.gpu, for runtimes without it (Node: `create([])` from the "webgpu" package). */
    gpu?: unknown;
    /** "auto" runs a call on the GPU when its estimated flops (2·m·n·k·batch for a matmul; docs/webgpu.md) are at least this (default 2^24). */
    autoMinFlops?: number;
    /** Lowers the storage binding limit (bytes) that GEMM tiling uses; meant for tests. */
    maxBindingBytes?: number;
  };
  /** WASM binary to run. "auto" picks the fastest one the engine validates. */
  build?: "auto" | WasmBuild;
  /**
   * Source of the binary, for bundlers, strict content security policies
   * and runtimes that cannot read the package's own files: one source for
   * the chosen build, or one per build.
   */
  wasm?: WasmSource | Partial<Record<WasmBuild, WasmSource>>;
  /**
   * Threads for the threaded ops (docs/threads.md), the calling thread
   * included. Default: the hardware concurrency (os.availableParallelism in
   * Node, navigator.hardwareConcurrency elsewhere). 1 loads the
   * single-threaded build and starts no worker.
   */
  threads?: number;
  /**
   * Maximum size in bytes of the shared memory of the threaded build, fixed
   * when it is created (default 1 GiB, at most 4 GiB). An op that needs more
   * throws a RangeError that names this option.
   */
  maxSharedMemory?: number;
}

/** Backend and binary of a Favor instance. */
export interface FavorInfo {
  /** "webgpu" when a WebGPU device is in use (backend "webgpu", or "auto" with an adapter). */
  backend: "wasm" | "webgpu";
  /** The WebGPU adapter, or null on WASM only. */
  gpu: { vendor: string; architecture: string; device: string; description: string } | null;
  build: WasmBuild;
  /** Builds this engine can run, fastest first. */
  supportedBuilds: WasmBuild[];
  /** Current WebAssembly memory size in bytes. */
  readonly memoryBytes: number;
  /** Threads the threaded ops use, the calling thread included; 1 after dispose(). */
  readonly threads: number;
}

/**
 * Seeded random numbers from Philox4x32-10. The same (count, seed, offset)
 * returns the same bits on all three builds, and the first n values of a
 * longer request equal a request for n values. docs/random.md describes the
 * seed, offset and stream layout.
 */
export interface FavorRandomSync {
  /** Returns `count` float32 draws uniform on [0, 1): multiples of 2^-24, 0 possible, 1 never. */
  uniform(count: number, seed: RandomSeed, options?: RandomOptions): Float32Array;
  /** Returns `count` standard normal float32 draws (Box–Muller in float64, |value| ≤ 8.58). */
  normal(count: number, seed: RandomSeed, options?: RandomOptions): Float32Array;
}

/** The Promise-returning forms of `FavorRandomSync`. */
export interface FavorRandom {
  uniform(count: number, seed: RandomSeed, options?: RandomOptions): Promise<Float32Array>;
  normal(count: number, seed: RandomSeed, options?: RandomOptions): Promise<Float32Array>;
}

/**
 * Bilevel (meta-learning) gradients through r inner gradient steps:
 * first-order, exact, and the unbiased first-order estimator. The work is
 * in the task's callbacks; docs/bilevel.md describes the estimators, the
 * callback contract and the memory and cost of each path.
 */
export interface FavorBilevelSync {
  /** Returns an estimate of the gradient of L_out(θ_r) with respect to θ. */
  gradient(theta: Float32Array, task: BilevelTask, options: BilevelGradientOptions): BilevelGradientResult;
  /** Returns an SGD or Adam optimizer over θ (updated in place) driven by bilevel.gradient. */
  optimizer(options: BilevelOptimizerOptions): BilevelOptimizer;
  /** Returns a new state for q "adaptive". */
  adaptiveState(options?: BilevelAdaptiveOptions): BilevelAdaptiveState;
}

/** The Promise-returning forms of `FavorBilevelSync`; their callbacks may return Promises. */
export interface FavorBilevel {
  gradient(theta: Float32Array, task: BilevelAsyncTask, options: BilevelGradientOptions): Promise<BilevelGradientResult>;
  optimizer(options: BilevelOptimizerOptions): Promise<BilevelAsyncOptimizer>;
  adaptiveState(options?: BilevelAdaptiveOptions): Promise<BilevelAdaptiveState>;
}

/**
 * Fixed self-attention weights and per-pattern inputs whose attention matrix
 * reproduces a sparse pattern; docs/sparse-pattern.md has the construction,
 * the precision measures and the defaults.
 */
export interface FavorSparsePatternSync {
  /** Returns x = [√d·B·G, G] (L×2d) and the fixed wq = [I; 0], wk = [0; I] (2d×d) for the pattern. */
  construct(pattern: SparsePattern, options: SparsePatternConstructOptions): SparsePatternConstruction;
  /** Measures softmax(x·wq·(x·wk)ᵀ/√d) against the pattern: log-ratio distortion and off-support leakage. */
  evaluate(
    pattern: SparsePattern, x: Float32Array, wq: Float32Array, wk: Float32Array, options: SparsePatternEvaluateOptions,
  ): SparsePatternEvaluation;
  /** Searches for the smallest d whose distortion, aggregated over seeded trials, is <= epsilon. */
  requiredDim(pattern: SparsePattern, options: SparsePatternRequiredDimOptions): SparsePatternRequiredDim;
}

/** The Promise-returning forms of `FavorSparsePatternSync`. */
export interface FavorSparsePattern {
  construct(pattern: SparsePattern, options: SparsePatternConstructOptions): Promise<SparsePatternConstruction>;
  evaluate(
    pattern: SparsePattern, x: Float32Array, wq: Float32Array, wk: Float32Array, options: SparsePatternEvaluateOptions,
  ): Promise<SparsePatternEvaluation>;
  requiredDim(pattern: SparsePattern, options: SparsePatternRequiredDimOptions): Promise<SparsePatternRequiredDim>;
}

/** Functions of square matrices (docs/odetoode.md describes the methods and their float32 accuracy). */
export interface FavorLinalgSync {
  /** e^A for the n×n matrix a: scaling and squaring with a Padé approximant of degree 3, 5 or 7. */
  expm(a: Float32Array, options: MatrixFunctionOptions): Float32Array;
  /** (I − A/2)⁻¹·(I + A/2); raises a RangeError when I − A/2 is singular (never for skew-symmetric a). */
  cayley(a: Float32Array, options: MatrixFunctionOptions): Float32Array;
}

/** The Promise-returning forms of `FavorLinalgSync`. */
export interface FavorLinalg {
  expm(a: Float32Array, options: MatrixFunctionOptions): Promise<Float32Array>;
  cayley(a: Float32Array, options: MatrixFunctionOptions): Promise<Float32Array>;
}

/**
 * ODEtoODE: the main flow x_{i+1} = x_i + h·f(W_i·x_i) with weights that
 * move on the orthogonal group, W_{i+1} = W_i·Γ(h·b_i) (docs/odetoode.md).
 */
export interface FavorOdeToOdeSync {
  /** Runs both flows for `steps` steps from x0 (batch×dim) and w0 (dim×dim). */
  forward(x0: Float32Array, options: OdeForwardOptions): OdeForwardResult;
  /** Gradients of a loss with ∂L/∂x_T = gradXT with respect to x0, w0 and params, with checkpointed memory. */
  backward(x0: Float32Array, gradXT: Float32Array, options: OdeBackwardOptions): OdeBackwardResult;
}

/** The Promise-returning forms of `FavorOdeToOdeSync`. */
export interface FavorOdeToOde {
  forward(x0: Float32Array, options: OdeForwardOptions): Promise<OdeForwardResult>;
  backward(x0: Float32Array, gradXT: Float32Array, options: OdeBackwardOptions): Promise<OdeBackwardResult>;
}

/**
 * Orthogonal matrices as products of Householder reflections
 * H(v) = I − 2·v·vᵀ/(vᵀv), with v an n×k row-major matrix holding one
 * vector per column (any nonzero length). docs/householder.md gives the
 * formulas and conventions.
 */
export interface FavorHouseholderSync {
  /** Returns Q = H(v_0)·…·H(v_{k−1}) (n×n), by the CWY formula (default) or one reflection at a time. */
  product(v: Float32Array, options: HouseholderProductOptions): Float32Array;
  /** Returns the T-CWY matrix Ω = H(v_0)·…·H(v_{k−1})·I_{n×k} (n×k, ΩᵀΩ = I) in O(n·k²). */
  stiefel(v: Float32Array, options: HouseholderStiefelOptions): Float32Array;
  /** Returns Q·x or Qᵀ·x (n×cols) without forming Q. */
  apply(v: Float32Array, x: Float32Array, options: HouseholderApplyOptions): Float32Array;
  /** Returns ∂L/∂v (and ∂L/∂x for mode "apply") from the gradient of L with respect to the op's output. */
  backward(v: Float32Array, gradOutput: Float32Array, options: HouseholderBackwardOptions): HouseholderBackwardResult;
  /**
   * Returns unit vectors v (n×k, zero above the diagonal) with stiefel(v) = q
   * for q with orthonormal columns; for k = n, product(v) = q, which needs
   * det q = (−1)^n and raises a RangeError naming the determinant otherwise.
   */
  fromOrthogonal(q: Float32Array, options: HouseholderFromOrthogonalOptions): Float32Array;
  /** Returns a seeded n×n orthogonal matrix, Haar-distributed on {Q: det Q = (−1)^n}. */
  randomOrthogonal(options: HouseholderRandomOrthogonalOptions): Float32Array;
}

/** The Promise-returning forms of `FavorHouseholderSync`. */
export interface FavorHouseholder {
  product(v: Float32Array, options: HouseholderProductOptions): Promise<Float32Array>;
  stiefel(v: Float32Array, options: HouseholderStiefelOptions): Promise<Float32Array>;
  apply(v: Float32Array, x: Float32Array, options: HouseholderApplyOptions): Promise<Float32Array>;
  backward(v: Float32Array, gradOutput: Float32Array, options: HouseholderBackwardOptions): Promise<HouseholderBackwardResult>;
  fromOrthogonal(q: Float32Array, options: HouseholderFromOrthogonalOptions): Promise<Float32Array>;
  randomOrthogonal(options: HouseholderRandomOrthogonalOptions): Promise<Float32Array>;
}

/** The synchronous ops, for hot loops on the WASM backend. */
export interface FavorSync {
  matmul(a: Float32Array, b: Float32Array, options: MatmulOptions): Float32Array;
  random: FavorRandomSync;
  /**
   * Householder QR of the row-major rows×cols matrix a: a = q·r. The sign of
   * diag(r) follows LAPACK's xGEQRF: r[j][j] = −sign(α)·‖column‖ for the
   * pivot α of step j (sign(0) = +1), except that a step with nothing left
   * below the diagonal is skipped and keeps r[j][j] = α; zero columns give
   * such steps, never NaN.
   */
  qr(a: Float32Array, options: QrOptions): QrResult;
  /** Solves op(a)·x = b for an n×n triangular a and an n×cols b; raises a RangeError on a zero or non-finite diagonal. */
  triangularSolve(a: Float32Array, b: Float32Array, options: TriangularSolveOptions): Float32Array;
  /**
   * Exact scaled dot-product attention, softmax(scale·q·kᵀ)·v per batch item
   * and head, streamed over key blocks so memory stays O(length·dim).
   * Returns the output in the input layout with valueDim columns.
   */
  softmaxAttention(q: Float32Array, k: Float32Array, v: Float32Array, options: SoftmaxAttentionOptions): Float32Array;
  /** Returns the indices of the `count` largest scores, largest first, ties in increasing index order. */
  topK(scores: Float32Array, count: number): Int32Array;
  /**
   * FAVOR+ attention: D⁻¹·Q′(K′ᵀV) with Q′ = φ(d^{-1/4}·q), K′ = φ(d^{-1/4}·k)
   * for the feature map `kernel`, bidirectional or causal (in chunks), in
   * O(length) time and memory. docs/attention.md gives the formulas.
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions): Float32Array;
  /**
   * Implicit attention scores: for each key, the attention it receives
   * summed over all queries (column sums of D⁻¹Q′K′ᵀ), batch × heads ×
   * keyLength values, without forming the attention matrix.
   */
  attentionScores(q: Float32Array, k: Float32Array, options: AttentionScoresOptions): Float32Array;
  /** Creates a streaming causal FAVOR+ attention whose `step` takes new tokens and returns their outputs. */
  causalState(options: CausalStateOptions): CausalStateSync;
  /** Transposes each rows×cols matrix of a into a cols×rows matrix. */
  transpose(a: Float32Array, options: TransposeOptions): Float32Array;
  /** y = alpha·op(A)·x + beta·y for a row-major m×n matrix A. */
  gemv(a: Float32Array, x: Float32Array, options: GemvOptions): Float32Array;
  /** Softmax of each row of a rows×cols matrix. */
  softmax(x: Float32Array, options: SoftmaxOptions): Float32Array;
  /** log Σ exp over each row of a rows×cols matrix; one value per row. */
  logsumexp(x: Float32Array, options: LogsumexpOptions): Float32Array;
  bilevel: FavorBilevelSync;
  sparsePattern: FavorSparsePatternSync;
  /**
   * Draws a seeded features×dim random projection ("orthogonal",
   * "orthogonal-cwy" or "iid" rows, "chi" or "sqrt-d" norms); the same options
   * give the same bits on every build, except "orthogonal-cwy", whose GEMMs
   * round differently in the relaxed build. docs/features.md describes the layout.
   */
  projection(options: ProjectionOptions): Float32Array;
  /** Creates a policy that holds the current projection and redraws it every `redrawEvery` training steps. */
  redrawPolicy(options: RedrawPolicyOptions): RedrawPolicy;
  /**
   * Applies a random-feature map to the rows of x (rows×dim); with
   * `returnStabilizer: true` also returns the row shifts. docs/features.md
   * gives the maps, the stabilizers and ε.
   */
  features: FeaturesFunction;
  /**
   * Gradients of `attention` w.r.t. q, k, v (and the projection with
   * returnProjectionGradient) for the output gradient gradOut, with the same
   * options. Memory beyond the inputs and gradients does not grow with the
   * length; docs/backward.md gives the formulas and the start-state options.
   */
  attentionBackward(
    q: Float32Array, k: Float32Array, v: Float32Array, gradOut: Float32Array, options: AttentionBackwardOptions,
  ): AttentionGradients;
  /**
   * `attention` that also returns the state after the last key
   * (features × (valueDim + 1) values per head), which attentionBackward
   * takes as `endState` to skip its own pass over the keys. On WASM, one
   * thread; docs/backward.md.
   */
  attentionWithState(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions): AttentionWithState;
  /** Gradients of `softmaxAttention` w.r.t. q, k and v, streamed over score tiles (O(length·dim) memory). */
  softmaxAttentionBackward(
    q: Float32Array, k: Float32Array, v: Float32Array, gradOut: Float32Array, options: SoftmaxAttentionBackwardOptions,
  ): SoftmaxAttentionGradients;
  slim: FavorSlimSync;
  /** Exact and random-feature estimates of the softmax and Gaussian kernels (docs/kernels.md). */
  kernel: FavorKernelSync;
  linalg: FavorLinalgSync;
  odeToOde: FavorOdeToOdeSync;
  householder: FavorHouseholderSync;
}

/**
 * Kernel matrices k(x_i, y_j) for every pair of rows of x (rowsX×dim) and
 * y (rowsY×dim), exact or estimated with random features; docs/kernels.md
 * lists the estimators and how their projections are drawn.
 */
export interface FavorKernelSync {
  /** Returns the rowsX×rowsY matrix of exp(x_iᵀy_j) or its estimate. */
  softmax(x: Float32Array, y: Float32Array, options: KernelOptions): Float32Array;
  /** Returns the rowsX×rowsY matrix of exp(−‖x_i − y_j‖²/2) or its estimate. */
  gaussian(x: Float32Array, y: Float32Array, options: KernelOptions): Float32Array;
  /** Draws the projections an estimator uses for these options: one matrix, or `{ base1, base2, lambda }` for hybrids. */
  projection(options: KernelProjectionOptions): Float32Array | HybridProjection;
}

/** The Promise-returning forms of `FavorKernelSync`. */
export interface FavorKernel {
  softmax(x: Float32Array, y: Float32Array, options: KernelOptions): Promise<Float32Array>;
  gaussian(x: Float32Array, y: Float32Array, options: KernelOptions): Promise<Float32Array>;
  projection(options: KernelProjectionOptions): Promise<Float32Array | HybridProjection>;
}

/**
 * The SLiM runner: causal Performer language models whose gradients take
 * activation memory proportional to a slice, not to the sequence
 * (docs/backward.md), and optimizers for their parameters.
 */
export interface FavorSlimSync {
  createModel(options: SlimModelOptions): SlimModel;
  adam(parameters: Record<string, Float32Array>, options?: AdamOptions): SlimOptimizer;
  sgd(parameters: Record<string, Float32Array>, options?: SgdOptions): SlimOptimizer;
}

/** Promise form of `FavorSlimSync`: the model's passes return Promises; optimizers are synchronous. */
export interface FavorSlim {
  createModel(options: SlimModelOptions): Promise<SlimModelAsync>;
  adam(parameters: Record<string, Float32Array>, options?: AdamOptions): SlimOptimizer;
  sgd(parameters: Record<string, Float32Array>, options?: SgdOptions): SlimOptimizer;
}

/** Signature of `sync.features`: the result type follows `returnStabilizer`. */
export interface FeaturesFunction {
  (x: Float32Array, options: FeaturesOptions & { returnStabilizer: true }): FeaturesWithStabilizer;
  (x: Float32Array, options: FeaturesOptions & { returnStabilizer?: false }): Float32Array;
  (x: Float32Array, options: HybridFeaturesOptions & { returnStabilizer: true }): FeaturesWithStabilizer;
  (x: Float32Array, options: HybridFeaturesOptions & { returnStabilizer?: false }): Float32Array;
  (x: Float32Array, options: FeaturesOptions | HybridFeaturesOptions): Float32Array | FeaturesWithStabilizer;
}

/** Promise form of `FeaturesFunction`. */
export interface FeaturesAsyncFunction {
  (x: Float32Array, options: FeaturesOptions & { returnStabilizer: true }): Promise<FeaturesWithStabilizer>;
  (x: Float32Array, options: FeaturesOptions & { returnStabilizer?: false }): Promise<Float32Array>;
  (x: Float32Array, options: HybridFeaturesOptions & { returnStabilizer: true }): Promise<FeaturesWithStabilizer>;
  (x: Float32Array, options: HybridFeaturesOptions & { returnStabilizer?: false }): Promise<Float32Array>;
  (x: Float32Array, options: FeaturesOptions | HybridFeaturesOptions): Promise<Float32Array | FeaturesWithStabilizer>;
}

/** A loaded library instance. */
export interface Favor {
  readonly info: FavorInfo;
  readonly sync: FavorSync;
  /**
   * Ends the worker threads and frees their buffers, so a Node process can
   * exit by itself. Ops keep working afterwards, on the calling thread alone.
   */
  dispose(): void;
  /**
   * With a WebGPU backend, a and b may also be GPU tensors, and
   * `output: "tensor"` returns a GpuTensor (docs/webgpu.md).
   */
  matmul(a: Float32Array | GpuTensor, b: Float32Array | GpuTensor, options: MatmulOptions & { output: "tensor" }): Promise<GpuTensor>;
  matmul(a: Float32Array | GpuTensor, b: Float32Array | GpuTensor, options: MatmulOptions & GpuMatmulOptions): Promise<Float32Array>;
  /** GPU tensors and the device; null without a WebGPU backend. */
  readonly gpu: FavorGpu | null;
  readonly random: FavorRandom;
  /** Promise form of `sync.qr`. */
  qr(a: Float32Array, options: QrOptions): Promise<QrResult>;
  /** Promise form of `sync.triangularSolve`. */
  triangularSolve(a: Float32Array, b: Float32Array, options: TriangularSolveOptions): Promise<Float32Array>;
  /** Promise form of `sync.softmaxAttention`. */
  softmaxAttention(q: Float32Array, k: Float32Array, v: Float32Array, options: SoftmaxAttentionOptions): Promise<Float32Array>;
  /** Promise form of `sync.topK`. */
  topK(scores: Float32Array, count: number): Promise<Int32Array>;
  /** Promise form of `sync.attention`. */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions): Promise<Float32Array>;
  /** Promise form of `sync.attentionScores`. */
  attentionScores(q: Float32Array, k: Float32Array, options: AttentionScoresOptions): Promise<Float32Array>;
  /** Promise form of `sync.causalState`, whose steps return Promises. */
  causalState(options: CausalStateOptions): Promise<CausalStateAsync>;
  transpose(a: Float32Array, options: TransposeOptions): Promise<Float32Array>;
  gemv(a: Float32Array, x: Float32Array, options: GemvOptions): Promise<Float32Array>;
  softmax(x: Float32Array, options: SoftmaxOptions): Promise<Float32Array>;
  logsumexp(x: Float32Array, options: LogsumexpOptions): Promise<Float32Array>;
  readonly bilevel: FavorBilevel;
  readonly sparsePattern: FavorSparsePattern;
  /** Promise form of `sync.projection`. */
  projection(options: ProjectionOptions): Promise<Float32Array>;
  /** Promise form of `sync.redrawPolicy`; the policy's own methods are synchronous. */
  redrawPolicy(options: RedrawPolicyOptions): Promise<RedrawPolicy>;
  /** Promise form of `sync.features`. */
  features: FeaturesAsyncFunction;
  /** Promise form of `sync.attentionBackward`. */
  attentionBackward(
    q: Float32Array, k: Float32Array, v: Float32Array, gradOut: Float32Array, options: AttentionBackwardOptions,
  ): Promise<AttentionGradients>;
  /** Promise form of `sync.attentionWithState`. */
  attentionWithState(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions): Promise<AttentionWithState>;
  /** Promise form of `sync.softmaxAttentionBackward`. */
  softmaxAttentionBackward(
    q: Float32Array, k: Float32Array, v: Float32Array, gradOut: Float32Array, options: SoftmaxAttentionBackwardOptions,
  ): Promise<SoftmaxAttentionGradients>;
  readonly slim: FavorSlim;
  /** Promise forms of `sync.kernel`. */
  readonly kernel: FavorKernel;
  readonly linalg: FavorLinalg;
  readonly odeToOde: FavorOdeToOde;
  readonly householder: FavorHouseholder;
}

/**
 * Streaming causal attention. Steps take q, k and v of the new tokens in the
 * state's layout (the token count follows from their length) and return the
 * outputs; feeding a sequence in any split gives the causal `attention`
 * result up to float32 rounding.
 */
export interface CausalStateSync {
  /** Tokens consumed since creation or the last reset. */
  readonly position: number;
  step(q: Float32Array, k: Float32Array, v: Float32Array, options?: CausalStepOptions): Float32Array;
  /** Forgets every token. */
  reset(): void;
}

/** The Promise-returning form of CausalStateSync; `position` and `reset` stay synchronous. */
export interface CausalStateAsync {
  readonly position: number;
  step(q: Float32Array, k: Float32Array, v: Float32Array, options?: CausalStepOptions): Promise<Float32Array>;
  reset(): void;
}

function isPerBuildMap(value: unknown): value is Partial<Record<WasmBuild, WasmSource>> {
  if (value === null || typeof value !== "object") return false;
  if (value instanceof WebAssembly.Module || value instanceof ArrayBuffer || ArrayBuffer.isView(value) || value instanceof URL) return false;
  if (typeof Response !== "undefined" && value instanceof Response) return false;
  if (typeof (value as PromiseLike<unknown>).then === "function") return false;
  return WASM_BUILDS.some((build) => build in value);
}

/** Wraps a synchronous op so it returns a Promise and reports errors as rejections. */
function promised<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => Promise<R> {
  return (...args: A) => {
    try {
      return Promise.resolve(fn(...args));
    } catch (error) {
      return Promise.reject(error);
    }
  };
}

/**
 * Loads the library: picks and instantiates a WASM build and returns the op
 * table. Each runtime entry (bindings/runtime) wraps this as `createFavor`,
 * passing the loader that reads and compiles binaries on that runtime.
 */
export async function createFavorWith(loader: WasmLoader, options: CreateFavorOptions = {}): Promise<Favor> {
  const op = "createFavor";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  }
  const backendChoice = requireChoice(op, "backend", options.backend ?? "wasm", ["auto", "wasm", "webgpu"] as const);
  const requested = requireChoice(op, "build", options.build ?? "auto", ["auto", ...WASM_BUILDS] as const);
  const supported = supportedBuilds();
  let build: WasmBuild;
  if (requested === "auto") {
    build = bestBuild();
  } else {
    if (!supported[requested]) {
      throw new RangeError(
        `${op}: build "${requested}" is not supported by this engine (WebAssembly.validate rejected its instructions); ` +
          `use build "auto" or one of: ${WASM_BUILDS.filter((b) => supported[b]).join(", ")}`,
      );
    }
    build = requested;
  }

  let source: WasmSource | undefined;
  if (options.wasm !== undefined) {
    source = isPerBuildMap(options.wasm) ? options.wasm[build] : options.wasm;
    if (source === undefined) {
      throw new RangeError(`${op}: wasm has no entry for the "${build}" build; add it or pass build explicitly`);
    }
  }
  const threads = planThreads(op, options, loader);
  let backend = threads.count > 1 && source === undefined ? await startThreadedBackend(loader, build, threads) : null;
  if (backend === null) {
    const module = await compileSource(source ?? loader.packagedBinary(build), `the ${build} binary`, loader);
    backend = await WasmBackend.create(module);
  }
  if (backend.build !== build) {
    throw new RangeError(`${op}: the binary given for the "${build}" build was compiled as "${backend.build}"`);
  }
  log.debug(() => `loaded the ${build} WASM build on ${loader.runtime} (requested ${requested})`);
  const favor = makeFavor(backend, WASM_BUILDS.filter((b) => supported[b]));
  return backendChoice === "wasm" ? favor : withWebGpu(favor, backend, backendChoice, options.webgpu ?? {});
}

/** Adds the WebGPU backend to a Favor instance; the module loads only here. */
async function withWebGpu(
  favor: Favor, backend: WasmBackend, choice: "auto" | "webgpu", options: NonNullable<CreateFavorOptions["webgpu"]>,
): Promise<Favor> {
  const op = "createFavor";
  const minFlops = options.autoMinFlops === undefined ? undefined : requireFinite(op, "webgpu.autoMinFlops", options.autoMinFlops);
  const maxBinding = options.maxBindingBytes === undefined ? undefined : requireInteger(op, "webgpu.maxBindingBytes", options.maxBindingBytes, 16);
  const webgpu = await import("./backends/webgpu/ops.js");
  const navigatorGpu = (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;
  const where = options.gpu !== undefined ? "webgpu.gpu" : "navigator.gpu";
  let gpu: Awaited<ReturnType<typeof webgpu.openWebGpu>>;
  try {
    gpu = await webgpu.openWebGpu(options.gpu ?? navigatorGpu, where, maxBinding);
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    if (choice === "webgpu") throw new Error(`${op}: backend "webgpu" needs a WebGPU adapter, but ${message}`);
    log.debug(() => `backend "auto": no WebGPU (${message}); every op runs on WASM`);
    return favor;
  }
  log.debug(() => `backend "${choice}": WebGPU on ${gpu.describe()}`);
  return {
    ...favor,
    info: {
      ...favor.info, backend: "webgpu", gpu: gpu.adapter,
      get memoryBytes() { return backend.memoryBytes; },
      get threads() { return backend.threads; },
    },
    matmul: webgpu.makeGpuMatmul(backend, gpu, choice, minFlops ?? webgpu.DEFAULT_AUTO_MIN_FLOPS) as Favor["matmul"],
    householder: {
      ...favor.householder,
      apply: webgpu.makeGpuHouseholderApply(backend, gpu, choice, minFlops ?? webgpu.DEFAULT_AUTO_MIN_FLOPS),
    },
    features: webgpu.makeGpuFeatures(backend, gpu, choice, minFlops ?? webgpu.DEFAULT_AUTO_MIN_FLOPS) as Favor["features"],
    attention: webgpu.makeGpuAttention(backend, gpu, choice, minFlops ?? webgpu.DEFAULT_AUTO_MIN_FLOPS),
    attentionBackward: webgpu.makeGpuAttentionBackward(backend, gpu, choice, minFlops ?? webgpu.DEFAULT_AUTO_MIN_FLOPS),
    gpu: webgpu.makeGpuNamespace(gpu),
  };
}

/** Builds the bilevel namespaces; the Bernoulli draws come from the backend's Philox generator. */
function makeBilevel(backend: WasmBackend): { sync: FavorBilevelSync; async: FavorBilevel } {
  const uniform: UniformSource = (count, seed, offset) =>
    runRandom(backend, planRandom("uniform", count, seed, { offset }));
  const adaptiveState = (options?: BilevelAdaptiveOptions) => {
    const op = "bilevel.adaptiveState";
    if (options !== undefined && (options === null || typeof options !== "object")) {
      throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
    }
    return createAdaptiveState(planAdaptiveOptions(op, options ?? {}));
  };
  const sync: FavorBilevelSync = {
    gradient: (theta, task, options) =>
      driveSync(bilevelGradient(planBilevelGradient("bilevel.gradient", theta, task, options), uniform), task),
    optimizer: (options) => createOptimizer(planBilevelOptimizer("bilevel.optimizer", options), uniform),
    adaptiveState,
  };
  const async: FavorBilevel = {
    gradient: async (theta, task, options) =>
      driveAsync(bilevelGradient(planBilevelGradient("bilevel.gradient", theta, task, options), uniform), task),
    optimizer: promised((options: BilevelOptimizerOptions) =>
      createAsyncOptimizer(planBilevelOptimizer("bilevel.optimizer", options), uniform)),
    adaptiveState: promised(adaptiveState),
  };
  return { sync, async };
}

function makeFavor(backend: WasmBackend, supported: WasmBuild[]): Favor {
  const bilevel = makeBilevel(backend);
  const sync: FavorSync = {
    matmul: (a, b, options) => runMatmul(backend, planMatmul(a, b, options)),
    random: {
      uniform: (count, seed, options) => runRandom(backend, planRandom("uniform", count, seed, options)),
      normal: (count, seed, options) => runRandom(backend, planRandom("normal", count, seed, options)),
    },
    qr: (a, options) => runQr(backend, planQr(a, options)),
    triangularSolve: (a, b, options) => runTriangularSolve(backend, planTriangularSolve(a, b, options)),
    softmaxAttention: (q, k, v, options) => runSoftmaxAttention(backend, planSoftmaxAttention(q, k, v, options)),
    topK: (scores, count) => runTopK(planTopK(scores, count)),
    attention: (q, k, v, options) => runAttention(backend, planAttention(q, k, v, options)),
    attentionBackward: (q, k, v, gradOut, options) =>
      runAttentionBackward(backend, planAttentionBackward(q, k, v, gradOut, options)),
    softmaxAttentionBackward: (q, k, v, gradOut, options) =>
      runSoftmaxAttentionBackward(backend, planSoftmaxAttentionBackward(q, k, v, gradOut, options)),
    attentionWithState: (q, k, v, options) => runAttentionWithState(backend, planAttentionWithState(q, k, v, options)),
    slim: {
      createModel: (options) => new SlimModel(backend, planSlimModel(options)),
      adam: (parameters, options) => createAdam(requireParameters("slim.adam", parameters), planAdam(options)),
      sgd: (parameters, options) => createSgd(requireParameters("slim.sgd", parameters), planSgd(options)),
    },
    attentionScores: (q, k, options) => runAttentionScores(backend, planAttentionScores(q, k, options)),
    causalState: (options) => new CausalState(backend, planCausalState(options)),
    transpose: (a, options) => runTranspose(backend, planTranspose(a, options)),
    gemv: (a, x, options) => runGemv(backend, planGemv(a, x, options)),
    softmax: (x, options) => runSoftmax(backend, planSoftmax(x, options)),
    logsumexp: (x, options) => runLogsumexp(backend, planLogsumexp(x, options)),
    bilevel: bilevel.sync,
    sparsePattern: {
      construct: (pattern, options) => runConstruct(backend, planConstruct(pattern, options)),
      evaluate: (pattern, x, wq, wk, options) => runEvaluate(backend, planEvaluate(pattern, x, wq, wk, options)),
      requiredDim: (pattern, options) => runRequiredDim(backend, planRequiredDim(pattern, options)),
    },
    projection: (options) => runProjection(backend, planProjection(options)),
    redrawPolicy: (options) => {
      const plan = planRedrawPolicy(options);
      const { features, dim } = plan.projection;
      return new RedrawPolicy(plan, (draw) =>
        runProjection(backend, { ...plan.projection, draw, out: new Float32Array(features * dim) }));
    },
    features: ((x: Float32Array, options: FeaturesOptions | HybridFeaturesOptions) =>
      featuresRoute(options) === "hybrid"
        ? runHybridFeatures(backend, planHybridFeatures(x, options))
        : runFeatures(backend, planFeatures(x, options))) as FeaturesFunction,
    kernel: {
      softmax: (x, y, options) => runKernel(backend, planKernel(false, x, y, options)),
      gaussian: (x, y, options) => runKernel(backend, planKernel(true, x, y, options)),
      projection: (options) => runKernelProjection(backend, planKernelProjection(options)),
    },
    linalg: {
      expm: (a, options) => runExpm(backend, planExpm(a, options)),
      cayley: (a, options) => runCayley(backend, planCayley(a, options)),
    },
    odeToOde: {
      forward: (x0, options) => runOdeForward(backend, planOdeForward(x0, options)),
      backward: (x0, gradXT, options) => runOdeBackward(backend, planOdeBackward(x0, gradXT, options)),
    },
    householder: {
      product: (v, options) => runHouseholderForward(backend, planHouseholderProduct(v, options)),
      stiefel: (v, options) => runHouseholderForward(backend, planHouseholderStiefel(v, options)),
      apply: (v, x, options) => runHouseholderForward(backend, planHouseholderApply(v, x, options)),
      backward: (v, gradOutput, options) => runHouseholderBackward(backend, planHouseholderBackward(v, gradOutput, options)),
      fromOrthogonal: (q, options) => runHouseholderFromOrthogonal(backend, planHouseholderFromOrthogonal(q, options)),
      randomOrthogonal: (options) => runHouseholderRandomOrthogonal(backend, planHouseholderRandomOrthogonal(options)),
    },
  };
  attachBackend(sync, backend);
  const info: FavorInfo = {
    backend: "wasm",
    gpu: null,
    build: backend.build,
    supportedBuilds: supported,
    get memoryBytes() {
      return backend.memoryBytes;
    },
    get threads() {
      return backend.threads;
    },
  };
  return {
    info,
    sync,
    dispose: () => backend.pool?.dispose(),
    matmul: promised(sync.matmul) as Favor["matmul"],
    gpu: null,
    random: {
      uniform: promised(sync.random.uniform),
      normal: promised(sync.random.normal),
    },
    qr: promised(sync.qr),
    triangularSolve: promised(sync.triangularSolve),
    softmaxAttention: promised(sync.softmaxAttention),
    topK: promised(sync.topK),
    attention: promised(sync.attention),
    attentionBackward: promised(sync.attentionBackward),
    softmaxAttentionBackward: promised(sync.softmaxAttentionBackward),
    attentionWithState: promised(sync.attentionWithState),
    slim: {
      createModel: promised((options: SlimModelOptions) => asyncModel(sync.slim.createModel(options))),
      adam: sync.slim.adam,
      sgd: sync.slim.sgd,
    },
    attentionScores: promised(sync.attentionScores),
    causalState: promised((options: CausalStateOptions): CausalStateAsync => {
      const state = sync.causalState(options);
      return {
        get position() {
          return state.position;
        },
        step: promised((q: Float32Array, k: Float32Array, v: Float32Array, stepOptions?: CausalStepOptions) =>
          state.step(q, k, v, stepOptions)),
        reset: () => state.reset(),
      };
    }),
    transpose: promised(sync.transpose),
    gemv: promised(sync.gemv),
    softmax: promised(sync.softmax),
    logsumexp: promised(sync.logsumexp),
    bilevel: bilevel.async,
    sparsePattern: {
      construct: promised(sync.sparsePattern.construct),
      evaluate: promised(sync.sparsePattern.evaluate),
      requiredDim: promised(sync.sparsePattern.requiredDim),
    },
    projection: promised(sync.projection),
    redrawPolicy: promised(sync.redrawPolicy),
    features: promised(sync.features) as FeaturesAsyncFunction,
    kernel: {
      softmax: promised(sync.kernel.softmax),
      gaussian: promised(sync.kernel.gaussian),
      projection: promised(sync.kernel.projection),
    },
    linalg: {
      expm: promised(sync.linalg.expm),
      cayley: promised(sync.linalg.cayley),
    },
    odeToOde: {
      forward: promised(sync.odeToOde.forward),
      backward: promised(sync.odeToOde.backward),
    },
    householder: {
      product: promised(sync.householder.product),
      stiefel: promised(sync.householder.stiefel),
      apply: promised(sync.householder.apply),
      backward: promised(sync.householder.backward),
      fromOrthogonal: promised(sync.householder.fromOrthogonal),
      randomOrthogonal: promised(sync.householder.randomOrthogonal),
    },
  };
}
