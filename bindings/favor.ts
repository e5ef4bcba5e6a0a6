// createFavor and the Favor object: the public surface. Each op validates
// its arguments (bindings/api), then runs on the backend. The synchronous
// forms live on `favor.sync`; the same ops on `favor` return Promises so
// code written against them also runs on asynchronous backends.

import { planGemv, type GemvOptions } from "./api/gemv.js";
import { planMatmul, type MatmulOptions } from "./api/matmul.js";
import { planLogsumexp, planSoftmax, type LogsumexpOptions, type SoftmaxOptions } from "./api/softmax.js";
import { planTranspose, type TransposeOptions } from "./api/transpose.js";
import { WasmBackend } from "./backends/wasm/backend.js";
import { bestBuild, supportedBuilds, WASM_BUILDS, type WasmBuild } from "./backends/wasm/features.js";
import { runGemv } from "./backends/wasm/ops/gemv.js";
import { runMatmul } from "./backends/wasm/ops/matmul.js";
import { runLogsumexp, runSoftmax } from "./backends/wasm/ops/softmax.js";
import { runTranspose } from "./backends/wasm/ops/transpose.js";
import { compileSource, packagedBinaryUrl, type WasmSource } from "./backends/wasm/source.js";
import { attachBackend } from "./internal.js";
import { log } from "./log.js";
import { describe, requireChoice } from "./validate.js";

/** Options of `createFavor`. */
export interface CreateFavorOptions {
  /** Compute backend. Only "wasm" exists so far. */
  backend?: "wasm";
  /** Which WASM binary to run; "auto" picks the fastest the engine validates. */
  build?: "auto" | WasmBuild;
  /**
   * Where to load the binary from, for bundlers, strict content security
   * policies and runtimes that cannot read the package's own files. Either
   * one source for the chosen build, or one per build.
   */
  wasm?: WasmSource | Partial<Record<WasmBuild, WasmSource>>;
}

/** What a Favor instance runs on. */
export interface FavorInfo {
  backend: "wasm";
  build: WasmBuild;
  /** Builds this engine can run, fastest first. */
  supportedBuilds: WasmBuild[];
  /** Current WebAssembly memory size in bytes. */
  readonly memoryBytes: number;
}

/** The synchronous ops, for hot loops on the WASM backend. */
export interface FavorSync {
  matmul(a: Float32Array, b: Float32Array, options: MatmulOptions): Float32Array;
  /** Transposes each rows×cols matrix of a into a cols×rows matrix. */
  transpose(a: Float32Array, options: TransposeOptions): Float32Array;
  /** y = alpha·op(A)·x + beta·y for a row-major m×n matrix A. */
  gemv(a: Float32Array, x: Float32Array, options: GemvOptions): Float32Array;
  /** Softmax of each row of a rows×cols matrix. */
  softmax(x: Float32Array, options: SoftmaxOptions): Float32Array;
  /** log Σ exp over each row of a rows×cols matrix; one value per row. */
  logsumexp(x: Float32Array, options: LogsumexpOptions): Float32Array;
}

/** A loaded library instance. */
export interface Favor {
  readonly info: FavorInfo;
  readonly sync: FavorSync;
  matmul(a: Float32Array, b: Float32Array, options: MatmulOptions): Promise<Float32Array>;
  transpose(a: Float32Array, options: TransposeOptions): Promise<Float32Array>;
  gemv(a: Float32Array, x: Float32Array, options: GemvOptions): Promise<Float32Array>;
  softmax(x: Float32Array, options: SoftmaxOptions): Promise<Float32Array>;
  logsumexp(x: Float32Array, options: LogsumexpOptions): Promise<Float32Array>;
}

function isPerBuildMap(value: unknown): value is Partial<Record<WasmBuild, WasmSource>> {
  if (value === null || typeof value !== "object") return false;
  if (value instanceof WebAssembly.Module || value instanceof ArrayBuffer || ArrayBuffer.isView(value) || value instanceof URL) return false;
  if (typeof Response !== "undefined" && value instanceof Response) return false;
  if (typeof (value as PromiseLike<unknown>).then === "function") return false;
  return WASM_BUILDS.some((build) => build in value);
}

/** Wraps a synchronous op so it returns a Promise and reports errors as rejections. */
function promised<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => Promise<R> {
  return (...args: A) => {
    try {
      return Promise.resolve(fn(...args));
    } catch (error) {
      return Promise.reject(error);
    }
  };
}

/** Loads the library: picks and instantiates a WASM build and returns the op table. */
export async function createFavor(options: CreateFavorOptions = {}): Promise<Favor> {
  const op = "createFavor";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  }
  requireChoice(op, "backend", options.backend ?? "wasm", ["wasm"] as const);
  const requested = requireChoice(op, "build", options.build ?? "auto", ["auto", ...WASM_BUILDS] as const);
  const supported = supportedBuilds();
  let build: WasmBuild;
  if (requested === "auto") {
    build = bestBuild();
  } else {
    if (!supported[requested]) {
      throw new RangeError(
        `${op}: build "${requested}" is not supported by this engine (WebAssembly.validate rejected its instructions); ` +
          `use build "auto" or one of: ${WASM_BUILDS.filter((b) => supported[b]).join(", ")}`,
      );
    }
    build = requested;
  }

  let source: WasmSource | undefined;
  if (options.wasm !== undefined) {
    source = isPerBuildMap(options.wasm) ? options.wasm[build] : options.wasm;
    if (source === undefined) {
      throw new RangeError(`${op}: wasm has no entry for the "${build}" build; add it or pass build explicitly`);
    }
  }
  const module = await compileSource(source ?? packagedBinaryUrl(build), `the ${build} binary`);
  const backend = await WasmBackend.create(module);
  if (backend.build !== build) {
    throw new RangeError(`${op}: the binary given for the "${build}" build was compiled as "${backend.build}"`);
  }
  log.debug(() => `loaded the ${build} WASM build (requested ${requested})`);
  return makeFavor(backend, WASM_BUILDS.filter((b) => supported[b]));
}

function makeFavor(backend: WasmBackend, supported: WasmBuild[]): Favor {
  const sync: FavorSync = {
    matmul: (a, b, options) => runMatmul(backend, planMatmul(a, b, options)),
    transpose: (a, options) => runTranspose(backend, planTranspose(a, options)),
    gemv: (a, x, options) => runGemv(backend, planGemv(a, x, options)),
    softmax: (x, options) => runSoftmax(backend, planSoftmax(x, options)),
    logsumexp: (x, options) => runLogsumexp(backend, planLogsumexp(x, options)),
  };
  attachBackend(sync, backend);
  const info: FavorInfo = {
    backend: "wasm",
    build: backend.build,
    supportedBuilds: supported,
    get memoryBytes() {
      return backend.memoryBytes;
    },
  };
  return {
    info,
    sync,
    matmul: promised(sync.matmul),
    transpose: promised(sync.transpose),
    gemv: promised(sync.gemv),
    softmax: promised(sync.softmax),
    logsumexp: promised(sync.logsumexp),
  };
}
