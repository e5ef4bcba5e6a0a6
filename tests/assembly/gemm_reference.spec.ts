import { alloc, free } from "../../assembly/memory";
import { f32_gemm_reference } from "../../assembly/gemm/reference";

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>values.length << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

describe("f32_gemm_reference", () => {
  test("2x3 times 3x2 known product", () => {
    // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154], exact in f32.
    const a = fill([1, 2, 3, 4, 5, 6]);
    const b = fill([7, 8, 9, 10, 11, 12]);
    const c = fill([NaN, NaN, NaN, NaN]);
    f32_gemm_reference(1, 2, 2, 3, 1, a, 3, 6, false, b, 2, 6, false, 0, c, 2, 4);
    expect(at(c, 0)).toBe(58);
    expect(at(c, 1)).toBe(64);
    expect(at(c, 2)).toBe(139);
    expect(at(c, 3)).toBe(154);
    free(a); free(b); free(c);
  });

  test("transposes, alpha and beta", () => {
    // Aᵀ stored 3×2 is [1 4; 2 5; 3 6]; Bᵀ stored 2×3 is [7 9 11; 8 10 12].
    // C = 2·A·B + 0.5·C with C = [2 2; 2 2] gives 2·[58 64; 139 154] + 1.
    const a = fill([1, 4, 2, 5, 3, 6]);
    const b = fill([7, 9, 11, 8, 10, 12]);
    const c = fill([2, 2, 2, 2]);
    f32_gemm_reference(1, 2, 2, 3, 2, a, 2, 6, true, b, 3, 6, true, 0.5, c, 2, 4);
    expect(at(c, 0)).toBe(117);
    expect(at(c, 1)).toBe(129);
    expect(at(c, 2)).toBe(279);
    expect(at(c, 3)).toBe(309);
    free(a); free(b); free(c);
  });

  test("batch with a shared B", () => {
    // Two 1×1 products with strideB 0: [2]·[3] and [5]·[3].
    const a = fill([2, 5]);
    const b = fill([3]);
    const c = fill([NaN, NaN]);
    f32_gemm_reference(2, 1, 1, 1, 1, a, 1, 1, false, b, 1, 0, false, 0, c, 1, 1);
    expect(at(c, 0)).toBe(6);
    expect(at(c, 1)).toBe(15);
    free(a); free(b); free(c);
  });
});
