// createFavor and the Favor object: the public surface. Each op validates
// its arguments (bindings/api), then runs on the backend. The synchronous
// forms live on `favor.sync`; the same ops on `favor` return Promises so
// code written against them also runs on asynchronous backends.

import { planMatmul, type MatmulOptions } from "./api/matmul.js";
import { planRandom, type RandomOptions, type RandomSeed } from "./api/random.js";
import { WasmBackend } from "./backends/wasm/backend.js";
import { bestBuild, supportedBuilds, WASM_BUILDS, type WasmBuild } from "./backends/wasm/features.js";
import { runMatmul } from "./backends/wasm/ops/matmul.js";
import { runRandom } from "./backends/wasm/ops/random.js";
import { compileSource, type WasmLoader, type WasmSource } from "./backends/wasm/source.js";
import {
  planQr,
  planTriangularSolve,
  type QrOptions,
  type QrResult,
  type TriangularSolveOptions,
} from "./api/linalg.js";
import { runQr, runTriangularSolve } from "./backends/wasm/ops/linalg.js";
import {
  planApply as planHouseholderApply,
  planBackward as planHouseholderBackward,
  planFromOrthogonal as planHouseholderFromOrthogonal,
  planProduct as planHouseholderProduct,
  planRandomOrthogonal as planHouseholderRandomOrthogonal,
  planStiefel as planHouseholderStiefel,
  type HouseholderApplyOptions,
  type HouseholderBackwardOptions,
  type HouseholderBackwardResult,
  type HouseholderFromOrthogonalOptions,
  type HouseholderProductOptions,
  type HouseholderRandomOrthogonalOptions,
  type HouseholderStiefelOptions,
} from "./api/householder.js";
import {
  runHouseholderBackward,
  runHouseholderForward,
  runHouseholderFromOrthogonal,
  runHouseholderRandomOrthogonal,
} from "./backends/wasm/ops/householder.js";
import { log } from "./log.js";
import { describe, requireChoice } from "./validate.js";

/** Options of `createFavor`. */
export interface CreateFavorOptions {
  /** Compute backend. Only "wasm" exists so far. */
  backend?: "wasm";
  /** WASM binary to run. "auto" picks the fastest one the engine validates. */
  build?: "auto" | WasmBuild;
  /**
   * Source of the binary, for bundlers, strict content security policies
   * and runtimes that cannot read the package's own files: one source for
   * the chosen build, or one per build.
   */
  wasm?: WasmSource | Partial<Record<WasmBuild, WasmSource>>;
}

/** Backend and binary of a Favor instance. */
export interface FavorInfo {
  backend: "wasm";
  build: WasmBuild;
  /** Builds this engine can run, fastest first. */
  supportedBuilds: WasmBuild[];
  /** Current WebAssembly memory size in bytes. */
  readonly memoryBytes: number;
}

/**
 * Seeded random numbers from Philox4x32-10. The same (count, seed, offset)
 * returns the same bits on all three builds, and the first n values of a
 * longer request equal a request for n values. docs/random.md describes the
 * seed, offset and stream layout.
 */
export interface FavorRandomSync {
  /** Returns `count` float32 draws uniform on [0, 1): multiples of 2^-24, 0 possible, 1 never. */
  uniform(count: number, seed: RandomSeed, options?: RandomOptions): Float32Array;
  /** Returns `count` standard normal float32 draws (Box–Muller in float64, |value| ≤ 8.58). */
  normal(count: number, seed: RandomSeed, options?: RandomOptions): Float32Array;
}

/** The Promise-returning forms of `FavorRandomSync`. */
export interface FavorRandom {
  uniform(count: number, seed: RandomSeed, options?: RandomOptions): Promise<Float32Array>;
  normal(count: number, seed: RandomSeed, options?: RandomOptions): Promise<Float32Array>;
}

/**
 * Orthogonal matrices as products of Householder reflections
 * H(v) = I − 2·v·vᵀ/(vᵀv), with v an n×k row-major matrix holding one
 * vector per column (any nonzero length). docs/householder.md gives the
 * formulas and conventions.
 */
export interface FavorHouseholderSync {
  /** Returns Q = H(v_0)·…·H(v_{k−1}) (n×n), by the CWY formula (default) or one reflection at a time. */
  product(v: Float32Array, options: HouseholderProductOptions): Float32Array;
  /** Returns the T-CWY matrix Ω = H(v_0)·…·H(v_{k−1})·I_{n×k} (n×k, ΩᵀΩ = I) in O(n·k²). */
  stiefel(v: Float32Array, options: HouseholderStiefelOptions): Float32Array;
  /** Returns Q·x or Qᵀ·x (n×cols) without forming Q. */
  apply(v: Float32Array, x: Float32Array, options: HouseholderApplyOptions): Float32Array;
  /** Returns ∂L/∂v (and ∂L/∂x for mode "apply") from the gradient of L with respect to the op's output. */
  backward(v: Float32Array, gradOutput: Float32Array, options: HouseholderBackwardOptions): HouseholderBackwardResult;
  /**
   * Returns unit vectors v (n×k, zero above the diagonal) with stiefel(v) = q
   * for q with orthonormal columns; for k = n, product(v) = q, which needs
   * det q = (−1)^n and raises a RangeError naming the determinant otherwise.
   */
  fromOrthogonal(q: Float32Array, options: HouseholderFromOrthogonalOptions): Float32Array;
  /** Returns a seeded n×n orthogonal matrix, Haar-distributed on {Q: det Q = (−1)^n}. */
  randomOrthogonal(options: HouseholderRandomOrthogonalOptions): Float32Array;
}

/** The Promise-returning forms of `FavorHouseholderSync`. */
export interface FavorHouseholder {
  product(v: Float32Array, options: HouseholderProductOptions): Promise<Float32Array>;
  stiefel(v: Float32Array, options: HouseholderStiefelOptions): Promise<Float32Array>;
  apply(v: Float32Array, x: Float32Array, options: HouseholderApplyOptions): Promise<Float32Array>;
  backward(v: Float32Array, gradOutput: Float32Array, options: HouseholderBackwardOptions): Promise<HouseholderBackwardResult>;
  fromOrthogonal(q: Float32Array, options: HouseholderFromOrthogonalOptions): Promise<Float32Array>;
  randomOrthogonal(options: HouseholderRandomOrthogonalOptions): Promise<Float32Array>;
}

/** The synchronous ops, for hot loops on the WASM backend. */
export interface FavorSync {
  matmul(a: Float32Array, b: Float32Array, options: MatmulOptions): Float32Array;
  random: FavorRandomSync;
  /**
   * Householder QR of the row-major rows×cols matrix a: a = q·r. The sign of
   * diag(r) follows LAPACK's xGEQRF: r[j][j] = −sign(α)·‖column‖ for the
   * pivot α of step j (sign(0) = +1), except that a step with nothing left
   * below the diagonal is skipped and keeps r[j][j] = α; zero columns give
   * such steps, never NaN.
   */
  qr(a: Float32Array, options: QrOptions): QrResult;
  /** Solves op(a)·x = b for an n×n triangular a and an n×cols b; raises a RangeError on a zero or non-finite diagonal. */
  triangularSolve(a: Float32Array, b: Float32Array, options: TriangularSolveOptions): Float32Array;
  householder: FavorHouseholderSync;
}

/** A loaded library instance. */
export interface Favor {
  readonly info: FavorInfo;
  readonly sync: FavorSync;
  matmul(a: Float32Array, b: Float32Array, options: MatmulOptions): Promise<Float32Array>;
  readonly random: FavorRandom;
  /** Promise form of `sync.qr`. */
  qr(a: Float32Array, options: QrOptions): Promise<QrResult>;
  /** Promise form of `sync.triangularSolve`. */
  triangularSolve(a: Float32Array, b: Float32Array, options: TriangularSolveOptions): Promise<Float32Array>;
  readonly householder: FavorHouseholder;
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

/**
 * Loads the library: picks and instantiates a WASM build and returns the op
 * table. Each runtime entry (bindings/runtime) wraps this as `createFavor`,
 * passing the loader that reads and compiles binaries on that runtime.
 */
export async function createFavorWith(loader: WasmLoader, options: CreateFavorOptions = {}): Promise<Favor> {
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
  const module = await compileSource(source ?? loader.packagedBinary(build), `the ${build} binary`, loader);
  const backend = await WasmBackend.create(module);
  if (backend.build !== build) {
    throw new RangeError(`${op}: the binary given for the "${build}" build was compiled as "${backend.build}"`);
  }
  log.debug(() => `loaded the ${build} WASM build on ${loader.runtime} (requested ${requested})`);
  return makeFavor(backend, WASM_BUILDS.filter((b) => supported[b]));
}

function makeFavor(backend: WasmBackend, supported: WasmBuild[]): Favor {
  const sync: FavorSync = {
    matmul: (a, b, options) => runMatmul(backend, planMatmul(a, b, options)),
    random: {
      uniform: (count, seed, options) => runRandom(backend, planRandom("uniform", count, seed, options)),
      normal: (count, seed, options) => runRandom(backend, planRandom("normal", count, seed, options)),
    },
    qr: (a, options) => runQr(backend, planQr(a, options)),
    triangularSolve: (a, b, options) => runTriangularSolve(backend, planTriangularSolve(a, b, options)),
    householder: {
      product: (v, options) => runHouseholderForward(backend, planHouseholderProduct(v, options)),
      stiefel: (v, options) => runHouseholderForward(backend, planHouseholderStiefel(v, options)),
      apply: (v, x, options) => runHouseholderForward(backend, planHouseholderApply(v, x, options)),
      backward: (v, gradOutput, options) => runHouseholderBackward(backend, planHouseholderBackward(v, gradOutput, options)),
      fromOrthogonal: (q, options) => runHouseholderFromOrthogonal(backend, planHouseholderFromOrthogonal(q, options)),
      randomOrthogonal: (options) => runHouseholderRandomOrthogonal(backend, planHouseholderRandomOrthogonal(options)),
    },
  };
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
    random: {
      uniform: promised(sync.random.uniform),
      normal: promised(sync.random.normal),
    },
    qr: promised(sync.qr),
    triangularSolve: promised(sync.triangularSolve),
    householder: {
      product: promised(sync.householder.product),
      stiefel: promised(sync.householder.stiefel),
      apply: promised(sync.householder.apply),
      backward: promised(sync.householder.backward),
      fromOrthogonal: promised(sync.householder.fromOrthogonal),
      randomOrthogonal: promised(sync.householder.randomOrthogonal),
    },
  };
}
