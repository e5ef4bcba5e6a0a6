// The feature-map step of attentionBackward for hybrid kernels. Hybrid rows
// are Ψ = [c0·f1·P1 | c1·f1·ρ⊗P1 | c2·f2·P2 | c3·f2·ρ⊗P2] (ops/hybrid.ts,
// bindings/api/hybrid.ts), so the gradient of a row x runs back through
// three maps: the two base maps P1 = φ1(x), P2 = φ2(x) (each with its own
// projection) and the weight features ρ(x).
//   1. f32_hybrid_tensor_backward turns Ψ̄ into P̄1, P̄2 and ρ̄;
//   2. f32_features_backward turns P̄1 and P̄2 into the coefficients of
//      x̄ = A1·W1 + b1·x + A2·W2 + b2·x, as for the plain maps;
//   3. Gaussian weight: ρ = [sin(Ω_λx/σ); cos(Ω_λx/σ)], whose gradient is
//      the trig map's A (without the norm factor's b) times Ω_λ/σ.
//      Angular weight: ρ = sign(Ω_λx) is piecewise constant, so its
//      derivative is zero wherever it exists (everywhere except the
//      hyperplanes ω_l·x = 0, a set of measure zero): ρ̄ is dropped and the
//      gradient w.r.t. Ω_λ is zero. The gradient is that of the hybrid
//      estimate with the signs held fixed, which is also what a central
//      difference with a step smaller than the distance to those
//      hyperplanes measures.
// The row shifts are constants, as for the plain maps. The three
// projections of a head lie back to back at one pointer, [W1; W2; Ω_λ]
// (m1 + m2 + m_λ rows of dim), and so does their gradient.

import type { HybridFeatureMap } from "../../../api/hybrid.js";
import { FEATURE_KINDS } from "../../../api/features.js";
import { hybridScratchElements } from "../../../api/hybrid.js";
import type { Scope } from "../backend.js";
import type { BackwardKernels, RowFeatures } from "./attention-backward.js";
import { writeHybridFeatures, type HybridProjectionPointers } from "./hybrid.js";

type TensorBackwardKernel = (
  rows: number, d1: number, p1: number, ldp1: number, d2: number, p2: number, ldp2: number, dl: number, rho: number, ldr: number,
  s1: number, s2: number, shift: number, c0: number, c1: number, c2: number, c3: number, factor: number,
  g: number, ldg: number, dp1: number, lddp1: number, dp2: number, lddp2: number, drho: number, lddr: number,
) => void;

/** KIND_TRIG of assembly/attention/backward.ts. */
const TRIG_CODE = FEATURE_KINDS.indexOf("trig");

/** Returns the rows of one head's three projections back to back, [W1; W2; Ω_λ]: m1 + m2 + m_λ. */
export function hybridProjectionRows(map: HybridFeatureMap): number {
  return map.bases[0].features + map.bases[1].features + map.lambdaFeatures;
}

/** One block of rows passed through a hybrid map, with the scratch of its gradient (see the file header). */
export class HybridFeatureRows implements RowFeatures {
  readonly x: number;
  readonly f: number;
  readonly shift: number;
  readonly xbar: number;
  readonly r: number;
  readonly dim: number;
  private readonly scratch: number;
  private readonly dp1: number;
  private readonly dp2: number;
  private readonly drho: number;
  private readonly coeff: number;
  private readonly rowCoeff: number;
  private readonly tensorBackward: TensorBackwardKernel;
  /** Factor applied to the features since compute (scaleFeatures). */
  private factor = 1;

  constructor(
    private readonly kernels: BackwardKernels,
    scope: Scope,
    readonly map: HybridFeatureMap,
    readonly rows: number,
    readonly inputScale: number,
  ) {
    const [map1, map2] = map.bases;
    const d1 = map1.outputs;
    const d2 = map2.outputs;
    const dl = map.lambdaOutputs;
    this.r = map.outputs;
    this.dim = map.dim;
    this.x = scope.allocF32(rows * map.dim);
    this.f = scope.allocF32(rows * this.r);
    this.shift = scope.allocF32(rows);
    this.xbar = scope.allocF32(rows * map.dim);
    this.scratch = scope.allocF32(hybridScratchElements(map, rows));
    this.dp1 = scope.allocF32(rows * d1);
    this.dp2 = scope.allocF32(rows * d2);
    this.drho = scope.allocF32(rows * dl);
    this.coeff = scope.allocF32(rows * Math.max(map1.features, map2.features, map.lambdaFeatures));
    this.rowCoeff = scope.allocF32(rows);
    this.tensorBackward = kernels.backend.kernel<TensorBackwardKernel>("f32_hybrid_tensor_backward");
  }

  private pointers(projection: number): HybridProjectionPointers {
    const { dim, bases } = this.map;
    const base2 = projection + bases[0].features * dim * 4;
    return { base1: projection, base2, lambda: base2 + bases[1].features * dim * 4 };
  }

  compute(src: number, ld: number, positions: number, count: number, projection: number, keyShift?: number): number {
    const { dim } = this.map;
    this.kernels.gather(count, positions, src, ld, dim, this.inputScale, this.x, dim, 0);
    this.factor = 1;
    let map = this.map;
    if (keyShift !== undefined) {
      const shift = Math.fround(keyShift);
      map = { ...map, bases: [{ ...map.bases[0], keyShift: shift }, { ...map.bases[1], keyShift: shift }] };
    }
    return writeHybridFeatures(this.kernels.backend, map, count, this.x, dim, this.pointers(projection), this.f, this.r, this.shift, this.scratch);
  }

  scaleFeatures(count: number, factor: number): void {
    if (factor === 1) return;
    this.kernels.scale(count * this.r, this.f, factor);
    this.factor = Math.fround(this.factor * factor);
  }

  backward(count: number, dfeat: number, lddf: number, projection: number, dprojection: number): void {
    const k = this.kernels;
    const { dim, bases, hybrid, lambdaFeatures, lambdaOutputs: dl } = this.map;
    const [map1, map2] = bases;
    const [c0, c1, c2, c3] = this.map.coefficients;
    // writeHybridFeatures left P1, P2, ρ, s1 and s2 in its scratch, packed for `count` rows.
    const p1 = this.scratch;
    const p2 = p1 + count * map1.outputs * 4;
    const rho = p2 + count * map2.outputs * 4;
    const s1 = rho + count * dl * 4;
    const s2 = s1 + count * 4;
    this.tensorBackward(
      count, map1.outputs, p1, map1.outputs, map2.outputs, p2, map2.outputs, dl, rho, dl,
      s1, s2, this.shift, c0, c1, c2, c3, this.factor,
      dfeat, lddf, this.dp1, map1.outputs, this.dp2, map2.outputs, this.drho, dl,
    );

    const w = this.pointers(projection);
    const dw = dprojection === 0 ? null : this.pointers(dprojection);
    const parts: Array<[number, typeof map1, number, number, number]> = [
      [0, map1, p1, this.dp1, w.base1],
      [1, map2, p2, this.dp2, w.base2],
    ];
    for (const [index, base, p, dp, projectionPart] of parts) {
      const m = base.features;
      k.featuresBackward(
        FEATURE_KINDS.indexOf(base.kind), count, m, p, base.outputs, dp, base.outputs, 0, 0,
        base.scale, 0, this.coeff, m, this.rowCoeff,
      );
      k.product(count, dim, m, this.coeff, m, false, projectionPart, dim, false, index === 0 ? 0 : 1, this.xbar, dim);
      if (dw !== null) k.product(m, dim, count, this.coeff, m, true, this.x, dim, false, 1, index === 0 ? dw.base1 : dw.base2, dim);
      k.rowsAddScaled(count, dim, this.rowCoeff, this.x, dim, this.xbar, dim);
    }
    if (hybrid.lambda === "gaussian") {
      // ρ = [sin t; cos t] with t = fl(1/σ)·Ω_λx. The trig map's A applies, but not its b,
      // because b comes from the norm factor e^{‖x‖²/2} that ρ does not have.
      const inverse = Math.fround(1 / hybrid.sigma);
      k.featuresBackward(TRIG_CODE, count, lambdaFeatures, rho, dl, this.drho, dl, 0, 0, 1, 0, this.coeff, lambdaFeatures, this.rowCoeff);
      k.product(count, dim, lambdaFeatures, this.coeff, lambdaFeatures, false, w.lambda, dim, false, 1, this.xbar, dim, inverse);
      if (dw !== null) k.product(lambdaFeatures, dim, count, this.coeff, lambdaFeatures, true, this.x, dim, false, 1, dw.lambda, dim, inverse);
    }
  }
}
