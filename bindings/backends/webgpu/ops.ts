// Routes favor.matmul between WebGPU and WASM and builds favor.gpu.
// "webgpu" runs every matmul on the GPU; "auto" runs it there when
// 2·m·n·k·batch ≥ minFlops, or when an operand or the output is a GPU
// tensor, and on WASM otherwise. A plan that cannot be tiled under the
// binding limit, or a lost device that cannot be replaced, runs on WASM
// with a logged warning (host arrays only: a tensor's data is gone with its
// device).

import { planMatmul, type MatmulOptions } from "../../api/matmul.js";
import { log } from "../../log.js";
import { describe, requireFloat32Array } from "../../validate.js";
import type { WasmBackend } from "../wasm/backend.js";
import { runMatmul } from "../wasm/ops/matmul.js";
import { GpuTensor, WebGpuBackend } from "./backend.js";
import type { Gpu } from "./gpu-types.js";

export { GpuTensor, WebGpuBackend };
export { makeGpuHouseholderApply } from "./householder.js";
export { makeGpuAttentionBackward } from "./backward.js";

/**
 * Default "auto" threshold: 2·m·n·k·batch ≥ 2^24 floating-point operations
 * (256×256×256 goes to the GPU, 128×128×128 stays on WASM). Chosen so that
 * upload, dispatch and readback latency (tens to hundreds of microseconds)
 * stay small next to the work; it was not measured on a real GPU.
 */
export const DEFAULT_AUTO_MIN_FLOPS = 2 ** 24;

/** Opens the WebGPU backend, or explains why not. `gpu` is navigator.gpu or the option's replacement. */
export async function openWebGpu(gpu: unknown, where: string, maxBindingBytes: number | undefined): Promise<WebGpuBackend> {
  if (gpu === undefined || gpu === null) {
    throw new Error(`no WebGPU entry point: ${where} is ${describe(gpu)} (in Node pass webgpu: { gpu } from the "webgpu" package)`);
  }
  if (typeof (gpu as Gpu).requestAdapter !== "function") {
    throw new TypeError(`${where} has no requestAdapter method (got ${describe(gpu)})`);
  }
  return WebGpuBackend.create({ gpu: gpu as Gpu, maxBindingBytes });
}

/** Options added to matmul by the WebGPU backend. */
export interface GpuMatmulOptions {
  /** "tensor" returns a GpuTensor holding C (same layout as the array); default "array". */
  output?: "array" | "tensor";
}

/** Returns the Promise-returning matmul for a Favor instance with a WebGPU backend. */
export function makeGpuMatmul(wasm: WasmBackend, gpu: WebGpuBackend, mode: "webgpu" | "auto", minFlops: number) {
  return async (a: Float32Array | GpuTensor, b: Float32Array | GpuTensor, options: MatmulOptions & GpuMatmulOptions) => {
    const op = "matmul";
    const output = options?.output ?? "array";
    if (output !== "array" && output !== "tensor") {
      throw new RangeError(`${op}: output is ${describe(output)}, but must be "array" or "tensor"`);
    }
    if (options?.c !== undefined) requireFloat32Array(op, "c", options.c);
    // NOTE: tensors are planned through zero-filled stand-ins of their length; a shape-only planMatmul would avoid the allocation.
    const hostA = a instanceof GpuTensor ? new Float32Array(a.length) : a;
    const hostB = b instanceof GpuTensor ? new Float32Array(b.length) : b;
    const plan = planMatmul(hostA, hostB, options);
    const tensors = a instanceof GpuTensor || b instanceof GpuTensor || output === "tensor";
    const flops = 2 * plan.m * plan.n * plan.k * plan.batch;
    const onGpu = mode === "webgpu" || tensors || flops >= minFlops;
    const shape = `${plan.batch}×${plan.m}×${plan.n}×${plan.k}`;
    const onWasm = (why: string) => {
      if (tensors) throw new Error(`${op}: cannot run on WebGPU (${why}), and GPU tensors cannot fall back to WASM`);
      log.debug(() => `matmul ${shape} on WASM: ${why}`);
      return runMatmul(wasm, plan);
    };
    if (!onGpu) return onWasm(`${flops} flops < the auto threshold ${minFlops}`);
    const device = await gpu.ready();
    if (device === null) {
      log.warn(() => `matmul ${shape}: the WebGPU device is lost; running on WASM`);
      return onWasm("device lost");
    }
    // After ready(): a tensor made before a device replacement is rejected here.
    const bufA = a instanceof GpuTensor ? a.bufferFor(op, gpu) : null;
    const bufB = b instanceof GpuTensor ? b.bufferFor(op, gpu) : null;
    const chunks = gpu.chunks(plan);
    if (chunks === null) {
      log.warn(() => `matmul ${shape}: one row of C needs more than the ${gpu.maxBindingBytes}-byte binding limit; running on WASM`);
      return onWasm("operands exceed the binding limit");
    }
    if (plan.m === 0 || plan.n === 0 || plan.batch === 0) {
      return output === "tensor" ? gpu.tensor(plan.c.subarray(0, plan.extentC), [plan.extentC]) : plan.c;
    }
    log.debug(() => `matmul ${shape} on WebGPU (${gpu.describe()}), ${chunks.length} chunk(s)`);
    if (output === "tensor") {
      const result = gpu.tensor(plan.c.subarray(0, plan.extentC), [plan.extentC]);
      await gpu.matmul(plan, bufA ?? plan.a, bufB ?? plan.b, result.bufferFor(op, gpu), chunks);
      return result;
    }
    try {
      await gpu.matmul(plan, bufA ?? plan.a, bufB ?? plan.b, null, chunks);
    } catch (error) {
      if (!gpu.lost || bufA !== null || bufB !== null) throw error;
      log.warn(() => `matmul ${shape}: the WebGPU device was lost during the call; running on WASM`);
      return runMatmul(wasm, plan);
    }
    return plan.c;
  };
}

/** favor.gpu: GPU tensors and the device. */
export interface FavorGpu {
  /** Uploads data (a copy) into a GPU tensor of the given shape; the product of shape must equal data.length. */
  tensor(data: Float32Array, shape: readonly number[]): GpuTensor;
  /** The adapter behind the device. */
  readonly adapter: { vendor: string; architecture: string; device: string; description: string };
  /** The current GPUDevice (replaced after a device loss), for interop. */
  readonly device: unknown;
}

export function makeGpuNamespace(gpu: WebGpuBackend): FavorGpu {
  return {
    tensor: (data, shape) => {
      const op = "gpu.tensor";
      requireFloat32Array(op, "data", data);
      if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
        throw new TypeError(`${op}: shape must be an array of non-negative integers, got ${describe(shape)}`);
      }
      const size = shape.reduce((p: number, d: number) => p * d, 1);
      if (size !== data.length) {
        throw new RangeError(`${op}: shape [${shape.join(", ")}] holds ${size} elements, but data has length ${data.length}`);
      }
      return gpu.tensor(data, shape);
    },
    adapter: gpu.adapter,
    get device() {
      return gpu.device;
    },
  };
}

export { makeGpuAttention, makeGpuFeatures } from "./routes.js";
