// attentionBackward on WebGPU: the gradients of FAVOR+ attention w.r.t. q,
// k and v, bidirectional and causal, for every non-hybrid feature map. The
// formulas are those of bindings/backends/wasm/ops/attention-backward.ts and
// docs/backward.md; every product is a dispatch of the WGSL GEMM, batched
// over the batch·heads items (and, when causal, over the chunks), and the
// rest are the elementwise kernels below. All sums accumulate in float32.
//
// Layout on the GPU. The host copies each head's rows into item-major
// matrices, z = b·heads + h: X̃_q (Nq×dim) = d^{-1/4}·q, X̃_k (Nk×dim),
// U = [V 1] (Nk×(dv+1)) and G (Nq×dv). Padded keys get zero rows and zero
// features, so they add nothing to any sum; their rows of dk and dv are set
// to exactly 0 on the host. Causal items are padded to a multiple of the
// chunk C with zero rows.
//
// Shifts. Query features are shifted by their row's largest exponent, key
// features by σ_c, the running maximum of the key exponents over chunks
// 0 … c of the item (bidirectional: one chunk, the whole item). The shifts
// cancel in out = num/den and are constants for differentiation.
//
// Causal start states. Instead of rebuilding each chunk's start state by
// subtraction (the WASM path), the GPU keeps all of them: P_c = K′_cᵀU_c for
// every chunk in one batched GEMM, then a scan per state entry
//   T0_0 = 0,  T0_{c+1} = e^{σ_c − σ_{c+1}}·(T0_c + P_c),
// and the state gradient a reverse scan of D_c = Q′_cᵀĜ_c:
//   R_{last} = 0,  R_c = e^{σ_c − σ_{c+1}}·(D_{c+1} + R_{c+1}),
// R_c being the gradient w.r.t. P_c. Memory is chunks·r·(dv+1) per item,
// so it grows with the length, unlike the WASM path; nothing is subtracted,
// so stateCheckpoints and statePrecision do not apply and are ignored.
//
// Runs on WASM instead: returnProjectionGradient (no WGSL path yet),
// non-finite inputs (WGSL lets implementations assume finite values), and
// buffers over the binding limit or grids over the workgroup limit (warning).

import { headRows, type AttentionShape } from "../../api/attention.js";
import { planAttentionBackward, type AttentionBackwardOptions, type AttentionBackwardPlan, type AttentionGradients } from "../../api/backward.js";
import type { FeatureMap } from "../../api/features.js";
import { log } from "../../log.js";
import type { WasmBackend } from "../wasm/backend.js";
import { runAttentionBackward } from "../wasm/ops/attention-backward.js";
import { runProjection } from "../wasm/ops/projection.js";
import type { WebGpuBackend } from "./backend.js";
import type { GpuBuffer } from "./gpu-types.js";
import { MATH_WGSL, NO_EXPONENT } from "./features.js";
import { withSequence, type GpuSequence } from "./sequence.js";

/** Invocations per workgroup of the elementwise kernels. */
const GROUP = 64;

/**
 * Returns the WGSL lines that turn the 2D workgroup grid into a linear
 * invocation index `id` (grids wider than maxComputeWorkgroupsPerDimension
 * wrap into y).
 */
function linearId(): string {
  return `let id = gid.x + gid.y * P.gridX * ${GROUP}u;`;
}

/** WGSL of the row statistics: h = ‖x̃‖²/2 and the row's largest feature exponent (NO_EXPONENT for padded keys). */
export function rowExponentShader(kind: string): string {
  const exponent: Record<string, string> = {
    positive: "best = max(best, t - h);",
    hyperbolic: "best = max(best, abs(t) - h);",
    exp: "best = max(best, t);",
  };
  const loop = exponent[kind] === undefined ? "" : `for (var l = 0u; l < P.width; l++) { let t = T[row * P.width + l]; ${exponent[kind]} }`;
  let fixed = "";
  if (kind === "trig") fixed = "best = h;";
  else if (exponent[kind] === undefined) fixed = "best = 0.0;";
  return `// attention_row_exponent:${kind}
struct Params { rows: u32, width: u32, dim: u32, gridX: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> T: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> H: array<f32>;
@group(0) @binding(5) var<storage, read_write> E: array<f32>;

@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  ${linearId()}
  let row = id;
  if (row >= P.rows) { return; }
  // Every binding must be used, because "auto" layouts drop unused ones; T is unused by some kinds.
  _ = T[0];
  var h = 0.0;
  for (var c = 0u; c < P.dim; c++) { let x = X[row * P.dim + c]; h = h + x * x; }
  h = 0.5 * h;
  H[row] = h;
  var best = ${NO_EXPONENT};
  ${loop}
  ${fixed}
  if (M[row] == 0.0) { best = ${NO_EXPONENT}; }
  E[row] = best;
}
`;
}

/** WGSL of the key shifts: σ[z·chunks + c] = max of E over the rows of chunks 0 … c of item z (0 when there is none). */
export function chunkShiftShader(): string {
  return `// attention_chunk_shift
struct Params { items: u32, rowsPerItem: u32, chunk: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> E: array<f32>;
@group(0) @binding(2) var<storage, read_write> S: array<f32>;

@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let z = gid.x;
  if (z >= P.items) { return; }
  var running = ${NO_EXPONENT};
  for (var c = 0u; c < P.chunks; c++) {
    let end = min((c + 1u) * P.chunk, P.rowsPerItem);
    for (var i = c * P.chunk; i < end; i++) { running = max(running, E[z * P.rowsPerItem + i]); }
    S[z * P.chunks + c] = select(running, 0.0, running < -1.0e38);
  }
}
`;
}

/**
 * WGSL of the features F (rows×r) from the pre-activations T (rows×width),
 * h and the shift: the row's own exponent (perRow = 1, queries) or its
 * chunk's σ (keys). Padded rows get zeros.
 */
export function featuresShader(kind: string): string {
  const body: Record<string, string> = {
    positive: "F[row * P.r + l] = P.scale * exp_f32(t - h - s);",
    hyperbolic: "F[row * P.r + l] = P.scale * exp_f32(t - h - s); F[row * P.r + P.width + l] = P.scale * exp_f32(-t - h - s);",
    exp: "F[row * P.r + l] = P.scale * exp_f32(t - s);",
    trig: "let c = P.scale * exp_f32(h - s); let sc = sincos_f32(t); F[row * P.r + l] = c * sc.x; F[row * P.r + P.width + l] = c * sc.y;",
    relu: "F[row * P.r + l] = P.scale * max(t, 0.0);",
    "elu+1": "F[row * P.r + l] = P.scale * select(exp_f32(t), t + 1.0, t > 0.0);",
    abs: "F[row * P.r + l] = P.scale * abs(t);",
    identity: "F[row * P.r + l] = P.scale * t;",
  };
  return `// attention_features:${kind}
${MATH_WGSL}
struct Params { rows: u32, width: u32, r: u32, gridX: u32, rowsPerItem: u32, chunk: u32, chunks: u32, perRow: u32, scale: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> T: array<f32>;
@group(0) @binding(2) var<storage, read> H: array<f32>;
@group(0) @binding(3) var<storage, read> E: array<f32>;
@group(0) @binding(4) var<storage, read> S: array<f32>;
@group(0) @binding(5) var<storage, read> M: array<f32>;
@group(0) @binding(6) var<storage, read_write> F: array<f32>;

@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  ${linearId()}
  if (id >= P.rows * P.width) { return; }
  let row = id / P.width;
  let l = id % P.width;
  if (M[row] == 0.0) {
    F[row * P.r + l] = 0.0;
    if (P.r > P.width) { F[row * P.r + P.width + l] = 0.0; }
    return;
  }
  let z = row / P.rowsPerItem;
  let chunkIndex = (row % P.rowsPerItem) / P.chunk;
  // A uniform branch: queries use their own exponent, keys their chunk's shift.
  var s = E[row];
  if (P.perRow == 0u) { s = S[z * P.chunks + chunkIndex]; }
  let h = H[row];
  let t = T[row * P.width + l];
  ${body[kind]}
}
`;
}

/** WGSL of Ĝ_i = [g_i/den_i, −(g_i·out_i)/den_i], zero for rows whose den is not above 2^-126. */
export function outputGradientShader(): string {
  return `// attention_output_gradient
struct Params { rows: u32, dv: u32, gridX: u32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> GH: array<f32>;

@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  ${linearId()}
  let row = id;
  if (row >= P.rows) { return; }
  let w = P.dv + 1u;
  let den = B[row * w + P.dv];
  if (!(den > 1.1754943508222875e-38)) {
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
}

/** WGSL of the causal mask on a batch of C×C chunk matrices: entries with key j > query i become 0. */
export function causalMaskShader(): string {
  return `// attention_causal_mask
struct Params { count: u32, chunk: u32, gridX: u32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;

@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  ${linearId()}
  if (id >= P.count) { return; }
  let e = id % (P.chunk * P.chunk);
  if (e % P.chunk > e / P.chunk) { A[id] = 0.0; }
}
`;
}

/**
 * WGSL of the two scans over chunks, one invocation per (item, state entry):
 * reverse = 0 writes the start states T0 from the chunk products, reverse = 1
 * the state gradients R from D (see the file header).
 */
export function stateScanShader(reverse: boolean): string {
  const body = reverse
    ? `var acc = 0.0;
  O[(base + P.chunks - 1u) * P.size + e] = 0.0;
  for (var r = 1u; r < P.chunks; r++) {
    let c = P.chunks - 1u - r;
    acc = exp_f32(S[base + c] - S[base + c + 1u]) * (I[(base + c + 1u) * P.size + e] + acc);
    O[(base + c) * P.size + e] = acc;
  }`
    : `var acc = 0.0;
  for (var c = 0u; c < P.chunks; c++) {
    O[(base + c) * P.size + e] = acc;
    if (c + 1u < P.chunks) { acc = exp_f32(S[base + c] - S[base + c + 1u]) * (acc + I[(base + c) * P.size + e]); }
  }`;
  return `// attention_state_scan:reverse=${reverse ? 1 : 0}
${MATH_WGSL}
struct Params { items: u32, chunks: u32, size: u32, gridX: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> I: array<f32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  ${linearId()}
  if (id >= P.items * P.size) { return; }
  let z = id / P.size;
  let e = id % P.size;
  let base = z * P.chunks;
  ${body}
}
`;
}

/**
 * WGSL of the feature-map gradient of one row, contracted with its feature
 * gradient φ̄: x̄ = Σ_l A_l ω_l + b·x̃ (docs/backward.md lists A and b per
 * kind). Writes A (rows×width) and b (rows).
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
    relu: "let t = T[row * P.width + l]; A[row * P.width + l] = select(0.0, D[row * P.r + l] * P.scale, t > 0.0);",
    "elu+1": "let t = T[row * P.width + l]; A[row * P.width + l] = D[row * P.r + l] * P.scale * select(exp_f32(t), 1.0, t > 0.0);",
    abs: "let t = T[row * P.width + l]; A[row * P.width + l] = D[row * P.r + l] * P.scale * sign(t);",
    identity: "A[row * P.width + l] = D[row * P.r + l] * P.scale;",
  };
  return `// attention_features_backward:${kind}
${MATH_WGSL}
struct Params { rows: u32, width: u32, r: u32, gridX: u32, scale: f32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> F: array<f32>;
@group(0) @binding(2) var<storage, read> D: array<f32>;
@group(0) @binding(3) var<storage, read> T: array<f32>;
@group(0) @binding(4) var<storage, read_write> A: array<f32>;
@group(0) @binding(5) var<storage, read_write> Bc: array<f32>;

@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  ${linearId()}
  let row = id;
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
export function inputGradientShader(): string {
  return `// attention_input_gradient
struct Params { count: u32, dim: u32, gridX: u32, inputScale: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> XB: array<f32>;
@group(0) @binding(2) var<storage, read> Bc: array<f32>;
@group(0) @binding(3) var<storage, read> X: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(${GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  ${linearId()}
  if (id >= P.count) { return; }
  O[id] = P.inputScale * (XB[id] + Bc[id / P.dim] * X[id]);
}
`;
}

/** Packs uniform values: integers as u32, entries listed in `floats` as f32. */
function words(values: number[], floats: number[] = []): ArrayBuffer {
  const buffer = new ArrayBuffer(Math.max(16, Math.ceil(values.length / 4) * 16));
  const u32 = new Uint32Array(buffer);
  const f32 = new Float32Array(buffer);
  values.forEach((value, i) => {
    if (floats.includes(i)) f32[i] = value;
    else u32[i] = value;
  });
  return buffer;
}

/** Work estimate (floating-point operations) used by backend "auto"; an estimate, not a count. */
export function attentionBackwardFlops(plan: AttentionBackwardPlan): number {
  const { batch, heads, length, keyLength, dim, valueDim } = plan.shape;
  const r = plan.features.query.outputs;
  const items = batch * heads;
  let flops = 6 * items * (length + keyLength) * r * (dim + valueDim + 1);
  if (plan.causal) flops += 8 * items * length * Math.min(plan.chunk, length) * (r + valueDim + 1);
  return flops;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return false;
  }
  return true;
}

/** True when every real key's row of k and v is finite (padded keys are never read). */
function keysFinite(plan: AttentionBackwardPlan): boolean {
  const { shape } = plan;
  for (let item = 0; item < shape.batch; item++) {
    for (let head = 0; head < shape.heads; head++) {
      const kr = headRows(shape, item, head, shape.keyLength, shape.dim);
      const vr = headRows(shape, item, head, shape.keyLength, shape.valueDim);
      for (let j = 0; j < shape.keyLength; j++) {
        if (shape.keyPaddingMask !== null && shape.keyPaddingMask[item * shape.keyLength + j] !== 0) continue;
        for (let c = 0; c < shape.dim; c++) if (!Number.isFinite(plan.k[kr.offset + j * kr.ld + c])) return false;
        for (let c = 0; c < shape.valueDim; c++) if (!Number.isFinite(plan.v[vr.offset + j * vr.ld + c])) return false;
      }
    }
  }
  return true;
}

/** Geometry of one call on the GPU. */
interface Geometry {
  items: number;
  /** Query and key rows per item (causal: padded to a multiple of the chunk). */
  rowsQ: number;
  rowsK: number;
  /** Chunk rows and chunks per item (bidirectional: one chunk of keyLength rows). */
  chunk: number;
  chunks: number;
  m: number;
  width: number;
  r: number;
}

function geometry(plan: AttentionBackwardPlan): Geometry {
  const { batch, heads, length, keyLength, dim } = plan.shape;
  const map = plan.features.query;
  const items = batch * heads;
  if (plan.causal) {
    const chunk = Math.min(plan.chunk, length);
    const chunks = Math.ceil(length / chunk);
    const rows = chunks * chunk;
    return { items, rowsQ: rows, rowsK: rows, chunk, chunks, m: map.features, width: map.features > 0 ? map.features : dim, r: map.outputs };
  }
  return { items, rowsQ: length, rowsK: keyLength, chunk: keyLength, chunks: 1, m: map.features, width: map.features > 0 ? map.features : dim, r: map.outputs };
}

/** Returns why the call cannot run on the GPU (a buffer or a grid too large), or null. */
function limitProblem(gpu: WebGpuBackend, plan: AttentionBackwardPlan, g: Geometry): string | null {
  const { dim, valueDim } = plan.shape;
  const nq = g.items * g.rowsQ;
  const nk = g.items * g.rowsK;
  const w = valueDim + 1;
  const sizes = [
    nq * dim, nk * dim, nq * g.r, nk * g.r, nq * g.width, nk * g.width, nq * w, nk * w,
    g.items * g.chunks * g.r * w, g.items * g.chunks * g.chunk * g.chunk, g.items * g.m * dim,
  ];
  const largest = Math.max(...sizes) * 4;
  if (largest > gpu.maxBindingBytes) {
    return `a buffer needs ${largest} bytes, over the ${gpu.maxBindingBytes}-byte storage binding limit`;
  }
  const maxGroups = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (g.items * g.chunks > maxGroups) return `${g.items * g.chunks} GEMM batch items exceed maxComputeWorkgroupsPerDimension ${maxGroups}`;
  return null;
}

/** Copies each head's rows (times `scale`) into an item-major matrix of rowsPerItem rows, zeros elsewhere. */
function gatherHeads(
  source: Float32Array, shape: AttentionShape, rows: number, width: number, rowsPerItem: number,
  scale: number, keep: ((item: number, row: number) => boolean) | null, ones = false,
): Float32Array {
  const stride = ones ? width + 1 : width;
  const out = new Float32Array(shape.batch * shape.heads * rowsPerItem * stride);
  for (let item = 0; item < shape.batch; item++) {
    for (let head = 0; head < shape.heads; head++) {
      const { offset, ld } = headRows(shape, item, head, rows, width);
      const base = (item * shape.heads + head) * rowsPerItem * stride;
      for (let i = 0; i < rows; i++) {
        if (keep !== null && !keep(item, i)) continue;
        for (let c = 0; c < width; c++) out[base + i * stride + c] = Math.fround(source[offset + i * ld + c] * scale);
        if (ones) out[base + i * stride + width] = 1;
      }
    }
  }
  return out;
}

/** Writes item-major rows (the first `width` of each `stride`) back into the layout of `shape`; dropped rows get 0. */
function scatterHeads(
  source: Float32Array, target: Float32Array, shape: AttentionShape, rows: number, width: number, stride: number,
  rowsPerItem: number, keep: ((item: number, row: number) => boolean) | null,
): void {
  for (let item = 0; item < shape.batch; item++) {
    for (let head = 0; head < shape.heads; head++) {
      const { offset, ld } = headRows(shape, item, head, rows, width);
      const base = (item * shape.heads + head) * rowsPerItem * stride;
      for (let i = 0; i < rows; i++) {
        const kept = keep === null || keep(item, i);
        for (let c = 0; c < width; c++) target[offset + i * ld + c] = kept ? source[base + i * stride + c] : 0;
      }
    }
  }
}

/** Dispatch grid for `count` invocations of GROUP, wrapped into y past the workgroup limit. */
function grid(gpu: WebGpuBackend, count: number): { groups: [number, number, number]; gridX: number } {
  const groups = Math.max(1, Math.ceil(count / GROUP));
  const maxGroups = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(groups, maxGroups);
  return { groups: [x, Math.ceil(groups / x), 1], gridX: x };
}

/** The buffers of one side (queries or keys) of the feature map. */
interface Side {
  x: GpuBuffer;
  t: GpuBuffer;
  h: GpuBuffer;
  e: GpuBuffer;
  f: GpuBuffer;
  mask: GpuBuffer;
  rows: number;
}

/** Computes the pre-activations, row statistics and features of one side. */
function featureSide(
  seq: GpuSequence, map: FeatureMap, g: Geometry, x: Float32Array, mask: Float32Array, projection: Projection | null,
  dim: number, rowsPerItem: number, isKey: boolean, shifts: GpuBuffer,
): Side {
  const gpu = seq.gpu;
  const rows = g.items * rowsPerItem;
  const bufX = seq.buffer(rows * dim, x);
  const bufMask = seq.buffer(rows, mask);
  let bufT = bufX;
  if (g.m > 0) {
    bufT = seq.buffer(rows * g.m);
    seq.gemm({
      m: rowsPerItem, n: g.m, k: dim, transA: false, transB: true, lda: dim, ldb: dim, ldc: g.m, alpha: 1, beta: 0,
      batch: g.items, strideA: rowsPerItem * dim, strideB: projection!.perItem ? g.m * dim : 0, strideC: rowsPerItem * g.m,
    }, bufX, projection!.buffer, bufT);
  }
  const bufH = seq.buffer(rows);
  const bufE = seq.buffer(rows);
  const stats = grid(gpu, rows);
  seq.dispatch(`attention_row_exponent:${map.kind}`, () => rowExponentShader(map.kind),
    words([rows, g.width, dim, stats.gridX]), [bufT, bufX, bufMask, bufH, bufE], stats.groups);
  if (isKey) {
    seq.dispatch("attention_chunk_shift", chunkShiftShader, words([g.items, rowsPerItem, g.chunk, g.chunks]), [bufE, shifts],
      [Math.ceil(g.items / GROUP), 1, 1]);
  }
  const bufF = seq.buffer(rows * g.r);
  const elements = grid(gpu, rows * g.width);
  seq.dispatch(`attention_features:${map.kind}`, () => featuresShader(map.kind),
    words([rows, g.width, g.r, elements.gridX, rowsPerItem, g.chunk, g.chunks, isKey ? 0 : 1, map.scale], [8]),
    [bufT, bufH, bufE, shifts, bufMask, bufF], elements.groups);
  return { x: bufX, t: bufT, h: bufH, e: bufE, f: bufF, mask: bufMask, rows };
}

/** The projection on the GPU: one m×dim matrix, or one per item (perItem) when each head has its own. */
interface Projection {
  buffer: GpuBuffer;
  perItem: boolean;
}

/** Turns a feature gradient φ̄ (rows×r) into the input gradient (rows×dim) of one side. */
function inputGradient(
  seq: GpuSequence, map: FeatureMap, g: Geometry, side: Side, dphi: GpuBuffer, projection: Projection | null,
  dim: number, rowsPerItem: number, inputScale: number,
): GpuBuffer {
  const gpu = seq.gpu;
  const rows = side.rows;
  const bufA = seq.buffer(rows * g.width);
  const bufB = seq.buffer(rows);
  const perRow = grid(gpu, rows);
  seq.dispatch(`attention_features_backward:${map.kind}`, () => featuresBackwardShader(map.kind),
    words([rows, g.width, g.r, perRow.gridX, map.scale, 0, 0, 0], [4]), [side.f, dphi, side.t, bufA, bufB], perRow.groups);
  let bufXbar = bufA;
  if (g.m > 0) {
    bufXbar = seq.buffer(rows * dim);
    seq.gemm({
      m: rowsPerItem, n: dim, k: g.m, transA: false, transB: false, lda: g.m, ldb: dim, ldc: dim, alpha: 1, beta: 0,
      batch: g.items, strideA: rowsPerItem * g.m, strideB: projection!.perItem ? g.m * dim : 0, strideC: rowsPerItem * dim,
    }, bufA, projection!.buffer, bufXbar);
  }
  const out = seq.buffer(rows * dim);
  const elements = grid(gpu, rows * dim);
  seq.dispatch("attention_input_gradient", inputGradientShader, words([rows * dim, dim, elements.gridX, inputScale], [3]),
    [bufXbar, bufB, side.x, out], elements.groups);
  return out;
}

/** Returns the projection as a GPU buffer (replicated per item when each head has its own), or null without one. */
function uploadProjection(seq: GpuSequence, wasm: WasmBackend, plan: AttentionBackwardPlan, g: Geometry): Projection | null {
  const { features } = plan;
  const { heads, dim } = plan.shape;
  if (g.m === 0) return null;
  const matrix = features.projection ?? runProjection(wasm, features.draw!);
  if (!features.perHead) return { buffer: seq.buffer(g.m * dim, matrix), perItem: false };
  const size = g.m * dim;
  const replicated = new Float32Array(g.items * size);
  for (let z = 0; z < g.items; z++) replicated.set(matrix.subarray((z % heads) * size, (z % heads + 1) * size), z * size);
  return { buffer: seq.buffer(g.items * size, replicated), perItem: true };
}

/** Runs the whole backward pass on the GPU and fills the gradients. */
async function runOnGpu(wasm: WasmBackend, gpu: WebGpuBackend, plan: AttentionBackwardPlan, g: Geometry): Promise<AttentionGradients> {
  const { shape } = plan;
  const { dim, valueDim, length, keyLength } = shape;
  const w = valueDim + 1;
  const inputScale = Math.fround(dim ** -0.25);
  const mask = shape.keyPaddingMask;
  const realKey = mask === null ? null : (item: number, j: number) => mask[item * keyLength + j] === 0;
  const dq = new Float32Array(plan.q.length);
  const dk = new Float32Array(plan.k.length);
  const dv = new Float32Array(plan.v.length);

  await withSequence(gpu, "attentionBackward", async (seq) => {
    const projection = uploadProjection(seq, wasm, plan, g);
    const xq = gatherHeads(plan.q, shape, length, dim, g.rowsQ, inputScale, null);
    const xk = gatherHeads(plan.k, shape, keyLength, dim, g.rowsK, inputScale, realKey);
    const u = gatherHeads(plan.v, shape, keyLength, valueDim, g.rowsK, 1, realKey, true);
    const gradOut = gatherHeads(plan.gradOut, shape, length, valueDim, g.rowsQ, 1, null);
    const rowMask = (rowsPerItem: number, rows: number, keep: typeof realKey) => {
      const out = new Float32Array(g.items * rowsPerItem);
      for (let z = 0; z < g.items; z++) {
        const item = Math.floor(z / shape.heads);
        for (let i = 0; i < rows; i++) out[z * rowsPerItem + i] = keep === null || keep(item, i) ? 1 : 0;
      }
      return out;
    };
    const shifts = seq.buffer(g.items * g.chunks);
    const query = featureSide(seq, plan.features.query, g, xq, rowMask(g.rowsQ, length, null), projection, dim, g.rowsQ, false, shifts);
    const key = featureSide(seq, plan.features.key, g, xk, rowMask(g.rowsK, keyLength, realKey), projection, dim, g.rowsK, true, shifts);
    const bufU = seq.buffer(g.items * g.rowsK * w, u);
    const bufG = seq.buffer(g.items * g.rowsQ * valueDim, gradOut);
    const bufB = seq.buffer(g.items * g.rowsQ * w);
    const bufGH = seq.buffer(g.items * g.rowsQ * w);
    const dqf = seq.buffer(g.items * g.rowsQ * g.r);
    const dkf = seq.buffer(g.items * g.rowsK * g.r);
    const bufDU = seq.buffer(g.items * g.rowsK * w);
    const r = g.r;
    const outputGradient = () => {
      const rows = grid(gpu, g.items * g.rowsQ);
      seq.dispatch("attention_output_gradient", outputGradientShader, words([g.items * g.rowsQ, valueDim, rows.gridX]),
        [bufB, bufG, bufGH], rows.groups);
    };

    if (!plan.causal) {
      const nq = g.rowsQ;
      const nk = g.rowsK;
      const items = g.items;
      const state = seq.buffer(items * r * w);
      const dstate = seq.buffer(items * r * w);
      // T = K′ᵀU, B = Q′T, Ĝ, Q̄′ = Ĝ·Tᵀ, T̄ = Q′ᵀĜ, K̄′ = U·T̄ᵀ, Ū = K′·T̄.
      seq.gemm({ m: r, n: w, k: nk, transA: true, transB: false, lda: r, ldb: w, ldc: w, alpha: 1, beta: 0,
        batch: items, strideA: nk * r, strideB: nk * w, strideC: r * w }, key.f, bufU, state);
      seq.gemm({ m: nq, n: w, k: r, transA: false, transB: false, lda: r, ldb: w, ldc: w, alpha: 1, beta: 0,
        batch: items, strideA: nq * r, strideB: r * w, strideC: nq * w }, query.f, state, bufB);
      outputGradient();
      seq.gemm({ m: nq, n: r, k: w, transA: false, transB: true, lda: w, ldb: w, ldc: r, alpha: 1, beta: 0,
        batch: items, strideA: nq * w, strideB: r * w, strideC: nq * r }, bufGH, state, dqf);
      seq.gemm({ m: r, n: w, k: nq, transA: true, transB: false, lda: r, ldb: w, ldc: w, alpha: 1, beta: 0,
        batch: items, strideA: nq * r, strideB: nq * w, strideC: r * w }, query.f, bufGH, dstate);
      seq.gemm({ m: nk, n: r, k: w, transA: false, transB: true, lda: w, ldb: w, ldc: r, alpha: 1, beta: 0,
        batch: items, strideA: nk * w, strideB: r * w, strideC: nk * r }, bufU, dstate, dkf);
      seq.gemm({ m: nk, n: w, k: r, transA: false, transB: false, lda: r, ldb: w, ldc: w, alpha: 1, beta: 0,
        batch: items, strideA: nk * r, strideB: r * w, strideC: nk * w }, key.f, dstate, bufDU);
    } else {
      causalProducts(seq, g, query.f, key.f, bufU, shifts, bufB, bufGH, dqf, dkf, bufDU, outputGradient, w);
    }

    const gradQ = inputGradient(seq, plan.features.query, g, query, dqf, projection, dim, g.rowsQ, inputScale);
    const gradK = inputGradient(seq, plan.features.key, g, key, dkf, projection, dim, g.rowsK, inputScale);
    seq.submit();
    const hostQ = new Float32Array(g.items * g.rowsQ * dim);
    const hostK = new Float32Array(g.items * g.rowsK * dim);
    const hostU = new Float32Array(g.items * g.rowsK * w);
    await seq.read(gradQ, hostQ);
    await seq.read(gradK, hostK);
    await seq.read(bufDU, hostU);
    scatterHeads(hostQ, dq, shape, length, dim, dim, g.rowsQ, null);
    scatterHeads(hostK, dk, shape, keyLength, dim, dim, g.rowsK, realKey);
    scatterHeads(hostU, dv, shape, keyLength, valueDim, w, g.rowsK, realKey);
  });
  return { dq, dk, dv };
}

/** Records the causal products of docs/backward.md, with every chunk one batch item of the GEMMs (see the file header). */
function causalProducts(
  seq: GpuSequence, g: Geometry, qf: GpuBuffer, kf: GpuBuffer, bufU: GpuBuffer, shifts: GpuBuffer,
  bufB: GpuBuffer, bufGH: GpuBuffer, dqf: GpuBuffer, dkf: GpuBuffer, bufDU: GpuBuffer, outputGradient: () => void, w: number,
): void {
  const gpu = seq.gpu;
  const { r, chunk: C } = g;
  const batch = g.items * g.chunks;
  const products = seq.buffer(batch * r * w);
  const starts = seq.buffer(batch * r * w);
  const scores = seq.buffer(batch * C * C);
  const dscores = seq.buffer(batch * C * C);
  const rowsF = C * r;
  const rowsU = C * w;
  const gemm = (m: number, n: number, k: number, transA: boolean, transB: boolean, lda: number, ldb: number,
    strideA: number, strideB: number, strideC: number, a: GpuBuffer, b: GpuBuffer, c: GpuBuffer, beta = 0) =>
    seq.gemm({ m, n, k, transA, transB, lda, ldb, ldc: n, alpha: 1, beta, batch, strideA, strideB, strideC }, a, b, c);
  const mask = (buffer: GpuBuffer) => {
    const count = batch * C * C;
    const at = grid(gpu, count);
    seq.dispatch("attention_causal_mask", causalMaskShader, words([count, C, at.gridX]), [buffer], at.groups);
  };
  const scan = (reverse: boolean, input: GpuBuffer, output: GpuBuffer) => {
    const count = g.items * r * w;
    const at = grid(gpu, count);
    seq.dispatch(`attention_state_scan:reverse=${reverse ? 1 : 0}`, () => stateScanShader(reverse),
      words([g.items, g.chunks, r * w, at.gridX]), [input, shifts, output], at.groups);
  };

  // P_c = K′_cᵀU_c, start states T0_c, masked scores M∘(Q′_c K′_cᵀ), B_c = Q′_c T0_c + scores·U_c.
  gemm(r, w, C, true, false, r, w, rowsF, rowsU, r * w, kf, bufU, products);
  scan(false, products, starts);
  gemm(C, C, r, false, true, r, r, rowsF, rowsF, C * C, qf, kf, scores);
  mask(scores);
  gemm(C, w, r, false, false, r, w, rowsF, r * w, rowsU, qf, starts, bufB);
  gemm(C, w, C, false, false, C, w, C * C, rowsU, rowsU, scores, bufU, bufB, 1);
  outputGradient();
  // D_c = Q′_cᵀĜ_c into `products` (no longer needed), then R_c into `gradients`.
  gemm(r, w, C, true, false, r, w, rowsF, rowsU, r * w, qf, bufGH, products);
  const gradients = seq.buffer(batch * r * w);
  scan(true, products, gradients);
  // P̄ = M∘(Ĝ_c U_cᵀ).
  gemm(C, C, w, false, true, w, w, rowsU, rowsU, C * C, bufGH, bufU, dscores);
  mask(dscores);
  // Q̄′_c = Ĝ_c T0_cᵀ + P̄ K′_c.
  gemm(C, r, w, false, true, w, w, rowsU, r * w, rowsF, bufGH, starts, dqf);
  gemm(C, r, C, false, false, C, r, C * C, rowsF, rowsF, dscores, kf, dqf, 1);
  // K̄′_c = P̄ᵀ Q′_c + U_c R_cᵀ.
  gemm(C, r, C, true, false, C, r, C * C, rowsF, rowsF, dscores, qf, dkf);
  gemm(C, r, w, false, true, w, w, rowsU, r * w, rowsF, bufU, gradients, dkf, 1);
  // Ū_c = scoresᵀ Ĝ_c + K′_c R_c.
  gemm(C, w, C, true, false, C, w, C * C, rowsU, rowsU, scores, bufGH, bufDU);
  gemm(C, w, r, false, false, r, w, rowsF, r * w, rowsU, kf, gradients, bufDU, 1);
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
    // NOTE: dprojection has no WGSL path yet.
    if (plan.returnProjectionGradient) return onWasm("returnProjectionGradient has no WGSL path");
    const flops = attentionBackwardFlops(plan);
    if (mode === "auto" && flops < minFlops) return onWasm(`about ${flops} flops < the auto threshold ${minFlops}`);
    if (!allFinite(plan.q) || !allFinite(plan.gradOut) || !keysFinite(plan) ||
      (plan.features.projection !== null && !allFinite(plan.features.projection))) {
      return onWasm("an input is not finite, and WGSL lets implementations assume finite values");
    }
    const device = await gpu.ready();
    if (device === null) return onWasm("the WebGPU device is lost", "warn");
    const g = geometry(plan);
    const problem = limitProblem(gpu, plan, g);
    if (problem !== null) return onWasm(problem, "warn");
    log.debug(() => `${what} on WebGPU (${gpu.describe()})`);
    try {
      return await runOnGpu(wasm, gpu, plan, g);
    } catch (error) {
      if (!gpu.lost) throw error;
      return onWasm("the WebGPU device was lost during the call", "warn");
    }
  };
}
