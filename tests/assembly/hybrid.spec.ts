import { alloc, free } from "../../assembly/memory";
import { f32_hybrid_combine, f32_kernel_exact, f32_scale_by_exp } from "../../assembly/features/estimate";
import { f32_features_sign, f32_hybrid_tensor } from "../../assembly/features/hybrid";

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>max(values.length, 1) << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

describe("f32_kernel_exact", () => {
  test("softmax and Gaussian values of a 2×2 problem", () => {
    // x = [(1, 0), (0, 2)], y = [(1, 1), (−1, 0)]: xᵀy = [[1, −1], [2, 0]],
    // ‖x − y‖² = [[1, 4], [2, 5]].
    const x = fill([1, 0, 0, 2]);
    const y = fill([1, 1, -1, 0]);
    const out = fill([NaN, NaN, NaN, NaN]);
    f32_kernel_exact(2, 2, 2, x, 2, y, 2, false, out, 2);
    expect(at(out, 0)).toBe(<f32>Math.E);
    expect(at(out, 1)).toBe(<f32>Math.exp(-1));
    expect(at(out, 2)).toBe(<f32>Math.exp(2));
    expect(at(out, 3)).toBe(1);
    f32_kernel_exact(2, 2, 2, x, 2, y, 2, true, out, 2);
    expect(at(out, 0)).toBe(<f32>Math.exp(-0.5));
    expect(at(out, 1)).toBe(<f32>Math.exp(-2));
    expect(at(out, 2)).toBe(<f32>Math.exp(-1));
    expect(at(out, 3)).toBe(<f32>Math.exp(-2.5));
    free(x); free(y); free(out);
  });

  test("overflow gives +Infinity", () => {
    const x = fill([10]);
    const y = fill([9]);
    const out = fill([NaN]);
    f32_kernel_exact(1, 1, 1, x, 1, y, 1, false, out, 1);
    expect(at(out, 0)).toBe(Infinity);
    free(x); free(y); free(out);
  });
});

describe("f32_scale_by_exp", () => {
  test("undoes row shifts, with the Gaussian norms", () => {
    const c = fill([2, 0, 1, -3]);
    const sx = fill([1, 100]);
    const sy = fill([0, 700]);
    const hx = fill([0.5, 0]);
    const hy = fill([0, 0]);
    f32_scale_by_exp(2, 2, c, 2, sx, sy, hx, hy, false);
    expect(at(c, 0)).toBe(<f32>(2 * Math.E));
    // exp(801) overflows float64, but a zero product stays zero.
    expect(at(c, 1)).toBe(0);
    expect(at(c, 2)).toBe(<f32>Math.exp(100));
    expect(at(c, 3)).toBe(-Infinity);
    const g = fill([2]);
    f32_scale_by_exp(1, 1, g, 1, sx, sy, hx, hy, true);
    expect(at(g, 0)).toBe(<f32>(2 * Math.exp(0.5)));
    free(c); free(sx); free(sy); free(hx); free(hy); free(g);
  });
});

describe("f32_hybrid_combine", () => {
  test("weights from an integer count, and zero weights drop their term", () => {
    // λ̂ = ½ − count/4 for m_λ = 2: counts 2, −2, 0 give 0, 1, ½.
    const d1 = fill([1, 1, 1]);
    const d2 = fill([Infinity, 2, 4]);
    const lam = fill([2, -2, 0]);
    const zeros = fill([0, 0, 0]);
    const out = fill([NaN, NaN, NaN]);
    f32_hybrid_combine(1, 3, out, 3, d1, 3, zeros, zeros, d2, 3, zeros, zeros, lam, 3, 0.5, -1, 4, zeros, zeros, false);
    expect(at(out, 0)).toBe(1);
    expect(at(out, 1)).toBe(2);
    expect(at(out, 2)).toBe(2.5);
    free(d1); free(d2); free(lam); free(zeros); free(out);
  });
});

describe("f32_features_sign", () => {
  test("signs with sign(±0) = +1 and NaN kept", () => {
    const z = fill([-2, 0, -0.0, 3, NaN, -1e-30]);
    f32_features_sign(1, 6, z, 6);
    expect(at(z, 0)).toBe(-1);
    expect(at(z, 1)).toBe(1);
    expect(at(z, 2)).toBe(1);
    expect(at(z, 3)).toBe(1);
    expect(isNaN(at(z, 4))).toBe(true);
    expect(at(z, 5)).toBe(-1);
    free(z);
  });
});

describe("f32_hybrid_tensor", () => {
  test("layout, coefficients and the common shift", () => {
    // d1 = 2, d2 = 1, dl = 2: row = [c0·f1·P1 | c1·f1·ρ0·P1 | c1·f1·ρ1·P1 | c2·f2·P2 | c3·f2·ρ0·P2 | c3·f2·ρ1·P2].
    // Shifts s1 = 0, s2 = ln 2: the common shift is ln 2, f1 = ½, f2 = 1.
    const p1 = fill([2, 4]);
    const p2 = fill([3]);
    const rho = fill([1, -1]);
    const s1 = fill([0]);
    const s2 = fill([<f32>Math.LN2]);
    const shift = fill([NaN]);
    const out = fill([NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_hybrid_tensor(1, 2, p1, 2, 1, p2, 1, 2, rho, 2, s1, s2, shift, 0.5, 0.25, 0.5, -0.25, out, 9);
    expect(at(shift, 0)).toBe(<f32>Math.LN2);
    expect(at(out, 0)).toBeCloseTo(0.5, 6);
    expect(at(out, 1)).toBeCloseTo(1, 6);
    expect(at(out, 2)).toBeCloseTo(0.25, 6);
    expect(at(out, 3)).toBeCloseTo(0.5, 6);
    expect(at(out, 4)).toBeCloseTo(-0.25, 6);
    expect(at(out, 5)).toBeCloseTo(-0.5, 6);
    expect(at(out, 6)).toBe(1.5);
    expect(at(out, 7)).toBe(-0.75);
    expect(at(out, 8)).toBe(0.75);
    free(p1); free(p2); free(rho); free(s1); free(s2); free(shift); free(out);
  });
});
