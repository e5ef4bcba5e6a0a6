// Routes favor.features and favor.attention between WebGPU and WASM, as
// ops.ts does for matmul. Backend "webgpu" runs every call the kernels
// cover on the GPU; "auto" does so when the call's estimated work reaches
// the instance's autoMinFlops. Calls the kernels do not cover (hybrid maps),
// calls whose buffers exceed the binding limit, and calls on a lost device
// that cannot be replaced run on WASM; each choice is logged (debug for a
// planned choice, warn for a fallback the caller did not ask for).

import { featuresRoute, planHybridFeatures, type HybridFeaturesOptions } from "../../api/hybrid.js";
import { planFeatures, type FeaturesOptions, type FeaturesPlan, type FeaturesWithStabilizer } from "../../api/features.js";
import { planAttention, type AttentionOptions, type AttentionPlan } from "../../api/attention.js";
import { log } from "../../log.js";
import type { WasmBackend } from "../wasm/backend.js";
import { runAttention } from "../wasm/ops/attention.js";
import { runFeatures } from "../wasm/ops/features.js";
import { runHybridFeatures } from "../wasm/ops/hybrid.js";
import { attentionBuffers, attentionFlops, runGpuAttention } from "./attention.js";
import type { WebGpuBackend } from "./backend.js";
import { Recorder } from "./encode.js";
import { encodeFeatureMap, featureStatsElements, featureStatsLayout } from "./features.js";

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

/** Returns the Promise-returning features for a Favor instance with a WebGPU backend. */
export function makeGpuFeatures(wasm: WasmBackend, gpu: WebGpuBackend, mode: Mode, minFlops: number) {
  return async (x: Float32Array, options: FeaturesOptions | HybridFeaturesOptions) => {
    if (featuresRoute(options) === "hybrid") {
      log.debug(() => "features: hybrid maps have no WebGPU kernel; running on WASM");
      return runHybridFeatures(wasm, planHybridFeatures(x, options));
    }
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
    if (plan.features.hybrid !== null) {
      log.debug(() => `${label}: hybrid maps have no WebGPU kernel; running on WASM`);
      return runAttention(wasm, plan);
    }
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
    log.debug(() => `${label} on WebGPU (${gpu.describe()})`);
    return withDevice(gpu, label, () => runGpuAttention(wasm, gpu, plan), () => runAttention(wasm, plan));
  };
}
