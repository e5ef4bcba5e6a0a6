// Runs validated attention plans on the WASM backend. Every op copies its
// inputs into one scope, runs the kernels per batch item and head on views
// of that memory, and copies the output out once.

import { headRows, type AttentionShape, type SoftmaxAttentionPlan } from "../../../api/attention.js";
import type { Scope, WasmBackend } from "../backend.js";

type SoftmaxAttentionKernel = (
  queries: number, keys: number, keyPos: number, contiguous: number, dim: number, valueDim: number,
  scale: number, causal: number,
  q: number, ldq: number, k: number, ldk: number, v: number, ldv: number, out: number, ldo: number, work: number,
) => void;

/** Positions of the real (not padded) keys of one batch item. */
export interface VisibleKeys {
  /** Positions in increasing order. */
  positions: Int32Array;
  /** True when no key is padded, so positions[j] == j. */
  contiguous: boolean;
}

/** Lists the keys of batch item `item` that the padding mask keeps. */
export function visibleKeys(shape: AttentionShape, item: number): VisibleKeys {
  const mask = shape.keyPaddingMask;
  const keyLength = shape.keyLength;
  if (mask === null) {
    const positions = new Int32Array(keyLength);
    for (let j = 0; j < keyLength; j++) positions[j] = j;
    return { positions, contiguous: true };
  }
  const row = mask.subarray(item * keyLength, (item + 1) * keyLength);
  const positions = new Int32Array(keyLength - row.reduce((padded, flag) => padded + flag, 0));
  let count = 0;
  for (let j = 0; j < keyLength; j++) if (row[j] === 0) positions[count++] = j;
  return { positions, contiguous: count === keyLength };
}

/** Allocates an Int32 buffer of `length` entries in the scope; returns its byte pointer. */
export function allocI32(scope: Scope, length: number): number {
  return scope.allocBytes(Math.max(length, 1) * 4);
}

/** Writes `values` to an Int32 buffer of the backend's memory. Take no view before the last allocation. */
export function writeI32(backend: WasmBackend, ptr: number, values: Int32Array): void {
  new Int32Array(backend.exports.memory.buffer, ptr, values.length).set(values);
}

/** Exact softmax attention: one f32_attention_softmax call per batch item and head. */
export function runSoftmaxAttention(backend: WasmBackend, plan: SoftmaxAttentionPlan): Float32Array {
  const { shape } = plan;
  const kernel = backend.kernel<SoftmaxAttentionKernel>("f32_attention_softmax");
  const workSize = backend.kernel<(dim: number, valueDim: number) => number>("f32_attention_softmax_work");
  return backend.withScope(plan.op, (scope) => {
    const q = scope.copyIn(plan.q);
    const k = scope.copyIn(plan.k);
    const v = scope.copyIn(plan.v);
    const out = scope.allocF32(plan.out.length);
    const keyPos = allocI32(scope, shape.keyLength);
    const work = scope.allocF32(workSize(shape.dim, shape.valueDim));
    for (let item = 0; item < shape.batch; item++) {
      const visible = visibleKeys(shape, item);
      writeI32(backend, keyPos, visible.positions);
      for (let head = 0; head < shape.heads; head++) {
        const qRows = headRows(shape, item, head, shape.length, shape.dim);
        const kRows = headRows(shape, item, head, shape.keyLength, shape.dim);
        const vRows = headRows(shape, item, head, shape.keyLength, shape.valueDim);
        const outRows = headRows(shape, item, head, shape.length, shape.valueDim);
        kernel(
          shape.length, visible.positions.length, keyPos, visible.contiguous ? 1 : 0,
          shape.dim, shape.valueDim, plan.scale, plan.causal ? 1 : 0,
          q + qRows.offset * 4, qRows.ld, k + kRows.offset * 4, kRows.ld,
          v + vRows.offset * 4, vRows.ld, out + outRows.offset * 4, outRows.ld, work,
        );
      }
    }
    plan.out.set(backend.f32(out, plan.out.length));
    return plan.out;
  });
}
