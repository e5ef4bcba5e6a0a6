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
