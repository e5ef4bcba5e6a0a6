// The SLiM runner: a causal Performer language model whose loss and
// parameter gradients are computed slice by slice, so activation memory is
// proportional to the slice length and not to the sequence.
//
// Layer ℓ (pre-norm residual; LN is omitted when layerNorm is false):
//   a = LN1(x);  q, k, v = a·Wq, a·Wk, a·Wv;  o = causal FAVOR+ per head;
//   x ← x + o·Wo;  b = LN2(x);  x ← x + gelu(b·W1 + b1)·W2 + b2   (when mlp > 0)
// Output: logits = LN(x)·Wout + bout; the loss is the mean cross-entropy
// of token t+1 given tokens ≤ t. With tokenShift S > 0 the first layer
// reads x_t = e(t) + Σ_{s=1..S} c_s ∘ e(t − s) (a causal depthwise
// convolution of the embeddings, e(t − s) = 0 before the sequence), which
// gives the model its recent context in order; otherwise causal attention
// alone carries order.
//
// Passes (Likhosherstov et al., "Sub-Linear Memory: How to Make Performers
// SLiM", NeurIPS 2021):
//   forward: every slice runs through all layers with each layer's and
//            head's attention state B (Σ φ(k)[v 1]ᵀ) carried from the
//            previous slice. Only the loss and the final states are kept.
//   backward: slices in reverse. For slice n, layer by layer from the
//            bottom, the slice's keys and values are recomputed from the
//            layer input, their chunk products are subtracted from B to
//            get the state at the slice start (exact: B is a compensated
//            float64-pair state, see ops/attention-backward.ts), and the
//            layer is rerun keeping its activations. Then the slice is
//            back-propagated from the loss down, each head's attention
//            receiving the state gradient R from slice n + 1 and passing
//            the gradient w.r.t. its start state on to slice n − 1.
// Memory: the token ids, the parameters and their gradients, the states
// and state gradients (layers·heads·r·(headDim + 1) each), and one slice
// of activations (about slice·(8·dModel + 2·mlp) floats per layer plus
// slice·vocab for the logits).

import { planFeatureMap } from "../api/features.js";
import { planProjection } from "../api/projection.js";
import { planRandom } from "../api/random.js";
import {
  parameterSpecs,
  planSlice,
  requireTokens,
  type ParameterSpec,
  type SlimModelConfig,
} from "../api/slim.js";
import { EXPONENTIAL_KINDS } from "../api/features.js";
import type { Scope, WasmBackend } from "../backends/wasm/backend.js";
import {
  BackwardKernels,
  BackwardScratch,
  CompensatedState,
  causalChunkBackward,
  causalChunkForward,
  keyBlockProduct,
  readChunkStart,
  chunkShift,
  type HeadTensors,
} from "../backends/wasm/ops/attention-backward.js";
import { writeProjection } from "../backends/wasm/ops/projection.js";
import { runRandom } from "../backends/wasm/ops/random.js";
import { describe } from "../validate.js";

/** Variance floor of the layer norms. */
const NORM_EPSILON = 1e-5;
/** √(2/π), of the tanh approximation of GELU. */
const GELU_C = Math.sqrt(2 / Math.PI);

/** Result of lossAndGradients. */
export interface SlimLossAndGradients {
  /** Mean cross-entropy over the tokens.length − 1 predictions, in nats. */
  loss: number;
  /** Gradients of the loss, with the names and shapes of `parameters`. */
  gradients: Record<string, Float32Array>;
}

/** Pointers of one layer's slice activations (rows = slice). */
interface LayerBuffers {
  a1: number; mean1: number; rstd1: number;
  q: number; k: number; v: number; o: number;
  xmid: number;
  a2: number; mean2: number; rstd2: number;
  hpre: number; hact: number;
}

/** Everything one call allocates in WASM memory. */
interface Workspace {
  params: Map<string, number>;
  grads: Map<string, number> | null;
  projections: number;
  x: number[];
  layers: LayerBuffers[];
  y: number; meanf: number; rstdf: number;
  logits: number;
  dx: number; dxmid: number; da: number; dq: number; dk: number; dv: number; dO: number; dh: number;
  scratch: BackwardScratch;
  states: CompensatedState[];
  stateGrads: number[];
  nextShifts: Float64Array;
  /** Per layer·head·chunk: the chunk's start state at its shift (float32, r×(headDim + 1)). */
  savedStates: number;
  savedShifts: Float64Array;
  blockShifts: Float64Array;
  chunksPerSlice: number;
  /** First input position of the slice being recomputed. */
  sliceStart: number;
  /**
   * Returns a float32 view of all of WASM memory. f32_gemm may grow memory
   * inside a call (it allocates its packing buffers), which detaches older
   * views, so take a new one after every kernel call.
   */
  memory: () => Float32Array;
}

/** A causal Performer language model trained slice by slice; see the file header. */
export class SlimModel {
  /** Parameters by name (row-major Float32Arrays); optimizers update them in place. */
  readonly parameters: Record<string, Float32Array> = {};
  /** The fixed random projections: layers × heads × features × headDim. */
  projections: Float32Array;
  /** The draw of the projections (see redrawProjections). */
  projectionDraw = 0;
  private readonly specs: ParameterSpec[];
  private readonly kernels: BackwardKernels;

  constructor(private readonly backend: WasmBackend, readonly config: SlimModelConfig) {
    this.specs = parameterSpecs(config);
    this.kernels = new BackwardKernels(backend);
    let offset = 0n;
    for (const spec of this.specs) {
      const count = spec.rows * spec.cols;
      let values: Float32Array;
      if ("normal" in spec.init) {
        values = runRandom(backend, planRandom("normal", count, config.seed, { offset }));
        const std = spec.init.normal;
        for (let i = 0; i < count; i++) values[i] = Math.fround(values[i] * std);
        offset += BigInt(count);
      } else {
        values = new Float32Array(count).fill(spec.init.constant);
      }
      this.parameters[spec.name] = values;
    }
    this.projections = this.drawProjections(0);
  }

  /** Number of trained values. */
  get parameterCount(): number {
    return this.specs.reduce((sum, spec) => sum + spec.rows * spec.cols, 0);
  }

  /**
   * Replaces the random projections with draw `draw` of the model's seed
   * (default: the next draw), as Performer training does periodically.
   * Head h of layer ℓ uses projection draw draw·layers·heads + ℓ·heads + h.
   */
  redrawProjections(draw: number = this.projectionDraw + 1): void {
    const op = "slim.redrawProjections";
    const limit = Math.floor((2 ** 32 - 1) / (this.config.layers * this.config.heads));
    if (!Number.isInteger(draw) || draw < 0 || draw > limit) {
      throw new RangeError(`${op}: draw must be an integer in [0, ${limit}], got ${describe(draw)}`);
    }
    this.projections = this.drawProjections(draw);
    this.projectionDraw = draw;
  }

  private drawProjections(draw: number): Float32Array {
    const { layers, heads, features, headDim, seed } = this.config;
    const size = features * headDim;
    const out = new Float32Array(layers * heads * size);
    if (features === 0) return out;
    this.backend.withScope("slim.createModel", (scope) => {
      const ptr = scope.allocF32(size);
      for (let index = 0; index < layers * heads; index++) {
        const plan = planProjection({ features, dim: headDim, seed, draw: draw * layers * heads + index }, "slim.createModel");
        writeProjection(this.backend, scope, plan, ptr);
        out.set(this.backend.f32(ptr, size), index * size);
      }
    });
    return out;
  }

  /** Mean cross-entropy of the next token over the sequence, computed slice by slice. */
  loss(tokens: ArrayLike<number>, options?: { slice?: number }): number {
    const op = "slim.loss";
    const ids = requireTokens(op, tokens, this.config.vocab);
    const slice = planSlice(op, options);
    return this.backend.withScope(op, (scope) => {
      const w = this.allocate(scope, Math.min(slice, ids.length - 1), false);
      return this.forwardPass(w, ids, slice);
    });
  }

  /** Returns the loss and its gradient w.r.t. every parameter, with activation memory proportional to the slice. */
  lossAndGradients(tokens: ArrayLike<number>, options?: { slice?: number }): SlimLossAndGradients {
    const op = "slim.lossAndGradients";
    const ids = requireTokens(op, tokens, this.config.vocab);
    const slice = planSlice(op, options);
    return this.backend.withScope(op, (scope) => {
      const predictions = ids.length - 1;
      const w = this.allocate(scope, Math.min(slice, predictions), true);
      const loss = this.forwardPass(w, ids, slice);
      const slices = Math.ceil(predictions / slice);
      for (let n = slices - 1; n >= 0; n--) {
        const start = n * slice;
        const rows = Math.min(slice, predictions - start);
        this.recomputeSlice(w, ids, start, rows);
        this.backwardSlice(w, ids, start, rows, predictions);
      }
      const gradients: Record<string, Float32Array> = {};
      for (const spec of this.specs) {
        gradients[spec.name] = this.backend.f32(w.grads!.get(spec.name)!, spec.rows * spec.cols).slice();
      }
      return { loss, gradients };
    });
  }

  /** Allocates parameters, states and one slice of activations; takes the memory view last. */
  private allocate(scope: Scope, rows: number, withGradients: boolean): Workspace {
    const { dModel: D, vocab: V, mlp: F, layers, heads, headDim, chunk } = this.config;
    const backend = this.backend;
    const params = new Map<string, number>();
    for (const spec of this.specs) params.set(spec.name, scope.copyIn(this.parameters[spec.name]));
    let grads: Map<string, number> | null = null;
    if (withGradients) {
      grads = new Map();
      for (const spec of this.specs) grads.set(spec.name, scope.allocF32(spec.rows * spec.cols));
    }
    const projections = scope.copyIn(this.projections);
    const block = (cols: number) => scope.allocF32(rows * Math.max(cols, 1));
    const x: number[] = [];
    for (let layer = 0; layer <= layers; layer++) x.push(block(D));
    const layerBuffers: LayerBuffers[] = [];
    for (let layer = 0; layer < layers; layer++) {
      layerBuffers.push({
        a1: block(D), mean1: block(1), rstd1: block(1),
        q: block(D), k: block(D), v: block(D), o: block(D),
        xmid: block(D),
        a2: block(D), mean2: block(1), rstd2: block(1),
        hpre: block(F), hact: block(F),
      });
    }
    const chunkRows = Math.min(chunk, rows);
    const maps = { query: this.config.query, key: this.config.key };
    const scratch = new BackwardScratch(this.kernels, scope, maps, chunkRows, headDim, Math.fround(headDim ** -0.25), true);
    const stateSize = scratch.r * scratch.dv1;
    const states: CompensatedState[] = [];
    const stateGrads: number[] = [];
    for (let index = 0; index < layers * heads; index++) {
      states.push(new CompensatedState(this.kernels, scope, stateSize));
      stateGrads.push(withGradients ? scope.allocF32(stateSize) : 0);
    }
    const chunksPerSlice = Math.ceil(rows / chunkRows);
    const savedCount = layers * heads * chunksPerSlice;
    const w: Workspace = {
      params, grads, projections, x, layers: layerBuffers,
      y: block(D), meanf: block(1), rstdf: block(1), logits: block(V),
      dx: withGradients ? block(D) : 0,
      dxmid: withGradients ? block(D) : 0,
      da: withGradients ? block(D) : 0,
      dq: withGradients ? block(D) : 0,
      dk: withGradients ? block(D) : 0,
      dv: withGradients ? block(D) : 0,
      dO: withGradients ? block(D) : 0,
      dh: withGradients ? block(F) : 0,
      scratch, states, stateGrads,
      nextShifts: new Float64Array(layers * heads).fill(NaN),
      savedStates: withGradients ? scope.allocF32(savedCount * stateSize) : 0,
      savedShifts: new Float64Array(savedCount),
      blockShifts: new Float64Array(savedCount),
      chunksPerSlice,
      sliceStart: 0,
      memory: () => new Float32Array(backend.exports.memory.buffer),
    };
    for (const state of states) state.reset();
    const m = w.memory();
    if (grads !== null) for (const [name, ptr] of grads) m.fill(0, ptr / 4, ptr / 4 + this.size(name));
    for (const ptr of stateGrads) if (ptr !== 0) m.fill(0, ptr / 4, ptr / 4 + stateSize);
    return w;
  }

  private size(name: string): number {
    const spec = this.specs.find((s) => s.name === name)!;
    return spec.rows * spec.cols;
  }

  private param(w: Workspace, name: string): number {
    return w.params.get(name)!;
  }

  private grad(w: Workspace, name: string): number {
    return w.grads!.get(name)!;
  }

  /** Runs every slice forward, carrying the states, and returns the mean loss. */
  private forwardPass(w: Workspace, ids: ArrayLike<number>, slice: number): number {
    const predictions = ids.length - 1;
    let total = 0;
    for (let start = 0; start < predictions; start += slice) {
      const rows = Math.min(slice, predictions - start);
      this.embed(w, ids, start, rows);
      for (let layer = 0; layer < this.config.layers; layer++) this.layerForward(w, layer, rows, "advance");
      total += this.outputLoss(w, ids, start, rows, predictions, false);
    }
    return total / predictions;
  }

  /** x[0] = embedding rows of the slice's input tokens, plus the token shift (see the file header). */
  private embed(w: Workspace, ids: ArrayLike<number>, start: number, rows: number): void {
    const { dModel: D, tokenShift } = this.config;
    const embedding = this.param(w, "embedding") / 4;
    const x0 = w.x[0] / 4;
    const m = w.memory();
    for (let t = 0; t < rows; t++) {
      const from = embedding + ids[start + t] * D;
      m.copyWithin(x0 + t * D, from, from + D);
    }
    if (tokenShift === 0) return;
    const shift = this.param(w, "input.shift") / 4;
    for (let t = 0; t < rows; t++) {
      for (let s = 1; s <= tokenShift && start + t - s >= 0; s++) {
        const previous = embedding + ids[start + t - s] * D;
        const weights = shift + (s - 1) * D;
        const row = x0 + t * D;
        for (let c = 0; c < D; c++) m[row + c] += m[weights + c] * m[previous + c];
      }
    }
  }

  /**
   * Runs one layer on the slice, from x[layer] to x[layer + 1]. The attention
   * either advances the states over the slice ("advance", forward pass) or
   * first rewinds them to the slice start and saves each chunk's start
   * state for the backward pass ("rewind").
   */
  private layerForward(w: Workspace, layer: number, rows: number, mode: "advance" | "rewind"): void {
    const { dModel: D, mlp: F, heads } = this.config;
    const k = this.kernels;
    const b = w.layers[layer];
    const p = `layers.${layer}`;
    const xin = w.x[layer];
    this.normForward(w, `${p}.norm1`, xin, b.a1, b.mean1, b.rstd1, rows);
    k.product(rows, D, D, b.a1, D, false, this.param(w, `${p}.attention.wq`), D, false, 0, b.q, D);
    k.product(rows, D, D, b.a1, D, false, this.param(w, `${p}.attention.wk`), D, false, 0, b.k, D);
    k.product(rows, D, D, b.a1, D, false, this.param(w, `${p}.attention.wv`), D, false, 0, b.v, D);
    for (let head = 0; head < heads; head++) {
      const h = this.headTensors(w, layer, head);
      if (mode === "advance") this.attentionAdvance(w, h, layer, head, rows);
      else this.attentionRewind(w, h, layer, head, rows);
    }
    // xmid = x + o·Wo.
    w.memory().copyWithin(b.xmid / 4, xin / 4, xin / 4 + rows * D);
    k.product(rows, D, D, b.o, D, false, this.param(w, `${p}.attention.wo`), D, false, 1, b.xmid, D);
    const xout = w.x[layer + 1];
    w.memory().copyWithin(xout / 4, b.xmid / 4, b.xmid / 4 + rows * D);
    if (F === 0) return;
    this.normForward(w, `${p}.norm2`, b.xmid, b.a2, b.mean2, b.rstd2, rows);
    k.product(rows, F, D, b.a2, D, false, this.param(w, `${p}.mlp.w1`), F, false, 0, b.hpre, F);
    let m = w.memory();
    const b1 = this.param(w, `${p}.mlp.b1`) / 4;
    for (let t = 0; t < rows; t++) {
      for (let c = 0; c < F; c++) {
        const at = b.hpre / 4 + t * F + c;
        const value = m[at] + m[b1 + c];
        m[at] = value;
        m[b.hact / 4 + t * F + c] = 0.5 * value * (1 + Math.tanh(GELU_C * (value + 0.044715 * value * value * value)));
      }
    }
    k.product(rows, D, F, b.hact, F, false, this.param(w, `${p}.mlp.w2`), D, false, 1, xout, D);
    const b2 = this.param(w, `${p}.mlp.b2`) / 4;
    m = w.memory();
    for (let t = 0; t < rows; t++) for (let c = 0; c < D; c++) m[xout / 4 + t * D + c] += m[b2 + c];
  }

  /** Returns the tensors of head `head` in a layer's slice buffers (columns head·headDim … of each row). */
  private headTensors(w: Workspace, layer: number, head: number): HeadTensors {
    const { dModel: D, headDim, heads, features } = this.config;
    const b = w.layers[layer];
    const column = head * headDim * 4;
    const projectionBytes = features * headDim * 4;
    return {
      q: b.q + column, ldq: D,
      k: b.k + column, ldk: D,
      v: b.v + column, ldv: D,
      g: w.dO + column, ldg: D,
      dq: w.dq + column, lddq: D,
      dk: w.dk + column, lddk: D,
      dv: w.dv + column, lddv: D,
      projection: features === 0 ? 0 : w.projections + (layer * heads + head) * projectionBytes,
      dprojection: 0,
    };
  }

  private get exponential(): boolean {
    return EXPONENTIAL_KINDS.includes(this.config.key.kind);
  }

  /** Forward pass of one head over the slice: outputs, and the state advanced past the slice. */
  private attentionAdvance(w: Workspace, h: HeadTensors, layer: number, head: number, rows: number): void {
    const s = w.scratch;
    const state = w.states[layer * this.config.heads + head];
    const out = w.layers[layer].o + head * this.config.headDim * 4;
    for (let start = 0; start < rows; start += s.rows) {
      const count = Math.min(s.rows, rows - start);
      s.writeRange(s.keyPositions, start, count);
      const blockShift = keyBlockProduct(s, h, this.exponential, count);
      readChunkStart(s, state, blockShift, count, this.exponential);
      causalChunkForward(s, h, start, count, count, out, this.config.dModel);
      state.add(s.pc, blockShift, 1);
    }
  }

  /**
   * Rewinds one head's state to the slice start by subtracting the chunk
   * products in reverse, saving each chunk's start state and shifts, then
   * recomputes the outputs from the saved states.
   */
  private attentionRewind(w: Workspace, h: HeadTensors, layer: number, head: number, rows: number): void {
    const s = w.scratch;
    const index = layer * this.config.heads + head;
    const state = w.states[index];
    const out = w.layers[layer].o + head * this.config.headDim * 4;
    const stateSize = s.r * s.dv1;
    const chunks = Math.ceil(rows / s.rows);
    const slot = (c: number) => index * w.chunksPerSlice + c;
    for (let c = chunks - 1; c >= 0; c--) {
      const start = c * s.rows;
      const count = Math.min(s.rows, rows - start);
      s.writeRange(s.keyPositions, start, count);
      const blockShift = keyBlockProduct(s, h, this.exponential, count);
      state.add(s.pc, blockShift, -1);
      // The sequence starts from an empty state; subtraction would leave a residue of about 2^-106.
      if (w.sliceStart === 0 && c === 0) state.reset();
      const shift = chunkShift(state, blockShift, this.exponential);
      state.read(shift, w.savedStates + slot(c) * stateSize * 4);
      w.savedShifts[slot(c)] = shift;
      w.blockShifts[slot(c)] = blockShift;
    }
    for (let c = 0; c < chunks; c++) {
      const start = c * s.rows;
      const count = Math.min(s.rows, rows - start);
      s.writeRange(s.keyPositions, start, count);
      keyBlockProduct(s, h, this.exponential, count);
      if (this.exponential) s.key.scaleFeatures(count, Math.exp(w.blockShifts[slot(c)] - w.savedShifts[slot(c)]));
      this.kernels.scaleCopy(stateSize, 1, w.savedStates + slot(c) * stateSize * 4, s.t0);
      causalChunkForward(s, h, start, count, count, out, this.config.dModel);
    }
  }

  /** Backward pass of one head over the slice, carrying its state gradient between slices. */
  private attentionBackward(w: Workspace, h: HeadTensors, layer: number, head: number, rows: number): void {
    const s = w.scratch;
    const k = this.kernels;
    const index = layer * this.config.heads + head;
    const stateSize = s.r * s.dv1;
    const chunks = Math.ceil(rows / s.rows);
    k.scaleCopy(stateSize, 1, w.stateGrads[index], s.rg);
    let nextShift = w.nextShifts[index];
    for (let c = chunks - 1; c >= 0; c--) {
      const slot = index * w.chunksPerSlice + c;
      const start = c * s.rows;
      const count = Math.min(s.rows, rows - start);
      s.writeRange(s.keyPositions, start, count);
      keyBlockProduct(s, h, this.exponential, count);
      const shift = w.savedShifts[slot];
      if (this.exponential) s.key.scaleFeatures(count, Math.exp(w.blockShifts[slot] - shift));
      k.scaleCopy(stateSize, 1, w.savedStates + slot * stateSize * 4, s.t0);
      if (!Number.isNaN(nextShift) && shift !== nextShift) k.scale(stateSize, s.rg, Math.exp(shift - nextShift));
      causalChunkBackward(s, h, start, count, count);
      nextShift = shift;
    }
    k.scaleCopy(stateSize, 1, s.rg, w.stateGrads[index]);
    w.nextShifts[index] = nextShift;
  }

  /** Reruns every layer on the slice, rewinding the states to its start and keeping the activations. */
  private recomputeSlice(w: Workspace, ids: ArrayLike<number>, start: number, rows: number): void {
    w.sliceStart = start;
    this.embed(w, ids, start, rows);
    for (let layer = 0; layer < this.config.layers; layer++) this.layerForward(w, layer, rows, "rewind");
  }

  /**
   * The final norm, logits and cross-entropy of the slice; returns the sum
   * of its losses. With `gradient`, also writes d(loss)/d(logits) (divided
   * by the number of predictions) over the logits.
   */
  private outputLoss(w: Workspace, ids: ArrayLike<number>, start: number, rows: number, predictions: number, gradient: boolean): number {
    const { dModel: D, vocab: V, layers } = this.config;
    this.normForward(w, "norm", w.x[layers], w.y, w.meanf, w.rstdf, rows);
    this.kernels.product(rows, V, D, w.y, D, false, this.param(w, "output.weight"), V, false, 0, w.logits, V);
    const m = w.memory();
    const bias = this.param(w, "output.bias") / 4;
    let total = 0;
    for (let t = 0; t < rows; t++) {
      const row = w.logits / 4 + t * V;
      let largest = -Infinity;
      for (let c = 0; c < V; c++) {
        m[row + c] += m[bias + c];
        largest = Math.max(largest, m[row + c]);
      }
      let sum = 0;
      for (let c = 0; c < V; c++) sum += Math.exp(m[row + c] - largest);
      const target = ids[start + t + 1];
      const logSum = largest + Math.log(sum);
      total += logSum - m[row + target];
      if (gradient) {
        for (let c = 0; c < V; c++) m[row + c] = Math.exp(m[row + c] - logSum) / predictions;
        m[row + target] -= 1 / predictions;
      }
    }
    return total;
  }

  /** Back-propagates the recomputed slice and accumulates every parameter gradient. */
  private backwardSlice(w: Workspace, ids: ArrayLike<number>, start: number, rows: number, predictions: number): void {
    const { dModel: D, vocab: V, mlp: F, layers, heads } = this.config;
    const k = this.kernels;
    this.outputLoss(w, ids, start, rows, predictions, true);
    k.product(D, V, rows, w.y, D, true, w.logits, V, false, 1, this.grad(w, "output.weight"), V);
    this.columnSums(w, w.logits, rows, V, this.grad(w, "output.bias"));
    k.product(rows, D, V, w.logits, V, false, this.param(w, "output.weight"), V, true, 0, w.da, D);
    this.normBackward(w, "norm", w.x[layers], w.da, w.meanf, w.rstdf, rows, w.dx, false);

    for (let layer = layers - 1; layer >= 0; layer--) {
      const b = w.layers[layer];
      const p = `layers.${layer}`;
      // dx contains the gradient w.r.t. x[layer + 1].
      w.memory().copyWithin(w.dxmid / 4, w.dx / 4, w.dx / 4 + rows * D);
      if (F > 0) {
        k.product(F, D, rows, b.hact, F, true, w.dx, D, false, 1, this.grad(w, `${p}.mlp.w2`), D);
        this.columnSums(w, w.dx, rows, D, this.grad(w, `${p}.mlp.b2`));
        k.product(rows, F, D, w.dx, D, false, this.param(w, `${p}.mlp.w2`), D, true, 0, w.dh, F);
        const m = w.memory();
        for (let i = 0; i < rows * F; i++) {
          const value = m[b.hpre / 4 + i];
          const inner = GELU_C * (value + 0.044715 * value * value * value);
          const t = Math.tanh(inner);
          const slope = 0.5 * (1 + t) + 0.5 * value * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * value * value);
          m[w.dh / 4 + i] *= slope;
        }
        k.product(D, F, rows, b.a2, D, true, w.dh, F, false, 1, this.grad(w, `${p}.mlp.w1`), F);
        this.columnSums(w, w.dh, rows, F, this.grad(w, `${p}.mlp.b1`));
        k.product(rows, D, F, w.dh, F, false, this.param(w, `${p}.mlp.w1`), F, true, 0, w.da, D);
        this.normBackward(w, `${p}.norm2`, b.xmid, w.da, b.mean2, b.rstd2, rows, w.dxmid, true);
      }
      // Attention block: xmid = x + o·Wo.
      k.product(D, D, rows, b.o, D, true, w.dxmid, D, false, 1, this.grad(w, `${p}.attention.wo`), D);
      k.product(rows, D, D, w.dxmid, D, false, this.param(w, `${p}.attention.wo`), D, true, 0, w.dO, D);
      for (let head = 0; head < heads; head++) this.attentionBackward(w, this.headTensors(w, layer, head), layer, head, rows);
      k.product(D, D, rows, b.a1, D, true, w.dq, D, false, 1, this.grad(w, `${p}.attention.wq`), D);
      k.product(D, D, rows, b.a1, D, true, w.dk, D, false, 1, this.grad(w, `${p}.attention.wk`), D);
      k.product(D, D, rows, b.a1, D, true, w.dv, D, false, 1, this.grad(w, `${p}.attention.wv`), D);
      k.product(rows, D, D, w.dq, D, false, this.param(w, `${p}.attention.wq`), D, true, 0, w.da, D);
      k.product(rows, D, D, w.dk, D, false, this.param(w, `${p}.attention.wk`), D, true, 1, w.da, D);
      k.product(rows, D, D, w.dv, D, false, this.param(w, `${p}.attention.wv`), D, true, 1, w.da, D);
      w.memory().copyWithin(w.dx / 4, w.dxmid / 4, w.dxmid / 4 + rows * D);
      this.normBackward(w, `${p}.norm1`, w.x[layer], w.da, b.mean1, b.rstd1, rows, w.dx, true);
    }

    const embedding = this.grad(w, "embedding") / 4;
    const m = w.memory();
    for (let t = 0; t < rows; t++) {
      const to = embedding + ids[start + t] * D;
      for (let c = 0; c < D; c++) m[to + c] += m[w.dx / 4 + t * D + c];
    }
    // Token shift: x_t += c_s ∘ e(t − s) sends c_s ∘ dx_t to e(t − s) and dx_t ∘ e(t − s) to c_s.
    const { tokenShift } = this.config;
    if (tokenShift === 0) return;
    const shift = this.param(w, "input.shift") / 4;
    const shiftGrad = this.grad(w, "input.shift") / 4;
    const values = this.param(w, "embedding") / 4;
    for (let t = 0; t < rows; t++) {
      const dx = w.dx / 4 + t * D;
      for (let s = 1; s <= tokenShift && start + t - s >= 0; s++) {
        const token = ids[start + t - s];
        const to = embedding + token * D;
        const previous = values + token * D;
        const weights = shift + (s - 1) * D;
        const weightGrad = shiftGrad + (s - 1) * D;
        for (let c = 0; c < D; c++) {
          m[to + c] += m[weights + c] * m[dx + c];
          m[weightGrad + c] += m[dx + c] * m[previous + c];
        }
      }
    }
  }

  /** out (cols) += Σ over rows of a (rows×cols). */
  private columnSums(w: Workspace, a: number, rows: number, cols: number, out: number): void {
    const m = w.memory();
    for (let t = 0; t < rows; t++) for (let c = 0; c < cols; c++) m[out / 4 + c] += m[a / 4 + t * cols + c];
  }

  /**
   * y = LN(x)·gain + bias per row (y = x when layerNorm is false), keeping
   * the row mean and 1/√(var + ε) for the backward pass.
   */
  private normForward(w: Workspace, prefix: string, x: number, y: number, mean: number, rstd: number, rows: number): void {
    const D = this.config.dModel;
    const m = w.memory();
    if (!this.config.layerNorm) {
      m.copyWithin(y / 4, x / 4, x / 4 + rows * D);
      return;
    }
    const gain = this.param(w, `${prefix}.gain`) / 4;
    const bias = this.param(w, `${prefix}.bias`) / 4;
    for (let t = 0; t < rows; t++) {
      const row = x / 4 + t * D;
      let sum = 0;
      for (let c = 0; c < D; c++) sum += m[row + c];
      const mu = sum / D;
      let variance = 0;
      for (let c = 0; c < D; c++) variance += (m[row + c] - mu) ** 2;
      const inverse = 1 / Math.sqrt(variance / D + NORM_EPSILON);
      m[mean / 4 + t] = mu;
      m[rstd / 4 + t] = inverse;
      for (let c = 0; c < D; c++) m[y / 4 + t * D + c] = (m[row + c] - mu) * inverse * m[gain + c] + m[bias + c];
    }
  }

  /**
   * Backward of normForward: given dy (the gradient w.r.t. its output),
   * adds the gradient w.r.t. x to dx (accumulate) or writes it (not
   * accumulate), and accumulates the gain and bias gradients.
   */
  private normBackward(
    w: Workspace, prefix: string, x: number, dy: number, mean: number, rstd: number, rows: number, dx: number, accumulate: boolean,
  ): void {
    const D = this.config.dModel;
    const m = w.memory();
    if (!this.config.layerNorm) {
      for (let i = 0; i < rows * D; i++) m[dx / 4 + i] = (accumulate ? m[dx / 4 + i] : 0) + m[dy / 4 + i];
      return;
    }
    const gain = this.param(w, `${prefix}.gain`) / 4;
    const dGain = this.grad(w, `${prefix}.gain`) / 4;
    const dBias = this.grad(w, `${prefix}.bias`) / 4;
    for (let t = 0; t < rows; t++) {
      const mu = m[mean / 4 + t];
      const inverse = m[rstd / 4 + t];
      let meanDx = 0;
      let meanDxX = 0;
      for (let c = 0; c < D; c++) {
        const xhat = (m[x / 4 + t * D + c] - mu) * inverse;
        const g = m[dy / 4 + t * D + c];
        m[dGain + c] += g * xhat;
        m[dBias + c] += g;
        const dxhat = g * m[gain + c];
        meanDx += dxhat;
        meanDxX += dxhat * xhat;
      }
      meanDx /= D;
      meanDxX /= D;
      for (let c = 0; c < D; c++) {
        const xhat = (m[x / 4 + t * D + c] - mu) * inverse;
        const dxhat = m[dy / 4 + t * D + c] * m[gain + c];
        const value = inverse * (dxhat - meanDx - xhat * meanDxX);
        const at = dx / 4 + t * D + c;
        m[at] = accumulate ? m[at] + value : value;
      }
    }
  }
}

/** Builds the query and key maps of a head; exported for the tests' reference model. */
export function slimFeatureMaps(config: SlimModelConfig) {
  const settings = { dim: config.headDim, features: config.features, kind: config.kernel, epsilon: 0 };
  return {
    query: planFeatureMap("slim", { ...settings, role: "query" }),
    key: planFeatureMap("slim", { ...settings, role: "key" }),
  };
}

/** The Promise-returning view of a SlimModel (favor.slim.createModel); parameters are shared with it. */
export interface SlimModelAsync {
  readonly config: SlimModelConfig;
  readonly parameters: Record<string, Float32Array>;
  readonly projections: Float32Array;
  readonly projectionDraw: number;
  readonly parameterCount: number;
  redrawProjections(draw?: number): void;
  loss(tokens: ArrayLike<number>, options?: { slice?: number }): Promise<number>;
  lossAndGradients(tokens: ArrayLike<number>, options?: { slice?: number }): Promise<SlimLossAndGradients>;
  /** The synchronous model behind this view. */
  readonly sync: SlimModel;
}

/** Wraps a model so its passes return Promises and report errors as rejections. */
export function asyncModel(model: SlimModel): SlimModelAsync {
  const promised = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A): Promise<R> => {
    try {
      return Promise.resolve(fn(...args));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return {
    get config() {
      return model.config;
    },
    get parameters() {
      return model.parameters;
    },
    get projections() {
      return model.projections;
    },
    get projectionDraw() {
      return model.projectionDraw;
    },
    get parameterCount() {
      return model.parameterCount;
    },
    redrawProjections: (draw?: number) => model.redrawProjections(draw),
    loss: promised((tokens: ArrayLike<number>, options?: { slice?: number }) => model.loss(tokens, options)),
    lossAndGradients: promised((tokens: ArrayLike<number>, options?: { slice?: number }) => model.lossAndGradients(tokens, options)),
    sync: model,
  };
}
