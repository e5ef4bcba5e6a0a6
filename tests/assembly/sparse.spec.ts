import { alloc, free } from "../../assembly/memory";
import { f32_csr_sddmm, f32_csrmm } from "../../assembly/sparse/csr";

// Small known cases of the CSR kernels on the ISA this spec is compiled for.
// The 3×3 sparse matrix S (row 1 has no entries):
//   row 0: S[0][2] = 2, S[0][0] = -1   (columns out of order on purpose)
//   row 2: S[2][1] = 0.5
// All products below are small integers or halves, so every result is exact.

function fillF32(values: f32[]): usize {
  const ptr = alloc(<usize>values.length << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function fillI32(values: i32[]): usize {
  const ptr = alloc(<usize>values.length << 2);
  for (let i = 0; i < values.length; i++) store<i32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

describe("f32_csrmm", () => {
  test("17 columns cover the 16-, 4- and 1-column paths", () => {
    const n = 17;
    const rowOffsets = fillI32([0, 2, 2, 3]);
    const columns = fillI32([2, 0, 1]);
    const values = fillF32([2, -1, 0.5]);
    // B[r][j] = 10·r + j, stored with leading dimension 18 (one unused column).
    const ldb = 18;
    const bValues: f32[] = [];
    for (let r = 0; r < 3; r++) {
      for (let j = 0; j < ldb; j++) {
        const value: i32 = 10 * r + j;
        bValues.push(<f32>value);
      }
    }
    const b = fillF32(bValues);

    const ldc = 19;
    const cValues: f32[] = [];
    for (let i = 0; i < 3 * ldc; i++) cValues.push(NaN);
    const c = fillF32(cValues);
    f32_csrmm(3, n, rowOffsets, columns, values, 2, b, ldb, c, ldc);

    for (let j = 0; j < n; j++) {
      // Row 0: 2·(2·B[2][j] − B[0][j]) = 2·(40 + j); row 1: 0; row 2: 2·0.5·B[1][j] = 10 + j.
      const row0: i32 = 2 * (40 + j);
      const row2: i32 = 10 + j;
      expect(at(c, j)).toBe(<f32>row0);
      expect(at(c, ldc + j)).toBe(0);
      expect(at(c, 2 * ldc + j)).toBe(<f32>row2);
    }
    // Columns n … ldc − 1 of C stay untouched.
    expect(isNaN(at(c, n))).toBe(true);
    free(rowOffsets); free(columns); free(values); free(b); free(c);
  });
});

describe("f32_csr_sddmm", () => {
  test("dot products of length 6 at the sampled entries", () => {
    const n = 6;
    const rowOffsets = fillI32([0, 2, 2, 3]);
    const columns = fillI32([2, 0, 1]);
    // A[i][l] = i + 1, B[r][l] = l − r, both with leading dimension 7.
    const ld = 7;
    const aValues: f32[] = [];
    const bValues: f32[] = [];
    for (let r = 0; r < 3; r++) {
      for (let l = 0; l < ld; l++) {
        const aValue: i32 = r + 1;
        const bValue: i32 = l - r;
        aValues.push(<f32>aValue);
        bValues.push(<f32>bValue);
      }
    }
    const a = fillF32(aValues);
    const b = fillF32(bValues);
    const out = fillF32([NaN, NaN, NaN]);
    f32_csr_sddmm(3, n, rowOffsets, columns, 0.5, a, ld, b, ld, out);
    // Σ_{l<6} (l − r) = 15 − 6r, times (i + 1)·0.5.
    expect(at(out, 0)).toBe(<f32>(0.5 * 1 * 3)); // row 0, column 2
    expect(at(out, 1)).toBe(<f32>(0.5 * 1 * 15)); // row 0, column 0
    expect(at(out, 2)).toBe(<f32>(0.5 * 3 * 9)); // row 2, column 1
    free(rowOffsets); free(columns); free(a); free(b); free(out);
  });
});
