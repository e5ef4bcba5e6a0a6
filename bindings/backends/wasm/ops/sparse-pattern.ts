// Runs validated sparsePattern plans on the WASM backend: the construction
// X = [√d·B·G, G], the precision measures of an attention matrix against the
// pattern, and the search for the smallest d that reaches a target distortion.
//
// Costs for L rows, d dimensions and nnz nonzeros: construct draws d·L
// normals and forms B·G in O(nnz·d). The distortion needs only the support
// logits, O(nnz·d) through f32_csr_sddmm. The leakage needs every logit of a
// row, so it streams key blocks through f32_gemm and f32_logsumexp_rows in
// O(L²·d) time and O(L·(d + blockSize)) memory, never forming the L×L matrix.

import {
  fixedWeights,
  requireTrialFits,
  type ConstructPlan,
  type EvaluatePlan,
  type PatternPlan,
  type RequiredDimPlan,
  type SparsePatternConstruction,
  type SparsePatternDimTrial,
  type SparsePatternEvaluation,
  type SparsePatternRequiredDim,
} from "../../../api/sparse-pattern.js";
import type { Scope, WasmBackend } from "../backend.js";

type NormalKernel = (out: number, count: number, offsetLo: number, offsetHi: number, key0: number, key1: number) => void;
type TransposeKernel = (batch: number, rows: number, cols: number, a: number, out: number) => void;
type CsrmmKernel = (
  rows: number, n: number, rowOffsets: number, columns: number, values: number,
  alpha: number, b: number, ldb: number, c: number, ldc: number,
) => void;
type SddmmKernel = (
  rows: number, n: number, rowOffsets: number, columns: number,
  alpha: number, a: number, lda: number, b: number, ldb: number, out: number,
) => void;
type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;
type RowwiseKernel = (rows: number, cols: number, x: number, out: number) => void;

const F32_BYTES = 4;

/** Pointers of a pattern copied into WASM memory. */
interface PatternPointers {
  rowOffsets: number;
  columns: number;
}

/** Allocates room for an Int32Array; copy it in with `writeInt32` after the last allocation. */
function allocInt32(scope: Scope, length: number): number {
  return scope.allocBytes(length * 4);
}

function writeInt32(backend: WasmBackend, ptr: number, data: Int32Array): void {
  backend.u8(ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** Returns the seed's two 32-bit key words. */
function keyWords(seed: bigint): [number, number] {
  return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
}

/** Buffers of one construction at dimension d. */
interface ConstructionBuffers extends PatternPointers {
  logits: number;
  /** d×L standard normal draws: row c is column c of √d·G. */
  draws: number;
  /** L×d transpose of the draws. */
  normals: number;
  /** L×2d output X. */
  x: number;
}

function allocConstruction(scope: Scope, pattern: PatternPlan, d: number): ConstructionBuffers {
  const length = pattern.length;
  return {
    rowOffsets: allocInt32(scope, length + 1),
    columns: allocInt32(scope, pattern.nonzeros),
    logits: scope.allocF32(pattern.nonzeros),
    draws: scope.allocF32(d * length),
    normals: scope.allocF32(d * length),
    x: scope.allocF32(2 * d * length),
  };
}

/**
 * Writes X = [√d·B·G, G] into buffers.x, assuming buffers.draws contains the
 * first d·L draws of the seed's normal stream.
 */
function buildX(backend: WasmBackend, pattern: PatternPlan, logits: Float32Array, d: number, buffers: ConstructionBuffers): void {
  const length = pattern.length;
  const width = 2 * d;
  writeInt32(backend, buffers.rowOffsets, pattern.rowOffsets);
  writeInt32(backend, buffers.columns, pattern.columns);
  backend.f32(buffers.logits, pattern.nonzeros).set(logits);

  // G[r][c] = draw c·L + r, times 1/√d. The right half of X is G.
  backend.kernel<TransposeKernel>("f32_transpose")(1, d, length, buffers.draws, buffers.normals);
  const normals = backend.f32(buffers.normals, d * length);
  const x = backend.f32(buffers.x, width * length);
  const scale = Math.fround(1 / Math.sqrt(d));
  for (let r = 0; r < length; r++) {
    const target = r * width + d;
    const source = r * d;
    // A float32 times a float32 is exact in float64, so storing to x rounds once, as float32 multiplication does.
    for (let c = 0; c < d; c++) x[target + c] = normals[source + c] * scale;
  }

  // Left half: √d·B·G, reading G from the right half.
  backend.kernel<CsrmmKernel>("f32_csrmm")(
    length, d, buffers.rowOffsets, buffers.columns, buffers.logits,
    Math.fround(Math.sqrt(d)), buffers.x + d * F32_BYTES, width, buffers.x, width,
  );
}

/** Runs sparsePattern.construct. */
export function runConstruct(backend: WasmBackend, plan: ConstructPlan): SparsePatternConstruction {
  const { pattern, d } = plan;
  const normal = backend.kernel<NormalKernel>("f32_random_normal");
  return backend.withScope("sparsePattern.construct", (scope) => {
    const buffers = allocConstruction(scope, pattern, d);
    const [key0, key1] = keyWords(plan.seed);
    normal(buffers.draws, d * pattern.length, 0, 0, key0, key1);
    buildX(backend, pattern, plan.logits, d, buffers);
    return {
      x: backend.f32(buffers.x, 2 * d * pattern.length).slice(),
      wq: fixedWeights(d, "query"),
      wk: fixedWeights(d, "key"),
    };
  });
}

/** Distortion statistics of a pattern's support logits S_p against ln A_p. */
interface DistortionStats {
  maxDistortion: number;
  meanDistortion: number;
  pairs: number;
}

/**
 * For each row the errors e_p = S_p − ln A_p differ from the ideal by one
 * row constant, so the distortion of a pair is |e_p − e_q|: the row maximum
 * is max e − min e, and with e sorted ascending the row's pair sum is
 * Σ_r (2r − k + 1)·e_r, O(k log k) per row instead of O(k²).
 */
function distortionOf(pattern: PatternPlan, support: Float32Array): DistortionStats {
  let maxDistortion = 0;
  let sum = 0;
  let pairs = 0;
  let widest = 0;
  for (let i = 0; i < pattern.length; i++) widest = Math.max(widest, pattern.rowOffsets[i + 1] - pattern.rowOffsets[i]);
  const scratch = new Float64Array(widest);
  for (let i = 0; i < pattern.length; i++) {
    const first = pattern.rowOffsets[i];
    const k = pattern.rowOffsets[i + 1] - first;
    if (k < 2) continue;
    const errors = scratch.subarray(0, k);
    for (let r = 0; r < k; r++) errors[r] = support[first + r] - pattern.logValues[first + r];
    errors.sort();
    maxDistortion = Math.max(maxDistortion, errors[k - 1] - errors[0]);
    for (let r = 0; r < k; r++) sum += (2 * r - k + 1) * errors[r];
    pairs += (k * (k - 1)) / 2;
  }
  return { maxDistortion, meanDistortion: pairs > 0 ? sum / pairs : 0, pairs };
}

/** Returns ln(e^a + e^b) without overflow; −Infinity when both are −Infinity. */
function logAddExp(a: number, b: number): number {
  const high = Math.max(a, b);
  if (high === -Infinity) return -Infinity;
  return high + Math.log(Math.exp(a - high) + Math.exp(b - high));
}

/** Locations and row strides of an evaluation's queries and keys in WASM memory. */
interface QueryKeyLayout {
  queries: number;
  ldq: number;
  keys: number;
  ldk: number;
}

/** Leakage statistics; see SparsePatternEvaluation. */
interface LeakageStats {
  leakage: number;
  maxOffSupportMass: number;
  meanOffSupportMass: number;
}

/**
 * Streams the L×L logits in blocks of key columns: block = alpha·Q·K_blockᵀ
 * (f32_gemm), support entries set to −Infinity, then per row the block's
 * largest off-support logit (scanned here) and its log-sum-exp
 * (f32_logsumexp_rows), merged across blocks in float64.
 */
function leakageOf(
  backend: WasmBackend, plan: EvaluatePlan, layout: QueryKeyLayout, alpha: number,
  support: Float32Array, block: number, rowSums: number,
): LeakageStats {
  const { pattern, d } = plan;
  const length = pattern.length;
  const gemm = backend.kernel<GemmKernel>("f32_gemm");
  const logsumexp = backend.kernel<RowwiseKernel>("f32_logsumexp_rows");
  const largestOff = new Float64Array(length).fill(-Infinity);
  const logSumOff = new Float64Array(length).fill(-Infinity);

  for (let first = 0; first < length; first += plan.blockSize) {
    const cols = Math.min(plan.blockSize, length - first);
    gemm(
      1, length, cols, d, alpha,
      layout.queries, layout.ldq, 0, 0,
      layout.keys + first * layout.ldk * F32_BYTES, layout.ldk, 0, 1,
      0, block, cols, 0,
    );
    const logits = backend.f32(block, length * cols);
    for (let i = 0; i < length; i++) {
      for (let p = pattern.rowOffsets[i]; p < pattern.rowOffsets[i + 1]; p++) {
        const column = pattern.columns[p] - first;
        if (column >= 0 && column < cols) logits[i * cols + column] = -Infinity;
      }
      let largest = largestOff[i];
      for (let j = i * cols, end = j + cols; j < end; j++) largest = Math.max(largest, logits[j]);
      largestOff[i] = largest;
    }
    logsumexp(length, cols, block, rowSums);
    const sums = backend.f32(rowSums, length);
    for (let i = 0; i < length; i++) logSumOff[i] = logAddExp(logSumOff[i], sums[i]);
  }

  let leakage = 0;
  let maxMass = 0;
  let massSum = 0;
  for (let i = 0; i < length; i++) {
    let smallestSupport = Infinity;
    let logSumSupport = -Infinity;
    for (let p = pattern.rowOffsets[i]; p < pattern.rowOffsets[i + 1]; p++) {
      smallestSupport = Math.min(smallestSupport, support[p]);
      logSumSupport = logAddExp(logSumSupport, support[p]);
    }
    leakage = Math.max(leakage, Math.exp(largestOff[i] - smallestSupport));
    // Off-support mass = Σ_off e^S / Σ_all e^S.
    const mass = Math.exp(logSumOff[i] - logAddExp(logSumOff[i], logSumSupport));
    maxMass = Math.max(maxMass, mass);
    massSum += mass;
  }
  return { leakage, maxOffSupportMass: maxMass, meanOffSupportMass: massSum / length };
}

/** Runs sparsePattern.evaluate. */
export function runEvaluate(backend: WasmBackend, plan: EvaluatePlan): SparsePatternEvaluation {
  const { pattern, d, width } = plan;
  const length = pattern.length;
  // The attention scale 1/√d, applied to every logit.
  const alpha = Math.fround(1 / Math.sqrt(d));
  return backend.withScope(plan.op, (scope) => {
    const rowOffsets = allocInt32(scope, length + 1);
    const columns = allocInt32(scope, pattern.nonzeros);
    const x = scope.allocF32(length * width);
    const supportPtr = scope.allocF32(pattern.nonzeros);
    let layout: QueryKeyLayout;
    let weights: { wq: number; wk: number } | undefined;
    if (plan.fixedWeights) {
      // x·[I; 0] and x·[0; I] are the left and right halves of x.
      layout = { queries: x, ldq: width, keys: x + d * F32_BYTES, ldk: width };
    } else {
      weights = { wq: scope.allocF32(width * d), wk: scope.allocF32(width * d) };
      layout = { queries: scope.allocF32(length * d), ldq: d, keys: scope.allocF32(length * d), ldk: d };
    }
    const block = plan.leakage ? scope.allocF32(length * plan.blockSize) : 0;
    const rowSums = plan.leakage ? scope.allocF32(length) : 0;

    // Every buffer is allocated, so views taken from here on stay valid.
    writeInt32(backend, rowOffsets, pattern.rowOffsets);
    writeInt32(backend, columns, pattern.columns);
    backend.f32(x, length * width).set(plan.x);
    if (weights !== undefined) {
      backend.f32(weights.wq, width * d).set(plan.wq);
      backend.f32(weights.wk, width * d).set(plan.wk);
      const gemm = backend.kernel<GemmKernel>("f32_gemm");
      gemm(1, length, d, width, 1, x, width, 0, 0, weights.wq, d, 0, 0, 0, layout.queries, d, 0);
      gemm(1, length, d, width, 1, x, width, 0, 0, weights.wk, d, 0, 0, 0, layout.keys, d, 0);
    }
    backend.kernel<SddmmKernel>("f32_csr_sddmm")(
      length, d, rowOffsets, columns, alpha, layout.queries, layout.ldq, layout.keys, layout.ldk, supportPtr,
    );
    const support = backend.f32(supportPtr, pattern.nonzeros).slice();
    const result: SparsePatternEvaluation = distortionOf(pattern, support);
    if (plan.leakage) Object.assign(result, leakageOf(backend, plan, layout, alpha, support, block, rowSums));
    return result;
  });
}

/** Combines the trials' distortions by the plan's aggregate: median, mean or max. */
function aggregateOf(values: number[], aggregate: RequiredDimPlan["aggregate"]): number {
  if (aggregate === "max") return Math.max(...values);
  if (aggregate === "mean") return values.reduce((sum, value) => sum + value, 0) / values.length;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Runs sparsePattern.requiredDim: doubling from minDim until the aggregated
 * distortion is <= epsilon, then bisection between the last failing and the
 * first passing d. The draws of each trial are kept and extended, so d and a
 * larger d' share the first d columns of √d·G, as construct defines them.
 */
export function runRequiredDim(backend: WasmBackend, plan: RequiredDimPlan): SparsePatternRequiredDim {
  const op = "sparsePattern.requiredDim";
  const { pattern } = plan;
  const length = pattern.length;
  const normal = backend.kernel<NormalKernel>("f32_random_normal");
  const sddmm = backend.kernel<SddmmKernel>("f32_csr_sddmm");
  const draws: Float32Array[] = Array.from({ length: plan.trials }, () => new Float32Array(0));
  const evaluations: SparsePatternDimTrial[] = [];
  const judged = new Map<number, SparsePatternDimTrial>();

  /** Returns the first d·L draws of trial t, drawing the missing ones. */
  const drawsOf = (trial: number, d: number): Float32Array => {
    const have = draws[trial].length;
    const need = d * length;
    if (have < need) {
      const grown = new Float32Array(need);
      grown.set(draws[trial]);
      const [key0, key1] = keyWords(plan.seed + BigInt(trial));
      backend.withScope(op, (scope) => {
        const out = scope.allocF32(need - have);
        normal(out, need - have, have, 0, key0, key1);
        grown.set(backend.f32(out, need - have), have);
      });
      draws[trial] = grown;
    }
    return draws[trial].subarray(0, need);
  };

  const distortionAt = (trial: number, d: number): number => {
    const trialDraws = drawsOf(trial, d);
    return backend.withScope(op, (scope) => {
      const buffers = allocConstruction(scope, pattern, d);
      const supportPtr = scope.allocF32(pattern.nonzeros);
      backend.f32(buffers.draws, d * length).set(trialDraws);
      buildX(backend, pattern, plan.logits, d, buffers);
      sddmm(
        length, d, buffers.rowOffsets, buffers.columns, Math.fround(1 / Math.sqrt(d)),
        buffers.x, 2 * d, buffers.x + d * F32_BYTES, 2 * d, supportPtr,
      );
      const stats = distortionOf(pattern, backend.f32(supportPtr, pattern.nonzeros));
      return plan.distortion === "max" ? stats.maxDistortion : stats.meanDistortion;
    });
  };

  const passes = (d: number): boolean => {
    let entry = judged.get(d);
    if (entry === undefined) {
      requireTrialFits(op, pattern, d);
      const values = Array.from({ length: plan.trials }, (_, trial) => distortionAt(trial, d));
      entry = { d, value: aggregateOf(values, plan.aggregate), values };
      judged.set(d, entry);
      evaluations.push(entry);
    }
    return entry.value <= plan.epsilon;
  };

  let passing = plan.minDim;
  let failing = plan.minDim - 1;
  while (!passes(passing)) {
    if (passing === plan.maxDim) {
      const reached = judged.get(passing)!.value;
      throw new RangeError(
        `${op}: the ${plan.aggregate} over ${plan.trials} trials of the ${plan.distortion} distortion is ${reached} ` +
          `at maxDim ${plan.maxDim}, ` +
          `above epsilon ${plan.epsilon}; raise maxDim or epsilon`,
      );
    }
    failing = passing;
    passing = Math.min(2 * passing, plan.maxDim);
  }
  while (passing - failing > 1) {
    const middle = Math.floor((failing + passing) / 2);
    if (passes(middle)) passing = middle;
    else failing = middle;
  }
  return { d: passing, value: judged.get(passing)!.value, evaluations };
}
