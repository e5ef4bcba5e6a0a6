// Type-checked (never run) by tests/conformance/node.test.js and by
// `deno check` in tests/runtimes/deno.mjs: a consumer that imports every
// public symbol of favor-wasm through package.json, so a missing or broken
// declaration fails the test suite.

import {
  createFavor, getLogLevel, setLogLevel, setLogSink,
  type CreateFavorOptions, type Favor, type FavorInfo, type FavorRandom, type FavorRandomSync, type FavorSync,
  type GemvOptions, type LogLevel, type LogSink, type LogsumexpOptions, type MatmulOptions, type QrOptions,
  type QrResult, type RandomOptions, type RandomSeed, type SoftmaxOptions, type TransposeOptions,
  type TriangularSolveOptions, type WasmBuild, type WasmSource,
  type FeatureKind, type FeatureRole, type FeaturesAsyncFunction, type FeaturesFunction, type FeaturesOptions,
  type FeaturesWithStabilizer, type ProjectionKind, type ProjectionNorms, type ProjectionOptions, type RedrawPolicy,
  type RedrawPolicyOptions, type RedrawPolicyState,
} from "favor-wasm";

export async function useEverything(source: WasmSource, module: WebAssembly.Module): Promise<number> {
  const build: WasmBuild = "simd";
  const options: CreateFavorOptions = { build, wasm: { simd: source, scalar: module } };
  const favor: Favor = await createFavor(options);
  const info: FavorInfo = favor.info;
  const sync: FavorSync = favor.sync;
  const matmul: MatmulOptions = { m: 1, k: 1, n: 1, alpha: 2 };
  const level: LogLevel = getLogLevel();
  const sink: LogSink = (_level, _message) => {};
  setLogLevel(level);
  setLogSink(sink);
  const product: Float32Array = sync.matmul(new Float32Array(1), new Float32Array(1), matmul);
  const promised: Float32Array = await favor.matmul(product, product, matmul);

  const random: FavorRandom = favor.random;
  const randomSync: FavorRandomSync = sync.random;
  const seed: RandomSeed = 2n ** 64n - 1n;
  const randomOptions: RandomOptions = { offset: 3 };
  const uniform: Float32Array = await random.uniform(4, seed, randomOptions);
  const normal: Float32Array = randomSync.normal(4, 42);

  const qrOptions: QrOptions = { rows: 2, cols: 2, mode: "full" };
  const factors: QrResult = await favor.qr(new Float32Array(4), qrOptions);
  const solveOptions: TriangularSolveOptions = { n: 2, cols: 1, lower: true, transpose: false, unitDiagonal: true };
  const solution: Float32Array = await favor.triangularSolve(factors.r, new Float32Array(2), solveOptions);
  const transposeOptions: TransposeOptions = { rows: 2, cols: 2, batch: 1 };
  const transposed: Float32Array = await favor.transpose(factors.q, transposeOptions);
  const gemvOptions: GemvOptions = { m: 2, n: 2, trans: true, alpha: 1, beta: 0 };
  const y: Float32Array = await favor.gemv(transposed, solution, gemvOptions);
  const softmaxOptions: SoftmaxOptions = { rows: 1, cols: 2 };
  const weights: Float32Array = await favor.softmax(y, softmaxOptions);
  const logsumexpOptions: LogsumexpOptions = { rows: 1, cols: 2 };
  const total: Float32Array = sync.logsumexp(weights, logsumexpOptions);

  const kind: ProjectionKind = "orthogonal";
  const norms: ProjectionNorms = "chi";
  const projectionOptions: ProjectionOptions = { features: 4, dim: 2, kind, norms, seed: 1, draw: 0 };
  const w: Float32Array = await favor.projection(projectionOptions);
  const policyOptions: RedrawPolicyOptions = { ...projectionOptions, redrawEvery: 10 };
  const policy: RedrawPolicy = sync.redrawPolicy(policyOptions);
  const state: RedrawPolicyState = policy.state;
  const featureKind: FeatureKind = "positive";
  const role: FeatureRole = "key";
  const featuresOptions: FeaturesOptions = { rows: 1, dim: 2, projection: w, kind: featureKind, role };
  const mapSync: FeaturesFunction = sync.features;
  const mapAsync: FeaturesAsyncFunction = favor.features;
  const plain: Float32Array = mapSync(new Float32Array(2), { ...featuresOptions, returnStabilizer: false });
  const stabilized: FeaturesWithStabilizer = await mapAsync(new Float32Array(2), { ...featuresOptions, returnStabilizer: true });

  return promised[0]! + info.memoryBytes + uniform[0]! + normal[0]! + total[0]! + state.draw + plain[0]! + stabilized.maxExponent;
}

import type { BilevelGradientResult, BilevelOptimizer, BilevelTask } from "favor-wasm";

export async function useBilevel(favor: Favor, theta: Float32Array): Promise<number> {
  const task: BilevelTask = {
    innerGrad: (x, _step) => x.slice(),
    innerHvp: (_x, vector, _step) => vector.slice(),
    outerGrad: (x) => x.slice(),
  };
  const result: BilevelGradientResult = favor.sync.bilevel.gradient(theta, task, { innerSteps: 2, innerRate: 0.1, method: "ufom", q: 0.5, seed: 1 });
  const optimizer: BilevelOptimizer = favor.sync.bilevel.optimizer({ theta, learningRate: 0.1, innerSteps: 2, innerRate: 0.1, method: "exact" });
  optimizer.step(task);
  const promised = await favor.bilevel.gradient(theta, { ...task, outerGrad: async (x) => x.slice() }, { innerSteps: 1, innerRate: 0.1, method: "fom" });
  return result.gradient[0]! + promised.cost.innerGrad + optimizer.steps;
}

import type {
  BaseEstimator, FavorKernel, FavorKernelSync, GaussianLambda, HybridFeaturesOptions, HybridLambda, HybridProjection,
  HybridSpec, KernelDrawOptions, KernelEstimator, KernelOptions, KernelProjectionOptions,
} from "favor-wasm";

export async function useKernels(favor: Favor, x: Float32Array, y: Float32Array): Promise<number> {
  const kernelSync: FavorKernelSync = favor.sync.kernel;
  const kernelAsync: FavorKernel = favor.kernel;
  const base: BaseEstimator = "trig";
  const gaussianLambda: GaussianLambda = { kind: "gaussian", sigma: 2 };
  const lambda: HybridLambda = gaussianLambda;
  const spec: HybridSpec = { hybrid: ["positive", base], lambda };
  const estimator: KernelEstimator = spec;
  const draws: KernelDrawOptions = { features: 4, lambdaFeatures: 2, seed: 1, draw: 0, projectionKind: "iid", norms: "chi" };
  const options: KernelOptions = { rowsX: 1, rowsY: 1, dim: 2, estimator, ...draws };
  const exact: Float32Array = kernelSync.softmax(x, y, { rowsX: 1, rowsY: 1, dim: 2, estimator: "exact" });
  const estimate: Float32Array = await kernelAsync.gaussian(x, y, options);
  const projectionOptions: KernelProjectionOptions = { estimator: "angular-hybrid", dim: 2, features: 4, seed: 1 };
  const parts = kernelSync.projection(projectionOptions) as HybridProjection;
  const hybridOptions: HybridFeaturesOptions = { rows: 1, dim: 2, kind: "angular-hybrid", role: "query", projection: parts };
  const psi: Float32Array = favor.sync.features(x, { ...hybridOptions, returnStabilizer: false });
  return exact[0]! + estimate[0]! + psi[0]!;
}
