// Routes favor.features and favor.attention between WebGPU and WASM, as
// ops.ts does for matmul. Backend "webgpu" runs every call the kernels
// cover on the GPU; "auto" does so when the call's estimated work reaches
// the instance's autoMinFlops. Calls whose buffers exceed the binding limit
// or whose grid exceeds the workgroup limit run on WASM, and so do calls on a
// lost device that cannot be replaced. Each choice is logged, at debug level
// for a planned choice and at warn level for a fallback.

import { featuresRoute, planHybridFeatures, type HybridFeaturesOptions, type HybridFeaturesPlan } from "../../api/hybrid.js";
import { planFeatures, type FeaturesOptions, type FeaturesPlan, type FeaturesWithStabilizer } from "../../api/features.js";
import { planAttention, type AttentionOptions, type AttentionPlan } from "../../api/attention.js";
import { log } from "../../log.js";
import type { WasmBackend } from "../wasm/backend.js";
import { runAttention } from "../wasm/ops/attention.js";
import { runFeatures } from "../wasm/ops/features.js";
import { runHybridFeatures } from "../wasm/ops/hybrid.js";
import { attentionBuffers, attentionFitsGrid, attentionFlops, runGpuAttention } from "./attention.js";
import type { WebGpuBackend } from "./backend.js";
import { Recorder } from "./encode.js";
import { encodeFeatureMap, featureStatsElements, featureStatsLayout } from "./features.js";
import { encodeHybridFeatureMap } from "./hybrid.js";

type Mode = "webgpu" | "auto";

/**
 * Runs `onGpu` when the device is usable, else `onWasm`; a call that fails
 * because the device was lost during it is retried on WASM.
 */
async function withDevice<T>(gpu: WebGpuBackend, what: string, onGpu: () => Promise<T>, onWasm: () => T): Promise<T> {
  if ((await gpu.ready()) === null) {
    log.warn(() => `${what}: the WebGPU device is lost; running on WASM`);
    return onWasm();
  }
  try {
    return await onGpu();
  } catch (error) {
    if (!gpu.lost) throw error;
    log.warn(() => `${what}: the WebGPU device was lost during the call; running on WASM`);
    return onWasm();
  }
}

/** Returns the largest element count in `sizes` that exceeds the binding limit, or 0 when all fit. */
function overLimit(gpu: WebGpuBackend, sizes: number[]): number {
  const limit = Math.floor(gpu.maxBindingBytes / 16) * 4;
  return Math.max(0, ...sizes.filter((s) => s > limit));
}

/** Runs a validated features plan on the device. */
export async function runGpuFeatures(gpu: WebGpuBackend, plan: FeaturesPlan): Promise<Float32Array | FeaturesWithStabilizer> {
  const { rows, map } = plan;
  const exponential = ["positive", "hyperbolic", "exp", "trig"].includes(map.kind);
  return Recorder.run(gpu, "features", async (rec) => {
    const x = rec.upload(plan.x);
    const projection = plan.projection === null ? null : rec.upload(plan.projection);
    const out = rec.scratch(rows * map.outputs);
    const stats = rec.scratch(featureStatsElements(rows));
    encodeFeatureMap(rec, { map, rows, x, projection, out, stats });
    await rec.submit("features");
    await gpu.readInto(out.buffer, 0, plan.out);
    if (!plan.returnStabilizer) return plan.out;
    if (!exponential) return { features: plan.out, shift: new Float32Array(rows), maxExponent: -Infinity };
    const tail = new Float32Array(rows + 1);
    await gpu.readInto(stats.buffer, featureStatsLayout(rows).shift, tail);
    return { features: plan.out, shift: tail.slice(0, rows), maxExponent: tail[rows] };
  });
}

/** Runs a validated hybrid features plan on the device. */
export async function runGpuHybridFeatures(gpu: WebGpuBackend, plan: HybridFeaturesPlan): Promise<Float32Array | FeaturesWithStabilizer> {
  const { rows, map, projection } = plan;
  return Recorder.run(gpu, "features", async (rec) => {
    const x = rec.upload(plan.x);
    const projections = { base1: rec.upload(projection.base1), base2: rec.upload(projection.base2), lambda: rec.upload(projection.lambda) };
    const out = rec.scratch(rows * map.outputs);
    const stats = rec.scratch(featureStatsElements(rows));
    const bases = encodeHybridFeatureMap(rec, { map, rows, x, projections, out, stats });
    await rec.submit("features");
    await gpu.readInto(out.buffer, 0, plan.out);
    if (!plan.returnStabilizer) return plan.out;
    const shift = new Float32Array(rows);
    await gpu.readInto(stats.buffer, featureStatsLayout(rows).shift, shift);
    const largest = new Float32Array(2);
    await gpu.readInto(bases.base1.buffer, featureStatsLayout(rows).largest, largest.subarray(0, 1));
    await gpu.readInto(bases.base2.buffer, featureStatsLayout(rows).largest, largest.subarray(1, 2));
    return { features: plan.out, shift, maxExponent: Math.max(largest[0], largest[1]) };
  });
}

/** Returns the Promise-returning features for a Favor instance with a WebGPU backend. */
export function makeGpuFeatures(wasm: WasmBackend, gpu: WebGpuBackend, mode: Mode, minFlops: number) {
  const hybridFeatures = async (x: Float32Array, options: HybridFeaturesOptions) => {
    const plan = planHybridFeatures(x, options);
    const { rows, map } = plan;
    const shape = `${rows}×${map.dim}→${map.outputs} (hybrid)`;
    if (rows === 0) return runHybridFeatures(wasm, plan);
    const projected = map.bases[0].features + map.bases[1].features + map.lambdaFeatures;
    const flops = 2 * rows * projected * map.dim + 2 * rows * map.outputs;
    if (mode === "auto" && flops < minFlops) {
      log.debug(() => `features ${shape} on WASM: ${flops} flops < the auto threshold ${minFlops}`);
      return runHybridFeatures(wasm, plan);
    }
    const large = overLimit(gpu, [plan.x.length, rows * map.outputs, rows * map.lambdaOutputs, rows * map.bases[0].outputs, rows * map.bases[1].outputs]);
    if (large > 0) {
      log.warn(() => `features ${shape}: a buffer of ${large} floats exceeds the ${gpu.maxBindingBytes}-byte binding limit; running on WASM`);
      return runHybridFeatures(wasm, plan);
    }
    log.debug(() => `features ${shape} on WebGPU (${gpu.describe()})`);
    return withDevice(gpu, `features ${shape}`, () => runGpuHybridFeatures(gpu, plan), () => runHybridFeatures(wasm, plan));
  };
  return async (x: Float32Array, options: FeaturesOptions | HybridFeaturesOptions) => {
    if (featuresRoute(options) === "hybrid") return hybridFeatures(x, options as HybridFeaturesOptions);
    const plan = planFeatures(x, options);
    const { rows, map } = plan;
    const shape = `${rows}×${map.dim}→${map.outputs} (${map.kind})`;
    if (rows === 0) return runFeatures(wasm, plan);
    // The projection dominates: 2·rows·m·dim, plus a few operations per output.
    const flops = 2 * rows * map.features * map.dim + 4 * rows * map.outputs;
    if (mode === "auto" && flops < minFlops) {
      log.debug(() => `features ${shape} on WASM: ${flops} flops < the auto threshold ${minFlops}`);
      return runFeatures(wasm, plan);
    }
    const large = overLimit(gpu, [plan.x.length, plan.projection?.length ?? 0, rows * map.outputs, featureStatsElements(rows)]);
    if (large > 0) {
      log.warn(() => `features ${shape}: a buffer of ${large} floats exceeds the ${gpu.maxBindingBytes}-byte binding limit; running on WASM`);
      return runFeatures(wasm, plan);
    }
    log.debug(() => `features ${shape} on WebGPU (${gpu.describe()})`);
    return withDevice(gpu, `features ${shape}`, () => runGpuFeatures(gpu, plan), () => runFeatures(wasm, plan));
  };
}

/** Returns the Promise-returning attention for a Favor instance with a WebGPU backend. */
export function makeGpuAttention(wasm: WasmBackend, gpu: WebGpuBackend, mode: Mode, minFlops: number) {
  return async (q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions) => {
    const plan: AttentionPlan = planAttention(q, k, v, options);
    const { shape } = plan;
    const label = `attention ${shape.batch}×${shape.heads}×${shape.length}×${shape.dim}` + (plan.causal ? " causal" : "");
    const flops = attentionFlops(plan);
    if (mode === "auto" && flops < minFlops) {
      log.debug(() => `${label} on WASM: ${flops} flops < the auto threshold ${minFlops}`);
      return runAttention(wasm, plan);
    }
    const large = overLimit(gpu, attentionBuffers(plan));
    if (large > 0) {
      log.warn(() => `${label}: a buffer of ${large} floats exceeds the ${gpu.maxBindingBytes}-byte binding limit; running on WASM`);
      return runAttention(wasm, plan);
    }
    if (!attentionFitsGrid(plan, gpu.device.limits.maxComputeWorkgroupsPerDimension)) {
      log.warn(() => `${label}: the chunks or rows exceed the device's workgroup limit per dimension; running on WASM`);
      return runAttention(wasm, plan);
    }
    log.debug(() => `${label} on WebGPU (${gpu.describe()})`);
    return withDevice(gpu, label, () => runGpuAttention(wasm, gpu, plan), () => runAttention(wasm, plan));
  };
}
