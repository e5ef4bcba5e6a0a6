// The WASM backend: one instance of one build, its linear memory, and the
// bookkeeping that moves Float32Arrays in and out. Every op allocates its
// buffers inside a `Scope`, which frees them when the op returns or throws,
// so repeated calls leave the memory size where the first call left it.

import { instantiate } from "@assemblyscript/loader";
import type { WasmBuild } from "./features.js";

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

  /** Looks up an exported kernel by name. */
  kernel<F extends (...args: never[]) => unknown>(name: string): F {
    const fn = this.exports[name];
    if (typeof fn !== "function") throw new Error(`favor-wasm: kernel ${name} is missing from the ${this.build} binary`);
    return fn as F;
  }
}
