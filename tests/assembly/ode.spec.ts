import { alloc, free } from "../../assembly/memory";
import { f32_getrf, f32_getrs } from "../../assembly/linalg/lu";
import { f32_matrix_norm1, f32_skew_part, f32_symmetric_part } from "../../assembly/linalg/combine";
import { f32_cayley_operands, f32_expm_pade_terms } from "../../assembly/linalg/expm";
import { f32_ode_activation_adjoint, f32_ode_euler_step } from "../../assembly/ode/activation";

// Known answers of the LU, matrix-function and ODE kernels on the ISA this
// spec is compiled for. The bindings' tests (tests/unit/expm.test.js,
// odetoode.test.js) cover them against float64 references.

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>max(values.length, 1) << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

function pivot(ptr: usize, index: i32): i32 {
  return load<i32>(ptr + (<usize>index << 2));
}

describe("f32_getrf and f32_getrs", () => {
  test("3x3 with two row swaps", () => {
    // Column 0 pivots on 8 (row 2), column 1 on −0.75 (then row 2):
    // U = [[8, 7, 9], [0, −0.75, −1.25], [0, 0, −2/3]], L below it
    // [0.25; 0.5, 2/3].
    const a = fill([2, 1, 1, 4, 3, 3, 8, 7, 9]);
    const pivots = alloc(3 << 2);
    expect(f32_getrf(3, a, 3, pivots)).toBe(0);
    expect(pivot(pivots, 0)).toBe(2);
    expect(pivot(pivots, 1)).toBe(2);
    expect(pivot(pivots, 2)).toBe(2);
    expect(at(a, 0)).toBe(8);
    expect(at(a, 3)).toBe(0.25);
    expect(at(a, 4)).toBe(-0.75);
    expect(at(a, 5)).toBe(-1.25);
    expect(at(a, 6)).toBe(0.5);
    expect(at(a, 7)).toBeCloseTo(<f32>(2.0 / 3.0), 6);
    expect(at(a, 8)).toBeCloseTo(<f32>(-2.0 / 3.0), 6);

    // A·(1, 2, 3) = (7, 19, 49), and the second column e_0 gives A⁻¹·e_0 = (1.5, −3, 1).
    const b = fill([7, 1, 19, 0, 49, 0]);
    f32_getrs(3, 2, a, 3, pivots, b, 2);
    expect(at(b, 0)).toBeCloseTo(1, 5);
    expect(at(b, 2)).toBeCloseTo(2, 5);
    expect(at(b, 4)).toBeCloseTo(3, 5);
    expect(at(b, 1)).toBeCloseTo(1.5, 5);
    expect(at(b, 3)).toBeCloseTo(-3, 5);
    expect(at(b, 5)).toBeCloseTo(1, 5);
    free(a); free(pivots); free(b);
  });

  test("singular matrices report the first zero pivot", () => {
    const rankOne = fill([1, 2, 2, 4]);
    const pivots = alloc(2 << 2);
    expect(f32_getrf(2, rankOne, 2, pivots)).toBe(2);
    const zero = fill([0, 0, 0, 0]);
    expect(f32_getrf(2, zero, 2, pivots)).toBe(1);
    free(rankOne); free(zero); free(pivots);
  });
});

describe("matrix helpers", () => {
  test("norm, skew and symmetric parts", () => {
    const x = fill([1, -2, 3, 4]);
    expect(f32_matrix_norm1(2, 2, x, 2)).toBe(6);
    const out = fill([10, 10, 10, 10]);
    f32_skew_part(2, 0.5, x, 0, out);
    expect(at(out, 0)).toBe(0);
    expect(at(out, 1)).toBe(-2.5);
    expect(at(out, 2)).toBe(2.5);
    expect(at(out, 3)).toBe(0);
    f32_symmetric_part(2, 1, x, 1, out);
    expect(at(out, 0)).toBe(2);
    expect(at(out, 1)).toBe(-1.5);
    expect(at(out, 2)).toBe(3.5);
    expect(at(out, 3)).toBe(8);
    free(x); free(out);
  });

  test("Padé terms of degree 3 with A² = 0 and Cayley operands", () => {
    const zero = fill([0, 0, 0, 0]);
    const odd = alloc(4 << 2);
    const even = alloc(4 << 2);
    f32_expm_pade_terms(2, 3, zero, 0, 0, odd, even);
    expect(at(odd, 0)).toBe(60);
    expect(at(odd, 1)).toBe(0);
    expect(at(even, 3)).toBe(120);
    const a = fill([0, 1, -1, 0]);
    f32_cayley_operands(2, a, odd, even);
    expect(at(odd, 0)).toBe(1);
    expect(at(odd, 1)).toBe(-0.5);
    expect(at(even, 1)).toBe(0.5);
    expect(at(even, 2)).toBe(-0.5);
    free(zero); free(odd); free(even); free(a);
  });
});

describe("f32_ode_euler_step and f32_ode_activation_adjoint", () => {
  test("activations at known points", () => {
    const x = fill([1, 1, 1, 1]);
    const z = fill([0.5, -0.5, 0, 2]);
    const out = alloc(4 << 2);
    f32_ode_euler_step(4, 0, 0.5, x, z, out);
    expect(at(out, 0)).toBe(1.25);
    expect(at(out, 1)).toBe(0.75);
    f32_ode_euler_step(4, 2, 0.5, x, z, out);
    expect(at(out, 0)).toBe(1.25);
    expect(at(out, 1)).toBe(1);
    expect(at(out, 2)).toBe(1);
    f32_ode_euler_step(4, 1, 1, x, z, out);
    expect(at(out, 2)).toBe(1);
    expect(at(out, 3)).toBeCloseTo(<f32>(1 + 0.9640275800758169), 6);
    f32_ode_euler_step(4, 3, 1, x, z, out);
    expect(at(out, 2)).toBe(1);

    const g = fill([2, 2, 2, 2]);
    f32_ode_activation_adjoint(4, 1, 0.5, g, z, out);
    expect(at(out, 2)).toBe(1);
    f32_ode_activation_adjoint(4, 2, 0.5, g, z, out);
    expect(at(out, 0)).toBe(1);
    expect(at(out, 1)).toBe(0);
    expect(at(out, 2)).toBe(0);
    f32_ode_activation_adjoint(4, 3, 0.5, g, z, out);
    expect(at(out, 2)).toBe(0.5);
    free(x); free(z); free(out); free(g);
  });
});
