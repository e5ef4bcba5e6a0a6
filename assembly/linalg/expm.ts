// Building blocks of the matrix exponential and the Cayley map. The bindings
// compose them with f32_gemm and the LU solve (f32_getrf, f32_getrs):
//
//   expm, scaling and squaring with an [m/m] Padé approximant of degree
//   m = 3, 5 or 7, the degrees whose float32 backward error bound
//   (scripts/expm-theta.mjs) allows ‖A‖₁ up to 0.43, 1.88 and 3.93:
//     A2 = A·A, A4 = A2·A2, A6 = A4·A2   (as many as the degree needs)
//     odd  = Σ_k b_{2k+1}·A^{2k},  even = Σ_k b_{2k}·A^{2k}   (f32_expm_pade_terms)
//     U = A·odd, P = even + U, Q = even − U, R = Q⁻¹·P ≈ e^A
//   The degree and the number of squarings are chosen in the bindings.
//
//   cayley(A) = (I − A/2)⁻¹·(I + A/2): f32_cayley_operands writes both
//   factors, then the bindings solve with LU.
//
// Layout: n×n row-major and contiguous (leading dimension n), sizes in
// elements. Outputs must not overlap inputs. No argument is checked.

// Coefficients b_j = (2m − j)!·m! / ((2m)!·j!·(m − j)!) of the degree-m
// Padé numerator p_m(x) = Σ b_j x^j, multiplied by (2m)!/m! so they are
// integers; each is exact in float32 (17297280 = 2⁷·135135). The common
// factor cancels in Q⁻¹·P.
const PADE_3: StaticArray<f32> = [120, 60, 12, 1];
const PADE_5: StaticArray<f32> = [30240, 15120, 3360, 420, 30, 1];
const PADE_7: StaticArray<f32> = [17297280, 8648640, 1995840, 277200, 25200, 1512, 56, 1];

/**
 * Writes odd = Σ_k b_{2k+1}·A^{2k} and even = Σ_k b_{2k}·A^{2k} for degree
 * 3, 5 or 7 from the even powers A2, A4 (degree ≥ 5) and A6 (degree 7); the
 * powers a degree does not use are not read. Each entry sums its terms from
 * the highest power down.
 */
export function f32_expm_pade_terms(n: i32, degree: i32, a2: usize, a4: usize, a6: usize, odd: usize, even: usize): void {
  let b = PADE_7;
  if (degree == 3) b = PADE_3;
  if (degree == 5) b = PADE_5;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const offset = <usize>(i * n + j) << 2;
      const identity: f32 = i == j ? 1 : 0;
      const p2 = load<f32>(a2 + offset);
      let oddValue: f32 = 0;
      let evenValue: f32 = 0;
      if (degree == 7) {
        const p6 = load<f32>(a6 + offset);
        oddValue = b[7] * p6;
        evenValue = b[6] * p6;
      }
      if (degree >= 5) {
        const p4 = load<f32>(a4 + offset);
        oddValue += b[5] * p4;
        evenValue += b[4] * p4;
      }
      oddValue += b[3] * p2;
      evenValue += b[2] * p2;
      store<f32>(odd + offset, oddValue + b[1] * identity);
      store<f32>(even + offset, evenValue + b[0] * identity);
    }
  }
}

/** Writes minus = I − A/2 and plus = I + A/2. */
export function f32_cayley_operands(n: i32, a: usize, minus: usize, plus: usize): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const offset = <usize>(i * n + j) << 2;
      const half: f32 = <f32>0.5 * load<f32>(a + offset);
      const identity: f32 = i == j ? 1 : 0;
      store<f32>(minus + offset, identity - half);
      store<f32>(plus + offset, identity + half);
    }
  }
}

/**
 * Writes the 2n×2n block matrix [[Aᵀ, scale·G], [0, Aᵀ]] into out (row
 * stride 2n). The upper-right block of its exponential is L(Aᵀ, scale·G),
 * the Fréchet derivative of exp at Aᵀ in the direction scale·G, which the
 * bindings use as the adjoint of expm's derivative.
 */
export function f32_expm_frechet_block(n: i32, a: usize, g: usize, scale: f32, out: usize): void {
  const size = 2 * n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const transposed = load<f32>(a + (<usize>(j * n + i) << 2));
      store<f32>(out + (<usize>(i * size + j) << 2), transposed);
      store<f32>(out + (<usize>(i * size + n + j) << 2), scale * load<f32>(g + (<usize>(i * n + j) << 2)));
      store<f32>(out + (<usize>((n + i) * size + j) << 2), 0);
      store<f32>(out + (<usize>((n + i) * size + n + j) << 2), transposed);
    }
  }
}
