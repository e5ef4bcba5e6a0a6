// Step 2 of the main job: train a causal Performer language model on the
// characters of Moby-Dick with the library's SLiM runner
// (favor.sync.slim, docs/backward.md), and measure its memory.

import { backendOf } from "../../dist/internal.js";
import { generate } from "./decoder.mjs";
import { bigramEntropyBits, unigramEntropyBits, windowsAt } from "./text.mjs";

/**
 * Runs `body` and returns [its result, the bytes the bindings allocated in
 * WASM memory meanwhile]. An op's scope frees its buffers only when the op
 * returns, so for one op the sum is its working set. Buffers that kernels
 * allocate themselves (the packing buffers of f32_gemm) are not counted.
 */
export function measureAllocation(favor, body) {
  const backend = backendOf(favor);
  const original = backend.allocBytes;
  let total = 0;
  backend.allocBytes = (op, bytes) => {
    total += bytes;
    return original.call(backend, op, bytes);
  };
  try {
    return [body(), total];
  } finally {
    backend.allocBytes = original;
  }
}

/** Returns the mean of the gradients of several sequences, as one record of Float32Arrays. */
export function averageGradients(list) {
  const out = {};
  for (const [name, first] of Object.entries(list[0])) {
    const sum = new Float32Array(first.length);
    for (const gradients of list) {
      const g = gradients[name];
      for (let i = 0; i < g.length; i++) sum[i] += g[i];
    }
    for (let i = 0; i < sum.length; i++) sum[i] /= list.length;
    out[name] = sum;
  }
  return out;
}

/** Returns `count` window offsets in [0, limit) from the library's seeded uniform stream. */
function drawOffsets(favor, count, limit, seed, step) {
  const draws = favor.sync.random.uniform(count, seed, { offset: step * count });
  return Array.from(draws, (u) => Math.min(limit - 1, Math.floor(u * limit)));
}

function mean(values) {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * Trains a model and returns everything the report shows. `settings`:
 * { model: slim.createModel options without vocab, context, batch, slice,
 * learningRate, maxSteps, timeLimitSeconds, validationWindows, validationEvery, seed,
 * sample: { prompt, length, temperature } }. `progress` is a createProgress() bar or null.
 */
export function trainLanguageModel(favor, corpus, settings, progress) {
  const { tokenizer, train, validation } = corpus;
  const { context: T, batch, slice } = settings;
  const model = favor.sync.slim.createModel({ ...settings.model, vocab: tokenizer.size, seed: settings.seed });
  const optimizer = favor.sync.slim.adam(model.parameters, { learningRate: settings.learningRate, clipNorm: 1 });

  const validationOffsets = Array.from({ length: settings.validationWindows }, (_, i) =>
    Math.floor((i * (validation.length - T - 1)) / settings.validationWindows));
  const validationBits = () =>
    mean(validationOffsets.map((offset) => model.loss(validation.subarray(offset, offset + T + 1), { slice }))) / Math.LN2;

  const wasmBefore = favor.info.memoryBytes;
  const initialValidationBits = validationBits();
  const validationHistory = [{ step: 0, bits: initialValidationBits }];
  const history = [];
  let callBytes = 0;
  const start = performance.now();
  let step = 0;
  for (; step < settings.maxSteps; step++) {
    const elapsed = (performance.now() - start) / 1000;
    if (elapsed >= settings.timeLimitSeconds) break;
    const windows = windowsAt(train, drawOffsets(favor, batch, train.length - T - 1, settings.seed, step), T + 1);
    const results = [];
    for (let b = 0; b < batch; b++) {
      const tokens = windows.subarray(b * (T + 1), (b + 1) * (T + 1));
      const [result, bytes] = measureAllocation(favor, () => model.lossAndGradients(tokens, { slice }));
      callBytes = Math.max(callBytes, bytes);
      results.push(result);
    }
    const loss = mean(results.map((r) => r.loss));
    const gradientNorm = optimizer.step(averageGradients(results.map((r) => r.gradients)));
    history.push({ step, loss, bits: loss / Math.LN2, gradientNorm, seconds: (performance.now() - start) / 1000 });
    if ((step + 1) % settings.validationEvery === 0 && step + 1 < settings.maxSteps) {
      validationHistory.push({ step: step + 1, bits: validationBits() });
    }
    const fraction = Math.max((step + 1) / settings.maxSteps, elapsed / settings.timeLimitSeconds);
    progress?.update(fraction * 100, `step ${step + 1}, ${(loss / Math.LN2).toFixed(2)} bits/char`);
  }
  const trainingSeconds = (performance.now() - start) / 1000;
  progress?.finish(100, `${step} steps in ${trainingSeconds.toFixed(1)}s`);
  const finalValidationBits = validationBits();
  validationHistory.push({ step, bits: finalValidationBits });
  const wasmAfter = favor.info.memoryBytes;

  // The same call with one slice covering the whole window: backpropagation without chunking.
  const [, unchunkedBytes] = measureAllocation(favor, () => model.lossAndGradients(train.subarray(0, T + 1), { slice: T }));
  const { dModel: D, mlp: F, layers, heads, features, headDim, vocab: V } = model.config;
  const parameterCount = model.parameterCount;
  const bytes = Float32Array.BYTES_PER_ELEMENT;
  // docs/backward.md: one slice of activations is about slice·(8·dModel + 2·mlp) floats per layer plus slice·vocab.
  const activationFloats = (rows) => rows * (layers * (8 * D + 2 * F) + V);
  const memory = {
    callBytes,
    unchunkedCallBytes: unchunkedBytes,
    estimatedSliceActivationBytes: activationFloats(slice) * bytes,
    estimatedUnchunkedActivationBytes: activationFloats(T) * bytes,
    attentionStateBytes: 2 * layers * heads * features * (headDim + 1) * bytes,
    parameterBytes: parameterCount * bytes,
    wasmMemoryBytesBefore: wasmBefore,
    wasmMemoryBytesAfter: wasmAfter,
  };

  const sampleTokens = generate(model, tokenizer.encode(settings.sample.prompt), settings.sample.length, {
    temperature: settings.sample.temperature,
    uniform: (count) => favor.sync.random.uniform(count, settings.seed + 7),
  });

  const window = Math.max(1, Math.min(20, Math.floor(history.length / 2)));
  const { vocab, dModel, heads: headCount, headDim: width, layers: layerCount, features: m, kernel, mlp, chunk, tokenShift } = model.config;
  return {
    config: { vocab, dModel, heads: headCount, headDim: width, layers: layerCount, features: m, kernel, mlp, chunk, tokenShift, seed: settings.seed },
    parameterCount,
    batch,
    slice,
    context: T,
    learningRate: settings.learningRate,
    validationWindows: settings.validationWindows,
    steps: step,
    tokensSeen: step * batch * T,
    trainingSeconds,
    unigramBits: unigramEntropyBits(train, tokenizer.size),
    bigramBits: bigramEntropyBits(train, tokenizer.size),
    initialValidationBits,
    finalValidationBits,
    validationHistory,
    averagedSteps: window,
    firstTrainingBits: history.length ? mean(history.slice(0, window).map((h) => h.bits)) : NaN,
    lastTrainingBits: history.length ? mean(history.slice(-window).map((h) => h.bits)) : NaN,
    history,
    memory,
    sample: { prompt: settings.sample.prompt, text: tokenizer.decode(sampleTokens), temperature: settings.sample.temperature },
  };
}
