// WGSL hybrid feature maps: the tensor-product maps Ψ_q and Ψ_k of
// bindings/api/hybrid.ts, as assembly/features/hybrid.ts computes them on
// WASM. encodeHybridFeatureMap records, on buffers already on the device:
//   1. both base maps with encodeFeatureMap, each with its own shift s1_i,
//      s2_i (grouped for causal keys, as for the plain maps);
//   2. the weight features ρ: z = Ω_λ·x (times 1/σ for the Gaussian weight)
//      with the GEMM, then sign(z) (angular, sign(±0) = +1) or
//      [sin z; cos z] (Gaussian) in one kernel;
//   3. the tensor kernel: per row the common shift S_i = max(s1_i, s2_i),
//      f_k = exp(s_k − S_i) <= 1, and one invocation per output element of
//      [c0·f1·φ1 | (c1·f1·ρ_0)·φ1 | … | c2·f2·φ2 | (c3·f2·ρ_0)·φ2 | …].
// The row shifts S_i land where encodeFeatureMap puts a plain map's shifts
// (featureStatsLayout), so the attention kernels read both alike.

import type { HybridFeatureMap } from "../../api/hybrid.js";
import { LINEAR_GROUP, grid, uniformWords, type Binding, type Recorder } from "./encode.js";
import { MATH_WGSL, encodeFeatureMap, featureStatsElements } from "./features.js";

/** The three projections of a hybrid on the device, each rows×dim and contiguous. */
export interface HybridProjectionBindings {
  base1: Binding;
  base2: Binding;
  lambda: Binding;
}

/** Buffers and settings of one hybrid feature-map computation. */
export interface HybridFeatureMapCall {
  map: HybridFeatureMap;
  rows: number;
  /** rows×dim input, contiguous. */
  x: Binding;
  projections: HybridProjectionBindings;
  /** rows×map.outputs result, contiguous; overwritten. */
  out: Binding;
  /** featureStatsElements(rows) scratch; receives the row shifts S_i (featureStatsLayout). */
  stats: Binding;
  /** Optional u32 row flags, 1 = masked (zero features); see FeatureMapCall. */
  mask?: Binding | null;
  maskOffset?: number;
  /** Rows per key-shift group; see FeatureMapCall. */
  group?: number;
}

/** Per-call scratch the caller reads after submit: the base maps' stats, whose largest entries give maxExponent. */
export interface HybridStats {
  base1: Binding;
  base2: Binding;
}

function lambdaShader(gaussian: boolean): string {
  const body = gaussian
    ? `let sc = sincos_f32(v);
  R[i * P.ldr + l] = sc.x;
  R[i * P.ldr + P.width + l] = sc.y;`
    : "R[i * P.ldr + l] = select(select(1.0, -1.0, v < 0.0), v, v != v);";
  return `// hybrid.lambda gaussian=${gaussian}
struct Params { rows: u32, width: u32, ldr: u32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> R: array<f32>;
${MATH_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let index = group * 64u + t;
  if (index >= P.rows * P.width) { return; }
  let i = index / P.width;
  let l = index % P.width;
  let v = R[i * P.ldr + l];
  ${body}
}
`;
}

const TENSOR_WGSL = `// hybrid.tensor
struct Params {
  rows: u32, d1: u32, d2: u32, dl: u32,
  c0: f32, c1: f32, c2: f32, c3: f32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> P1: array<f32>;
@group(0) @binding(2) var<storage, read> P2: array<f32>;
@group(0) @binding(3) var<storage, read> Rho: array<f32>;
@group(0) @binding(4) var<storage, read> S1: array<f32>;
@group(0) @binding(5) var<storage, read> S2: array<f32>;
@group(0) @binding(6) var<storage, read_write> Out: array<f32>;
@group(0) @binding(7) var<storage, read_write> S: array<f32>;
${MATH_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let width = (1u + P.dl) * (P.d1 + P.d2);
  let index = group * 64u + t;
  if (index >= P.rows * width) { return; }
  let i = index / width;
  let o = index % width;
  let s1 = S1[2u * P.rows + i];
  let s2 = S2[2u * P.rows + i];
  let shared_shift = max(s1, s2);
  if (o == 0u) { S[2u * P.rows + i] = shared_shift; }
  let first = (1u + P.dl) * P.d1;
  var value = 0.0;
  if (o < first) {
    let part = o / P.d1;
    let l = o % P.d1;
    let f1 = exp_f32(s1 - shared_shift);
    var coefficient = P.c0 * f1;
    if (part > 0u) { coefficient = (P.c1 * f1) * Rho[i * P.dl + part - 1u]; }
    value = coefficient * P1[i * P.d1 + l];
  } else {
    let rest = o - first;
    let part = rest / P.d2;
    let l = rest % P.d2;
    let f2 = exp_f32(s2 - shared_shift);
    var coefficient = P.c2 * f2;
    if (part > 0u) { coefficient = (P.c3 * f2) * Rho[i * P.dl + part - 1u]; }
    value = coefficient * P2[i * P.d2 + l];
  }
  Out[index] = value;
}
`;

/**
 * Records the hybrid map of `call.rows` rows (see the file header) and
 * returns the base maps' stats buffers: after submit, element 3·rows of
 * each is that base's largest exponent, and maxExponent is the larger one.
 */
export function encodeHybridFeatureMap(rec: Recorder, call: HybridFeatureMapCall): HybridStats {
  const { map, rows } = call;
  const [map1, map2] = map.bases;
  const base1 = rec.scratch(rows * map1.outputs);
  const base2 = rec.scratch(rows * map2.outputs);
  const stats1 = rec.scratch(featureStatsElements(rows));
  const stats2 = rec.scratch(featureStatsElements(rows));
  if (rows === 0) return { base1: stats1, base2: stats2 };
  const rho = rec.scratch(rows * map.lambdaOutputs);
  const masking = { mask: call.mask ?? null, maskOffset: call.maskOffset, group: call.group };

  // 1. The base maps.
  encodeFeatureMap(rec, { map: map1, rows, x: call.x, projection: call.projections.base1, out: base1, stats: stats1, ...masking });
  encodeFeatureMap(rec, { map: map2, rows, x: call.x, projection: call.projections.base2, out: base2, stats: stats2, ...masking });

  // 2. The weight features.
  const gaussian = map.hybrid.lambda === "gaussian";
  const alpha = gaussian ? Math.fround(1 / map.hybrid.sigma) : 1;
  rec.gemm({
    a: call.x, b: call.projections.lambda, c: rho, m: rows, n: map.lambdaFeatures, k: map.dim, transB: true,
    lda: map.dim, ldb: map.dim, ldc: map.lambdaOutputs, alpha,
  });
  const lambda = rec.backend.pipeline(`hybrid.lambda:${gaussian ? "gaussian" : "angular"}`, () => lambdaShader(gaussian));
  const lambdaWords = uniformWords([[rows, "u"], [map.lambdaFeatures, "u"], [map.lambdaOutputs, "u"], [0, "u"]]);
  rec.dispatch(lambda, lambdaWords, [rho], grid(Math.ceil((rows * map.lambdaFeatures) / 64)));

  // 3. The tensor product and the common row shift.
  const [c0, c1, c2, c3] = map.coefficients;
  const tensorWords = uniformWords([
    [rows, "u"], [map1.outputs, "u"], [map2.outputs, "u"], [map.lambdaOutputs, "u"], [c0, "f"], [c1, "f"], [c2, "f"], [c3, "f"],
  ]);
  const tensor = rec.backend.pipeline("hybrid.tensor", () => TENSOR_WGSL);
  rec.dispatch(tensor, tensorWords, [base1, base2, rho, stats1, stats2, call.out, call.stats], grid(Math.ceil((rows * map.outputs) / 64)));
  return { base1: stats1, base2: stats2 };
}
