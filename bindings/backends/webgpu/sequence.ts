// A sequence of compute dispatches on buffers that stay on the GPU, for ops
// built from several kernels (householder.apply, the attention backward).
// Each step binds whole buffers from offset 0, the uniforms first at
// binding 0. All steps go into one compute pass of one command buffer:
// WebGPU makes each dispatch's storage writes visible to the dispatches
// after it, so a step may read what an earlier step wrote.
//
// GEMM steps use the tiled WGSL GEMM of gemm.ts, with operands that start
// at element 0 of their buffers and a batch of 1 unless given.

import { GEMM_UNIFORM_BYTES, gemmKey, gemmShader, gemmVariant, TILE_M, TILE_N } from "./gemm.js";
import type { WebGpuBackend } from "./backend.js";
import { USAGE, type GpuBuffer } from "./gpu-types.js";

/** One GEMM C = alpha·op(A)·op(B) + beta·C; sizes, leading dimensions and strides in elements. */
export interface GemmStep {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  alpha: number;
  beta: number;
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
}

interface Step {
  pipeline: { getBindGroupLayout(i: number): unknown };
  uniforms: GpuBuffer;
  buffers: GpuBuffer[];
  groups: [number, number, number];
}

/** Storage buffers and uniform blocks of one op, released together by dispose(). */
export class GpuSequence {
  readonly gpu: WebGpuBackend;
  #steps: Step[] = [];
  #owned: GpuBuffer[] = [];
  #uniforms: GpuBuffer[] = [];

  constructor(gpu: WebGpuBackend) {
    this.gpu = gpu;
  }

  /** Returns a pooled buffer of at least `elements` float32 values, uploading `data` when given. */
  buffer(elements: number, data?: Float32Array): GpuBuffer {
    const buffer = this.gpu.acquire(Math.max(1, elements) * 4);
    this.#owned.push(buffer);
    if (data !== undefined && data.length > 0) this.gpu.device.queue.writeBuffer(buffer, 0, data, 0, data.length);
    return buffer;
  }

  /**
   * Adds one dispatch of the pipeline cached under `key` (compiled from
   * `code()`), with `uniforms` at binding 0 and `buffers` at bindings 1, 2, ….
   */
  dispatch(key: string, code: () => string, uniforms: ArrayBuffer, buffers: GpuBuffer[], groups: [number, number, number]): void {
    const pipeline = this.gpu.pipeline(key, code);
    const size = Math.max(16, Math.ceil(uniforms.byteLength / 16) * 16);
    const block = this.gpu.device.createBuffer({ size, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    this.#uniforms.push(block);
    this.gpu.device.queue.writeBuffer(block, 0, new Uint8Array(uniforms));
    this.#steps.push({ pipeline, uniforms: block, buffers, groups });
  }

  /** Adds one GEMM on whole buffers (operands from element 0). */
  gemm(step: GemmStep, a: GpuBuffer, b: GpuBuffer, c: GpuBuffer): void {
    const batch = step.batch ?? 1;
    const strideA = step.strideA ?? 0;
    const strideB = step.strideB ?? 0;
    const strideC = step.strideC ?? 0;
    if (step.m === 0 || step.n === 0 || batch === 0) return;
    const variant = gemmVariant({ ...step, batch, strideA, strideB });
    const words = new ArrayBuffer(GEMM_UNIFORM_BYTES);
    new Uint32Array(words, 0, 9).set([step.m, step.n, step.k, step.lda, step.ldb, step.ldc, strideA, strideB, strideC]);
    new Float32Array(words, 36, 2).set([step.alpha, step.beta]);
    this.dispatch(gemmKey(variant), () => gemmShader(variant), words, [a, b, c],
      [Math.ceil(step.n / TILE_N), Math.ceil(step.m / TILE_M), batch]);
  }

  /** Records every step into one compute pass and submits it. */
  submit(): void {
    const device = this.gpu.device;
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const step of this.#steps) {
      const group = device.createBindGroup({
        layout: step.pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: step.uniforms } },
          ...step.buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer, offset: 0, size: buffer.size } })),
        ],
      });
      pass.setPipeline(step.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(...step.groups);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
    this.#steps = [];
  }

  /** Copies `out.length` values from the start of `buffer` into `out`. */
  async read(buffer: GpuBuffer, out: Float32Array): Promise<void> {
    await this.gpu.readInto(buffer, 0, out);
  }

  /** Returns the storage buffers to the pool and destroys the uniform blocks. */
  dispose(): void {
    for (const buffer of this.#owned) this.gpu.release(buffer);
    for (const block of this.#uniforms) block.destroy();
    this.#owned = [];
    this.#uniforms = [];
  }
}

/**
 * Runs `body` with a sequence inside validation and out-of-memory error
 * scopes, then releases its buffers. Throws an Error naming `op` when WebGPU
 * reported an error.
 */
export async function withSequence<T>(gpu: WebGpuBackend, op: string, body: (sequence: GpuSequence) => Promise<T>): Promise<T> {
  const device = gpu.device;
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  const sequence = new GpuSequence(gpu);
  let result: T | undefined;
  let failure: { error: unknown } | null = null;
  try {
    result = await body(sequence);
  } catch (error) {
    failure = { error };
  }
  const validation = await device.popErrorScope();
  const memory = await device.popErrorScope();
  sequence.dispose();
  // An error thrown by body comes first; WebGPU's own error is raised only after a normal return.
  if (failure !== null) throw failure.error;
  const error = validation ?? memory;
  if (error !== null) throw new Error(`${op}: WebGPU rejected a dispatch: ${error.message}`);
  return result as T;
}
