// Records a sequence of compute dispatches on buffers that stay on the
// device, for ops made of several kernels (feature maps, attention). One
// Recorder is one command buffer: every dispatch gets its own compute pass,
// so each pass sees the writes of the passes before it. Uniform buffers and
// pooled scratch buffers live until finish(), which submits the work, waits
// for WebGPU's validation and out-of-memory scopes, and returns the buffers.
//
// Units: offsets, counts and strides are float32 elements (or u32 for masks).
// Every binding starts at element 0 of its buffer; kernels take offsets as
// uniforms instead, because binding offsets must be multiples of 256 bytes.

import type { WebGpuBackend } from "./backend.js";
import { GEMM_UNIFORM_BYTES, gemmVariant, TILE_M, TILE_N } from "./gemm.js";
import { USAGE, type GpuBuffer, type GpuCommandEncoder, type GpuDevice, type GpuPipeline } from "./gpu-types.js";

/** A storage binding: the buffer and the number of 4-byte elements the kernel may touch. */
export interface Binding {
  buffer: GpuBuffer;
  elements: number;
}

/** Operands of one GEMM dispatch: C = alpha·op(A)·op(B) + beta·C over `batch` matrices. */
export interface GemmCall {
  a: Binding;
  b: Binding;
  c: Binding;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  alpha?: number;
  beta?: number;
}

/** Workgroups of one dimension at most (the WebGPU default of maxComputeWorkgroupsPerDimension). */
const MAX_GROUPS = 65535;

/**
 * Returns a two-dimensional grid of at least `groups` workgroups whose x
 * extent fits the per-dimension limit. Kernels number their workgroup
 * wid.x + wid.y·num_workgroups.x and return when it is past the end.
 */
export function grid(groups: number): [number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(groups, 1), 1];
  return [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS)];
}

/** WGSL lines that give `group`, the linear workgroup index of a grid() dispatch. */
export const LINEAR_GROUP = "let group = wid.y * nwg.x + wid.x;";

export class Recorder {
  readonly device: GpuDevice;
  readonly encoder: GpuCommandEncoder;
  #backend: WebGpuBackend;
  #uniforms: GpuBuffer[] = [];
  #pooled: GpuBuffer[] = [];
  #finished = false;

  private constructor(backend: WebGpuBackend) {
    this.#backend = backend;
    this.device = backend.device;
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    this.encoder = this.device.createCommandEncoder();
  }

  /** The backend whose device and pipeline cache this recorder uses. */
  get backend(): WebGpuBackend {
    return this.#backend;
  }

  /** Returns a pooled scratch buffer of `elements` 4-byte values, returned to the pool by finish(). */
  scratch(elements: number): Binding {
    const buffer = this.#backend.acquire(elements * 4);
    this.#pooled.push(buffer);
    return { buffer, elements };
  }

  /** Returns a pooled buffer holding a copy of `data`. */
  upload(data: Float32Array | Uint32Array): Binding {
    const binding = this.scratch(data.length);
    if (data.length > 0) this.device.queue.writeBuffer(binding.buffer, 0, data, 0, data.length);
    return binding;
  }

  /** Records a copy of `elements` values from src[srcOffset] to dst[dstOffset]. */
  copy(src: GpuBuffer, srcOffset: number, dst: GpuBuffer, dstOffset: number, elements: number): void {
    if (elements > 0) this.encoder.copyBufferToBuffer(src, srcOffset * 4, dst, dstOffset * 4, elements * 4);
  }

  /**
   * Records one dispatch. `uniforms` becomes binding 0; `bindings` become
   * bindings 1, 2, … in order, so the shader must declare and use exactly those.
   */
  dispatch(pipeline: GpuPipeline, uniforms: ArrayBuffer, bindings: Binding[], groups: [number, number, number?]): void {
    const uniform = this.device.createBuffer({ size: Math.max(16, Math.ceil(uniforms.byteLength / 16) * 16), usage: USAGE.UNIFORM | USAGE.COPY_DST });
    this.#uniforms.push(uniform);
    this.device.queue.writeBuffer(uniform, 0, new Uint8Array(uniforms));
    const entries = [{ binding: 0, resource: { buffer: uniform } }];
    bindings.forEach((b, i) => {
      const size = Math.min(b.buffer.size, Math.max(16, Math.ceil(b.elements / 4) * 16));
      entries.push({ binding: i + 1, resource: { buffer: b.buffer, offset: 0, size } as never });
    });
    const group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2] ?? 1);
    pass.end();
  }

  /** Records one GEMM dispatch (no chunking: every operand must fit one binding). */
  gemm(call: GemmCall): void {
    const batch = call.batch ?? 1;
    if (call.m === 0 || call.n === 0 || batch === 0) return;
    const transA = call.transA ?? false;
    const transB = call.transB ?? false;
    const strideA = call.strideA ?? 0;
    const strideB = call.strideB ?? 0;
    const strideC = call.strideC ?? 0;
    const variant = gemmVariant({ m: call.m, n: call.n, k: call.k, batch, transA, transB, lda: call.lda, ldb: call.ldb, strideA, strideB });
    const pipeline = this.#backend.gemmPipeline(variant);
    const words = new ArrayBuffer(GEMM_UNIFORM_BYTES);
    new Uint32Array(words, 0, 9).set([call.m, call.n, call.k, call.lda, call.ldb, call.ldc, strideA, strideB, strideC]);
    new Float32Array(words, 36, 2).set([call.alpha ?? 1, call.beta ?? 0]);
    this.dispatch(pipeline, words, [call.a, call.b, call.c], [Math.ceil(call.n / TILE_N), Math.ceil(call.m / TILE_M), batch]);
  }

  /**
   * Submits the recorded work and waits for WebGPU's error scopes. Throws an
   * Error naming `op` when WebGPU reported a validation or out-of-memory
   * error. Buffers stay valid for reading until run() returns.
   */
  async submit(op: string): Promise<void> {
    if (this.#finished) throw new Error(`${op}: the WebGPU recorder was already submitted`);
    this.#finished = true;
    this.device.queue.submit([this.encoder.finish()]);
    await this.#popScopes(op);
  }

  async #popScopes(op: string): Promise<void> {
    const validation = await this.device.popErrorScope();
    const memory = await this.device.popErrorScope();
    const error = validation ?? memory;
    if (error !== null) throw new Error(`${op}: WebGPU rejected a dispatch: ${error.message}`);
  }

  /**
   * Runs `body` with a new recorder and then returns every buffer it took:
   * uniforms are destroyed, scratch goes back to the pool. When body throws
   * before submit(), the error scopes are closed and nothing is submitted.
   */
  static async run<T>(backend: WebGpuBackend, op: string, body: (rec: Recorder) => Promise<T>): Promise<T> {
    const rec = new Recorder(backend);
    try {
      return await body(rec);
    } finally {
      if (!rec.#finished) {
        rec.#finished = true;
        await rec.#popScopes(op).catch(() => undefined);
      }
      for (const buffer of rec.#uniforms) buffer.destroy();
      for (const buffer of rec.#pooled) backend.release(buffer);
    }
  }
}

/** Packs uniform words, each a [value, type] pair with type "u" (u32), "i" (i32) or "f" (f32), padded to 16 bytes. */
export function uniformWords(values: [number, "u" | "f" | "i"][]): ArrayBuffer {
  const words = new ArrayBuffer(Math.max(16, Math.ceil((values.length * 4) / 16) * 16));
  const u = new Uint32Array(words);
  const f = new Float32Array(words);
  const i = new Int32Array(words);
  values.forEach(([value, type], index) => {
    if (type === "u") u[index] = value;
    else if (type === "i") i[index] = value;
    else f[index] = value;
  });
  return words;
}
