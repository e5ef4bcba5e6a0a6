// Finite-input checks for the WebGPU ops. WGSL lets implementations assume
// that floating-point values are finite, and its max and clamp need not
// propagate NaN, so a GPU result from a NaN or ±Infinity input is
// unspecified. The ops check their inputs first and run such calls on WASM,
// where NaN propagates as documented.

import { headRows, type AttentionShape } from "../../api/attention.js";
import type { HybridProjection } from "../../api/hybrid.js";

/** Returns true when every element of `a` is finite. */
export function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return false;
  }
  return true;
}

/** Returns true when a plain or hybrid projection, if any, is finite. */
export function projectionFinite(projection: Float32Array | HybridProjection | null | undefined): boolean {
  if (projection === null || projection === undefined) return true;
  if (projection instanceof Float32Array) return allFinite(projection);
  return allFinite(projection.base1) && allFinite(projection.base2) && allFinite(projection.lambda);
}

/** Returns true when every real key's row of k and v is finite (padded keys are never read). */
export function keysFinite(shape: AttentionShape, k: Float32Array, v: Float32Array): boolean {
  for (let item = 0; item < shape.batch; item++) {
    for (let head = 0; head < shape.heads; head++) {
      const kr = headRows(shape, item, head, shape.keyLength, shape.dim);
      const vr = headRows(shape, item, head, shape.keyLength, shape.valueDim);
      for (let j = 0; j < shape.keyLength; j++) {
        if (shape.keyPaddingMask !== null && shape.keyPaddingMask[item * shape.keyLength + j] !== 0) continue;
        for (let c = 0; c < shape.dim; c++) if (!Number.isFinite(k[kr.offset + j * kr.ld + c])) return false;
        for (let c = 0; c < shape.valueDim; c++) if (!Number.isFinite(v[vr.offset + j * vr.ld + c])) return false;
      }
    }
  }
  return true;
}
