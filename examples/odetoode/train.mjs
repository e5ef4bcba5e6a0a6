// Trains two small classifiers on a Fashion-MNIST subset and compares them:
//   ODEtoODE:      x_{i+1} = x_i + h·tanh(W_i·x_i), W_{i+1} = W_i·cayley(h·(ψ_i − ψ_iᵀ)),
//                  W_0 orthogonal (favor.odeToOde, one ψ per step);
//   unconstrained: the same main flow with free matrices W_i, one per step.
// Both read the same PCA features and end in the same linear softmax head.
// Prints accuracies and writes gradient norms across depth to
// OUT/gradient-norms.svg and all numbers to OUT/results.json.
//
// Usage (from the repository root):
//   node scripts/run-node.mjs examples/odetoode/train.mjs [--epochs 25] [--dim 16] [--steps 16] [--time 2] [--out out/odetoode]

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createFavor } from "favor-wasm";
import { gradientNormsSvg } from "./plot.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { values: args } = parseArgs({
  options: {
    epochs: { type: "string", default: "25" },
    out: { type: "string", default: join(root, "out", "odetoode") },
    dim: { type: "string", default: "16" },
    steps: { type: "string", default: "16" },
    time: { type: "string", default: "2" },
  },
});
const EPOCHS = Number(args.epochs);
const DIM = Number(args.dim);
const STEPS = Number(args.steps);
const T = Number(args.time);
const H = T / STEPS;
const CLASSES = 10;
const BATCH = 200;
const LEARNING_RATE = 0.01;

const favor = await createFavor();
const started = performance.now();

// ---------------------------------------------------------------------------
// Data: data/fashion-mnist-subset.bin (see data/README.md), pixels scaled to [0, 1].

function loadSubset() {
  const bytes = readFileSync(join(root, "data", "fashion-mnist-subset.bin"));
  if (bytes.toString("latin1", 0, 4) !== "FMN1") throw new Error("fashion-mnist-subset.bin: unexpected header");
  const side = bytes.readUInt16LE(4);
  const trainCount = bytes.readUInt16LE(6);
  const testCount = bytes.readUInt16LE(8);
  const pixels = side * side;
  let offset = 12;
  const take = (count) => {
    const labels = bytes.subarray(offset, offset + count);
    offset += count;
    const images = new Float64Array(count * pixels);
    for (let i = 0; i < images.length; i++) images[i] = bytes[offset + i] / 255;
    offset += count * pixels;
    return { labels: Uint8Array.from(labels), images, count };
  };
  const train = take(trainCount);
  const test = take(testCount);
  return { train, test, pixels };
}

/** A deterministic normal generator (Box–Muller on mulberry32) for initial values. */
function normals(count, seed, scale = 1) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = scale * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

/**
 * Projects the images onto the top `dim` principal components of the
 * training set (subspace iteration with the library's QR), then scales each
 * feature to unit variance on the training set.
 */
function pcaFeatures({ train, test, pixels }, dim) {
  const mean = new Float64Array(pixels);
  for (let i = 0; i < train.count; i++) for (let p = 0; p < pixels; p++) mean[p] += train.images[i * pixels + p] / train.count;
  const centered = (set) => Float32Array.from(set.images, (v, index) => v - mean[index % pixels]);
  const trainX = centered(train);
  const testX = centered(test);
  const covariance = favor.sync.matmul(trainX, trainX, { m: pixels, k: train.count, n: pixels, transA: true, alpha: 1 / train.count });
  let basis = favor.sync.qr(normals(pixels * dim, 1), { rows: pixels, cols: dim }).q;
  for (let iteration = 0; iteration < 40; iteration++) {
    basis = favor.sync.qr(favor.sync.matmul(covariance, basis, { m: pixels, k: pixels, n: dim }), { rows: pixels, cols: dim }).q;
  }
  const project = (x, count) => favor.sync.matmul(x, basis, { m: count, k: pixels, n: dim });
  const trainF = project(trainX, train.count);
  const testF = project(testX, test.count);
  for (let j = 0; j < dim; j++) {
    let sum = 0;
    for (let i = 0; i < train.count; i++) sum += trainF[i * dim + j] ** 2;
    const scale = 1 / Math.sqrt(sum / train.count);
    for (let i = 0; i < train.count; i++) trainF[i * dim + j] *= scale;
    for (let i = 0; i < test.count; i++) testF[i * dim + j] *= scale;
  }
  return { trainF, testF };
}

// ---------------------------------------------------------------------------
// The softmax head shared by both models: logits = x_T·Vᵀ + c.

/** Returns the mean cross-entropy, the number of correct predictions and ∂L/∂logits. */
function crossEntropy(logits, labels, count) {
  const probabilities = favor.sync.softmax(logits, { rows: count, cols: CLASSES });
  let loss = 0;
  let correct = 0;
  const grad = new Float32Array(count * CLASSES);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 0; k < CLASSES; k++) {
      const p = probabilities[i * CLASSES + k];
      if (p > probabilities[i * CLASSES + best]) best = k;
      grad[i * CLASSES + k] = (p - (k === labels[i] ? 1 : 0)) / count;
    }
    loss -= Math.log(Math.max(probabilities[i * CLASSES + labels[i]], 1e-30)) / count;
    if (best === labels[i]) correct++;
  }
  return { loss, correct, grad };
}

class Head {
  constructor(seed) {
    this.v = normals(CLASSES * DIM, seed, 1 / Math.sqrt(DIM));
    this.c = new Float32Array(CLASSES);
  }

  logits(xT, count) {
    const logits = favor.sync.matmul(xT, this.v, { m: count, k: DIM, n: CLASSES, transB: true });
    for (let i = 0; i < count; i++) for (let k = 0; k < CLASSES; k++) logits[i * CLASSES + k] += this.c[k];
    return logits;
  }

  /** Returns ∂L/∂x_T and the head's own gradients. */
  backward(xT, gradLogits, count) {
    const gradXT = favor.sync.matmul(gradLogits, this.v, { m: count, k: CLASSES, n: DIM });
    const gradV = favor.sync.matmul(gradLogits, xT, { m: CLASSES, k: count, n: DIM, transA: true });
    const gradC = new Float32Array(CLASSES);
    for (let i = 0; i < count; i++) for (let k = 0; k < CLASSES; k++) gradC[k] += gradLogits[i * CLASSES + k];
    return { gradXT, gradV, gradC };
  }
}

/** Adam on a list of Float32Arrays, updated in place. */
class Adam {
  constructor(parameters, rate) {
    this.parameters = parameters;
    this.rate = rate;
    this.m = parameters.map((p) => new Float32Array(p.length));
    this.v = parameters.map((p) => new Float32Array(p.length));
    this.t = 0;
  }

  step(gradients) {
    this.t++;
    const correction1 = 1 - 0.9 ** this.t;
    const correction2 = 1 - 0.999 ** this.t;
    this.parameters.forEach((p, j) => {
      const g = gradients[j];
      for (let i = 0; i < p.length; i++) {
        this.m[j][i] = 0.9 * this.m[j][i] + 0.1 * g[i];
        this.v[j][i] = 0.999 * this.v[j][i] + 0.001 * g[i] * g[i];
        p[i] -= (this.rate * this.m[j][i]) / correction1 / (Math.sqrt(this.v[j][i] / correction2) + 1e-8);
      }
    });
  }
}

// ---------------------------------------------------------------------------
// Model 1: ODEtoODE through favor.odeToOde.

class OdeModel {
  constructor(w0) {
    this.name = "ODEtoODE";
    this.w0 = w0.slice();
    this.psi = normals(STEPS * DIM * DIM, 3, 0.1);
    this.head = new Head(4);
    this.adam = new Adam([this.psi, this.head.v, this.head.c], LEARNING_RATE);
  }

  options(count) {
    return {
      batch: count, dim: DIM, steps: STEPS, h: H, w0: this.w0, generator: "time-varying", params: this.psi,
      activation: "tanh", stepper: "cayley",
    };
  }

  forward(x0, count) {
    return favor.sync.odeToOde.forward(x0, this.options(count)).xT;
  }

  /** One gradient step on a batch; returns the loss and ‖∂L/∂x_i‖ for i = 0 … STEPS. */
  train(x0, labels, count, update = true) {
    const xT = this.forward(x0, count);
    const { loss, grad } = crossEntropy(this.head.logits(xT, count), labels, count);
    const { gradXT, gradV, gradC } = this.head.backward(xT, grad, count);
    const { dw0, dparams, gradNorms } = favor.sync.odeToOde.backward(x0, gradXT, { ...this.options(count), returnGradNorms: true });
    if (update) {
      this.adam.step([dparams, gradV, gradC]);
      // W_0 stays orthogonal: a Riemannian step W_0 ← W_0·cayley(−η·(W_0ᵀG − GᵀW_0)).
      const projected = favor.sync.matmul(this.w0, dw0, { m: DIM, k: DIM, n: DIM, transA: true });
      const skew = new Float32Array(DIM * DIM);
      for (let i = 0; i < DIM; i++) for (let j = 0; j < DIM; j++) skew[i * DIM + j] = -LEARNING_RATE * (projected[i * DIM + j] - projected[j * DIM + i]);
      this.w0 = favor.sync.matmul(this.w0, favor.sync.linalg.cayley(skew, { n: DIM }), { m: DIM, k: DIM, n: DIM });
    }
    return { loss, gradNorms: Array.from(gradNorms) };
  }

  /** Spectral norms ‖W_i‖₂ along the flow (all 1 up to rounding for ODEtoODE). */
  weightNorms() {
    const norms = [];
    let w = this.w0;
    for (let i = 0; i < STEPS; i++) {
      norms.push(spectralNorm(w));
      w = favor.sync.odeToOde.forward(new Float32Array(DIM), { ...this.options(1), steps: 1, w0: w, params: this.psi.subarray(i * DIM * DIM, (i + 1) * DIM * DIM) }).wT;
    }
    return norms;
  }
}

// ---------------------------------------------------------------------------
// Model 2: the same main flow with free weights W_i, backpropagated here.

class UnconstrainedModel {
  constructor(w0) {
    this.name = "unconstrained";
    this.weights = new Float32Array(STEPS * DIM * DIM);
    for (let i = 0; i < STEPS; i++) this.weights.set(w0, i * DIM * DIM);
    this.head = new Head(4);
    this.adam = new Adam([this.weights, this.head.v, this.head.c], LEARNING_RATE);
  }

  weight(i) {
    return this.weights.subarray(i * DIM * DIM, (i + 1) * DIM * DIM);
  }

  /** Returns x_0 … x_N and the activations tanh(Z_i). */
  run(x0, count) {
    const xs = [x0];
    const activations = [];
    for (let i = 0; i < STEPS; i++) {
      const z = favor.sync.matmul(xs[i], this.weight(i), { m: count, k: DIM, n: DIM, transB: true });
      const a = z.map(Math.tanh);
      activations.push(a);
      xs.push(xs[i].map((v, index) => v + H * a[index]));
    }
    return { xs, activations };
  }

  forward(x0, count) {
    return this.run(x0, count).xs[STEPS];
  }

  train(x0, labels, count, update = true) {
    const { xs, activations } = this.run(x0, count);
    const { loss, grad } = crossEntropy(this.head.logits(xs[STEPS], count), labels, count);
    const { gradXT, gradV, gradC } = this.head.backward(xs[STEPS], grad, count);
    const gradWeights = new Float32Array(this.weights.length);
    const gradNorms = new Array(STEPS + 1);
    let gradX = gradXT;
    gradNorms[STEPS] = norm(gradX);
    for (let i = STEPS - 1; i >= 0; i--) {
      const gradZ = gradX.map((g, index) => H * g * (1 - activations[i][index] ** 2));
      gradWeights.set(favor.sync.matmul(gradZ, xs[i], { m: DIM, k: count, n: DIM, transA: true }), i * DIM * DIM);
      gradX = favor.sync.matmul(gradZ, this.weight(i), { m: count, k: DIM, n: DIM, beta: 1, c: gradX.slice() });
      gradNorms[i] = norm(gradX);
    }
    if (update) this.adam.step([gradWeights, gradV, gradC]);
    return { loss, gradNorms };
  }

  weightNorms() {
    return Array.from({ length: STEPS }, (_, i) => spectralNorm(this.weight(i)));
  }
}

function norm(values) {
  let sum = 0;
  for (const v of values) sum += v * v;
  return Math.sqrt(sum);
}

/** ‖W‖₂ of a DIM×DIM matrix by 100 power iterations on WᵀW. */
function spectralNorm(w) {
  let x = new Float32Array(DIM).fill(1 / Math.sqrt(DIM));
  let sigma = 0;
  for (let i = 0; i < 100; i++) {
    const y = favor.sync.gemv(w, x, { m: DIM, n: DIM });
    x = favor.sync.gemv(w, y, { m: DIM, n: DIM, trans: true });
    sigma = Math.sqrt(norm(x));
    const length = norm(x);
    x = x.map((v) => v / length);
  }
  return sigma;
}

function accuracy(model, features, labels, count) {
  const xT = model.forward(features, count);
  return crossEntropy(model.head.logits(xT, count), labels, count).correct / count;
}

// ---------------------------------------------------------------------------

const data = loadSubset();
const { trainF, testF } = pcaFeatures(data, DIM);
const w0 = favor.sync.qr(normals(DIM * DIM, 2), { rows: DIM, cols: DIM }).q;
const models = [new OdeModel(w0), new UnconstrainedModel(w0)];
const results = {};
const order = Array.from({ length: data.train.count }, (_, i) => i);

for (const model of models) {
  const initial = model.train(trainF, data.train.labels, data.train.count, false);
  const history = [];
  for (let epoch = 1; epoch <= EPOCHS; epoch++) {
    // A fixed shuffle per epoch (same for both models).
    let state = epoch;
    for (let i = order.length - 1; i > 0; i--) {
      state = (state * 1103515245 + 12345) % 2147483648;
      const j = state % (i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    let loss = 0;
    for (let start = 0; start < order.length; start += BATCH) {
      const indices = order.slice(start, start + BATCH);
      const x = new Float32Array(indices.length * DIM);
      const labels = new Uint8Array(indices.length);
      indices.forEach((index, k) => {
        x.set(trainF.subarray(index * DIM, (index + 1) * DIM), k * DIM);
        labels[k] = data.train.labels[index];
      });
      loss += model.train(x, labels, indices.length).loss * indices.length / order.length;
    }
    history.push({ epoch, loss, testAccuracy: accuracy(model, testF, data.test.labels, data.test.count) });
  }
  const final = model.train(trainF, data.train.labels, data.train.count, false);
  results[model.name] = {
    trainAccuracy: accuracy(model, trainF, data.train.labels, data.train.count),
    testAccuracy: accuracy(model, testF, data.test.labels, data.test.count),
    history,
    gradientNormsInitial: initial.gradNorms,
    gradientNormsFinal: final.gradNorms,
    weightSpectralNorms: model.weightNorms(),
  };
}

mkdirSync(args.out, { recursive: true });
const seconds = (performance.now() - started) / 1000;
writeFileSync(join(args.out, "results.json"), JSON.stringify({
  build: favor.info.build, dim: DIM, steps: STEPS, T, epochs: EPOCHS, batch: BATCH, learningRate: LEARNING_RATE,
  trainImages: data.train.count, testImages: data.test.count, seconds, models: results,
}, null, 2));
writeFileSync(join(args.out, "gradient-norms.svg"), gradientNormsSvg(results, STEPS, H));

console.log(`Fashion-MNIST subset: ${data.train.count} training and ${data.test.count} test images, ` +
  `PCA to ${DIM} features, ${STEPS} steps of h = ${H}, ${EPOCHS} epochs, ${favor.info.build} build`);
for (const [name, r] of Object.entries(results)) {
  const ratio = (norms) => (norms[0] / norms[STEPS]).toFixed(3);
  const spectral = r.weightSpectralNorms;
  console.log(`${name.padEnd(14)} train ${(100 * r.trainAccuracy).toFixed(1)}%  test ${(100 * r.testAccuracy).toFixed(1)}%  ` +
    `‖∂L/∂x_0‖/‖∂L/∂x_N‖ initial ${ratio(r.gradientNormsInitial)} final ${ratio(r.gradientNormsFinal)}  ` +
    `‖W_i‖₂ in [${Math.min(...spectral).toFixed(3)}, ${Math.max(...spectral).toFixed(3)}]`);
}
console.log(`wrote ${join(args.out, "gradient-norms.svg")} and results.json in ${seconds.toFixed(1)} s`);
