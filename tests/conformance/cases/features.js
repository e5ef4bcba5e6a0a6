// features conformance cases: the maps positive, hyperbolic, trig, relu
// and elu+1 with an explicit projection, roles none, query and key, with
// returnStabilizer so the row shifts are checked too.
//
// Expected values and per-element bounds come from featuresReference in
// tests/reference/features.js, which derives each bound from the float32
// rounding of t = ωᵀx (dim·u·Σ|ω_k x_k|), of h = ‖x‖²/2, of the exponent
// and from the ULP bounds of exp, sin and cos ("bound" check, factor 1).
// The stabilized roles divide by exp(s) with the kernel's float32 shift s̃,
// which is within exponentBounds of the reference's shift s (the row's
// largest exponent for queries, the call's for keys). That moves every
// feature by a factor exp(s − s̃), so each bound adds |value|·(e^δ − 1)
// with δ that exponent bound, and the shift output is checked within δ.

import { featuresReference } from "../../reference/features.js";
import { boundValues, input, materialize, referenceValues, uniform } from "./helpers.js";

const KINDS = ["positive", "hyperbolic", "trig", "relu", "elu+1"];
const ROLES = ["none", "query", "key"];

/** The documented default ε of a kind and role (docs/features.md). */
function defaultEpsilon(kind, role) {
  if (role === "none" || kind === "trig") return 0;
  return ["positive", "hyperbolic", "exp"].includes(kind) ? 1e-6 : 1e-3;
}

/** Returns the reference shifts of a role and their error bounds. */
function referenceShifts(reference, rows, role) {
  const exponents = Array.from(reference.exponents, (e) => (Number.isFinite(e) ? e : 0));
  const bounds = Array.from(reference.exponentBounds);
  if (role === "query") return { shift: exponents, shiftBounds: bounds };
  if (role === "key" && rows > 0) {
    const largest = Math.max(...reference.exponents);
    const shift = Number.isFinite(largest) ? largest : 0;
    return { shift: new Array(rows).fill(shift), shiftBounds: new Array(rows).fill(Math.max(...bounds)) };
  }
  return { shift: new Array(rows).fill(0), shiftBounds: new Array(rows).fill(0) };
}

function featuresCase(id, { rows, dim, features, kind, role }, x, projection) {
  const epsilon = defaultEpsilon(kind, role);
  const xValues = materialize(x);
  const w = materialize(projection);
  const base = { rows, dim, projection: w, kind, epsilon };
  const { shift, shiftBounds } = referenceShifts(featuresReference(xValues, base), rows, role);
  const reference = featuresReference(xValues, { ...base, shift: Float64Array.from(shift) });
  const outputs = reference.outputs;
  const bounds = Array.from(reference.bounds, (bound, index) =>
    bound + Math.abs(reference.values[index]) * Math.expm1(shiftBounds[Math.floor(index / outputs)]));
  return {
    id: `features/${id}`,
    op: "features",
    inputs: { x, projection },
    args: [input("x"), { rows, dim, projection: input("projection"), kind, role, returnStabilizer: true }],
    outputs: {
      features: {
        from: "return.features",
        expected: referenceValues(reference.values),
        check: { kind: "bound", bound: boundValues(bounds) },
      },
      shift: {
        from: "return.shift",
        expected: referenceValues(shift),
        check: { kind: "bound", bound: boundValues(shiftBounds) },
      },
    },
  };
}

/** Returns every features case. */
export function featuresCases() {
  const cases = [];
  let seed = 9000;
  const shapes = [
    { rows: 5, dim: 4, features: 6 },
    { rows: 17, dim: 16, features: 9 },
    { rows: 1, dim: 1, features: 1 },
  ];
  for (const shape of shapes) {
    // Entries in [−1.5, 1.5)·dim^(−1/4), like attention's scaled queries, so exponents stay moderate.
    const scale = 1.5 / Math.sqrt(Math.sqrt(shape.dim));
    const x = uniform(shape.rows * shape.dim, seed++, -scale, scale);
    const projection = uniform(shape.features * shape.dim, seed++, -1.5, 1.5);
    for (const kind of KINDS) {
      for (const role of ROLES) {
        const id = `${kind}-${role}-${shape.rows}x${shape.dim}-m${shape.features}`;
        cases.push(featuresCase(id, { ...shape, kind, role }, x, projection));
      }
    }
  }
  return cases;
}
