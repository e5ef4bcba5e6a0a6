import { alloc, free } from "../../assembly/memory";
import {
  f32_attention_divide_rows, f32_attention_gather_rows, f32_attention_masked_product, f32_attention_reciprocal_rows,
} from "../../assembly/attention/rows";

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>max(values.length, 1) << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function fillI32(values: i32[]): usize {
  const ptr = alloc(<usize>max(values.length, 1) << 2);
  for (let i = 0; i < values.length; i++) store<i32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

describe("f32_attention_divide_rows", () => {
  test("guards zero, negative and subnormal denominators", () => {
    // Rows of [num0, num1, den]: den 2, 0, -1, 1e-39 (subnormal), 2^-126 (the floor itself), NaN.
    const num = fill([3, 4, 2, 1, 1, 0, 5, 6, -1, 7, 8, 1e-39, 1, 1, 1.17549435e-38, 1, 1, NaN]);
    const out = fill([NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_attention_divide_rows(6, 2, num, 3, out, 2);
    expect(at(out, 0)).toBe(1.5);
    expect(at(out, 1)).toBe(2);
    for (let i = 2; i < 10; i++) expect(at(out, i)).toBe(0);
    expect(isNaN(at(out, 10))).toBe(true);
    expect(isNaN(at(out, 11))).toBe(true);
    free(num);
    free(out);
  });
});

describe("f32_attention_reciprocal_rows", () => {
  test("gives 0 where the divide guard gives zeros", () => {
    const x = fill([4, 0, -2, 1e-39, 0.5]);
    f32_attention_reciprocal_rows(5, x);
    expect(at(x, 0)).toBe(0.25);
    expect(at(x, 1)).toBe(0);
    expect(at(x, 2)).toBe(0);
    expect(at(x, 3)).toBe(0);
    expect(at(x, 4)).toBe(2);
    free(x);
  });
});

describe("f32_attention_gather_rows", () => {
  test("scales listed rows and appends ones", () => {
    // src is 3 rows of 2 with row stride 3 (the third column is never read).
    const src = fill([1, 2, NaN, 3, 4, NaN, 5, 6, NaN]);
    const index = fillI32([2, 0]);
    const dst = fill([NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_attention_gather_rows(2, index, src, 3, 2, 0.5, dst, 3, true);
    expect(at(dst, 0)).toBe(2.5);
    expect(at(dst, 1)).toBe(3);
    expect(at(dst, 2)).toBe(1);
    expect(at(dst, 3)).toBe(0.5);
    expect(at(dst, 4)).toBe(1);
    expect(at(dst, 5)).toBe(1);
    free(src);
    free(index);
    free(dst);
  });
});

describe("f32_attention_masked_product", () => {
  test("reads only keys at or before each query", () => {
    // 3 queries at positions 0, 1, 2; keys at positions 0 and 2 (position 1 padded).
    // A (3×2) all ones; B rows: key 0 = [1, 10], key at position 2 = [NaN, NaN] for
    // queries 0 and 1 must never be read, but query 2 reads it.
    const a = fill([1, 1, 1, 1, 1, 1]);
    const b = fill([1, 10, 2, 20]);
    const keyPos = fillI32([0, 2]);
    const c = fill([0, 0, 0, 0, 0, 0]);
    f32_attention_masked_product(3, 0, 2, keyPos, a, 2, b, 2, 2, c, 2);
    expect(at(c, 0)).toBe(1);
    expect(at(c, 1)).toBe(10);
    expect(at(c, 2)).toBe(1);
    expect(at(c, 3)).toBe(10);
    expect(at(c, 4)).toBe(3);
    expect(at(c, 5)).toBe(30);

    // A later key holding NaN does not reach earlier queries.
    const poisoned = fill([1, 10, NaN, NaN]);
    const d = fill([0, 0, 0, 0, 0, 0]);
    f32_attention_masked_product(3, 0, 2, keyPos, a, 2, poisoned, 2, 2, d, 2);
    expect(at(d, 0)).toBe(1);
    expect(at(d, 3)).toBe(10);
    expect(isNaN(at(d, 4))).toBe(true);
    free(a);
    free(b);
    free(keyPos);
    free(c);
    free(poisoned);
    free(d);
  });
});
