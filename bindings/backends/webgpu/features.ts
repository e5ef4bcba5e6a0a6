// WGSL random-feature maps: the kernels of `features` and of FAVOR+
// attention on WebGPU. The formulas, stabilizers and ε are those of
// assembly/features/maps.ts and docs/features.md; only the rounding differs.
//
// encodeFeatureMap records, on buffers already on the device:
//   1. z = X·Wᵀ (rows×m) into the first m columns of each output row, with
//      the tiled GEMM (or a copy of X when the map has no projection);
//   2. rowstat: one workgroup per row writes h_i = ‖x_i‖²/2 and
//      top_i = max_l z_il (max_l |z_il| for hyperbolic);
//   3. shift: one workgroup computes each row's exponent e_i (top_i − h_i
//      for positive and hyperbolic, top_i for exp, h_i for trig), the shift
//      s_i of the role, and the largest e_i of the call;
//   4. apply: one invocation per z_il writes scale·(map + ε), and the
//      second half of hyperbolic and trig rows.
// Pointwise kinds (relu, elu+1, abs, identity) skip steps 2 and 3.
//
// Shifts, as on WASM: "none" s_i = 0; "query" s_i = e_i and the exponent is
// z_il − top_i, so the row's largest term is exactly 1; "key" one constant,
// the largest e_i, or the caller's keyShift. Attention also uses grouped key
// shifts: rows come in groups of `group` rows, and the shift of group g is
// the largest e_i of groups 0…g (a prefix maximum), so a causal chunk never
// depends on later keys. A group of all rows is the "key" shift.
//
// Masked rows (a u32 flag per row, 1 = masked) get all-zero features and
// never enter a maximum; attention uses them for padded keys and for the
// rows that pad the last causal chunk.
//
// Arithmetic: float32 throughout. exp, sin and cos are written out below
// instead of WGSL's built-ins, whose accuracy WGSL leaves loose (exp:
// 3 + 2·|x| ULP; sin and cos: 2^-11 absolute, only on [−π, π]). exp is the
// polynomial of assembly/math/exp.ts (measured at most 1.1 ULP). sin and cos
// reduce x by π/2 in four float32 parts of 8 significant bits (Cody–Waite),
// whose products with k are exact for |x| < 2^16·π/2 ≈ 1.0e5, and evaluate
// the polynomials of assembly/math/sincos.ts without its low-order
// correction (measured at most 2.2 ULP for |x| <= 6000); above 1.0e5 the
// reduction error grows with |x|. The shader compiler may fuse
// multiply-adds and may flush subnormal values to zero (WGSL allows both),
// so results differ from WASM in the last bits. The WebGPU tolerance in
// tests/conformance/tolerances.json is derived from these errors. NaN inputs give unspecified results, because
// WGSL's max and clamp need not propagate NaN.

import type { FeatureMap } from "../../api/features.js";
import { LINEAR_GROUP, grid, uniformWords, type Binding, type Recorder } from "./encode.js";

/** Stabilizer modes of the shift kernel. */
const SHIFT_NONE = 0;
const SHIFT_PER_ROW = 1;
const SHIFT_GROUPED = 2;
const SHIFT_GIVEN = 3;

/** The float32 value kernels use for "no exponent yet" (WGSL has no infinity literal). */
export const NO_EXPONENT = -3.4028234663852886e38;

/** Kinds whose exponent is stabilized by a shift. */
const EXPONENTIAL = new Set(["positive", "hyperbolic", "exp", "trig"]);

/** WGSL exp_f32, sincos_f32 (x ↦ (sin x, cos x)) and the sentinel, shared by the feature and attention kernels. */
export const MATH_WGSL = `
const NO_EXPONENT = ${NO_EXPONENT};
fn exp_f32(x: f32) -> f32 {
  let c = clamp(x, -104.0, 89.0);
  let kf = round(c * bitcast<f32>(0x3FB8AA3Bu));
  let r_head = c - kf * bitcast<f32>(0x3F317200u);
  let r_tail = kf * bitcast<f32>(0x35BFBE8Eu);
  let r = r_head - r_tail;
  let r_low = (r_head - r) - r_tail;
  var q = bitcast<f32>(0x3AB50D38u);
  q = q * r + bitcast<f32>(0x3C091FE3u);
  q = q * r + bitcast<f32>(0x3D2AAC8Bu);
  q = q * r + bitcast<f32>(0x3E2AAA45u);
  q = q * r + bitcast<f32>(0x3EFFFFFEu);
  let w = 1.0 + r;
  let p = w + (((1.0 - w) + r) + (r_low + (r * r) * q));
  let k = i32(kf);
  let k1 = k >> 1u;
  let k2 = k - k1;
  let s1 = bitcast<f32>(u32(k1 + 127) << 23u);
  let s2 = bitcast<f32>(u32(k2 + 127) << 23u);
  return (p * s1) * s2;
}
fn sincos_f32(x: f32) -> vec2<f32> {
  let kf = round(x * bitcast<f32>(0x3F22F983u));
  var r = x - kf * bitcast<f32>(0x3FC90000u);
  r = r - kf * bitcast<f32>(0x39FE0000u);
  r = r - kf * bitcast<f32>(0xB52C0000u);
  r = r - kf * bitcast<f32>(0x30885A30u);
  let z = r * r;
  var s = bitcast<f32>(0x36365B71u);
  s = s * z + bitcast<f32>(0xB9500786u);
  s = s * z + bitcast<f32>(0x3C088884u);
  s = s * z + bitcast<f32>(0xBE2AAAABu);
  let sin_r = r + (r * z) * s;
  var c = bitcast<f32>(0xB491F11Cu);
  c = c * z + bitcast<f32>(0x37D007CCu);
  c = c * z + bitcast<f32>(0xBAB60B5Bu);
  c = c * z + bitcast<f32>(0x3D2AAAABu);
  let half = 0.5 * z;
  let w = 1.0 - half;
  let cos_r = w + (((1.0 - w) - half) + (z * z) * c);
  let quadrant = i32(kf) & 3;
  if (quadrant == 0) { return vec2<f32>(sin_r, cos_r); }
  if (quadrant == 1) { return vec2<f32>(cos_r, -sin_r); }
  if (quadrant == 2) { return vec2<f32>(-sin_r, -cos_r); }
  return vec2<f32>(-cos_r, sin_r);
}
`;

/** Elements of the scratch buffer encodeFeatureMap needs for `rows` rows: h, top, shift (rows each) and the call's largest exponent. */
export function featureStatsElements(rows: number): number {
  return 3 * rows + 1;
}

/** Element offsets of the parts of a stats buffer. */
export function featureStatsLayout(rows: number): { h: number; top: number; shift: number; largest: number } {
  return { h: 0, top: rows, shift: 2 * rows, largest: 3 * rows };
}

/** Buffers and settings of one feature-map computation. */
export interface FeatureMapCall {
  map: FeatureMap;
  rows: number;
  /** rows×dim input, contiguous. */
  x: Binding;
  /** m×dim projection, contiguous (null when map.features is 0). */
  projection: Binding | null;
  /** rows×map.outputs result, contiguous; overwritten. */
  out: Binding;
  /** featureStatsElements(rows) scratch; receives h, top, the row shifts and the largest exponent (featureStatsLayout). */
  stats: Binding;
  /** Optional u32 flags, 1 = masked row (zero features, excluded from the maximum); element maskOffset + i belongs to row i. */
  mask?: Binding | null;
  maskOffset?: number;
  /** Rows per key-shift group (role "key" without keyShift); default every row in one group. */
  group?: number;
  /** When true, records steps 1 to 3 only: call.stats receives the row statistics and the largest exponent, call.out holds z. */
  statsOnly?: boolean;
}

function rowstatShader(absolute: boolean): string {
  return `// features.rowstat abs=${absolute}
struct Params { rows: u32, dim: u32, width: u32, ldz: u32, norms: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Z: array<f32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;
var<workgroup> sums: array<f32, 64>;
var<workgroup> tops: array<f32, 64>;
${MATH_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  if (group >= P.rows) { return; }
  let row = group;
  var sum = 0.0;
  if (P.norms != 0u) {
    for (var j = t; j < P.dim; j += 64u) { let v = X[row * P.dim + j]; sum = sum + v * v; }
  }
  var top = NO_EXPONENT;
  for (var l = t; l < P.width; l += 64u) { top = max(top, ${absolute ? "abs(Z[row * P.ldz + l])" : "Z[row * P.ldz + l]"}); }
  sums[t] = sum;
  tops[t] = top;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half = half / 2u) {
    if (t < half) {
      sums[t] = sums[t] + sums[t + half];
      tops[t] = max(tops[t], tops[t + half]);
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    S[row] = sums[0] * 0.5;
    S[P.rows + row] = tops[0];
  }
}
`;
}

/** Returns the WGSL source of the shift kernel; its exponent_kind uniform picks e_i = top − h (0), top (1) or h (2). */
function shiftShader(): string {
  return `// features.shift
struct Params { rows: u32, group: u32, mode: u32, exponent_kind: u32, given: f32, masked: u32, mask_offset: u32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> S: array<f32>;
@group(0) @binding(2) var<storage, read> M: array<u32>;
var<workgroup> tops: array<f32, 256>;
var<workgroup> running: f32;
${MATH_WGSL}
fn exponent(i: u32) -> f32 {
  if (P.masked != 0u && M[P.mask_offset + i] != 0u) { return NO_EXPONENT; }
  let h = S[i];
  let top = S[P.rows + i];
  if (P.exponent_kind == 0u) { return top - h; }
  if (P.exponent_kind == 1u) { return top; }
  return h;
}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  if (t == 0u) { running = NO_EXPONENT; }
  workgroupBarrier();
  for (var g0 = 0u; g0 < P.rows; g0 += P.group) {
    let g1 = min(g0 + P.group, P.rows);
    var top = NO_EXPONENT;
    for (var i = g0 + t; i < g1; i += 256u) { top = max(top, exponent(i)); }
    tops[t] = top;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half = half / 2u) {
      if (t < half) { tops[t] = max(tops[t], tops[t + half]); }
      workgroupBarrier();
    }
    if (t == 0u) { running = max(running, tops[0]); }
    workgroupBarrier();
    let prefix = running;
    for (var i = g0 + t; i < g1; i += 256u) {
      var s = 0.0;
      if (P.mode == ${SHIFT_PER_ROW}u) { s = exponent(i); }
      else if (P.mode == ${SHIFT_GROUPED}u) { s = prefix; }
      else if (P.mode == ${SHIFT_GIVEN}u) { s = P.given; }
      S[2u * P.rows + i] = s;
    }
    workgroupBarrier();
  }
  if (t == 0u) { S[3u * P.rows] = running; }
}
`;
}

/** Returns the WGSL source of the apply kernel of one kind: z = v becomes scale·(map + ε), with c the row's exponent offset. */
function applyShader(kind: FeatureMap["kind"]): string {
  const exponential = EXPONENTIAL.has(kind);
  let body: string;
  switch (kind) {
    case "positive":
    case "exp":
      body = "Z[base + l] = (exp_f32(v - c) + P.epsilon) * P.scale;";
      break;
    case "hyperbolic":
      body = `Z[base + l] = (exp_f32(v - c) + P.epsilon) * P.scale;
    Z[base + P.width + l] = (exp_f32(-v - c) + P.epsilon) * P.scale;`;
      break;
    case "trig":
      body = `let sc = sincos_f32(v);
    Z[base + l] = (factor * sc.x + P.epsilon) * P.scale;
    Z[base + P.width + l] = (factor * sc.y + P.epsilon) * P.scale;`;
      break;
    case "relu":
      body = "Z[base + l] = (max(v, 0.0) + P.epsilon) * P.scale;";
      break;
    case "elu+1":
      body = "Z[base + l] = (select(exp_f32(min(v, 0.0)), v + 1.0, v > 0.0) + P.epsilon) * P.scale;";
      break;
    case "abs":
      body = "Z[base + l] = (abs(v) + P.epsilon) * P.scale;";
      break;
    default:
      body = "Z[base + l] = (v + P.epsilon) * P.scale;";
  }
  const two = kind === "hyperbolic" || kind === "trig";
  const offset = kind === "trig"
    ? `let h = S[i]; let factor = exp_f32(h - S[2u * P.rows + i]);`
    : exponential
      ? `var c = S[i] + S[2u * P.rows + i];
    if (P.mode == ${SHIFT_PER_ROW}u) { c = S[P.rows + i]; }`
      : "";
  return `// features.apply ${kind}
struct Params { rows: u32, width: u32, ldz: u32, mode: u32, scale: f32, epsilon: f32, masked: u32, mask_offset: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> Z: array<f32>;
@group(0) @binding(2) var<storage, read> M: array<u32>;
${exponential ? "@group(0) @binding(3) var<storage, read> S: array<f32>;" : ""}
${MATH_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let index = group * 64u + t;
  if (index >= P.rows * P.width) { return; }
  let i = index / P.width;
  let l = index % P.width;
  let base = i * P.ldz;
  if (P.masked != 0u && M[P.mask_offset + i] != 0u) {
    Z[base + l] = 0.0;
    ${two ? "Z[base + P.width + l] = 0.0;" : ""}
    return;
  }
  let v = Z[base + l];
  ${offset}
  ${body}
}
`;
}

/**
 * Records the feature map of `call.rows` rows (see the file header). The
 * caller submits; after that the features are in call.out and, for the
 * exponential kinds, the row shifts and the largest exponent in call.stats
 * (featureStatsLayout). Pointwise kinds leave call.stats untouched.
 */
export function encodeFeatureMap(rec: Recorder, call: FeatureMapCall): void {
  const { map, rows } = call;
  if (rows === 0) return;
  const backend = rec.backend;
  const m = map.features;
  const width = m > 0 ? m : map.dim;
  const r = map.outputs;

  // 1. z = X·Wᵀ, or z = X.
  if (m > 0) {
    if (call.projection === null) throw new Error("encodeFeatureMap: the map has a projection, but none was bound");
    rec.gemm({ a: call.x, b: call.projection, c: call.out, m: rows, n: m, k: map.dim, transB: true, lda: map.dim, ldb: map.dim, ldc: r });
  } else {
    rec.copy(call.x.buffer, 0, call.out.buffer, 0, rows * map.dim);
  }

  // A one-element stand-in keeps the bindings the same when there is no mask.
  const mask = call.mask ?? rec.scratch(4);
  const masked = call.mask ? 1 : 0;
  const maskOffset = call.maskOffset ?? 0;
  const exponential = EXPONENTIAL.has(map.kind);
  let mode = SHIFT_NONE;
  if (exponential) {
    // 2. h and top per row.
    const norms = map.kind !== "exp";
    const absolute = map.kind === "hyperbolic";
    const rowstat = backend.pipeline(`features.rowstat:abs=${absolute ? 1 : 0}`, () => rowstatShader(absolute));
    const [gx, gy] = grid(rows);
    const words = uniformWords([[rows, "u"], [map.dim, "u"], [width, "u"], [r, "u"], [norms ? 1 : 0, "u"], [0, "u"], [0, "u"], [0, "u"]]);
    rec.dispatch(rowstat, words, [call.x, call.out, call.stats], [gx, gy]);

    // 3. Shifts and the largest exponent.
    if (map.role === "query") mode = SHIFT_PER_ROW;
    else if (map.role === "key") mode = map.keyShift === null ? SHIFT_GROUPED : SHIFT_GIVEN;
    let exponentKind = 0;
    if (map.kind === "exp") exponentKind = 1;
    else if (map.kind === "trig") exponentKind = 2;
    const group = Math.max(1, Math.min(call.group ?? rows, rows));
    const shift = backend.pipeline("features.shift", shiftShader);
    rec.dispatch(shift, uniformWords([
      [rows, "u"], [mode === SHIFT_GROUPED ? group : rows, "u"], [mode, "u"], [exponentKind, "u"],
      [map.keyShift ?? 0, "f"], [masked, "u"], [maskOffset, "u"], [0, "u"],
    ]), [call.stats, mask], [1, 1]);
  }

  if (call.statsOnly) return;

  // 4. The map itself.
  const apply = backend.pipeline(`features.apply:${map.kind}`, () => applyShader(map.kind));
  const words = uniformWords([
    [rows, "u"], [width, "u"], [r, "u"], [mode, "u"], [map.scale, "f"], [map.epsilon, "f"], [masked, "u"], [maskOffset, "u"],
  ]);
  const [gx, gy] = grid(Math.ceil((rows * width) / 64));
  rec.dispatch(apply, words, exponential ? [call.out, mask, call.stats] : [call.out, mask], [gx, gy]);
}
