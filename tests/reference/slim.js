// Float64 reference of the SLiM runner's model (bindings/slim/model.ts):
// the same layers written as plain loops over the whole sequence at once,
// with exact feature maps (no stabilizer) and quadratic causal attention
// out_i = Σ_{j<=i} A_ij v_j / Σ_{j<=i} A_ij. Parameters are read from the
// model's Float32Arrays (or float64 copies of them), so central differences
// of slimLoss64 give the float64 gradient the runner approximates.

import { DENOMINATOR_FLOOR, featureMap64 } from "./backward.js";

const NORM_EPSILON = 1e-5;
const GELU_C = Math.sqrt(2 / Math.PI);

/** rows×cols·cols×n product of row-major arrays. */
function matmul(a, b, rows, inner, cols) {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let p = 0; p < inner; p++) {
      const aip = a[i * inner + p];
      if (aip === 0) continue;
      for (let j = 0; j < cols; j++) out[i * cols + j] += aip * b[p * cols + j];
    }
  }
  return out;
}

function layerNorm(x, rows, dim, gain, bias) {
  const out = new Float64Array(rows * dim);
  for (let t = 0; t < rows; t++) {
    let mean = 0;
    for (let c = 0; c < dim; c++) mean += x[t * dim + c] / dim;
    let variance = 0;
    for (let c = 0; c < dim; c++) variance += (x[t * dim + c] - mean) ** 2 / dim;
    const inverse = 1 / Math.sqrt(variance + NORM_EPSILON);
    for (let c = 0; c < dim; c++) out[t * dim + c] = (x[t * dim + c] - mean) * inverse * gain[c] + bias[c];
  }
  return out;
}

/**
 * Mean next-token cross-entropy of the model in float64: config is
 * model.config, parameters a record of arrays by name, projections
 * layers × heads × features × headDim.
 */
export function slimLoss64(config, parameters, projections, tokens) {
  const { vocab: V, dModel: D, heads, headDim, layers, features, kernel, mlp: F, layerNorm: useNorm } = config;
  const L = tokens.length - 1;
  const norm = (x, prefix) => (useNorm ? layerNorm(x, L, D, parameters[`${prefix}.gain`], parameters[`${prefix}.bias`]) : Float64Array.from(x));
  let x = new Float64Array(L * D);
  for (let t = 0; t < L; t++) for (let c = 0; c < D; c++) x[t * D + c] = parameters.embedding[tokens[t] * D + c];
  // Token shift: x_t += c_s ∘ e(t − s) for s = 1 … tokenShift, nothing before the first token.
  for (let s = 1; s <= (config.tokenShift ?? 0); s++) {
    for (let t = s; t < L; t++) {
      for (let c = 0; c < D; c++) x[t * D + c] += parameters["input.shift"][(s - 1) * D + c] * parameters.embedding[tokens[t - s] * D + c];
    }
  }
  const inputScale = headDim ** -0.25;
  for (let layer = 0; layer < layers; layer++) {
    const p = `layers.${layer}`;
    const a = norm(x, `${p}.norm1`);
    const q = matmul(a, parameters[`${p}.attention.wq`], L, D, D);
    const k = matmul(a, parameters[`${p}.attention.wk`], L, D, D);
    const v = matmul(a, parameters[`${p}.attention.wv`], L, D, D);
    const o = new Float64Array(L * D);
    for (let head = 0; head < heads; head++) {
      const size = features * headDim;
      const offset = (layer * heads + head) * size;
      const projection = features === 0 ? null : Float64Array.from(projections.subarray(offset, offset + size));
      const map = { kind: kernel, dim: headDim, projection };
      const row = (m, t) => Float64Array.from({ length: headDim }, (_, c) => m[t * D + head * headDim + c] * inputScale);
      const qf = Array.from({ length: L }, (_, t) => featureMap64(row(q, t), map));
      const kf = Array.from({ length: L }, (_, t) => featureMap64(row(k, t), map));
      for (let i = 0; i < L; i++) {
        let den = 0;
        const num = new Float64Array(headDim);
        for (let j = 0; j <= i; j++) {
          let weight = 0;
          for (let l = 0; l < qf[i].length; l++) weight += qf[i][l] * kf[j][l];
          den += weight;
          for (let c = 0; c < headDim; c++) num[c] += weight * v[j * D + head * headDim + c];
        }
        if (!(den > DENOMINATOR_FLOOR)) continue;
        for (let c = 0; c < headDim; c++) o[i * D + head * headDim + c] = num[c] / den;
      }
    }
    const attention = matmul(o, parameters[`${p}.attention.wo`], L, D, D);
    for (let i = 0; i < L * D; i++) x[i] += attention[i];
    if (F > 0) {
      const b = norm(x, `${p}.norm2`);
      const h = matmul(b, parameters[`${p}.mlp.w1`], L, D, F);
      for (let t = 0; t < L; t++) {
        for (let c = 0; c < F; c++) {
          const value = h[t * F + c] + parameters[`${p}.mlp.b1`][c];
          h[t * F + c] = 0.5 * value * (1 + Math.tanh(GELU_C * (value + 0.044715 * value ** 3)));
        }
      }
      const mlpOut = matmul(h, parameters[`${p}.mlp.w2`], L, F, D);
      for (let t = 0; t < L; t++) for (let c = 0; c < D; c++) x[t * D + c] += mlpOut[t * D + c] + parameters[`${p}.mlp.b2`][c];
    }
  }
  const y = norm(x, "norm");
  const logits = matmul(y, parameters["output.weight"], L, D, V);
  let total = 0;
  for (let t = 0; t < L; t++) {
    let largest = -Infinity;
    for (let c = 0; c < V; c++) {
      logits[t * V + c] += parameters["output.bias"][c];
      largest = Math.max(largest, logits[t * V + c]);
    }
    let sum = 0;
    for (let c = 0; c < V; c++) sum += Math.exp(logits[t * V + c] - largest);
    total += largest + Math.log(sum) - logits[t * V + tokens[t + 1]];
  }
  return total / L;
}
