// attentionBackward on WebGPU: the gradients of FAVOR+ attention w.r.t. q,
// k and v, bidirectional and causal, for every non-hybrid feature map. The
// formulas are those of bindings/backends/wasm/ops/attention-backward.ts and
// docs/backward.md. Every product is a dispatch of the WGSL GEMM, batched
// over the batch·heads items (and, when causal, over the chunks), and the
// rest are the elementwise kernels below. All sums accumulate in float32.
//
// Layout on the GPU. The host copies each head's rows into item-major
// matrices, z = b·heads + h: X̃_q (Nq×dim) = d^{-1/4}·q, X̃_k (Nk×dim),
// U = [V 1] (Nk×(dv+1)) and G (Nq×dv). Padded keys get zero rows, and
// causal items are padded to a multiple of the chunk C with zero rows.
//
// Features. The maps are the forward kernels of features.ts
// (encodeFeatureMap), run per item: queries with role "query" (each row
// shifted by its largest exponent), keys with role "key" in groups of one
// chunk (shift σ_c = the largest key exponent of chunks 0 … c of the item;
// bidirectional: one group) and padded keys masked to zero features. The
// shifts cancel in out = num/den and are constants for differentiation.
// This file adds the map derivatives (featuresBackwardShader) and the rest.
//
// Causal start states. Instead of rebuilding each chunk's start state by
// subtraction (the WASM path), the GPU keeps all of them: P_c = K′_cᵀU_c for
// every chunk in one batched GEMM, then a scan per state entry
//   T0_0 = 0,  T0_{c+1} = e^{σ_c − σ_{c+1}}·(T0_c + P_c),
// and the state gradient a reverse scan of D_c = Q′_cᵀĜ_c:
//   R_{last} = 0,  R_c = e^{σ_c − σ_{c+1}}·(D_{c+1} + R_{c+1}),
// R_c being the gradient w.r.t. P_c. Memory is chunks·r·(dv+1) per item,
// so it grows with the length, unlike the WASM path. Nothing is subtracted,
// so stateCheckpoints and statePrecision do not apply and are ignored.
//
// With returnProjectionGradient, ∂L/∂W = Σ_rows Aᵀ·x̃ reuses the
// coefficients A of the input gradients (one GEMM per side for a shared
// projection, per item for per-head ones).
//
// A call whose buffers exceed the binding limit runs in passes over groups
// of heads. It runs on WASM instead for non-finite inputs (WGSL lets
// implementations assume finite values), or when a single head exceeds the
// binding limit or the workgroup limit (warning).

import { allFinite, keysFinite } from "./finite.js";
import { headRows, type AttentionShape } from "../../api/attention.js";
import { planAttentionBackward, type AttentionBackwardOptions, type AttentionBackwardPlan, type AttentionGradients } from "../../api/backward.js";
import type { FeatureMap } from "../../api/features.js";
import { log } from "../../log.js";
import type { WasmBackend } from "../wasm/backend.js";
import { runAttentionBackward } from "../wasm/ops/attention-backward.js";
import { runProjection } from "../wasm/ops/projection.js";
import type { WebGpuBackend } from "./backend.js";
import { grid, LINEAR_GROUP, Recorder, uniformWords, type Binding } from "./encode.js";
import { encodeFeatureMap, featureStatsElements, featureStatsLayout, MATH_WGSL } from "./features.js";

/** Kinds whose features carry a shift, so the causal scans rescale by e^{σ_c − σ_{c+1}}. */
const SHIFTED_KINDS = new Set(["positive", "hyperbolic", "exp", "trig"]);
/** Kinds whose derivative reads the pre-activation t = ω·x̃. */
const PREACTIVATION_KINDS = new Set(["relu", "elu+1", "abs"]);

/** The WGSL header every elementwise kernel here shares: 64 invocations, `index` from the grid of encode.ts. */
const ELEMENTWISE = `@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let index = group * 64u + t;`;

/** Grid of 64-invocation workgroups covering `count` invocations. */
function elementGrid(count: number): [number, number] {
  return grid(Math.ceil(count / 64));
}

/** WGSL of Ĝ_i = [g_i/den_i, −(g_i·out_i)/den_i], zero for rows whose den is not above 2^-126. */
const OUTPUT_GRADIENT_WGSL = `// attention_backward.output_gradient
struct Params { rows: u32, dv: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> GH: array<f32>;
${ELEMENTWISE}
  let row = index;
  if (row >= P.rows) { return; }
  let w = P.dv + 1u;
  let den = B[row * w + P.dv];
  if (!(den > 1.17549435e-38)) {
    for (var c = 0u; c < w; c++) { GH[row * w + c] = 0.0; }
    return;
  }
  var dot = 0.0;
  for (var c = 0u; c < P.dv; c++) {
    let g = G[row * P.dv + c];
    GH[row * w + c] = g / den;
    dot = dot + g * (B[row * w + c] / den);
  }
  GH[row * w + P.dv] = -dot / den;
}
`;

/** WGSL of the causal mask on a batch of C×C chunk matrices: entries with key j > query i become 0. */
const CAUSAL_MASK_WGSL = `// attention_backward.causal_mask
struct Params { count: u32, chunk: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
${ELEMENTWISE}
  if (index >= P.count) { return; }
  let e = index % (P.chunk * P.chunk);
  if (e % P.chunk > e / P.chunk) { A[index] = 0.0; }
}
`;

/**
 * WGSL of the two scans over chunks, one invocation per (item, state entry):
 * reverse = 0 writes the start states T0 from the chunk products, reverse = 1
 * the state gradients R from D (see the file header). σ_c is the key shift
 * of the first row of chunk c, S[z·rowsPerItem + c·chunk]; with shifted = 0
 * every factor is 1.
 */
export function stateScanShader(reverse: boolean): string {
  const body = reverse
    ? `var acc = 0.0;
  O[(base + P.chunks - 1u) * P.size + e] = 0.0;
  for (var r = 1u; r < P.chunks; r++) {
    let c = P.chunks - 1u - r;
    acc = factor(z, c) * (I[(base + c + 1u) * P.size + e] + acc);
    O[(base + c) * P.size + e] = acc;
  }`
    : `var acc = 0.0;
  for (var c = 0u; c < P.chunks; c++) {
    O[(base + c) * P.size + e] = acc;
    if (c + 1u < P.chunks) { acc = factor(z, c) * (acc + I[(base + c) * P.size + e]); }
  }`;
  return `// attention_backward.state_scan reverse=${reverse ? 1 : 0}
struct Params { items: u32, chunks: u32, size: u32, chunk: u32, rowsPerItem: u32, shifted: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> I: array<f32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${MATH_WGSL}
fn factor(z: u32, c: u32) -> f32 {
  if (P.shifted == 0u) { return 1.0; }
  let at = z * P.rowsPerItem + c * P.chunk;
  return exp_f32(S[at] - S[at + P.chunk]);
}
${ELEMENTWISE}
  if (index >= P.items * P.size) { return; }
  let z = index / P.size;
  let e = index % P.size;
  let base = z * P.chunks;
  ${body}
}
`;
}

/**
 * WGSL of the feature-map gradient of one row, contracted with its feature
 * gradient φ̄: x̄ = Σ_l A_l ω_l + b·x̃ (docs/backward.md lists A and b per
 * kind). F contains the features with ε = 0, as attention uses them. Writes A
 * (rows×width) and b (rows).
 */
export function featuresBackwardShader(kind: string): string {
  const perFeature: Record<string, string> = {
    positive: "let a = D[row * P.r + l] * F[row * P.r + l]; A[row * P.width + l] = a; b = b - a;",
    hyperbolic: `let p = D[row * P.r + l] * F[row * P.r + l];
    let q = D[row * P.r + P.width + l] * F[row * P.r + P.width + l];
    A[row * P.width + l] = p - q; b = b - p - q;`,
    exp: "A[row * P.width + l] = D[row * P.r + l] * F[row * P.r + l];",
    trig: `let sn = F[row * P.r + l]; let cs = F[row * P.r + P.width + l];
    let ds = D[row * P.r + l]; let dc = D[row * P.r + P.width + l];
    A[row * P.width + l] = ds * cs - dc * sn; b = b + ds * sn + dc * cs;`,
    relu: "let z = T[row * P.width + l]; A[row * P.width + l] = select(0.0, D[row * P.r + l] * P.scale, z > 0.0);",
    "elu+1": "let z = T[row * P.width + l]; A[row * P.width + l] = D[row * P.r + l] * P.scale * select(exp_f32(min(z, 0.0)), 1.0, z > 0.0);",
    abs: "let z = T[row * P.width + l]; A[row * P.width + l] = D[row * P.r + l] * P.scale * sign(z);",
    identity: "A[row * P.width + l] = D[row * P.r + l] * P.scale;",
  };
  return `// attention_backward.features_backward ${kind}
struct Params { rows: u32, width: u32, r: u32, pad0: u32, scale: f32, pad1: u32, pad2: u32, pad3: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> F: array<f32>;
@group(0) @binding(2) var<storage, read> D: array<f32>;
@group(0) @binding(3) var<storage, read> T: array<f32>;
@group(0) @binding(4) var<storage, read_write> A: array<f32>;
@group(0) @binding(5) var<storage, read_write> Bc: array<f32>;
${MATH_WGSL}
${ELEMENTWISE}
  let row = index;
  if (row >= P.rows) { return; }
  // Every binding must be used, because "auto" layouts drop unused ones; F or T is unused by some kinds.
  _ = F[0];
  _ = T[0];
  var b = 0.0;
  for (var l = 0u; l < P.width; l++) {
    ${perFeature[kind]}
  }
  Bc[row] = b;
}
`;
}

/** WGSL of the input gradient: out = inputScale·(X̄ + b·x̃), elementwise over rows×dim. */
const INPUT_GRADIENT_WGSL = `// attention_backward.input_gradient
struct Params { count: u32, dim: u32, inputScale: f32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> XB: array<f32>;
@group(0) @binding(2) var<storage, read> Bc: array<f32>;
@group(0) @binding(3) var<storage, read> X: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
${ELEMENTWISE}
  if (index >= P.count) { return; }
  O[index] = P.inputScale * (XB[index] + Bc[index / P.dim] * X[index]);
}
`;

/** Work estimate (floating-point operations) used by backend "auto"; an estimate, not a count. */
export function attentionBackwardFlops(plan: AttentionBackwardPlan): number {
  const { batch, heads, length, keyLength, dim, valueDim } = plan.shape;
  const r = plan.features.query.outputs;
  const items = batch * heads;
  let flops = 6 * items * (length + keyLength) * r * (dim + valueDim + 1);
  if (plan.causal) flops += 8 * items * length * Math.min(plan.chunk, length) * (r + valueDim + 1);
  return flops;
}

/** Geometry of one call on the GPU. */
interface Geometry {
  /** The items z = b·heads + h of this pass: first … first + items − 1. */
  first: number;
  items: number;
  /** Query and key rows per item (causal: padded to a multiple of the chunk). */
  rowsQ: number;
  rowsK: number;
  /** Chunk rows and chunks per item (bidirectional: one chunk of keyLength rows). */
  chunk: number;
  chunks: number;
  /** Projection rows (0 without a projection), pre-activation width and features per row. */
  m: number;
  width: number;
  r: number;
}

/** Returns the geometry of a pass over `items` items starting at item `first`. */
function geometry(plan: AttentionBackwardPlan, first: number, items: number): Geometry {
  const { length, keyLength, dim } = plan.shape;
  const map = plan.features.query;
  const common = { first, items, m: map.features, width: map.features > 0 ? map.features : dim, r: map.outputs };
  if (!plan.causal) return { ...common, rowsQ: length, rowsK: keyLength, chunk: keyLength, chunks: 1 };
  const chunk = Math.min(plan.chunk, length);
  const chunks = Math.ceil(length / chunk);
  return { ...common, rowsQ: chunks * chunk, rowsK: chunks * chunk, chunk, chunks };
}

/** Returns why the call cannot run on the GPU (a buffer or a grid too large), or null. */
function limitProblem(gpu: WebGpuBackend, plan: AttentionBackwardPlan, g: Geometry): string | null {
  const { dim, valueDim } = plan.shape;
  const nq = g.items * g.rowsQ;
  const nk = g.items * g.rowsK;
  const w = valueDim + 1;
  const sizes = [
    nq * dim, nk * dim, nq * g.r, nk * g.r, nq * g.width, nk * g.width, nq * w, nk * w,
    g.items * g.chunks * g.r * w, plan.causal ? g.items * g.chunks * g.chunk * g.chunk : 0,
    (plan.features.perHead ? plan.shape.heads : 1) * g.m * dim,
  ];
  const largest = Math.max(...sizes) * 4;
  if (largest > gpu.maxBindingBytes) {
    return `a buffer needs ${largest} bytes, over the ${gpu.maxBindingBytes}-byte storage binding limit`;
  }
  const maxGroups = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (g.items * g.chunks > maxGroups) return `${g.items * g.chunks} GEMM batch items exceed maxComputeWorkgroupsPerDimension ${maxGroups}`;
  return null;
}

/**
 * Copies the rows (times `scale`) of the pass's items into an item-major
 * matrix of rowsPerItem rows per item, zeros elsewhere.
 */
function gatherHeads(
  source: Float32Array, shape: AttentionShape, g: Geometry, rows: number, width: number, rowsPerItem: number,
  scale: number, keep: ((item: number, row: number) => boolean) | null, ones = false,
): Float32Array {
  const stride = ones ? width + 1 : width;
  const out = new Float32Array(g.items * rowsPerItem * stride);
  for (let z = 0; z < g.items; z++) {
    const item = Math.floor((g.first + z) / shape.heads);
    const head = (g.first + z) % shape.heads;
    const { offset, ld } = headRows(shape, item, head, rows, width);
    const base = z * rowsPerItem * stride;
    for (let i = 0; i < rows; i++) {
      if (keep !== null && !keep(item, i)) continue;
      for (let c = 0; c < width; c++) out[base + i * stride + c] = Math.fround(source[offset + i * ld + c] * scale);
      if (ones) out[base + i * stride + width] = 1;
    }
  }
  return out;
}

/** Writes the pass's item-major rows (the first `width` of each `stride`) into the layout of `shape`; dropped rows get 0. */
function scatterHeads(
  source: Float32Array, target: Float32Array, shape: AttentionShape, g: Geometry, rows: number, width: number, stride: number,
  rowsPerItem: number, keep: ((item: number, row: number) => boolean) | null,
): void {
  for (let z = 0; z < g.items; z++) {
    const item = Math.floor((g.first + z) / shape.heads);
    const head = (g.first + z) % shape.heads;
    const { offset, ld } = headRows(shape, item, head, rows, width);
    const base = z * rowsPerItem * stride;
    for (let i = 0; i < rows; i++) {
      const kept = keep === null || keep(item, i);
      for (let c = 0; c < width; c++) target[offset + i * ld + c] = kept ? source[base + i * stride + c] : 0;
    }
  }
}

/** The projection on the GPU: one m×dim matrix, or heads of them back to back (perHead). */
interface Projection {
  all: Binding;
  perHead: boolean;
}

/** Features and pre-activations of one side (queries or keys), item-major. */
interface Side {
  map: FeatureMap;
  x: Binding;
  f: Binding;
  /** The pre-activations for the kinds that read them (t = x̃·Wᵀ, or x̃ itself without a projection). */
  t: Binding;
  rowsPerItem: number;
}

/**
 * Records the feature maps of every item with encodeFeatureMap, into the
 * item-major `side.f`; for keys also copies each row's shift into `keyShift`.
 */
function encodeFeatures(
  rec: Recorder, plan: AttentionBackwardPlan, g: Geometry, projection: Projection | null,
  query: Side, key: Side, keyFlags: Binding, keyShift: Binding,
): void {
  const { dim, heads } = plan.shape;
  let headProjection: Binding | null = null;
  if (projection !== null) headProjection = projection.perHead ? rec.scratch(g.m * dim) : projection.all;
  const scratch = (rows: number) => ({
    x: rec.scratch(rows * dim), f: rec.scratch(rows * g.r), stats: rec.scratch(featureStatsElements(rows)),
  });
  const itemQ = scratch(g.rowsQ);
  const itemK = scratch(g.rowsK);
  for (let z = 0; z < g.items; z++) {
    if (projection !== null && projection.perHead && headProjection !== null) {
      rec.copy(projection.all.buffer, ((g.first + z) % heads) * g.m * dim, headProjection.buffer, 0, g.m * dim);
    }
    rec.copy(query.x.buffer, z * g.rowsQ * dim, itemQ.x.buffer, 0, g.rowsQ * dim);
    encodeFeatureMap(rec, { map: query.map, rows: g.rowsQ, x: itemQ.x, projection: headProjection, out: itemQ.f, stats: itemQ.stats });
    rec.copy(itemQ.f.buffer, 0, query.f.buffer, z * g.rowsQ * g.r, g.rowsQ * g.r);

    rec.copy(key.x.buffer, z * g.rowsK * dim, itemK.x.buffer, 0, g.rowsK * dim);
    encodeFeatureMap(rec, {
      map: key.map, rows: g.rowsK, x: itemK.x, projection: headProjection, out: itemK.f, stats: itemK.stats,
      mask: keyFlags, maskOffset: z * g.rowsK, group: g.chunk,
    });
    rec.copy(itemK.f.buffer, 0, key.f.buffer, z * g.rowsK * g.r, g.rowsK * g.r);
    if (SHIFTED_KINDS.has(key.map.kind)) {
      rec.copy(itemK.stats.buffer, featureStatsLayout(g.rowsK).shift, keyShift.buffer, z * g.rowsK, g.rowsK);
    }
  }
}

/** Records t = x̃·Wᵀ for every item when the kind's derivative reads it; otherwise t is x̃ or unused. */
function encodePreactivations(rec: Recorder, g: Geometry, side: Side, projection: Projection | null, dim: number): Binding {
  if (g.m === 0 || !PREACTIVATION_KINDS.has(side.map.kind) || projection === null) return side.x;
  const t = rec.scratch(g.items * side.rowsPerItem * g.m);
  const heads = projection.perHead ? projection.all.elements / (g.m * dim) : 1;
  // A batch of items sharing one projection is one GEMM; per-head projections need one GEMM per item.
  if (heads === 1) {
    rec.gemm({ a: side.x, b: projection.all, c: t, m: g.items * side.rowsPerItem, n: g.m, k: dim, transB: true, lda: dim, ldb: dim, ldc: g.m });
    return t;
  }
  const head = rec.scratch(g.m * dim);
  const rows = rec.scratch(side.rowsPerItem * dim);
  const out = rec.scratch(side.rowsPerItem * g.m);
  for (let z = 0; z < g.items; z++) {
    rec.copy(projection.all.buffer, ((g.first + z) % heads) * g.m * dim, head.buffer, 0, g.m * dim);
    rec.copy(side.x.buffer, z * side.rowsPerItem * dim, rows.buffer, 0, side.rowsPerItem * dim);
    rec.gemm({ a: rows, b: head, c: out, m: side.rowsPerItem, n: g.m, k: dim, transB: true, lda: dim, ldb: dim, ldc: g.m });
    rec.copy(out.buffer, 0, t.buffer, z * side.rowsPerItem * g.m, side.rowsPerItem * g.m);
  }
  return t;
}

/**
 * Records the input gradient (item-major rows×dim) of one side from its
 * feature gradient φ̄. Returns it with the coefficients A (rows×width), which
 * the projection gradient reuses: ∂L/∂ω_l = Σ_rows A_l·x̃.
 */
function encodeInputGradient(
  rec: Recorder, g: Geometry, side: Side, dphi: Binding, projection: Projection | null, dim: number, inputScale: number,
): { gradient: Binding; coefficients: Binding } {
  const backend = rec.backend;
  const rows = g.items * side.rowsPerItem;
  const coefficients = rec.scratch(rows * g.width);
  const rowCoefficients = rec.scratch(rows);
  const kind = side.map.kind;
  rec.dispatch(backend.pipeline(`attention_backward.features_backward:${kind}`, () => featuresBackwardShader(kind)),
    uniformWords([[rows, "u"], [g.width, "u"], [g.r, "u"], [0, "u"], [side.map.scale, "f"], [0, "u"], [0, "u"], [0, "u"]]),
    [side.f, dphi, side.t, coefficients, rowCoefficients], elementGrid(rows));
  let xbar = coefficients;
  if (g.m > 0 && projection !== null) {
    xbar = rec.scratch(rows * dim);
    const perHead = projection.perHead;
    const heads = perHead ? projection.all.elements / (g.m * dim) : 1;
    if (heads === 1) {
      rec.gemm({ a: coefficients, b: projection.all, c: xbar, m: rows, n: dim, k: g.m, lda: g.m, ldb: dim, ldc: dim });
    } else {
      // The commands run in order, so one set of item buffers serves every item.
      const head = rec.scratch(g.m * dim);
      const part = rec.scratch(side.rowsPerItem * g.m);
      const out = rec.scratch(side.rowsPerItem * dim);
      for (let z = 0; z < g.items; z++) {
        rec.copy(projection.all.buffer, ((g.first + z) % heads) * g.m * dim, head.buffer, 0, g.m * dim);
        rec.copy(coefficients.buffer, z * side.rowsPerItem * g.m, part.buffer, 0, side.rowsPerItem * g.m);
        rec.gemm({ a: part, b: head, c: out, m: side.rowsPerItem, n: dim, k: g.m, lda: g.m, ldb: dim, ldc: dim });
        rec.copy(out.buffer, 0, xbar.buffer, z * side.rowsPerItem * dim, side.rowsPerItem * dim);
      }
    }
  }
  const out = rec.scratch(rows * dim);
  rec.dispatch(backend.pipeline("attention_backward.input_gradient", () => INPUT_GRADIENT_WGSL),
    uniformWords([[rows * dim, "u"], [dim, "u"], [inputScale, "f"], [0, "u"]]),
    [xbar, rowCoefficients, side.x, out], elementGrid(rows * dim));
  return { gradient: out, coefficients };
}

/**
 * Records ∂L/∂W = Σ_rows Aᵀ·x̃ over the queries and keys of every item: one
 * m×dim matrix summed over all heads for a shared projection, one per head
 * (summed over the batch) otherwise. Returns the heads·m·dim or m·dim result.
 */
function encodeProjectionGradient(
  rec: Recorder, g: Geometry, parts: { side: Side; coefficients: Binding }[], projection: Projection, dim: number, heads: number,
): Binding {
  const size = g.m * dim;
  if (!projection.perHead) {
    const out = rec.scratch(size);
    parts.forEach(({ side, coefficients }, i) => {
      rec.gemm({
        a: coefficients, b: side.x, c: out, m: g.m, n: dim, k: g.items * side.rowsPerItem, transA: true,
        lda: g.m, ldb: dim, ldc: dim, beta: i === 0 ? 0 : 1,
      });
    });
    return out;
  }
  // Heads with no item in this pass keep zeros.
  const out = rec.upload(new Float32Array(heads * size));
  const sums = Array.from({ length: heads }, () => rec.scratch(size));
  const started = new Array<boolean>(heads).fill(false);
  for (const { side, coefficients } of parts) {
    const rows = side.rowsPerItem;
    const itemA = rec.scratch(rows * g.m);
    const itemX = rec.scratch(rows * dim);
    for (let z = 0; z < g.items; z++) {
      const head = (g.first + z) % heads;
      rec.copy(coefficients.buffer, z * rows * g.m, itemA.buffer, 0, rows * g.m);
      rec.copy(side.x.buffer, z * rows * dim, itemX.buffer, 0, rows * dim);
      rec.gemm({
        a: itemA, b: itemX, c: sums[head], m: g.m, n: dim, k: rows, transA: true, lda: g.m, ldb: dim, ldc: dim,
        beta: started[head] ? 1 : 0,
      });
      started[head] = true;
    }
  }
  sums.forEach((sum, head) => {
    if (started[head]) rec.copy(sum.buffer, 0, out.buffer, head * size, size);
  });
  return out;
}

/**
 * Runs the backward pass of the items of `g` on the GPU. Writes their rows
 * of dq, dk and dv into `result` and adds their share of dprojection.
 */
async function runOnGpu(
  gpu: WebGpuBackend, plan: AttentionBackwardPlan, g: Geometry, matrix: Float32Array | null, result: AttentionGradients,
): Promise<void> {
  const { shape } = plan;
  const { dim, valueDim, length, keyLength, heads } = shape;
  const w = valueDim + 1;
  const inputScale = Math.fround(dim ** -0.25);
  const mask = shape.keyPaddingMask;
  const realKey = mask === null ? null : (item: number, j: number) => mask[item * keyLength + j] === 0;
  const flags = new Uint32Array(g.items * g.rowsK);
  for (let z = 0; z < g.items; z++) {
    const item = Math.floor((g.first + z) / heads);
    for (let j = 0; j < g.rowsK; j++) flags[z * g.rowsK + j] = j < keyLength && (realKey === null || realKey(item, j)) ? 0 : 1;
  }
  // Hybrid kernels run on WASM (makeGpuAttentionBackward), so dprojection is a plain matrix here.
  const hostProjection = result.dprojection as Float32Array | undefined;
  const dprojection = hostProjection === undefined ? null : new Float32Array(hostProjection.length);

  await Recorder.run(gpu, plan.op, async (rec) => {
    const projection = matrix === null ? null : { all: rec.upload(matrix), perHead: plan.features.perHead };
    const query: Side = {
      map: plan.features.query, rowsPerItem: g.rowsQ,
      x: rec.upload(gatherHeads(plan.q, shape, g, length, dim, g.rowsQ, inputScale, null)),
      f: rec.scratch(g.items * g.rowsQ * g.r), t: null as unknown as Binding,
    };
    const key: Side = {
      map: plan.features.key, rowsPerItem: g.rowsK,
      x: rec.upload(gatherHeads(plan.k, shape, g, keyLength, dim, g.rowsK, inputScale, realKey)),
      f: rec.scratch(g.items * g.rowsK * g.r), t: null as unknown as Binding,
    };
    const keyShift = rec.scratch(g.items * g.rowsK);
    encodeFeatures(rec, plan, g, projection, query, key, rec.upload(flags), keyShift);
    query.t = encodePreactivations(rec, g, query, projection, dim);
    key.t = encodePreactivations(rec, g, key, projection, dim);

    const u = rec.upload(gatherHeads(plan.v, shape, g, keyLength, valueDim, g.rowsK, 1, realKey, true));
    const gradOut = rec.upload(gatherHeads(plan.gradOut, shape, g, length, valueDim, g.rowsQ, 1, null));
    const b = rec.scratch(g.items * g.rowsQ * w);
    const gh = rec.scratch(g.items * g.rowsQ * w);
    const dqf = rec.scratch(g.items * g.rowsQ * g.r);
    const dkf = rec.scratch(g.items * g.rowsK * g.r);
    const du = rec.scratch(g.items * g.rowsK * w);
    const outputGradient = () => rec.dispatch(rec.backend.pipeline("attention_backward.output_gradient", () => OUTPUT_GRADIENT_WGSL),
      uniformWords([[g.items * g.rowsQ, "u"], [valueDim, "u"], [0, "u"], [0, "u"]]), [b, gradOut, gh], elementGrid(g.items * g.rowsQ));
    const buffers = { qf: query.f, kf: key.f, u, b, gh, dqf, dkf, du };
    if (plan.causal) encodeCausal(rec, g, buffers, keyShift, SHIFTED_KINDS.has(key.map.kind), outputGradient, w);
    else encodeBidirectional(rec, g, buffers, outputGradient, w);

    const gradQ = encodeInputGradient(rec, g, query, dqf, projection, dim, inputScale);
    const gradK = encodeInputGradient(rec, g, key, dkf, projection, dim, inputScale);
    const gradW = plan.returnProjectionGradient && projection !== null
      ? encodeProjectionGradient(rec, g, [{ side: query, ...gradQ }, { side: key, ...gradK }], projection, dim, heads)
      : null;
    await rec.submit(plan.op);
    const hostQ = new Float32Array(g.items * g.rowsQ * dim);
    const hostK = new Float32Array(g.items * g.rowsK * dim);
    const hostU = new Float32Array(g.items * g.rowsK * w);
    await gpu.readInto(gradQ.gradient.buffer, 0, hostQ);
    await gpu.readInto(gradK.gradient.buffer, 0, hostK);
    if (gradW !== null && dprojection !== null) await gpu.readInto(gradW.buffer, 0, dprojection);
    await gpu.readInto(du.buffer, 0, hostU);
    scatterHeads(hostQ, result.dq, shape, g, length, dim, dim, g.rowsQ, null);
    scatterHeads(hostK, result.dk, shape, g, keyLength, dim, dim, g.rowsK, realKey);
    scatterHeads(hostU, result.dv, shape, g, keyLength, valueDim, w, g.rowsK, realKey);
  });
  if (dprojection !== null && hostProjection !== undefined) {
    for (let i = 0; i < dprojection.length; i++) hostProjection[i] += dprojection[i];
  }
}

/** Item-major buffers of the products: features, U, B, Ĝ and the gradients w.r.t. Q′, K′ and U. */
interface Products {
  qf: Binding;
  kf: Binding;
  u: Binding;
  b: Binding;
  gh: Binding;
  dqf: Binding;
  dkf: Binding;
  du: Binding;
}

/** Records T = K′ᵀU, B = Q′T, Ĝ, Q̄′ = Ĝ·Tᵀ, T̄ = Q′ᵀĜ, K̄′ = U·T̄ᵀ and Ū = K′·T̄, batched over the items. */
function encodeBidirectional(rec: Recorder, g: Geometry, p: Products, outputGradient: () => void, w: number): void {
  const { rowsQ: nq, rowsK: nk, r, items: batch } = g;
  const state = rec.scratch(batch * r * w);
  const dstate = rec.scratch(batch * r * w);
  rec.gemm({ a: p.kf, b: p.u, c: state, m: r, n: w, k: nk, transA: true, lda: r, ldb: w, ldc: w, batch, strideA: nk * r, strideB: nk * w, strideC: r * w });
  rec.gemm({ a: p.qf, b: state, c: p.b, m: nq, n: w, k: r, lda: r, ldb: w, ldc: w, batch, strideA: nq * r, strideB: r * w, strideC: nq * w });
  outputGradient();
  rec.gemm({ a: p.gh, b: state, c: p.dqf, m: nq, n: r, k: w, transB: true, lda: w, ldb: w, ldc: r, batch, strideA: nq * w, strideB: r * w, strideC: nq * r });
  rec.gemm({ a: p.qf, b: p.gh, c: dstate, m: r, n: w, k: nq, transA: true, lda: r, ldb: w, ldc: w, batch, strideA: nq * r, strideB: nq * w, strideC: r * w });
  rec.gemm({ a: p.u, b: dstate, c: p.dkf, m: nk, n: r, k: w, transB: true, lda: w, ldb: w, ldc: r, batch, strideA: nk * w, strideB: r * w, strideC: nk * r });
  rec.gemm({ a: p.kf, b: dstate, c: p.du, m: nk, n: w, k: r, lda: r, ldb: w, ldc: w, batch, strideA: nk * r, strideB: r * w, strideC: nk * w });
}

/** Records the causal products of docs/backward.md, with every chunk one batch item of the GEMMs (see the file header). */
function encodeCausal(
  rec: Recorder, g: Geometry, p: Products, keyShift: Binding, shifted: boolean, outputGradient: () => void, w: number,
): void {
  const backend = rec.backend;
  const { r, chunk: C } = g;
  const batch = g.items * g.chunks;
  const products = rec.scratch(batch * r * w);
  const starts = rec.scratch(batch * r * w);
  const gradients = rec.scratch(batch * r * w);
  const scores = rec.scratch(batch * C * C);
  const dscores = rec.scratch(batch * C * C);
  const rowsF = C * r;
  const rowsU = C * w;
  const gemm = (a: Binding, b: Binding, c: Binding, m: number, n: number, k: number, transA: boolean, transB: boolean,
    lda: number, ldb: number, strideA: number, strideB: number, strideC: number, beta = 0) =>
    rec.gemm({ a, b, c, m, n, k, transA, transB, lda, ldb, ldc: n, batch, strideA, strideB, strideC, beta });
  const mask = (target: Binding) => {
    const count = batch * C * C;
    rec.dispatch(backend.pipeline("attention_backward.causal_mask", () => CAUSAL_MASK_WGSL),
      uniformWords([[count, "u"], [C, "u"], [0, "u"], [0, "u"]]), [target], elementGrid(count));
  };
  const scan = (reverse: boolean, input: Binding, output: Binding) => {
    const count = g.items * r * w;
    rec.dispatch(backend.pipeline(`attention_backward.state_scan:reverse=${reverse ? 1 : 0}`, () => stateScanShader(reverse)),
      uniformWords([[g.items, "u"], [g.chunks, "u"], [r * w, "u"], [C, "u"], [g.rowsK, "u"], [shifted ? 1 : 0, "u"], [0, "u"], [0, "u"]]),
      [input, keyShift, output], elementGrid(count));
  };

  // P_c = K′_cᵀU_c, the start states T0_c, scores M∘(Q′_c K′_cᵀ) and B_c = Q′_c T0_c + scores·U_c.
  gemm(p.kf, p.u, products, r, w, C, true, false, r, w, rowsF, rowsU, r * w);
  scan(false, products, starts);
  gemm(p.qf, p.kf, scores, C, C, r, false, true, r, r, rowsF, rowsF, C * C);
  mask(scores);
  gemm(p.qf, starts, p.b, C, w, r, false, false, r, w, rowsF, r * w, rowsU);
  gemm(scores, p.u, p.b, C, w, C, false, false, C, w, C * C, rowsU, rowsU, 1);
  outputGradient();
  // D_c = Q′_cᵀĜ_c (into `products`, no longer needed), then R_c.
  gemm(p.qf, p.gh, products, r, w, C, true, false, r, w, rowsF, rowsU, r * w);
  scan(true, products, gradients);
  // P̄ = M∘(Ĝ_c U_cᵀ).
  gemm(p.gh, p.u, dscores, C, C, w, false, true, w, w, rowsU, rowsU, C * C);
  mask(dscores);
  // Q̄′_c = Ĝ_c T0_cᵀ + P̄ K′_c.
  gemm(p.gh, starts, p.dqf, C, r, w, false, true, w, w, rowsU, r * w, rowsF);
  gemm(dscores, p.kf, p.dqf, C, r, C, false, false, C, r, C * C, rowsF, rowsF, 1);
  // K̄′_c = P̄ᵀ Q′_c + U_c R_cᵀ.
  gemm(dscores, p.qf, p.dkf, C, r, C, true, false, C, r, C * C, rowsF, rowsF);
  gemm(p.u, gradients, p.dkf, C, r, w, false, true, w, w, rowsU, r * w, rowsF, 1);
  // Ū_c = scoresᵀ Ĝ_c + K′_c R_c.
  gemm(scores, p.gh, p.du, C, w, C, true, false, C, w, C * C, rowsU, rowsU);
  gemm(p.kf, gradients, p.du, C, w, r, false, false, r, w, rowsF, r * w, rowsU, 1);
}

/** Returns the Promise-returning attentionBackward of a Favor instance with a WebGPU backend. */
export function makeGpuAttentionBackward(wasm: WasmBackend, gpu: WebGpuBackend, mode: "webgpu" | "auto", minFlops: number) {
  return async (q: Float32Array, k: Float32Array, v: Float32Array, gradOut: Float32Array, options: AttentionBackwardOptions) => {
    const plan = planAttentionBackward(q, k, v, gradOut, options);
    const { batch, heads, length, keyLength } = plan.shape;
    const what = `attentionBackward (${plan.causal ? "causal" : "bidirectional"}, ${plan.features.query.kind}, ` +
      `batch ${batch}, heads ${heads}, length ${length}, keyLength ${keyLength})`;
    const onWasm = (why: string, level: "debug" | "warn" = "debug") => {
      log[level](() => `${what} on WASM: ${why}`);
      return runAttentionBackward(wasm, plan);
    };
    if (plan.features.hybrid !== null) return onWasm("hybrid kernels have no WebGPU backward yet");
    if (plan.endState !== null) return onWasm("an endState from attentionWithState is a WASM-side state");
    const flops = attentionBackwardFlops(plan);
    if (mode === "auto" && flops < minFlops) return onWasm(`about ${flops} flops < the auto threshold ${minFlops}`);
    const projectionFinite = plan.features.projection === null || allFinite(plan.features.projection);
    if (!allFinite(plan.q) || !allFinite(plan.gradOut) || !keysFinite(plan.shape, plan.k, plan.v) || !projectionFinite) {
      return onWasm("an input is not finite, and WGSL lets implementations assume finite values");
    }
    const device = await gpu.ready();
    if (device === null) return onWasm("the WebGPU device is lost", "warn");
    // Passes over groups of items (batch·heads) keep every buffer under the binding limit.
    const items = batch * heads;
    let groupSize = items;
    let problem = limitProblem(gpu, plan, geometry(plan, 0, groupSize));
    while (problem !== null && groupSize > 1) {
      groupSize = Math.ceil(groupSize / 2);
      problem = limitProblem(gpu, plan, geometry(plan, 0, groupSize));
    }
    if (problem !== null) return onWasm(`${problem} even for one head`, "warn");
    const passes = Math.ceil(items / groupSize);
    log.debug(() => `${what} on WebGPU (${gpu.describe()}), ${passes} pass(es) of up to ${groupSize} heads`);
    const matrix = plan.features.query.features === 0 ? null : plan.features.projection ?? runProjection(wasm, plan.features.draw!);
    const result: AttentionGradients = {
      dq: new Float32Array(plan.q.length), dk: new Float32Array(plan.k.length), dv: new Float32Array(plan.v.length),
    };
    if (plan.returnProjectionGradient && matrix !== null) result.dprojection = new Float32Array(matrix.length);
    try {
      for (let first = 0; first < items; first += groupSize) {
        await runOnGpu(gpu, plan, geometry(plan, first, Math.min(groupSize, items - first)), matrix, result);
      }
      return result;
    } catch (error) {
      if (!gpu.lost) throw error;
      return onWasm("the WebGPU device was lost during the call", "warn");
    }
  };
}
