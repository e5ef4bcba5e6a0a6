// Type-checked (never run) by tests/conformance/node.test.js: a consumer
// that imports every public symbol of favor-wasm through package.json, so
// a missing or broken declaration fails the test suite.

import {
  createFavor, getLogLevel, setLogLevel, setLogSink,
  type CreateFavorOptions, type Favor, type FavorInfo, type FavorSync, type LogLevel, type LogSink,
  type MatmulOptions, type WasmBuild, type WasmSource,
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
  return promised[0]! + info.memoryBytes;
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
