// Token-by-token decoding for a model of favor.sync.slim.createModel, which
// computes losses and gradients but no logits. This decoder reruns the
// model's forward pass in float64 JavaScript from model.parameters and
// model.projections, one position at a time. Each layer and head carries
// its causal attention state S = Σ_j φ(k̃_j)[v_j 1]ᵀ, so a token costs the
// same at every position (docs/backward.md describes the model):
//
//   x = e(t) + Σ_{s=1..S} c_s ∘ e(t − s)   (tokenShift S, "input.shift" c_s)
//   a = LN1(x); q, k, v = a·Wq, a·Wk, a·Wv;  x += attention·Wo
//   b = LN2(x); x += gelu(b·W1 + b1)·W2 + b2;  logits = LN(x)·Wout + bout
//
// with positive features φ(x) = exp(ωᵀx − ‖x‖²/2) of x̃ = d_h^{-1/4}x and no
// ε. Constant factors of φ cancel in the attention ratio, so the decoder
// leaves out m^{-1/2}, subtracts each query's largest exponent, and keeps
// keys at a running shift: when a key's exponent exceeds the shift, the
// state is rescaled by exp(old − new) first.

const NORM_EPSILON = 1e-5;
const GELU_C = Math.sqrt(2 / Math.PI);
/** The smallest normal float32: a denominator at or below it gives a zero output row, as in the library's attention op. */
const DENOMINATOR_FLOOR = 2 ** -126;

function layerNorm(x, gain, bias) {
  const n = x.length;
  let mean = 0;
  for (const value of x) mean += value;
  mean /= n;
  let variance = 0;
  for (const value of x) variance += (value - mean) ** 2;
  const rstd = 1 / Math.sqrt(variance / n + NORM_EPSILON);
  return x.map((value, j) => (value - mean) * rstd * (gain ? gain[j] : 1) + (bias ? bias[j] : 0));
}

/** Returns x·W (+ b) for a row vector x and a row-major rows×cols W. */
function affine(x, weight, cols, bias) {
  const out = new Float64Array(cols);
  for (let p = 0; p < x.length; p++) {
    const value = x[p];
    if (value === 0) continue;
    for (let j = 0; j < cols; j++) out[j] += value * weight[p * cols + j];
  }
  if (bias) for (let j = 0; j < cols; j++) out[j] += bias[j];
  return out;
}

function gelu(x) {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
}

/** Returns the exponents ωᵀx̃ − ‖x̃‖²/2 of the positive map for each of the m rows of the head's projection. */
function exponents(x, projection, offset, features, headDim) {
  const scale = headDim ** -0.25;
  let half = 0;
  for (let j = 0; j < headDim; j++) half += (x[j] * scale) ** 2 / 2;
  const out = new Float64Array(features);
  for (let l = 0; l < features; l++) {
    let t = 0;
    for (let j = 0; j < headDim; j++) t += projection[offset + l * headDim + j] * x[j] * scale;
    out[l] = t - half;
  }
  return out;
}

/**
 * Creates a decoder for a slim model: `step(token)` feeds one token and
 * returns the logits (Float64Array of vocab) for the next one. Only the
 * positive kernel is supported.
 */
export function createDecoder(model) {
  const { vocab: V, dModel: D, heads: H, headDim: dh, layers, features: m, mlp: F, kernel, layerNorm: withNorm } = model.config;
  const tokenShift = model.config.tokenShift ?? 0;
  // The last tokenShift tokens fed, most recent first.
  const recent = [];
  if (kernel !== "positive") throw new RangeError(`createDecoder: kernel ${JSON.stringify(kernel)} is not supported; use "positive"`);
  const p = (name) => model.parameters[name];
  const width = dh + 1;
  // Per layer and head: the state r×(dh+1) in float64 and its key shift.
  const states = Array.from({ length: layers * H }, () => ({ values: new Float64Array(m * width), shift: -Infinity }));

  function attention(layer, q, k, v) {
    const out = new Float64Array(D);
    for (let h = 0; h < H; h++) {
      const state = states[layer * H + h];
      const offset = (layer * H + h) * m * dh;
      const keyExponents = exponents(k.subarray(h * dh, (h + 1) * dh), model.projections, offset, m, dh);
      const keyMax = Math.max(...keyExponents);
      if (keyMax > state.shift) {
        const factor = Number.isFinite(state.shift) ? Math.exp(state.shift - keyMax) : 0;
        for (let i = 0; i < state.values.length; i++) state.values[i] *= factor;
        state.shift = keyMax;
      }
      for (let l = 0; l < m; l++) {
        const phi = Math.exp(keyExponents[l] - state.shift);
        for (let j = 0; j < dh; j++) state.values[l * width + j] += phi * v[h * dh + j];
        state.values[l * width + dh] += phi;
      }
      const queryExponents = exponents(q.subarray(h * dh, (h + 1) * dh), model.projections, offset, m, dh);
      const queryMax = Math.max(...queryExponents);
      const accumulator = new Float64Array(width);
      for (let l = 0; l < m; l++) {
        const phi = Math.exp(queryExponents[l] - queryMax);
        for (let j = 0; j < width; j++) accumulator[j] += phi * state.values[l * width + j];
      }
      const denominator = accumulator[dh];
      if (!(denominator > DENOMINATOR_FLOOR)) continue;
      for (let j = 0; j < dh; j++) out[h * dh + j] = accumulator[j] / denominator;
    }
    return out;
  }

  return {
    step(token) {
      if (!Number.isInteger(token) || token < 0 || token >= V) {
        throw new RangeError(`decoder.step: token ${token} is outside the vocabulary of ${V}`);
      }
      let x = Float64Array.from(p("embedding").subarray(token * D, (token + 1) * D));
      recent.forEach((previous, index) => {
        const weights = p("input.shift").subarray(index * D, (index + 1) * D);
        const e = p("embedding").subarray(previous * D, (previous + 1) * D);
        for (let j = 0; j < D; j++) x[j] += weights[j] * e[j];
      });
      if (tokenShift > 0) {
        recent.unshift(token);
        if (recent.length > tokenShift) recent.pop();
      }
      for (let layer = 0; layer < layers; layer++) {
        const prefix = `layers.${layer}`;
        const a = withNorm ? layerNorm(x, p(`${prefix}.norm1.gain`), p(`${prefix}.norm1.bias`)) : x;
        const q = affine(a, p(`${prefix}.attention.wq`), D);
        const k = affine(a, p(`${prefix}.attention.wk`), D);
        const v = affine(a, p(`${prefix}.attention.wv`), D);
        const o = affine(attention(layer, q, k, v), p(`${prefix}.attention.wo`), D);
        x = x.map((value, j) => value + o[j]);
        if (F > 0) {
          const b = withNorm ? layerNorm(x, p(`${prefix}.norm2.gain`), p(`${prefix}.norm2.bias`)) : x;
          const hidden = affine(b, p(`${prefix}.mlp.w1`), F, p(`${prefix}.mlp.b1`)).map(gelu);
          const mlp = affine(hidden, p(`${prefix}.mlp.w2`), D, p(`${prefix}.mlp.b2`));
          x = x.map((value, j) => value + mlp[j]);
        }
      }
      const y = withNorm ? layerNorm(x, p("norm.gain"), p("norm.bias")) : x;
      return affine(y, p("output.weight"), V, p("output.bias"));
    },
  };
}

/** Returns the natural-log softmax probability of `target` under `logits`. */
export function logProbability(logits, target) {
  let max = -Infinity;
  for (const value of logits) max = Math.max(max, value);
  let sum = 0;
  for (const value of logits) sum += Math.exp(value - max);
  return logits[target] - max - Math.log(sum);
}

/**
 * Feeds the prompt and then generates `count` tokens. Temperature 0 picks
 * the most likely token; otherwise token j is drawn with probability
 * ∝ exp(logit_j / temperature) using one uniform draw in [0, 1) per token.
 */
export function generate(model, prompt, count, { temperature, uniform }) {
  if (prompt.length === 0) throw new RangeError("generate: the prompt is empty; pass at least one token");
  const decoder = createDecoder(model);
  let logits;
  for (const token of prompt) logits = decoder.step(token);
  const draws = uniform(count);
  const out = [];
  for (let i = 0; i < count; i++) {
    const token = sampleToken(logits, temperature, draws[i]);
    out.push(token);
    if (i + 1 < count) logits = decoder.step(token);
  }
  return out;
}

function sampleToken(logits, temperature, draw) {
  let best = 0;
  for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
  if (temperature === 0) return best;
  const weights = Array.from(logits, (value) => Math.exp((value - logits[best]) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let target = draw * total;
  for (let j = 0; j < weights.length; j++) {
    target -= weights[j];
    if (target < 0) return j;
  }
  return logits.length - 1;
}
