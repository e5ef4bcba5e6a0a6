// The FeatureSource of FAVOR+ attention: random-feature maps of the scaled
// query and key rows, computed block by block inside the op's scope.
//   Q′ = φ(d^{-1/4}·q) with the "query" stabilizer (a constant per row),
//   K′ = φ(d^{-1/4}·k) with the "key" stabilizer (one constant per block,
//        which the linear-attention loops bring to one running shift),
// and no additive ε, so the stabilizers cancel exactly in the ratio.

import { headRows, type AttentionShape, type FeatureSettings } from "../../../api/attention.js";
import { EXPONENTIAL_KINDS } from "../../../api/features.js";
import type { Scope, WasmBackend } from "../backend.js";
import { writeFeatures } from "./features.js";
import type { FeatureSource } from "./linear-attention.js";
import { writeProjection } from "./projection.js";

type GatherKernel = (
  count: number, index: number, src: number, lds: number, cols: number, scale: number,
  dst: number, ldd: number, ones: number,
) => void;

/**
 * Returns a FeatureSource over the rows of q and k (shape.length and
 * shape.keyLength rows of shape.dim, in the shape's layout). q, k and the
 * projection (given, or drawn here from the plan's seed) are put into the
 * scope when the source is made.
 */
export function favorFeatures(
  backend: WasmBackend, shape: AttentionShape, q: Float32Array, k: Float32Array, maps: FeatureSettings,
): (scope: Scope) => FeatureSource {
  return (scope) => {
    const { dim } = shape;
    const qPtr = scope.copyIn(q);
    const kPtr = scope.copyIn(k);
    let projection = 0;
    if (maps.projection !== null) {
      projection = scope.copyIn(maps.projection);
    } else if (maps.draw !== null) {
      projection = scope.allocF32(maps.draw.features * maps.draw.dim);
      writeProjection(backend, scope, maps.draw, projection);
    }
    const projectionBytes = maps.query.features * dim * 4;
    const gather = backend.kernel<GatherKernel>("f32_attention_gather_rows");
    const inputScale = Math.fround(dim ** -0.25);
    const exponential = EXPONENTIAL_KINDS.includes(maps.key.kind);
    const r = maps.query.outputs;
    let rows = 0;
    let shifts = 0;
    let qHead = 0, ldq = 0, kHead = 0, ldk = 0, projectionHead = projection;

    /** Gathers the listed rows, times d^{-1/4}, into the row buffer. */
    const gatherRows = (src: number, ld: number, positions: number, count: number) => {
      gather(count, positions, src, ld, dim, inputScale, rows, dim, 0);
    };

    return {
      outputs: r,
      allocate: (allocScope, maxRows) => {
        rows = allocScope.allocF32(maxRows * dim);
        shifts = allocScope.allocF32(maxRows);
      },
      selectHead: (item, head) => {
        const qRows = headRows(shape, item, head, shape.length, dim);
        const kRows = headRows(shape, item, head, shape.keyLength, dim);
        qHead = qPtr + qRows.offset * 4;
        ldq = qRows.ld;
        kHead = kPtr + kRows.offset * 4;
        ldk = kRows.ld;
        projectionHead = projection + (maps.perHead ? head * projectionBytes : 0);
      },
      queryFeatures: (positions, count, out) => {
        gatherRows(qHead, ldq, positions, count);
        writeFeatures(backend, maps.query, count, rows, dim, projectionHead, out, r, shifts);
      },
      keyFeatures: (positions, count, out, shift) => {
        gatherRows(kHead, ldk, positions, count);
        if (!exponential) {
          writeFeatures(backend, maps.key, count, rows, dim, projectionHead, out, r, shifts);
          return 0;
        }
        const map = shift === undefined ? maps.key : { ...maps.key, keyShift: shift };
        const largest = writeFeatures(backend, map, count, rows, dim, projectionHead, out, r, shifts);
        return shift ?? largest;
      },
    };
  };
}
