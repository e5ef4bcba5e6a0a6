import { alloc, free } from "../../assembly/memory";
import { f32_orthonormal_rows, f32_rescale_rows } from "../../assembly/features/projection";
import {
  f32_features_exp, f32_features_pointwise, f32_features_trig, f32_half_squared_norms,
  POINTWISE_ABS, POINTWISE_ELU_PLUS_ONE, POINTWISE_IDENTITY, POINTWISE_RELU,
  SHIFT_GIVEN, SHIFT_MAX, SHIFT_NONE, SHIFT_PER_ROW,
} from "../../assembly/features/maps";

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>max(values.length, 1) << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

const LN2: f32 = 0.6931472;

describe("f32_orthonormal_rows", () => {
  test("2x2 with a positive and a skipped pivot", () => {
    // G has columns (3, 4) and (1, 2). Householder: R[0][0] = −5, so the sign
    // fix flips column 0 of Q to (0.6, 0.8) = g0/‖g0‖. Step 1 has nothing
    // below the diagonal, so R[1][1] = 0.4 keeps its sign and row 1 is
    // column 1 of Q, (−0.8, 0.6): what Gram–Schmidt gives for g1.
    const g = fill([3, 4, 1, 2]);
    const out = fill([NaN, NaN, NaN, NaN]);
    const work = fill([NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_orthonormal_rows(2, 2, g, 2, out, 2, work);
    expect(at(out, 0)).toBeCloseTo(0.6, 6);
    expect(at(out, 1)).toBeCloseTo(0.8, 6);
    expect(at(out, 2)).toBeCloseTo(-0.8, 6);
    expect(at(out, 3)).toBeCloseTo(0.6, 6);
    free(g); free(out); free(work);
  });

  test("one row in dimension 1 keeps the sign of its draw", () => {
    const g = fill([-2.5]);
    const out = fill([NaN]);
    const work = fill([NaN, NaN, NaN, NaN, NaN]);
    f32_orthonormal_rows(1, 1, g, 1, out, 1, work);
    expect(at(out, 0)).toBe(-1);
    free(g); free(out); free(work);
  });

  test("a zero column gives a unit row, not NaN", () => {
    // sign(0) = +1: the skipped step keeps R[0][0] = 0 and the row e_0.
    const g = fill([0, 0, 0]);
    const out = fill([NaN, NaN, NaN]);
    const work = fill([NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_orthonormal_rows(1, 3, g, 3, out, 3, work);
    expect(at(out, 0)).toBe(1);
    expect(at(out, 1)).toBe(0);
    expect(at(out, 2)).toBe(0);
    free(g); free(out); free(work);
  });
});

describe("f32_rescale_rows", () => {
  test("chi vectors and sqrt-d targets", () => {
    const w = fill([3, 4, 0.6, 0.8]);
    const chi = fill([0, 2, 0, 0]);
    f32_rescale_rows(1, 2, w, 2, chi, 2);
    expect(at(w, 0)).toBeCloseTo(1.2, 6);
    expect(at(w, 1)).toBeCloseTo(1.6, 6);
    f32_rescale_rows(1, 2, w + 8, 2, 0, 0);
    expect(at(w, 2)).toBeCloseTo(<f32>(0.6 * Math.SQRT2), 6);
    expect(at(w, 3)).toBeCloseTo(<f32>(0.8 * Math.SQRT2), 6);
    free(w); free(chi);
  });
});

describe("feature maps", () => {
  test("half squared norms", () => {
    const x = fill([3, 4, 1, 1, 1, 1, 1, 2]);
    const out = fill([NaN, NaN]);
    f32_half_squared_norms(2, 4, x, 4, out);
    expect(at(out, 0)).toBe(13.5);
    expect(at(out, 1)).toBe(3.5);
    free(x); free(out);
  });

  test("positive map with each stabilizer", () => {
    // One row z = (0, ln 2), h = 0.5: exponents (−0.5, ln 2 − 0.5).
    const z = fill([0, LN2]);
    const h = fill([0.5]);
    let largest = f32_features_exp(1, 2, z, 2, h, true, false, 1, 0, SHIFT_PER_ROW, 0);
    expect(largest).toBeCloseTo(LN2 - 0.5, 6);
    expect(at(h, 0)).toBeCloseTo(LN2 - 0.5, 6);
    expect(at(z, 0)).toBeCloseTo(0.5, 6);
    expect(at(z, 1)).toBe(1);

    const z2 = fill([0, LN2]);
    const h2 = fill([0.5]);
    f32_features_exp(1, 2, z2, 2, h2, true, false, 2, 0.25, SHIFT_NONE, 0);
    expect(at(z2, 0)).toBeCloseTo(2 * (Mathf.exp(-0.5) + 0.25), 6);
    expect(at(z2, 1)).toBeCloseTo(2 * (Mathf.exp(LN2 - 0.5) + 0.25), 6);
    expect(at(h2, 0)).toBe(0);

    const z3 = fill([0, LN2]);
    const h3 = fill([0.5]);
    f32_features_exp(1, 2, z3, 2, h3, true, false, 1, 0, SHIFT_GIVEN, -0.5);
    expect(at(z3, 0)).toBeCloseTo(1, 6);
    expect(at(z3, 1)).toBeCloseTo(2, 6);
    expect(at(h3, 0)).toBe(-0.5);
    free(z); free(h); free(z2); free(h2); free(z3); free(h3);
  });

  test("hyperbolic keys share one shift", () => {
    // Rows z = (1) and (−3), h = 0: exponents ±1 and ±3, so the key shift is 3.
    const z = fill([1, NaN, -3, NaN]);
    const h = fill([0, 0]);
    const largest = f32_features_exp(2, 1, z, 2, h, true, true, 1, 0, SHIFT_MAX, 0);
    expect(largest).toBe(3);
    expect(at(h, 0)).toBe(3);
    expect(at(h, 1)).toBe(3);
    expect(at(z, 0)).toBeCloseTo(Mathf.exp(-2), 6);
    expect(at(z, 1)).toBeCloseTo(Mathf.exp(-4), 6);
    expect(at(z, 2)).toBeCloseTo(Mathf.exp(-6), 6);
    expect(at(z, 3)).toBe(1);
    free(z); free(h);
  });

  test("trig map puts sines first and cosines second", () => {
    const z = fill([0, 1.5, NaN, NaN]);
    const h = fill([1]);
    const largest = f32_features_trig(1, 2, z, 4, h, 0.5, 0, SHIFT_PER_ROW, 0);
    expect(largest).toBe(1);
    expect(at(h, 0)).toBe(1);
    expect(at(z, 0)).toBe(0);
    expect(at(z, 1)).toBeCloseTo(0.5 * Mathf.sin(1.5), 6);
    expect(at(z, 2)).toBe(0.5);
    expect(at(z, 3)).toBeCloseTo(0.5 * Mathf.cos(1.5), 6);
    free(z); free(h);
  });

  test("pointwise maps", () => {
    const relu = fill([-1, 0, 2, -0.5, 3]);
    f32_features_pointwise(POINTWISE_RELU, 1, 5, relu, 5, 1, 0);
    expect(at(relu, 0)).toBe(0);
    expect(at(relu, 1)).toBe(0);
    expect(at(relu, 2)).toBe(2);
    expect(at(relu, 3)).toBe(0);
    expect(at(relu, 4)).toBe(3);

    const elu = fill([-1, 0, 2, -0.5, 3]);
    f32_features_pointwise(POINTWISE_ELU_PLUS_ONE, 1, 5, elu, 5, 1, 0);
    expect(at(elu, 0)).toBeCloseTo(Mathf.exp(-1), 6);
    expect(at(elu, 1)).toBe(1);
    expect(at(elu, 2)).toBe(3);
    expect(at(elu, 3)).toBeCloseTo(Mathf.exp(-0.5), 6);
    expect(at(elu, 4)).toBe(4);

    const absolute = fill([-1, 2]);
    f32_features_pointwise(POINTWISE_ABS, 1, 2, absolute, 2, 0.5, 0.25);
    expect(at(absolute, 0)).toBe(0.625);
    expect(at(absolute, 1)).toBe(1.125);

    const identity = fill([-1, 2]);
    f32_features_pointwise(POINTWISE_IDENTITY, 1, 2, identity, 2, 2, 1);
    expect(at(identity, 0)).toBe(0);
    expect(at(identity, 1)).toBe(6);
    free(relu); free(elu); free(absolute); free(identity);
  });
});
