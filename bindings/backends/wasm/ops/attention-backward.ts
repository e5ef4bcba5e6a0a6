// Runs validated attentionBackward plans: the gradients of FAVOR+ attention
// w.r.t. q, k, v (and the projection), with memory that does not grow with
// the sequence. For one head, Q′ = φ(d^{-1/4}q) (L×r), K′ = φ(d^{-1/4}k),
// U = [V 1] (L×(dv+1)), and the forward pass computes B = [num den] and
// out = num/den. With G the output gradient, the row gradient of B is
//   Ĝ_i = [g_i/den_i, −(g_i·out_i)/den_i]               (f32_attention_output_gradient)
// Bidirectional (T = K′ᵀU, r×(dv+1)):
//   Q̄′ = Ĝ·Tᵀ,  T̄ = Q′ᵀĜ,  K̄′ = U·T̄ᵀ,  Ū = K′·T̄.
// Causal, per chunk c of C positions with start state T0 (the keys before
// the chunk), mask M (key j visible to query i), P = M∘(Q′_c K′_cᵀ) and R
// the gradient w.r.t. the state after the chunk:
//   B_c  = Q′_c T0 + P U_c
//   P̄    = M∘(Ĝ_c U_cᵀ)
//   Q̄′_c = Ĝ_c T0ᵀ + P̄ K′_c
//   K̄′_c = P̄ᵀ Q′_c + U_c Rᵀ
//   Ū_c  = Pᵀ Ĝ_c + K′_c R
//   R   ← R + Q′_cᵀ Ĝ_c        (now the gradient w.r.t. T0, carried to chunk c − 1)
// and the chunks run in reverse. The numerator B_c itself is never formed:
// Ĝ_c needs only g_i·num_i and den_i, which f32_attention_chunk_gradient
// takes from A = G_c S0ᵀ and W = G_c V_cᵀ (with T0 = [S0 z0]), the products
// that ĜT0ᵀ and P̄ need anyway. Without padding P and P̄ are lower
// triangular and their products skip the zero block (triangularProduct).
// Every other product is one f32_gemm call. The
// feature gradients Q̄′, K̄′ become q̄, k̄ through f32_features_backward
// (see its header for ∂φ/∂x per kind) and the chain factor d^{-1/4}.
//
// Start states. The backward pass first recomputes the forward sums
// (pass 1) to reach the end state, then walks the chunks in reverse. Each
// chunk's start state comes from subtracting the chunk's product
// P_c = K′_cᵀU_c from the running state (default), or from a stored
// checkpoint every `stateCheckpoints` chunks with the chunks in between
// recomputed. The running state is either float64 pairs (compensated
// summation: subtraction gives back the start state to about 2^-106
// relative to the largest state) or float32 (the textbook subtraction,
// which cancels when early keys are small and later ones large). Memory
// beyond the inputs and gradients is a few chunk buffers plus the state,
// whatever the length; checkpoints add (chunks/n + n) states.
//
// Shifts. The exponential maps return key features scaled by exp(−b) for
// the largest exponent b of the block. The running state is kept at a
// reference shift, and each chunk's products run at σ = max(b, log of the
// state's largest entry), so neither the state nor the chunk's keys exceed
// 1 in magnitude; R is rescaled by exp(σ_c − σ_{c+1}) between chunks. The
// shifts are constants for differentiation: out does not depend on them.
//
// Threads: on a threaded backend, maps with a projection (not hybrid) run
// in the threaded forms of threads/backward.ts. Causal attention does so only
// with the default start states. Everything else runs on the calling thread.

import { headRows, type AttentionShape, type FeatureSettings, type HybridSettings } from "../../../api/attention.js";
import type { AttentionBackwardPlan, AttentionGradients, StatePrecision } from "../../../api/backward.js";
import type { HybridProjection } from "../../../api/hybrid.js";
import { EXPONENTIAL_KINDS, FEATURE_KINDS, type FeatureMap } from "../../../api/features.js";
import type { Scope, WasmBackend } from "../backend.js";
import { writeFeatures } from "./features.js";
import { HybridFeatureRows, hybridProjectionRows } from "./hybrid-backward.js";
import { visibleRows } from "./linear-attention.js";
import { writeProjection } from "./projection.js";
import { ParallelBidirectionalBackward, ParallelCausalBackward, parallelAttentionBackward } from "../threads/backward.js";

type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;
type GatherKernel = (
  count: number, index: number, src: number, lds: number, cols: number, scale: number,
  dst: number, ldd: number, ones: number,
) => void;
type ScatterKernel = (
  count: number, index: number, src: number, lds: number, cols: number, scale: number,
  dst: number, ldd: number, accumulate: number,
) => void;
type MaskKernel = (rows: number, queryStart: number, keys: number, keyPos: number, a: number, lda: number) => void;
type OutputGradientKernel = (rows: number, n: number, num: number, ldn: number, g: number, ldg: number, out: number, ldo: number) => void;
type FeaturesBackwardKernel = (
  kind: number, rows: number, m: number, phi: number, ldphi: number, dphi: number, lddphi: number,
  z: number, ldz: number, scale: number, epsilon: number, coeff: number, ldc: number, rowCoeff: number,
) => void;
type ChunkGradientKernel = (
  rows: number, keys: number, queryStart: number, keyPos: number, r: number, dv: number,
  qf: number, ldq: number, a: number, lda: number, p: number, ldp: number, w: number, ldw: number,
  g: number, ldg: number, z0: number, ldz: number, zs: number, gh: number, ldgh: number,
) => void;
type ColumnSumsKernel = (
  rows: number, cols: number, x: number, ldx: number, weights: number, ldw: number, beta: number,
  out: number, ldo: number, sums: number,
) => void;
type RowsAddScaledKernel = (rows: number, cols: number, coefficients: number, x: number, ldx: number, y: number, ldy: number) => void;
type ScaleKernel = (n: number, x: number, scale: number) => void;
type DivideKernel = (rows: number, n: number, num: number, ldn: number, out: number, ldo: number) => void;
type AxpyKernel = (n: number, alpha: number, x: number, y: number) => void;
type StateAccumulateKernel = (n: number, p: number, factor: number, hi: number, lo: number) => number;
type StateReadKernel = (n: number, hi: number, lo: number, factor: number, out: number) => void;
type StateScaleKernel = (n: number, hi: number, lo: number, factor: number) => void;
type MaxAbsKernel = (n: number, x: number) => number;

/** Rows per block of the bidirectional passes. */
export const BACKWARD_BLOCK_ROWS = 256;

/**
 * Largest exponent gap the compensated state absorbs before it moves its
 * reference shift: exp(600) is far below the float64 limit exp(709), so
 * exp(b − reference) never overflows.
 */
const REFERENCE_GAP = 600;

/** The kernels every backward loop calls, looked up once per op. */
export class BackwardKernels {
  readonly gemm: GemmKernel;
  readonly gather: GatherKernel;
  readonly scatter: ScatterKernel;
  readonly mask: MaskKernel;
  readonly outputGradient: OutputGradientKernel;
  readonly chunkGradient: ChunkGradientKernel;
  readonly columnSums: ColumnSumsKernel;
  readonly featuresBackward: FeaturesBackwardKernel;
  readonly rowsAddScaled: RowsAddScaledKernel;
  readonly scale: ScaleKernel;
  readonly axpy: AxpyKernel;
  readonly scaleCopy: AxpyKernel;
  readonly stateAccumulate: StateAccumulateKernel;
  readonly stateRead: StateReadKernel;
  readonly stateScale: StateScaleKernel;
  readonly maxAbs64: MaxAbsKernel;
  readonly maxAbs32: MaxAbsKernel;
  readonly divide: DivideKernel;

  constructor(readonly backend: WasmBackend) {
    this.gemm = backend.kernel<GemmKernel>("f32_gemm");
    this.gather = backend.kernel<GatherKernel>("f32_attention_gather_rows");
    this.scatter = backend.kernel<ScatterKernel>("f32_attention_scatter_rows");
    this.mask = backend.kernel<MaskKernel>("f32_attention_causal_mask");
    this.outputGradient = backend.kernel<OutputGradientKernel>("f32_attention_output_gradient");
    this.chunkGradient = backend.kernel<ChunkGradientKernel>("f32_attention_chunk_gradient");
    this.columnSums = backend.kernel<ColumnSumsKernel>("f32_weighted_column_sums");
    this.featuresBackward = backend.kernel<FeaturesBackwardKernel>("f32_features_backward");
    this.rowsAddScaled = backend.kernel<RowsAddScaledKernel>("f32_rows_add_scaled");
    this.scale = backend.kernel<ScaleKernel>("f32_attention_scale");
    this.axpy = backend.kernel<AxpyKernel>("f32_axpy");
    this.scaleCopy = backend.kernel<AxpyKernel>("f32_scale_copy");
    this.stateAccumulate = backend.kernel<StateAccumulateKernel>("f64_state_accumulate");
    this.stateRead = backend.kernel<StateReadKernel>("f64_state_read");
    this.stateScale = backend.kernel<StateScaleKernel>("f64_state_scale");
    this.maxAbs64 = backend.kernel<MaxAbsKernel>("f64_max_abs");
    this.maxAbs32 = backend.kernel<MaxAbsKernel>("f32_max_abs");
    this.divide = backend.kernel<DivideKernel>("f32_attention_divide_rows");
  }

  /** C (m×n, ldc) = alpha·op(A)·op(B) + beta·C for one matrix. */
  product(
    m: number, n: number, k: number, a: number, lda: number, transA: boolean,
    b: number, ldb: number, transB: boolean, beta: number, c: number, ldc: number, alpha = 1,
  ): void {
    this.gemm(1, m, n, k, alpha, a, lda, 0, transA ? 1 : 0, b, ldb, 0, transB ? 1 : 0, beta, c, ldc, 0);
  }
}

/**
 * One block of rows passed through a feature map, as the backward loops use
 * it: FeatureRows for the plain maps, HybridFeatureRows (ops/hybrid-backward.ts)
 * for the hybrids.
 */
export interface RowFeatures {
  /** The scaled input rows (rows×dim). */
  readonly x: number;
  /** Their features (rows×r). */
  readonly f: number;
  /** The gradient w.r.t. the scaled input rows, written by backward (rows×dim). */
  readonly xbar: number;
  readonly r: number;
  readonly dim: number;
  readonly inputScale: number;
  compute(src: number, ld: number, positions: number, count: number, projection: number, keyShift?: number): number;
  scaleFeatures(count: number, factor: number): void;
  backward(count: number, dfeat: number, lddf: number, projection: number, dprojection: number): void;
}

/** Smallest chunk whose in-chunk products skip the zero block of the causal triangle (see triangularProduct). */
const TRIANGLE_SPLIT_ROWS = 16;

/**
 * Computes C (n×cols) = op(T)·B + beta·C for a lower-triangular n×n matrix
 * T (zero above the diagonal, row stride ldt), where op(T) is T or Tᵀ. T is
 * split at a = ⌊n/2⌋ into [[T11, 0], [T21, T22]] and the zero block is
 * skipped, which saves a quarter of the multiply-adds.
 */
function triangularProduct(
  k: BackwardKernels, n: number, cols: number, t: number, ldt: number, transposed: boolean,
  b: number, ldb: number, beta: number, c: number, ldc: number,
): void {
  const a = n >> 1;
  const rest = n - a;
  const t21 = t + a * ldt * 4;
  const t22 = t21 + a * 4;
  const b2 = b + a * ldb * 4;
  const c2 = c + a * ldc * 4;
  if (!transposed) {
    k.product(a, cols, a, t, ldt, false, b, ldb, false, beta, c, ldc);
    k.product(rest, cols, a, t21, ldt, false, b, ldb, false, beta, c2, ldc);
    k.product(rest, cols, rest, t22, ldt, false, b2, ldb, false, 1, c2, ldc);
  } else {
    k.product(a, cols, a, t, ldt, true, b, ldb, false, beta, c, ldc);
    k.product(a, cols, rest, t21, ldt, true, b2, ldb, false, 1, c, ldc);
    k.product(rest, cols, rest, t22, ldt, true, b2, ldb, false, beta, c2, ldc);
  }
}

/** Kinds whose gradient reads the pre-activation z = ω·x. */
const NEEDS_PREACTIVATION = new Set(["relu", "elu+1", "abs"]);

/**
 * One block of rows passed through a feature map: the scaled inputs x, the
 * features φ(x), and the scratch of the gradient x̄ = Σ_l A_l ω_l + b·x.
 */
export class FeatureRows implements RowFeatures {
  readonly x: number;
  readonly dim: number;
  readonly f: number;
  readonly shift: number;
  readonly z: number;
  readonly coeff: number;
  readonly rowCoeff: number;
  readonly xbar: number;
  readonly r: number;
  readonly width: number;
  /** Factor applied to the features since compute (scaleFeatures), which also scales their ε. */
  private epsilonFactor = 1;
  private readonly kindCode: number;

  constructor(
    private readonly kernels: BackwardKernels,
    scope: Scope,
    readonly map: FeatureMap,
    readonly rows: number,
    /** Factor on the input rows before the map (d^{-1/4} in attention). */
    readonly inputScale: number,
  ) {
    this.r = map.outputs;
    this.dim = map.dim;
    this.width = map.features > 0 ? map.features : map.dim;
    this.kindCode = FEATURE_KINDS.indexOf(map.kind);
    this.x = scope.allocF32(rows * map.dim);
    this.f = scope.allocF32(rows * this.r);
    this.shift = scope.allocF32(rows);
    this.z = NEEDS_PREACTIVATION.has(map.kind) && map.features > 0 ? scope.allocF32(rows * this.width) : 0;
    this.coeff = scope.allocF32(rows * this.width);
    this.rowCoeff = scope.allocF32(rows);
    this.xbar = scope.allocF32(rows * map.dim);
  }

  /**
   * Gathers the listed rows of src (row stride ld), times inputScale, and
   * computes their features. keyShift fixes the key stabilizer. Returns the
   * largest exponent before shifting (−Infinity for kinds without one).
   */
  compute(src: number, ld: number, positions: number, count: number, projection: number, keyShift?: number): number {
    const { dim } = this.map;
    this.kernels.gather(count, positions, src, ld, dim, this.inputScale, this.x, dim, 0);
    this.epsilonFactor = 1;
    const map = keyShift === undefined ? this.map : { ...this.map, keyShift: Math.fround(keyShift) };
    return writeFeatures(this.kernels.backend, map, count, this.x, dim, projection, this.f, this.r, this.shift);
  }

  /** Multiplies the features of the first count rows by factor. */
  scaleFeatures(count: number, factor: number): void {
    if (factor === 1) return;
    this.kernels.scale(count * this.r, this.f, factor);
    this.epsilonFactor *= factor;
  }

  /**
   * Writes xbar (count×dim) = the gradient w.r.t. the scaled input rows,
   * given the feature gradient dfeat (count×r, row stride lddf). When
   * dprojection is not 0 it also adds Aᵀx (the gradient w.r.t. W) to the
   * m×dim matrix there.
   */
  backward(count: number, dfeat: number, lddf: number, projection: number, dprojection: number): void {
    const k = this.kernels;
    const { dim, features: m, scale, epsilon } = this.map;
    let z = 0;
    let ldz = 0;
    if (NEEDS_PREACTIVATION.has(this.map.kind)) {
      if (m > 0) {
        k.product(count, m, dim, this.x, dim, false, projection, dim, true, 0, this.z, m);
        z = this.z;
        ldz = m;
      } else {
        z = this.x;
        ldz = dim;
      }
    }
    const width = this.width;
    k.featuresBackward(
      this.kindCode, count, width, this.f, this.r, dfeat, lddf, z, ldz,
      scale, Math.fround(epsilon * this.epsilonFactor), this.coeff, width, this.rowCoeff,
    );
    if (m > 0) {
      k.product(count, dim, m, this.coeff, m, false, projection, dim, false, 0, this.xbar, dim);
      if (dprojection !== 0) k.product(m, dim, count, this.coeff, m, true, this.x, dim, false, 1, dprojection, dim);
    } else {
      k.scaleCopy(count * dim, 1, this.coeff, this.xbar);
    }
    k.rowsAddScaled(count, dim, this.rowCoeff, this.x, dim, this.xbar, dim);
  }
}

/**
 * The running causal state Σ φ(k_j)[v_j 1]ᵀ (r×(dv+1)) of one head, as the
 * backward pass needs it: add or subtract one chunk's product, read it at a
 * given shift, and save or restore snapshots.
 */
export interface RunningState {
  reset(): void;
  /** Adds sign·exp(shift)·P, for a chunk product P (r×(dv+1) float32) computed at key shift `shift`. */
  add(p: number, shift: number, sign: number): void;
  /** Returns log of the state's largest entry (true scale), or −Infinity when it is zero. */
  logMagnitude(): number;
  /** Writes the state times exp(−shift) as float32 into out. */
  read(shift: number, out: number): void;
  /** Allocates `count` snapshot slots. */
  allocateSnapshots(scope: Scope, count: number): SnapshotPool;
}

/** Storage for copies of a RunningState. */
export interface SnapshotPool {
  save(slot: number): void;
  restore(slot: number): void;
}

function copyBytes(backend: WasmBackend, from: number, to: number, bytes: number): void {
  new Uint8Array(backend.exports.memory.buffer).copyWithin(to, from, from + bytes);
}

/**
 * A float32 state at its own shift τ, updated like the forward op's state:
 * a chunk with a larger shift rescales the state, a smaller one its product.
 */
export class Float32State implements RunningState {
  private readonly t: number;
  private tau = -Infinity;

  constructor(private readonly kernels: BackwardKernels, scope: Scope, private readonly size: number) {
    this.t = scope.allocF32(size);
  }

  reset(): void {
    this.kernels.backend.f32(this.t, this.size).fill(0);
    this.tau = -Infinity;
  }

  add(p: number, shift: number, sign: number): void {
    if (this.tau === -Infinity) {
      this.tau = shift;
    } else if (shift > this.tau) {
      this.kernels.scale(this.size, this.t, Math.exp(this.tau - shift));
      this.tau = shift;
    }
    this.kernels.axpy(this.size, sign * Math.exp(shift - this.tau), p, this.t);
  }

  logMagnitude(): number {
    const largest = this.kernels.maxAbs32(this.size, this.t);
    return largest > 0 ? this.tau + Math.log(largest) : -Infinity;
  }

  read(shift: number, out: number): void {
    const factor = this.tau === -Infinity ? 0 : Math.exp(this.tau - shift);
    this.kernels.scaleCopy(this.size, factor, this.t, out);
  }

  allocateSnapshots(scope: Scope, count: number): SnapshotPool {
    const bytes = this.size * 4;
    const base = scope.allocBytes(count * bytes);
    const taus = new Float64Array(count);
    return {
      save: (slot) => {
        copyBytes(this.kernels.backend, this.t, base + slot * bytes, bytes);
        taus[slot] = this.tau;
      },
      restore: (slot) => {
        copyBytes(this.kernels.backend, base + slot * bytes, this.t, bytes);
        this.tau = taus[slot];
      },
    };
  }
}

/**
 * A state of float64 pairs (hi + lo, about 106 bits) at a fixed reference
 * shift. Products enter with Knuth's TwoSum (f64_state_accumulate), so
 * subtracting a product that was added restores the earlier state to about
 * 2^-106 of the state's size, whatever the ratio of early to late keys.
 */
export class CompensatedState implements RunningState {
  private readonly hi: number;
  private readonly lo: number;
  private reference = -Infinity;
  /** The largest |hi| as of the last add (which computes it on the way), or NaN when unknown. */
  private largest = NaN;

  constructor(private readonly kernels: BackwardKernels, scope: Scope, private readonly size: number) {
    this.hi = scope.allocBytes(size * 8);
    this.lo = scope.allocBytes(size * 8);
  }

  reset(): void {
    const memory = this.kernels.backend.exports.memory.buffer;
    new Float64Array(memory, this.hi, this.size).fill(0);
    new Float64Array(memory, this.lo, this.size).fill(0);
    this.reference = -Infinity;
    this.largest = 0;
  }

  add(p: number, shift: number, sign: number): void {
    if (this.reference === -Infinity) {
      this.reference = shift;
    } else if (shift - this.reference > REFERENCE_GAP) {
      // NOTE: moving the reference rounds the state once, so exact
      // reversal by subtraction holds only while key exponents stay within
      // REFERENCE_GAP of the first chunk's.
      this.kernels.stateScale(this.size, this.hi, this.lo, Math.exp(this.reference - shift));
      this.reference = shift;
    }
    this.largest = this.kernels.stateAccumulate(this.size, p, sign * Math.exp(shift - this.reference), this.hi, this.lo);
  }

  logMagnitude(): number {
    const largest = Number.isNaN(this.largest) ? this.kernels.maxAbs64(this.size, this.hi) : this.largest;
    return largest > 0 ? this.reference + Math.log(largest) : -Infinity;
  }

  read(shift: number, out: number): void {
    const factor = this.reference === -Infinity ? 0 : Math.exp(this.reference - shift);
    this.kernels.stateRead(this.size, this.hi, this.lo, factor, out);
  }

  /**
   * Adds the float32 products at the pointers `products`, computed at key
   * shifts `shifts`, in this order, as add(p, shift, 1) would. runRanges
   * calls body(from, to) for element ranges that cover the state, possibly
   * on several threads: every element goes through the same operations as
   * with add, so the state gets the same bits. Ranges start at multiples of
   * 4 elements.
   */
  addInRanges(products: number[], shifts: number[], runRanges: (body: (from: number, to: number) => void) => void): void {
    let start = 0;
    while (start < products.length) {
      if (this.reference === -Infinity) this.reference = shifts[start];
      const factors: number[] = [];
      let end = start;
      // The negated test lets a NaN shift through, as add does, instead of moving the reference.
      while (end < products.length && !(shifts[end] - this.reference > REFERENCE_GAP)) {
        factors.push(Math.exp(shifts[end] - this.reference));
        end++;
      }
      const first = start;
      if (end > first) {
        runRanges((from, to) => {
          for (let i = first; i < end; i++) {
            this.kernels.stateAccumulate(to - from, products[i] + from * 4, factors[i - first], this.hi + from * 8, this.lo + from * 8);
          }
        });
      }
      if (end < products.length) {
        // The same reference move as in add, with the same rounding.
        this.kernels.stateScale(this.size, this.hi, this.lo, Math.exp(this.reference - shifts[end]));
        this.reference = shifts[end];
      }
      start = end;
    }
    this.largest = NaN;
  }

  /** Copies the state into hi and lo from element `offset` on; returns its reference shift. */
  exportTo(hi: Float64Array, lo: Float64Array, offset: number): number {
    const memory = this.kernels.backend.exports.memory.buffer;
    hi.set(new Float64Array(memory, this.hi, this.size), offset);
    lo.set(new Float64Array(memory, this.lo, this.size), offset);
    return this.reference;
  }

  /** Replaces the state by the one exportTo wrote at `offset`, with its reference shift. */
  importFrom(hi: Float64Array, lo: Float64Array, offset: number, reference: number): void {
    const memory = this.kernels.backend.exports.memory.buffer;
    new Float64Array(memory, this.hi, this.size).set(hi.subarray(offset, offset + this.size));
    new Float64Array(memory, this.lo, this.size).set(lo.subarray(offset, offset + this.size));
    this.reference = reference;
    this.largest = NaN;
  }

  allocateSnapshots(scope: Scope, count: number): SnapshotPool {
    const bytes = this.size * 8;
    const base = scope.allocBytes(2 * count * bytes);
    const references = new Float64Array(count);
    const backend = this.kernels.backend;
    return {
      save: (slot) => {
        copyBytes(backend, this.hi, base + 2 * slot * bytes, bytes);
        copyBytes(backend, this.lo, base + (2 * slot + 1) * bytes, bytes);
        references[slot] = this.reference;
      },
      restore: (slot) => {
        copyBytes(backend, base + 2 * slot * bytes, this.hi, bytes);
        copyBytes(backend, base + (2 * slot + 1) * bytes, this.lo, bytes);
        this.reference = references[slot];
        this.largest = NaN;
      },
    };
  }
}

/** Makes the running state of the requested precision. */
export function createRunningState(kernels: BackwardKernels, scope: Scope, precision: StatePrecision, size: number): RunningState {
  return precision === "compensated" ? new CompensatedState(kernels, scope, size) : new Float32State(kernels, scope, size);
}

/** Pointers and row strides of one head's tensors in WASM memory. */
export interface HeadTensors {
  q: number; ldq: number;
  k: number; ldk: number;
  v: number; ldv: number;
  g: number; ldg: number;
  dq: number; lddq: number;
  dk: number; lddk: number;
  dv: number; lddv: number;
  /** The head's projection (0 without one) and where its gradient accumulates (0 when not requested). */
  projection: number;
  dprojection: number;
}

/** Scratch buffers for blocks of up to `rows` query rows and `rows` keys. */
export class BackwardScratch {
  readonly query: RowFeatures;
  readonly key: RowFeatures;
  readonly u: number;
  readonly num: number;
  readonly gh: number;
  readonly p: number;
  readonly pbar: number;
  readonly dqf: number;
  readonly dkf: number;
  readonly du: number;
  readonly t0: number;
  readonly rg: number;
  readonly pc: number;
  /** r floats of scratch for f32_attention_chunk_gradient. */
  readonly zs: number;
  readonly queryPositions: number;
  readonly keyPositions: number;
  readonly r: number;
  readonly dv1: number;

  constructor(
    readonly kernels: BackwardKernels, scope: Scope,
    maps: { query: FeatureMap; key: FeatureMap; hybrid?: HybridSettings | null },
    readonly rows: number, readonly valueDim: number, inputScale: number, causal: boolean,
  ) {
    const hybrid = maps.hybrid ?? null;
    if (hybrid !== null) {
      this.query = new HybridFeatureRows(kernels, scope, hybrid.query, rows, inputScale);
      this.key = new HybridFeatureRows(kernels, scope, hybrid.key, rows, inputScale);
    } else {
      this.query = new FeatureRows(kernels, scope, maps.query, rows, inputScale);
      this.key = new FeatureRows(kernels, scope, maps.key, rows, inputScale);
    }
    const r = this.query.r;
    const dv1 = valueDim + 1;
    this.r = r;
    this.dv1 = dv1;
    this.u = scope.allocF32(rows * dv1);
    this.num = scope.allocF32(rows * dv1);
    this.gh = scope.allocF32(rows * dv1);
    this.p = causal ? scope.allocF32(rows * rows) : 0;
    this.pbar = causal ? scope.allocF32(rows * rows) : 0;
    this.dqf = scope.allocF32(rows * r);
    this.dkf = scope.allocF32(rows * r);
    this.du = scope.allocF32(rows * dv1);
    this.t0 = scope.allocF32(r * dv1);
    this.rg = scope.allocF32(r * dv1);
    this.pc = scope.allocF32(r * dv1);
    this.zs = scope.allocF32(r);
    this.queryPositions = scope.allocBytes(rows * 4);
    this.keyPositions = scope.allocBytes(rows * 4);
  }

  writeRange(ptr: number, start: number, count: number): void {
    const view = new Int32Array(this.kernels.backend.exports.memory.buffer, ptr, count);
    for (let i = 0; i < count; i++) view[i] = start + i;
  }

  writePositions(ptr: number, positions: Int32Array, from: number, count: number): void {
    new Int32Array(this.kernels.backend.exports.memory.buffer, ptr, count).set(positions.subarray(from, from + count));
  }

  zero(ptr: number, count: number): void {
    this.kernels.backend.f32(ptr, count).fill(0);
  }
}

/**
 * Computes the features of the listed keys (at their own block shift), gathers
 * U = [V 1] and the product P = K′ᵀU into scratch.pc. Returns the block shift
 * (0 for kinds without an exponent).
 */
export function keyBlockProduct(s: BackwardScratch, h: HeadTensors, exponential: boolean, count: number): number {
  return chunkProduct(s.kernels, s.key, h, s.keyPositions, count, s.valueDim, s.u, s.pc, s.zs, exponential);
}

/**
 * Computes the features of the `count` keys listed at `positions` into key
 * (at their own block shift), gathers [V 1] into u and writes the product
 * P = K′ᵀ[V 1] (r×(dv+1)) into pc, with zs as r floats of scratch. Every
 * chunk product of the backward pass and of attentionWithState comes from
 * here, so the same inputs always give the same bits. Returns the block
 * shift (0 for kinds without an exponent).
 */
export function chunkProduct(
  k: BackwardKernels, key: RowFeatures, h: HeadTensors, positions: number, count: number, dv: number,
  u: number, pc: number, zs: number, exponential: boolean,
): number {
  const shift = key.compute(h.k, h.ldk, positions, count, h.projection);
  k.gather(count, positions, h.v, h.ldv, dv, 1, u, dv + 1, 1);
  chunkStateProduct(k, key.r, dv, count, key.f, u, pc, zs);
  return exponential ? shift : 0;
}

/**
 * Writes P = K′ᵀ[V 1] (r×(dv+1)) into pc for `count` key feature rows kf
 * (count×r) and their [V 1] rows u, with zs as r floats of scratch. The
 * column of ones enters as column sums, so the GEMM has n = dv.
 */
export function chunkStateProduct(
  k: BackwardKernels, r: number, dv: number, count: number, kf: number, u: number, pc: number, zs: number,
): void {
  k.product(r, dv, count, kf, r, true, u, dv + 1, false, 0, pc, dv + 1);
  k.columnSums(count, r, kf, r, 0, 0, 0, pc + dv * 4, dv + 1, zs);
}

/** Scatters the feature-row gradient x̄ of `rows` (times inputScale) into a gradient tensor. */
export function scatterInputGradient(
  k: BackwardKernels, rows: RowFeatures, positions: number, count: number, dst: number, ldd: number,
): void {
  k.scatter(count, positions, rows.xbar, rows.dim, rows.dim, rows.inputScale, dst, ldd, 0);
}

/** The start-state source of a causal head: the running state and, with checkpoints, its snapshot pools. */
export interface CausalStatePlan {
  state: RunningState;
  /** 0: subtraction; n >= 1: a checkpoint every n chunks. */
  checkpointEvery: number;
  checkpoints: SnapshotPool | null;
  segment: SnapshotPool | null;
}

/**
 * Runs the backward pass of causal attention for one head. Pass 1
 * recomputes the forward sums chunk by chunk, then the chunks run in
 * reverse with the state gradient R (see the file header).
 */
export function causalHeadBackward(
  s: BackwardScratch, h: HeadTensors, plan: CausalStatePlan, exponential: boolean,
  visible: Int32Array, length: number, chunk: number, endStateLoaded = false,
): void {
  const k = s.kernels;
  const { state, checkpointEvery, checkpoints, segment } = plan;
  const chunks = Math.ceil(length / chunk);
  // keyBounds[c] … keyBounds[c + 1]: the visible keys of chunk c.
  const keyBounds = new Int32Array(chunks + 1);
  for (let c = 0, j = 0; c < chunks; c++) {
    const end = Math.min((c + 1) * chunk, length);
    while (j < visible.length && visible[j] < end) j++;
    keyBounds[c + 1] = j;
  }

  // Pass 1: the end state, and the checkpoints on the way (skipped when the
  // caller loaded the end state that attentionWithState computed).
  if (!endStateLoaded) state.reset();
  for (let c = 0; c < (endStateLoaded ? 0 : chunks); c++) {
    if (checkpoints !== null && c % checkpointEvery === 0) checkpoints.save(c / checkpointEvery);
    const count = keyBounds[c + 1] - keyBounds[c];
    if (count === 0) continue;
    s.writePositions(s.keyPositions, visible, keyBounds[c], count);
    state.add(s.pc, keyBlockProduct(s, h, exponential, count), 1);
  }

  // Pass 2: the chunks in reverse.
  s.zero(s.rg, s.r * s.dv1);
  let nextShift = NaN;
  let loadedSegment = -1;
  for (let c = chunks - 1; c >= 0; c--) {
    const count = keyBounds[c + 1] - keyBounds[c];
    if (checkpoints !== null && segment !== null) {
      const seg = Math.floor(c / checkpointEvery);
      if (seg !== loadedSegment) {
        // Recompute the segment's start states from its checkpoint.
        checkpoints.restore(seg);
        const last = Math.min((seg + 1) * checkpointEvery, chunks);
        for (let cc = seg * checkpointEvery; cc < last; cc++) {
          segment.save(cc - seg * checkpointEvery);
          const n = keyBounds[cc + 1] - keyBounds[cc];
          if (n === 0) continue;
          s.writePositions(s.keyPositions, visible, keyBounds[cc], n);
          state.add(s.pc, keyBlockProduct(s, h, exponential, n), 1);
        }
        loadedSegment = seg;
      }
      segment.restore(c - seg * checkpointEvery);
    }
    let blockShift = -Infinity;
    if (count > 0) {
      s.writePositions(s.keyPositions, visible, keyBounds[c], count);
      blockShift = keyBlockProduct(s, h, exponential, count);
      if (checkpoints === null) state.add(s.pc, blockShift, -1);
    }
    const shift = readChunkStart(s, state, blockShift, count, exponential);
    if (!Number.isNaN(nextShift) && shift !== nextShift) k.scale(s.r * s.dv1, s.rg, Math.exp(shift - nextShift));
    causalChunkBackward(s, h, c * chunk, Math.min((c + 1) * chunk, length) - c * chunk, count);
    nextShift = shift;
  }
}

/**
 * Returns a chunk's shift σ = max(b, log of the state's largest entry) for
 * its block shift b: 0 for kinds without an exponent, or while both are
 * −Infinity. Neither the start state nor the chunk's key features exceed 1
 * in magnitude at σ.
 */
export function chunkShift(state: RunningState, blockShift: number, exponential: boolean): number {
  if (!exponential) return 0;
  const shift = Math.max(blockShift, state.logMagnitude());
  return Number.isFinite(shift) ? shift : 0;
}

/**
 * Reads a chunk's start state into s.t0 at the chunk's shift σ = max(b, log
 * of the state's largest entry), b being the block shift of its `keys` key
 * features in s.key, and brings those features to σ. Returns σ (0 for kinds
 * without an exponent, or while both are −Infinity).
 */
export function readChunkStart(s: BackwardScratch, state: RunningState, blockShift: number, keys: number, exponential: boolean): number {
  const shift = chunkShift(state, blockShift, exponential);
  state.read(shift, s.t0);
  if (keys > 0 && exponential) s.key.scaleFeatures(keys, Math.exp(blockShift - shift));
  return shift;
}

/**
 * Computes one chunk of causal attention, forward. s.t0, s.key and s.u are
 * set as for causalChunkBackward. Writes the outputs of query rows
 * [start, start + rows) to out (row stride ldo): (Q′T0 + P·U) divided row
 * by row, with the denominator guard of the forward op.
 */
export function causalChunkForward(
  s: BackwardScratch, h: HeadTensors, start: number, rows: number, keys: number, out: number, ldo: number,
): void {
  const k = s.kernels;
  const { r, dv1 } = s;
  s.writeRange(s.queryPositions, start, rows);
  s.query.compute(h.q, h.ldq, s.queryPositions, rows, h.projection);
  k.product(rows, dv1, r, s.query.f, r, false, s.t0, dv1, false, 0, s.num, dv1);
  if (keys > 0) {
    k.product(rows, keys, r, s.query.f, r, false, s.key.f, r, true, 0, s.p, keys);
    k.mask(rows, start, keys, s.keyPositions, s.p, keys);
    k.product(rows, dv1, keys, s.p, keys, false, s.u, dv1, false, 1, s.num, dv1);
  }
  k.divide(rows, s.valueDim, s.num, dv1, out + start * ldo * 4, ldo);
}

/** The scratch of one chunk that chunkGradientWithoutR reads and writes (a BackwardScratch, or a thread's share). */
export interface ChunkGradientScratch {
  readonly query: RowFeatures;
  readonly p: number;
  readonly pbar: number;
  readonly gh: number;
  readonly dqf: number;
  readonly zs: number;
}

/**
 * Computes the parts of one causal chunk's gradient that do not need R,
 * the gradient w.r.t. the state after the chunk: Ĝ (into s.gh), Q̄′ =
 * ĜT0ᵀ + P̄K′ (into s.dqf), and the parts P̄ᵀQ′ of K̄′ (into dkf) and PᵀĜ
 * of Ū (into du). On entry s.query.f contains the chunk's query features, kf
 * its `keys` key features (listed at keyPositions) and u their [V 1], both
 * at the shift of the start state t0. Only the first dv columns of du are
 * written (the last belongs to the ones of U).
 */
export function chunkGradientWithoutR(
  k: BackwardKernels, s: ChunkGradientScratch, h: HeadTensors, start: number, rows: number, keys: number, dv: number,
  kf: number, keyPositions: number, u: number, t0: number, dkf: number, du: number,
): void {
  const r = s.query.r;
  const dv1 = dv + 1;
  const qf = s.query.f;
  const g = h.g + start * h.ldg * 4;

  // Ĝ, P̄ and ĜT0ᵀ from A = G·S0ᵀ, W = G·Vᵀ and P = M∘(Q′K′ᵀ), without the
  // numerator Q′T0 + P·U (see f32_attention_chunk_gradient). W goes into
  // pbar and A into dqf, which the kernel overwrites with P̄ and ĜT0ᵀ.
  // Without padding the keys are the chunk's own positions, so P and P̄ are
  // lower triangular and their products skip the zero block.
  const triangular = keys === rows && rows >= TRIANGLE_SPLIT_ROWS;
  if (triangular) {
    const a = rows >> 1;
    const rest = rows - a;
    const q2 = qf + a * r * 4;
    const p21 = s.p + a * keys * 4;
    k.product(a, a, r, qf, r, false, kf, r, true, 0, s.p, keys);
    k.product(rest, a, r, q2, r, false, kf, r, true, 0, p21, keys);
    k.product(rest, rest, r, q2, r, false, kf + a * r * 4, r, true, 0, p21 + a * 4, keys);
    // The mask also zeroes the block above the diagonal blocks, which was not computed.
    k.mask(rows, start, keys, keyPositions, s.p, keys);
  } else if (keys > 0) {
    k.product(rows, keys, r, qf, r, false, kf, r, true, 0, s.p, keys);
    k.mask(rows, start, keys, keyPositions, s.p, keys);
  }
  if (keys > 0) k.product(rows, keys, dv, g, h.ldg, false, u, dv1, true, 0, s.pbar, keys);
  k.product(rows, r, dv, g, h.ldg, false, t0, dv1, true, 0, s.dqf, r);
  k.chunkGradient(
    rows, keys, start, keyPositions, r, dv, qf, r, s.dqf, r, s.p, keys, s.pbar, keys,
    g, h.ldg, t0 + dv * 4, dv1, s.zs, s.gh, dv1,
  );

  // Q̄′ = ĜT0ᵀ + P̄K′, and the R-free parts of K̄′ = P̄ᵀQ′ + U·Rᵀ and Ū = PᵀĜ + K′R.
  if (triangular) {
    triangularProduct(k, rows, r, s.pbar, keys, false, kf, r, 1, s.dqf, r);
    triangularProduct(k, rows, r, s.pbar, keys, true, qf, r, 0, dkf, r);
    triangularProduct(k, rows, dv, s.p, keys, true, s.gh, dv1, 0, du, dv1);
  } else if (keys > 0) {
    k.product(rows, r, keys, s.pbar, keys, false, kf, r, false, 1, s.dqf, r);
    k.product(keys, r, rows, s.pbar, keys, true, qf, r, false, 0, dkf, r);
    k.product(keys, dv, rows, s.p, keys, true, s.gh, dv1, false, 0, du, dv1);
  }
}

/**
 * Runs one chunk of the causal backward pass. On entry s.t0 contains the
 * start state, s.rg the gradient w.r.t. the state after the chunk, and
 * (when keys > 0) s.key / s.u the chunk's key features and [V 1] at the
 * same shift as s.t0. On exit s.rg contains the gradient w.r.t. the start
 * state.
 */
export function causalChunkBackward(s: BackwardScratch, h: HeadTensors, start: number, rows: number, keys: number): void {
  const k = s.kernels;
  const { r, dv1, valueDim: dv } = s;
  const qf = s.query.f;
  const kf = s.key.f;
  s.writeRange(s.queryPositions, start, rows);
  s.query.compute(h.q, h.ldq, s.queryPositions, rows, h.projection);

  chunkGradientWithoutR(k, s, h, start, rows, keys, dv, kf, s.keyPositions, s.u, s.t0, s.dkf, s.du);

  // K̄′ += U·Rᵀ and Ū += K′R, with R the gradient after the chunk.
  if (keys > 0) {
    k.product(keys, r, dv1, s.u, dv1, false, s.rg, dv1, true, 1, s.dkf, r);
    k.product(keys, dv, r, kf, r, false, s.rg, dv1, false, 1, s.du, dv1);
  }
  // R ← R + Q′ᵀĜ, its last column (Ĝ's last column times Q′) as weighted column sums.
  k.product(r, dv, rows, qf, r, true, s.gh, dv1, false, 1, s.rg, dv1);
  k.columnSums(rows, r, qf, r, s.gh + dv * 4, dv1, 1, s.rg + dv * 4, dv1, s.zs);

  s.query.backward(rows, s.dqf, r, h.projection, h.dprojection);
  scatterInputGradient(s.kernels, s.query, s.queryPositions, rows, h.dq, h.lddq);
  if (keys > 0) {
    s.key.backward(keys, s.dkf, r, h.projection, h.dprojection);
    scatterInputGradient(s.kernels, s.key, s.keyPositions, keys, h.dk, h.lddk);
    k.scatter(keys, s.keyPositions, s.du, dv1, s.valueDim, 1, h.dv, h.lddv, 0);
  }
}

/** Runs the backward pass of bidirectional attention for one head, in blocks of s.rows rows. */
export function bidirectionalHeadBackward(
  s: BackwardScratch, h: HeadTensors, exponential: boolean, visible: Int32Array, length: number,
  givenShift?: number,
): void {
  // Pass A, unless s.t0 already contains T at key shift givenShift (from attentionWithState).
  const shift = givenShift ?? bidirectionalKeyState(s, h, exponential, visible);
  passesBC(s, h, exponential, visible, length, shift);
}

/** Pass A of the bidirectional backward: s.t0 = T = K′ᵀU at the running key shift, which it returns. */
export function bidirectionalKeyState(s: BackwardScratch, h: HeadTensors, exponential: boolean, visible: Int32Array): number {
  const k = s.kernels;
  const { r, dv1, rows: block } = s;
  const size = r * dv1;
  s.zero(s.t0, size);
  let shift = -Infinity;
  for (let j0 = 0; j0 < visible.length; j0 += block) {
    const count = Math.min(block, visible.length - j0);
    s.writePositions(s.keyPositions, visible, j0, count);
    const blockShift = s.key.compute(h.k, h.ldk, s.keyPositions, count, h.projection);
    if (exponential) {
      if (blockShift > shift) {
        if (shift !== -Infinity) k.scale(size, s.t0, Math.exp(shift - blockShift));
        shift = blockShift;
      } else {
        s.key.scaleFeatures(count, Math.exp(blockShift - shift));
      }
    }
    k.gather(count, s.keyPositions, h.v, h.ldv, s.valueDim, 1, s.u, dv1, 1);
    k.product(r, dv1, count, s.key.f, r, true, s.u, dv1, false, 1, s.t0, dv1);
  }
  return shift;
}

/** Passes B and C of the bidirectional backward, from T in s.t0 at key shift `shift`. */
function passesBC(s: BackwardScratch, h: HeadTensors, exponential: boolean, visible: Int32Array, length: number, shift: number): void {
  const k = s.kernels;
  const { r, dv1, rows: block } = s;
  const size = r * dv1;

  // Pass B: queries. T̄ = Σ Q′ᵀĜ, Q̄′ = ĜTᵀ.
  s.zero(s.rg, size);
  for (let i0 = 0; i0 < length; i0 += block) {
    const count = Math.min(block, length - i0);
    s.writeRange(s.queryPositions, i0, count);
    s.query.compute(h.q, h.ldq, s.queryPositions, count, h.projection);
    k.product(count, dv1, r, s.query.f, r, false, s.t0, dv1, false, 0, s.num, dv1);
    k.outputGradient(count, s.valueDim, s.num, dv1, h.g + i0 * h.ldg * 4, h.ldg, s.gh, dv1);
    k.product(r, dv1, count, s.query.f, r, true, s.gh, dv1, false, 1, s.rg, dv1);
    k.product(count, r, dv1, s.gh, dv1, false, s.t0, dv1, true, 0, s.dqf, r);
    s.query.backward(count, s.dqf, r, h.projection, h.dprojection);
    scatterInputGradient(s.kernels, s.query, s.queryPositions, count, h.dq, h.lddq);
  }

  // Pass C: keys at the final shift. K̄′ = U·T̄ᵀ, Ū = K′T̄.
  const keyShift = exponential && shift !== -Infinity ? shift : undefined;
  for (let j0 = 0; j0 < visible.length; j0 += block) {
    const count = Math.min(block, visible.length - j0);
    s.writePositions(s.keyPositions, visible, j0, count);
    s.key.compute(h.k, h.ldk, s.keyPositions, count, h.projection, keyShift);
    k.gather(count, s.keyPositions, h.v, h.ldv, s.valueDim, 1, s.u, dv1, 1);
    k.product(count, r, dv1, s.u, dv1, false, s.rg, dv1, true, 0, s.dkf, r);
    k.product(count, s.valueDim, r, s.key.f, r, false, s.rg, dv1, false, 0, s.du, dv1);
    s.key.backward(count, s.dkf, r, h.projection, h.dprojection);
    scatterInputGradient(s.kernels, s.key, s.keyPositions, count, h.dk, h.lddk);
    k.scatter(count, s.keyPositions, s.du, dv1, s.valueDim, 1, h.dv, h.lddv, 0);
  }
}

/**
 * Puts the projection into the scope (given or drawn); returns its pointer,
 * or 0 without one. A hybrid's three projections go back to back per head,
 * [W1; W2; Ω_λ] (hybridProjectionRows rows), one block per head when they
 * are per head.
 */
export function residentProjection(backend: WasmBackend, scope: Scope, features: FeatureSettings, heads: number): number {
  const hybrid = features.hybrid;
  if (hybrid !== null) {
    const { dim } = hybrid.query;
    const parts = ["base1", "base2", "lambda"] as const;
    const rowsOf = { base1: hybrid.query.bases[0].features, base2: hybrid.query.bases[1].features, lambda: hybrid.query.lambdaFeatures };
    const block = hybridProjectionRows(hybrid.query) * dim;
    const copies = hybrid.perHead ? heads : 1;
    const ptr = scope.allocF32(copies * block);
    for (let head = 0; head < copies; head++) {
      let at = ptr + head * block * 4;
      for (const part of parts) {
        const size = rowsOf[part] * dim;
        if (hybrid.projection !== null) {
          backend.f32(at, size).set(hybrid.projection[part].subarray(head * size, (head + 1) * size));
        } else if (hybrid.draws !== null) {
          writeProjection(backend, scope, hybrid.draws[part], at);
        }
        at += size * 4;
      }
    }
    return ptr;
  }
  if (features.projection !== null) return scope.copyIn(features.projection);
  if (features.draw !== null) {
    const ptr = scope.allocF32(features.draw.features * features.draw.dim);
    writeProjection(backend, scope, features.draw, ptr);
    return ptr;
  }
  return 0;
}

/** Allocates a float32 buffer of `length` zeros. */
function allocZeros(backend: WasmBackend, scope: Scope, length: number): number {
  const ptr = scope.allocF32(length);
  backend.f32(ptr, length).fill(0);
  return ptr;
}

/** Returns the pointers and strides of one head's tensors. */
export function headTensors(
  shape: AttentionShape, item: number, head: number,
  ptrs: { q: number; k: number; v: number; g: number; dq: number; dk: number; dv: number },
  projection: number, dprojection: number,
): HeadTensors {
  const { length, keyLength, dim, valueDim } = shape;
  const qRows = headRows(shape, item, head, length, dim);
  const kRows = headRows(shape, item, head, keyLength, dim);
  const vRows = headRows(shape, item, head, keyLength, valueDim);
  const gRows = headRows(shape, item, head, length, valueDim);
  return {
    q: ptrs.q + qRows.offset * 4, ldq: qRows.ld,
    k: ptrs.k + kRows.offset * 4, ldk: kRows.ld,
    v: ptrs.v + vRows.offset * 4, ldv: vRows.ld,
    g: ptrs.g + gRows.offset * 4, ldg: gRows.ld,
    dq: ptrs.dq + qRows.offset * 4, lddq: qRows.ld,
    dk: ptrs.dk + kRows.offset * 4, lddk: kRows.ld,
    dv: ptrs.dv + vRows.offset * 4, lddv: vRows.ld,
    projection,
    dprojection,
  };
}

/**
 * Largest residue, relative to the end state's largest entry, that the
 * backward pass accepts after it subtracted every chunk product from a
 * given end state. Exact reversal leaves about 2^-106 per chunk; a state
 * rounded once when its reference moved (REFERENCE_GAP) leaves about 2^-53.
 * A state computed from other keys, values, mask or projection leaves far
 * more.
 */
const END_STATE_RESIDUE = 2 ** -50;

/** Throws when a given end state did not return to zero: it was not made from this call's inputs. */
function requireEmptied(op: string, state: RunningState, endLog: number, item: number, head: number): void {
  const residue = state.logMagnitude();
  if (residue === -Infinity) return;
  if (endLog !== -Infinity && residue - endLog <= Math.log(END_STATE_RESIDUE)) return;
  const relative = endLog === -Infinity ? "the given state was empty" : `${Math.exp(residue - endLog).toExponential(2)} of its largest entry`;
  throw new RangeError(
    `${op}: endState does not match k, v and the options of this call (batch item ${item}, head ${head}): ` +
    `subtracting this call's chunk products left ${relative}, over the ${END_STATE_RESIDUE.toExponential(1)} ` +
    "that rounding explains; pass the endState that attentionWithState returned for the same inputs",
  );
}

/** Runs attentionBackward: every batch item and head, bidirectional or chunked causal. */
export function runAttentionBackward(backend: WasmBackend, plan: AttentionBackwardPlan): AttentionGradients {
  const { shape, features } = plan;
  const { batch, heads, length, dim, valueDim } = shape;
  return backend.withScope(plan.op, (scope) => {
    const ptrs = {
      q: scope.copyIn(plan.q),
      k: scope.copyIn(plan.k),
      v: scope.copyIn(plan.v),
      g: scope.copyIn(plan.gradOut),
      dq: allocZeros(backend, scope, plan.q.length),
      dk: allocZeros(backend, scope, plan.k.length),
      dv: allocZeros(backend, scope, plan.v.length),
    };
    const projection = residentProjection(backend, scope, features, heads);
    const hybrid = features.hybrid;
    const m = hybrid !== null ? hybridProjectionRows(hybrid.query) : features.query.features;
    const perHead = hybrid !== null ? hybrid.perHead : features.perHead;
    const projectionLength = perHead ? heads * m * dim : m * dim;
    const dprojection = plan.returnProjectionGradient ? allocZeros(backend, scope, projectionLength) : 0;

    const kernels = new BackwardKernels(backend);
    const rows = plan.causal ? Math.min(plan.chunk, length) : BACKWARD_BLOCK_ROWS;
    const inputScale = Math.fround(dim ** -0.25);
    const scratch = new BackwardScratch(kernels, scope, features, rows, valueDim, inputScale, plan.causal);
    const exponential = EXPONENTIAL_KINDS.includes(features.key.kind);

    let statePlan: CausalStatePlan | null = null;
    if (plan.causal) {
      const state = createRunningState(kernels, scope, plan.statePrecision, scratch.r * scratch.dv1);
      const every = plan.stateCheckpoints;
      const chunks = Math.ceil(length / rows);
      statePlan = {
        state,
        checkpointEvery: every,
        checkpoints: every > 0 ? state.allocateSnapshots(scope, Math.ceil(chunks / every)) : null,
        segment: every > 0 ? state.allocateSnapshots(scope, Math.min(every, chunks)) : null,
      };
    }

    const parallel = parallelAttentionBackward(backend, scope, kernels, {
      features, valueDim, length, keyLength: shape.keyLength, inputScale, exponential,
      projectionSize: m * dim, projectionGradient: dprojection !== 0,
    }, plan.causal ? { chunk: plan.chunk, stateCheckpoints: plan.stateCheckpoints } : null);

    const projectionBytes = m * dim * 4;
    for (let item = 0; item < batch; item++) {
      const visible = visibleRows(shape, item);
      for (let head = 0; head < heads; head++) {
        const headOffset = perHead ? head * projectionBytes : 0;
        const h = headTensors(
          shape, item, head, ptrs,
          projection === 0 ? 0 : projection + headOffset,
          dprojection === 0 ? 0 : dprojection + headOffset,
        );
        const endState = plan.endState;
        const slot = item * heads + head;
        if (statePlan !== null && endState !== null) {
          const state = statePlan.state as CompensatedState;
          state.importFrom(endState.hi as Float64Array, endState.lo, slot * endState.stateSize, endState.shifts[slot]);
          const end = state.logMagnitude();
          if (parallel instanceof ParallelCausalBackward) {
            parallel.walk(h, visible, state);
          } else {
            causalHeadBackward(scratch, h, statePlan, exponential, visible, length, rows, true);
          }
          requireEmptied(plan.op, state, end, item, head);
        } else if (statePlan !== null) {
          if (parallel instanceof ParallelCausalBackward) {
            parallel.runHead(h, visible, statePlan.state);
          } else {
            causalHeadBackward(scratch, h, statePlan, exponential, visible, length, rows);
          }
        } else if (endState !== null) {
          const size = scratch.r * scratch.dv1;
          const total = parallel instanceof ParallelBidirectionalBackward ? parallel.total : scratch.t0;
          backend.f32(total, size).set(endState.hi.subarray(slot * size, (slot + 1) * size));
          if (parallel instanceof ParallelBidirectionalBackward) {
            parallel.gradients(h, visible, endState.shifts[slot]);
          } else {
            bidirectionalHeadBackward(scratch, h, exponential, visible, length, endState.shifts[slot]);
          }
        } else if (parallel instanceof ParallelBidirectionalBackward) {
          parallel.runHead(h, visible);
        } else {
          bidirectionalHeadBackward(scratch, h, exponential, visible, length);
        }
      }
    }

    const result: AttentionGradients = {
      dq: backend.f32(ptrs.dq, plan.q.length).slice(),
      dk: backend.f32(ptrs.dk, plan.k.length).slice(),
      dv: backend.f32(ptrs.dv, plan.v.length).slice(),
    };
    if (dprojection !== 0) {
      const packed = backend.f32(dprojection, projectionLength).slice();
      result.dprojection = hybrid === null ? packed : unpackHybrid(packed, hybrid, perHead ? heads : 1);
    }
    return result;
  });
}

/** Splits per-head [W1; W2; Ω_λ] blocks into { base1, base2, lambda }, each in the layout of the projection option. */
function unpackHybrid(packed: Float32Array, hybrid: HybridSettings, copies: number): HybridProjection {
  const { dim } = hybrid.query;
  const sizes = [hybrid.query.bases[0].features * dim, hybrid.query.bases[1].features * dim, hybrid.query.lambdaFeatures * dim];
  const block = sizes[0] + sizes[1] + sizes[2];
  const parts = sizes.map((size) => new Float32Array(copies * size));
  for (let head = 0; head < copies; head++) {
    let at = head * block;
    sizes.forEach((size, index) => {
      parts[index].set(packed.subarray(at, at + size), head * size);
      at += size;
    });
  }
  return { base1: parts[0], base2: parts[1], lambda: parts[2] };
}
