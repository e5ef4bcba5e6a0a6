// Internal hooks for the package's own code and tests. Nothing here is
// exported from index.ts, and package.json's "exports" map does not expose
// this file, so it cannot be imported through the package name.

import { planElementwise } from "./api/elementwise.js";
import type { WasmBackend } from "./backends/wasm/backend.js";
import { runElementwise } from "./backends/wasm/ops/elementwise.js";
import type { Favor, FavorSync } from "./favor.js";
import { describe } from "./validate.js";

// Keyed by each instance's `sync` table, which createFavor builds once per instance.
const backends = new WeakMap<FavorSync, WasmBackend>();

/** Records the backend behind a Favor instance's op table; called once by createFavor. */
export function attachBackend(sync: FavorSync, backend: WasmBackend): void {
  backends.set(sync, backend);
}

/** Returns the WASM backend behind a Favor instance made by createFavor. */
export function backendOf(favor: Favor): WasmBackend {
  const sync = (favor as { sync?: unknown } | null)?.sync;
  const backend = typeof sync === "object" && sync !== null ? backends.get(sync as FavorSync) : undefined;
  if (backend === undefined) {
    throw new TypeError(`backendOf: expected a Favor instance made by createFavor, got ${describe(favor)}`);
  }
  return backend;
}

/** Elementwise float32 functions; accuracy and ranges are documented in assembly/math/. */
export interface ElementwiseOps {
  /** out[i] = e^x[i]; out may be x itself. */
  exp(x: Float32Array, out?: Float32Array): Float32Array;
  /** out[i] = e^x[i] by the faster exp of the feature maps (assembly/math/exp-fast.ts); out may be x itself. */
  expFast(x: Float32Array, out?: Float32Array): Float32Array;
  /** out[i] = sin(x[i]); out may be x itself. */
  sin(x: Float32Array, out?: Float32Array): Float32Array;
  /** out[i] = cos(x[i]); out may be x itself. */
  cos(x: Float32Array, out?: Float32Array): Float32Array;
}

/** Returns the synchronous elementwise ops of a Favor instance. */
export function elementwiseOps(favor: Favor): ElementwiseOps {
  const backend = backendOf(favor);
  return {
    exp: (x, out) => runElementwise(backend, planElementwise("exp", x, out)),
    expFast: (x, out) => runElementwise(backend, planElementwise("expFast", x, out)),
    sin: (x, out) => runElementwise(backend, planElementwise("sin", x, out)),
    cos: (x, out) => runElementwise(backend, planElementwise("cos", x, out)),
  };
}
