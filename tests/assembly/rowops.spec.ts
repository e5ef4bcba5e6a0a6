import { alloc, free } from "../../assembly/memory";
import { f32_logsumexp_rows, f32_softmax_rows } from "../../assembly/softmax/softmax";
import { f32_transpose } from "../../assembly/transpose/transpose";

// Small known cases of the row kernels on the ISA this spec is compiled
// for, with outputs in separate buffers (the bindings run softmax in place).
// NOTE: f32_gemv has no spec here. Under as-pect 8.1.0 with
// as-pect.relaxed.json, compiling any spec that reaches f32x4.relaxed_madd
// (isa.ts's madd) aborts inside binaryen, while asc compiles the same file
// with the same config. gemv is covered by tests/unit/gemv.test.js.

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>values.length << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

describe("f32_transpose", () => {
  test("5×6 matrix covers a 4×4 block and scalar edges", () => {
    const values: f32[] = [];
    for (let i = 0; i < 30; i++) values.push(<f32>i);
    const a = fill(values);
    const out = alloc(30 << 2);
    f32_transpose(1, 5, 6, a, out);
    // out[j][i] = a[i][j] = 6i + j.
    for (let j = 0; j < 6; j++) {
      for (let i = 0; i < 5; i++) {
        const expected: i32 = 6 * i + j;
        expect(at(out, j * 5 + i)).toBe(<f32>expected);
      }
    }
    free(a); free(out);
  });
});

describe("f32_softmax_rows and f32_logsumexp_rows", () => {
  test("rows of five equal values", () => {
    // Five equal entries: softmax 1/5 each (0.2 rounded from 1/5 by one division), logsumexp x + log 5.
    const x = fill([3, 3, 3, 3, 3, -1, -1, -1, -1, -1]);
    const out = fill([NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_softmax_rows(2, 5, x, out);
    for (let i = 0; i < 10; i++) expect(at(out, i)).toBe(<f32>0.2);
    const sums = fill([NaN, NaN]);
    f32_logsumexp_rows(2, 5, x, sums);
    expect(at(sums, 0)).toBe(<f32>(3 + Math.log(5)));
    expect(at(sums, 1)).toBe(<f32>(-1 + Math.log(5)));
    free(x); free(out); free(sums);
  });

  test("a row of only -Infinity", () => {
    const x = fill([-Infinity, -Infinity, -Infinity, -Infinity, -Infinity]);
    const out = fill([NaN, NaN, NaN, NaN, NaN]);
    f32_softmax_rows(1, 5, x, out);
    for (let i = 0; i < 5; i++) expect(at(out, i)).toBe(0);
    const sums = fill([NaN]);
    f32_logsumexp_rows(1, 5, x, sums);
    expect(at(sums, 0)).toBe(-Infinity);
    free(x); free(out); free(sums);
  });
});
