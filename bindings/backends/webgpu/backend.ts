// The WebGPU backend: adapter and device, a pipeline cache, a buffer pool,
// GPU tensors and the GEMM driver. favor.ts loads this module with a dynamic
// import only when createFavor asks for "webgpu" or "auto", so importing
// the library never touches navigator.gpu. Ops other than matmul run on the
// WASM backend (docs/webgpu.md lists which op runs where).

import type { MatmulPlan } from "../../api/matmul.js";
import { log } from "../../log.js";
import { GEMM_UNIFORM_BYTES, gemmKey, gemmShader, gemmVariant, TILE_M, TILE_N, type GemmVariant } from "./gemm.js";
import { MAP_READ, USAGE, type Gpu, type GpuAdapter, type GpuAdapterInfo, type GpuBuffer, type GpuDevice, type GpuPipeline } from "./gpu-types.js";

/** Adapter description shown in favor.info.gpu. */
export interface GpuAdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/** Options of WebGpuBackend.create. */
export interface WebGpuBackendOptions {
  /** The navigator.gpu-like entry point. */
  gpu: Gpu;
  /** Lowers the storage binding limit used for tiling (tests); bytes. */
  maxBindingBytes?: number;
}

const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
/** Smallest pooled buffer; every pooled size is a multiple of 16 bytes so vec4 bindings fit. */
const MIN_POOL_BYTES = 256;
/** Free buffers kept per size class. */
const POOL_PER_CLASS = 4;

const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;

/** Returns the number of elements a strided batch of rows×cols matrices spans. */
function extent(batch: number, rows: number, cols: number, ld: number, stride: number): number {
  if (batch === 0 || rows === 0 || cols === 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

function summarize(info: GpuAdapterInfo | undefined): GpuAdapterSummary {
  return {
    vendor: info?.vendor ?? "",
    architecture: info?.architecture ?? "",
    device: info?.device ?? "",
    description: info?.description ?? "",
  };
}

/** A float32 array that lives in a GPU buffer. Create it with favor.gpu.tensor. */
export class GpuTensor {
  readonly shape: readonly number[];
  /** Number of float32 elements. */
  readonly length: number;
  #backend: WebGpuBackend;
  #buffer: GpuBuffer | null;
  #generation: number;

  /** @internal */
  constructor(backend: WebGpuBackend, buffer: GpuBuffer, shape: readonly number[], length: number) {
    this.#backend = backend;
    this.#buffer = buffer;
    this.#generation = backend.generation;
    this.shape = Object.freeze([...shape]);
    this.length = length;
  }

  /** The tensor's buffer; throws when it was destroyed or its device was lost. @internal */
  bufferFor(op: string, backend: WebGpuBackend): GpuBuffer {
    if (backend !== this.#backend) throw new TypeError(`${op}: the tensor belongs to another Favor instance`);
    if (this.#buffer === null) throw new TypeError(`${op}: the tensor was destroyed`);
    if (this.#generation !== backend.generation) {
      throw new Error(`${op}: the tensor's GPU device was lost, so its contents are gone; create it again from its data`);
    }
    return this.#buffer;
  }

  /** Copies the tensor back into a new Float32Array. */
  async read(): Promise<Float32Array> {
    const buffer = this.bufferFor("tensor.read", this.#backend);
    const out = new Float32Array(this.length);
    await this.#backend.readInto(buffer, 0, out);
    return out;
  }

  /** Returns the buffer to the pool; the tensor cannot be used afterwards. Calling it twice is allowed. */
  destroy(): void {
    if (this.#buffer === null) return;
    if (this.#generation === this.#backend.generation) this.#backend.release(this.#buffer);
    this.#buffer = null;
  }
}

/** One piece of a matmul whose operands fit the binding limit. Offsets and extents in elements. */
interface Chunk {
  b0: number; nb: number; i0: number; mi: number;
  offA: number; extA: number; offB: number; extB: number; offC: number; extC: number;
}

/** An operand: host data or a GPU tensor. */
type Source = Float32Array | GpuBuffer;

export class WebGpuBackend {
  readonly adapter: GpuAdapterSummary;
  /** Increases each time the device is replaced; tensors of older generations are invalid. */
  generation = 0;
  #gpu: Gpu;
  #adapter: GpuAdapter;
  #device: GpuDevice;
  #lost: string | null = null;
  #maxBindingBytes: number | undefined;
  #pipelines = new Map<string, { pipeline: GpuPipeline }>();
  #pool = new Map<number, GpuBuffer[]>();

  private constructor(gpu: Gpu, adapter: GpuAdapter, device: GpuDevice, maxBindingBytes: number | undefined) {
    this.#gpu = gpu;
    this.#adapter = adapter;
    this.#device = device;
    this.#maxBindingBytes = maxBindingBytes;
    this.adapter = summarize(adapter.info);
    this.#watch(device);
  }

  /**
   * Requests an adapter and a device. Throws an Error that names what was
   * found when there is no adapter or the device request fails.
   */
  static async create(options: WebGpuBackendOptions): Promise<WebGpuBackend> {
    const adapter = await options.gpu.requestAdapter({ powerPreference: "high-performance" });
    if (adapter === null || adapter === undefined) {
      throw new Error("requestAdapter() returned null: WebGPU is exposed, but no adapter is available");
    }
    const device = await adapter.requestDevice({ requiredLimits: requestedLimits(adapter) });
    const backend = new WebGpuBackend(options.gpu, adapter, device, options.maxBindingBytes);
    log.debug(() => `WebGPU device on ${backend.describe()}`);
    return backend;
  }

  /** "vendor architecture description", or "an unnamed adapter". */
  describe(): string {
    const text = [this.adapter.vendor, this.adapter.architecture, this.adapter.description].filter((s) => s !== "").join(" ");
    return text === "" ? "an unnamed adapter" : text;
  }

  /** The current device (replaced after a device loss). */
  get device(): GpuDevice {
    return this.#device;
  }

  /** True when the device was lost and could not be replaced yet. */
  get lost(): boolean {
    return this.#lost !== null;
  }

  #watch(device: GpuDevice): void {
    device.lost.then((info) => {
      if (device !== this.#device) return;
      this.#lost = `${info.reason || "unknown"}${info.message ? `: ${info.message}` : ""}`;
      log.warn(() => `WebGPU device lost (${this.#lost}); the next GPU call requests a new device`);
    });
  }

  /**
   * Returns a usable device, replacing a lost one. Returns null when no new
   * device can be obtained; the caller then runs on WASM.
   */
  async ready(): Promise<GpuDevice | null> {
    if (this.#lost === null) return this.#device;
    try {
      const adapter = await this.#gpu.requestAdapter({ powerPreference: "high-performance" });
      if (adapter === null || adapter === undefined) throw new Error("requestAdapter() returned null");
      const device = await adapter.requestDevice({ requiredLimits: requestedLimits(adapter) });
      this.#adapter = adapter;
      this.#device = device;
      this.#lost = null;
      this.generation++;
      this.#pipelines.clear();
      this.#pool.clear();
      this.#watch(device);
      log.warn(() => `WebGPU device replaced after a loss; GPU tensors made before it are invalid`);
      return device;
    } catch (error) {
      log.warn(() => `WebGPU device lost and not replaceable (${(error as Error)?.message ?? String(error)}); running on WASM`);
      return null;
    }
  }

  /** The binding limit in bytes used for tiling. */
  get maxBindingBytes(): number {
    const real = this.#device.limits.maxStorageBufferBindingSize;
    return this.#maxBindingBytes === undefined ? real : Math.min(real, this.#maxBindingBytes);
  }

  /** Returns a pooled storage buffer of at least `bytes` bytes (multiple of 16, at least 256). */
  acquire(bytes: number): GpuBuffer {
    const size = this.#sizeClass(bytes);
    const free = this.#pool.get(size);
    const reused = free?.pop();
    if (reused !== undefined) return reused;
    return this.#device.createBuffer({ size, usage: STORAGE_USAGE });
  }

  /** Returns a buffer from acquire to the pool, or destroys it when its class is full. */
  release(buffer: GpuBuffer): void {
    const free = this.#pool.get(buffer.size) ?? [];
    if (free.length >= POOL_PER_CLASS) {
      buffer.destroy();
      return;
    }
    free.push(buffer);
    this.#pool.set(buffer.size, free);
  }

  /** Number of free buffers in the pool (for tests). */
  get pooledBuffers(): number {
    let count = 0;
    for (const free of this.#pool.values()) count += free.length;
    return count;
  }

  #sizeClass(bytes: number): number {
    const wanted = Math.max(MIN_POOL_BYTES, roundUp(bytes, 16));
    const pow2 = 2 ** Math.ceil(Math.log2(wanted));
    return pow2 <= this.#device.limits.maxBufferSize ? pow2 : wanted;
  }

  /** Uploads data into a new tensor. */
  tensor(data: Float32Array, shape: readonly number[]): GpuTensor {
    const buffer = this.acquire(data.length * 4);
    if (data.length > 0) this.#device.queue.writeBuffer(buffer, 0, data, 0, data.length);
    return new GpuTensor(this, buffer, shape, data.length);
  }

  /** Copies out.length elements starting at element `offset` of `buffer` into out. */
  async readInto(buffer: GpuBuffer, offset: number, out: Float32Array): Promise<void> {
    if (out.length === 0) return;
    const bytes = out.length * 4;
    const staging = this.#device.createBuffer({ size: roundUp(bytes, 4), usage: USAGE.MAP_READ | USAGE.COPY_DST });
    try {
      const encoder = this.#device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, offset * 4, staging, 0, bytes);
      this.#device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MAP_READ, 0, bytes);
      out.set(new Float32Array(staging.getMappedRange(0, bytes).slice(0)));
      staging.unmap();
    } finally {
      staging.destroy();
    }
  }

  #pipeline(variant: GemmVariant) {
    return this.pipeline(gemmKey(variant), () => gemmShader(variant));
  }

  /**
   * Returns the compute pipeline cached under `key`, compiling `code()` on
   * the first request. The key must name every choice that changes the
   * shader text; shapes travel as uniforms and never belong in it.
   */
  pipeline(key: string, code: () => string): GpuPipeline {
    let entry = this.#pipelines.get(key);
    if (entry === undefined) {
      const module = this.#device.createShaderModule({ code: code(), label: key });
      const pipeline = this.#device.createComputePipeline({ layout: "auto", label: key, compute: { module, entryPoint: "main" } });
      entry = { pipeline };
      this.#pipelines.set(key, entry);
      log.debug(() => `WebGPU pipeline compiled: ${key}`);
    }
    return entry.pipeline;
  }

  /** Returns the cached GEMM pipeline of a variant (encode.ts records GEMM dispatches with it). */
  gemmPipeline(variant: GemmVariant): GpuPipeline {
    return this.#pipeline(variant);
  }

  /** Number of cached pipelines (for tests). */
  get cachedPipelines(): number {
    return this.#pipelines.size;
  }

  /**
   * Splits a plan into chunks whose A, B and C extents each fit the binding
   * limit and whose grid fits maxComputeWorkgroupsPerDimension: first along
   * the batch, then along the rows of C. Returns null when even one row of
   * one batch item does not fit (B alone too large, or Aᵀ whose k rows span
   * more than the limit); the caller then runs on WASM.
   */
  chunks(plan: MatmulPlan): Chunk[] | null {
    const { batch, m, n, k, transA, transB, lda, ldb, ldc, strideA, strideB, strideC } = plan;
    const limit = Math.floor(this.maxBindingBytes / 16) * 4;
    const maxGroups = this.#device.limits.maxComputeWorkgroupsPerDimension;
    if (Math.ceil(n / TILE_N) > maxGroups) return null;
    const rowsB = transB ? n : k;
    const colsB = transB ? k : n;
    const sizes = (nb: number, mi: number) => ({
      extA: transA ? extent(nb, k, mi, lda, strideA) : extent(nb, mi, k, lda, strideA),
      extB: extent(nb, rowsB, colsB, ldb, strideB),
      extC: extent(nb, mi, n, ldc, strideC),
    });
    const fits = (nb: number, mi: number) => {
      const s = sizes(nb, mi);
      return s.extA <= limit && s.extB <= limit && s.extC <= limit && nb <= maxGroups && Math.ceil(mi / TILE_M) <= maxGroups;
    };
    let nb = batch;
    let mi = m;
    while (!fits(nb, mi)) {
      if (nb > 1) nb = Math.ceil(nb / 2);
      else if (mi > 1) mi = Math.ceil(mi / 2);
      else return null;
    }
    const out: Chunk[] = [];
    for (let b0 = 0; b0 < batch; b0 += nb) {
      const nbHere = Math.min(nb, batch - b0);
      for (let i0 = 0; i0 < m; i0 += mi) {
        const miHere = Math.min(mi, m - i0);
        const s = sizes(nbHere, miHere);
        out.push({
          b0, nb: nbHere, i0, mi: miHere,
          offA: b0 * strideA + (transA ? i0 : i0 * lda), extA: s.extA,
          offB: b0 * strideB, extB: s.extB,
          offC: b0 * strideC + i0 * ldc, extC: s.extC,
        });
      }
    }
    return out;
  }

  /**
   * Runs a validated plan. `a` and `b` are the plan's arrays or tensor
   * buffers. With `out` null the result is written into plan.c (and
   * returned); otherwise into the buffer `out`, which must hold plan.c's
   * extent and already contain plan.c (elements that no chunk writes keep
   * it). `chunks` comes from chunks(plan). Throws when WebGPU reports an error.
   */
  async matmul(plan: MatmulPlan, a: Source, b: Source, out: GpuBuffer | null, chunks: Chunk[]): Promise<void> {
    const device = this.#device;
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    const held: GpuBuffer[] = [];
    const stage = (source: Source, offset: number, count: number, whole: boolean): GpuBuffer => {
      if (!(source instanceof Float32Array) && whole && offset === 0) return source;
      const buffer = this.acquire(count * 4);
      held.push(buffer);
      if (count === 0) return buffer;
      if (source instanceof Float32Array) {
        device.queue.writeBuffer(buffer, 0, source, offset, count);
      } else {
        const encoder = device.createCommandEncoder();
        encoder.copyBufferToBuffer(source, offset * 4, buffer, 0, count * 4);
        device.queue.submit([encoder.finish()]);
      }
      return buffer;
    };
    try {
      const single = chunks.length === 1;
      for (const chunk of chunks) {
        const variant = gemmVariant({ ...plan, m: chunk.mi, batch: chunk.nb });
        const pipeline = this.#pipeline(variant);
        const bufA = stage(a, chunk.offA, chunk.extA, single);
        const bufB = stage(b, chunk.offB, chunk.extB, single);
        // C always goes through a chunk buffer: it is read back or copied into `out` at offC.
        const bufC = stage(out ?? plan.c, chunk.offC, chunk.extC, false);
        const uniforms = device.createBuffer({ size: GEMM_UNIFORM_BYTES, usage: USAGE.UNIFORM | USAGE.COPY_DST });
        const words = new ArrayBuffer(GEMM_UNIFORM_BYTES);
        new Uint32Array(words, 0, 9).set([
          chunk.mi, plan.n, plan.k, plan.lda, plan.ldb, plan.ldc, plan.strideA, plan.strideB, plan.strideC,
        ]);
        new Float32Array(words, 36, 2).set([plan.alpha, plan.beta]);
        device.queue.writeBuffer(uniforms, 0, new Uint8Array(words));
        const bind = (buffer: GpuBuffer, count: number) => ({ buffer, offset: 0, size: Math.max(16, roundUp(count * 4, 16)) });
        const group = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: uniforms } },
            { binding: 1, resource: bind(bufA, chunk.extA) },
            { binding: 2, resource: bind(bufB, chunk.extB) },
            { binding: 3, resource: bind(bufC, chunk.extC) },
          ],
        });
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(Math.ceil(plan.n / TILE_N), Math.ceil(chunk.mi / TILE_M), chunk.nb);
        pass.end();
        if (out !== null) encoder.copyBufferToBuffer(bufC, 0, out, chunk.offC * 4, chunk.extC * 4);
        device.queue.submit([encoder.finish()]);
        if (out === null) await this.readInto(bufC, 0, plan.c.subarray(chunk.offC, chunk.offC + chunk.extC));
        uniforms.destroy();
      }
    } finally {
      const validation = await device.popErrorScope();
      const memory = await device.popErrorScope();
      for (const buffer of held) this.release(buffer);
      const error = validation ?? memory;
      if (error !== null) throw new Error(`matmul: WebGPU rejected the GEMM dispatch: ${error.message}`);
    }
  }
}

/** Asks for the adapter's largest storage binding and buffer sizes instead of the defaults. */
function requestedLimits(adapter: GpuAdapter): Record<string, number> {
  return {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
}
