// favor-wasm: Performer-style attention and float32 linear algebra in
// WebAssembly. Start with `const favor = await createFavor()`.

export { createFavor } from "./runtime/generic.js";
export type { CreateFavorOptions, Favor, FavorInfo, FavorSync } from "./favor.js";
export type { MatmulOptions } from "./api/matmul.js";
export type { FavorRandom, FavorRandomSync } from "./favor.js";
export type { RandomOptions, RandomSeed } from "./api/random.js";
export type { QrOptions, QrResult, TriangularSolveOptions } from "./api/linalg.js";
export type {
  AttentionLayout,
  AttentionOptions,
  AttentionScoresOptions,
  AttentionShapeOptions,
  CausalStateOptions,
  CausalStepOptions,
  SoftmaxAttentionOptions,
} from "./api/attention.js";
export type { CausalStateAsync, CausalStateSync } from "./favor.js";
export type { TransposeOptions } from "./api/transpose.js";
export type { GemvOptions } from "./api/gemv.js";
export type { LogsumexpOptions, SoftmaxOptions } from "./api/softmax.js";
export type { FavorBilevel, FavorBilevelSync } from "./favor.js";
export type {
  BilevelAdaptiveOptions,
  BilevelAdaptiveState,
  BilevelAsyncTask,
  BilevelCost,
  BilevelGradientOptions,
  BilevelGradientResult,
  BilevelMethod,
  BilevelOptimizerOptions,
  BilevelTask,
} from "./api/bilevel.js";
export type { BilevelAsyncOptimizer, BilevelOptimizer, BilevelStepResult } from "./bilevel/optimizer.js";
export type { FavorSparsePattern, FavorSparsePatternSync } from "./favor.js";
export type {
  SparsePattern,
  SparsePatternConstructOptions,
  SparsePatternConstruction,
  SparsePatternDimTrial,
  SparsePatternEvaluateOptions,
  SparsePatternEvaluation,
  SparsePatternRequiredDim,
  SparsePatternRequiredDimOptions,
} from "./api/sparse-pattern.js";
export type { FeaturesAsyncFunction, FeaturesFunction } from "./favor.js";
export type { FeatureKind, FeatureRole, FeaturesOptions, FeaturesWithStabilizer } from "./api/features.js";
export type { ProjectionKind, ProjectionNorms, ProjectionOptions } from "./api/projection.js";
export type { RedrawPolicy, RedrawPolicyOptions, RedrawPolicyState } from "./api/redraw.js";
export type { FavorHouseholder, FavorHouseholderSync } from "./favor.js";
export type {
  HouseholderApplyOptions,
  HouseholderBackwardMode,
  HouseholderBackwardOptions,
  HouseholderBackwardResult,
  HouseholderFromOrthogonalOptions,
  HouseholderMethod,
  HouseholderProductOptions,
  HouseholderRandomOrthogonalOptions,
  HouseholderStiefelOptions,
} from "./api/householder.js";
export type { WasmBuild } from "./backends/wasm/features.js";
export type { WasmSource } from "./backends/wasm/source.js";
export type {
  AttentionBackwardOptions, AttentionGradients, SoftmaxAttentionBackwardOptions, SoftmaxAttentionGradients, StatePrecision,
  AttentionEndState, AttentionWithState,
} from "./api/backward.js";
export type { FavorSlim, FavorSlimSync } from "./favor.js";
export type { AdamOptions, SgdOptions, SlimModelConfig, SlimModelOptions, SlimPassOptions } from "./api/slim.js";
export type { SlimLossAndGradients, SlimModel, SlimModelAsync } from "./slim/model.js";
export type { SlimOptimizer } from "./slim/optimizers.js";
export { getLogLevel, setLogLevel, setLogSink } from "./log.js";
export type { LogLevel, LogSink } from "./log.js";
export type { FavorLinalg, FavorLinalgSync, FavorOdeToOde, FavorOdeToOdeSync } from "./favor.js";
export type { MatrixFunctionOptions } from "./api/matrix-functions.js";
export type {
  OdeActivation, OdeBackwardOptions, OdeBackwardResult, OdeForwardOptions, OdeForwardResult, OdeGenerator, OdeStepper,
} from "./api/ode.js";
export type { FavorGpu, GpuMatmulOptions, GpuTensor } from "./backends/webgpu/ops.js";
export type { FavorKernel, FavorKernelSync } from "./favor.js";
export type { KernelDrawOptions, KernelEstimator, KernelOptions, KernelProjectionOptions } from "./api/kernel.js";
export type { BaseEstimator, GaussianLambda, HybridFeaturesOptions, HybridLambda, HybridProjection, HybridSpec } from "./api/hybrid.js";
