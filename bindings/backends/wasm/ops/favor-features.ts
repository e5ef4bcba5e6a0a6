// The FeatureSource of FAVOR+ attention: random-feature maps of the scaled
// query and key rows, computed block by block inside the op's scope.
//   Q′ = φ(d^{-1/4}·q) with the "query" stabilizer (a constant per row),
//   K′ = φ(d^{-1/4}·k) with the "key" stabilizer (one constant per block,
//        which the linear-attention loops bring to one running shift),
// and no additive ε, so the stabilizers cancel exactly in the ratio.

import { headRows, type AttentionShape, type FeatureSettings, type HybridSettings } from "../../../api/attention.js";
import { EXPONENTIAL_KINDS } from "../../../api/features.js";
import { hybridScratchElements } from "../../../api/hybrid.js";
import { writeHybridFeatures, type HybridProjectionPointers } from "./hybrid.js";
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
  const hybrid = maps.hybrid;
  if (hybrid !== null) return hybridFeatures(backend, shape, q, k, hybrid);
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
      // With a projection every step is a kernel call; without one writeFeatures copies rows in JavaScript.
      recordable: maps.query.features > 0 && maps.key.features > 0,
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

/**
 * The FeatureSource of hybrid attention: Ψ_q and Ψ_k of the scaled rows
 * through writeHybridFeatures. Query rows carry their own shift; a key block
 * carries one shift (its largest base exponent, or the given one), read back
 * from the shift vector, so the linear-attention loops rescale it like the
 * plain exponential maps.
 */
function hybridFeatures(
  backend: WasmBackend, shape: AttentionShape, q: Float32Array, k: Float32Array, hybrid: HybridSettings,
): (scope: Scope) => FeatureSource {
  return (scope) => {
    const { dim } = shape;
    const qPtr = scope.copyIn(q);
    const kPtr = scope.copyIn(k);
    const parts = ["base1", "base2", "lambda"] as const;
    const projections = { base1: 0, base2: 0, lambda: 0 };
    for (const part of parts) {
      if (hybrid.projection !== null) {
        projections[part] = scope.copyIn(hybrid.projection[part]);
      } else if (hybrid.draws !== null) {
        const draw = hybrid.draws[part];
        projections[part] = scope.allocF32(draw.features * draw.dim);
        writeProjection(backend, scope, draw, projections[part]);
      }
    }
    const rowsPerHead = { base1: hybrid.query.bases[0].features, base2: hybrid.query.bases[1].features, lambda: hybrid.query.lambdaFeatures };
    const gather = backend.kernel<GatherKernel>("f32_attention_gather_rows");
    const inputScale = Math.fround(dim ** -0.25);
    const r = hybrid.query.outputs;
    let rows = 0;
    let shifts = 0;
    let scratch = 0;
    let qHead = 0, ldq = 0, kHead = 0, ldk = 0;
    let headProjections: HybridProjectionPointers = { ...projections };

    const gatherRows = (src: number, ld: number, positions: number, count: number) => {
      gather(count, positions, src, ld, dim, inputScale, rows, dim, 0);
    };

    return {
      outputs: r,
      allocate: (allocScope, maxRows) => {
        rows = allocScope.allocF32(maxRows * dim);
        shifts = allocScope.allocF32(maxRows);
        scratch = allocScope.allocF32(hybridScratchElements(hybrid.query, maxRows));
      },
      selectHead: (item, head) => {
        const qRows = headRows(shape, item, head, shape.length, dim);
        const kRows = headRows(shape, item, head, shape.keyLength, dim);
        qHead = qPtr + qRows.offset * 4;
        ldq = qRows.ld;
        kHead = kPtr + kRows.offset * 4;
        ldk = kRows.ld;
        const offset = (part: (typeof parts)[number]) => (hybrid.perHead ? head * rowsPerHead[part] * dim * 4 : 0);
        headProjections = {
          base1: projections.base1 + offset("base1"),
          base2: projections.base2 + offset("base2"),
          lambda: projections.lambda + offset("lambda"),
        };
      },
      queryFeatures: (positions, count, out) => {
        gatherRows(qHead, ldq, positions, count);
        writeHybridFeatures(backend, hybrid.query, count, rows, dim, headProjections, out, r, shifts, scratch);
      },
      keyFeatures: (positions, count, out, shift) => {
        gatherRows(kHead, ldk, positions, count);
        const map = shift === undefined ? hybrid.key : {
          ...hybrid.key,
          bases: [
            { ...hybrid.key.bases[0], keyShift: Math.fround(shift) },
            { ...hybrid.key.bases[1], keyShift: Math.fround(shift) },
          ] as HybridSettings["key"]["bases"],
        };
        writeHybridFeatures(backend, map, count, rows, dim, headProjections, out, r, shifts, scratch);
        // Every row of a key block carries the same shift; row 0 holds it.
        return backend.f32(shifts, 1)[0];
      },
    };
  };
}
