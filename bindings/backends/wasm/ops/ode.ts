// Runs validated odeToOde plans on the WASM backend by composing kernels in
// one scope: f32_gemm for X·Wᵀ and the d×d products, the activation kernels
// of assembly/ode/, and expm or the Cayley map (matrix-functions.ts) for Γ.
//
// Shapes: X is batch×d (one sample per row), so the main flow's W_i·x_i is
// the row-major product Z = X·W_iᵀ. W, Γ, A and every generator matrix are
// d×d. Pointers are bytes; counts are float32 elements.
//
// Backward pass (reverse mode), for step i with Z_i = X_i·W_iᵀ,
// X_{i+1} = X_i + h·f(Z_i), W_{i+1} = W_i·Γ_i, Γ_i = Γ(A_i), A_i = h·b_i:
//   gZ     = h·gX_{i+1} ⊙ f′(Z_i)
//   gX_i   = gX_{i+1} + gZ·W_i
//   gW_i   = gW_{i+1}·Γ_iᵀ + gZᵀ·X_i (+ the isospectral generator's term)
//   gΓ_i   = W_iᵀ·gW_{i+1},  gA_i = Γ′(A_i)*[gΓ_i]
// Γ′* is ¼·(I + Γ)ᵀ·gΓ·(I + Γ)ᵀ for the Cayley map (its derivative is
// M⁻¹·E·M⁻¹ with M = I − A/2 and M⁻¹ = (I + Γ)/2) and L(Aᵀ, gΓ) for exp.
// For the constant and time-varying generators A_i is the same for every
// step of a piece, and Γ′* is linear, so gΓ is summed over the piece and
// Γ′* runs once per piece.
//
// Memory: the forward pass keeps x (and W with wRecovery "checkpoints") at
// the start of every segment of checkpointEvery steps. The backward pass
// rebuilds one segment at a time, last first, into segment buffers of
// checkpointEvery × (batch·d + 2·d²) values for x_i, W_i and Γ_i (plus d²
// for A_i with the isospectral generator). So memory grows with the number
// of checkpoints and the segment length, not with steps otherwise.

import type { OdeBackwardPlan, OdeBackwardResult, OdeForwardResult, OdePlan } from "../../../api/ode.js";
import { ACTIVATION_CODES } from "../../../api/ode.js";
import type { Scope, WasmBackend } from "../backend.js";
import {
  CayleyWorkspace,
  cayleyInto,
  ExpmWorkspace,
  expmFrechetAdjointInto,
  expmInto,
  FrechetWorkspace,
  type LinalgKernels,
  linalgKernels,
  multiplySquare,
} from "./matrix-functions.js";

const F32 = 4;

/** Pointer arithmetic for the i-th matrix of `count` values in a buffer. */
function slot(base: number, index: number, count: number): number {
  return base + index * count * F32;
}

/** The parameter flow and the main flow's step: the state both passes share. */
class OdeFlow {
  readonly kernels: LinalgKernels;
  readonly d: number;
  readonly size: number;
  readonly bd: number;
  readonly activation: number;
  readonly stateless: boolean;
  /** Generator parameters in linear memory (ψ_k, or P_N and P_Λ). */
  readonly params: number;
  /** Symmetric N and Λ of the isospectral generator. */
  readonly matrixN: number;
  readonly matrixLambda: number;
  /** d×d temporaries of the generator and the adjoints. */
  readonly temp1: number;
  readonly temp2: number;
  /** A and Γ of the piece in `cachedPiece` (constant and time-varying generators). */
  readonly pieceA: number;
  readonly pieceGamma: number;
  cachedPiece = -1;
  /** Z = X·Wᵀ, batch×d. */
  readonly z: number;
  private readonly expmWs: ExpmWorkspace | null;
  private readonly cayleyWs: CayleyWorkspace | null;

  constructor(backend: WasmBackend, scope: Scope, readonly plan: OdePlan) {
    this.kernels = linalgKernels(backend);
    this.d = plan.dim;
    this.size = plan.dim * plan.dim;
    this.bd = plan.batch * plan.dim;
    this.activation = ACTIVATION_CODES[plan.activation];
    this.stateless = plan.generator !== "isospectral";
    this.params = scope.copyIn(plan.params);
    this.matrixN = scope.allocF32(this.size);
    this.matrixLambda = scope.allocF32(this.size);
    this.temp1 = scope.allocF32(this.size);
    this.temp2 = scope.allocF32(this.size);
    this.pieceA = scope.allocF32(this.size);
    this.pieceGamma = scope.allocF32(this.size);
    this.z = scope.allocF32(this.bd);
    this.expmWs = plan.stepper === "exp" ? new ExpmWorkspace(scope, this.d) : null;
    this.cayleyWs = plan.stepper === "cayley" ? new CayleyWorkspace(scope, this.d) : null;
    if (!this.stateless) {
      this.kernels.symmetricPart(this.d, 0.5, this.params, 0, this.matrixN);
      this.kernels.symmetricPart(this.d, 0.5, slot(this.params, 1, this.size), 0, this.matrixLambda);
    }
  }

  /** Piece k = ⌊i·pieces/steps⌋ of step i. */
  pieceOf(i: number): number {
    return Math.floor((i * this.plan.pieces) / this.plan.steps);
  }

  /** Returns the first step of piece k, the smallest i with ⌊i·pieces/steps⌋ = k. */
  pieceStart(k: number): number {
    return Math.ceil((k * this.plan.steps) / this.plan.pieces);
  }

  /** Writes A = h·(ψ_k − ψ_kᵀ). */
  pieceGenerator(k: number, out: number): void {
    this.kernels.skewPart(this.d, this.plan.h, slot(this.params, k, this.size), 0, out);
  }

  /** Writes A = h·[WᵀNW, Λ] = h·(C − Cᵀ) with C = WᵀNW·Λ (Cᵀ = Λ·WᵀNW for symmetric N and Λ). */
  isospectralGenerator(w: number, out: number): void {
    const { kernels, d } = this;
    multiplySquare(kernels, d, this.matrixN, false, w, false, this.temp1);
    multiplySquare(kernels, d, w, true, this.temp1, false, this.temp2);
    multiplySquare(kernels, d, this.temp2, false, this.matrixLambda, false, this.temp1);
    kernels.skewPart(d, this.plan.h, this.temp1, 0, out);
  }

  /** Writes Γ(A) with the plan's stepper. */
  gamma(a: number, out: number): void {
    if (this.expmWs !== null) {
      expmInto(this.kernels, this.expmWs, a, out);
    } else if (cayleyInto(this.kernels, this.cayleyWs!, a, out) !== 0) {
      // Unreachable for skew-symmetric A: I − A/2 has eigenvalues 1 − iλ/2.
      throw new Error(`${this.plan.op}: internal error: I − A/2 is singular for a skew-symmetric A`);
    }
  }

  /** Makes pieceA and pieceGamma hold piece k's A and Γ. */
  loadPiece(k: number): void {
    if (this.cachedPiece === k) return;
    this.pieceGenerator(k, this.pieceA);
    this.gamma(this.pieceA, this.pieceGamma);
    this.cachedPiece = k;
  }

  /**
   * Returns a pointer to Γ_i for step i with weights `w`: the cached piece's
   * Γ for stateless generators, else Γ(h·b(W_i)) written into `gammaOut`
   * (and A_i into `aOut`).
   */
  stepGamma(i: number, w: number, aOut: number, gammaOut: number): number {
    if (this.stateless) {
      this.loadPiece(this.pieceOf(i));
      return this.pieceGamma;
    }
    this.isospectralGenerator(w, aOut);
    this.gamma(aOut, gammaOut);
    return gammaOut;
  }

  /** xNext = x + h·f(x·wᵀ); leaves Z in this.z. */
  mainStep(x: number, w: number, xNext: number): void {
    const { kernels, d, plan } = this;
    kernels.gemm(1, plan.batch, d, d, 1, x, d, 0, 0, w, d, 0, 1, 0, this.z, d, 0);
    kernels.eulerStep(this.bd, this.activation, plan.h, x, this.z, xNext);
  }
}

/** Runs a validated odeToOde.forward plan. */
export function runOdeForward(backend: WasmBackend, plan: OdePlan): OdeForwardResult {
  return backend.withScope(plan.op, (scope) => {
    const flow = new OdeFlow(backend, scope, plan);
    const { bd, size } = flow;
    let x = scope.copyIn(plan.x0);
    let xNext = scope.allocF32(bd);
    let w = scope.copyIn(plan.w0);
    let wNext = scope.allocF32(size);
    const a = scope.allocF32(size);
    const gammaOut = scope.allocF32(size);
    const trajectory = plan.returnTrajectory ? new Float32Array((plan.steps + 1) * bd) : undefined;
    trajectory?.set(plan.x0);

    for (let i = 0; i < plan.steps; i++) {
      const gamma = flow.stepGamma(i, w, a, gammaOut);
      flow.mainStep(x, w, xNext);
      multiplySquare(flow.kernels, flow.d, w, false, gamma, false, wNext);
      [x, xNext] = [xNext, x];
      [w, wNext] = [wNext, w];
      trajectory?.set(backend.f32(x, bd), (i + 1) * bd);
    }
    const result: OdeForwardResult = { xT: backend.f32(x, bd).slice(), wT: backend.f32(w, size).slice() };
    if (trajectory !== undefined) result.trajectory = trajectory;
    return result;
  });
}

/** Runs a validated odeToOde.backward plan: one forward pass, then segments last to first. */
export function runOdeBackward(backend: WasmBackend, plan: OdeBackwardPlan): OdeBackwardResult {
  return backend.withScope(plan.op, (scope) => new OdeBackward(backend, scope, plan).run());
}

class OdeBackward {
  private readonly flow: OdeFlow;
  private readonly kernels: LinalgKernels;
  private readonly segment: number;
  private readonly segments: number;
  private readonly storeW: boolean;
  // Checkpoints: x (and W) at the start of every segment.
  private readonly checkpointX: number;
  private readonly checkpointW: number;
  // Segment buffers: X_i, W_i, Γ_i (and A_i for isospectral) for the steps of one segment.
  private readonly segX: number;
  private readonly segW: number;
  private readonly segGamma: number;
  private readonly segA: number;
  /** W at the end of the segment being rebuilt (reverse recovery), starting at W_N. */
  private readonly wEnd: number;
  /** x, x_next, W, W_next of the checkpointing forward pass. */
  private readonly forwardScratch: [number, number, number, number];
  // Gradients.
  private readonly gX: number;
  private readonly gZ: number;
  private gW: number;
  private gWNext: number;
  private readonly gGamma: number;
  private readonly gA: number;
  private readonly gParams: number;
  private readonly gN: number;
  private readonly gLambda: number;
  private readonly temp3: number;
  private readonly temp4: number;
  private readonly frechetWs: FrechetWorkspace | null;
  private readonly gradNorms: Float32Array | undefined;

  constructor(private readonly backend: WasmBackend, scope: Scope, private readonly plan: OdeBackwardPlan) {
    this.flow = new OdeFlow(backend, scope, plan);
    this.kernels = this.flow.kernels;
    const { bd, size } = this.flow;
    this.segment = plan.checkpointEvery;
    this.segments = Math.ceil(plan.steps / this.segment);
    this.storeW = plan.wRecovery === "checkpoints";
    this.checkpointX = scope.allocF32(this.segments * bd);
    this.checkpointW = this.storeW ? scope.allocF32(this.segments * size) : 0;
    this.segX = scope.allocF32(this.segment * bd);
    this.segW = scope.allocF32(this.segment * size);
    this.segGamma = scope.allocF32(this.segment * size);
    this.segA = this.flow.stateless ? 0 : scope.allocF32(this.segment * size);
    this.wEnd = scope.allocF32(size);
    this.forwardScratch = plan.storeTrajectory
      ? [0, 0, 0, 0]
      : [scope.allocF32(bd), scope.allocF32(bd), scope.allocF32(size), scope.allocF32(size)];
    this.gX = scope.copyIn(plan.gradXT);
    this.gZ = scope.allocF32(bd);
    this.gW = scope.allocF32(size);
    this.gWNext = scope.allocF32(size);
    this.gGamma = scope.allocF32(size);
    this.gA = scope.allocF32(size);
    this.gParams = scope.allocF32(plan.params.length);
    this.gN = scope.allocF32(size);
    this.gLambda = scope.allocF32(size);
    this.temp3 = scope.allocF32(size);
    this.temp4 = scope.allocF32(size);
    this.frechetWs = plan.stepper === "exp" ? new FrechetWorkspace(scope, plan.dim) : null;
    this.gradNorms = plan.returnGradNorms ? new Float32Array(plan.steps + 1) : undefined;
  }

  run(): OdeBackwardResult {
    const { kernels, flow, plan } = this;
    const { bd, size } = flow;
    kernels.fill(size, 0, this.gW);
    kernels.fill(plan.params.length, 0, this.gParams);
    kernels.fill(size, 0, this.gGamma);
    kernels.fill(size, 0, this.gN);
    kernels.fill(size, 0, this.gLambda);
    if (this.gradNorms !== undefined) this.gradNorms[plan.steps] = Math.sqrt(kernels.sumSquares(bd, this.gX));

    this.forwardPass();
    for (let j = this.segments - 1; j >= 0; j--) {
      const start = j * this.segment;
      const end = Math.min(plan.steps, start + this.segment);
      // storeTrajectory: the forward pass already filled the one segment.
      if (!plan.storeTrajectory) this.rebuildSegment(j, start, end);
      for (let i = end - 1; i >= start; i--) this.backwardStep(i, i - start);
    }
    return this.result();
  }

  /** Runs the forward pass from x0 and w0, keeping checkpoints (or, with storeTrajectory, the whole segment). */
  private forwardPass(): void {
    const { backend, flow, kernels, plan } = this;
    const { bd, size } = flow;
    if (plan.storeTrajectory) {
      backend.f32(this.segX, bd).set(plan.x0);
      backend.f32(this.segW, size).set(plan.w0);
      this.fillSegmentForward(0, plan.steps);
      return;
    }
    let [x, xNext, w, wNext] = this.forwardScratch;
    backend.f32(x, bd).set(plan.x0);
    backend.f32(w, size).set(plan.w0);
    for (let i = 0; i < plan.steps; i++) {
      if (i % this.segment === 0) {
        const j = i / this.segment;
        kernels.axpby(bd, 1, x, 0, slot(this.checkpointX, j, bd));
        if (this.storeW) kernels.axpby(size, 1, w, 0, slot(this.checkpointW, j, size));
      }
      const gamma = flow.stepGamma(i, w, this.temp4, this.gA);
      flow.mainStep(x, w, xNext);
      multiplySquare(kernels, flow.d, w, false, gamma, false, wNext);
      [x, xNext] = [xNext, x];
      [w, wNext] = [wNext, w];
    }
    if (!this.storeW) kernels.axpby(size, 1, w, 0, this.wEnd);
  }

  /**
   * Fills the segment buffers for steps start … end−1 forward from X_start
   * (segX slot 0) and W_start (segW slot 0): X_i, W_i, Γ_i and A_i.
   */
  private fillSegmentForward(start: number, end: number): void {
    const { flow, kernels } = this;
    const { bd, size } = flow;
    for (let i = start; i < end; i++) {
      const s = i - start;
      const x = slot(this.segX, s, bd);
      const w = slot(this.segW, s, size);
      const gammaSlot = slot(this.segGamma, s, size);
      const gamma = flow.stepGamma(i, w, flow.stateless ? 0 : slot(this.segA, s, size), gammaSlot);
      if (gamma !== gammaSlot) kernels.axpby(size, 1, gamma, 0, gammaSlot);
      if (i + 1 < end) {
        flow.mainStep(x, w, slot(this.segX, s + 1, bd));
        multiplySquare(kernels, flow.d, w, false, gammaSlot, false, slot(this.segW, s + 1, size));
      }
    }
  }

  /** Rebuilds segment j (steps start … end−1) from its checkpoint. */
  private rebuildSegment(j: number, start: number, end: number): void {
    const { flow, kernels } = this;
    const { bd, size } = flow;
    kernels.axpby(bd, 1, slot(this.checkpointX, j, bd), 0, this.segX);
    if (this.storeW) {
      kernels.axpby(size, 1, slot(this.checkpointW, j, size), 0, this.segW);
      this.fillSegmentForward(start, end);
      return;
    }
    // Reverse recovery: W_i = W_{i+1}·Γ_iᵀ from W_end down to W_start.
    let wAfter = this.wEnd;
    for (let i = end - 1; i >= start; i--) {
      const s = i - start;
      flow.loadPiece(flow.pieceOf(i));
      const gammaSlot = slot(this.segGamma, s, size);
      kernels.axpby(size, 1, flow.pieceGamma, 0, gammaSlot);
      multiplySquare(kernels, flow.d, wAfter, false, gammaSlot, true, slot(this.segW, s, size));
      wAfter = slot(this.segW, s, size);
    }
    kernels.axpby(size, 1, this.segW, 0, this.wEnd);
    for (let i = start; i + 1 < end; i++) {
      const s = i - start;
      flow.mainStep(slot(this.segX, s, bd), slot(this.segW, s, size), slot(this.segX, s + 1, bd));
    }
  }

  /** Writes gA = Γ′(A)*[gΓ] for the stepper, with A and Γ = Γ(A) given. */
  private gammaAdjoint(a: number, gamma: number, gGamma: number, out: number): void {
    const { kernels, flow } = this;
    if (this.frechetWs !== null) {
      expmFrechetAdjointInto(kernels, this.frechetWs, a, gGamma, out);
      return;
    }
    // ¼·(I + Γ)ᵀ·gΓ·(I + Γ)ᵀ.
    kernels.addIdentity(flow.d, 1, gamma, flow.temp1);
    multiplySquare(kernels, flow.d, flow.temp1, true, gGamma, false, flow.temp2);
    multiplySquare(kernels, flow.d, flow.temp2, false, flow.temp1, true, out, 0.25);
  }

  /** Backpropagates through step i (slot s of the current segment). */
  private backwardStep(i: number, s: number): void {
    const { flow, kernels, plan } = this;
    const { bd, size, d } = flow;
    const x = slot(this.segX, s, bd);
    const w = slot(this.segW, s, size);
    const gamma = slot(this.segGamma, s, size);

    // Main flow: gZ = h·gX ⊙ f′(Z), gX += gZ·W, and gW_i starts as gW_{i+1}·Γᵀ + gZᵀ·X.
    kernels.gemm(1, plan.batch, d, d, 1, x, d, 0, 0, w, d, 0, 1, 0, flow.z, d, 0);
    kernels.activationAdjoint(bd, flow.activation, plan.h, this.gX, flow.z, this.gZ);
    kernels.gemm(1, plan.batch, d, d, 1, this.gZ, d, 0, 0, w, d, 0, 0, 1, this.gX, d, 0);
    multiplySquare(kernels, d, this.gW, false, gamma, true, this.gWNext);
    kernels.gemm(1, d, d, plan.batch, 1, this.gZ, d, 0, 1, x, d, 0, 0, 1, this.gWNext, d, 0);

    if (flow.stateless) {
      // gΓ summed over the piece; Γ′* once the piece's first step is reached.
      multiplySquare(kernels, d, w, true, this.gW, false, this.gGamma, 1, 1);
      const k = flow.pieceOf(i);
      if (i === flow.pieceStart(k)) {
        flow.pieceGenerator(k, this.temp3);
        this.gammaAdjoint(this.temp3, gamma, this.gGamma, this.gA);
        // A = h·(ψ − ψᵀ), so gψ += h·(gA − gAᵀ).
        kernels.skewPart(d, plan.h, this.gA, 1, slot(this.gParams, k, size));
        kernels.fill(size, 0, this.gGamma);
      }
    } else {
      this.isospectralAdjoint(w, slot(this.segA, s, size), gamma);
    }

    [this.gW, this.gWNext] = [this.gWNext, this.gW];
    if (this.gradNorms !== undefined) this.gradNorms[i] = Math.sqrt(kernels.sumSquares(bd, this.gX));
  }

  /**
   * Adds the isospectral generator's terms for one step with A = h·b,
   * b = S·Λ − Λ·S, S = WᵀNW: with gb = h·Γ′*[Wᵀ·gW_{i+1}],
   * gΛ += S·gb − gb·S, gS = gb·Λ − Λ·gb, gN += W·gS·Wᵀ and
   * gW_i += N·W·(gS + gSᵀ). Reads gW (gW_{i+1}) and adds into gWNext.
   */
  private isospectralAdjoint(w: number, a: number, gamma: number): void {
    const { flow, kernels, plan } = this;
    const d = flow.d;
    const gS = this.temp4;
    const gb = this.gA;
    multiplySquare(kernels, d, w, true, this.gW, false, this.gGamma);
    this.gammaAdjoint(a, gamma, this.gGamma, gb);
    kernels.axpby(flow.size, plan.h, gb, 0, gb);

    // temp3 = N·W, then S = Wᵀ·(N·W) in temp1 (gammaAdjoint is done with temp1 and temp2).
    multiplySquare(kernels, d, flow.matrixN, false, w, false, this.temp3);
    multiplySquare(kernels, d, w, true, this.temp3, false, flow.temp1);
    multiplySquare(kernels, d, flow.temp1, false, gb, false, this.gLambda, 1, 1);
    multiplySquare(kernels, d, gb, false, flow.temp1, false, this.gLambda, -1, 1);

    multiplySquare(kernels, d, gb, false, flow.matrixLambda, false, gS);
    multiplySquare(kernels, d, flow.matrixLambda, false, gb, false, gS, -1, 1);
    multiplySquare(kernels, d, gS, false, w, true, flow.temp2);
    multiplySquare(kernels, d, w, false, flow.temp2, false, this.gN, 1, 1);

    kernels.symmetricPart(d, 1, gS, 0, flow.temp2);
    multiplySquare(kernels, d, this.temp3, false, flow.temp2, false, this.gWNext, 1, 1);
  }

  private result(): OdeBackwardResult {
    const { backend, flow, kernels, plan } = this;
    const { bd, size } = flow;
    if (!flow.stateless) {
      // N = (P_N + P_Nᵀ)/2, so gP_N = (gN + gNᵀ)/2; likewise for Λ.
      kernels.symmetricPart(flow.d, 0.5, this.gN, 0, this.gParams);
      kernels.symmetricPart(flow.d, 0.5, this.gLambda, 0, slot(this.gParams, 1, size));
    }
    const result: OdeBackwardResult = {
      dx0: backend.f32(this.gX, bd).slice(),
      dw0: backend.f32(this.gW, size).slice(),
      dparams: backend.f32(this.gParams, plan.params.length).slice(),
    };
    if (this.gradNorms !== undefined) result.gradNorms = this.gradNorms;
    return result;
  }
}
