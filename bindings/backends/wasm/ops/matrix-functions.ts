// Matrix functions composed from kernels inside one backend scope: expm
// (scaling and squaring with a Padé approximant), the Cayley map, and the
// adjoint of expm's Fréchet derivative. The routines here take pointers into
// linear memory and preallocated workspaces, so the ODEtoODE op can call
// them once per step without allocating. runExpm and runCayley wrap them as
// the public linalg ops. All matrices are n×n, row-major and contiguous.

import type { MatrixFunctionPlan } from "../../../api/matrix-functions.js";
import type { Scope, WasmBackend } from "../backend.js";

type GemmKernel = (
  batch: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, transA: number,
  b: number, ldb: number, strideB: number, transB: number,
  beta: number, c: number, ldc: number, strideC: number,
) => void;

/** The kernels the matrix functions and the ODEtoODE op compose (assembly/linalg/, assembly/ode/). */
export interface LinalgKernels {
  gemm: GemmKernel;
  getrf: (n: number, a: number, lda: number, pivots: number) => number;
  getrs: (n: number, cols: number, a: number, lda: number, pivots: number, b: number, ldb: number) => void;
  norm1: (rows: number, cols: number, a: number, lda: number) => number;
  sumSquares: (count: number, x: number) => number;
  axpby: (count: number, alpha: number, x: number, beta: number, y: number) => void;
  fill: (count: number, value: number, out: number) => void;
  sumDifference: (count: number, v: number, u: number, sum: number, difference: number) => void;
  skewPart: (n: number, alpha: number, x: number, beta: number, out: number) => void;
  symmetricPart: (n: number, alpha: number, x: number, beta: number, out: number) => void;
  addIdentity: (n: number, alpha: number, x: number, out: number) => void;
  copyBlock: (rows: number, cols: number, alpha: number, src: number, lds: number, transpose: number, dst: number, ldd: number) => void;
  padeTerms: (n: number, degree: number, a2: number, a4: number, a6: number, odd: number, even: number) => void;
  cayleyOperands: (n: number, a: number, minus: number, plus: number) => void;
  frechetBlock: (n: number, a: number, g: number, scale: number, out: number) => void;
  eulerStep: (count: number, activation: number, h: number, x: number, z: number, out: number) => void;
  activationAdjoint: (count: number, activation: number, h: number, g: number, z: number, out: number) => void;
}

/** Looks up the kernels of LinalgKernels in the backend's binary. */
export function linalgKernels(backend: WasmBackend): LinalgKernels {
  return {
    gemm: backend.kernel("f32_gemm"),
    getrf: backend.kernel("f32_getrf"),
    getrs: backend.kernel("f32_getrs"),
    norm1: backend.kernel("f32_matrix_norm1"),
    sumSquares: backend.kernel("f32_sum_squares"),
    axpby: backend.kernel("f32_axpby"),
    fill: backend.kernel("f32_fill"),
    sumDifference: backend.kernel("f32_sum_difference"),
    skewPart: backend.kernel("f32_skew_part"),
    symmetricPart: backend.kernel("f32_symmetric_part"),
    addIdentity: backend.kernel("f32_add_identity"),
    copyBlock: backend.kernel("f32_copy_block"),
    padeTerms: backend.kernel("f32_expm_pade_terms"),
    cayleyOperands: backend.kernel("f32_cayley_operands"),
    frechetBlock: backend.kernel("f32_expm_frechet_block"),
    eulerStep: backend.kernel("f32_ode_euler_step"),
    activationAdjoint: backend.kernel("f32_ode_activation_adjoint"),
  };
}

/** C = alpha·op(A)·op(B) + beta·C for contiguous n×n matrices. */
export function multiplySquare(
  kernels: LinalgKernels, n: number, a: number, transA: boolean, b: number, transB: boolean, c: number,
  alpha = 1, beta = 0,
): void {
  kernels.gemm(1, n, n, n, alpha, a, n, 0, transA ? 1 : 0, b, n, 0, transB ? 1 : 0, beta, c, n, 0);
}

/**
 * θ_m for the float32 unit roundoff u = 2⁻²⁴: the largest ‖A‖₁ for which
 * the degree-m Padé approximant satisfies r_m(A) = e^(A + ΔA) with
 * ‖ΔA‖₁ ≤ u·‖A‖₁, by the backward error bound of Higham's scaling and
 * squaring analysis (SIAM J. Matrix Anal. Appl. 26(4), 2005). The values
 * are the output of scripts/expm-theta.mjs, which evaluates that bound in
 * exact rational arithmetic.
 */
export const EXPM_THETA: ReadonlyArray<readonly [degree: number, theta: number]> = [
  [3, 0.4258730034897931],
  [5, 1.880152698533769],
  [7, 3.925724846433284],
];

/** Degree and number of squarings that expm uses for a matrix of 1-norm `norm`. */
export function expmParameters(norm: number): { degree: number; squarings: number } {
  for (const [degree, theta] of EXPM_THETA) {
    if (norm <= theta) return { degree, squarings: 0 };
  }
  const [degree, theta] = EXPM_THETA[EXPM_THETA.length - 1];
  // The smallest s with 2^-s·norm ≤ θ_7 (up to the rounding of log2).
  return { degree, squarings: Math.max(0, Math.ceil(Math.log2(norm / theta))) };
}

/** Buffers of one n×n expm: 10·n² values and n pivots (expmWorkspaceValues). */
export class ExpmWorkspace {
  readonly a2: number;
  readonly a4: number;
  readonly a6: number;
  readonly odd: number;
  readonly even: number;
  readonly scaled: number;
  readonly u: number;
  readonly p: number;
  readonly q: number;
  /** The buffer that expmInto's squarings alternate with its output. */
  readonly square: number;
  readonly pivots: number;

  constructor(scope: Scope, readonly n: number) {
    const size = n * n;
    this.a2 = scope.allocF32(size);
    this.a4 = scope.allocF32(size);
    this.a6 = scope.allocF32(size);
    this.odd = scope.allocF32(size);
    this.even = scope.allocF32(size);
    this.scaled = scope.allocF32(size);
    this.u = scope.allocF32(size);
    this.p = scope.allocF32(size);
    this.q = scope.allocF32(size);
    this.square = scope.allocF32(size);
    this.pivots = scope.allocF32(n);
  }
}

/**
 * Writes e^A into `out` (must not overlap `a` or the workspace) and returns
 * the degree and squarings used. A is left unchanged. The solve Q⁻¹·P uses
 * LU with partial pivoting. Because q_m(A) is nonsingular for ‖A‖₁ ≤ θ_m, a
 * zero pivot can come only from non-finite input, which the callers reject.
 */
export function expmInto(kernels: LinalgKernels, ws: ExpmWorkspace, a: number, out: number): { degree: number; squarings: number } {
  const n = ws.n;
  const size = n * n;
  const norm = kernels.norm1(n, n, a, n);
  const { degree, squarings } = expmParameters(norm);
  let x = a;
  if (squarings > 0) {
    // Scaling by a power of two is exact unless entries fall below 2^-126.
    kernels.axpby(size, 2 ** -squarings, a, 0, ws.scaled);
    x = ws.scaled;
  }

  multiplySquare(kernels, n, x, false, x, false, ws.a2);
  if (degree >= 5) multiplySquare(kernels, n, ws.a2, false, ws.a2, false, ws.a4);
  if (degree >= 7) multiplySquare(kernels, n, ws.a4, false, ws.a2, false, ws.a6);
  kernels.padeTerms(n, degree, ws.a2, ws.a4, ws.a6, ws.odd, ws.even);
  multiplySquare(kernels, n, x, false, ws.odd, false, ws.u);

  // R = Q⁻¹·P lands in the buffer from which `squarings` alternating
  // squarings between it and the square buffer end in `out`.
  let current = squarings % 2 === 0 ? out : ws.square;
  let other = squarings % 2 === 0 ? ws.square : out;
  kernels.sumDifference(size, ws.even, ws.u, current, ws.q);
  kernels.getrf(n, ws.q, n, ws.pivots);
  kernels.getrs(n, n, ws.q, n, ws.pivots, current, n);
  for (let s = 0; s < squarings; s++) {
    multiplySquare(kernels, n, current, false, current, false, other);
    [current, other] = [other, current];
  }
  return { degree, squarings };
}

/** Buffers of one n×n Cayley map: I − A/2 (then its LU factors) and n pivots. */
export class CayleyWorkspace {
  readonly minus: number;
  readonly pivots: number;

  constructor(scope: Scope, readonly n: number) {
    this.minus = scope.allocF32(n * n);
    this.pivots = scope.allocF32(n);
  }
}

/**
 * Writes (I − A/2)⁻¹·(I + A/2) into `out` (must not overlap `a`). Returns 0,
 * or j + 1 when LU with partial pivoting meets an exactly zero pivot at step
 * j, and then `out` contains no result. For skew-symmetric A the eigenvalues of
 * I − A/2 are 1 − iλ/2 with real λ, so it is never singular.
 */
export function cayleyInto(kernels: LinalgKernels, ws: CayleyWorkspace, a: number, out: number): number {
  const n = ws.n;
  kernels.cayleyOperands(n, a, ws.minus, out);
  const info = kernels.getrf(n, ws.minus, n, ws.pivots);
  if (info !== 0) return info;
  kernels.getrs(n, n, ws.minus, n, ws.pivots, out, n);
  return 0;
}

/** Buffers of the Fréchet adjoint: a 2n×2n expm workspace and the block matrix and its exponential. */
export class FrechetWorkspace {
  readonly expm: ExpmWorkspace;
  readonly block: number;
  readonly blockExp: number;

  constructor(scope: Scope, readonly n: number) {
    this.expm = new ExpmWorkspace(scope, 2 * n);
    this.block = scope.allocF32(4 * n * n);
    this.blockExp = scope.allocF32(4 * n * n);
  }
}

/**
 * Writes L(Aᵀ, G) into `out`: the adjoint of the Fréchet derivative of exp
 * at A applied to G, i.e. ∂⟨G, e^A⟩/∂A, because ⟨G, L(A, E)⟩ = ⟨L(Aᵀ, G), E⟩
 * for every E. Computed as the upper-right block of
 * exp([[Aᵀ, c·G], [0, Aᵀ]]) divided by c, where the power of two c brings
 * ‖c·G‖₁ to about max(‖A‖₁, 2⁻⁸) so the block's norm, and with it the
 * degree and squarings, follows A. The zero lower-left block keeps the LU
 * pivots inside the diagonal blocks, and dividing by the power of two c is
 * exact.
 */
export function expmFrechetAdjointInto(kernels: LinalgKernels, ws: FrechetWorkspace, a: number, g: number, out: number): void {
  const n = ws.n;
  const normG = kernels.norm1(n, n, g, n);
  if (normG === 0) {
    kernels.fill(n * n, 0, out);
    return;
  }
  const target = Math.max(kernels.norm1(n, n, a, n), 2 ** -8);
  const exponent = Math.min(126, Math.max(-126, Math.floor(Math.log2(target / normG))));
  const scale = 2 ** exponent;
  kernels.frechetBlock(n, a, g, scale, ws.block);
  expmInto(kernels, ws.expm, ws.block, ws.blockExp);
  kernels.copyBlock(n, n, 2 ** -exponent, ws.blockExp + n * 4, 2 * n, 0, out, n);
}

/** Raises the RangeError of an op whose result left the float32 range. */
function requireFiniteResult(op: string, values: Float32Array, detail: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new RangeError(`${op}: the result is not finite at entry ${i} (${values[i]}); ${detail}`);
    }
  }
}

/** Runs a validated linalg.expm plan. */
export function runExpm(backend: WasmBackend, plan: MatrixFunctionPlan): Float32Array {
  const kernels = linalgKernels(backend);
  const n = plan.n;
  return backend.withScope("linalg.expm", (scope) => {
    const a = scope.copyIn(plan.a);
    const out = scope.allocF32(n * n);
    const ws = new ExpmWorkspace(scope, n);
    const norm = kernels.norm1(n, n, a, n);
    expmInto(kernels, ws, a, out);
    plan.out.set(backend.f32(out, n * n));
    requireFiniteResult("linalg.expm", plan.out,
      `e^A overflows float32 or its squarings lost all accuracy (‖A‖₁ = ${norm})`);
    return plan.out;
  });
}

/** Runs a validated linalg.cayley plan; raises a RangeError when I − A/2 is singular. */
export function runCayley(backend: WasmBackend, plan: MatrixFunctionPlan): Float32Array {
  const kernels = linalgKernels(backend);
  const n = plan.n;
  return backend.withScope("linalg.cayley", (scope) => {
    const a = scope.copyIn(plan.a);
    const out = scope.allocF32(n * n);
    const ws = new CayleyWorkspace(scope, n);
    const info = cayleyInto(kernels, ws, a, out);
    if (info !== 0) {
      throw new RangeError(
        `linalg.cayley: I − A/2 is singular (LU with partial pivoting found a zero pivot in column ${info - 1}), ` +
          "so the Cayley map is undefined for this a; it exists whenever no eigenvalue of a equals 2, for example for every skew-symmetric a",
      );
    }
    plan.out.set(backend.f32(out, n * n));
    requireFiniteResult("linalg.cayley", plan.out, "I − A/2 is too close to singular for float32");
    return plan.out;
  });
}
