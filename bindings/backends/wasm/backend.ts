// The WASM backend: one instance of one build, its linear memory, and the
// bookkeeping that moves Float32Arrays in and out. Every op allocates its
// buffers inside a `Scope`, which frees them when the op returns or throws,
// so repeated calls leave the memory size where the first call left it.

import { instantiate } from "@assemblyscript/loader";
import type { WasmBuild } from "./features.js";
import { copyStaticData } from "./threads/binary.js";
import type { KernelCall, ThreadPool } from "./threads/pool.js";

/** Recorded kernels return this plus the call's index (see WasmBackend.record); no real kernel result comes near it. */
export const RECORDED_RESULT_BASE = 2 ** 40;

/** Returns the real result of a value a recorded kernel returned, given the results of the calls; other values pass through. */
export function recordedResult(value: number, results: number[]): number {
  return value >= RECORDED_RESULT_BASE ? results[value - RECORDED_RESULT_BASE] : value;
}

/** The exported kernel table (see assembly/index.ts); sizes in elements, pointers in bytes. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  isaName(): number;
  [kernel: string]: unknown;
}

const ISA_NAMES: Record<number, WasmBuild> = { 0: "scalar", 1: "simd", 2: "relaxed" };

/** Raised when linear memory cannot grow to hold an op's buffers. */
function outOfMemory(op: string, bytes: number, memoryBytes: number, cause: unknown): RangeError {
  return new RangeError(
    `${op}: could not allocate ${bytes} bytes of WebAssembly memory (currently ${memoryBytes} bytes); ` +
      "the engine refused to grow it, so split the problem into smaller calls",
    { cause },
  );
}

/** Raised when a threaded build's shared memory would exceed its fixed maximum. */
function sharedOutOfMemory(op: string, bytes: number, memoryBytes: number, maximum: number, cause: unknown): RangeError {
  return new RangeError(
    `${op}: could not allocate ${bytes} bytes of WebAssembly memory (currently ${memoryBytes} bytes): the shared memory ` +
      `of the threaded build has a fixed maximum of ${maximum} bytes; pass a larger maxSharedMemory to createFavor ` +
      "(at most 4 GiB), use threads: 1, or split the problem into smaller calls",
    { cause },
  );
}

/** Buffers allocated for one op call; `release` frees them all. */
export class Scope {
  private readonly pointers: number[] = [];

  constructor(
    private readonly backend: WasmBackend,
    readonly op: string,
  ) {}

  /** Allocates room for `length` float32 values; returns the byte pointer. */
  allocF32(length: number): number {
    const ptr = this.backend.allocBytes(this.op, Math.max(length, 1) * 4);
    this.pointers.push(ptr);
    return ptr;
  }

  /** Allocates room for `length` bytes; returns the pointer. */
  allocBytes(length: number): number {
    const ptr = this.backend.allocBytes(this.op, Math.max(length, 1));
    this.pointers.push(ptr);
    return ptr;
  }

  /** Allocates a buffer and copies `data` into it; returns the byte pointer. */
  copyIn(data: Float32Array): number {
    const ptr = this.allocF32(data.length);
    this.backend.f32(ptr, data.length).set(data);
    return ptr;
  }

  /** Frees every buffer of this scope. */
  release(): void {
    for (const ptr of this.pointers) this.backend.exports.free(ptr);
    this.pointers.length = 0;
  }
}

export class WasmBackend {
  readonly build: WasmBuild;
  private recording: KernelCall[] | null = null;
  private readonly recordingKernels = new Map<string, (...args: number[]) => unknown>();
  /** The maximum size in bytes of a threaded build's shared memory; null for the single-threaded builds. */
  sharedMemoryMax: number | null = null;
  /** Workers on this backend's shared memory (threaded builds only); null runs everything on the calling thread. */
  pool: ThreadPool | null = null;

  private constructor(
    readonly exports: KernelExports,
    readonly module: WebAssembly.Module,
  ) {
    const isa = ISA_NAMES[exports.isaName()];
    if (isa === undefined) throw new Error(`createFavor: the WASM binary reports an unknown instruction set ${exports.isaName()}`);
    this.build = isa;
  }

  /** Instantiates a compiled kernel module. */
  static async create(module: WebAssembly.Module): Promise<WasmBackend> {
    const { exports } = await instantiate<KernelExports>(module, {});
    // The GEMM keeps fixed-size packing buffers; allocating them here means
    // memory never grows inside a GEMM call, so views an op took before
    // calling a kernel stay attached.
    const reserve = (exports as Record<string, unknown>).f32_gemm_reserve;
    if (typeof reserve === "function") (reserve as () => void)();
    return new WasmBackend(exports as unknown as KernelExports, module);
  }

  /**
   * Instantiates a threaded build on a shared memory: copies the static data
   * in (the binary has no active data segments), then runs the start
   * function and reserves the GEMM buffers, as create does.
   */
  static async createThreaded(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<WasmBackend> {
    copyStaticData(module, memory);
    const { exports } = await instantiate<KernelExports>(module, { env: { memory } });
    (exports as unknown as { _initialize(): void })._initialize();
    (exports as unknown as { f32_gemm_reserve(): void }).f32_gemm_reserve();
    return new WasmBackend(exports as unknown as KernelExports, module);
  }

  /** Threads that ops may use, the calling thread included. */
  get threads(): number {
    return this.pool?.size ?? 1;
  }

  /** The current size of linear memory in bytes. */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** Returns a fresh Float32Array view. Views detach whenever memory grows, so take one after the last allocation. */
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, ptr, length);
  }

  /** Returns a fresh Uint8Array view. */
  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, ptr, length);
  }

  /** Allocates raw bytes, turning an allocator trap into a RangeError that names the op. */
  allocBytes(op: string, bytes: number): number {
    try {
      return this.exports.alloc(bytes) >>> 0;
    } catch (error) {
      if (this.sharedMemoryMax !== null) throw sharedOutOfMemory(op, bytes, this.memoryBytes, this.sharedMemoryMax, error);
      throw outOfMemory(op, bytes, this.memoryBytes, error);
    }
  }

  /** Runs `body` with a scope whose buffers are freed afterwards, also when it throws. */
  withScope<T>(op: string, body: (scope: Scope) => T): T {
    const scope = new Scope(this, op);
    try {
      return body(scope);
    } finally {
      scope.release();
    }
  }

  /** Looks up an exported kernel by name. On a threaded backend the function can record its calls (see `record`). */
  kernel<F extends (...args: never[]) => unknown>(name: string): F {
    const fn = this.exports[name];
    if (typeof fn !== "function") throw new Error(`favor-wasm: kernel ${name} is missing from the ${this.build} binary`);
    if (this.pool === null) return fn as F;
    let wrapper = this.recordingKernels.get(name);
    if (wrapper === undefined) {
      const direct = fn as (...args: number[]) => unknown;
      wrapper = (...args: number[]) => {
        if (this.recording === null) return direct(...args);
        this.recording.push({ kernel: name, args });
        return RECORDED_RESULT_BASE + this.recording.length - 1;
      };
      this.recordingKernels.set(name, wrapper);
    }
    return wrapper as unknown as F;
  }

  /**
   * Runs `body` with kernel calls recorded instead of run, and returns the
   * calls, so a thread of the pool can run them later. A recorded kernel
   * returns RECORDED_RESULT_BASE + its index in the list, which
   * `recordedResult` turns into the real return value once the calls ran.
   * Only code that calls kernels through `kernel()` and neither reads nor
   * writes memory in between may be recorded.
   */
  record(body: () => void): KernelCall[] {
    if (this.pool === null) throw new Error("favor-wasm: recording kernel calls needs a threaded backend");
    const calls: KernelCall[] = [];
    this.recording = calls;
    try {
      body();
    } finally {
      this.recording = null;
    }
    return calls;
  }
}
