import { alloc, free } from "../../assembly/memory";
import { f32_householder_normalize, f32_householder_scatter_gradient } from "../../assembly/householder/columns";
import {
  f32_householder_eye,
  f32_householder_mirror_upper,
  f32_householder_p,
  f32_householder_subtract,
} from "../../assembly/householder/triangle";
import { f32_householder_apply_sequential, f32_householder_product_sequential } from "../../assembly/householder/sequential";
import { f32_householder_haar_vectors, f32_householder_reflect_to_axes } from "../../assembly/householder/vectors";

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>max(values.length, 1) << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

const SQRT_HALF: f32 = 0.70710678;

describe("f32_householder_normalize and f32_householder_scatter_gradient", () => {
  test("unit rows and norms, with a tiny column", () => {
    // V (3×2): column 0 = (3, 4, 0), norm 5; column 1 = (0, 1e-30, 0), whose
    // largest entry is below 2^-100, so it takes the dividing path.
    const v = fill([3, 0, 4, 1e-30, 0, 0]);
    const ut = fill([NaN, NaN, NaN, NaN, NaN, NaN]);
    const norms = fill([NaN, NaN]);
    f32_householder_normalize(3, 2, v, ut, norms);
    expect(at(ut, 0)).toBeCloseTo(0.6, 6);
    expect(at(ut, 1)).toBeCloseTo(0.8, 6);
    expect(at(ut, 2)).toBe(0);
    expect(at(ut, 3)).toBe(0);
    expect(at(ut, 4)).toBe(1);
    expect(at(ut, 5)).toBe(0);
    expect(at(norms, 0)).toBe(5);
    expect(at(norms, 1)).toBe(<f32>1e-30);
    free(v); free(ut); free(norms);
  });

  test("gradient is transposed and divided by the norms", () => {
    // dut (2×3) rows (2, 4, 6) and (8, 12, 16), norms (2, 4): dv[i][j] = dut[j][i]/norms[j].
    const dut = fill([2, 4, 6, 8, 12, 16]);
    const norms = fill([2, 4]);
    const dv = fill([NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_householder_scatter_gradient(3, 2, dut, norms, dv);
    expect(at(dv, 0)).toBe(1);
    expect(at(dv, 1)).toBe(2);
    expect(at(dv, 2)).toBe(2);
    expect(at(dv, 3)).toBe(3);
    expect(at(dv, 4)).toBe(3);
    expect(at(dv, 5)).toBe(4);
    free(dut); free(norms); free(dv);
  });
});

describe("CWY triangle helpers", () => {
  test("P zeroes the lower triangle and halves the diagonal", () => {
    const a = fill([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    f32_householder_p(3, a, 3);
    const expected: f32[] = [1, 3, 4, 0, 3, 7, 0, 0, 5];
    for (let i = 0; i < 9; i++) expect(at(a, i)).toBe(expected[i]);
    free(a);
  });

  test("mirror_upper copies the strict upper triangle down", () => {
    // Leading dimension 4: the fourth column of each row is padding and stays.
    const a = fill([1, 2, 3, -1, NaN, 5, 6, -1, NaN, NaN, 9, -1]);
    f32_householder_mirror_upper(3, a, 4);
    const expected: f32[] = [1, 2, 3, -1, 2, 5, 6, -1, 3, 6, 9, -1];
    for (let i = 0; i < 12; i++) expect(at(a, i)).toBe(expected[i]);
    free(a);
  });

  test("subtract covers vector and remainder columns", () => {
    // 2×5 blocks: four columns in one f32x4 on SIMD builds, one left over.
    const a = fill([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const b = fill([10, 10, 10, 10, 10, 20, 20, 20, 20, 20]);
    f32_householder_subtract(2, 5, a, 5, b, 5);
    for (let i = 0; i < 5; i++) expect(at(b, i)).toBe(<f32>(<i32>9 - i));
    for (let i = 5; i < 10; i++) expect(at(b, i)).toBe(<f32>(<i32>19 - i));
    free(a); free(b);
  });

  test("eye writes the first columns of the identity", () => {
    const a = fill([NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_householder_eye(3, 2, a, 2);
    const expected: f32[] = [1, 0, 0, 1, 0, 0];
    for (let i = 0; i < 6; i++) expect(at(a, i)).toBe(expected[i]);
    free(a);
  });
});

describe("sequential reflections", () => {
  test("product of H((1, 1)) and H(e_0)", () => {
    // H((1, 1)) = [[0, −1], [−1, 0]] and H(e_0) = diag(−1, 1), so their
    // product is [[0, −1], [1, 0]]. u_0 = (1, 1) is not a unit vector.
    const ut = fill([1, 1, 1, 0]);
    const q = fill([NaN, NaN, NaN, NaN]);
    const work = alloc(4 * (16 * 2 + 2));
    f32_householder_product_sequential(2, 2, ut, q, work);
    expect(at(q, 0)).toBe(0);
    expect(at(q, 1)).toBe(-1);
    expect(at(q, 2)).toBe(1);
    expect(at(q, 3)).toBe(0);
    free(ut); free(q); free(work);
  });

  test("apply and its transpose", () => {
    // Q = [[0, −1], [1, 0]]: Q·e_0 = (0, 1) and Qᵀ·e_0 = (0, −1).
    const ut = fill([1, 1, 1, 0]);
    const x = fill([1, 0]);
    const work = alloc(4 * (16 * 2 + 2));
    f32_householder_apply_sequential(2, 2, ut, x, 1, false, work);
    expect(at(x, 0)).toBe(0);
    expect(at(x, 1)).toBe(1);
    store<f32>(x, 1);
    store<f32>(x, 0, 4);
    f32_householder_apply_sequential(2, 2, ut, x, 1, true, work);
    expect(at(x, 0)).toBe(0);
    expect(at(x, 1)).toBe(-1);
    free(ut); free(x); free(work);
  });
});

describe("f32_householder_reflect_to_axes", () => {
  test("maps (0, 1) to e_0", () => {
    // v ∝ x − ‖x‖·e_0 = (−1, 1).
    const a = fill([0, 1]);
    const v = fill([NaN, NaN]);
    const work = fill([NaN, NaN]);
    expect(f32_householder_reflect_to_axes(2, 1, a, 1, v, work)).toBe(-1);
    expect(at(v, 0)).toBeCloseTo(-SQRT_HALF, 6);
    expect(at(v, 1)).toBeCloseTo(SQRT_HALF, 6);
    free(a); free(v); free(work);
  });

  test("a column already on +e_j takes e_{j+1}", () => {
    const a = fill([1, 0, 0]);
    const v = fill([NaN, NaN, NaN]);
    const work = fill([NaN, NaN, NaN]);
    expect(f32_householder_reflect_to_axes(3, 1, a, 1, v, work)).toBe(-1);
    expect(at(v, 0)).toBe(0);
    expect(at(v, 1)).toBe(1);
    expect(at(v, 2)).toBe(0);
    free(a); free(v); free(work);
  });

  test("the last row reports a wrong sign", () => {
    // [1] is +e_0 with no room below, so no reflection fixes it: returns 0.
    const a = fill([1]);
    const v = fill([NaN]);
    const work = fill([NaN]);
    expect(f32_householder_reflect_to_axes(1, 1, a, 1, v, work)).toBe(0);
    // [−1] is reflected by H(e_0).
    store<f32>(a, -1);
    expect(f32_householder_reflect_to_axes(1, 1, a, 1, v, work)).toBe(-1);
    expect(at(v, 0)).toBe(1);
    free(a); free(v); free(work);
  });

  test("second column is updated by the first reflection", () => {
    // A = [[0, 1], [1, 0]] = H((−1, 1)/√2) has det −1. Step 0 maps column 0
    // to e_0 and turns column 1 into e_1, so step 1 finds +e_1 in the last
    // row and returns 1.
    const a = fill([0, 1, 1, 0]);
    const v = fill([NaN, NaN, NaN, NaN]);
    const work = fill([NaN, NaN]);
    expect(f32_householder_reflect_to_axes(2, 2, a, 2, v, work)).toBe(1);
    expect(at(v, 0)).toBeCloseTo(-SQRT_HALF, 6);
    expect(at(v, 2)).toBeCloseTo(SQRT_HALF, 6);
    free(a); free(v); free(work);
  });
});

describe("f32_householder_haar_vectors", () => {
  test("vectors of a 2×2 lower triangle", () => {
    // Column 0: x = (3, 4), v ∝ (3 − 5, 4) = (−1, 2)/√5; G[0][1] = 9 is
    // ignored. Column 1 is always e_1.
    const g = fill([3, 9, 4, 9]);
    const v = fill([NaN, NaN, NaN, NaN]);
    const work = fill([NaN, NaN]);
    f32_householder_haar_vectors(2, g, v, work);
    expect(at(v, 0)).toBeCloseTo(-0.4472136, 6);
    expect(at(v, 1)).toBe(0);
    expect(at(v, 2)).toBeCloseTo(0.8944272, 6);
    expect(at(v, 3)).toBe(1);
    free(g); free(v); free(work);
  });

  test("positive pivot uses the cancellation-free formula", () => {
    // x = (4, 3): v_0 = −σ/(x_0 + ‖x‖) = −9/9 = −1, so v ∝ (−1, 3)/√10.
    const g = fill([4, 0, 3, 0]);
    const v = fill([NaN, NaN, NaN, NaN]);
    const work = fill([NaN, NaN]);
    f32_householder_haar_vectors(2, g, v, work);
    expect(at(v, 0)).toBeCloseTo(-0.31622777, 6);
    expect(at(v, 2)).toBeCloseTo(0.94868330, 6);
    free(g); free(v); free(work);
  });
});
