// projection conformance cases. Kinds "iid" and "orthogonal" are
// bit-identical across runtimes and builds (docs/features.md, "Seeds, draws
// and determinism"), so their expected values are the bits that the scalar
// WASM build produced once in Node (`node scripts/conformance-corpus.mjs
// --record-projection`), stored in projection-bits.json, and the generator
// rejects a recording that strays from the float64 reference in
// tests/reference/features.js by more than the rounding allows.
//
// "orthogonal-cwy" is bit-identical only within a build, so its cases check
// a property: the rows of one block (features ≤ dim) are orthogonal with
// norm √dim under norms "sqrt-d", ‖XXᵀ/dim − I‖_F within the orthonormal
// rule with terms = dim. NOTE: cwy with norms "chi" and with more rows than
// dim (several blocks) is not covered, because the checks have no
// per-block or random-norm property.

import { readFileSync } from "node:fs";
import { projectionReference } from "../../reference/features.js";
import { exactValues } from "./helpers.js";

const U = 2 ** -24;

/** The recorded requests: options of favor.projection. */
export const PROJECTION_REQUESTS = [
  { name: "iid-chi-5x3", options: { features: 5, dim: 3, kind: "iid", norms: "chi", seed: 7 } },
  { name: "iid-sqrt-d-5x3", options: { features: 5, dim: 3, kind: "iid", norms: "sqrt-d", seed: 7 } },
  { name: "iid-chi-4x8-draw-3", options: { features: 4, dim: 8, kind: "iid", norms: "chi", seed: 2 ** 32 + 1, draw: 3 } },
  { name: "orthogonal-chi-5x3", options: { features: 5, dim: 3, kind: "orthogonal", norms: "chi", seed: 7 } },
  { name: "orthogonal-sqrt-d-7x4-draw-1", options: { features: 7, dim: 4, kind: "orthogonal", norms: "sqrt-d", seed: 11, draw: 1 } },
  { name: "orthogonal-chi-9x4", options: { features: 9, dim: 4, kind: "orthogonal", norms: "chi", seed: 12 } },
  { name: "orthogonal-chi-1x1", options: { features: 1, dim: 1, kind: "orthogonal", norms: "chi", seed: 3 } },
];

const CWY_REQUESTS = [
  { name: "cwy-sqrt-d-4x4", features: 4, dim: 4, seed: 5 },
  { name: "cwy-sqrt-d-3x5-draw-2", features: 3, dim: 5, seed: 6, draw: 2 },
  { name: "cwy-sqrt-d-1x7", features: 1, dim: 7, seed: 8 },
];

const bitsFile = new URL("./projection-bits.json", import.meta.url);

function fromBits(hex) {
  return new Float32Array(new Uint32Array([Number.parseInt(hex, 16)]).buffer)[0];
}

/**
 * Returns the largest distance allowed between a recorded element and the
 * float64 reference. iid chi rows are the normal draws (one float32 ulp,
 * as for random.normal, ≤ 2u relative). sqrt-d rescaling adds a dim-term
 * norm and a division. The orthogonal rows are the kernel's Householder QR
 * instead of the reference's Gram–Schmidt: both are within c·dim·u of the
 * same Q, times the row norm; c = 16 is a loose sanity margin, since this
 * only guards the recording against a wrong stream layout, which errs by
 * order 1.
 */
function recordingTolerance({ kind, dim }, rowNorm) {
  if (kind === "iid") return (2 * dim + 8) * U * rowNorm;
  return 16 * (dim + 2) * U * rowNorm;
}

function recorded(all, request) {
  const id = `projection/${request.name}`;
  const bits = all[id];
  if (bits === undefined) {
    throw new Error(`${id} has no recorded values in tests/conformance/cases/projection-bits.json; ` +
      "run `node scripts/conformance-corpus.mjs --record-projection` after `npm run build`");
  }
  const { features, dim } = request.options;
  if (bits.length !== features * dim) throw new Error(`${id}: ${bits.length} recorded values, expected ${features * dim}`);
  const values = bits.map(fromBits);
  const reference = projectionReference(request.options);
  for (let i = 0; i < features; i++) {
    let squares = 0;
    for (let k = 0; k < dim; k++) squares += reference[i * dim + k] ** 2;
    const tolerance = recordingTolerance(request.options, Math.sqrt(squares));
    for (let k = 0; k < dim; k++) {
      const index = i * dim + k;
      if (!(Math.abs(values[index] - reference[index]) <= tolerance)) {
        throw new Error(`${id}: recorded value ${index} is ${values[index]}, more than ${tolerance} from the reference ${reference[index]}`);
      }
    }
  }
  return values;
}

/** Returns every projection case. */
export function projectionCases() {
  const all = JSON.parse(readFileSync(bitsFile, "utf8")).values;
  const cases = PROJECTION_REQUESTS.map((request) => ({
    id: `projection/${request.name}`,
    op: "projection",
    args: [request.options],
    outputs: { projection: { from: "return", expected: exactValues(recorded(all, request)), check: { kind: "exact" } } },
  }));
  for (const { name, features, dim, seed, draw } of CWY_REQUESTS) {
    const options = { features, dim, kind: "orthogonal-cwy", norms: "sqrt-d", seed };
    if (draw !== undefined) options.draw = draw;
    cases.push({
      id: `projection/${name}`,
      op: "projection",
      args: [options],
      outputs: {
        "rows-orthogonal-norm-sqrt-dim": {
          from: "return",
          check: { kind: "orthonormal", axis: "rows", rows: features, cols: dim, norm: Math.sqrt(dim), terms: dim },
        },
      },
    });
  }
  return cases;
}
