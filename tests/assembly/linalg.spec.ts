import { alloc, free } from "../../assembly/memory";
import { f32_geqrf, f32_orgqr } from "../../assembly/linalg/qr";
import { f32_trsm } from "../../assembly/linalg/trsm";
import { applyBlockReflectorLeft, applyReflectorLeft, formBlockReflector } from "../../assembly/linalg/householder";

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>max(values.length, 1) << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

describe("f32_geqrf and f32_orgqr", () => {
  test("2x2 with a positive pivot", () => {
    // Column (3, 4): beta = −5, v = (1, 4/8), tau = (−5 − 3)/−5 = 1.6. The
    // second column becomes H·(1, 2) = (−2.2, 0.4), and step 1 has nothing
    // below the diagonal, so tau_1 = 0 and R[1][1] = 0.4.
    const a = fill([3, 1, 4, 2]);
    const tau = fill([NaN, NaN]);
    const work = fill([NaN, NaN]);
    f32_geqrf(2, 2, a, 2, tau, work);
    expect(at(a, 0)).toBe(-5);
    expect(at(a, 1)).toBeCloseTo(-2.2, 5);
    expect(at(a, 2)).toBe(0.5);
    expect(at(a, 3)).toBeCloseTo(0.4, 5);
    expect(at(tau, 0)).toBe(1.6);
    expect(at(tau, 1)).toBe(0);

    const q = fill([NaN, NaN, NaN, NaN]);
    f32_orgqr(2, 2, 2, a, 2, tau, q, 2, work);
    expect(at(q, 0)).toBeCloseTo(-0.6, 6);
    expect(at(q, 1)).toBeCloseTo(-0.8, 6);
    expect(at(q, 2)).toBeCloseTo(-0.8, 6);
    expect(at(q, 3)).toBeCloseTo(0.6, 6);
    free(a); free(tau); free(work); free(q);
  });

  test("negative pivot gives a positive diagonal", () => {
    // Column (−3, 4): beta = +5, v = (1, 4/(−3 − 5)) = (1, −0.5), tau = 1.6.
    const a = fill([-3, 4]);
    const tau = fill([NaN]);
    const work = fill([NaN, NaN]);
    f32_geqrf(2, 1, a, 1, tau, work);
    expect(at(a, 0)).toBe(5);
    expect(at(a, 1)).toBe(-0.5);
    expect(at(tau, 0)).toBe(1.6);
    free(a); free(tau); free(work);
  });

  test("zero column is skipped", () => {
    // Column 0 is zero, so tau_0 = 0 and H_0 = I; column 1 is untouched.
    const a = fill([0, 1, 0, 2]);
    const tau = fill([NaN, NaN]);
    const work = fill([NaN, NaN]);
    f32_geqrf(2, 2, a, 2, tau, work);
    expect(at(tau, 0)).toBe(0);
    expect(at(tau, 1)).toBe(0);
    expect(at(a, 0)).toBe(0);
    expect(at(a, 1)).toBe(1);
    expect(at(a, 3)).toBe(2);

    const q = fill([NaN, NaN, NaN, NaN]);
    f32_orgqr(2, 2, 2, a, 2, tau, q, 2, work);
    expect(at(q, 0)).toBe(1);
    expect(at(q, 1)).toBe(0);
    expect(at(q, 2)).toBe(0);
    expect(at(q, 3)).toBe(1);
    free(a); free(tau); free(work); free(q);
  });

  test("thin Q of a 3x1 column", () => {
    // Column (2, 1, 2) has norm 3: R = −3 and the thin Q is −(2, 1, 2)/3.
    const a = fill([2, 1, 2]);
    const tau = fill([NaN]);
    const work = fill([NaN, NaN, NaN]);
    f32_geqrf(3, 1, a, 1, tau, work);
    expect(at(a, 0)).toBe(-3);
    const q = fill([NaN, NaN, NaN]);
    f32_orgqr(3, 1, 1, a, 1, tau, q, 1, work);
    expect(at(q, 0)).toBeCloseTo(<f32>(-2.0 / 3.0), 6);
    expect(at(q, 1)).toBeCloseTo(<f32>(-1.0 / 3.0), 6);
    expect(at(q, 2)).toBeCloseTo(<f32>(-2.0 / 3.0), 6);
    free(a); free(tau); free(work); free(q);
  });
});

// Four reflections on 6 rows, stored below the diagonal of a 6×4 matrix as
// f32_geqrf leaves them; NaN on and above the diagonal must not be read.
const REFLECTIONS: f32[] = [
  NaN, NaN, NaN, NaN,
  0.5, NaN, NaN, NaN,
  -0.25, 0.75, NaN, NaN,
  0.125, -0.5, 0.25, NaN,
  1, 0.25, -0.75, 0.5,
  -0.5, 0.125, 0.5, -0.25,
];
const ROWS = 6;
const COLS = 9;

function matrixC(): f32[] {
  const values: f32[] = [];
  for (let i = 0; i < ROWS * COLS; i++) values.push(<f32>((i * 7) % 11) - 5);
  return values;
}

/** Applies reflection p (rows p … ROWS−1) with tau to the ROWS×COLS matrix at c. */
function applySingle(c: usize, p: i32, tau: f32): void {
  const v = alloc(<usize>ROWS << 2);
  store<f32>(v, 1);
  for (let r = p + 1; r < ROWS; r++) store<f32>(v + (<usize>(r - p) << 2), REFLECTIONS[r * 4 + p]);
  applyReflectorLeft(ROWS - p, COLS, c + (<usize>(p * COLS) << 2), COLS, v, tau);
  free(v);
}

/**
 * Checks the block form against the four single reflections: H_0 first with
 * the transposed T (the product H_3·H_2·H_1·H_0), H_3 first without it.
 */
function checkBlock(taus: f32[], transposeT: bool): void {
  const blocked = fill(matrixC());
  const single = fill(matrixC());
  const a = fill(REFLECTIONS);
  const tau = fill(taus);
  const v = alloc(<usize>(ROWS * 4) << 2);
  const t = alloc(64);
  formBlockReflector(ROWS, a, 4, tau, v, t);
  applyBlockReflectorLeft(ROWS, COLS, blocked, COLS, v, t, transposeT);
  if (transposeT) {
    for (let p = 0; p < 4; p++) applySingle(single, p, taus[p]);
  } else {
    for (let p = 3; p >= 0; p--) applySingle(single, p, taus[p]);
  }
  for (let i = 0; i < ROWS * COLS; i++) expect(at(blocked, i)).toBeCloseTo(at(single, i), 5);
  free(blocked); free(single); free(a); free(tau); free(v); free(t);
}

describe("block reflector", () => {
  test("transposed T applies H_3·H_2·H_1·H_0", () => {
    checkBlock([1.25, 1.5, 1.125, 1.75], true);
  });

  test("T applies H_0·H_1·H_2·H_3", () => {
    checkBlock([1.25, 1.5, 1.125, 1.75], false);
  });

  test("zero tau drops its reflection", () => {
    checkBlock([1.25, 1.5, 0, 1.75], true);
    checkBlock([0, 1.5, 1.125, 1.75], false);
  });
});

// L = [2 0 0; 1 4 0; −2 1 1] with NaN in the triangle that must not be read.
// With X having 5 columns, SIMD builds run one 4-column strip and one
// remainder column. Every solve below is exact.
function lowerMatrix(): usize {
  return fill([2, NaN, NaN, 1, 4, NaN, -2, 1, 1]);
}

describe("f32_trsm", () => {

  test("lower, forward substitution", () => {
    // Column c of X is (1, 2, 3)·(c + 1), so B = L·X = (2, 9, 3)·(c + 1).
    const a = lowerMatrix();
    const b = fill([2, 4, 6, 8, 10, 9, 18, 27, 36, 45, 3, 6, 9, 12, 15]);
    f32_trsm(3, 5, a, 3, b, 5, true, false, false);
    for (let c = 0; c < 5; c++) {
      const multiple = <f32>(c + 1);
      expect(at(b, c)).toBe(multiple);
      expect(at(b, 5 + c)).toBe(multiple * 2);
      expect(at(b, 10 + c)).toBe(multiple * 3);
    }
    free(a); free(b);
  });

  test("lower transposed, backward substitution", () => {
    // Lᵀ = [2 1 −2; 0 4 1; 0 0 1] and X = (1, 2, 3) per column give
    // B = Lᵀ·X = (−2, 11, 3).
    const a = lowerMatrix();
    const b = fill([-2, -2, -2, -2, -2, 11, 11, 11, 11, 11, 3, 3, 3, 3, 3]);
    f32_trsm(3, 5, a, 3, b, 5, true, true, false);
    for (let c = 0; c < 5; c++) {
      expect(at(b, c)).toBe(1);
      expect(at(b, 5 + c)).toBe(2);
      expect(at(b, 10 + c)).toBe(3);
    }
    free(a); free(b);
  });

  test("upper with unit diagonal", () => {
    // U = [NaN 2 1; · NaN −1; · · NaN] with unit diagonal and X = (1, 2, 3)
    // give B = (1 + 4 + 3, 2 − 3, 3) = (8, −1, 3).
    const a = fill([NaN, 2, 1, NaN, NaN, -1, NaN, NaN, NaN]);
    const b = fill([8, -1, 3]);
    f32_trsm(3, 1, a, 3, b, 1, false, false, true);
    expect(at(b, 0)).toBe(1);
    expect(at(b, 1)).toBe(2);
    expect(at(b, 2)).toBe(3);
    free(a); free(b);
  });

  test("upper transposed, forward substitution", () => {
    // Uᵀ of U = [2 1; 0 4] is [2 0; 1 4]; X = (1, 2) gives B = (2, 9).
    const a = fill([2, 1, NaN, 4]);
    const b = fill([2, 9]);
    f32_trsm(2, 1, a, 2, b, 1, false, true, false);
    expect(at(b, 0)).toBe(1);
    expect(at(b, 1)).toBe(2);
    free(a); free(b);
  });
});
