// householder.apply on WebGPU, in the compact WY form of
// bindings/backends/wasm/ops/householder.ts:
//   U = V·diag(1/‖v_j‖),  S = 𝒫(UᵀU) = striu(UᵀU) + ½·diag(UᵀU),
//   Q·X = X − U·S⁻¹·Uᵀ·X,  Qᵀ·X = X − U·S⁻ᵀ·Uᵀ·X.
// Five dispatches in one submission (a Recorder of encode.ts), every
// intermediate on the GPU:
//   1. householder_normalize: U (n×k, the layout of V), one invocation per column;
//   2. GEMM G = UᵀU (k×k), of which the solve reads the upper triangle;
//   3. GEMM Z = Uᵀ·X (k×cols);
//   4. householder_solve: Z ← S⁻¹·Z (or S⁻ᵀ·Z), one invocation per column of Z;
//   5. GEMM X ← X − U·Z, in X's buffer, which is then read back.
// The k×k triangular solve runs on the GPU because it sits between two GEMMs:
// on WASM it would cost a readback and an upload per call. It does k²·cols/2
// multiply-adds, serial in k within a column, next to n·k·(2·cols + k) in
// the GEMMs. All sums accumulate in float32.
//
// Runs on WASM instead (same results within the tolerances of
// docs/householder.md): method "sequential"; any non-finite entry of V or X,
// because WGSL lets implementations assume that values are finite; and
// operands over the binding limit or grids over the workgroup limit, with a
// logged warning.

import { allFinite } from "./finite.js";
import { planApply, type HouseholderApplyOptions } from "../../api/householder.js";
import { log } from "../../log.js";
import type { WasmBackend } from "../wasm/backend.js";
import { runHouseholderForward } from "../wasm/ops/householder.js";
import type { WebGpuBackend } from "./backend.js";
import { grid, LINEAR_GROUP, Recorder, uniformWords } from "./encode.js";

/** Invocations per workgroup of the column kernels. */
const COLUMN_GROUP = 64;

/** WGSL of step 1: u_ij = v_ij/‖v_j‖ with the norm scaled by max_i |v_ij|, so it neither overflows nor underflows. */
export function normalizeShader(): string {
  return `// householder_normalize
struct Params { n: u32, k: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> V: array<f32>;
@group(0) @binding(2) var<storage, read_write> U: array<f32>;

@compute @workgroup_size(${COLUMN_GROUP})
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let j = group * ${COLUMN_GROUP}u + t;
  if (j >= P.k) { return; }
  var scale = 0.0;
  for (var i = 0u; i < P.n; i++) { scale = max(scale, abs(V[i * P.k + j])); }
  var sum = 0.0;
  for (var i = 0u; i < P.n; i++) {
    let x = V[i * P.k + j] / scale;
    sum = sum + x * x;
  }
  let root = sqrt(sum);
  for (var i = 0u; i < P.n; i++) { U[i * P.k + j] = V[i * P.k + j] / scale / root; }
}
`;
}

/**
 * WGSL of step 4: solves S·Z = Y (transpose false, S upper triangular, from
 * the last row up) or Sᵀ·Z = Y (from the first row down) for one column of
 * the k×cols Z per invocation, in place. S_ij = G_ij above the diagonal and
 * S_ii = G_ii/2, read from the Gram matrix G = UᵀU.
 */
export function solveShader(transpose: boolean): string {
  const body = transpose
    ? `for (var i = 0u; i < P.k; i++) {
    var sum = Z[i * P.cols + c];
    for (var j = 0u; j < i; j++) { sum = sum - G[j * P.k + i] * Z[j * P.cols + c]; }
    Z[i * P.cols + c] = sum / (0.5 * G[i * P.k + i]);
  }`
    : `for (var r = 0u; r < P.k; r++) {
    let i = P.k - 1u - r;
    var sum = Z[i * P.cols + c];
    for (var j = i + 1u; j < P.k; j++) { sum = sum - G[i * P.k + j] * Z[j * P.cols + c]; }
    Z[i * P.cols + c] = sum / (0.5 * G[i * P.k + i]);
  }`;
  return `// ${solveKey(transpose)}
struct Params { k: u32, cols: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> Z: array<f32>;

@compute @workgroup_size(${COLUMN_GROUP})
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${LINEAR_GROUP}
  let c = group * ${COLUMN_GROUP}u + t;
  if (c >= P.cols) { return; }
  ${body}
}
`;
}

/** Pipeline cache key of the solve kernel. */
export function solveKey(transpose: boolean): string {
  return `householder_solve:t=${transpose ? 1 : 0}`;
}

/** Floating-point operations of one CWY apply: the Gram matrix, the two GEMMs and the solve. */
export function householderApplyFlops(n: number, k: number, cols: number): number {
  return 2 * n * k * k + 4 * n * k * cols + k * k * cols;
}

/**
 * Returns why householder.apply with these sizes cannot run on the GPU
 * (an operand over the binding limit, or a grid over the workgroup limit),
 * or null when it can.
 */
export function householderLimitProblem(gpu: WebGpuBackend, n: number, k: number, cols: number): string | null {
  const largest = Math.max(n * k, n * cols, k * k, k * cols) * 4;
  if (largest > gpu.maxBindingBytes) {
    return `an operand needs ${largest} bytes, over the ${gpu.maxBindingBytes}-byte storage binding limit`;
  }
  // The GEMM grids are ⌈rows/64⌉ × ⌈cols/64⌉; the column kernels wrap their grid into y.
  const groups = Math.max(Math.ceil(Math.max(n, k) / 64), Math.ceil(cols / 64));
  if (groups > gpu.device.limits.maxComputeWorkgroupsPerDimension) {
    return `${groups} GEMM workgroups in one dimension exceed maxComputeWorkgroupsPerDimension`;
  }
  return null;
}

/** Returns the Promise-returning householder.apply of a Favor instance with a WebGPU backend. */
export function makeGpuHouseholderApply(wasm: WasmBackend, gpu: WebGpuBackend, mode: "webgpu" | "auto", minFlops: number) {
  return async (v: Float32Array, x: Float32Array, options: HouseholderApplyOptions): Promise<Float32Array> => {
    const plan = planApply(v, x, options);
    const { n, k, cols } = plan;
    const shape = `n ${n}, k ${k}, cols ${cols}`;
    const onWasm = (why: string, level: "debug" | "warn" = "debug") => {
      log[level](() => `householder.apply (${shape}) on WASM: ${why}`);
      return runHouseholderForward(wasm, plan);
    };
    if (plan.method === "sequential") return onWasm(`method "sequential" has no WGSL path`);
    const flops = householderApplyFlops(n, k, cols);
    if (mode === "auto" && flops < minFlops) return onWasm(`${flops} flops < the auto threshold ${minFlops}`);
    if (!allFinite(plan.v) || !allFinite(plan.x!)) {
      return onWasm("an input is not finite, and WGSL lets implementations assume finite values");
    }
    const device = await gpu.ready();
    if (device === null) return onWasm("the WebGPU device is lost", "warn");
    const problem = householderLimitProblem(gpu, n, k, cols);
    if (problem !== null) return onWasm(problem, "warn");

    log.debug(() => `householder.apply (${shape}) on WebGPU (${gpu.describe()})`);
    try {
      await Recorder.run(gpu, "householder.apply", async (rec) => {
        const bufV = rec.upload(plan.v);
        const bufX = rec.upload(plan.x!);
        const bufU = rec.scratch(n * k);
        const bufG = rec.scratch(k * k);
        const bufZ = rec.scratch(k * cols);
        const sizes = (a: number, b: number) => uniformWords([[a, "u"], [b, "u"], [0, "u"], [0, "u"]]);
        rec.dispatch(gpu.pipeline("householder_normalize", normalizeShader), sizes(n, k), [bufV, bufU],
          grid(Math.ceil(k / COLUMN_GROUP)));
        rec.gemm({ a: bufU, b: bufU, c: bufG, m: k, n: k, k: n, transA: true, lda: k, ldb: k, ldc: k });
        rec.gemm({ a: bufU, b: bufX, c: bufZ, m: k, n: cols, k: n, transA: true, lda: k, ldb: cols, ldc: cols });
        rec.dispatch(gpu.pipeline(solveKey(plan.transpose), () => solveShader(plan.transpose)), sizes(k, cols), [bufG, bufZ],
          grid(Math.ceil(cols / COLUMN_GROUP)));
        rec.gemm({ a: bufU, b: bufZ, c: bufX, m: n, n: cols, k, lda: k, ldb: cols, ldc: cols, alpha: -1, beta: 1 });
        await rec.submit("householder.apply");
        await gpu.readInto(bufX.buffer, 0, plan.out);
      });
    } catch (error) {
      if (!gpu.lost) throw error;
      return onWasm("the WebGPU device was lost during the call", "warn");
    }
    return plan.out;
  };
}
