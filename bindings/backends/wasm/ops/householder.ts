// Runs validated householder plans on the WASM backend by composing kernels
// inside one scope: the vectors are copied in once, and every intermediate
// stays in linear memory until the result is copied out.
//
// Notation. V = [v_0 … v_{k−1}] is n×k, U = V·diag(1/‖v_j‖) has unit
// columns, and the kernels keep Uᵀ (k×n, one vector per row). Because
// H(c·v) = H(v), every formula below is evaluated at U:
//   S = 𝒫(UᵀU) = striu(UᵀU) + ½·diag(UᵀU)   (k×k upper triangular, diagonal ≈ ½)
//   Q = H(u_0)·…·H(u_{k−1}) = I − U·S⁻¹·Uᵀ   (CWY),   Qᵀ = I − U·S⁻ᵀ·Uᵀ
//   Ω = Q·I_{n×k} = I_{n×k} − U·S⁻¹·(U_{0:k,:})ᵀ   (T-CWY; U_{0:k,:} is the top k×k block)
// S is formed from the computed Gram matrix, diagonal included, so the
// formula is exact for the stored (rounded) unit vectors.
//
// Forward costs in multiply-adds: the upper triangle of UᵀU is n·k²/2.
// product: one solve S·W = Uᵀ (k²·n/2) and Q = I − U·W (n²·k). stiefel: a solve with k right-hand sides
// and Ω = I_{n×k} − U·W (n·k²), never an n×n matrix. The solves go in blocks
// of SOLVE_BLOCK rows whose off-diagonal updates are GEMMs (solveS below).
// apply uses the blocked CWY form instead (applyCwy below): Q is the product
// Q_0·Q_1·… of panels of APPLY_PANEL reflections, each panel is
// Q_p = I − U_p·S_p⁻¹·U_pᵀ with S_p = 𝒫(U_pᵀU_p), the diagonal block of S,
// and Q·X applies the panels last to first (Qᵀ·X first to last, with S_pᵀ).
// Each panel is Y = U_pᵀ·X, one small solve S_p·Z = Y, X ← X − U_p·Z. That
// costs 2·n·k·cols + k·APPLY_PANEL·(n + cols/2) multiply-adds, against
// n·k²/2 + 2·n·k·cols + k²·cols/2 for the unblocked form (X − U·S⁻¹·Uᵀ·X),
// whose Gram triangle and k×k solve cost as much as one of its two GEMMs
// when k = cols = n.
//
// Backward. For L with Ḡ = ∂L/∂Q (n×n), differentiating Q = I − U·S⁻¹·Uᵀ
// with dS = 𝒫(dUᵀ·U + Uᵀ·dU) gives the formula (𝒫 is self-adjoint for ⟨·,·⟩)
//   K = S⁻ᵀ·Uᵀ·Ḡ·U·S⁻ᵀ,  M = 𝒫(K) + 𝒫(K)ᵀ,
//   ∂L/∂U = −Ḡ·U·S⁻ᵀ − Ḡᵀ·U·S⁻¹ + U·M.
// Every mode has a Ḡ of the form Ḡ = Xa·Xbᵀ with Xa, Xb n×c:
//   product:  Xa = Ḡ_Q,  Xb = I_n       (c = n)
//   stiefel:  Xa = Ḡ_Ω,  Xb = I_{n×k}   (c = k): Ω = Q·I_{n×k}, so ∂L/∂Q = Ḡ_Ω·I_{n×k}ᵀ,
//             which is Ḡ_Ω padded with n − k zero columns
//   apply, out = Q·X:   ∂L/∂Q = Ḡ_out·Xᵀ, so Xa = Ḡ_out, Xb = X   (c = cols)
//   apply, out = Qᵀ·X:  ∂L/∂Qᵀ = Ḡ_out·Xᵀ, so ∂L/∂Q = X·Ḡ_outᵀ, Xa = X, Xb = Ḡ_out
// With Y = S⁻ᵀ·Uᵀ·Xa and Z = S⁻¹·Uᵀ·Xb (both k×c) the three terms become
//   Ḡ·U·S⁻ᵀ = Xa·(S⁻¹·Uᵀ·Xb)ᵀ = Xa·Zᵀ,  Ḡᵀ·U·S⁻¹ = Xb·(S⁻ᵀ·Uᵀ·Xa)ᵀ = Xb·Yᵀ,
//   K = (S⁻ᵀ·Uᵀ·Xa)·(S⁻¹·Uᵀ·Xb)ᵀ = Y·Zᵀ,
// so, transposed into the Uᵀ layout,
//   ∂L/∂Uᵀ = M·Uᵀ − Y·Xbᵀ − Z·Xaᵀ   (k×n).
// No n×n matrix appears unless the mode's input already is one (product):
// apply costs O(n·k·cols + k²·(n + cols)) and stiefel O(n·k²). For Xb = I
// the products with Xb are copies: Z = S⁻¹·Uᵀ (product) or S⁻¹·(U_{0:k,:})ᵀ
// (stiefel, the forward's W), and Y·Xbᵀ is Y placed in the first c columns.
// The input gradient of apply is ∂L/∂X = op(Q)ᵀ·Ḡ_out: for out = Q·X it is
// Qᵀ·Ḡ_out = Ḡ_out − U·Y, for out = Qᵀ·X it is Q·Ḡ_out = Ḡ_out − U·Z, reusing
// the solve already done for ∂L/∂U.
// Finally the chain rule through u = v/‖v‖ is ∂L/∂v = (I − u·uᵀ)·∂L/∂u/‖v‖.
// Q does not change when u is scaled, so uᵀ·∂L/∂u = 0 and the projection is
// the identity up to rounding: the kernel only divides by ‖v‖.

import {
  notOrthogonalError,
  wrongDeterminantError,
  type HouseholderBackwardPlan,
  type HouseholderBackwardResult,
  type HouseholderForwardPlan,
  type HouseholderFromOrthogonalPlan,
  type HouseholderRandomOrthogonalPlan,
} from "../../../api/householder.js";
import type { Scope, WasmBackend } from "../backend.js";
import { paddedStride } from "./linalg.js";

type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;
type TrsmKernel = (
  n: number, cols: number, a: number, lda: number, b: number, ldb: number,
  lower: number, transpose: number, unitDiagonal: number,
) => void;
type RandomKernel = (out: number, count: number, offsetLo: number, offsetHi: number, key0: number, key1: number) => void;

/** Bytes per float32. */
const F32 = 4;

/**
 * Rows of S per diagonal block of the blocked triangular solve and per row
 * block of the Gram matrix. Each diagonal block is one f32_trsm call, and
 * the rest of the solve runs in GEMM updates.
 */
const SOLVE_BLOCK = 64;

/**
 * Reflections per panel of the blocked apply (applyCwy). Wider panels make
 * the GEMMs deeper but add k·APPLY_PANEL·(n + cols/2) multiply-adds for the
 * panel Gram matrices and solves. Measured with n = k = cols = 512 (median ms
 * of interleaved rounds, simd / relaxed build, 2-core AMD EPYC development
 * machine, Node 20.20): 32: 17.4 / 14.0, 64: 15.9 / 12.7, 128: 16.6 / 13.4,
 * 256: 19.6 / 15.5.
 */
const APPLY_PANEL = 64;

/** The kernels of this file, looked up once per call. */
class Kernels {
  readonly gemmKernel: GemmKernel;
  readonly trsm: TrsmKernel;
  readonly normalize: (n: number, k: number, v: number, ut: number, norms: number) => void;
  readonly scatterGradient: (n: number, k: number, dut: number, norms: number, dv: number) => void;
  readonly applyP: (k: number, a: number, lda: number) => void;
  readonly mirrorUpper: (k: number, a: number, lda: number) => void;
  readonly subtract: (rows: number, cols: number, a: number, lda: number, b: number, ldb: number) => void;
  readonly eye: (rows: number, cols: number, a: number, lda: number) => void;
  readonly productSequential: (n: number, k: number, ut: number, q: number, work: number) => void;
  readonly applySequential: (
    n: number, k: number, ut: number, x: number, cols: number, transpose: number, work: number,
  ) => void;
  readonly reflectToAxes: (n: number, k: number, a: number, lda: number, v: number, work: number) => number;
  readonly haarVectors: (d: number, g: number, v: number, work: number) => void;
  readonly randomNormal: RandomKernel;

  constructor(readonly backend: WasmBackend) {
    this.gemmKernel = backend.kernel<GemmKernel>("f32_gemm");
    this.trsm = backend.kernel<TrsmKernel>("f32_trsm");
    this.normalize = backend.kernel("f32_householder_normalize");
    this.scatterGradient = backend.kernel("f32_householder_scatter_gradient");
    this.applyP = backend.kernel("f32_householder_p");
    this.mirrorUpper = backend.kernel("f32_householder_mirror_upper");
    this.subtract = backend.kernel("f32_householder_subtract");
    this.eye = backend.kernel("f32_householder_eye");
    this.productSequential = backend.kernel("f32_householder_product_sequential");
    this.applySequential = backend.kernel("f32_householder_apply_sequential");
    this.reflectToAxes = backend.kernel("f32_householder_reflect_to_axes");
    this.haarVectors = backend.kernel("f32_householder_haar_vectors");
    this.randomNormal = backend.kernel<RandomKernel>("f32_random_normal");
  }

  /** C = alpha·op(A)·op(B) + beta·C for one row-major matrix (pointers in bytes, strides in elements). */
  gemm(
    m: number, n: number, k: number, alpha: number,
    a: number, lda: number, transA: boolean, b: number, ldb: number, transB: boolean,
    beta: number, c: number, ldc: number,
  ): void {
    this.gemmKernel(1, m, n, k, alpha, a, lda, 0, transA ? 1 : 0, b, ldb, 0, transB ? 1 : 0, beta, c, ldc, 0);
  }

  /**
   * Solves S·X = B, or Sᵀ·X = B when `transpose` is set, for the k×k upper
   * triangular S (row stride k) and the k×cols B (row stride ldb), X in
   * place of B. Blocks of SOLVE_BLOCK rows: each block subtracts the rows
   * already solved with one GEMM and then solves its diagonal block with
   * f32_trsm, so most of the k²·cols work runs in the GEMM.
   */
  solveS(s: number, k: number, b: number, cols: number, ldb: number, transpose: boolean): void {
    if (!transpose) {
      // S is upper triangular: solve from the last block up. Block rows
      // r0 … r1−1 need B[r0:r1] − S[r0:r1, r1:k]·X[r1:k].
      for (let r1 = k; r1 > 0; r1 -= SOLVE_BLOCK) {
        const r0 = Math.max(0, r1 - SOLVE_BLOCK);
        if (r1 < k) {
          this.gemm(r1 - r0, cols, k - r1, -1, s + (r0 * k + r1) * F32, k, false,
            b + r1 * ldb * F32, ldb, false, 1, b + r0 * ldb * F32, ldb);
        }
        this.trsm(r1 - r0, cols, s + (r0 * k + r0) * F32, k, b + r0 * ldb * F32, ldb, 0, 0, 0);
      }
    } else {
      // Sᵀ is lower triangular: solve from the first block down. Block rows
      // r0 … r1−1 need B[r0:r1] − (S[0:r0, r0:r1])ᵀ·X[0:r0].
      for (let r0 = 0; r0 < k; r0 += SOLVE_BLOCK) {
        const r1 = Math.min(k, r0 + SOLVE_BLOCK);
        if (r0 > 0) {
          this.gemm(r1 - r0, cols, r0, -1, s + r0 * F32, k, true, b, ldb, false, 1, b + r0 * ldb * F32, ldb);
        }
        this.trsm(r1 - r0, cols, s + (r0 * k + r0) * F32, k, b + r0 * ldb * F32, ldb, 0, 1, 0);
      }
    }
  }

  /**
   * Writes S = 𝒫(UᵀU) into the k×k buffer `s`, given the k×n matrix Uᵀ at
   * `ut`. Only the upper triangle is needed, so the Gram matrix is computed
   * in row blocks of `block` rows, each from its diagonal to the right.
   */
  formS(ut: number, n: number, k: number, s: number, block = SOLVE_BLOCK): void {
    for (let r0 = 0; r0 < k; r0 += block) {
      const rows = Math.min(block, k - r0);
      this.gemm(rows, k - r0, n, 1, ut + r0 * n * F32, n, false, ut + r0 * n * F32, n, true, 0, s + (r0 * k + r0) * F32, k);
    }
    this.applyP(k, s, k);
  }
}

/** Copies `count` float32 values inside linear memory. */
function copyWithin(backend: WasmBackend, from: number, to: number, count: number): void {
  backend.f32(to, count).set(backend.f32(from, count));
}

/** Copies the first `cols` entries of `rows` rows (row stride `ld`) into a packed rows×cols buffer. */
function copyColumns(backend: WasmBackend, from: number, ld: number, rows: number, cols: number, to: number): void {
  for (let i = 0; i < rows; i++) copyWithin(backend, from + i * ld * F32, to + i * cols * F32, cols);
}

/** Workspace of the sequential kernels: a 16-column panel of n rows and k taus. */
function sequentialWork(scope: Scope, n: number, k: number): number {
  return scope.allocF32(16 * n + k);
}

/** Uᵀ, the column norms of V and (when requested) S, allocated in `scope`. */
interface Prepared {
  ut: number;
  norms: number;
  s: number;
}

/** Copies V in and forms Uᵀ and its norms, and S unless `withS` is false. */
function prepare(kernels: Kernels, scope: Scope, v: Float32Array, n: number, k: number, withS: boolean): Prepared {
  const vIn = scope.copyIn(v);
  const ut = scope.allocF32(k * n);
  const norms = scope.allocF32(k);
  const s = withS ? scope.allocF32(k * k) : 0;
  kernels.normalize(n, k, vIn, ut, norms);
  if (withS) kernels.formS(ut, n, k, s);
  return { ut, norms, s };
}

/** Writes Q = I − U·S⁻¹·Uᵀ (n×n) into q, using the k×n buffer w as workspace. */
function productCwy(kernels: Kernels, n: number, k: number, { ut, s }: Prepared, w: number, q: number): void {
  copyWithin(kernels.backend, ut, w, k * n);
  kernels.solveS(s, k, w, n, n, false);
  kernels.eye(n, n, q, n);
  kernels.gemm(n, n, k, -1, ut, n, true, w, n, false, 1, q, n);
}

/**
 * Overwrites the n×cols matrix x with Q·X, or Qᵀ·X when `transpose` is set,
 * by the blocked CWY form of the file header. `s` (APPLY_PANEL² floats) and
 * `z` (APPLY_PANEL·cols floats) are workspace.
 */
function applyCwy(
  kernels: Kernels, n: number, k: number, ut: number, x: number, cols: number, transpose: boolean, s: number, z: number,
): void {
  const panels = Math.ceil(k / APPLY_PANEL);
  for (let step = 0; step < panels; step++) {
    const panel = transpose ? step : panels - 1 - step;
    const first = panel * APPLY_PANEL;
    const width = Math.min(APPLY_PANEL, k - first);
    const up = ut + first * n * F32;
    // S_p = 𝒫(U_pᵀU_p), width×width with row stride width. Row blocks of
    // half a panel skip up to a quarter of the Gram block's multiply-adds.
    kernels.formS(up, n, width, s, APPLY_PANEL / 2);
    // Z = S_p⁻¹·U_pᵀ·X (S_p⁻ᵀ for Qᵀ), then X ← X − U_p·Z.
    kernels.gemm(width, cols, n, 1, up, n, false, x, cols, false, 0, z, cols);
    kernels.trsm(width, cols, s, width, z, cols, 0, transpose ? 1 : 0, 0);
    kernels.gemm(n, cols, width, -1, up, n, true, z, cols, false, 1, x, cols);
  }
}

/** Runs householder.product, householder.stiefel or householder.apply and fills plan.out. */
export function runHouseholderForward(backend: WasmBackend, plan: HouseholderForwardPlan): Float32Array {
  const kernels = new Kernels(backend);
  const { n, k, cols } = plan;
  return backend.withScope(plan.op, (scope) => {
    const sequential = plan.method === "sequential";
    // apply forms only the panels' diagonal blocks of S (applyCwy).
    const prepared = prepare(kernels, scope, plan.v, n, k, !sequential && plan.x === undefined);
    const { ut } = prepared;
    let out: number;
    if (plan.x !== undefined) {
      out = scope.copyIn(plan.x);
      if (sequential) {
        kernels.applySequential(n, k, ut, out, cols, plan.transpose ? 1 : 0, sequentialWork(scope, n, k));
      } else {
        const width = Math.min(APPLY_PANEL, k);
        applyCwy(kernels, n, k, ut, out, cols, plan.transpose, scope.allocF32(width * width), scope.allocF32(width * cols));
      }
    } else if (plan.op === "householder.product") {
      out = scope.allocF32(n * n);
      if (sequential) {
        kernels.productSequential(n, k, ut, out, sequentialWork(scope, n, k));
      } else {
        productCwy(kernels, n, k, prepared, scope.allocF32(k * n), out);
      }
    } else {
      // stiefel: Ω = I_{n×k} − U·W with W = S⁻¹·(U_{0:k,:})ᵀ, the first k columns of Uᵀ.
      out = scope.allocF32(n * k);
      const w = scope.allocF32(k * k);
      copyColumns(backend, ut, n, k, k, w);
      kernels.solveS(prepared.s, k, w, k, k, false);
      kernels.eye(n, k, out, k);
      kernels.gemm(n, k, k, -1, ut, n, true, w, k, false, 1, out, k);
    }
    plan.out.set(backend.f32(out, n * cols));
    return plan.out;
  });
}

/** Runs householder.backward (see the file header for the formulas) and fills plan.dv (and plan.dx). */
export function runHouseholderBackward(backend: WasmBackend, plan: HouseholderBackwardPlan): HouseholderBackwardResult {
  const kernels = new Kernels(backend);
  const { n, k, cols, mode } = plan;
  return backend.withScope("householder.backward", (scope) => {
    const prepared = prepare(kernels, scope, plan.v, n, k, true);
    const { ut, norms, s } = prepared;
    const grad = scope.copyIn(plan.gradOutput);
    const x = plan.x === undefined ? 0 : scope.copyIn(plan.x);
    // Xa is always an input matrix. Xb is X or Ḡ_out in mode "apply" and an
    // identity otherwise, which is never stored (pointer 0).
    const [xa, xb] = mode !== "apply" ? [grad, 0] : plan.transpose ? [x, grad] : [grad, x];
    // Z has n columns in product mode (Z = S⁻¹·Uᵀ), cols otherwise.
    const zCols = mode === "product" ? n : cols;
    const y = scope.allocF32(k * cols);
    const z = scope.allocF32(k * zCols);
    const m = scope.allocF32(k * k);
    const d = scope.allocF32(k * n);
    const dv = scope.allocF32(n * k);

    // Y = S⁻ᵀ·Uᵀ·Xa (k×cols).
    kernels.gemm(k, cols, n, 1, ut, n, false, xa, cols, false, 0, y, cols);
    kernels.solveS(s, k, y, cols, cols, true);
    // Z = S⁻¹·Uᵀ·Xb (k×zCols).
    if (mode === "product") {
      copyWithin(backend, ut, z, k * n);
    } else if (mode === "stiefel") {
      copyColumns(backend, ut, n, k, k, z);
    } else {
      kernels.gemm(k, cols, n, 1, ut, n, false, xb, cols, false, 0, z, cols);
    }
    kernels.solveS(s, k, z, zCols, zCols, false);
    // M = 𝒫(K) + 𝒫(K)ᵀ with K = Y·Zᵀ. Y and Z both have `cols` columns,
    // because zCols = cols = n in product mode.
    kernels.gemm(k, k, cols, 1, y, cols, false, z, zCols, true, 0, m, k);
    kernels.mirrorUpper(k, m, k);
    // ∂L/∂Uᵀ = M·Uᵀ − Y·Xbᵀ − Z·Xaᵀ.
    kernels.gemm(k, n, k, 1, m, k, false, ut, n, false, 0, d, n);
    if (mode === "apply") {
      kernels.gemm(k, n, cols, -1, y, cols, false, xb, cols, true, 1, d, n);
    } else {
      // Xb = I_{n×cols}: Y·Xbᵀ is Y in the first cols columns.
      kernels.subtract(k, cols, y, cols, d, n);
    }
    kernels.gemm(k, n, cols, -1, z, zCols, false, xa, cols, true, 1, d, n);
    kernels.scatterGradient(n, k, d, norms, dv);

    let dxPointer = 0;
    if (mode === "apply") {
      // ∂L/∂X = Ḡ_out − U·Y (out = Q·X) or Ḡ_out − U·Z (out = Qᵀ·X), in place of Ḡ_out.
      kernels.gemm(n, cols, k, -1, ut, n, true, plan.transpose ? z : y, cols, false, 1, grad, cols);
      dxPointer = grad;
    }

    plan.dv.set(backend.f32(dv, n * k));
    if (plan.dx === undefined) return { dv: plan.dv };
    plan.dx.set(backend.f32(dxPointer, n * cols));
    return { dv: plan.dv, dx: plan.dx };
  });
}

/** Runs householder.fromOrthogonal: checks qᵀq ≈ I, then reflects the columns of q onto the positive axes. */
export function runHouseholderFromOrthogonal(backend: WasmBackend, plan: HouseholderFromOrthogonalPlan): Float32Array {
  const kernels = new Kernels(backend);
  const { n, k } = plan;
  return backend.withScope("householder.fromOrthogonal", (scope) => {
    // A padded row stride keeps the reflections' column strips off a few cache sets (see paddedStride).
    const lda = paddedStride(k);
    const a = scope.allocF32(n * lda);
    const gram = scope.allocF32(k * k);
    const v = scope.allocF32(n * k);
    const work = scope.allocF32(n);
    const aIn = backend.f32(a, n * lda);
    for (let i = 0; i < n; i++) aIn.set(plan.q.subarray(i * k, (i + 1) * k), i * lda);
    kernels.gemm(k, k, n, 1, a, lda, true, a, lda, false, 0, gram, k);
    const entries = backend.f32(gram, k * k);
    let deviation = 0;
    for (let i = 0; i < k; i++) {
      // Math.max returns NaN once any entry is NaN, and NaN fails the check below.
      for (let j = 0; j < k; j++) deviation = Math.max(deviation, Math.abs(entries[i * k + j] - (i === j ? 1 : 0)));
    }
    if (!(deviation <= plan.tolerance)) throw notOrthogonalError(n, k, deviation, plan.tolerance);

    const failed = kernels.reflectToAxes(n, k, a, lda, v, work);
    if (failed >= 0) throw wrongDeterminantError(n);
    plan.v.set(backend.f32(v, n * k));
    return plan.v;
  });
}

/** Generator key and first draw of a normal stream, split into u32 words as in RandomPlan. */
export interface NormalStream {
  key0: number;
  key1: number;
  offsetLo: number;
  offsetHi: number;
}

/** Returns the stream position `draws` draws after `stream`'s offset, modulo 2^64 (the callers check the range). */
function advance(stream: NormalStream, draws: bigint): { lo: number; hi: number } {
  const offset = ((BigInt(stream.offsetHi >>> 0) << 32n) | BigInt(stream.offsetLo >>> 0)) + draws;
  return { lo: Number(offset & 0xffffffffn), hi: Number((offset >> 32n) & 0xffffffffn) };
}

/**
 * Samples `rows` rows of random orthogonal d×d matrices into a rows×d
 * row-major buffer allocated in `scope`, and returns its byte pointer.
 *
 * Contract. Rows come from B = ⌈rows/d⌉ independent matrices Q_0 … Q_{B−1}
 * stacked in order (rows b·d … b·d + d − 1 are the rows of Q_b, and the
 * last block keeps only its first rows − (B−1)·d rows). Q_b reads draws
 * offset + b·d² … offset + (b+1)·d² − 1 of the key's standard normal stream
 * (f32_random_normal) as a row-major d×d matrix G_b. The call uses B·d²
 * draws, and the caller checks that offset + B·d² ≤ 2^64. The lower
 * triangle of G_b gives the Householder vectors of
 * f32_householder_haar_vectors, the reflections that Householder QR of a
 * Gaussian matrix would produce, and Q_b is their product, formed by CWY.
 *
 * Distribution. Each Q_b is Haar-distributed on the orthogonal matrices
 * with det Q_b = (−1)^d (the product of exactly d reflections), the blocks
 * are independent, and for d ≥ 2 every row and every column of Q_b is
 * uniformly distributed on the unit sphere (the measure is invariant under
 * rotations on either side). For d = 1, Q_b = [−1] always. V with all
 * entries Gaussian, or its plain lower triangle, does not give Haar
 * matrices for d ≥ 3 (E[Q] = (1 − 2/d)^d·I for the first, while Haar
 * measure has E[Q] = 0), which is why the vectors are built this way.
 */
export function sampleOrthogonalCwy(
  backend: WasmBackend, scope: Scope, d: number, rows: number, stream: NormalStream,
): number {
  const kernels = new Kernels(backend);
  const out = scope.allocF32(rows * d);
  const g = scope.allocF32(d * d);
  const v = scope.allocF32(d * d);
  const ut = scope.allocF32(d * d);
  const norms = scope.allocF32(d);
  const work = scope.allocF32(d);
  const s = scope.allocF32(d * d);
  const w = scope.allocF32(d * d);
  const partial = rows % d === 0 ? 0 : scope.allocF32(d * d);
  const prepared: Prepared = { ut, norms, s };
  const blocks = Math.ceil(rows / d);
  for (let b = 0; b < blocks; b++) {
    const { lo, hi } = advance(stream, BigInt(b) * BigInt(d) * BigInt(d));
    kernels.randomNormal(g, d * d, lo, hi, stream.key0, stream.key1);
    kernels.haarVectors(d, g, v, work);
    kernels.normalize(d, d, v, ut, norms);
    kernels.formS(ut, d, d, s);
    const keep = Math.min(d, rows - b * d);
    const target = keep === d ? out + b * d * d * F32 : partial;
    productCwy(kernels, d, d, prepared, w, target);
    if (keep < d) copyWithin(backend, partial, out + b * d * d * F32, keep * d);
  }
  return out;
}

/** Runs householder.randomOrthogonal: one d×d block of sampleOrthogonalCwy. */
export function runHouseholderRandomOrthogonal(backend: WasmBackend, plan: HouseholderRandomOrthogonalPlan): Float32Array {
  return backend.withScope("householder.randomOrthogonal", (scope) => {
    const q = sampleOrthogonalCwy(backend, scope, plan.n, plan.n, plan);
    plan.q.set(backend.f32(q, plan.n * plan.n));
    return plan.q;
  });
}
