// kernel.softmax conformance cases: estimator "exact" (exp(xᵀy)) and
// "positive" with an explicit projection. "exact" is computed in float64
// and rounded once, so it is checked within 0.501 ULP of softmaxKernel in
// tests/reference/kernels.js ("ulp" check). "positive" is checked against
// estimateReference, whose per-element bounds ("bound" check, factor 1)
// come from the feature bounds of tests/reference/features.js,
// the GEMM's r·u·Σ|terms| and the final scaling.

import { estimateReference, softmaxKernel } from "../../reference/kernels.js";
import { boundValues, input, materialize, referenceValues, uniform } from "./helpers.js";

function kernelCase(id, { rowsX, rowsY, dim, estimator, features }, seed) {
  const scale = 1 / Math.sqrt(Math.sqrt(dim));
  const x = uniform(rowsX * dim, seed, -scale, scale);
  const y = uniform(rowsY * dim, seed + 1, -scale, scale);
  const inputs = { x, y };
  const options = { rowsX, rowsY, dim, estimator };
  let projection = null;
  if (features !== undefined) {
    inputs.projection = uniform(features * dim, seed + 2, -1.5, 1.5);
    options.projection = input("projection");
    projection = materialize(inputs.projection);
  }
  const xValues = materialize(x);
  const yValues = materialize(y);
  let output;
  if (estimator === "exact") {
    const values = [];
    for (let i = 0; i < rowsX; i++) {
      for (let j = 0; j < rowsY; j++) values.push(softmaxKernel(xValues.subarray(i * dim, (i + 1) * dim), yValues.subarray(j * dim, (j + 1) * dim)));
    }
    output = { from: "return", expected: referenceValues(values), check: { kind: "ulp" } };
  } else {
    const reference = estimateReference(xValues, yValues, { rowsX, rowsY, dim, estimator, projection });
    output = { from: "return", expected: referenceValues(reference.values), check: { kind: "bound", bound: boundValues(reference.bounds) } };
  }
  return {
    id: `kernel.softmax/${id}`,
    op: "kernel.softmax",
    inputs,
    args: [input("x"), input("y"), options],
    outputs: { kernel: output },
  };
}

/** Returns every kernel.softmax case. */
export function kernelCases() {
  const cases = [];
  let seed = 15000;
  for (const shape of [{ rowsX: 1, rowsY: 1, dim: 1 }, { rowsX: 3, rowsY: 5, dim: 4 }, { rowsX: 7, rowsY: 6, dim: 16 }]) {
    const name = `${shape.rowsX}x${shape.rowsY}-dim-${shape.dim}`;
    cases.push(kernelCase(`exact-${name}`, { ...shape, estimator: "exact" }, seed));
    seed += 3;
    cases.push(kernelCase(`positive-${name}-m-8`, { ...shape, estimator: "positive", features: 8 }, seed));
    seed += 3;
  }
  return cases;
}
