import { alloc, free } from "../../assembly/memory";
import { f32_cos, f32_exp, f32_sin } from "../../assembly/math/elementwise";

// Known values of the elementwise kernels on the ISA this spec is compiled
// for. The expected values are the float32 values nearest to the exact
// results; the kernels are within 1 ULP of them (tests/unit/math.test.js
// measures the error bound), so each check allows a distance of 1 ULP.
// Seven inputs cover one four-lane vector and a three-value scalar tail,
// and out is a separate buffer from x.

const COUNT = 7;

function fill(values: f32[]): usize {
  const ptr = alloc(<usize>values.length << 2);
  for (let i = 0; i < values.length; i++) store<f32>(ptr + (<usize>i << 2), values[i]);
  return ptr;
}

function at(ptr: usize, index: i32): f32 {
  return load<f32>(ptr + (<usize>index << 2));
}

/** Returns the number of float32 values between a and b (both finite, same sign). */
function ulpDistance(a: f32, b: f32): i32 {
  return abs<i32>(reinterpret<i32>(a) - reinterpret<i32>(b));
}

describe("f32_exp", () => {
  test("known values", () => {
    const x = fill([0, 1, -1, 10, -10, 0.5, -87.5]);
    const out = fill([NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_exp(COUNT, x, out);
    expect(at(out, 0)).toBe(1);
    // e, 1/e, e^10, e^-10 and √e rounded to float32, and exp(-87.5), a subnormal given by its bits.
    const expected: f32[] = [1, 2.7182817, 0.36787945, 22026.465, 4.539993e-5, 1.6487212, reinterpret<f32>(0x006CB2BC)];
    for (let i = 1; i < COUNT; i++) expect(ulpDistance(at(out, i), expected[i])).toBeLessThanOrEqual(1);
    free(x); free(out);
  });

  test("saturation and special values", () => {
    const x = fill([89, -104, Infinity, -Infinity, NaN, 1e30, -1e30]);
    const out = fill([0, 0, 0, 0, 0, 0, 0]);
    f32_exp(COUNT, x, out);
    expect(at(out, 0)).toBe(Infinity);
    expect(at(out, 1)).toBe(0);
    expect(at(out, 2)).toBe(Infinity);
    expect(at(out, 3)).toBe(0);
    expect(at(out, 4)).toBeNaN();
    expect(at(out, 5)).toBe(Infinity);
    expect(at(out, 6)).toBe(0);
    free(x); free(out);
  });
});

describe("f32_sin and f32_cos", () => {
  test("known values", () => {
    // π/2 and π rounded to float32, 1, 0.5, 1e6 and 1e7 (fast reduction) and 3e9 (standard-library path).
    const x = fill([1.5707964, 3.1415927, 1, 0.5, 1e6, 1e7, 3e9]);
    const sines = fill([NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    const cosines = fill([NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    f32_sin(COUNT, x, sines);
    f32_cos(COUNT, x, cosines);
    const expectedSin: f32[] = [1, -8.7422777e-8, 0.84147096, 0.47942555, -0.3499935, 0.42054778, 0.9870049];
    const expectedCos: f32[] = [-4.3711388e-8, -1, 0.5403023, 0.87758255, 0.93675214, -0.90727037, -0.16069025];
    for (let i = 0; i < COUNT; i++) {
      const sinValue = at(sines, i);
      const cosValue = at(cosines, i);
      expect(ulpDistance(sinValue, expectedSin[i])).toBeLessThanOrEqual(1);
      expect(ulpDistance(cosValue, expectedCos[i])).toBeLessThanOrEqual(1);
    }
    free(x); free(sines); free(cosines);
  });

  test("zeros and special values", () => {
    const x = fill([0, -0, Infinity, -Infinity, NaN, 0, 0]);
    const out = fill([1, 1, 1, 1, 1, 1, 1]);
    f32_sin(COUNT, x, out);
    expect(reinterpret<u32>(at(out, 0))).toBe(0);
    expect(reinterpret<u32>(at(out, 1))).toBe(0x80000000, "sin(-0) keeps the sign");
    expect(at(out, 2)).toBeNaN();
    expect(at(out, 3)).toBeNaN();
    expect(at(out, 4)).toBeNaN();
    f32_cos(COUNT, x, out);
    expect(at(out, 0)).toBe(1);
    expect(at(out, 1)).toBe(1);
    expect(at(out, 2)).toBeNaN();
    expect(at(out, 3)).toBeNaN();
    expect(at(out, 4)).toBeNaN();
    free(x); free(out);
  });

  test("in place", () => {
    const x = fill([0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
    f32_sin(COUNT, x, x);
    // sin(0.25) = 0.24740396 rounded to float32.
    for (let i = 0; i < COUNT; i++) expect(ulpDistance(at(x, i), 0.24740396)).toBeLessThanOrEqual(1);
    free(x);
  });
});
