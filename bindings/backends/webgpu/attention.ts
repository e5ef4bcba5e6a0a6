// FAVOR+ attention on WebGPU: the bidirectional form and chunked causal
// attention with a scan across chunks. The formulas are those of
// bindings/backends/wasm/ops/linear-attention.ts; the feature maps are
// encodeFeatureMap (features.ts), or encodeHybridFeatureMap (hybrid.ts) for
// hybrid kernels, with no ε, so the stabilizers cancel in the ratio num/den.
//
// Per batch item and head, in one command buffer per pass of heads:
//   gather   X_q = d^{-1/4}·q rows, X_k = d^{-1/4}·k rows and V₁ = [v 1]
//            rows into contiguous scratch. Padded keys (keyPaddingMask) and
//            the rows that pad the last causal chunk are written as zeros
//            and never read, so they may hold anything, NaN included.
//   features Q′ = φ(X_q) with the per-row query shift; K′ = φ(X_k) with a
//            key shift per group of rows, the largest exponent of the
//            visible keys so far (all keys for the bidirectional form, a
//            prefix maximum over chunks for the causal form). Masked rows of
//            K′ are zero.
//   bidirectional: T = K′ᵀV₁ (r×(dv+1)) and [num den] = Q′T with the GEMM.
//   causal (chunks of C rows, n_c chunks, the last padded to C):
//            U_c = K′_cᵀV₁_c for every chunk (one batched GEMM);
//            scan: P_0 = 0, P_{c+1} = exp(S_c − S_{c+1})·(P_c + U_c), where
//            S_c is chunk c's key shift, so P_c contains the keys before chunk c
//            at chunk c's shift (S never decreases, so no factor exceeds 1);
//            [num den]_c = Q′_c·P_c + tril(Q′_c·K′_cᵀ)·V₁_c (three batched
//            GEMMs and a kernel that zeroes the upper triangle).
//   divide   out = num/den, or zeros where den ≤ 2^-126, as on WASM.
// Every sum accumulates in float32. Buffers hold f32 or u32, never vec3.

import { featureOutputs, headRows, type AttentionPlan } from "../../api/attention.js";
import type { HybridProjection } from "../../api/hybrid.js";
import type { WasmBackend } from "../wasm/backend.js";
import { runProjection } from "../wasm/ops/projection.js";
import type { WebGpuBackend } from "./backend.js";
import { LINEAR_GROUP, Recorder, grid, uniformWords, type Binding } from "./encode.js";
import { MATH_WGSL, encodeFeatureMap, featureStatsElements, featureStatsLayout } from "./features.js";
import { encodeHybridFeatureMap, type HybridProjectionBindings } from "./hybrid.js";

/** Chunking of a plan: C rows per chunk, n_c chunks, and the padded row counts of the query and key scratch. */
function chunking(plan: AttentionPlan): { chunk: number; chunks: number; queryRows: number; keyRows: number } {
  const { length, keyLength } = plan.shape;
  if (!plan.causal) return { chunk: 0, chunks: 0, queryRows: length, keyRows: keyLength };
  const chunk = Math.min(plan.chunk, length);
  const chunks = Math.ceil(length / chunk);
  return { chunk, chunks, queryRows: chunks * chunk, keyRows: chunks * chunk };
}

/**
 * Estimates the floating-point operations of an attention call, for the
 * "auto" threshold: the projections 2·(L + L_k)·m·dim, the feature products
 * 2·(L + L_k)·r·(dv + 1), and for causal calls the in-chunk products
 * 2·L·C·(r + dv + 1), per batch item and head.
 */
export function attentionFlops(plan: AttentionPlan): number {
  const { batch, heads, length, keyLength, dim, valueDim } = plan.shape;
  const r = featureOutputs(plan.features);
  const m = plan.features.query.features || dim;
  let perHead = 2 * (length + keyLength) * (m * dim + r * (valueDim + 1));
  if (plan.causal) perHead += 2 * length * Math.min(plan.chunk, length) * (r + valueDim + 1);
  return batch * heads * perHead;
}

/**
 * Returns true when every dispatch of the plan fits the per-dimension
 * workgroup limit: the GEMM grid has ceil(rows/64) rows of tiles and one
 * z slice per chunk.
 */
export function attentionFitsGrid(plan: AttentionPlan, maxGroups: number): boolean {
  const { chunks, queryRows, keyRows } = chunking(plan);
  return Math.ceil(Math.max(queryRows, keyRows, featureOutputs(plan.features)) / 64) <= maxGroups && chunks <= maxGroups;
}

/** Returns the batch items and heads that a pass over items first … first + count − 1 (z = b·heads + h) touches. */
function passSpan(heads: number, first: number, count: number): { items: [number, number]; heads: [number, number] } {
  const last = first + count - 1;
  const items: [number, number] = [Math.floor(first / heads), Math.floor(last / heads)];
  if (count >= heads || items[0] !== items[1]) return { items, heads: [0, heads - 1] };
  return { items, heads: [first % heads, last % heads] };
}

/**
 * Element counts of every buffer runGpuAttention binds in a pass over
 * `count` items (z = b·heads + h), for the binding-limit check. The per-item
 * scratch does not depend on `count`; the inputs, the output, the key flags
 * and per-head projections grow with it.
 */
export function attentionBuffers(plan: AttentionPlan, count = plan.shape.batch * plan.shape.heads): number[] {
  const { batch, heads, length, keyLength, dim, valueDim } = plan.shape;
  const r = featureOutputs(plan.features);
  const { chunk, chunks, queryRows, keyRows } = chunking(plan);
  const state = r * (valueDim + 1);
  // A run of `count` consecutive items touches at most this many heads and batch items.
  const headSpan = Math.min(heads, count);
  const itemSpan = Math.min(batch, Math.ceil(count / heads) + 1);
  const hybrid = plan.features.hybrid;
  const projections = hybrid === null
    ? [(plan.features.perHead ? headSpan : 1) * plan.features.query.features * dim]
    : [hybrid.query.bases[0].features, hybrid.query.bases[1].features, hybrid.query.lambdaFeatures]
      .map((rows) => (hybrid.perHead ? headSpan : 1) * rows * dim);
  return [
    count * length * dim, count * keyLength * dim, count * keyLength * valueDim, count * length * valueDim,
    itemSpan * keyRows, ...projections,
    queryRows * Math.max(dim, r), keyRows * Math.max(dim, r), keyRows * (valueDim + 1), queryRows * (valueDim + 1),
    Math.max(1, chunks) * state, chunks * chunk * chunk,
  ];
}

/** Copies the rows×width matrices of items first … first + count − 1 into an item-major array. */
function gatherItems(source: Float32Array, plan: AttentionPlan, first: number, count: number, rows: number, width: number): Float32Array {
  const { heads } = plan.shape;
  const out = new Float32Array(count * rows * width);
  for (let z = 0; z < count; z++) {
    const { offset, ld } = headRows(plan.shape, Math.floor((first + z) / heads), (first + z) % heads, rows, width);
    for (let i = 0; i < rows; i++) out.set(source.subarray(offset + i * ld, offset + i * ld + width), (z * rows + i) * width);
  }
  return out;
}

/** Writes the item-major rows×width matrices of items first … first + count − 1 into the layout of plan.out. */
function scatterItems(source: Float32Array, plan: AttentionPlan, first: number, count: number, rows: number, width: number): void {
  const { heads } = plan.shape;
  for (let z = 0; z < count; z++) {
    const { offset, ld } = headRows(plan.shape, Math.floor((first + z) / heads), (first + z) % heads, rows, width);
    for (let i = 0; i < rows; i++) plan.out.set(source.subarray((z * rows + i) * width, (z * rows + i + 1) * width), offset + i * ld);
  }
}

const GATHER_WGSL = `// attention.gather
struct Params {
  rows: u32, cols: u32, width: u32, valid: u32,
  src_offset: u32, ld: u32, scale: f32, ones: u32,
  masked: u32, mask_offset: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Src: array<f32>;
@group(0) @binding(2) var<storage, read_write> Dst: array<f32>;
@group(0) @binding(3) var<storage, read> M: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let index = group * 64u + t;
  if (index >= P.rows * P.width) { return; }
  let i = index / P.width;
  let c = index % P.width;
  var dead = i >= P.valid;
  if (!dead && P.masked != 0u) { dead = M[P.mask_offset + i] != 0u; }
  var value = 0.0;
  if (!dead) {
    if (c < P.cols) { value = Src[P.src_offset + i * P.ld + c] * P.scale; } else { value = 1.0; }
  }
  Dst[index] = value;
}
`;

const SCAN_WGSL = `// attention.scan
struct Params { chunks: u32, size: u32, chunk: u32, shift_offset: u32, shifted: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> U: array<f32>;
@group(0) @binding(2) var<storage, read_write> Prefix: array<f32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
${MATH_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let e = group * 64u + t;
  if (e >= P.size) { return; }
  var acc = 0.0;
  var previous = S[P.shift_offset];
  for (var c = 0u; c < P.chunks; c++) {
    let shift = S[P.shift_offset + c * P.chunk];
    if (P.shifted != 0u) { acc = acc * exp_f32(previous - shift); }
    Prefix[c * P.size + e] = acc;
    acc = acc + U[c * P.size + e];
    previous = shift;
  }
}
`;

const TRIL_WGSL = `// attention.tril
struct Params { total: u32, chunk: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let index = group * 64u + t;
  if (index >= P.total) { return; }
  let j = index % P.chunk;
  let i = (index / P.chunk) % P.chunk;
  if (j > i) { A[index] = 0.0; }
}
`;

const DIVIDE_WGSL = `// attention.divide
struct Params { rows: u32, dv: u32, out_offset: u32, ldo: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> N: array<f32>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let index = group * 64u + t;
  if (index >= P.rows * P.dv) { return; }
  let i = index / P.dv;
  let c = index % P.dv;
  let den = N[i * (P.dv + 1u) + P.dv];
  var value = 0.0;
  // 2^-126, the smallest normal float32: the guard of f32_attention_divide_rows.
  if (den > 1.17549435e-38) { value = N[i * (P.dv + 1u) + c] / den; }
  Out[P.out_offset + i * P.ldo + c] = value;
}
`;

/** Grid of 64-invocation workgroups covering `count` elements. */
function elementGrid(count: number): [number, number] {
  return grid(Math.ceil(count / 64));
}

/**
 * Runs a validated attention plan on the device and returns plan.out. The
 * items z = b·heads + h run in passes of up to `groupSize` items, each pass
 * with its own inputs and output under the binding limit; a pass computes
 * every item exactly as a single pass would.
 */
export async function runGpuAttention(
  wasm: WasmBackend, gpu: WebGpuBackend, plan: AttentionPlan, groupSize = plan.shape.batch * plan.shape.heads,
): Promise<Float32Array> {
  const { features } = plan;
  const hybrid = features.hybrid;
  const projection = hybrid !== null ? null : features.projection ?? (features.draw === null ? null : runProjection(wasm, features.draw));
  let hybridProjections: HybridProjection | null = null;
  if (hybrid !== null) {
    const draws = hybrid.draws;
    hybridProjections = hybrid.projection ?? (draws === null ? null : {
      base1: runProjection(wasm, draws.base1), base2: runProjection(wasm, draws.base2), lambda: runProjection(wasm, draws.lambda),
    });
  }
  const items = plan.shape.batch * plan.shape.heads;
  for (let first = 0; first < items; first += groupSize) {
    await runAttentionPass(gpu, plan, projection, hybridProjections, first, Math.min(groupSize, items - first));
  }
  return plan.out;
}

/** Runs items first … first + count − 1 of an attention plan on the device, writing their rows of plan.out. */
async function runAttentionPass(
  gpu: WebGpuBackend, plan: AttentionPlan, projection: Float32Array | null, hybridProjections: HybridProjection | null,
  first: number, count: number,
): Promise<void> {
  const { shape, features } = plan;
  const { batch, heads, length, keyLength, dim, valueDim: dv } = shape;
  const query = features.query;
  const key = features.key;
  const hybrid = features.hybrid;
  const m = query.features;
  const r = featureOutputs(features);
  const { chunk, chunks, queryRows, keyRows } = chunking(plan);
  const inputScale = Math.fround(dim ** -0.25);
  // One pass over every item binds the caller's arrays as they are; a partial pass binds item-major copies.
  const whole = first === 0 && count === batch * heads;
  const span = passSpan(heads, first, count);
  const [firstItem, lastItem] = span.items;
  const [firstHead, lastHead] = span.heads;
  const headCount = lastHead - firstHead + 1;

  // Row flags per batch item of the pass: 1 for a padded key or a row past the end.
  const flags = new Uint32Array(Math.max(1, (lastItem - firstItem + 1) * keyRows));
  for (let item = firstItem; item <= lastItem; item++) {
    for (let j = 0; j < keyRows; j++) {
      const padded = j >= keyLength || (shape.keyPaddingMask !== null && shape.keyPaddingMask[item * keyLength + j] !== 0);
      flags[(item - firstItem) * keyRows + j] = padded ? 1 : 0;
    }
  }
  const locate = (z: number, rows: number, width: number): { offset: number; ld: number } => whole
    ? headRows(shape, Math.floor(z / heads), z % heads, rows, width)
    : { offset: (z - first) * rows * width, ld: width };

  await Recorder.run(gpu, plan.op, async (rec) => {
    const backend = rec.backend;
    const gather = backend.pipeline("attention.gather", () => GATHER_WGSL);
    const q = rec.upload(whole ? plan.q : gatherItems(plan.q, plan, first, count, length, dim));
    const k = rec.upload(whole ? plan.k : gatherItems(plan.k, plan, first, count, keyLength, dim));
    const v = rec.upload(whole ? plan.v : gatherItems(plan.v, plan, first, count, keyLength, dv));
    const mask = rec.upload(flags);
    const out = rec.scratch(count * length * dv);
    // Per-head projections of the heads firstHead … lastHead only.
    const headSlice = (all: Float32Array, perHead: boolean, rows: number) => perHead
      ? all.subarray(firstHead * rows * dim, (firstHead + headCount) * rows * dim)
      : all;
    const allProjections = projection === null ? null : rec.upload(headSlice(projection, features.perHead, m));
    const headProjection = features.perHead && hybrid === null ? rec.scratch(m * dim) : allProjections;
    // Hybrid projections, shared or one slice per head (copied per head, because bindings start at 0).
    const hybridParts = ["base1", "base2", "lambda"] as const;
    let hybridAll: HybridProjectionBindings | null = null;
    let hybridHead: HybridProjectionBindings | null = null;
    const hybridRows = hybrid === null ? null
      : { base1: hybrid.query.bases[0].features, base2: hybrid.query.bases[1].features, lambda: hybrid.query.lambdaFeatures };
    if (hybrid !== null && hybridProjections !== null && hybridRows !== null) {
      const all = {
        base1: rec.upload(headSlice(hybridProjections.base1, hybrid.perHead, hybridRows.base1)),
        base2: rec.upload(headSlice(hybridProjections.base2, hybrid.perHead, hybridRows.base2)),
        lambda: rec.upload(headSlice(hybridProjections.lambda, hybrid.perHead, hybridRows.lambda)),
      };
      hybridAll = all;
      hybridHead = hybrid.perHead
        ? { base1: rec.scratch(hybridRows.base1 * dim), base2: rec.scratch(hybridRows.base2 * dim), lambda: rec.scratch(hybridRows.lambda * dim) }
        : all;
    }
    const xq = rec.scratch(queryRows * dim);
    const xk = rec.scratch(keyRows * dim);
    const values = rec.scratch(keyRows * (dv + 1));
    const qf = rec.scratch(queryRows * r);
    const kf = rec.scratch(keyRows * r);
    const queryStats = rec.scratch(featureStatsElements(queryRows));
    const keyStats = rec.scratch(featureStatsElements(keyRows));
    const numerators = rec.scratch(queryRows * (dv + 1));
    const size = r * (dv + 1);
    const state = rec.scratch(Math.max(1, chunks) * size);
    const prefix = plan.causal ? rec.scratch(chunks * size) : null;
    const products = plan.causal ? rec.scratch(chunks * chunk * chunk) : null;

    const gatherRows = (src: Binding, dst: Binding, rows: number, cols: number, valid: number, offset: number, ld: number,
      scale: number, ones: boolean, maskOffset: number | null) => {
      const width = ones ? cols + 1 : cols;
      const words = uniformWords([
        [rows, "u"], [cols, "u"], [width, "u"], [valid, "u"], [offset, "u"], [ld, "u"], [scale, "f"], [ones ? 1 : 0, "u"],
        [maskOffset === null ? 0 : 1, "u"], [maskOffset ?? 0, "u"], [0, "u"], [0, "u"],
      ]);
      rec.dispatch(gather, words, [src, dst, mask], elementGrid(rows * width));
    };

    for (let z = first; z < first + count; z++) {
      const item = Math.floor(z / heads);
      const head = z % heads;
      const qRows = locate(z, length, dim);
      const kRows = locate(z, keyLength, dim);
      const vRows = locate(z, keyLength, dv);
      const outRows = locate(z, length, dv);
      if (features.perHead && allProjections !== null && headProjection !== null) {
        rec.copy(allProjections.buffer, (head - firstHead) * m * dim, headProjection.buffer, 0, m * dim);
      }
      if (hybrid !== null && hybrid.perHead && hybridAll !== null && hybridHead !== null && hybridRows !== null) {
        for (const part of hybridParts) {
          const elements = hybridRows[part] * dim;
          rec.copy(hybridAll[part].buffer, (head - firstHead) * elements, hybridHead[part].buffer, 0, elements);
        }
      }
      gatherRows(q, xq, queryRows, dim, length, qRows.offset, qRows.ld, inputScale, false, null);
      gatherRows(k, xk, keyRows, dim, keyLength, kRows.offset, kRows.ld, inputScale, false, (item - firstItem) * keyRows);
      gatherRows(v, values, keyRows, dv, keyLength, vRows.offset, vRows.ld, 1, true, (item - firstItem) * keyRows);
      const keyMasking = { mask, maskOffset: (item - firstItem) * keyRows, group: plan.causal ? chunk : keyRows };
      if (hybrid !== null && hybridHead !== null) {
        encodeHybridFeatureMap(rec, { map: hybrid.query, rows: queryRows, x: xq, projections: hybridHead, out: qf, stats: queryStats });
        encodeHybridFeatureMap(rec, { map: hybrid.key, rows: keyRows, x: xk, projections: hybridHead, out: kf, stats: keyStats, ...keyMasking });
      } else {
        encodeFeatureMap(rec, { map: query, rows: queryRows, x: xq, projection: headProjection, out: qf, stats: queryStats });
        encodeFeatureMap(rec, { map: key, rows: keyRows, x: xk, projection: headProjection, out: kf, stats: keyStats, ...keyMasking });
      }

      if (!plan.causal) {
        rec.gemm({ a: kf, b: values, c: state, m: r, n: dv + 1, k: keyRows, transA: true, lda: r, ldb: dv + 1, ldc: dv + 1 });
        rec.gemm({ a: qf, b: state, c: numerators, m: length, n: dv + 1, k: r, lda: r, ldb: dv + 1, ldc: dv + 1 });
      } else if (prefix !== null && products !== null) {
        // Hybrid bases are always exponential maps (positive, hyperbolic or trig).
        const exponential = hybrid !== null || ["positive", "hyperbolic", "exp", "trig"].includes(key.kind);
        rec.gemm({
          a: kf, b: values, c: state, m: r, n: dv + 1, k: chunk, transA: true, lda: r, ldb: dv + 1, ldc: dv + 1,
          batch: chunks, strideA: chunk * r, strideB: chunk * (dv + 1), strideC: size,
        });
        const scanWords = uniformWords([
          [chunks, "u"], [size, "u"], [chunk, "u"], [featureStatsLayout(keyRows).shift, "u"], [exponential ? 1 : 0, "u"], [0, "u"], [0, "u"], [0, "u"],
        ]);
        rec.dispatch(backend.pipeline("attention.scan", () => SCAN_WGSL), scanWords, [state, prefix, keyStats], elementGrid(size));
        rec.gemm({
          a: qf, b: prefix, c: numerators, m: chunk, n: dv + 1, k: r, lda: r, ldb: dv + 1, ldc: dv + 1,
          batch: chunks, strideA: chunk * r, strideB: size, strideC: chunk * (dv + 1),
        });
        rec.gemm({
          a: qf, b: kf, c: products, m: chunk, n: chunk, k: r, transB: true, lda: r, ldb: r, ldc: chunk,
          batch: chunks, strideA: chunk * r, strideB: chunk * r, strideC: chunk * chunk,
        });
        const total = chunks * chunk * chunk;
        rec.dispatch(backend.pipeline("attention.tril", () => TRIL_WGSL), uniformWords([[total, "u"], [chunk, "u"], [0, "u"], [0, "u"]]),
          [products], elementGrid(total));
        rec.gemm({
          a: products, b: values, c: numerators, m: chunk, n: dv + 1, k: chunk, lda: chunk, ldb: dv + 1, ldc: dv + 1,
          batch: chunks, strideA: chunk * chunk, strideB: chunk * (dv + 1), strideC: chunk * (dv + 1), beta: 1,
        });
      }

      const divideWords = uniformWords([[length, "u"], [dv, "u"], [outRows.offset, "u"], [outRows.ld, "u"]]);
      rec.dispatch(backend.pipeline("attention.divide", () => DIVIDE_WGSL), divideWords, [numerators, out], elementGrid(length * dv));
    }
    await rec.submit(plan.op);
    if (whole) {
      await gpu.readInto(out.buffer, 0, plan.out);
      return;
    }
    const rows = new Float32Array(count * length * dv);
    await gpu.readInto(out.buffer, 0, rows);
    scatterItems(rows, plan, first, count, length, dv);
  });
}
