// Routes favor.features and favor.attention between WebGPU and WASM, as
// ops.ts does for matmul. Backend "webgpu" runs every call the kernels
// cover on the GPU; "auto" does so when the call's estimated work reaches
// the instance's autoMinFlops. Features calls whose buffers exceed the
// binding limit run in passes of rows, and attention calls in passes over
// groups of heads. A call whose single row or head exceeds the limit, or an
// attention grid over the workgroup limit, runs on WASM, and so do calls on
// a lost device that cannot be replaced. Each choice is logged, at debug
// level for a planned choice and at warn level for a fallback.

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
import { allFinite, keysFinite, projectionFinite } from "./finite.js";
import { encodeHybridFeatureMap } from "./hybrid.js";

type Mode = "webgpu" | "auto";


const NOT_FINITE = "an input is not finite, and WGSL lets implementations assume finite values";
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
  const limit = bindingElements(gpu);
  return Math.max(0, ...sizes.filter((s) => s > limit));
}

/** Returns the number of float32 elements that fit one storage binding (rounded down to 16 bytes). */
function bindingElements(gpu: WebGpuBackend): number {
  return Math.floor(gpu.maxBindingBytes / 16) * 4;
}

/**
 * Returns the rows per pass that keep every per-pass buffer of a features
 * call under the binding limit (x rows, output rows, row statistics), or 0
 * when a single row, or the projection, does not fit.
 */
export function featuresPassRows(gpu: WebGpuBackend, plan: FeaturesPlan): number {
  const limit = bindingElements(gpu);
  const { rows, map } = plan;
  if ((plan.projection?.length ?? 0) > limit) return 0;
  const perRow = Math.max(map.dim, map.outputs, 3);
  // featureStatsElements(n) = 3·n + 1 needs one element more than the rows.
  const fit = Math.min(Math.floor(limit / perRow), Math.floor((limit - 1) / 3));
  return Math.min(rows, fit);
}

/** Kinds whose features carry a stabilizer shift. */
const EXPONENTIAL_KINDS = new Set(["positive", "hyperbolic", "exp", "trig"]);

/** Statistics of one features pass: its row shifts (when requested) and its largest exponent. */
interface FeaturesPassStats {
  shift: Float32Array | null;
  largest: number;
}

/**
 * Runs rows first … first + count − 1 of a features plan on the device,
 * writing their rows of plan.out unless `statsOnly` is set.
 */
async function runFeaturesPass(
  gpu: WebGpuBackend, plan: FeaturesPlan, map: FeaturesPlan["map"], first: number, count: number, statsOnly: boolean,
): Promise<FeaturesPassStats> {
  const { dim, outputs } = map;
  return Recorder.run(gpu, "features", async (rec) => {
    const x = rec.upload(plan.x.subarray(first * dim, (first + count) * dim));
    const projection = plan.projection === null ? null : rec.upload(plan.projection);
    const out = rec.scratch(count * outputs);
    const stats = rec.scratch(featureStatsElements(count));
    encodeFeatureMap(rec, { map, rows: count, x, projection, out, stats, statsOnly });
    await rec.submit("features");
    if (!statsOnly) await gpu.readInto(out.buffer, 0, plan.out.subarray(first * outputs, (first + count) * outputs));
    if (!EXPONENTIAL_KINDS.has(map.kind) || (!statsOnly && !plan.returnStabilizer)) return { shift: null, largest: -Infinity };
    const tail = new Float32Array(count + 1);
    await gpu.readInto(stats.buffer, featureStatsLayout(count).shift, tail);
    return { shift: tail.subarray(0, count), largest: tail[count] };
  });
}

/**
 * Runs a validated features plan on the device in passes of `passRows` rows
 * (default: one pass). Role "key" without a keyShift uses one shift for the
 * whole call, the largest exponent over all rows. With several passes, a
 * first round of statistics-only passes finds it. The second round applies
 * it as a given key shift, so the features equal those of one pass.
 */
export async function runGpuFeatures(gpu: WebGpuBackend, plan: FeaturesPlan, passRows = plan.rows): Promise<Float32Array | FeaturesWithStabilizer> {
  const { rows } = plan;
  const exponential = EXPONENTIAL_KINDS.has(plan.map.kind);
  let map = plan.map;
  if (passRows < rows && exponential && map.role === "key" && map.keyShift === null) {
    let shift = -Infinity;
    for (let first = 0; first < rows; first += passRows) {
      const pass = await runFeaturesPass(gpu, plan, map, first, Math.min(passRows, rows - first), true);
      shift = Math.max(shift, pass.largest);
    }
    map = { ...map, keyShift: shift };
  }
  const shift = new Float32Array(rows);
  let maxExponent = -Infinity;
  for (let first = 0; first < rows; first += passRows) {
    const count = Math.min(passRows, rows - first);
    const pass = await runFeaturesPass(gpu, plan, map, first, count, false);
    if (pass.shift !== null) shift.set(pass.shift, first);
    maxExponent = Math.max(maxExponent, pass.largest);
  }
  if (!plan.returnStabilizer) return plan.out;
  return { features: plan.out, shift, maxExponent };
}

/**
 * Returns the rows per pass that keep every per-pass buffer of a hybrid
 * features call under the binding limit (x rows, the output, base and
 * weight-feature rows, row statistics), or 0 when a single row, or one of
 * the three projections, does not fit.
 */
export function hybridFeaturesPassRows(gpu: WebGpuBackend, plan: HybridFeaturesPlan): number {
  const limit = bindingElements(gpu);
  const { rows, map, projection } = plan;
  if (Math.max(projection.base1.length, projection.base2.length, projection.lambda.length) > limit) return 0;
  const perRow = Math.max(map.dim, map.outputs, map.bases[0].outputs, map.bases[1].outputs, map.lambdaOutputs, 3);
  const fit = Math.min(Math.floor(limit / perRow), Math.floor((limit - 1) / 3));
  return Math.min(rows, fit);
}

/**
 * Returns the largest exponent of each base map over rows first … first +
 * count − 1 of a hybrid plan: steps 1 to 3 of encodeFeatureMap per base.
 */
async function hybridBaseMaxima(gpu: WebGpuBackend, plan: HybridFeaturesPlan, first: number, count: number): Promise<[number, number]> {
  const { map, projection } = plan;
  return Recorder.run(gpu, "features", async (rec) => {
    const x = rec.upload(plan.x.subarray(first * map.dim, (first + count) * map.dim));
    const parts = [
      { map: map.bases[0], projection: rec.upload(projection.base1) },
      { map: map.bases[1], projection: rec.upload(projection.base2) },
    ];
    const stats = parts.map((part) => {
      const partStats = rec.scratch(featureStatsElements(count));
      const out = rec.scratch(count * part.map.outputs);
      encodeFeatureMap(rec, { map: part.map, rows: count, x, projection: part.projection, out, stats: partStats, statsOnly: true });
      return partStats;
    });
    await rec.submit("features");
    const largest = new Float32Array(2);
    await gpu.readInto(stats[0].buffer, featureStatsLayout(count).largest, largest.subarray(0, 1));
    await gpu.readInto(stats[1].buffer, featureStatsLayout(count).largest, largest.subarray(1, 2));
    return [largest[0], largest[1]];
  });
}

/** Runs rows first … first + count − 1 of a hybrid features plan on the device, writing their rows of plan.out. */
async function runHybridFeaturesPass(
  gpu: WebGpuBackend, plan: HybridFeaturesPlan, map: HybridFeaturesPlan["map"], first: number, count: number,
): Promise<FeaturesPassStats> {
  const { projection } = plan;
  const { dim, outputs } = map;
  return Recorder.run(gpu, "features", async (rec) => {
    const x = rec.upload(plan.x.subarray(first * dim, (first + count) * dim));
    const projections = { base1: rec.upload(projection.base1), base2: rec.upload(projection.base2), lambda: rec.upload(projection.lambda) };
    const out = rec.scratch(count * outputs);
    const stats = rec.scratch(featureStatsElements(count));
    const bases = encodeHybridFeatureMap(rec, { map, rows: count, x, projections, out, stats });
    await rec.submit("features");
    await gpu.readInto(out.buffer, 0, plan.out.subarray(first * outputs, (first + count) * outputs));
    if (!plan.returnStabilizer) return { shift: null, largest: -Infinity };
    const shift = new Float32Array(count);
    await gpu.readInto(stats.buffer, featureStatsLayout(count).shift, shift);
    const largest = new Float32Array(2);
    await gpu.readInto(bases.base1.buffer, featureStatsLayout(count).largest, largest.subarray(0, 1));
    await gpu.readInto(bases.base2.buffer, featureStatsLayout(count).largest, largest.subarray(1, 2));
    return { shift, largest: Math.max(largest[0], largest[1]) };
  });
}

/**
 * Runs a validated hybrid features plan on the device in passes of
 * `passRows` rows (default: one pass). As for the plain maps, role "key"
 * without a keyShift first finds each base map's largest exponent over all
 * rows and then applies it as that base's given key shift.
 */
export async function runGpuHybridFeatures(
  gpu: WebGpuBackend, plan: HybridFeaturesPlan, passRows = plan.rows,
): Promise<Float32Array | FeaturesWithStabilizer> {
  const { rows } = plan;
  let map = plan.map;
  const [map1, map2] = map.bases;
  if (passRows < rows && map.role === "key" && (map1.keyShift === null || map2.keyShift === null)) {
    let shift1 = -Infinity;
    let shift2 = -Infinity;
    for (let first = 0; first < rows; first += passRows) {
      const [largest1, largest2] = await hybridBaseMaxima(gpu, plan, first, Math.min(passRows, rows - first));
      shift1 = Math.max(shift1, largest1);
      shift2 = Math.max(shift2, largest2);
    }
    map = {
      ...map,
      bases: [{ ...map1, keyShift: map1.keyShift ?? shift1 }, { ...map2, keyShift: map2.keyShift ?? shift2 }],
    };
  }
  const shift = new Float32Array(rows);
  let maxExponent = -Infinity;
  for (let first = 0; first < rows; first += passRows) {
    const count = Math.min(passRows, rows - first);
    const pass = await runHybridFeaturesPass(gpu, plan, map, first, count);
    if (pass.shift !== null) shift.set(pass.shift, first);
    maxExponent = Math.max(maxExponent, pass.largest);
  }
  if (!plan.returnStabilizer) return plan.out;
  return { features: plan.out, shift, maxExponent };
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
    if (!allFinite(plan.x) || !projectionFinite(plan.projection)) {
      log.debug(() => `features ${shape} on WASM: ${NOT_FINITE}`);
      return runHybridFeatures(wasm, plan);
    }
    const passRows = hybridFeaturesPassRows(gpu, plan);
    if (passRows === 0) {
      const { projection } = plan;
      const large = overLimit(gpu, [
        projection.base1.length, projection.base2.length, projection.lambda.length,
        map.dim, map.outputs, map.lambdaOutputs, map.bases[0].outputs, map.bases[1].outputs, featureStatsElements(1),
      ]);
      log.warn(() => `features ${shape}: a buffer of ${large} floats exceeds the ${gpu.maxBindingBytes}-byte binding limit even for one row; running on WASM`);
      return runHybridFeatures(wasm, plan);
    }
    const passes = Math.ceil(rows / passRows);
    log.debug(() => `features ${shape} on WebGPU (${gpu.describe()}), ${passes} pass(es) of up to ${passRows} rows`);
    return withDevice(gpu, `features ${shape}`, () => runGpuHybridFeatures(gpu, plan, passRows), () => runHybridFeatures(wasm, plan));
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
    if (!allFinite(plan.x) || !projectionFinite(plan.projection)) {
      log.debug(() => `features ${shape} on WASM: ${NOT_FINITE}`);
      return runFeatures(wasm, plan);
    }
    // Passes over groups of rows keep the x, output and statistics buffers under the binding limit.
    const passRows = featuresPassRows(gpu, plan);
    if (passRows === 0) {
      const large = overLimit(gpu, [plan.projection?.length ?? 0, map.dim, map.outputs, featureStatsElements(1)]);
      log.warn(() => `features ${shape}: a buffer of ${large} floats exceeds the ${gpu.maxBindingBytes}-byte binding limit even for one row; running on WASM`);
      return runFeatures(wasm, plan);
    }
    const passes = Math.ceil(rows / passRows);
    log.debug(() => `features ${shape} on WebGPU (${gpu.describe()}), ${passes} pass(es) of up to ${passRows} rows`);
    return withDevice(gpu, `features ${shape}`, () => runGpuFeatures(gpu, plan, passRows), () => runFeatures(wasm, plan));
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
    if (!allFinite(plan.q) || !keysFinite(shape, plan.k, plan.v) || !projectionFinite(plan.features.projection)) {
      log.debug(() => `${label} on WASM: ${NOT_FINITE}`);
      return runAttention(wasm, plan);
    }
    // Passes over groups of items (batch·heads) keep every buffer under the binding limit.
    const items = shape.batch * shape.heads;
    let groupSize = items;
    while (groupSize > 1 && overLimit(gpu, attentionBuffers(plan, groupSize)) > 0) groupSize = Math.ceil(groupSize / 2);
    const large = overLimit(gpu, attentionBuffers(plan, groupSize));
    if (large > 0) {
      log.warn(() => `${label}: a buffer of ${large} floats exceeds the ${gpu.maxBindingBytes}-byte binding limit even for one head; running on WASM`);
      return runAttention(wasm, plan);
    }
    if (!attentionFitsGrid(plan, gpu.device.limits.maxComputeWorkgroupsPerDimension)) {
      log.warn(() => `${label}: the chunks or rows exceed the device's workgroup limit per dimension; running on WASM`);
      return runAttention(wasm, plan);
    }
    const passes = Math.ceil(items / groupSize);
    log.debug(() => `${label} on WebGPU (${gpu.describe()}), ${passes} pass(es) of up to ${groupSize} heads`);
    return withDevice(gpu, label, () => runGpuAttention(wasm, gpu, plan, groupSize), () => runAttention(wasm, plan));
  };
}
